//! ucall: every transport x every ucall kind x both payload kinds.
//!
//! The guest sends one kind of ucall (SYNC with values, PRINTF, a failed
//! assertion, DONE) over the VM's transport; the host checks every field
//! arrives intact. Named `ucall::<transport>::<kind>::<payload>`, e.g.
//! `ucall::mmio::printf::elf`, so a filter picks any slice.

use kvmtest::asm::AsmGuest;
use kvmtest::{ensure, runner, Payload, TransportKind, Ucall, Vm};
use kvmtest_tests::payloads;

// The ucall kinds, as guest-payloads/payloads/src/bin/ucall.rs reads boot arg 0.
use kvmtest::abi::ucall_test::{UcallTestKind as Kind, ASSERT_LINE_STAGE};

const KINDS: &[(Kind, &str)] =
    &[(Kind::Sync, "sync"), (Kind::Printf, "printf"), (Kind::Abort, "abort"), (Kind::Done, "done")];

#[derive(Clone, Copy, PartialEq)]
enum Guest {
    Dynasm,
    Elf,
}

/// Boot arg 1: the value the ELF guest prints, and compares with 42 to fail its assertion.
const ARG: u64 = 7;
const DYNASM_ABORT: (&str, u32, &str, [u64; 2]) = ("guest.S", 77, "expected 42", [7, 42]);

fn dynasm_guest(kind: Kind) -> kvmtest::Result<Payload> {
    let mut g = AsmGuest::new();
    match kind {
        Kind::Sync => g.sync(1, &[0x1111_2222_3333_4444, u64::MAX]).sync(2, &[]),
        Kind::Printf => g.printf("hello from dynasm"),
        Kind::Abort => g.abort(DYNASM_ABORT.0, DYNASM_ABORT.1, DYNASM_ABORT.2, &DYNASM_ABORT.3),
        Kind::Done => &mut g,
    };
    g.done();
    g.finish()
}

fn host(transport: TransportKind, kind: Kind, guest: Guest) -> kvmtest::Result<()> {
    let payload = match guest {
        Guest::Dynasm => dynasm_guest(kind)?,
        Guest::Elf => Payload::elf(payloads::UCALL),
    };
    let mut vm = Vm::builder().transport(transport).payload(payload).arg(0, kind as u64).arg(1, ARG).build()?;
    let vcpu = vm.vcpu(0);
    match kind {
        Kind::Sync => {
            let expected: &[u64] = match guest {
                Guest::Dynasm => &[0x1111_2222_3333_4444, u64::MAX],
                Guest::Elf => &[0x1111_2222_3333_4444, u64::MAX, 0],
            };
            let args = vcpu.expect_sync(1)?;
            ensure!(*args == *expected, "SYNC(1) values: expected {expected:x?}, got {args:?}");
            let args = vcpu.expect_sync(2)?;
            ensure!(args.is_empty(), "SYNC(2) values: expected none, got {args:?}");
        }
        Kind::Printf => {
            let expected = match guest {
                Guest::Dynasm => "hello from dynasm".to_string(),
                Guest::Elf => format!("hello from vCPU 0 of the ucall payload: {ARG:#x}"),
            };
            match vcpu.run_until_ucall()? {
                Ucall::Printf(text) => ensure!(text == expected, "PRINTF: expected {expected:?}, got {text:?}"),
                other => return Err(other.into_failure(0)),
            }
        }
        Kind::Abort => {
            let line = match guest {
                Guest::Dynasm => DYNASM_ABORT.1,
                Guest::Elf => vcpu.expect_sync(ASSERT_LINE_STAGE)?[0] as u32,
            };
            let Ucall::Abort(a) = vcpu.run_until_ucall()? else {
                kvmtest::bail!("expected the guest's assertion to fail");
            };
            ensure!(a.line == line, "ABORT line: expected {line}, got {}", a.line);
            match guest {
                Guest::Dynasm => {
                    ensure!(a.file == DYNASM_ABORT.0, "ABORT file: got {:?}", a.file);
                    ensure!(a.msg == DYNASM_ABORT.2, "ABORT message: got {:?}", a.msg);
                    ensure!(a.values == DYNASM_ABORT.3, "ABORT values: got {:x?}", a.values);
                }
                Guest::Elf => {
                    let file = "guest-payloads/payloads/src/bin/ucall.rs";
                    ensure!(a.file == file, "ABORT file: expected {file:?}, got {:?}", a.file);
                    let msg = "boot_arg(1) == 42u64 failed. boot arg 1 should be 42";
                    ensure!(a.msg == msg, "ABORT message: expected {msg:?}, got {:?}", a.msg);
                    ensure!(a.values == [ARG, 42], "ABORT values: expected [7, 42], got {:x?}", a.values);
                }
            }
            return Ok(());
        }
        Kind::Done => {}
    }
    vcpu.expect_done()?;
    // A guest resumed after DONE says DONE again rather than running off.
    vcpu.expect_done()
}

fn main() -> std::process::ExitCode {
    let mut trials = Vec::new();
    for &transport in TransportKind::all() {
        for &(kind, kind_name) in KINDS {
            for (guest, guest_name) in [(Guest::Dynasm, "dynasm"), (Guest::Elf, "elf")] {
                let name = format!("ucall::{transport}::{kind_name}::{guest_name}");
                trials.push(runner::test(name, move || host(transport, kind, guest)));
            }
        }
    }
    runner::main(trials)
}
