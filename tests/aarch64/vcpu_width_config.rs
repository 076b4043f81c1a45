//! vcpu_width_config: KVM_ARM_VCPU_INIT with and without
//! KVM_ARM_VCPU_EL1_32BIT across the vCPUs of one VM (upstream
//! aarch64/vcpu_width_config.c, the same in 6.1 and 6.12): two 64-bit
//! vCPUs configure, two 32-bit vCPUs configure, a 64-bit and a 32-bit vCPU
//! in one VM do not (EINVAL); each in both orders, vCPU by vCPU
//! (`add_init_2vcpus()`) and both created before either is initialised
//! (`add_2vcpus_init_2vcpus()`).
//!
//! Upstream skips everything without KVM_CAP_ARM_EL1_32BIT; here only the
//! trials that need a 32-bit vCPU do, naming the capability, and without it
//! a 32-bit KVM_ARM_VCPU_INIT must be refused with EINVAL (Documentation/
//! virt/kvm/api.rst, KVM_ARM_VCPU_INIT: "KVM_ARM_VCPU_EL1_32BIT: Starts the
//! CPU in a 32bit mode. Depends on KVM_CAP_ARM_EL1_32BIT").

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::reg_list::VcpuFeature;
    use kvmtest::bare_vm::BareVm;
    use kvmtest::kvm_bindings::KVM_CAP_ARM_EL1_32BIT;
    use kvmtest::{bail, runner, Result};

    /// The width a vCPU is initialised with.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Width {
        /// `features[0] = 0` (the preferred target's features cleared, as upstream).
        El1_64bit,
        /// `features[0] = 1 << KVM_ARM_VCPU_EL1_32BIT`.
        El1_32bit,
    }

    impl Width {
        fn features(self) -> &'static [VcpuFeature] {
            match self {
                Width::El1_64bit => &[],
                Width::El1_32bit => &[VcpuFeature::El1_32bit],
            }
        }
    }

    /// upstream's two orders of KVM_CREATE_VCPU and KVM_ARM_VCPU_INIT.
    #[derive(Debug, Clone, Copy)]
    enum Order {
        /// `add_init_2vcpus()`: create and init vCPU 0, then create and init vCPU 1.
        OneByOne,
        /// `add_2vcpus_init_2vcpus()`: create both, then init vCPU 0, then vCPU 1.
        CreateBothFirst,
    }

    /// One `main()` check: the widths of vCPU 0 and vCPU 1 and whether the
    /// pair may be configured.
    struct Case {
        name: &'static str,
        widths: [Width; 2],
        /// `None`: both inits succeed; `Some(errno)`: vCPU 1's init fails so.
        vcpu1_refused: Option<(i32, &'static str)>,
    }

    /// Mixed widths are EINVAL in both series: 6.12 arch/arm64/kvm/arm.c
    /// `__kvm_vcpu_set_target()` (`kvm_vcpu_init_changed()` once
    /// KVM_ARCH_FLAG_VCPU_FEATURES_CONFIGURED is set, ret = -EINVAL); 6.1
    /// arch/arm64/kvm/reset.c `kvm_set_vm_width()` (REG_WIDTH_CONFIGURED with
    /// the other width: -EINVAL).
    const CASES: &[Case] = &[
        Case { name: "el1_64bit", widths: [Width::El1_64bit, Width::El1_64bit], vcpu1_refused: None },
        Case { name: "el1_32bit", widths: [Width::El1_32bit, Width::El1_32bit], vcpu1_refused: None },
        Case {
            name: "mixed_width",
            widths: [Width::El1_64bit, Width::El1_32bit],
            vcpu1_refused: Some((libc::EINVAL, "EINVAL")),
        },
    ];

    pub fn trials() -> Vec<runner::Trial> {
        let mut t = Vec::new();
        for case in CASES {
            for (order, order_name) in
                [(Order::OneByOne, "init_one_by_one"), (Order::CreateBothFirst, "create_both_then_init")]
            {
                t.push(runner::test(format!("vcpu_width_config::{}::{order_name}", case.name), move || {
                    run_case(case, order)
                }));
            }
        }
        t.push(runner::test("vcpu_width_config::el1_32bit_refused_without_cap", el1_32bit_refused_without_cap));
        t
    }

    fn run_case(case: &Case, order: Order) -> Result<()> {
        if case.widths.contains(&Width::El1_32bit) {
            // TEST_REQUIRE(kvm_has_cap(KVM_CAP_ARM_EL1_32BIT)).
            VcpuFeature::El1_32bit.require()?;
        }
        let mut vm = BareVm::new()?;
        let init0 = vm.preferred_init(case.widths[0].features())?;
        let init1 = vm.preferred_init(case.widths[1].features())?;
        let (vcpu0_result, vcpu1_result) = match order {
            Order::OneByOne => {
                let r0 = vm.create_vcpu(0)?.vcpu_init(&init0);
                (r0, vm.create_vcpu(1)?.vcpu_init(&init1))
            }
            Order::CreateBothFirst => {
                vm.create_vcpu(0)?;
                vm.create_vcpu(1)?;
                let r0 = vm.vcpu(0)?.vcpu_init(&init0);
                (r0, vm.vcpu(1)?.vcpu_init(&init1))
            }
        };
        let what = |i: usize| format!("{}: KVM_ARM_VCPU_INIT of vCPU {i} ({:?})", case.name, case.widths[i]);
        if let Err(e) = vcpu0_result {
            bail!("{}: expected success, got {e}", what(0));
        }
        match (case.vcpu1_refused, vcpu1_result) {
            (None, Ok(())) => Ok(()),
            (None, Err(e)) => bail!("{} after vCPU 0 ({:?}): expected success, got {e}", what(1), case.widths[0]),
            (Some((_, name)), Ok(())) => {
                bail!("{} after vCPU 0 ({:?}): expected {name}, got success", what(1), case.widths[0])
            }
            (Some((errno, name)), Err(e)) if e.errno() != Some(errno) => {
                bail!("{} after vCPU 0 ({:?}): expected {name}, got {e}", what(1), case.widths[0])
            }
            (Some(_), Err(_)) => Ok(()),
        }
    }

    /// Without KVM_CAP_ARM_EL1_32BIT the feature is not offered: EINVAL
    /// (6.12 arm.c `kvm_vcpu_init_check_features()`: a feature outside
    /// `system_supported_vcpu_features()`, which drops EL1_32BIT without
    /// ARM64_HAS_32BIT_EL1; 6.1 reset.c `kvm_set_vm_width()`).
    fn el1_32bit_refused_without_cap() -> Result<()> {
        if kvmtest::kvm::check_cap_raw(KVM_CAP_ARM_EL1_32BIT.into())? != 0 {
            return Err(kvmtest::Error::Skip(
                "KVM_CAP_ARM_EL1_32BIT is offered (the CPU has AArch32 EL1): the el1_32bit and mixed_width \
                 trials run instead"
                    .into(),
            ));
        }
        let mut vm = BareVm::new()?;
        let init = vm.preferred_init(&[VcpuFeature::El1_32bit])?;
        match vm.create_vcpu(0)?.vcpu_init(&init) {
            Err(e) if e.errno() == Some(libc::EINVAL) => Ok(()),
            Err(e) => bail!("KVM_ARM_VCPU_INIT with KVM_ARM_VCPU_EL1_32BIT and no KVM_CAP_ARM_EL1_32BIT: expected EINVAL, got {e}"),
            Ok(()) => bail!("KVM_ARM_VCPU_INIT with KVM_ARM_VCPU_EL1_32BIT and no KVM_CAP_ARM_EL1_32BIT: expected EINVAL, got success"),
        }
    }
}
