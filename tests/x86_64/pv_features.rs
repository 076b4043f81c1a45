//! pv_features: KVM_CAP_ENFORCE_PV_FEATURE_CPUID (kvm_pv_test.c, cpuid.rst,
//! msr.rst, hypercalls.rst). With enforcement, each PV MSR faults with #GP
//! and each PV hypercall returns -KVM_ENOSYS while its feature bit in
//! KVM_CPUID_FEATURES (0x40000001.EAX) is clear, and works once it is set.
//! Without enforcement KVM does not look at the bit: the access behaves as
//! if it were set.
//!
//! Two services are not KVM's to grant (hypercalls.rst, MAP_GPA_RANGE
//! implementation note): MAP_GPA_RANGE works only when the VMM enables
//! KVM_CAP_EXIT_HYPERCALL (KVM never checks KVM_FEATURE_HC_MAP_GPA_RANGE)
//! and MSR_KVM_MIGRATION_CONTROL only when the VMM handles the MSR itself
//! (here through KVM_CAP_X86_USER_SPACE_MSR). Their "bit set" case enables
//! that VMM service too, and checks the access reaches the VMM.
//!
//! Each row is three trials: `<row>::cpuid_clear`, `<row>::cpuid_set`,
//! `<row>::not_enforced`.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's x86 paravirtual interface");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::kvm_bindings::{
        KVM_CAP_ENFORCE_PV_FEATURE_CPUID, KVM_CAP_EXIT_HYPERCALL, KVM_CAP_X86_USER_SPACE_MSR,
        KVM_MSR_EXIT_REASON_UNKNOWN,
    };
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::x86_64::cpuid::{Cpuid, CpuidBit};
    use kvmtest::x86_64::kvm_para::{self, neg, KVM_ENOSYS};
    use kvmtest::x86_64::probe::{self, Access, Outcome, Probe, GP_VECTOR};
    use kvmtest::{ensure, kvm_feature, runner, ExitAction, Result};
    use kvmtest_tests::payloads::HYPERCALL_PROBE;
    use libtest_mimic::Trial;

    /// A service the VMM provides itself when it sets the bit.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Vmm {
        /// KVM_CAP_EXIT_HYPERCALL for this hypercall: the VMM answers it.
        ExitHypercall,
        /// KVM_CAP_X86_USER_SPACE_MSR(KVM_MSR_EXIT_REASON_UNKNOWN): the VMM answers the MSR.
        UserSpaceMsr,
    }

    struct Row {
        name: &'static str,
        probe: Probe,
        feature: CpuidBit,
        vmm: Option<Vmm>,
    }

    macro_rules! opt {
        () => {
            None
        };
        ($v:expr) => {
            Some($v)
        };
    }

    /// `msr!(MSR_KVM_PV_EOI_EN, KVM_FEATURE_PV_EOI)`: RDMSR, then WRMSR of 0, as kvm_pv_test's test_msr.
    macro_rules! msr {
        ($msr:ident, $feature:ident $(, $vmm:expr)?) => {
            Row {
                name: stringify!($msr),
                probe: Probe::rdwr(kvm_para::$msr, 0),
                feature: kvm_feature!($feature),
                vmm: opt!($($vmm)?),
            }
        };
    }

    /// `hcall!(KVM_HC_KICK_CPU, KVM_FEATURE_PV_UNHALT, [args])`.
    macro_rules! hcall {
        ($nr:ident, $feature:ident, $args:expr $(, $vmm:expr)?) => {
            Row {
                name: stringify!($nr),
                probe: Probe::hcall(kvm_para::$nr, $args),
                feature: kvm_feature!($feature),
                vmm: opt!($($vmm)?),
            }
        };
    }

    /// A page-aligned GPA in guest RAM for MAP_GPA_RANGE.
    const MAP_GPA: u64 = 0x30_0000;
    /// What the VMM answers to MAP_GPA_RANGE and to RDMSR of a VMM-served MSR.
    const VMM_RESULT: u64 = 0x5eed;

    const ROWS: &[Row] = &[
        msr!(MSR_KVM_SYSTEM_TIME, KVM_FEATURE_CLOCKSOURCE),
        msr!(MSR_KVM_SYSTEM_TIME_NEW, KVM_FEATURE_CLOCKSOURCE2),
        msr!(MSR_KVM_WALL_CLOCK, KVM_FEATURE_CLOCKSOURCE),
        msr!(MSR_KVM_WALL_CLOCK_NEW, KVM_FEATURE_CLOCKSOURCE2),
        msr!(MSR_KVM_ASYNC_PF_EN, KVM_FEATURE_ASYNC_PF),
        msr!(MSR_KVM_STEAL_TIME, KVM_FEATURE_STEAL_TIME),
        msr!(MSR_KVM_PV_EOI_EN, KVM_FEATURE_PV_EOI),
        msr!(MSR_KVM_POLL_CONTROL, KVM_FEATURE_POLL_CONTROL),
        msr!(MSR_KVM_ASYNC_PF_INT, KVM_FEATURE_ASYNC_PF_INT),
        msr!(MSR_KVM_ASYNC_PF_ACK, KVM_FEATURE_ASYNC_PF_INT),
        msr!(MSR_KVM_MIGRATION_CONTROL, KVM_FEATURE_MIGRATION_CONTROL, Vmm::UserSpaceMsr),
        // a1 = APIC ID 0 (this vCPU): kicking oneself is harmless.
        hcall!(KVM_HC_KICK_CPU, KVM_FEATURE_PV_UNHALT, [0, 0, 0, 0]),
        // An empty destination bitmap with a fixed-mode ICR: 0 CPUs reached.
        hcall!(KVM_HC_SEND_IPI, KVM_FEATURE_PV_SEND_IPI, [0, 0, 0, 0]),
        hcall!(KVM_HC_SCHED_YIELD, KVM_FEATURE_PV_SCHED_YIELD, [0, 0, 0, 0]),
        hcall!(
            KVM_HC_MAP_GPA_RANGE,
            KVM_FEATURE_HC_MAP_GPA_RANGE,
            [MAP_GPA, 1, kvm_para::KVM_MAP_GPA_RANGE_ENCRYPTED, 0],
            Vmm::ExitHypercall
        ),
    ];

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mode {
        /// Enforcement on, feature bit clear: refused.
        CpuidClear,
        /// Enforcement on, feature bit set (and the VMM's part enabled): works.
        CpuidSet,
        /// Enforcement off, feature bit clear: KVM does not look at the bit.
        NotEnforced,
    }

    /// What the documented rule says the guest sees.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Expect {
        /// #GP on RDMSR and on WRMSR.
        MsrFaults,
        /// RDMSR and WRMSR complete.
        MsrWorks,
        /// The hypercall returns this value.
        Returns(u64),
    }

    fn expected(row: &Row, mode: Mode) -> Expect {
        let msr = matches!(row.probe, Probe::Msr { .. });
        let works = match (mode, row.vmm) {
            (Mode::CpuidClear, _) => false,
            (Mode::CpuidSet, _) => true,
            // Without enforcement KVM serves what it implements; a VMM
            // service that is not enabled stays unavailable.
            (Mode::NotEnforced, vmm) => vmm.is_none(),
        };
        match (msr, works) {
            (true, true) => Expect::MsrWorks,
            (true, false) => Expect::MsrFaults,
            (false, true) if row.vmm.is_some() => Expect::Returns(VMM_RESULT),
            (false, true) => Expect::Returns(0),
            (false, false) => Expect::Returns(neg(KVM_ENOSYS)),
        }
    }

    fn check(row: &Row, mode: Mode) -> Result<()> {
        if mode != Mode::NotEnforced {
            kvmtest::require_cap_raw("KVM_CAP_ENFORCE_PV_FEATURE_CPUID", KVM_CAP_ENFORCE_PV_FEATURE_CPUID.into())?;
        }
        let vmm_cap = match row.vmm {
            Some(Vmm::ExitHypercall) => Some(("KVM_CAP_EXIT_HYPERCALL", KVM_CAP_EXIT_HYPERCALL)),
            Some(Vmm::UserSpaceMsr) => Some(("KVM_CAP_X86_USER_SPACE_MSR", KVM_CAP_X86_USER_SPACE_MSR)),
            None => None,
        };
        if let (Mode::CpuidSet, Some((name, cap))) = (mode, vmm_cap) {
            let v = kvmtest::require_cap_raw(name, cap.into())?;
            if row.vmm == Some(Vmm::ExitHypercall) && v as u64 & kvm_para::KVM_EXIT_HYPERCALL_VALID_MASK == 0 {
                return Err(kvmtest::kvm::skip_missing("KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE"));
            }
        }
        // KVM only implements what KVM_GET_SUPPORTED_CPUID offers (e.g.
        // steal time needs the host's schedstats); the VMM-served bits are
        // the VMM's to offer.
        if mode != Mode::CpuidClear && row.vmm.is_none() && !Cpuid::supported()?.has(row.feature) {
            return Err(kvmtest::Error::Skip(format!(
                "KVM_GET_SUPPORTED_CPUID does not offer {} on {}",
                row.feature,
                kvmtest::backend()?
            )));
        }

        // In-kernel LAPIC: async PF interrupts and PV EOI are LAPIC features
        // (MSR_KVM_ASYNC_PF_INT #GPs without one, x86.c).
        let mut vm = probe::vm_builder(HYPERCALL_PROBE).irqchip(true).build()?;
        let vcpu = vm.vcpu(0);
        if mode != Mode::NotEnforced {
            vcpu.enable_cap(KVM_CAP_ENFORCE_PV_FEATURE_CPUID, &[1])?;
        }
        vcpu.update_cpuid(|c| c.set(row.feature, mode == Mode::CpuidSet))?;
        if mode == Mode::CpuidSet {
            match row.vmm {
                Some(Vmm::ExitHypercall) => {
                    vm.enable_cap(KVM_CAP_EXIT_HYPERCALL, &[kvm_para::KVM_EXIT_HYPERCALL_VALID_MASK])?
                }
                Some(Vmm::UserSpaceMsr) => {
                    vm.enable_cap(KVM_CAP_X86_USER_SPACE_MSR, &[KVM_MSR_EXIT_REASON_UNKNOWN.into()])?
                }
                None => {}
            }
        }

        let mut vmm_saw = Vec::new();
        let got = probe::run_probe_with(&mut vm, &row.probe, |exit| vmm_answer(exit, &mut vmm_saw))?;
        probe::finish(&mut vm)?;

        let want = expected(row, mode);
        let ok = match (want, got) {
            (Expect::MsrFaults, Outcome::Msr { read, write }) => {
                read == Access::Fault(GP_VECTOR) && write == Access::Fault(GP_VECTOR)
            }
            (Expect::MsrWorks, Outcome::Msr { read, write }) => read.is_ok() && write.is_ok(),
            (Expect::Returns(v), Outcome::Hcall { ret, .. }) => ret == Access::Ok(v),
            _ => false,
        };
        let cpuid = if mode == Mode::CpuidSet { "set" } else { "clear" };
        let enforce = if mode == Mode::NotEnforced { "not enforced" } else { "enforced" };
        ensure!(
            ok,
            "{} with {} {cpuid}, PV CPUID {enforce}: expected {}, got {got}",
            row.name,
            row.feature.name,
            describe(want)
        );
        // A VMM-served service must really have reached the VMM, and only then.
        let expect_vmm = mode == Mode::CpuidSet && row.vmm.is_some();
        ensure!(
            expect_vmm != vmm_saw.is_empty(),
            "{}: expected {} exit to the VMM, saw {vmm_saw:?}",
            row.name,
            if expect_vmm { "an" } else { "no" }
        );
        if row.vmm == Some(Vmm::UserSpaceMsr) && expect_vmm {
            let Outcome::Msr { read, .. } = got else { unreachable!("an MSR row") };
            ensure!(
                read == Access::Ok(VMM_RESULT),
                "{}: RDMSR should return the VMM's {VMM_RESULT:#x}, got {read}",
                row.name
            );
        }
        Ok(())
    }

    /// The VMM's side of the VMM-served services.
    fn vmm_answer(exit: &mut VcpuExit<'_>, saw: &mut Vec<String>) -> ExitAction {
        match exit {
            VcpuExit::Hypercall(h) if h.nr == kvm_para::KVM_HC_MAP_GPA_RANGE => {
                saw.push(format!("KVM_EXIT_HYPERCALL {:#x?}", h.args));
                *h.ret = VMM_RESULT;
                ExitAction::Resume
            }
            VcpuExit::X86Rdmsr(m) if m.index == kvm_para::MSR_KVM_MIGRATION_CONTROL => {
                saw.push("KVM_EXIT_X86_RDMSR".into());
                *m.data = VMM_RESULT;
                *m.error = 0;
                ExitAction::Resume
            }
            VcpuExit::X86Wrmsr(m) if m.index == kvm_para::MSR_KVM_MIGRATION_CONTROL => {
                saw.push(format!("KVM_EXIT_X86_WRMSR {:#x}", m.data));
                *m.error = 0;
                ExitAction::Resume
            }
            _ => ExitAction::Unhandled,
        }
    }

    fn describe(e: Expect) -> String {
        match e {
            Expect::MsrFaults => "#GP on RDMSR and WRMSR".into(),
            Expect::MsrWorks => "RDMSR and WRMSR to complete".into(),
            Expect::Returns(v) if v == neg(KVM_ENOSYS) => "-KVM_ENOSYS".into(),
            Expect::Returns(v) => format!("return value {v:#x}"),
        }
    }

    pub fn trials() -> Vec<Trial> {
        let mut table = String::from("pv_features: service                      gated by\n");
        for r in ROWS {
            let vmm = match r.vmm {
                Some(Vmm::ExitHypercall) => " + VMM: KVM_CAP_EXIT_HYPERCALL",
                Some(Vmm::UserSpaceMsr) => " + VMM: KVM_CAP_X86_USER_SPACE_MSR",
                None => "",
            };
            table += &format!("  {:<40} {}{vmm}\n", r.name, r.feature);
        }
        runner::announce(table);
        let modes =
            [("cpuid_clear", Mode::CpuidClear), ("cpuid_set", Mode::CpuidSet), ("not_enforced", Mode::NotEnforced)];
        ROWS.iter()
            .enumerate()
            .flat_map(|(i, r)| {
                modes.iter().map(move |&(m, mode)| {
                    runner::test(format!("pv_features::{}::{m}", r.name), move || check(&ROWS[i], mode))
                })
            })
            .collect()
    }
}
