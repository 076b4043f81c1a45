//! Temporary smoke test of the arch layer (aarch64 branch): every transport
//! with an assembled and an ELF guest, and the faults payload's reports.
//! Superseded by the lead's tests/ucall.rs and tests/selftest.rs.

use std::time::Duration;

use kvmtest::{asm::AsmGuest, runner, Error, Payload, Result, TransportKind, Ucall, Vm};
use kvmtest_tests::payloads;

fn asm_guest(t: TransportKind) -> Result<()> {
    let mut g = AsmGuest::new();
    g.printf("hi").sync(1, &[2, 3, u64::MAX]).abort("file.rs", 7, "msg", &[9]).done();
    let mut vm = Vm::builder().transport(t).payload(g.finish()?).build()?;
    let v = vm.vcpu(0);
    assert_eq!(v.run_until_ucall()?, Ucall::Printf("hi".into()));
    match v.run_until_ucall()? {
        Ucall::Sync { stage: 1, args } => assert_eq!(&*args, &[2, 3, u64::MAX]),
        other => panic!("{other:?}"),
    }
    match v.run_until_ucall()? {
        Ucall::Abort(a) => {
            assert_eq!((a.file.as_str(), a.line, a.msg.as_str(), a.values), ("file.rs", 7, "msg", vec![9]))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(v.run_until_ucall()?, Ucall::Done);
    assert_eq!(v.run_until_ucall()?, Ucall::Done);
    Ok(())
}

fn elf_guest(t: TransportKind, vcpus: usize) -> Result<()> {
    let mut vm = Vm::builder().transport(t).vcpus(vcpus).payload(Payload::elf(payloads::UCALL)).arg(0, 0).build()?;
    for id in 0..vcpus {
        let v = vm.vcpu(id);
        match v.run_until_ucall()? {
            Ucall::Sync { stage: 1, args } => {
                assert_eq!(&*args, &[0x1111_2222_3333_4444, u64::MAX, id as u64])
            }
            other => panic!("{other:?}"),
        }
        v.expect_sync(2)?;
        v.expect_done()?;
    }
    let mut vm = Vm::builder().transport(t).payload(Payload::elf(payloads::UCALL)).arg(0, 2).arg(1, 41).build()?;
    let line = vm.vcpu(0).expect_sync(100)?[0];
    match vm.vcpu(0).run_until_ucall()? {
        Ucall::Abort(a) => {
            println!("{a}");
            assert_eq!(a.line as u64, line);
            assert_eq!(a.values, vec![41, 42]);
        }
        other => panic!("{other:?}"),
    }
    let mut vm = Vm::builder().transport(t).payload(Payload::elf(payloads::UCALL)).arg(0, 1).arg(1, 0xabc).build()?;
    match vm.vcpu(0).run_until_ucall()? {
        Ucall::Printf(s) => assert!(s.contains("0xabc"), "{s}"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

fn faults(t: TransportKind, mode: u64) -> Result<()> {
    let mut vm = Vm::builder()
        .transport(t)
        .timeout(Duration::from_millis(500))
        .payload(Payload::elf(payloads::FAULTS))
        .arg(0, mode)
        .arg(1, 7)
        .build()?;
    let v = vm.vcpu(0);
    let at = match mode {
        4 => {
            let vector = v.expect_sync(1)?[0];
            println!("probe fault vector {vector:#x}");
            return v.expect_done();
        }
        5 => {
            let line = v.expect_sync(1)?[0];
            let e = v.next_event().unwrap_err();
            println!("{e}");
            assert!(matches!(&e, Error::GuestAssert(a) if a.line as u64 == line), "{e}");
            return Ok(());
        }
        _ => v.expect_sync(1)?[0],
    };
    let e = v.run_until_ucall().unwrap_err();
    println!("{e}");
    match (mode, &e) {
        (0, Error::GuestException { exception, .. }) => {
            assert_eq!(exception.pc, at);
            assert!(exception.name.contains("UD") || exception.name.contains("UNDEF"));
        }
        (1, Error::GuestException { exception, .. }) => assert_eq!(exception.fault_addr, at),
        (2, Error::Watchdog { .. }) => {}
        (3, Error::GuestException { exception, .. }) => {
            assert!(
                exception.fault_addr < exception.sp + 4096 && exception.fault_addr + 4096 > exception.sp,
                "{exception}"
            )
        }
        _ => panic!("mode {mode}: {e}"),
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let mut trials = vec![];
    for t in [TransportKind::Pio, TransportKind::Hvc] {
        trials.push(runner::test(format!("{t}::unsupported_if_absent"), move || {
            let r = Vm::builder().transport(t).payload(Payload::elf(payloads::UCALL)).build();
            match r {
                Err(Error::Unsupported(why)) if !TransportKind::all().contains(&t) => {
                    println!("{why}");
                    Ok(())
                }
                Err(e) if TransportKind::all().contains(&t) => Err(e),
                Err(e) => panic!("{e}"),
                Ok(_) => Ok(()),
            }
        }));
    }
    for t in TransportKind::all().iter().copied() {
        trials.push(runner::test(format!("{t}::asm"), move || asm_guest(t)));
        trials.push(runner::test(format!("{t}::elf"), move || elf_guest(t, 1)));
        trials.push(runner::test(format!("{t}::elf_4vcpus"), move || elf_guest(t, 4)));
        #[cfg(target_arch = "aarch64")]
        trials.push(runner::test(format!("{t}::smccc"), move || smccc(t)));
        #[cfg(target_arch = "aarch64")]
        trials.push(runner::test(format!("{t}::vgic_2vcpus"), move || vgic(t, 2)));
        for mode in 0..6 {
            trials.push(runner::test(format!("{t}::faults{mode}"), move || faults(t, mode)));
        }
    }
    runner::main(trials)
}

/// SMCCC calls next to the ucall transports: the SMCCC filter forwards only
/// the ucall function ID, so KVM still answers SMCCC_VERSION and
/// PSCI_VERSION itself, and the ucall ID is NOT_SUPPORTED on other transports.
#[cfg(target_arch = "aarch64")]
fn smccc(t: TransportKind) -> Result<()> {
    use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
    let cases: [(u32, u64); 3] = [
        (0x8000_0000, 0x1_0001), // SMCCC_VERSION: 1.1
        (0x8400_0000, 0x1_0001), // PSCI_VERSION: 1.1
        (0xc600_5543, u64::MAX), // the hvc transport's ID: NOT_SUPPORTED unless forwarded
    ];
    let mut g = AsmGuest::new();
    for (i, (func, expected)) in cases.iter().enumerate() {
        if t == TransportKind::Hvc && *func == 0xc600_5543 {
            continue;
        }
        let bad = g.ops().new_dynamic_label();
        let next = g.ops().new_dynamic_label();
        dynasm!(g.ops()
            ; .arch aarch64
            ; movz w0, func & 0xffff
            ; movk w0, func >> 16, lsl 16
            ; hvc 0
            ; movz x1, (expected & 0xffff) as u32
            ; movk x1, ((expected >> 16) & 0xffff) as u32, lsl 16
            ; movk x1, ((expected >> 32) & 0xffff) as u32, lsl 32
            ; movk x1, ((expected >> 48) & 0xffff) as u32, lsl 48
            ; cmp x0, x1
            ; b.ne =>bad
        );
        g.sync(i as u64, &[]);
        dynasm!(g.ops() ; .arch aarch64 ; b =>next ; =>bad);
        g.abort("smccc", i as u32, "unexpected SMCCC result", &[u64::from(*func)]);
        dynasm!(g.ops() ; .arch aarch64 ; =>next);
    }
    g.done();
    let mut vm = Vm::builder().transport(t).payload(g.finish()?).build()?;
    for (i, (func, _)) in cases.iter().enumerate() {
        if t == TransportKind::Hvc && *func == 0xc600_5543 {
            continue;
        }
        vm.vcpu(0).expect_sync(i as u64)?;
    }
    vm.vcpu(0).expect_done()
}

/// An in-kernel GICv3: the guest reads GICD_PIDR2.ArchRev (3) through
/// stage 1's Device mapping, with every transport.
#[cfg(target_arch = "aarch64")]
fn vgic(t: TransportKind, vcpus: usize) -> Result<()> {
    use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
    use kvmtest::arch::aarch64::layout::{gicd_base, layout};
    const GICD_PIDR2: u64 = 0xffe8;
    let gicd = gicd_base(&layout(kvmtest::vm::DEFAULT_MEM_SIZE)?) + GICD_PIDR2;
    let mut g = AsmGuest::new();
    let bad = g.ops().new_dynamic_label();
    dynasm!(g.ops()
        ; .arch aarch64
        ; movz x2, (gicd & 0xffff) as u32
        ; movk x2, ((gicd >> 16) & 0xffff) as u32, lsl 16
        ; movk x2, ((gicd >> 32) & 0xffff) as u32, lsl 32
        ; ldr w1, [x2]
        ; lsr w1, w1, 4
        ; and w1, w1, 0xf
        ; cmp w1, 3
        ; b.ne =>bad
    );
    g.sync(1, &[]).done();
    dynasm!(g.ops() ; .arch aarch64 ; =>bad);
    g.abort("vgic", 0, "GICD_PIDR2.ArchRev is not 3", &[]);
    let mut vm = Vm::builder().transport(t).irqchip(true).vcpus(vcpus).payload(g.finish()?).build()?;
    for id in 0..vcpus {
        vm.vcpu(id).expect_sync(1)?;
        vm.vcpu(id).expect_done()?;
    }
    Ok(())
}
