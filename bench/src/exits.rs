//! Exit round trip: the time from a guest's ucall to the host and back.
//!
//! kvmtest side: a guest looping `SYNC(1)` forever, the host calling
//! `run_until_ucall` and checking each SYNC's stage and arguments.
//! Baseline: *the same guest bytes* in a [`RawVm`], whose boot info points at
//! a hand-written doorbell with the same instructions as the harness's, and a
//! host loop that is a bare KVM_RUN ioctl plus a read of the stage word. So
//! the guest executes the same instructions on both sides and the ratio is
//! the harness's host-side cost. The floor (a two-instruction `exit; jmp`
//! loop) is printed beside it: what the ucall message itself costs.

use std::time::Instant;

use kvmtest::asm::AsmGuest;
use kvmtest::{Error, Payload, TransportKind, Ucall, Vm};
use kvmtest_abi::{ucall_offsets, UCALL_MAGIC};

use crate::raw::{Host, RawArch, RawVm, Result};
use crate::report::{Row, Target, Unit};
use crate::stats::summarize;

/// The stage every SYNC of the loop carries.
pub const STAGE: u64 = 1;
const MEM: usize = 64 << 20;

/// Which guest program a row runs.
#[derive(Debug, Clone, Copy)]
pub enum GuestKind {
    /// `AsmGuest::sync` in a loop (run-time assembled).
    Dynasm,
    /// `guest_sync!(1)` in a loop (the `bench` payload, Rust guest runtime).
    Elf(&'static [u8]),
}

/// The harness's guest: `top: SYNC(1); b top`.
pub fn dynasm_loop() -> kvmtest::Result<Payload> {
    let mut g = AsmGuest::new();
    g.forever(|g| {
        g.sync(STAGE, &[]);
    });
    g.finish()
}

/// Checks the exit the raw guest made is the doorbell with our message.
pub(crate) fn raw_check(vm: &RawVm, t: TransportKind, read_stage: bool) -> Result<()> {
    Host::check_exit(vm, t)?;
    if read_stage {
        let stage = vm.read_u64(Host::MSG + ucall_offsets::ARGS as u64);
        if stage != STAGE {
            return Err(format!("raw loop: stage {stage}, expected {STAGE}"));
        }
    }
    Ok(())
}

fn new_raw(t: TransportKind, guest: &[u8], elf: bool) -> Result<RawVm> {
    let vm = RawVm::new(MEM, t)?;
    if elf {
        vm.load_elf(guest)?;
    } else {
        vm.write(Host::CODE, guest);
    }
    Ok(vm)
}

pub(crate) fn harness_batch(vm: &mut Vm, n: u64) -> Result<()> {
    let vcpu = vm.vcpu(0);
    for i in 0..n {
        match vcpu.run_until_ucall().map_err(|e| e.to_string())? {
            Ucall::Sync { stage: STAGE, args } if args.is_empty() => {}
            other => return Err(format!("harness loop: ucall {i} is {other:?}, expected SYNC({STAGE})")),
        }
    }
    Ok(())
}

fn time<T>(f: impl FnOnce() -> Result<T>) -> Result<f64> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

/// Measures one transport: `rounds` rounds of `batch` round trips on each
/// side, back to back, in alternating order.
pub fn measure(t: TransportKind, guest: GuestKind, rounds: usize, batch: u64) -> Result<Row> {
    let (payload, raw_guest, elf) = match guest {
        GuestKind::Dynasm => {
            let p = dynasm_loop().map_err(|e| e.to_string())?;
            let Payload::Code(bytes) = &p else { return Err("the dynasm guest is not code".into()) };
            let bytes = bytes.clone();
            (p, bytes, false)
        }
        GuestKind::Elf(elf) => (Payload::elf(elf), elf.to_vec(), true),
    };
    let name = match guest {
        GuestKind::Dynasm => format!("exit round trip: {t} (dynasm guest)"),
        GuestKind::Elf(_) => format!("exit round trip: {t} (Rust guest)"),
    };
    let mut vm = match Vm::builder().transport(t).mem_size(MEM as u64).payload(payload).build() {
        Ok(vm) => vm,
        // A kernel without the transport's doorbell (the SMCCC filter before
        // Linux 6.4): the row says so instead of vanishing.
        Err(Error::Skip(why)) => return Ok(Row::skipped(name, why)),
        Err(e) => return Err(e.to_string()),
    };
    let mut raw = new_raw(t, &raw_guest, elf)?;
    let mut floor = new_raw(t, &Host::floor_loop(t, MEM as u64), false)?;
    let want = Host::exit(t);
    // Warm up: page in the guest's code and stack on both sides.
    harness_batch(&mut vm, batch)?;
    raw.run_exits(want, batch, |vm, _| raw_check(vm, t, true))?;
    floor.run_exits(want, batch, |vm, _| raw_check(vm, t, false))?;

    let (mut h, mut r, mut f) = (Vec::new(), Vec::new(), Vec::new());
    let (mut h_n, mut r_n) = (0u64, 0u64);
    let per = |s: f64| s * 1e6 / batch as f64;
    for round in 0..rounds {
        let mut one = |which: usize| -> Result<()> {
            match which {
                0 => {
                    h.push(per(time(|| harness_batch(&mut vm, batch))?));
                    h_n += batch;
                }
                1 => {
                    let s = time(|| raw.run_exits(want, batch, |vm, _| raw_check(vm, t, true)))?;
                    r.push(per(s));
                    r_n += batch;
                }
                _ => f.push(per(time(|| floor.run_exits(want, batch, |vm, _| raw_check(vm, t, false)))?)),
            }
            Ok(())
        };
        let order = if round % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for w in order {
            one(w)?;
        }
    }
    // Sanity: both sides really made every round trip (each batch checked
    // the exit and the stage of every one).
    let expected = rounds as u64 * batch;
    if h_n != expected || r_n != expected {
        return Err(format!("round trips: harness {h_n}, raw {r_n}, expected {expected}"));
    }
    // The raw message must be the runtime's format too: the guest wrote it.
    let magic = raw.read_u64(Host::MSG) as u32;
    if magic != UCALL_MAGIC {
        return Err(format!("raw loop: message magic {magic:#x}"));
    }
    let floor_s = summarize(&f);
    Ok(Row {
        name,
        unit: Unit::Micros,
        harness: summarize(&h),
        baseline_name: "raw KVM_RUN loop, same guest code",
        baseline: summarize(&r),
        ratio: crate::stats::best_ratio(&h, &r),
        target: Target::MaxRatio(1.10),
        skip: None,
        note: format!(
            "{} round trips each; bare `exit; jmp` floor {:.2} µs (the message itself costs the rest)",
            expected, floor_s.min
        ),
    })
}
