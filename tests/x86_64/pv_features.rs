//! pv_features: KVM_CAP_ENFORCE_PV_FEATURE_CPUID (kvm_pv_test.c, cpuid.rst,
//! msr.rst, hypercalls.rst). With enforcement, each PV MSR faults with #GP
//! and each PV hypercall returns -KVM_ENOSYS while its feature bit in
//! KVM_CPUID_FEATURES (0x40000001.EAX) is clear, and works once it is set.
//! Without enforcement KVM does not look at the bit: the access behaves as
//! if it were set.
//!
//! Two services are not KVM's to grant (hypercalls.rst, MAP_GPA_RANGE
//! implementation note): MAP_GPA_RANGE works only when the VMM enables
//! KVM_CAP_EXIT_HYPERCALL and MSR_KVM_MIGRATION_CONTROL only when the VMM
//! handles the MSR itself (here through KVM_CAP_X86_USER_SPACE_MSR); KVM
//! never reads KVM_FEATURE_HC_MAP_GPA_RANGE or KVM_FEATURE_MIGRATION_CONTROL
//! (x86.c, KVM_HC_MAP_GPA_RANGE checks only hypercall_exit_enabled; KVM has
//! no MSR_KVM_MIGRATION_CONTROL). Their rows test that: with enforcement on
//! and the bit set but no VMM service the access fails
//! (`<row>::vmm_service_off`), and with the VMM service on and the bit
//! clear it reaches the VMM (`<row>::vmm_service_on_cpuid_clear`).
//!
//! Every other row is three trials: `<row>::cpuid_clear`, `<row>::cpuid_set`,
//! `<row>::not_enforced`.
//!
//! As kvm_pv_test.c's guest_main walks all its MSRs and hypercalls in one
//! guest, each configuration is one vCPU whose guest probes every row of
//! its modes in turn: `cpuid_clear`, `cpuid_set` with `vmm_service_off`,
//! `not_enforced` and `pv_unhalt::kept_without_disable_exits` share one VM
//! (enforcement and CPUID are per vCPU); `vmm_service_on_cpuid_clear` (the
//! services are the VM's) and the `pv_unhalt` cases with HLT exits disabled
//! (a VM capability too) share the other: two VMs, as upstream's. Each
//! trial reports its verdict from that shared run.
//!
//! A refused MSR is one KVM does not support (`KVM_MSR_RET_UNSUPPORTED`):
//! what the guest sees then is kvm.ignore_msrs's to say (x86.c, 6.12
//! kvm_do_msr_access, 6.1 kvm_msr_ignored_check): #GP with N (the
//! default, what kvm_pv_test.c assumes), RDMSR reading 0 and WRMSR dropped
//! with Y, settled before any exit to the VMM. The trials read the
//! parameter as configured (`msr_params`) and expect its rule.
//!
//! `pv_unhalt::*` (kvm_pv_test.c's test_pv_unhalt, 6.12): with
//! KVM_CAP_X86_DISABLE_EXITS(HLT) KVM_SET_CPUID2 clears
//! KVM_FEATURE_PV_UNHALT (cpuid.c, kvm_update_cpuid_runtime), so the
//! vCPU's CPUID (KVM_GET_CPUID2 and the guest's CPUID) loses it and
//! KVM_HC_KICK_CPU returns -KVM_ENOSYS under enforcement; without the cap
//! the bit stays and the kick works.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's x86 paravirtual interface");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::kvm_bindings::{
        kvm_mp_state, KVM_CAP_ENFORCE_PV_FEATURE_CPUID, KVM_CAP_EXIT_HYPERCALL, KVM_CAP_X86_DISABLE_EXITS,
        KVM_CAP_X86_USER_SPACE_MSR, KVM_MP_STATE_RUNNABLE, KVM_MSR_EXIT_REASON_UNKNOWN, KVM_X86_DISABLE_EXITS_HLT,
    };
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::series::Feature;
    use kvmtest::x86_64::cpuid::{Cpuid, CpuidBit, Reg};
    use kvmtest::x86_64::kvm_para::{
        self, neg, KVM_CPUID_FEATURES, KVM_CPUID_SIGNATURE, KVM_ENOSYS, KVM_SIGNATURE_EBX,
    };
    use kvmtest::x86_64::msr_params::UnsupportedMsrAccess;
    use kvmtest::x86_64::probe::{self, Access, Outcome, Probe, GP_VECTOR};
    use kvmtest::{ensure, kvm_feature, runner, ExitAction, Result, Vcpu, Vm};
    use kvmtest_tests::payloads::HYPERCALL_PROBE;
    use libtest_mimic::Trial;
    use std::sync::OnceLock;

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
        /// VMM-served rows: enforcement on, feature bit set, the VMM's service off: refused.
        VmmServiceOff,
        /// VMM-served rows: enforcement on, feature bit clear, the VMM's service on: reaches the VMM.
        VmmServiceOnCpuidClear,
    }

    /// What the documented rule says the guest sees.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Expect {
        /// #GP on RDMSR and on WRMSR.
        MsrFaults,
        /// RDMSR and WRMSR complete.
        MsrWorks,
        /// kvm.ignore_msrs=Y: RDMSR completes with 0, WRMSR completes (dropped).
        MsrIgnored,
        /// The hypercall returns this value.
        Returns(u64),
    }

    fn expected(row: &Row, mode: Mode, unsupported: UnsupportedMsrAccess) -> Expect {
        let msr = matches!(row.probe, Probe::Msr { .. });
        let works = match mode {
            Mode::CpuidClear | Mode::VmmServiceOff => false,
            Mode::CpuidSet | Mode::NotEnforced | Mode::VmmServiceOnCpuidClear => true,
        };
        let ignored = unsupported == UnsupportedMsrAccess::Ignored;
        match (msr, works) {
            // KVM has no MSR_KVM_MIGRATION_CONTROL: ignored, it never reaches the VMM's user-space MSR exit.
            (true, true) if ignored && mode == Mode::VmmServiceOnCpuidClear => Expect::MsrIgnored,
            (true, true) => Expect::MsrWorks,
            (true, false) if ignored => Expect::MsrIgnored,
            (true, false) => Expect::MsrFaults,
            (false, true) if row.vmm.is_some() => Expect::Returns(VMM_RESULT),
            (false, true) => Expect::Returns(0),
            (false, false) => Expect::Returns(neg(KVM_ENOSYS)),
        }
    }

    impl Mode {
        /// The trial-name suffix (`pv_features::<row>::<mode>`).
        fn name(self) -> &'static str {
            match self {
                Mode::CpuidClear => "cpuid_clear",
                Mode::CpuidSet => "cpuid_set",
                Mode::NotEnforced => "not_enforced",
                Mode::VmmServiceOff => "vmm_service_off",
                Mode::VmmServiceOnCpuidClear => "vmm_service_on_cpuid_clear",
            }
        }
        /// Whether `row` is walked in this mode: the VMM-served rows have their own two.
        fn walks(self, row: &Row) -> bool {
            row.vmm.is_some() == matches!(self, Mode::VmmServiceOff | Mode::VmmServiceOnCpuidClear)
        }
    }

    /// Every mode, in the order of each row's trials.
    const MODES: [Mode; 5] =
        [Mode::CpuidClear, Mode::CpuidSet, Mode::NotEnforced, Mode::VmmServiceOff, Mode::VmmServiceOnCpuidClear];

    /// The shared runs: one VM each, walking the rows of its modes. A run
    /// holds the modes that set the VM up alike: `cpuid_set` and
    /// `vmm_service_off` are both enforcement on, each walked row's bit set,
    /// no VMM service; the VMM-served rows' other mode turns the services on,
    /// so it is a VM of its own.
    const RUNS: [&[Mode]; 4] = [
        &[Mode::CpuidClear],
        &[Mode::CpuidSet, Mode::VmmServiceOff],
        &[Mode::NotEnforced],
        &[Mode::VmmServiceOnCpuidClear],
    ];

    /// The run that walks `mode`'s rows (an index into [`RUNS`]).
    fn run_of(mode: Mode) -> usize {
        RUNS.iter().position(|modes| modes.contains(&mode)).unwrap_or_else(|| unreachable!("every mode is in a run"))
    }

    /// A row's verdict from its mode's shared run, kept for its trial
    /// (`Error` is not `Clone`).
    #[derive(Debug, Clone)]
    enum Verdict {
        Pass,
        Skip(String),
        Fail(String),
    }

    impl Verdict {
        fn of(r: Result<()>) -> Self {
            match r {
                Ok(()) => Verdict::Pass,
                Err(e) if e.is_skip() => Verdict::Skip(e.to_string()),
                Err(e) => Verdict::Fail(e.to_string()),
            }
        }
        fn into_result(self) -> Result<()> {
            match self {
                Verdict::Pass => Ok(()),
                Verdict::Skip(why) => Err(kvmtest::Error::Skip(why)),
                Verdict::Fail(why) => Err(kvmtest::Error::Check(why)),
            }
        }
    }

    /// A shared VM: its runs, then the `pv_unhalt` cases with its
    /// KVM_CAP_X86_DISABLE_EXITS setting, one vCPU each (enforcement and
    /// CPUID are each vCPU's own).
    struct VmSpec {
        /// Indices into [`RUNS`].
        runs: &'static [usize],
        /// KVM_CAP_X86_DISABLE_EXITS(HLT) for its `pv_unhalt` cases.
        hlt_exits_disabled: bool,
    }

    /// The VMs, two as kvm_pv_test.c's (its main's and test_pv_unhalt's).
    /// Runs share a VM unless the VM-wide setup differs: the VMM services
    /// are VM capabilities (KVM_CAP_X86_USER_SPACE_MSR would also take the
    /// refused PV MSRs of the other runs to the VMM), so their run is in
    /// the second VM, with the cases that disable HLT exits; neither touches
    /// what the other sets (the services: MSR_KVM_MIGRATION_CONTROL and
    /// KVM_HC_MAP_GPA_RANGE, which the cases never use; HLT exits and
    /// PV_UNHALT, which the run never uses).
    const VMS: [VmSpec; 2] =
        [VmSpec { runs: &[0, 1, 2], hlt_exits_disabled: false }, VmSpec { runs: &[3], hlt_exits_disabled: true }];

    /// One shared VM's verdicts: per run (indexed like [`ROWS`]) and per
    /// `pv_unhalt` case (indexed like [`PV_UNHALT`]).
    struct VmVerdicts {
        runs: Vec<Vec<Verdict>>,
        unhalt: Vec<Verdict>,
    }

    impl VmVerdicts {
        /// `v` for every row of every run and every case.
        fn all(v: Verdict) -> Self {
            VmVerdicts { runs: vec![vec![v.clone(); ROWS.len()]; RUNS.len()], unhalt: vec![v; PV_UNHALT.len()] }
        }
    }

    /// VM `v`'s verdicts. The first trial to ask runs both VMs at once, each
    /// on a thread of its own (as the runs of one VM, they share nothing but
    /// the host): the second does not wait for the first, nor for a trial
    /// thread to reach its rows (the first 30 trials are the first VM's).
    fn verdicts(v: usize) -> &'static VmVerdicts {
        static VERDICTS: OnceLock<Vec<VmVerdicts>> = OnceLock::new();
        &VERDICTS.get_or_init(|| {
            std::thread::scope(|s| {
                let others: Vec<_> = VMS[1..].iter().map(|spec| s.spawn(move || shared_vm_run(spec))).collect();
                let mut all = vec![shared_vm_run(&VMS[0])];
                all.extend(others.into_iter().map(|h| {
                    h.join().unwrap_or_else(|_| VmVerdicts::all(Verdict::Fail("its shared run panicked".into())))
                }));
                all
            })
        })[v]
    }

    /// The trial of `ROWS[row]` in `mode`: its verdict from the mode's shared run.
    fn trial(mode: Mode, row: usize) -> Result<()> {
        let run = run_of(mode);
        let (vm, vcpu) = VMS
            .iter()
            .enumerate()
            .find_map(|(v, spec)| spec.runs.iter().position(|&r| r == run).map(|k| (v, k)))
            .unwrap_or_else(|| unreachable!("every run is in a VM"));
        verdicts(vm).runs[vcpu][row].clone().into_result()
    }

    /// The trial of `PV_UNHALT[case]`: its verdict from its VM.
    fn pv_unhalt_trial(case: usize) -> Result<()> {
        let hlt = PV_UNHALT[case].hlt_exits_disabled;
        let vm = VMS
            .iter()
            .position(|spec| spec.hlt_exits_disabled == hlt)
            .unwrap_or_else(|| unreachable!("a VM for each DISABLE_EXITS setting"));
        verdicts(vm).unhalt[case].clone().into_result()
    }

    /// KVM_GET_SUPPORTED_CPUID, asked once per process.
    fn supported_cpuid() -> Result<&'static Cpuid> {
        static SUPPORTED: OnceLock<Cpuid> = OnceLock::new();
        if let Some(c) = SUPPORTED.get() {
            return Ok(c);
        }
        let c = Cpuid::supported()?;
        Ok(SUPPORTED.get_or_init(|| c))
    }

    /// What a row needs from this kernel in `mode`, before any VM: a row
    /// that lacks it skips and the shared guest does not probe it.
    fn requirements(row: &Row, mode: Mode) -> Result<()> {
        if mode != Mode::NotEnforced {
            kvmtest::require_cap_raw("KVM_CAP_ENFORCE_PV_FEATURE_CPUID", KVM_CAP_ENFORCE_PV_FEATURE_CPUID.into())?;
        }
        let vmm_cap = match row.vmm {
            Some(Vmm::ExitHypercall) => Some(("KVM_CAP_EXIT_HYPERCALL", KVM_CAP_EXIT_HYPERCALL)),
            Some(Vmm::UserSpaceMsr) => Some(("KVM_CAP_X86_USER_SPACE_MSR", KVM_CAP_X86_USER_SPACE_MSR)),
            None => None,
        };
        if let (Mode::VmmServiceOnCpuidClear, Some((name, cap))) = (mode, vmm_cap) {
            let v = kvmtest::require_cap_raw(name, cap.into())?;
            if row.vmm == Some(Vmm::ExitHypercall) && v as u64 & kvm_para::KVM_EXIT_HYPERCALL_VALID_MASK == 0 {
                return Err(kvmtest::kvm::skip_missing("KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE"));
            }
        }
        // KVM only implements what KVM_GET_SUPPORTED_CPUID offers (e.g.
        // steal time needs the host's schedstats); the VMM-served bits are
        // the VMM's to offer.
        if matches!(mode, Mode::CpuidSet | Mode::NotEnforced) && !supported_cpuid()?.has(row.feature) {
            return Err(kvmtest::Error::Skip(format!(
                "KVM_GET_SUPPORTED_CPUID does not offer {} on {}",
                row.feature,
                kvmtest::backend()?
            )));
        }
        Ok(())
    }

    /// One VM for `runs` (indices into [`RUNS`]), run `k` on vCPU `k`, as
    /// kvm_pv_test.c's main: each vCPU's guest walks every row of its run's
    /// modes that meets its requirements, in table order (MSRs first, then
    /// hypercalls), and the host judges each row as the guest reports it.
    /// If a run ends early at a row, that row gets what ended it and every
    /// later row of the run fails naming it (or skips with the same
    /// observation where PVM's hypercall hang is what ended it).
    fn shared_vm_run(spec: &VmSpec) -> VmVerdicts {
        let runs = spec.runs;
        let names: Vec<String> =
            runs.iter().map(|&r| RUNS[r].iter().map(|m| m.name()).collect::<Vec<_>>().join("/")).collect();
        let mut verdicts: Vec<Vec<Verdict>> = names
            .iter()
            .map(|run| vec![Verdict::Fail(format!("not a row of the {run} run (kvmtest bug)")); ROWS.len()])
            .collect();
        let mut walks: Vec<Vec<(usize, Mode)>> = Vec::new();
        for (k, &r) in runs.iter().enumerate() {
            let mut walk = Vec::new();
            for (i, row) in ROWS.iter().enumerate() {
                let Some(&mode) = RUNS[r].iter().find(|m| m.walks(row)) else { continue };
                match requirements(row, mode) {
                    Ok(()) => walk.push((i, mode)),
                    Err(e) => verdicts[k][i] = Verdict::of(Err(e)),
                }
            }
            walks.push(walk);
        }
        let setup_failed = |verdicts: &mut [Vec<Verdict>], k: usize, walk: &[(usize, Mode)], e: &kvmtest::Error| {
            let v = if e.is_skip() {
                Verdict::Skip(e.to_string())
            } else {
                Verdict::Fail(format!("the shared {} VM could not be set up: {e}", names[k]))
            };
            for &(i, _) in walk {
                verdicts[k][i] = v.clone();
            }
        };
        let mut unhalt = vec![Verdict::Fail("not a case of this VM (kvmtest bug)".into()); PV_UNHALT.len()];
        let mut cases = Vec::new();
        for (i, case) in PV_UNHALT.iter().enumerate() {
            if case.hlt_exits_disabled == spec.hlt_exits_disabled {
                match pv_unhalt_requirements(case) {
                    Ok(()) => cases.push(i),
                    Err(e) => unhalt[i] = Verdict::of(Err(e)),
                }
            }
        }
        if walks.iter().all(|w| w.is_empty()) && cases.is_empty() {
            return VmVerdicts { runs: verdicts, unhalt };
        }
        let hlt_exits_disabled = spec.hlt_exits_disabled && !cases.is_empty();
        let (mut vm, unsupported) = match shared_vm(&walks, cases.len(), hlt_exits_disabled) {
            Ok(v) => v,
            Err(e) => {
                for (k, walk) in walks.iter().enumerate() {
                    setup_failed(&mut verdicts, k, walk, &e);
                }
                let v = if e.is_skip() {
                    Verdict::Skip(e.to_string())
                } else {
                    Verdict::Fail(format!("the shared VM could not be set up: {e}"))
                };
                for &i in &cases {
                    unhalt[i] = v.clone();
                }
                return VmVerdicts { runs: verdicts, unhalt };
            }
        };
        for (k, walk) in walks.iter().enumerate() {
            if walk.is_empty() {
                continue;
            }
            if let Err(e) = set_up_vcpu(&mut vm, k, walk) {
                setup_failed(&mut verdicts, k, walk, &e);
                continue;
            }
            walk_rows(&mut vm, k, &names[k], walk, unsupported, &mut verdicts[k]);
        }
        for (n, &i) in cases.iter().enumerate() {
            unhalt[i] = Verdict::of(pv_unhalt(&mut vm, walks.len() + n, &PV_UNHALT[i]));
        }
        // The verdicts are in: the VM's teardown (its in-kernel irqchip
        // leaves the I/O bus with a grace period per device, ~20 ms in the
        // emulated machine) need not hold up the trials that report them.
        // Should the process end first, its exit closes the fds the same way.
        std::thread::spawn(move || drop(vm));
        VmVerdicts { runs: verdicts, unhalt }
    }

    /// Walks `walk` on vCPU `k` of the shared VM, judging each row.
    fn walk_rows(
        vm: &mut Vm,
        k: usize,
        run: &str,
        walk: &[(usize, Mode)],
        unsupported: UnsupportedMsrAccess,
        verdicts: &mut [Verdict],
    ) {
        for (n, &(i, mode)) in walk.iter().enumerate() {
            let row = &ROWS[i];
            let mut vmm_saw = Vec::new();
            match probe::run_probe_on(vm, k, &row.probe, |exit| vmm_answer(exit, &mut vmm_saw)) {
                Ok(got) => verdicts[i] = Verdict::of(judge(row, mode, unsupported, got, &vmm_saw)),
                Err(e) => {
                    let skip = e.is_skip();
                    let ended = format!("the shared {run} run ended at {}: {e}", row.name);
                    verdicts[i] = if skip { Verdict::Skip(e.to_string()) } else { Verdict::Fail(ended.clone()) };
                    for &(j, _) in &walk[n + 1..] {
                        let later = &ROWS[j];
                        verdicts[j] = if skip && matches!(later.probe, Probe::Hcall { .. }) {
                            // PVM's hang, already observed: as run_probe_on skips every later hypercall.
                            Verdict::Skip(e.to_string())
                        } else {
                            Verdict::Fail(format!("{}: not probed: {ended}", later.name))
                        };
                    }
                    return;
                }
            }
        }
        if let Err(e) = probe::finish_on(vm, k) {
            for &(i, _) in walk {
                if matches!(verdicts[i], Verdict::Pass) {
                    verdicts[i] = Verdict::Fail(format!(
                        "{}: the shared {run} run did not end with DONE after its last row: {e}",
                        ROWS[i].name
                    ));
                }
            }
        }
    }

    /// The shared VM, one vCPU per walk and per `pv_unhalt` case, with the
    /// VMM services the walked rows' modes turn on (`VmmServiceOnCpuidClear`)
    /// and HLT exits disabled if asked. In-kernel LAPIC: async PF interrupts
    /// and PV EOI are LAPIC features (MSR_KVM_ASYNC_PF_INT #GPs without one,
    /// x86.c), and KVM_HC_KICK_CPU kicks through it.
    fn shared_vm(
        walks: &[Vec<(usize, Mode)>],
        cases: usize,
        hlt_exits_disabled: bool,
    ) -> Result<(Vm, UnsupportedMsrAccess)> {
        let unsupported = UnsupportedMsrAccess::configured()?;
        let mut builder = probe::vm_builder(HYPERCALL_PROBE).irqchip(true).vcpus(walks.len() + cases);
        if hlt_exits_disabled {
            builder = builder.vm_cap(KVM_CAP_X86_DISABLE_EXITS, &[KVM_X86_DISABLE_EXITS_HLT.into()]);
        }
        let vm = builder.build()?;
        for &(i, mode) in walks.iter().flatten() {
            if mode != Mode::VmmServiceOnCpuidClear {
                continue;
            }
            match ROWS[i].vmm {
                Some(Vmm::ExitHypercall) => {
                    vm.enable_cap(KVM_CAP_EXIT_HYPERCALL, &[kvm_para::KVM_EXIT_HYPERCALL_VALID_MASK])?
                }
                Some(Vmm::UserSpaceMsr) => {
                    vm.enable_cap(KVM_CAP_X86_USER_SPACE_MSR, &[KVM_MSR_EXIT_REASON_UNKNOWN.into()])?
                }
                None => {}
            }
        }
        Ok((vm, unsupported))
    }

    /// With the in-kernel LAPIC an AP (vCPU `k` > 0) waits for INIT/SIPI; as
    /// upstream's vm_arch_vcpu_add (lib/x86_64/processor.c:686-687), make it
    /// runnable at its entry.
    fn make_runnable(vcpu: &mut Vcpu, k: usize) -> Result<()> {
        if k == 0 {
            return Ok(());
        }
        let runnable = kvm_mp_state { mp_state: KVM_MP_STATE_RUNNABLE };
        vcpu.fd().set_mp_state(runnable).map_err(kvmtest::Error::kvm("KVM_SET_MP_STATE(KVM_MP_STATE_RUNNABLE)"))
    }

    /// vCPU `k` for its walk: enforcement (unless `NotEnforced`), each walked
    /// row's feature bit set or cleared as its mode says.
    fn set_up_vcpu(vm: &mut Vm, k: usize, walk: &[(usize, Mode)]) -> Result<()> {
        let vcpu = vm.vcpu(k);
        make_runnable(vcpu, k)?;
        if walk.iter().any(|&(_, mode)| mode != Mode::NotEnforced) {
            vcpu.enable_cap(KVM_CAP_ENFORCE_PV_FEATURE_CPUID, &[1])?;
        }
        vcpu.update_cpuid(|c| {
            walk.iter()
                .try_for_each(|&(i, mode)| c.set(ROWS[i].feature, matches!(mode, Mode::CpuidSet | Mode::VmmServiceOff)))
        })
    }

    /// Judges what the guest reported for `row` in `mode` (and which exits
    /// reached the VMM meanwhile) against the documented rule.
    fn judge(row: &Row, mode: Mode, unsupported: UnsupportedMsrAccess, got: Outcome, vmm_saw: &[String]) -> Result<()> {
        let vmm_service = mode == Mode::VmmServiceOnCpuidClear;
        let cpuid_set = matches!(mode, Mode::CpuidSet | Mode::VmmServiceOff);
        let want = expected(row, mode, unsupported);
        let ok = match (want, got) {
            (Expect::MsrFaults, Outcome::Msr { read, write }) => {
                read == Access::Fault(GP_VECTOR) && write == Access::Fault(GP_VECTOR)
            }
            (Expect::MsrWorks, Outcome::Msr { read, write }) => read.is_ok() && write.is_ok(),
            (Expect::MsrIgnored, Outcome::Msr { read, write }) => read == Access::Ok(0) && write.is_ok(),
            (Expect::Returns(v), Outcome::Hcall { ret, .. }) => ret == Access::Ok(v),
            _ => false,
        };
        let cpuid = if cpuid_set { "set" } else { "clear" };
        let enforce = if mode == Mode::NotEnforced { "not enforced" } else { "enforced" };
        let service = match (row.vmm, vmm_service) {
            (None, _) => "",
            (Some(_), true) => ", VMM service on",
            (Some(_), false) => ", VMM service off",
        };
        ensure!(
            ok,
            "{} with {} {cpuid}, PV CPUID {enforce}{service}, {unsupported}: expected {}, got {got}",
            row.name,
            row.feature.name,
            describe(want)
        );
        // A VMM-served service must really have reached the VMM, and only
        // then; an MSR KVM ignores never leaves KVM.
        let expect_vmm = vmm_service && want != Expect::MsrIgnored;
        ensure!(
            expect_vmm != vmm_saw.is_empty(),
            "{} ({unsupported}): expected {} exit to the VMM, saw {vmm_saw:?}",
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

    /// kvm_pv_test.c's test_pv_unhalt, as cases: the vCPU's CPUID gets
    /// KVM_FEATURE_PV_UNHALT in a VM with or without
    /// KVM_CAP_X86_DISABLE_EXITS(HLT). The cap is enabled before the vCPU
    /// is created: 6.12 also takes it later (as upstream does), newer
    /// kernels only before (x86.c: -EINVAL once `kvm->created_vcpus`), and
    /// what is checked is the same: KVM_SET_CPUID2 clears the bit while
    /// HLT exits are disabled.
    struct PvUnhaltCase {
        name: &'static str,
        hlt_exits_disabled: bool,
        /// Upstream's sequence: a KVM_SET_CPUID2 with a broken KVM signature
        /// (0x40000000.EBX = 0xdeadbeef) first, then the real one, so KVM
        /// must find its leaves in the table being set, not the previous one.
        signature_broken_first: bool,
        /// The series that has the behaviour, when not every one does.
        since: Option<Feature>,
    }

    const PV_UNHALT: &[PvUnhaltCase] = &[
        PvUnhaltCase {
            name: "kept_without_disable_exits",
            hlt_exits_disabled: false,
            signature_broken_first: false,
            since: None,
        },
        PvUnhaltCase {
            name: "cleared_with_hlt_exits_disabled",
            hlt_exits_disabled: true,
            signature_broken_first: false,
            since: None,
        },
        PvUnhaltCase {
            name: "cleared_after_signature_change",
            hlt_exits_disabled: true,
            signature_broken_first: true,
            since: Some(Feature::PvUnhaltClearedFromNewCpuid),
        },
    ];

    /// kvm_pv_test's 0xdeadbeef in the KVM signature's EBX.
    const BROKEN_SIGNATURE: u32 = 0xdead_beef;

    /// What a `pv_unhalt` case needs from this kernel, before any VM.
    fn pv_unhalt_requirements(case: &PvUnhaltCase) -> Result<()> {
        if let Some(f) = case.since {
            f.require()?;
        }
        kvmtest::require_cap_raw("KVM_CAP_ENFORCE_PV_FEATURE_CPUID", KVM_CAP_ENFORCE_PV_FEATURE_CPUID.into())?;
        if case.hlt_exits_disabled {
            let exits = kvmtest::require_cap_raw("KVM_CAP_X86_DISABLE_EXITS", KVM_CAP_X86_DISABLE_EXITS.into())? as u32;
            if exits & KVM_X86_DISABLE_EXITS_HLT == 0 {
                return Err(kvmtest::kvm::skip_missing("KVM_X86_DISABLE_EXITS_HLT in KVM_CAP_X86_DISABLE_EXITS"));
            }
        }
        Ok(())
    }

    /// One case on vCPU `k` of its VM.
    fn pv_unhalt(vm: &mut Vm, k: usize, case: &PvUnhaltCase) -> Result<()> {
        let unhalt = kvm_feature!(KVM_FEATURE_PV_UNHALT);
        let vcpu = vm.vcpu(k);
        make_runnable(vcpu, k)?;
        vcpu.enable_cap(KVM_CAP_ENFORCE_PV_FEATURE_CPUID, &[1])?;
        if case.signature_broken_first {
            vcpu.update_cpuid(|c| c.set_reg(KVM_CPUID_SIGNATURE, 0, Reg::Ebx, BROKEN_SIGNATURE))?;
            vcpu.update_cpuid(|c| {
                c.set_reg(KVM_CPUID_SIGNATURE, 0, Reg::Ebx, KVM_SIGNATURE_EBX)?;
                c.set(unhalt, true)
            })?;
        } else {
            vcpu.update_cpuid(|c| c.set(unhalt, true))?;
        }

        let kept = !case.hlt_exits_disabled;
        let what = if kept { "kept" } else { "cleared" };
        let has = vcpu.cpuid()?.has(unhalt);
        ensure!(
            has == kept,
            "KVM_SET_CPUID2 with {unhalt}: expected KVM_GET_CPUID2 to show it {what}, it is {}",
            if has { "set" } else { "clear" }
        );
        let cpuid = Probe::Cpuid { leaf: KVM_CPUID_FEATURES, subleaf: 0 };
        let got = probe::run_probe_on(vm, k, &cpuid, |_| ExitAction::Unhandled)?;
        let Outcome::Cpuid(regs) = got else { unreachable!("a CPUID probe") };
        ensure!(
            unhalt.in_regs(regs) == kept,
            "the guest's CPUID {KVM_CPUID_FEATURES:#x}.EAX = {:#x}: expected {unhalt} {what}",
            regs[0]
        );
        // The bit takes effect: KVM_HC_KICK_CPU (to this vCPU) under enforcement.
        let kick = Probe::hcall(kvm_para::KVM_HC_KICK_CPU, [0; 4]);
        let ret = probe::run_probe_on(vm, k, &kick, |_| ExitAction::Unhandled)?.hcall_ret("KVM_HC_KICK_CPU")?;
        let want = if kept { 0 } else { neg(KVM_ENOSYS) };
        ensure!(
            ret == want,
            "KVM_HC_KICK_CPU with {unhalt} {what}, PV CPUID enforced: expected {}, got {ret:#x}",
            describe(Expect::Returns(want))
        );
        probe::finish_on(vm, k)
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
            Expect::MsrIgnored => "RDMSR to read 0 and WRMSR to complete (ignored)".into(),
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
        // Every trial reports from the two shared runs, which the first one
        // makes: more test threads would only wait for it, and the others
        // only read a verdict (one thread runs them all).
        runner::set_default_test_threads(1);
        runner::reuse_trial_threads();
        let mut trials: Vec<Trial> = ROWS
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                MODES.iter().filter(|mode| mode.walks(r)).map(move |&mode| {
                    runner::test(format!("pv_features::{}::{}", r.name, mode.name()), move || trial(mode, i))
                })
            })
            .collect();
        trials.extend(
            PV_UNHALT
                .iter()
                .enumerate()
                .map(|(i, c)| runner::test(format!("pv_features::pv_unhalt::{}", c.name), move || pv_unhalt_trial(i))),
        );
        trials
    }
}
