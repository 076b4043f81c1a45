//! smccc_filter: the SMCCC filter UAPI (aarch64/smccc_filter.c, Linux 6.4+).
//! Malformed, reserved and overlapping ranges are refused with the kernel's
//! errno; the filter is frozen once a vCPU ran (EBUSY); DENY makes a call
//! answer NOT_SUPPORTED; FWD_TO_USER turns it into KVM_EXIT_HYPERCALL with
//! the function id and conduit, and the value the host puts in x0 is what
//! the guest's call returns. On a series before 6.4 every trial is skipped,
//! naming the series; from 6.4 on a VM without the filter
//! (KVM_HAS_DEVICE_ATTR, as kvm_supports_smccc_filter()) fails.

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::smccc::*;
    use kvmtest::arch::aarch64::regs::x;
    use kvmtest::kvm_bindings::kvm_smccc_filter;
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::{bail, ensure, runner, Error, ExitAction, Result, Vm};
    use kvmtest_tests::payloads::SMCCC_CALLS;

    use libc::{EBUSY, EEXIST, EINVAL};

    /// What the host answers a forwarded call with.
    const HOST_RETURN: u64 = 0x0123_4567_89ab_cdef;

    /// One UAPI constraint: filters applied first (must succeed), then one the kernel refuses.
    struct Refused {
        name: &'static str,
        before: &'static [(u32, u32, SmcccFilterAction)],
        filter: kvm_smccc_filter,
        errno: i32,
        errno_name: &'static str,
    }

    const fn raw(base: u32, nr_functions: u32, action: u8, pad0: u8) -> kvm_smccc_filter {
        let mut pad = [0u8; 15];
        pad[0] = pad0;
        kvm_smccc_filter { base, nr_functions, action, pad }
    }

    /// `ARM_SMCCC_CALL_VAL(FAST_CALL, SMC_64, 0, 0)`: the start of the SMC64 architecture range.
    const SMC64_ARCH_BASE: u32 = call_val(true, true, ARM_SMCCC_OWNER_ARCH, 0);
    const DENY: u8 = SmcccFilterAction::Deny as u8;

    const REFUSED: &[Refused] = &[
        Refused {
            name: "pad_must_be_zero",
            before: &[],
            filter: raw(PSCI_0_2_FN_PSCI_VERSION, 1, DENY, 0xff),
            errno: EINVAL,
            errno_name: "EINVAL",
        },
        Refused {
            name: "invalid_nr_functions",
            before: &[],
            filter: raw(PSCI_0_2_FN64_CPU_ON, 0, DENY, 0),
            errno: EINVAL,
            errno_name: "EINVAL",
        },
        Refused {
            name: "overflow_nr_functions",
            before: &[],
            filter: raw(u32::MAX, u32::MAX, DENY, 0),
            errno: EINVAL,
            errno_name: "EINVAL",
        },
        Refused {
            name: "reserved_action",
            before: &[],
            filter: raw(PSCI_0_2_FN64_CPU_ON, 1, 0xff, 0),
            errno: EINVAL,
            errno_name: "EINVAL",
        },
        Refused {
            name: "reserved_range::ARM_SMCCC_ARCH_WORKAROUND_1",
            before: &[],
            filter: raw(ARM_SMCCC_ARCH_WORKAROUND_1, 1, DENY, 0),
            errno: EEXIST,
            errno_name: "EEXIST",
        },
        Refused {
            name: "reserved_range::smc64_arch",
            before: &[],
            filter: raw(SMC64_ARCH_BASE, 1, DENY, 0),
            errno: EEXIST,
            errno_name: "EEXIST",
        },
        Refused {
            name: "overlap",
            before: &[(PSCI_0_2_FN64_CPU_ON, 1, SmcccFilterAction::Deny)],
            filter: raw(PSCI_0_2_FN64_CPU_ON, 1, DENY, 0),
            errno: EEXIST,
            errno_name: "EEXIST",
        },
        Refused {
            name: "overlap_partial",
            before: &[(PSCI_0_2_FN_BASE + 2, 4, SmcccFilterAction::Deny)],
            filter: raw(PSCI_0_2_FN_BASE, 3, DENY, 0),
            errno: EEXIST,
            errno_name: "EEXIST",
        },
    ];

    const CONDUITS: &[(&str, Conduit)] = &[("hvc", Conduit::Hvc), ("smc", Conduit::Smc)];

    pub fn trials() -> Vec<runner::Trial> {
        let mut t: Vec<runner::Trial> =
            REFUSED.iter().map(|c| runner::test(format!("smccc_filter::{}", c.name), move || refused(c))).collect();
        t.push(runner::test("smccc_filter::after_first_run_is_ebusy", after_first_run));
        for &(name, conduit) in CONDUITS {
            t.push(runner::test(format!("smccc_filter::deny::{name}"), move || denied(conduit)));
            t.push(runner::test(format!("smccc_filter::fwd_to_user::{name}"), move || forwarded(conduit)));
        }
        t
    }

    /// `setup_vm()` of smccc_filter.c: one PSCI 0.2 vCPU, so a denied call is
    /// denied by the filter and not by KVM.
    fn setup_vm(rows: &[SmcccCall]) -> Result<Vm> {
        let vm = calls_vm(SMCCC_CALLS, 1, rows)?;
        require_smccc_filter(vm.fd(), "smccc_filter")?;
        Ok(vm)
    }

    fn errno_of(r: Result<()>) -> Result<Option<i32>> {
        match r {
            Ok(()) => Ok(None),
            Err(e @ Error::Kvm { .. }) => Ok(e.errno()),
            Err(e) => Err(e),
        }
    }

    fn refused(case: &Refused) -> Result<()> {
        let vm = setup_vm(&[])?;
        for &(base, n, action) in case.before {
            set_smccc_filter(vm.fd(), base, n, action)?;
        }
        let got = errno_of(set_smccc_filter_raw(vm.fd(), &case.filter))?;
        let f = &case.filter;
        ensure!(
            got == Some(case.errno),
            "{}: filter base {:#x} nr_functions {:#x} action {}: expected {}, got {}",
            case.name,
            f.base,
            f.nr_functions,
            f.action,
            case.errno_name,
            got.map_or("Ok".to_string(), |e| format!("errno {e}"))
        );
        Ok(())
    }

    fn after_first_run() -> Result<()> {
        let mut vm = setup_vm(&[])?;
        run_calls(vm.vcpu(0), 0)?;
        let got = errno_of(set_smccc_filter(vm.fd(), PSCI_0_2_FN64_CPU_ON, 1, SmcccFilterAction::Deny))?;
        ensure!(
            got == Some(EBUSY),
            "filter set after the first run: expected EBUSY, got {}",
            got.map_or("Ok".to_string(), |e| format!("errno {e}"))
        );
        Ok(())
    }

    /// test_filter_denied(): PSCI_VERSION denied answers NOT_SUPPORTED.
    fn denied(conduit: Conduit) -> Result<()> {
        let mut vm = setup_vm(&[call(PSCI_0_2_FN_PSCI_VERSION, [0; 3], conduit)])?;
        set_smccc_filter(vm.fd(), PSCI_0_2_FN_PSCI_VERSION, 1, SmcccFilterAction::Deny)?;
        let [a0, ..] = run_calls(vm.vcpu(0), 1)?[0];
        ensure!(
            a0 == SMCCC_RET_NOT_SUPPORTED,
            "denied PSCI_VERSION over {conduit:?}: expected NOT_SUPPORTED, got {a0:#x}"
        );
        Ok(())
    }

    /// test_filter_fwd_to_user(), and the host's answer reaching the guest.
    fn forwarded(conduit: Conduit) -> Result<()> {
        let mut vm = setup_vm(&[call(PSCI_0_2_FN_PSCI_VERSION, [0; 3], conduit)])?;
        set_smccc_filter(vm.fd(), PSCI_0_2_FN_PSCI_VERSION, 1, SmcccFilterAction::FwdToUser)?;
        let mut seen = None;
        let r = vm.vcpu(0).run_with(|exit| match exit {
            VcpuExit::Hypercall(h) => {
                // On arm64 kvm-ioctls' `longmode` is kvm_run.hypercall.flags.
                seen = Some((h.nr, u64::from(h.longmode)));
                ExitAction::Stop
            }
            _ => ExitAction::Unhandled,
        });
        let (nr, flags) = match (r, seen) {
            (Err(Error::ExitStopped { .. }), Some(s)) => s,
            (r, _) => bail!("forwarded PSCI_VERSION over {conduit:?}: expected KVM_EXIT_HYPERCALL, got {r:?}"),
        };
        ensure!(
            nr == u64::from(PSCI_0_2_FN_PSCI_VERSION),
            "KVM_EXIT_HYPERCALL nr: expected PSCI_0_2_FN_PSCI_VERSION ({PSCI_0_2_FN_PSCI_VERSION:#x}), got {nr:#x}"
        );
        let smc = flags & KVM_HYPERCALL_EXIT_SMC != 0;
        ensure!(
            smc == (conduit == Conduit::Smc),
            "KVM_EXIT_HYPERCALL flags {flags:#x}: KVM_HYPERCALL_EXIT_SMC expected {}, got {smc}",
            conduit == Conduit::Smc
        );
        write_reg(vm.vcpu(0), x(0), "KVM_SET_ONE_REG(x0)", HOST_RETURN)?;
        let [a0, ..] = run_calls(vm.vcpu(0), 1)?[0];
        ensure!(
            a0 == HOST_RETURN,
            "forwarded PSCI_VERSION over {conduit:?}: expected the host's {HOST_RETURN:#x}, got {a0:#x}"
        );
        Ok(())
    }
}
