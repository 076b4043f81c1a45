//! hypercall_migration: the service selection of a configured VM (its
//! vCPU's CPUID and the capabilities the VMM enabled) applied to a fresh
//! VM gives that VM's guest the same view, as after a live migration.
//! KVM has no "get" for enabled capabilities, so like a real VMM the test
//! records what it enabled and replays it; the CPUID travels through
//! KVM_GET_CPUID2 / KVM_SET_CPUID2. A fresh VM without the selection must
//! see a different view (the control that shows the check can fail).

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's x86 paravirtual interface");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::kvm_bindings::{KVM_CAP_ENFORCE_PV_FEATURE_CPUID, KVM_CAP_EXIT_HYPERCALL};
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::x86_64::cpuid::Cpuid;
    use kvmtest::x86_64::kvm_para::{self, KVM_CPUID_FEATURES, KVM_EXIT_HYPERCALL_VALID_MASK};
    use kvmtest::x86_64::probe::{self, Outcome, Probe};
    use kvmtest::{ensure, kvm_feature, runner, ExitAction, Result, Vm};
    use kvmtest_tests::payloads::HYPERCALL_PROBE;
    use libtest_mimic::Trial;

    /// What a VMM sends along with the vCPU state: CPUID and enabled capabilities.
    #[derive(Debug, Clone)]
    struct Selection {
        cpuid: Cpuid,
        vm_caps: Vec<(u32, Vec<u64>)>,
        vcpu_caps: Vec<(u32, Vec<u64>)>,
    }

    impl Selection {
        fn apply(&self, vm: &mut Vm) -> Result<()> {
            for (cap, args) in &self.vm_caps {
                vm.enable_cap(*cap, args)?;
            }
            let vcpu = vm.vcpu(0);
            for (cap, args) in &self.vcpu_caps {
                vcpu.enable_cap(*cap, args)?;
            }
            vcpu.set_cpuid(&self.cpuid)
        }
    }

    /// The source VM's configuration: PV CPUID enforced, sched-yield and
    /// steal time withdrawn, MAP_GPA_RANGE served by the VMM.
    fn configure_source(vm: &mut Vm) -> Result<Selection> {
        let vm_caps = vec![(KVM_CAP_EXIT_HYPERCALL, vec![KVM_EXIT_HYPERCALL_VALID_MASK])];
        let vcpu_caps = vec![(KVM_CAP_ENFORCE_PV_FEATURE_CPUID, vec![1])];
        let vcpu = vm.vcpu(0);
        vcpu.update_cpuid(|c| {
            c.set(kvm_feature!(KVM_FEATURE_PV_SCHED_YIELD), false)?;
            c.set(kvm_feature!(KVM_FEATURE_STEAL_TIME), false)?;
            c.set(kvm_feature!(KVM_FEATURE_HC_MAP_GPA_RANGE), true)
        })?;
        let cpuid = vcpu.cpuid()?;
        let sel = Selection { cpuid, vm_caps, vcpu_caps: vcpu_caps.clone() };
        for (cap, args) in &sel.vm_caps {
            vm.enable_cap(*cap, args)?;
        }
        for (cap, args) in &vcpu_caps {
            vm.vcpu(0).enable_cap(*cap, args)?;
        }
        Ok(sel)
    }

    const MSR_PROBES: &[(&str, Probe)] = &[
        ("CPUID KVM_CPUID_FEATURES", Probe::Cpuid { leaf: KVM_CPUID_FEATURES, subleaf: 0 }),
        ("MSR_KVM_PV_EOI_EN", Probe::rdwr(kvm_para::MSR_KVM_PV_EOI_EN, 0)),
        ("MSR_KVM_STEAL_TIME", Probe::rdwr(kvm_para::MSR_KVM_STEAL_TIME, 0)),
        ("MSR_KVM_POLL_CONTROL", Probe::rdwr(kvm_para::MSR_KVM_POLL_CONTROL, 0)),
    ];

    const HCALL_PROBES: &[(&str, Probe)] = &[
        ("KVM_HC_SCHED_YIELD", Probe::hcall(kvm_para::KVM_HC_SCHED_YIELD, [0; 4])),
        ("KVM_HC_KICK_CPU", Probe::hcall(kvm_para::KVM_HC_KICK_CPU, [0; 4])),
        ("KVM_HC_MAP_GPA_RANGE", Probe::hcall(kvm_para::KVM_HC_MAP_GPA_RANGE, [0x30_0000, 1, 0, 0])),
    ];

    /// What the VMM answers to MAP_GPA_RANGE.
    const VMM_RESULT: u64 = 0x5eed;

    /// The guest's view: each probe's outcome (instruction addresses dropped) and
    /// whether it reached the VMM.
    fn view(vm: &mut Vm, probes: &[(&str, Probe)]) -> Result<Vec<(String, bool)>> {
        let mut out = Vec::new();
        for (name, p) in probes {
            let mut vmm = false;
            let got = probe::run_probe_with(vm, p, |exit| match exit {
                VcpuExit::Hypercall(h) => {
                    vmm = true;
                    *h.ret = VMM_RESULT;
                    ExitAction::Resume
                }
                _ => ExitAction::Unhandled,
            })?;
            let got = match got {
                Outcome::Hcall { ret, .. } => format!("hypercall {ret}"),
                other => other.to_string(),
            };
            out.push((format!("{name}: {got}"), vmm));
        }
        probe::finish(vm)?;
        Ok(out)
    }

    fn migrate(probes: &'static [(&'static str, Probe)]) -> Result<()> {
        kvmtest::require_cap_raw("KVM_CAP_ENFORCE_PV_FEATURE_CPUID", KVM_CAP_ENFORCE_PV_FEATURE_CPUID.into())?;
        let mask = kvmtest::require_cap_raw("KVM_CAP_EXIT_HYPERCALL", KVM_CAP_EXIT_HYPERCALL.into())? as u64;
        if mask & KVM_EXIT_HYPERCALL_VALID_MASK == 0 {
            return Err(kvmtest::kvm::skip_missing("KVM_CAP_EXIT_HYPERCALL with bit KVM_HC_MAP_GPA_RANGE"));
        }
        let build = || probe::vm_builder(HYPERCALL_PROBE).irqchip(true).build();

        let mut source = build()?;
        let selection = configure_source(&mut source)?;
        let before = view(&mut source, probes)?;

        let mut target = build()?;
        selection.apply(&mut target)?;
        let cpuid = target.vcpu(0).cpuid()?;
        ensure!(
            cpuid == selection.cpuid,
            "KVM_GET_CPUID2 of the target differs from the source's:\n  source {:?}\n  target {cpuid:?}",
            selection.cpuid
        );
        let after = view(&mut target, probes)?;
        for (b, a) in before.iter().zip(&after) {
            ensure!(b == a, "the guest's view changed across migration: source {b:?}, target {a:?}");
        }

        // Control: a fresh VM without the selection must see something else.
        let mut fresh = build()?;
        let unconfigured = view(&mut fresh, probes)?;
        ensure!(
            unconfigured != before,
            "a VM without the selection shows the same view {before:?}: the check could not fail"
        );
        let mut kept = String::from("view kept across migration:");
        for (v, vmm) in &after {
            kept += &format!("\n  {v}{}", if *vmm { " (answered by the VMM)" } else { "" });
        }
        runner::announce(kept);
        Ok(())
    }

    /// Once the guest has run, its selection is fixed: KVM_SET_CPUID2 takes
    /// only the identical table (cpuid_test.c's set_cpuid_after_run), so a
    /// VMM cannot change the services under a running guest; a new selection
    /// needs a new vCPU, which is what migration does.
    fn frozen_after_run() -> Result<()> {
        let mut vm = probe::vm_builder(HYPERCALL_PROBE).build()?;
        probe::run_probe(&mut vm, &MSR_PROBES[0].1)?;
        let vcpu = vm.vcpu(0);
        let cpuid = vcpu.cpuid()?;
        vcpu.set_cpuid(&cpuid).map_err(|e| {
            kvmtest::Error::Check(format!("KVM_SET_CPUID2 of the unmodified table after KVM_RUN: expected Ok, got {e}"))
        })?;
        let bit = kvm_feature!(KVM_FEATURE_PV_SCHED_YIELD);
        let mut changed = cpuid.clone();
        changed.set(bit, !cpuid.has(bit))?;
        match vcpu.set_cpuid(&changed) {
            Err(e) if e.errno().is_some() => {}
            other => kvmtest::bail!("KVM_SET_CPUID2 flipping {bit} after KVM_RUN: expected an error, got {other:?}"),
        }
        ensure!(vcpu.cpuid()? == cpuid, "a refused KVM_SET_CPUID2 after KVM_RUN changed the vCPU's CPUID");
        probe::finish(&mut vm)
    }

    pub fn trials() -> Vec<Trial> {
        let mut table = String::from(
            "hypercall_migration: selection = PV CPUID enforced, -PV_SCHED_YIELD -STEAL_TIME +HC_MAP_GPA_RANGE, \
             KVM_CAP_EXIT_HYPERCALL(MAP_GPA_RANGE)\n  probes:",
        );
        for (n, _) in MSR_PROBES.iter().chain(HCALL_PROBES) {
            table += &format!(" {n};");
        }
        runner::announce(table);
        vec![
            runner::test("hypercall_migration::cpuid_and_msrs", || migrate(MSR_PROBES)),
            runner::test("hypercall_migration::hypercalls", || migrate(HCALL_PROBES)),
            runner::test("hypercall_migration::selection_frozen_after_run", frozen_after_run),
        ]
    }
}
