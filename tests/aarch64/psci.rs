//! psci: KVM's PSCI 0.2+ implementation (aarch64/psci_test.c). A second
//! vCPU, powered off at start (KVM_SET_MP_STATE STOPPED, as psci_test.c's
//! vcpu_power_off()), is brought up with CPU_ON: it starts from reset at the
//! given entry with the context id in x0, AFFINITY_INFO reports it ON and a
//! second CPU_ON is ALREADY_ON; it then calls CPU_OFF, sleeps in KVM_RUN
//! with KVM_GET_MP_STATE STOPPED, and AFFINITY_INFO reports it OFF. SYSTEM_OFF and SYSTEM_RESET end the run with
//! KVM_EXIT_SYSTEM_EVENT of the matching type; with
//! KVM_CAP_ARM_SYSTEM_SUSPEND, SYSTEM_SUSPEND is discoverable through
//! PSCI_FEATURES and ends the run with KVM_SYSTEM_EVENT_SUSPEND.
//!
//! `psci::v0_1::*`: vCPUs without KVM_ARM_VCPU_PSCI_0_2 get KVM's PSCI 0.1
//! (kvm_psci_0_1_call()): CPU_ON and CPU_OFF work under their KVM_PSCI_FN
//! ids, a CPU_ON of a running vCPU is INVALID_PARAMS (not 0.2's
//! ALREADY_ON), and every PSCI 0.2 call, PSCI_VERSION and SYSTEM_OFF
//! included, is NOT_SUPPORTED.

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use std::time::{Duration, Instant};

    use kvmtest::aarch64::smccc::*;
    use kvmtest::arch::aarch64::regs::x;
    use kvmtest::arch::aarch64::{Arm64Options, Psci};
    use kvmtest::kvm_bindings::{KVM_MP_STATE_STOPPED, KVM_SYSTEM_EVENT_SUSPEND};
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::{bail, ensure, runner, Error, ExitAction, Result, Vm};
    use kvmtest_tests::payloads::SMCCC_CALLS;

    /// `CPU_ON_CONTEXT_ID` of psci_test.c: what the target finds in x0.
    const CPU_ON_CONTEXT_ID: u64 = 0xdead_c0de;
    /// A vCPU that called CPU_OFF sleeps in KVM_RUN (kvm_vcpu_sleep() while
    /// kvm_arm_vcpu_stopped()) until a signal: the host kicks the target
    /// this often while it runs, and each kicked run ends; that it is
    /// powered off is then read from KVM_GET_MP_STATE, not from the time
    /// waited (a kick before its CPU_OFF only ends a run that is resumed).
    const OFF_VCPU_KICK: Duration = Duration::from_millis(1);
    /// How long the target may take to reach its CPU_OFF (kicked runs until
    /// then): only a guard against a target that never powers off.
    const CPU_OFF_DEADLINE: Duration = Duration::from_secs(10);

    /// A PSCI call the source vCPU makes, and what it must answer.
    struct Step {
        name: &'static str,
        func_id: u32,
        expected: u64,
        /// PSCI_0_2_AFFINITY_LEVEL_* or PSCI_RET_*, as named in messages.
        expected_name: &'static str,
    }

    macro_rules! step {
        ($func:ident, $expected:ident) => {
            Step { name: stringify!($func), func_id: $func, expected: $expected, expected_name: stringify!($expected) }
        };
    }

    /// The source's calls about the target, in order; the target runs
    /// CPU_OFF between the third and fourth.
    const CPU_ON_STEPS: &[Step] = &[
        step!(PSCI_0_2_FN64_CPU_ON, PSCI_RET_SUCCESS),
        step!(PSCI_0_2_FN64_AFFINITY_INFO, PSCI_0_2_AFFINITY_LEVEL_ON),
        step!(PSCI_0_2_FN64_CPU_ON, PSCI_RET_ALREADY_ON),
    ];
    const AFTER_CPU_OFF: &[Step] = &[
        step!(PSCI_0_2_FN64_AFFINITY_INFO, PSCI_0_2_AFFINITY_LEVEL_OFF),
        step!(PSCI_0_2_FN_AFFINITY_INFO, PSCI_0_2_AFFINITY_LEVEL_OFF),
    ];

    /// One CPU_ON / CPU_OFF round under a PSCI version: the calls before the
    /// target's CPU_OFF, the target's CPU_OFF id, the calls after.
    struct CpuOnScenario {
        psci: Psci,
        cpu_on: u32,
        cpu_off: u32,
        before: &'static [Step],
        after: &'static [Step],
    }

    const CPU_ON_PSCI_0_2: CpuOnScenario = CpuOnScenario {
        psci: Psci::V0_2,
        cpu_on: PSCI_0_2_FN64_CPU_ON,
        cpu_off: PSCI_0_2_FN_CPU_OFF,
        before: CPU_ON_STEPS,
        after: AFTER_CPU_OFF,
    };

    /// PSCI 0.1 has no AFFINITY_INFO: that the target is off again shows as
    /// a second CPU_ON that succeeds.
    const CPU_ON_PSCI_0_1: CpuOnScenario = CpuOnScenario {
        psci: Psci::V0_1,
        cpu_on: KVM_PSCI_FN_CPU_ON,
        cpu_off: KVM_PSCI_FN_CPU_OFF,
        before: &[
            step!(KVM_PSCI_FN_CPU_ON, PSCI_RET_SUCCESS),
            step!(KVM_PSCI_FN_CPU_ON, PSCI_RET_INVALID_PARAMS),
            step!(PSCI_0_2_FN64_AFFINITY_INFO, PSCI_RET_NOT_SUPPORTED),
        ],
        after: &[step!(KVM_PSCI_FN_CPU_ON, PSCI_RET_SUCCESS)],
    };

    /// PSCI 0.2+ calls a PSCI 0.1 vCPU makes: each is NOT_SUPPORTED (were
    /// SYSTEM_OFF or SYSTEM_RESET served, the run would end in a system event).
    const PSCI_0_2_CALLS_ON_0_1: &[Step] = &[
        step!(PSCI_0_2_FN_PSCI_VERSION, PSCI_RET_NOT_SUPPORTED),
        step!(PSCI_0_2_FN_SYSTEM_OFF, PSCI_RET_NOT_SUPPORTED),
        step!(PSCI_0_2_FN_SYSTEM_RESET, PSCI_RET_NOT_SUPPORTED),
        step!(PSCI_1_0_FN_PSCI_FEATURES, PSCI_RET_NOT_SUPPORTED),
        step!(PSCI_0_2_FN_CPU_OFF, PSCI_RET_NOT_SUPPORTED),
    ];

    /// SYSTEM_OFF / SYSTEM_RESET and the system event each gives.
    const SYSTEM_EVENTS: &[(&str, u32, u32, &str)] = &[
        ("system_off", PSCI_0_2_FN_SYSTEM_OFF, KVM_SYSTEM_EVENT_SHUTDOWN, "KVM_SYSTEM_EVENT_SHUTDOWN"),
        ("system_reset", PSCI_0_2_FN_SYSTEM_RESET, KVM_SYSTEM_EVENT_RESET, "KVM_SYSTEM_EVENT_RESET"),
    ];

    /// host_test_system_suspend(): SYSTEM_SUSPEND is discoverable, then called.
    const SYSTEM_SUSPEND_STEPS: &[Step] =
        &[step!(PSCI_1_0_FN_PSCI_FEATURES, PSCI_RET_SUCCESS), step!(PSCI_1_0_FN_PSCI_FEATURES, PSCI_RET_SUCCESS)];

    pub fn trials() -> Vec<runner::Trial> {
        let mut t = vec![
            runner::test("psci::cpu_on_affinity_info_cpu_off", || cpu_on_cpu_off(&CPU_ON_PSCI_0_2)),
            runner::test("psci::v0_1::cpu_on_cpu_off", || cpu_on_cpu_off(&CPU_ON_PSCI_0_1)),
            runner::test("psci::v0_1::psci_0_2_calls_not_supported", psci_0_2_calls_on_0_1),
        ];
        for &(name, func_id, event, event_name) in SYSTEM_EVENTS {
            t.push(runner::test(format!("psci::{name}"), move || {
                let mut vm = calls_vm(SMCCC_CALLS, 1, &[hvc(func_id, 0)])?;
                expect_system_event(&mut vm, event, event_name)
            }));
        }
        t.push(runner::test("psci::system_suspend", system_suspend));
        t
    }

    fn check_step(step: &Step, r: [u64; 4]) -> Result<()> {
        ensure!(
            r[0] == step.expected,
            "{}: expected {} ({:#x}), got {:#x}",
            step.name,
            step.expected_name,
            step.expected,
            r[0]
        );
        Ok(())
    }

    fn cpu_on_cpu_off(scenario: &CpuOnScenario) -> Result<()> {
        // Rows are written once the target's MPIDR and the entry are known:
        // build with an empty table, then load the real one.
        let options = Arm64Options { psci: scenario.psci };
        let mut vm: Vm = calls_vm_with(SMCCC_CALLS, 2, &[], options)?;
        power_off(vm.vcpu(1))?;
        let target = mpidr(vm.vcpu(1))?;
        let entry = load_cpu_off_stub(&mut vm, scenario.cpu_off)?;
        // CPU_ON takes (target, entry, context id); AFFINITY_INFO (target,
        // lowest affinity level 0).
        let row = |s: &Step| {
            let args = if s.func_id == scenario.cpu_on { [target, entry, CPU_ON_CONTEXT_ID] } else { [target, 0, 0] };
            call(s.func_id, args, Conduit::Hvc)
        };
        let rows: Vec<SmcccCall> = scenario.before.iter().chain(scenario.after).map(row).collect();
        load_calls(&mut vm, &rows)?;

        for (i, step) in scenario.before.iter().enumerate() {
            check_step(step, next_result(vm.vcpu(0), i)?)?;
        }
        // assert_vcpu_reset(): the target starts at the entry with the context id.
        let (pc0, x0) = (pc(vm.vcpu(1))?, read_reg(vm.vcpu(1), x(0), "KVM_GET_ONE_REG(x0)")?);
        ensure!(pc0 == entry, "CPU_ON target pc: expected {entry:#x}, got {pc0:#x}");
        ensure!(x0 == CPU_ON_CONTEXT_ID, "CPU_ON target x0: expected {CPU_ON_CONTEXT_ID:#x}, got {x0:#x}");

        // The target runs the stub: CPU_OFF, after which KVM_RUN sleeps until
        // the host kicks it out. A kick may also come before it reached its
        // HVC: run again until KVM reports it STOPPED (a CPU_OFF that
        // returned would leave it spinning at `b .`, RUNNABLE).
        let kicker = vm.vcpu(1).kicker();
        let target_vcpu = vm.vcpu(1);
        std::thread::scope(|s| {
            let target = s.spawn(move || -> Result<()> {
                let start = Instant::now();
                loop {
                    match target_vcpu.run_until_ucall() {
                        Err(Error::Kicked { .. }) => {}
                        other => bail!("CPU_OFF target: expected it to stay in KVM_RUN, powered off; got {other:?}"),
                    }
                    let state = mp_state(target_vcpu)?;
                    if state == KVM_MP_STATE_STOPPED {
                        return Ok(());
                    }
                    ensure!(
                        start.elapsed() < CPU_OFF_DEADLINE,
                        "CPU_OFF target: expected KVM_MP_STATE_STOPPED ({KVM_MP_STATE_STOPPED}) after its CPU_OFF, \
                         got mp_state {state} after {CPU_OFF_DEADLINE:?} (pc {:#x})",
                        pc(target_vcpu)?
                    );
                }
            });
            while !target.is_finished() {
                std::thread::sleep(OFF_VCPU_KICK);
                kicker.kick();
            }
            target.join().unwrap_or_else(|_| bail!("CPU_OFF target: its thread panicked"))
        })?;
        let after = pc(vm.vcpu(1))?;
        ensure!(
            after == entry + CPU_OFF_STUB_AFTER_HVC,
            "CPU_OFF target pc: expected {:#x} (past its CPU_OFF HVC), got {after:#x}",
            entry + CPU_OFF_STUB_AFTER_HVC
        );

        for (i, step) in scenario.after.iter().enumerate() {
            check_step(step, next_result(vm.vcpu(0), scenario.before.len() + i)?)?;
        }
        vm.vcpu(0).expect_done()
    }

    fn psci_0_2_calls_on_0_1() -> Result<()> {
        let rows: Vec<SmcccCall> = PSCI_0_2_CALLS_ON_0_1.iter().map(|s| hvc(s.func_id, 0)).collect();
        let mut vm = calls_vm_with(SMCCC_CALLS, 1, &rows, Arm64Options { psci: Psci::V0_1 })?;
        for (i, step) in PSCI_0_2_CALLS_ON_0_1.iter().enumerate() {
            check_step(step, next_result(vm.vcpu(0), i)?)?;
        }
        vm.vcpu(0).expect_done()
    }

    fn system_suspend() -> Result<()> {
        let rows = [
            hvc(PSCI_1_0_FN_PSCI_FEATURES, PSCI_1_0_FN_SYSTEM_SUSPEND as u64),
            hvc(PSCI_1_0_FN_PSCI_FEATURES, PSCI_1_0_FN64_SYSTEM_SUSPEND as u64),
            call(PSCI_1_0_FN64_SYSTEM_SUSPEND, [0xfeed_f00d, CPU_ON_CONTEXT_ID, 0], Conduit::Hvc),
        ];
        let mut vm = calls_vm(SMCCC_CALLS, 1, &rows)?;
        enable_system_suspend(vm.fd())?;
        for (i, (step, arg)) in
            SYSTEM_SUSPEND_STEPS.iter().zip(["PSCI_1_0_FN_SYSTEM_SUSPEND", "PSCI_1_0_FN64_SYSTEM_SUSPEND"]).enumerate()
        {
            check_step(step, next_result(vm.vcpu(0), i)?).map_err(|e| Error::Check(format!("{e} (feature {arg})")))?;
        }
        expect_system_event(&mut vm, KVM_SYSTEM_EVENT_SUSPEND, "KVM_SYSTEM_EVENT_SUSPEND")
    }

    /// Runs vCPU 0 into a KVM_EXIT_SYSTEM_EVENT of type `expected`.
    fn expect_system_event(vm: &mut Vm, expected: u32, expected_name: &str) -> Result<()> {
        let mut seen = None;
        let r = vm.vcpu(0).run_with(|exit| match exit {
            VcpuExit::SystemEvent(kind, _) => {
                seen = Some(*kind);
                ExitAction::Stop
            }
            _ => ExitAction::Unhandled,
        });
        match (r, seen) {
            (Err(Error::ExitStopped { .. }), Some(kind)) => {
                ensure!(kind == expected, "system event type: expected {expected_name} ({expected}), got {kind}");
                Ok(())
            }
            (r, _) => bail!("expected KVM_EXIT_SYSTEM_EVENT {expected_name}, got {r:?}"),
        }
    }
}
