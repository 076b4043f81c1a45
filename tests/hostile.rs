//! hostile: the guest is untrusted input. Whatever a guest does to the ucall
//! protocol, the harness ends the test with a specific, readable error (or
//! a faithful report) and the host process carries on: no panic, no hang,
//! no read outside guest memory.
//!
//! Each row of `CASES` is a run-time assembled guest that misbehaves one way
//! and the outcome the host must report, tried over each transport the row
//! applies to: `hostile::<case>::<transport>`. A guest may SYNC first; the
//! host checks the first ucall or error after those SYNCs. Then guests that
//! never stop: halting forever, printing forever, and a second vCPU
//! scribbling over the first one's buffer while the host reads it. Stack
//! overflow and spinning are covered by tests/selftest.rs; the x86-only
//! cases (triple fault, stray ports) are in tests/x86_64/hostile.rs.

use std::time::{Duration, Instant};

use kvmtest::abi::{UcallCmd, UCALL_HEADER_SIZE};
use kvmtest::asm::AsmGuest;
use kvmtest::layout::Layout;
use kvmtest::ucall::{MessageAt, RawUcall};
use kvmtest::{bail, ensure, runner, Error, TransportKind, Ucall, Vm};

/// Guest RAM of every VM here (the default).
const MEM_SIZE: u64 = kvmtest::vm::DEFAULT_MEM_SIZE;

/// Which transports a case applies to.
#[derive(Clone, Copy)]
enum Transports {
    All,
    /// Transports whose doorbell passes a guest pointer to the message.
    PassingPointers,
    Only(TransportKind),
}

impl Transports {
    fn includes(self, t: TransportKind) -> bool {
        match self {
            Transports::All => true,
            Transports::PassingPointers => matches!(t, TransportKind::Pio | TransportKind::Mmio),
            Transports::Only(only) => t == only,
        }
    }
}

/// Where the host must say the bad message was.
#[derive(Clone, Copy)]
enum Msg {
    /// The vCPU's own message buffer.
    Buffer,
    /// A guest address computed from the memory map.
    At(fn(&Layout) -> u64),
}

/// What the host must report.
#[derive(Clone, Copy)]
enum Expect {
    /// `Error::BadUcall` for the message at `Msg`, the reason containing the text.
    BadUcall(Msg, &'static str),
    /// `Error::BadDoorbell`, the reason containing the text.
    BadDoorbell(&'static str),
    /// `Error::UnexpectedExit` whose exit description contains the text.
    UnexpectedExit(&'static str),
    /// `Error::GuestAssert` whose text contains this.
    GuestAssert(&'static str),
    /// A PRINTF with exactly this text.
    Printf(&'static str),
}

struct Case {
    name: &'static str,
    transports: Transports,
    guest: fn(&mut AsmGuest, &Layout),
    expect: Expect,
}

/// 16 MiB past the end of RAM: no memory, and still a 32-bit address.
fn past_ram(l: &Layout) -> u64 {
    l.mem_size + (16 << 20)
}
/// A header whose last 8 bytes lie past the end of RAM.
fn straddling_end(l: &Layout) -> u64 {
    l.mem_size - UCALL_HEADER_SIZE as u64 + 8
}
/// A whole header in the last bytes of RAM, its text running past the end.
fn last_header(l: &Layout) -> u64 {
    l.mem_size - UCALL_HEADER_SIZE as u64
}
/// 8 bytes below 2^64 (MMIO passes a 64-bit pointer).
fn top_of_address_space(_: &Layout) -> u64 {
    u64::MAX - 7
}
/// An MMIO address near the ucall doorbell, in no memslot and not a doorbell.
fn stray_mmio(l: &Layout) -> u64 {
    l.mmio.ucall + 0x800
}

const PRINTF: RawUcall<'static> = RawUcall::new(UcallCmd::Printf);
const ABORT: RawUcall<'static> = RawUcall::new(UcallCmd::Abort);
const SYNC: RawUcall<'static> = RawUcall::new(UcallCmd::Sync);

/// Writes `msg` into the vCPU's buffer and rings the doorbell.
fn send(g: &mut AsmGuest, msg: &RawUcall<'_>) {
    g.write_message(MessageAt::Buffer, msg).ring_doorbell(MessageAt::Buffer);
}

const CASES: &[Case] = &[
    Case {
        name: "pointer_past_ram",
        transports: Transports::PassingPointers,
        guest: |g, l| {
            g.ring_doorbell(MessageAt::Addr(past_ram(l)));
        },
        expect: Expect::BadUcall(Msg::At(past_ram), "72-byte message header is not inside guest memory"),
    },
    Case {
        name: "pointer_straddles_end_of_ram",
        transports: Transports::PassingPointers,
        guest: |g, l| {
            g.ring_doorbell(MessageAt::Addr(straddling_end(l)));
        },
        expect: Expect::BadUcall(Msg::At(straddling_end), "72-byte message header is not inside guest memory"),
    },
    Case {
        // The header would wrap around the 64-bit address space.
        name: "pointer_at_top_of_address_space",
        transports: Transports::Only(TransportKind::Mmio),
        guest: |g, l| {
            g.ring_doorbell(MessageAt::Addr(top_of_address_space(l)));
        },
        expect: Expect::BadUcall(Msg::At(top_of_address_space), "72-byte message header is not inside guest memory"),
    },
    Case {
        name: "text_runs_past_end_of_ram",
        transports: Transports::PassingPointers,
        guest: |g, l| {
            let msg = RawUcall { msg_len: 100, ..PRINTF };
            g.write_message(MessageAt::Addr(last_header(l)), &msg).ring_doorbell(MessageAt::Addr(last_header(l)));
        },
        expect: Expect::BadUcall(Msg::At(last_header), "100-byte text is not inside guest memory"),
    },
    Case {
        name: "doorbell_without_message",
        transports: Transports::All,
        guest: |g, _| {
            g.ring_doorbell(MessageAt::Buffer);
        },
        expect: Expect::BadUcall(Msg::Buffer, "no message here: magic is 0x00000000"),
    },
    Case {
        // The host clears the magic of each message it reads: ringing again
        // without writing a new one is caught, not taken for a second SYNC.
        name: "doorbell_rung_twice",
        transports: Transports::All,
        guest: |g, _| {
            g.sync(1, &[]).ring_doorbell(MessageAt::Buffer);
        },
        expect: Expect::BadUcall(Msg::Buffer, "no message here: magic is 0x00000000"),
    },
    Case {
        name: "message_overwritten",
        transports: Transports::All,
        guest: |g, _| {
            send(g, &RawUcall { magic: 0xdead_beef, nargs: 1, ..SYNC });
        },
        expect: Expect::BadUcall(Msg::Buffer, "magic is 0xdeadbeef"),
    },
    Case {
        name: "unknown_command",
        transports: Transports::All,
        guest: |g, _| send(g, &RawUcall { cmd: 99, ..SYNC }),
        expect: Expect::BadUcall(Msg::Buffer, "unknown ucall command 99"),
    },
    Case {
        name: "too_many_arguments",
        transports: Transports::All,
        guest: |g, _| send(g, &RawUcall { nargs: 7, ..SYNC }),
        expect: Expect::BadUcall(Msg::Buffer, "7 arguments, at most 6"),
    },
    Case {
        name: "sync_without_stage",
        transports: Transports::All,
        guest: |g, _| send(g, &SYNC),
        expect: Expect::BadUcall(Msg::Buffer, "SYNC without a stage argument"),
    },
    Case {
        name: "printf_enormous_length",
        transports: Transports::All,
        guest: |g, _| send(g, &RawUcall { msg_len: u32::MAX, text: b"short", ..PRINTF }),
        expect: Expect::BadUcall(Msg::Buffer, "text of 0+4294967295 bytes, at most 1024"),
    },
    Case {
        // file_len + msg_len wraps to 1 in 32 bits.
        name: "text_lengths_wrap_around",
        transports: Transports::All,
        guest: |g, _| send(g, &RawUcall { file_len: u32::MAX, msg_len: 2, text: b"ab", ..ABORT }),
        expect: Expect::BadUcall(Msg::Buffer, "text of 4294967295+2 bytes, at most 1024"),
    },
    Case {
        name: "printf_not_utf8",
        transports: Transports::All,
        guest: |g, _| {
            const TEXT: &[u8] = b"caf\xc3\xa9 \xff\xfe\xc3";
            send(g, &RawUcall { msg_len: TEXT.len() as u32, text: TEXT, ..PRINTF });
        },
        expect: Expect::Printf("caf\u{e9} \\xff\\xfe\\xc3"),
    },
    Case {
        name: "abort_without_file_name",
        transports: Transports::All,
        guest: |g, _| {
            const TEXT: &[u8] = b"no file given";
            send(g, &RawUcall { line: 42, msg_len: TEXT.len() as u32, text: TEXT, ..ABORT });
        },
        expect: Expect::GuestAssert("guest assertion failed on vCPU 0 at <unknown file>:42: no file given"),
    },
    Case {
        // Only the harness's exception stubs send EXCEPTION; a forged short
        // one must not be read past its values.
        name: "forged_exception_report",
        transports: Transports::All,
        guest: |g, _| send(g, &RawUcall { nargs: 2, args: [14, 2, 0, 0, 0, 0], ..RawUcall::new(UcallCmd::Exception) }),
        expect: Expect::BadUcall(Msg::Buffer, "EXCEPTION report with 2 values"),
    },
    Case {
        name: "doorbell_write_too_narrow",
        transports: Transports::Only(TransportKind::Mmio),
        guest: |g, l| {
            g.store_u32(l.mmio.ucall, l.ucall_slot_of(0) as u32);
        },
        expect: Expect::BadDoorbell("4-byte write to the ucall MMIO address"),
    },
    Case {
        name: "read_of_the_doorbell_address",
        transports: Transports::All,
        guest: |g, l| {
            g.load_from(l.mmio.ucall);
        },
        expect: Expect::UnexpectedExit("KVM_EXIT_MMIO read of 8 bytes from"),
    },
    Case {
        name: "write_to_stray_mmio",
        transports: Transports::All,
        guest: |g, l| {
            g.store_u64(stray_mmio(l), 0x5a5a);
        },
        expect: Expect::UnexpectedExit("not a ucall address"),
    },
];

/// The first ucall or error after any SYNCs.
fn first_outcome(vm: &mut Vm) -> kvmtest::Result<Ucall> {
    loop {
        match vm.vcpu(0).run_until_ucall()? {
            Ucall::Sync { .. } => continue,
            other => return Ok(other),
        }
    }
}

fn check(case: &Case, transport: TransportKind) -> kvmtest::Result<()> {
    let layout = Layout::of_host(MEM_SIZE)?;
    let mut g = AsmGuest::new();
    (case.guest)(&mut g, &layout);
    g.done();
    let mut vm = Vm::builder().mem_size(MEM_SIZE).transport(transport).payload(g.finish()?).build()?;
    let buffer = vm.vcpu(0).ucall_buffer();
    let outcome = first_outcome(&mut vm);
    let name = case.name;
    match (case.expect, outcome) {
        (Expect::BadUcall(at, why), Err(Error::BadUcall { vcpu: 0, addr, why: got })) => {
            let expected = match at {
                Msg::Buffer => buffer,
                Msg::At(f) => f(&layout),
            };
            ensure!(addr == expected, "{name}: BadUcall at {addr:#x}, expected the message at {expected:#x}");
            ensure!(got.contains(why), "{name}: BadUcall says {got:?}, expected it to contain {why:?}");
        }
        (Expect::BadDoorbell(why), Err(Error::BadDoorbell { vcpu: 0, why: got, pc })) => {
            ensure!(got.contains(why), "{name}: BadDoorbell says {got:?}, expected it to contain {why:?}");
            ensure!(pc != u64::MAX, "{name}: BadDoorbell without the guest pc");
        }
        (Expect::UnexpectedExit(what), Err(e @ Error::UnexpectedExit { .. })) => {
            let text = e.to_string();
            ensure!(text.contains(what), "{name}: reported {text:?}, expected it to contain {what:?}");
        }
        (Expect::GuestAssert(what), Ok(Ucall::Abort(a))) => {
            let text = Error::GuestAssert(Box::new(a)).to_string();
            ensure!(text.contains(what), "{name}: reported {text:?}, expected it to contain {what:?}");
        }
        (Expect::Printf(expected), Ok(Ucall::Printf(text))) => {
            ensure!(text == expected, "{name}: PRINTF {text:?}, expected {expected:?}");
            vm.vcpu(0).expect_done()?;
        }
        (_, other) => bail!("{name}: the host reported {other:?}"),
    }
    Ok(())
}

/// A guest that halts with interrupts masked must not hang the host. With
/// an in-kernel irqchip the vCPU sleeps in the kernel until the watchdog
/// kicks it. Without one, an x86 HLT exits: it is reported as a halt outside
/// a ucall, or, where HLT is the halt transport's doorbell, as a doorbell
/// without a message; an arm64 WFI still sleeps until the watchdog.
fn halt_forever(transport: TransportKind, irqchip: bool) -> kvmtest::Result<()> {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let mut g = AsmGuest::new();
    let at = g.halt_forever();
    let mut vm = Vm::builder().transport(transport).irqchip(irqchip).timeout(TIMEOUT).payload(g.finish()?).build()?;
    let start = Instant::now();
    match vm.vcpu(0).run_until_ucall() {
        Err(Error::Watchdog { pc, .. }) => {
            let took = start.elapsed();
            // Not before the timeout; the upper bound only catches a
            // watchdog that never fires (a loaded machine delays it by seconds).
            ensure!(
                took >= TIMEOUT && took < Duration::from_secs(30),
                "watchdog fired after {took:?}, timeout {TIMEOUT:?}"
            );
            ensure!((at..=at + 4).contains(&pc), "watchdog pc {pc:#x}, the halt is at {at:#x}");
        }
        Err(Error::BadUcall { why, .. }) if !irqchip && why.starts_with("no message here") => {}
        Err(e @ Error::UnexpectedExit { .. }) if !irqchip && e.to_string().contains("halted outside a ucall") => {}
        other => bail!("halt forever (irqchip {irqchip}): the host reported {other:?}"),
    }
    Ok(())
}

/// A guest that prints forever never reaches a SYNC: `next_event` must give
/// up after the watchdog timeout, though every PRINTF is a ucall. The flood
/// runs in a child process (this binary, `FLOOD_CHILD`) so its hundreds of
/// lines stay out of the test output; the child must fail with the count
/// of lines it printed.
fn printf_flood() -> kvmtest::Result<()> {
    // Without a usable /dev/kvm the child skips; so does this trial.
    kvmtest::backend()?;
    let exe = std::env::current_exe().map_err(|e| Error::Check(format!("current_exe: {e}")))?;
    for _ in 0..FLOOD_RUNS {
        let out = std::process::Command::new(&exe)
            .args(["--exact", FLOOD_CHILD, "--test-threads=1"])
            .env(FLOOD_CHILD_ENV, "1")
            // The child's report is read in libtest's format, even under kernel CI's KTAP.
            .env("KVMTEST_FORMAT", "libtest")
            .output()
            .map_err(|e| Error::Check(format!("running the child test: {e}")))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let lines = text.matches("[guest vCPU 0] flood").count();
        let expected =
            format!("vCPU 0 sent {lines} PRINTF lines in {} ms without a SYNC or DONE", FLOOD_TIMEOUT.as_millis());
        ensure!(!out.status.success() && text.contains("1 failed"), "the flooding guest did not fail:\n{text}");
        ensure!(lines > 0 && text.contains(&expected), "expected {expected:?} in the child's output:\n{text}");
        if lines > 1 {
            return Ok(());
        }
    }
    bail!(
        "in {FLOOD_RUNS} runs the flooding guest never got a second PRINTF in within {FLOOD_TIMEOUT:?}: \
         next_event giving up on a flood was not shown"
    )
}

const FLOOD_CHILD: &str = "hostile::printf_flood::child";
const FLOOD_CHILD_ENV: &str = "KVMTEST_PRINTF_FLOOD_CHILD";
/// Long enough for several PRINTF round trips even in an emulated machine
/// on a loaded host (one line in 20 ms was seen under arm64 TCG).
const FLOOD_TIMEOUT: Duration = Duration::from_millis(100);
/// A child that fit only one PRINTF in [`FLOOD_TIMEOUT`] (its threads
/// waited for a core on a loaded machine) shows no flood; it is run again,
/// up to this many times in all, each run held to every other check.
const FLOOD_RUNS: usize = 3;

fn printf_flood_child() -> kvmtest::Result<()> {
    let mut g = AsmGuest::new();
    g.forever(|g| {
        g.printf("flood");
    });
    let mut vm = Vm::builder().timeout(FLOOD_TIMEOUT).payload(g.finish()?).build()?;
    let event = vm.vcpu(0).next_event()?;
    bail!("next_event returned {event:?} from a guest that only prints")
}

/// vCPU 1 keeps writing a bad message into vCPU 0's buffer while vCPU 0
/// rings its doorbell without writing one, so the host reads a buffer that
/// changes under it: every exit of vCPU 0 must be reported as one of the bad
/// messages it can see, whatever the timing: no message (the host cleared
/// the magic), or command 99 — or command 0, if the host reads between the
/// scribbler's very first magic and command stores. Some rings must see the
/// scribbler's message, or the race was not run.
fn scribbled_buffer(transport: TransportKind) -> kvmtest::Result<()> {
    const RINGS: usize = 1000;
    let layout = Layout::of_host(MEM_SIZE)?;
    let victim = layout.ucall_slot_of(0);
    let mut g = AsmGuest::new();
    g.on_vcpu(1, |g| {
        g.sync(1, &[]);
        g.forever(|g| {
            g.write_message(MessageAt::Addr(victim), &RawUcall { cmd: 99, ..SYNC });
        });
    });
    g.forever(|g| {
        g.ring_doorbell(MessageAt::Buffer);
    });
    let mut vm = Vm::builder().mem_size(MEM_SIZE).transport(transport).vcpus(2).payload(g.finish()?).build()?;
    ensure!(vm.vcpu(0).ucall_buffer() == victim, "vCPU 0's buffer is not its slot");
    let [v0, v1] = vm.vcpus_mut() else { bail!("expected 2 vCPUs") };
    // The scribbler says when it starts, then never makes a ucall again:
    // its watchdog ends it. Once it has stopped, the remaining rings all
    // find no message, which is fine.
    v1.set_timeout(Duration::from_millis(500));
    let (started_tx, started) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let scribbler = s.spawn(move || {
            v1.expect_sync(1)?;
            let _ = started_tx.send(());
            v1.run_until_ucall()
        });
        let mut scribbled = 0;
        if started.recv().is_ok() {
            for i in 0..RINGS {
                match v0.run_until_ucall() {
                    Err(Error::BadUcall { why, addr, .. }) if addr == victim && why.starts_with("no message here") => {}
                    Err(Error::BadUcall { why, addr, .. })
                        if addr == victim
                            && (why == "unknown ucall command 99" || why == "unknown ucall command 0") =>
                    {
                        scribbled += 1
                    }
                    other => bail!("ring {i}: the host reported {other:?}"),
                }
            }
        }
        match scribbler.join() {
            Ok(Err(Error::Watchdog { .. })) => {}
            other => bail!("the scribbling vCPU ended with {other:?}"),
        }
        ensure!(scribbled > 0, "in {RINGS} rings the host never saw vCPU 1's message: the race was not run");
        Ok(())
    })
}

fn main() -> std::process::ExitCode {
    let mut trials = Vec::new();
    for case in CASES {
        for &transport in TransportKind::all().iter().filter(|&&t| case.transports.includes(t)) {
            let name = format!("hostile::{}::{transport}", case.name);
            trials.push(runner::test(name, move || check(case, transport)));
        }
    }
    for &transport in TransportKind::all() {
        trials
            .push(runner::test(format!("hostile::halt_forever::{transport}"), move || halt_forever(transport, false)));
    }
    trials.push(runner::test("hostile::halt_forever_with_irqchip::watchdog", || {
        halt_forever(TransportKind::all()[0], true)
    }));
    trials.push(runner::test("hostile::printf_flood", printf_flood));
    if std::env::var_os(FLOOD_CHILD_ENV).is_some() {
        trials.push(runner::test(FLOOD_CHILD, printf_flood_child));
    }
    for &transport in TransportKind::all().iter().filter(|&&t| t != TransportKind::Shared) {
        trials.push(runner::test(format!("hostile::buffer_scribbled_by_other_vcpu::{transport}"), move || {
            scribbled_buffer(transport)
        }));
    }
    runner::main(trials)
}
