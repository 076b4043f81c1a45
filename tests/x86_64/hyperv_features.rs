//! hyperv_features: KVM_CAP_HYPERV_ENFORCE_CPUID (hyperv_features.c,
//! api.rst 8.32, hyperv.c). With enforcement, a Hyper-V synthetic MSR
//! faults with #GP and a hypercall returns HV_STATUS_ACCESS_DENIED until
//! the VMM grants the matching privilege or recommendation bit in the
//! Hyper-V CPUID leaves; once granted, the MSR behaves as the TLFS says
//! (read-only MSRs #GP on WRMSR, only some values are writable) and the
//! hypercall gets past the access check to the status its input earns.
//!
//! The case tables are upstream's stages, in upstream's order: each stage
//! is its own trial in a fresh VM (`hyperv_features::msr::NN::<MSR>::read`,
//! `hyperv_features::hcall::NN::<code>`), and, as in the C test, each
//! stage's vCPU has the grants of every stage before it (upstream carries
//! the CPUID from stage to stage in `prev_cpuid`). Each vCPU starts from
//! every Hyper-V leaf KVM supports with HYPERV_CPUID_FEATURES,
//! HYPERV_CPUID_ENLIGHTMENT_INFO and the SYNDBG capabilities cleared; MSR
//! stages from 21 on also enable KVM_CAP_HYPERV_SYNIC2; hypercall stages
//! write HV_X64_MSR_GUEST_OS_ID and HV_X64_MSR_HYPERCALL first.
//!
//! The MSR access is 6.12's guest_msr: WRMSR when the stage writes, then
//! RDMSR unless the MSR is write-only (HV_X64_MSR_EOI); kvmtest also
//! checks the value read back is the one written. 6.1's guest did one
//! access only; the read after a write is valid on 6.1's KVM as well.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's Hyper-V emulation");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::kvm_bindings::{KVM_CAP_HYPERV_CPUID, KVM_CAP_HYPERV_ENFORCE_CPUID, KVM_CAP_HYPERV_SYNIC2};
    use kvmtest::series::Feature;
    use kvmtest::x86_64::cpuid::{Cpuid, CpuidBit};
    use kvmtest::x86_64::hyperv::*;
    use kvmtest::x86_64::probe::{self, Access, Outcome, Probe, GP_VECTOR, READ, UD_VECTOR, WRITE};
    use kvmtest::{ensure, runner, Result, Vm};
    use kvmtest_tests::payloads::HYPERCALL_PROBE;
    use libtest_mimic::Trial;

    /// One stage of guest_test_msrs_access.
    struct MsrStage {
        /// Upstream's stage number.
        stage: u32,
        /// CPUID bits this stage grants (kept by every later stage).
        grant: &'static [CpuidBit],
        name: &'static str,
        msr: u32,
        /// WRMSR of this value (then RDMSR), or RDMSR alone.
        write: Option<u64>,
        fault_expected: bool,
        /// The series that has the MSR, when not every one does.
        since: Option<Feature>,
    }

    /// `msr!(stage, [grants], MSR, read|write(value), ok|gp)`.
    macro_rules! msr {
        ($stage:expr, [$($grant:ident),*], $msr:ident, read, $fault:ident $(, $since:ident)?) => {
            msr!(@ $stage, [$($grant),*], $msr, None, $fault $(, $since)?)
        };
        ($stage:expr, [$($grant:ident),*], $msr:ident, write($v:expr), $fault:ident $(, $since:ident)?) => {
            msr!(@ $stage, [$($grant),*], $msr, Some($v), $fault $(, $since)?)
        };
        (@ $stage:expr, [$($grant:ident),*], $msr:ident, $write:expr, $fault:ident $(, $since:ident)?) => {
            MsrStage {
                stage: $stage,
                grant: &[$($grant),*],
                name: stringify!($msr),
                msr: $msr,
                write: $write,
                fault_expected: fault!($fault),
                since: since!($($since)?),
            }
        };
    }
    macro_rules! fault {
        (gp) => {
            true
        };
        (ok) => {
            false
        };
    }
    macro_rules! since {
        () => {
            None
        };
        ($f:ident) => {
            Some(Feature::$f)
        };
    }

    /// hyperv_features.c guest_test_msrs_access, stages 0-47 (6.12; 6.1 has 0-43).
    const MSR_STAGES: &[MsrStage] = &[
        // Only available when Hyper-V identification is set.
        msr!(0, [], HV_X64_MSR_GUEST_OS_ID, read, gp),
        msr!(1, [], HV_X64_MSR_HYPERCALL, read, gp),
        msr!(2, [HV_MSR_HYPERCALL_AVAILABLE], HV_X64_MSR_GUEST_OS_ID, write(HYPERV_LINUX_OS_ID), ok),
        msr!(3, [], HV_X64_MSR_GUEST_OS_ID, read, ok),
        msr!(4, [], HV_X64_MSR_HYPERCALL, read, ok),
        msr!(5, [], HV_X64_MSR_VP_RUNTIME, read, gp),
        msr!(6, [HV_MSR_VP_RUNTIME_AVAILABLE], HV_X64_MSR_VP_RUNTIME, read, ok),
        // Read only.
        msr!(7, [], HV_X64_MSR_VP_RUNTIME, write(1), gp),
        msr!(8, [], HV_X64_MSR_TIME_REF_COUNT, read, gp),
        msr!(9, [HV_MSR_TIME_REF_COUNT_AVAILABLE], HV_X64_MSR_TIME_REF_COUNT, read, ok),
        msr!(10, [], HV_X64_MSR_TIME_REF_COUNT, write(1), gp),
        msr!(11, [], HV_X64_MSR_VP_INDEX, read, gp),
        msr!(12, [HV_MSR_VP_INDEX_AVAILABLE], HV_X64_MSR_VP_INDEX, read, ok),
        msr!(13, [], HV_X64_MSR_VP_INDEX, write(1), gp),
        msr!(14, [], HV_X64_MSR_RESET, read, gp),
        msr!(15, [HV_MSR_RESET_AVAILABLE], HV_X64_MSR_RESET, read, ok),
        // Only 0: another value resets the vCPU.
        msr!(16, [], HV_X64_MSR_RESET, write(0), ok),
        msr!(17, [], HV_X64_MSR_REFERENCE_TSC, read, gp),
        msr!(18, [HV_MSR_REFERENCE_TSC_AVAILABLE], HV_X64_MSR_REFERENCE_TSC, read, ok),
        msr!(19, [], HV_X64_MSR_REFERENCE_TSC, write(0), ok),
        msr!(20, [], HV_X64_MSR_EOM, read, gp),
        // Still unavailable with KVM_CAP_HYPERV_SYNIC2 (from here on) but no CPUID bit.
        msr!(21, [], HV_X64_MSR_EOM, read, gp),
        msr!(22, [HV_MSR_SYNIC_AVAILABLE], HV_X64_MSR_EOM, read, ok),
        msr!(23, [], HV_X64_MSR_EOM, write(0), ok),
        msr!(24, [], HV_X64_MSR_STIMER0_CONFIG, read, gp),
        msr!(25, [HV_MSR_SYNTIMER_AVAILABLE], HV_X64_MSR_STIMER0_CONFIG, read, ok),
        msr!(26, [], HV_X64_MSR_STIMER0_CONFIG, write(0), ok),
        // Direct mode needs its own bit.
        msr!(27, [], HV_X64_MSR_STIMER0_CONFIG, write(HV_STIMER_DIRECT_MODE), gp),
        msr!(28, [HV_STIMER_DIRECT_MODE_AVAILABLE], HV_X64_MSR_STIMER0_CONFIG, write(HV_STIMER_DIRECT_MODE), ok),
        msr!(29, [], HV_X64_MSR_EOI, read, gp),
        // Write-only: no read back.
        msr!(30, [HV_MSR_APIC_ACCESS_AVAILABLE], HV_X64_MSR_EOI, write(1), ok),
        msr!(31, [], HV_X64_MSR_TSC_FREQUENCY, read, gp),
        msr!(32, [HV_ACCESS_FREQUENCY_MSRS], HV_X64_MSR_TSC_FREQUENCY, read, ok),
        msr!(33, [], HV_X64_MSR_TSC_FREQUENCY, write(1), gp),
        msr!(34, [], HV_X64_MSR_REENLIGHTENMENT_CONTROL, read, gp),
        msr!(35, [HV_ACCESS_REENLIGHTENMENT], HV_X64_MSR_REENLIGHTENMENT_CONTROL, read, ok),
        msr!(36, [], HV_X64_MSR_REENLIGHTENMENT_CONTROL, write(1), ok),
        // Only 0 is writable.
        msr!(37, [], HV_X64_MSR_TSC_EMULATION_STATUS, write(1), gp),
        msr!(38, [], HV_X64_MSR_CRASH_P0, read, gp),
        msr!(39, [HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE], HV_X64_MSR_CRASH_P0, read, ok),
        msr!(40, [], HV_X64_MSR_CRASH_P0, write(1), ok),
        msr!(41, [], HV_X64_MSR_SYNDBG_STATUS, read, gp),
        msr!(
            42,
            [HV_FEATURE_DEBUG_MSRS_AVAILABLE, HV_X64_SYNDBG_CAP_ALLOW_KERNEL_DEBUGGING],
            HV_X64_MSR_SYNDBG_STATUS,
            read,
            ok
        ),
        msr!(43, [], HV_X64_MSR_SYNDBG_STATUS, write(0), ok),
        // 6.12: not available while the CPUID bit is clear; with it, only
        // bit 0 is writable, and it makes the invariant TSC visible.
        msr!(44, [], HV_X64_MSR_TSC_INVARIANT_CONTROL, read, gp, HvTscInvariantControl),
        msr!(45, [HV_ACCESS_TSC_INVARIANT], HV_X64_MSR_TSC_INVARIANT_CONTROL, read, ok, HvTscInvariantControl),
        msr!(46, [], HV_X64_MSR_TSC_INVARIANT_CONTROL, write(0xdead_beef), gp, HvTscInvariantControl),
        msr!(47, [], HV_X64_MSR_TSC_INVARIANT_CONTROL, write(HV_INVARIANT_TSC_EXPOSED), ok, HvTscInvariantControl),
    ];

    /// Upstream enables KVM_CAP_HYPERV_SYNIC2 for MSR stages from this one on.
    const SYNIC2_FROM_STAGE: u32 = 21;

    /// What a hypercall stage expects.
    #[derive(Clone, Copy)]
    enum HcallExpect {
        Status(u64),
        /// #UD (an XMM fast hypercall without HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE).
        Ud,
    }

    /// One stage of guest_test_hcalls_access.
    struct HcallStage {
        stage: u32,
        grant: &'static [CpuidBit],
        name: &'static str,
        control: u64,
        expect: HcallExpect,
        since: Option<Feature>,
    }

    macro_rules! hcall {
        ($stage:expr, [$($grant:ident),*], $name:expr, $control:expr, $expect:expr $(, $since:ident)?) => {
            HcallStage {
                stage: $stage,
                grant: &[$($grant),*],
                name: $name,
                control: $control,
                expect: $expect,
                since: since!($($since)?),
            }
        };
    }
    use HcallExpect::{Status, Ud};

    /// An unknown hypercall code (hyperv_features.c stage 0).
    const UNKNOWN_HCALL_CODE: u64 = 0xbeef;

    /// hyperv_features.c guest_test_hcalls_access, stages 0-20 (6.12; 6.1 has 0-18).
    const HCALL_STAGES: &[HcallStage] = &[
        hcall!(
            0,
            [HV_MSR_HYPERCALL_AVAILABLE],
            "unknown_0xbeef",
            UNKNOWN_HCALL_CODE,
            Status(HV_STATUS_INVALID_HYPERCALL_CODE)
        ),
        hcall!(1, [], "HVCALL_POST_MESSAGE", HVCALL_POST_MESSAGE, Status(HV_STATUS_ACCESS_DENIED)),
        hcall!(
            2,
            [HV_POST_MESSAGES],
            "HVCALL_POST_MESSAGE",
            HVCALL_POST_MESSAGE,
            Status(HV_STATUS_INVALID_HYPERCALL_INPUT)
        ),
        hcall!(3, [], "HVCALL_SIGNAL_EVENT", HVCALL_SIGNAL_EVENT, Status(HV_STATUS_ACCESS_DENIED)),
        hcall!(
            4,
            [HV_SIGNAL_EVENTS],
            "HVCALL_SIGNAL_EVENT",
            HVCALL_SIGNAL_EVENT,
            Status(HV_STATUS_INVALID_HYPERCALL_INPUT)
        ),
        hcall!(
            5,
            [],
            "HVCALL_RESET_DEBUG_SESSION",
            HVCALL_RESET_DEBUG_SESSION,
            Status(HV_STATUS_INVALID_HYPERCALL_CODE)
        ),
        hcall!(
            6,
            [HV_X64_SYNDBG_CAP_ALLOW_KERNEL_DEBUGGING],
            "HVCALL_RESET_DEBUG_SESSION",
            HVCALL_RESET_DEBUG_SESSION,
            Status(HV_STATUS_ACCESS_DENIED)
        ),
        hcall!(
            7,
            [HV_DEBUGGING],
            "HVCALL_RESET_DEBUG_SESSION",
            HVCALL_RESET_DEBUG_SESSION,
            Status(HV_STATUS_OPERATION_DENIED)
        ),
        hcall!(
            8,
            [],
            "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE",
            HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE,
            Status(HV_STATUS_ACCESS_DENIED)
        ),
        hcall!(
            9,
            [HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED],
            "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE",
            HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE,
            Status(HV_STATUS_SUCCESS)
        ),
        hcall!(
            10,
            [],
            "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX",
            HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX,
            Status(HV_STATUS_ACCESS_DENIED)
        ),
        hcall!(
            11,
            [HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED],
            "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX",
            HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX,
            Status(HV_STATUS_SUCCESS)
        ),
        hcall!(12, [], "HVCALL_SEND_IPI", HVCALL_SEND_IPI, Status(HV_STATUS_ACCESS_DENIED)),
        hcall!(
            13,
            [HV_X64_CLUSTER_IPI_RECOMMENDED],
            "HVCALL_SEND_IPI",
            HVCALL_SEND_IPI,
            Status(HV_STATUS_INVALID_HYPERCALL_INPUT)
        ),
        // Nothing in the sparse banks: success.
        hcall!(14, [], "HVCALL_SEND_IPI_EX", HVCALL_SEND_IPI_EX, Status(HV_STATUS_SUCCESS)),
        hcall!(15, [], "HVCALL_NOTIFY_LONG_SPIN_WAIT", HVCALL_NOTIFY_LONG_SPIN_WAIT, Status(HV_STATUS_ACCESS_DENIED)),
        hcall!(
            16,
            [HV_PV_SPINLOCKS_TEST],
            "HVCALL_NOTIFY_LONG_SPIN_WAIT",
            HVCALL_NOTIFY_LONG_SPIN_WAIT,
            Status(HV_STATUS_SUCCESS)
        ),
        // XMM fast hypercall: #UD without the bit.
        hcall!(
            17,
            [],
            "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_xmm_fast",
            HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE | HV_HYPERCALL_FAST_BIT,
            Ud
        ),
        hcall!(
            18,
            [HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE],
            "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_xmm_fast",
            HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE | HV_HYPERCALL_FAST_BIT,
            Status(HV_STATUS_SUCCESS)
        ),
        hcall!(
            19,
            [],
            "HV_EXT_CALL_QUERY_CAPABILITIES",
            HV_EXT_CALL_QUERY_CAPABILITIES,
            Status(HV_STATUS_ACCESS_DENIED),
            HvExtendedHypercalls
        ),
        hcall!(
            20,
            [HV_ENABLE_EXTENDED_HYPERCALLS],
            "HV_EXT_CALL_QUERY_CAPABILITIES_fast",
            HV_EXT_CALL_QUERY_CAPABILITIES | HV_HYPERCALL_FAST_BIT,
            Status(HV_STATUS_INVALID_PARAMETER),
            HvExtendedHypercalls
        ),
    ];

    fn require_caps() -> Result<()> {
        kvmtest::require_cap_raw("KVM_CAP_HYPERV_ENFORCE_CPUID", KVM_CAP_HYPERV_ENFORCE_CPUID.into())?;
        kvmtest::require_cap_raw("KVM_CAP_HYPERV_CPUID", KVM_CAP_HYPERV_CPUID.into())?;
        Ok(())
    }

    /// A probe VM whose vCPU enforces Hyper-V CPUID and has `grants` (and nothing else of the granting leaves).
    /// Like upstream's VMs, it has the in-kernel irqchip: SynIC (KVM_CAP_HYPERV_SYNIC2)
    /// and the IPI hypercalls need the in-kernel LAPIC (hyperv.c).
    fn stage_vm(grants: impl Iterator<Item = CpuidBit>, synic2: bool) -> Result<Vm> {
        let mut vm = probe::vm_builder(HYPERCALL_PROBE).irqchip(true).build()?;
        let vcpu = vm.vcpu(0);
        vcpu.enable_cap(KVM_CAP_HYPERV_ENFORCE_CPUID, &[1])?;
        vcpu.reset_hv_cpuid()?;
        if synic2 {
            kvmtest::require_cap_raw("KVM_CAP_HYPERV_SYNIC2", KVM_CAP_HYPERV_SYNIC2.into())?;
            vcpu.enable_cap(KVM_CAP_HYPERV_SYNIC2, &[0])?;
        }
        vcpu.update_cpuid(|c| grants.into_iter().try_for_each(|g| c.set(g, true)))?;
        Ok(vm)
    }

    fn msr_stage(i: usize) -> Result<()> {
        let st = &MSR_STAGES[i];
        require_caps()?;
        if let Some(f) = st.since {
            f.require()?;
        }
        // Upstream runs the invariant TSC stages only where KVM offers INVTSC.
        let tsc_invariant = st.msr == HV_X64_MSR_TSC_INVARIANT_CONTROL;
        if tsc_invariant && !Cpuid::supported()?.has(X86_FEATURE_INVTSC) {
            return Err(kvmtest::Error::Skip(format!(
                "KVM_GET_SUPPORTED_CPUID does not offer {X86_FEATURE_INVTSC} on {} (hyperv_features.c skips stages 44-47 then)",
                kvmtest::backend()?
            )));
        }
        let grants = MSR_STAGES[..=i].iter().flat_map(|s| s.grant.iter().copied());
        let mut vm = stage_vm(grants, st.stage >= SYNIC2_FROM_STAGE)?;
        let op = if st.write.is_some() { "WRMSR" } else { "RDMSR" };
        let what = format!("stage {}: {op} {} ({:#x})", st.stage, st.name, st.msr);

        let first = match st.write {
            Some(value) => Probe::Msr { index: st.msr, value, ops: WRITE },
            None => Probe::Msr { index: st.msr, value: 0, ops: READ },
        };
        let Outcome::Msr { read, write } = probe::run_probe(&mut vm, &first)? else { unreachable!("an MSR probe") };
        let got = if st.write.is_some() { write } else { read };
        if st.fault_expected {
            ensure!(got == Access::Fault(GP_VECTOR), "{what}: expected #GP, got {got}");
            return probe::finish(&mut vm);
        }
        ensure!(got.is_ok(), "{what}: expected it to complete, got {got}");

        // 6.12's guest reads back what it wrote, except from a write-only MSR.
        let mut value = match got {
            Access::Ok(v) => v,
            Access::Fault(_) => unreachable!("checked above"),
        };
        if let Some(written) = st.write.filter(|_| st.msr != HV_X64_MSR_EOI) {
            let back = Probe::Msr { index: st.msr, value: 0, ops: READ };
            let Outcome::Msr { read, .. } = probe::run_probe(&mut vm, &back)? else { unreachable!("an MSR probe") };
            ensure!(
                read == Access::Ok(written),
                "{what} = {written:#x}, then RDMSR: expected {written:#x} back, got {read}"
            );
            value = written;
        }

        if tsc_invariant {
            // hyperv.h: with HV_ACCESS_TSC_INVARIANT the guest sees INVTSC only
            // once bit 0 of the control MSR is set; without it, always.
            let granted = MSR_STAGES[..=i].iter().any(|s| s.grant.contains(&HV_ACCESS_TSC_INVARIANT));
            let want = !granted || value & HV_INVARIANT_TSC_EXPOSED != 0;
            let leaf = Probe::Cpuid { leaf: X86_FEATURE_INVTSC.leaf, subleaf: 0 };
            let Outcome::Cpuid(regs) = probe::run_probe(&mut vm, &leaf)? else { unreachable!("a CPUID probe") };
            let has = X86_FEATURE_INVTSC.in_regs(regs);
            ensure!(
                has == want,
                "{what}: with HV_X64_MSR_TSC_INVARIANT_CONTROL = {value:#x} the guest's {X86_FEATURE_INVTSC} should be {}, it is {}",
                if want { "set" } else { "clear" },
                if has { "set" } else { "clear" }
            );
        }
        probe::finish(&mut vm)
    }

    fn hcall_stage(i: usize) -> Result<()> {
        let st = &HCALL_STAGES[i];
        require_caps()?;
        if let Some(f) = st.since {
            f.require()?;
        }
        let grants = HCALL_STAGES[..=i].iter().flat_map(|s| s.grant.iter().copied());
        let mut vm = stage_vm(grants, false)?;
        let pages = vm.shared_alloc(2 * 4096)?;
        for (msr, value) in [(HV_X64_MSR_GUEST_OS_ID, HYPERV_LINUX_OS_ID), (HV_X64_MSR_HYPERCALL, pages)] {
            let got = probe::run_probe(&mut vm, &Probe::Msr { index: msr, value, ops: WRITE })?;
            let Outcome::Msr { write, .. } = got else { unreachable!("an MSR probe") };
            ensure!(write.is_ok(), "stage {}: set-up WRMSR {msr:#x} = {value:#x} failed: {write}", st.stage);
        }
        let (input, output) = if st.control & HV_HYPERCALL_FAST_BIT != 0 { (0, 0) } else { (pages, pages + 4096) };
        let got = probe::run_probe(&mut vm, &Probe::HvHcall { control: st.control, input, output })?;
        let Outcome::HvHcall(ret) = got else { unreachable!("a Hyper-V probe") };
        let what = format!("stage {}: hypercall {} (control {:#x})", st.stage, st.name, st.control);
        match st.expect {
            Ud => ensure!(ret == Access::Fault(UD_VECTOR), "{what}: expected #UD, got {ret}"),
            Status(want) => ensure!(
                ret == Access::Ok(want),
                "{what}: expected {}, got {}",
                hv_status_name(want),
                match ret {
                    Access::Ok(s) => hv_status_name(s),
                    fault => fault.to_string(),
                }
            ),
        }
        probe::finish(&mut vm)
    }

    pub fn trials() -> Vec<Trial> {
        let mut table =
            String::from("hyperv_features: stage  access                                    grants -> expected\n");
        for s in MSR_STAGES {
            let op = match s.write {
                Some(v) => format!("WRMSR {} = {v:#x}", s.name),
                None => format!("RDMSR {}", s.name),
            };
            let grants: Vec<&str> = s.grant.iter().map(|g| g.name).collect();
            let want = if s.fault_expected { "#GP" } else { "ok" };
            table += &format!("  msr   {:>2}  {op:<48} {grants:?} -> {want}\n", s.stage);
        }
        for s in HCALL_STAGES {
            let grants: Vec<&str> = s.grant.iter().map(|g| g.name).collect();
            let want = match s.expect {
                Ud => "#UD".to_string(),
                Status(v) => hv_status_name(v),
            };
            table += &format!("  hcall {:>2}  {:<48} {grants:?} -> {want}\n", s.stage, s.name);
        }
        runner::announce(table);
        let msrs = MSR_STAGES.iter().enumerate().map(|(i, s)| {
            let op = if s.write.is_some() { "write" } else { "read" };
            runner::test(format!("hyperv_features::msr::{:02}::{}::{op}", s.stage, s.name), move || msr_stage(i))
        });
        let hcalls = HCALL_STAGES.iter().enumerate().map(|(i, s)| {
            runner::test(format!("hyperv_features::hcall::{:02}::{}", s.stage, s.name), move || hcall_stage(i))
        });
        msrs.chain(hcalls).collect()
    }
}
