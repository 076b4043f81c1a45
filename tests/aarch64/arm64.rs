//! arm64-only checks of the harness's arch layer, on every arm64 transport:
//! SMCCC calls still reach KVM next to the ucall SMCCC filter, an in-kernel
//! GICv3 is reachable through stage 1, vCPUs running at once each get their
//! own messages, the x86-only PIO transport is a clear `Unsupported`, and a
//! guest that breaks the exception handler's own registers is named at once.
//! Named `aarch64::<check>::<transport>`. Built on every arch; on others it
//! reports one trial skipped as "aarch64 only", like the other arm64 scenarios.

kvmtest_tests::arch_only_main!("aarch64", arm64::trials);

#[cfg(target_arch = "aarch64")]
mod arm64 {
    use dynasmrt::aarch64::RX;
    use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
    use kvmtest::arch::aarch64::firmware::load_imm64;
    use kvmtest::arch::aarch64::layout::{gicd_base, layout};
    use kvmtest::arch::aarch64::regs;
    use kvmtest::asm::AsmGuest;
    use kvmtest::{bail, ensure, runner, Error, Payload, Result, TransportKind, Ucall, Vm};
    use kvmtest_tests::payloads;
    use vm_memory::{Bytes, GuestAddress};

    /// SMCCC function IDs (include/linux/arm-smccc.h, uapi/linux/psci.h).
    use kvmtest::abi::smccc::{
        ARM_SMCCC_VERSION_1_1, ARM_SMCCC_VERSION_FUNC_ID, PSCI_0_2_FN_PSCI_VERSION, SMCCC_RET_NOT_SUPPORTED,
    };
    /// The hvc transport's function ID (`ucall/hvc.rs`).
    use kvmtest::ucall::UCALL_HVC_FUNC_ID;

    /// (name, function ID, expected x0) — KVM answers each in the kernel. The
    /// vCPU is PSCI 0.2+ and its PSCI_VERSION register is left at the
    /// default, so PSCI_VERSION answers the series' KVM_ARM_PSCI_LATEST
    /// (kvm_psci_version(), kvm_psci_1_x_call(): 1.1 on 6.1 and 6.12, 1.3 from 6.13).
    fn smccc_calls() -> Result<[(&'static str, u32, u64); 3]> {
        let psci = kvmtest::series::psci(kvmtest::series::Series::running()?)?;
        Ok([
            ("ARM_SMCCC_VERSION", ARM_SMCCC_VERSION_FUNC_ID, ARM_SMCCC_VERSION_1_1),
            ("PSCI_VERSION", PSCI_0_2_FN_PSCI_VERSION, psci.default),
            ("UCALL_HVC_FUNC_ID", UCALL_HVC_FUNC_ID, SMCCC_RET_NOT_SUPPORTED),
        ])
    }

    /// Loads a 64-bit constant into `reg`.
    fn mov64(g: &mut AsmGuest, reg: RX, v: u64) {
        load_imm64(g.ops(), reg, v);
    }

    /// The guest compares x0 with x1 and says SYNC(stage) or ABORT(`what`, x0 unknown).
    fn check_x0(g: &mut AsmGuest, stage: u64, what: &str) {
        let bad = g.ops().new_dynamic_label();
        let next = g.ops().new_dynamic_label();
        dynasm!(g.ops() ; .arch aarch64 ; cmp x0, x1 ; b.ne =>bad);
        g.sync(stage, &[]);
        dynasm!(g.ops() ; .arch aarch64 ; b =>next ; =>bad);
        g.abort(file!(), line!(), what, &[stage]);
        dynasm!(g.ops() ; .arch aarch64 ; =>next);
    }

    /// The SMCCC filter forwards only the ucall function ID: KVM still
    /// answers SMCCC_VERSION and PSCI_VERSION, and the ucall ID is
    /// NOT_SUPPORTED on VMs whose transport is not hvc.
    fn smccc(t: TransportKind) -> Result<()> {
        let all = smccc_calls()?;
        let calls: Vec<_> = all.iter().filter(|c| !(t == TransportKind::Hvc && c.1 == UCALL_HVC_FUNC_ID)).collect();
        let mut g = AsmGuest::new();
        for (i, (name, func, expected)) in calls.iter().enumerate() {
            mov64(&mut g, RX::X0, u64::from(*func));
            dynasm!(g.ops() ; .arch aarch64 ; hvc 0);
            mov64(&mut g, RX::X1, *expected);
            check_x0(&mut g, i as u64, &format!("{name}: expected {expected:#x}"));
        }
        g.done();
        let mut vm = Vm::builder().transport(t).payload(g.finish()?).build()?;
        for i in 0..calls.len() {
            vm.vcpu(0).expect_sync(i as u64)?;
        }
        vm.vcpu(0).expect_done()
    }

    /// With `irqchip(true)` the guest reads GICD_PIDR2.ArchRev (3 = GICv3)
    /// through stage 1's Device mapping of the MMIO window.
    fn vgic(t: TransportKind) -> Result<()> {
        const GICD_PIDR2: u64 = 0xffe8;
        const VCPUS: usize = 2;
        let pidr2 = gicd_base(&layout(kvmtest::vm::DEFAULT_MEM_SIZE)?) + GICD_PIDR2;
        let mut g = AsmGuest::new();
        mov64(&mut g, RX::X2, pidr2);
        dynasm!(g.ops() ; .arch aarch64 ; ldr w0, [x2] ; ubfx w0, w0, 4, 4 ; movz x1, 3);
        check_x0(&mut g, 1, "GICD_PIDR2.ArchRev is not 3");
        g.done();
        let mut vm = Vm::builder().transport(t).irqchip(true).vcpus(VCPUS).payload(g.finish()?).build()?;
        for id in 0..VCPUS {
            vm.vcpu(id).expect_sync(1)?;
            vm.vcpu(id).expect_done()?;
        }
        Ok(())
    }

    /// Four vCPUs on four threads: each sees its own id in its SYNC.
    fn vcpus_at_once(t: TransportKind) -> Result<()> {
        const VCPUS: usize = 4;
        let mut vm =
            Vm::builder().transport(t).vcpus(VCPUS).payload(Payload::elf(payloads::UCALL)).arg(0, 0).build()?;
        std::thread::scope(|s| {
            let runs: Vec<_> = vm
                .vcpus_mut()
                .iter_mut()
                .map(|v| {
                    s.spawn(move || -> Result<()> {
                        let id = v.id() as u64;
                        let args = v.expect_sync(1)?;
                        ensure!(args[2] == id, "vCPU {id}: SYNC(1) carried vCPU id {}", args[2]);
                        v.expect_sync(2)?;
                        v.expect_done()
                    })
                })
                .collect();
            runs.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| bail!("a vCPU thread panicked")))
        })
    }

    /// PIO is x86-only: asking for it is a clear `Unsupported`, not a crash.
    fn pio_unsupported() -> Result<()> {
        match Vm::builder().transport(TransportKind::Pio).payload(Payload::elf(payloads::UCALL)).build() {
            Err(Error::Unsupported(why)) => {
                ensure!(why.contains("pio") && why.contains("aarch64"), "unclear reason: {why}");
                Ok(())
            }
            Err(e) => bail!("expected Unsupported, got {e}"),
            Ok(mut vm) => bail!("a PIO VM was built on aarch64 and said {:?}", vm.vcpu(0).run_until_ucall()),
        }
    }

    /// A guest that keeps running after a ucall is resumed where it left off.
    fn resumes_after_each_ucall(t: TransportKind) -> Result<()> {
        let mut g = AsmGuest::new();
        for stage in 0..16 {
            g.sync(stage, &[stage * 3]);
        }
        g.done();
        let mut vm = Vm::builder().transport(t).payload(g.finish()?).build()?;
        for stage in 0..16 {
            match vm.vcpu(0).run_until_ucall()? {
                Ucall::Sync { stage: s, args } if s == stage && *args == [stage * 3] => {}
                other => bail!("stage {stage}: got {other:?}"),
            }
        }
        vm.vcpu(0).expect_done()
    }

    /// A guest that takes one exception: what it executes, and what the
    /// report must say (ESR_EL1.EC, a piece of the name, the FAR if defined).
    struct ExceptionCase {
        name: &'static str,
        emit: fn(&mut AsmGuest) -> u64,
        ec: u64,
        text: &'static str,
        far: Option<u64>,
    }

    /// An address in the harness's unmapped null page.
    use kvmtest::abi::faults::UNMAPPED;

    const EXCEPTION_CASES: &[ExceptionCase] = &[
        ExceptionCase { name: "udf", emit: |g| g.undefined_instruction(), ec: 0x00, text: "UNDEF", far: None },
        ExceptionCase {
            name: "brk",
            emit: |g| {
                let at = g.here();
                dynasm!(g.ops() ; .arch aarch64 ; brk 0x7);
                at
            },
            ec: 0x3c,
            text: "BRK",
            far: None,
        },
        ExceptionCase {
            name: "svc",
            emit: |g| {
                dynasm!(g.ops() ; .arch aarch64 ; svc 0);
                g.here() // SVC reports the preferred return address, after the instruction
            },
            ec: 0x15,
            text: "SVC",
            far: None,
        },
        ExceptionCase {
            name: "fp_instruction",
            emit: |g| {
                let at = g.here();
                dynasm!(g.ops() ; .arch aarch64 ; fmov d0, xzr);
                at
            },
            ec: 0x07,
            text: "SIMD/FP",
            far: None,
        },
        ExceptionCase {
            name: "load_from_null_page",
            emit: |g| g.load_from(UNMAPPED),
            ec: 0x25,
            text: "Data Abort (translation fault, level 3, read)",
            far: Some(UNMAPPED),
        },
        ExceptionCase {
            name: "store_to_null_page",
            emit: |g| {
                mov64(g, RX::X1, UNMAPPED);
                let at = g.here();
                dynasm!(g.ops() ; .arch aarch64 ; str x0, [x1]);
                at
            },
            ec: 0x25,
            text: "Data Abort (translation fault, level 3, write)",
            far: Some(UNMAPPED),
        },
        ExceptionCase {
            name: "jump_to_null_page",
            emit: |g| {
                mov64(g, RX::X1, UNMAPPED);
                dynasm!(g.ops() ; .arch aarch64 ; br x1);
                UNMAPPED
            },
            ec: 0x21,
            text: "Instruction Abort (translation fault, level 3)",
            far: Some(UNMAPPED),
        },
    ];

    /// Each exception class is reported with EC, ESR, ELR, FAR and its name.
    fn exception_reported(case: &ExceptionCase) -> Result<()> {
        let mut g = AsmGuest::new();
        let pc = (case.emit)(&mut g);
        let mut vm = Vm::builder().payload(g.finish()?).build()?;
        let e = match vm.vcpu(0).run_until_ucall() {
            Err(Error::GuestException { exception, .. }) => exception,
            other => bail!("{}: expected an exception report, got {other:?}", case.name),
        };
        ensure!(e.vector == case.ec, "{}: EC expected {:#x}, reported {:#x} ({e})", case.name, case.ec, e.vector);
        ensure!(
            e.error_code >> 26 == case.ec,
            "{}: ESR {:#x} does not hold EC {:#x}",
            case.name,
            e.error_code,
            case.ec
        );
        ensure!(e.pc == pc, "{}: ELR expected {pc:#x}, reported {:#x}", case.name, e.pc);
        ensure!(
            e.name.contains(case.text),
            "{}: name expected to contain {:?}, reported {:?}",
            case.name,
            case.text,
            e.name
        );
        if let Some(far) = case.far {
            ensure!(e.fault_addr == far, "{}: FAR expected {far:#x}, reported {:#x}", case.name, e.fault_addr);
        }
        ensure!(
            e.sp == vm.layout().stack_top_of(0),
            "{}: SP expected the untouched stack top, reported {:#x}",
            case.name,
            e.sp
        );
        Ok(())
    }

    /// A guest that breaks what the harness's exception handler relies on,
    /// then takes an exception: the handler faults itself (FAR `far`) and
    /// gives up at once, and the host names it (no watchdog timeout).
    struct HandlerFaultCase {
        name: &'static str,
        emit: fn(&mut AsmGuest),
        far: u64,
    }

    /// SP_EL0, the exception stack the vector slots switch to.
    const SP_EL0: u32 = regs::SP_EL0_SYSREG.mrs_imm();
    /// TPIDR_EL1, where the handler finds this vCPU's boot info.
    const TPIDR_EL1: u32 = regs::TPIDR_EL1.mrs_imm();

    const HANDLER_FAULT_CASES: &[HandlerFaultCase] = &[
        HandlerFaultCase {
            name: "tpidr_el1_destroyed",
            emit: |g| {
                dynasm!(g.ops() ; .arch aarch64 ; msr TPIDR_EL1, xzr);
                g.undefined_instruction();
            },
            far: kvmtest::abi::boot_offsets::EXC_FIXUP as u64,
        },
        HandlerFaultCase {
            name: "exception_stack_destroyed",
            emit: |g| {
                dynasm!(g.ops() ; .arch aarch64 ; msr SP_EL0, xzr);
                g.undefined_instruction();
            },
            far: 0u64.wrapping_sub(32),
        },
    ];

    fn handler_fault_reported(case: &HandlerFaultCase) -> Result<()> {
        let mut g = AsmGuest::new();
        (case.emit)(&mut g);
        let mut vm = Vm::builder().payload(g.finish()?).build()?;
        let text = match vm.vcpu(0).run_until_ucall() {
            Err(e @ Error::UnexpectedExit { .. }) => e.to_string(),
            other => bail!("{}: expected the handler's own fault as an unexpected exit, got {other:?}", case.name),
        };
        for expected in ["KVM_EXIT_SYSTEM_EVENT", "which faulted itself", "Data Abort", &format!("FAR {:#x}", case.far)]
        {
            ensure!(text.contains(expected), "{}: the report lacks {expected:?}:\n{text}", case.name);
        }
        Ok(())
    }

    /// VBAR_EL1 at the unmapped null page: the UDF's vector cannot be
    /// fetched, and neither can the Instruction Abort's, forever. No code of
    /// the harness runs, so only the watchdog ends it: its report must say why.
    fn vector_table_unmapped() -> Result<()> {
        const VBAR_EL1: u32 = regs::VBAR_EL1.mrs_imm();
        let mut g = AsmGuest::new();
        dynasm!(g.ops() ; .arch aarch64 ; msr VBAR_EL1, xzr ; isb);
        g.undefined_instruction();
        let mut vm = Vm::builder().timeout(std::time::Duration::from_millis(300)).payload(g.finish()?).build()?;
        let text = match vm.vcpu(0).run_until_ucall() {
            Err(e @ Error::Watchdog { .. }) => e.to_string(),
            other => bail!("expected the watchdog to end a vCPU looping on its vector fetch, got {other:?}"),
        };
        for expected in ["exception whose vector it cannot fetch", "Instruction Abort", "VBAR_EL1 0x0 "] {
            ensure!(text.contains(expected), "the watchdog report lacks {expected:?}:\n{text}");
        }
        Ok(())
    }

    /// The MMIO window is Device memory and execute-never: a jump there is a
    /// permission fault, not an MMIO exit.
    fn mmio_window_is_execute_never() -> Result<()> {
        let mut g = AsmGuest::new();
        let target = layout(kvmtest::vm::DEFAULT_MEM_SIZE)?.mmio.ucall + 0x10_0000;
        mov64(&mut g, RX::X1, target);
        dynasm!(g.ops() ; .arch aarch64 ; br x1);
        let mut vm = Vm::builder().payload(g.finish()?).build()?;
        match vm.vcpu(0).run_until_ucall() {
            Err(Error::GuestException { exception: e, .. })
                if e.vector == 0x21 && e.name.contains("permission fault") && e.fault_addr == target =>
            {
                Ok(())
            }
            other => bail!("jump to {target:#x}: expected an Instruction Abort (permission fault), got {other:?}"),
        }
    }

    /// RAM beyond the first GiBs is mapped through its own L2 table: the
    /// guest writes the last word of 5 GiB of RAM and reads it back.
    fn ram_above_4gib_is_mapped() -> Result<()> {
        const MEM: u64 = 5 << 30;
        const PATTERN: u64 = 0x5a5a_1234_8765_a5a5;
        let top = MEM - 8;
        let mut g = AsmGuest::new();
        mov64(&mut g, RX::X2, top);
        mov64(&mut g, RX::X1, PATTERN);
        dynasm!(g.ops() ; .arch aarch64 ; str x1, [x2] ; dsb sy ; ldr x0, [x2]);
        check_x0(&mut g, 1, "the word at the top of RAM did not read back");
        g.done();
        let mut vm = Vm::builder().mem_size(MEM).payload(g.finish()?).build()?;
        vm.vcpu(0).expect_sync(1)?;
        vm.vcpu(0).expect_done()?;
        let host: u64 = vm.mem().read_obj(GuestAddress(top)).map_err(|e| Error::Memory(e.to_string()))?;
        ensure!(host == PATTERN, "host sees {host:#x} at {top:#x}, the guest wrote {PATTERN:#x}");
        Ok(())
    }

    pub fn trials() -> Vec<kvmtest::runner::Trial> {
        let mut trials = vec![
            runner::test("aarch64::pio_unsupported", pio_unsupported),
            runner::test("aarch64::mmio_window_is_execute_never", mmio_window_is_execute_never),
            runner::test("aarch64::ram_above_4gib_is_mapped", ram_above_4gib_is_mapped),
            runner::test("aarch64::vector_table_unmapped_named_by_watchdog", vector_table_unmapped),
        ];
        for case in EXCEPTION_CASES {
            trials
                .push(runner::test(format!("aarch64::exception_reported::{}", case.name), || exception_reported(case)));
        }
        for case in HANDLER_FAULT_CASES {
            trials.push(runner::test(format!("aarch64::handler_fault_reported::{}", case.name), || {
                handler_fault_reported(case)
            }));
        }
        for &t in TransportKind::all() {
            trials.push(runner::test(format!("aarch64::smccc::{t}"), move || smccc(t)));
            trials.push(runner::test(format!("aarch64::vgic::{t}"), move || vgic(t)));
            trials.push(runner::test(format!("aarch64::vcpus_at_once::{t}"), move || vcpus_at_once(t)));
            trials.push(runner::test(format!("aarch64::resumes_after_each_ucall::{t}"), move || {
                resumes_after_each_ucall(t)
            }));
        }
        trials
    }
}
