//! hypercalls: the arm64 hypercall-service bitmaps (aarch64/hypercalls.c).
//!
//! The register interface: each bitmap's default is the set of services the
//! kernel supports, every other bit is EINVAL, every feature can be cleared
//! and set again before the first run, and once a vCPU has run a write that
//! changes a value is EBUSY while rewriting the same value succeeds. The
//! guest's view, in the C test's stages: with every service disabled each
//! call answers NOT_SUPPORTED (ARCH_FEATURES included), with every service
//! enabled none does, and calls with "false info" (a feature query about
//! another family) answer NOT_SUPPORTED. Then one trial per feature bit with
//! only that bit cleared, and the PSCI_VERSION register against the guest's
//! PSCI_VERSION call (on a PSCI 0.1 vCPU, which has no such call: NOT_SUPPORTED).

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::fw_regs::*;
    use kvmtest::aarch64::smccc::*;
    use kvmtest::arch::aarch64::{Arm64Options, Psci};
    use kvmtest::{ensure, runner, Error, Result, Vm};
    use kvmtest_tests::aarch64::services::*;
    use kvmtest_tests::payloads::SMCCC_CALLS;

    use libc::{EBUSY, EINVAL, ENOENT};

    /// `false_hvc_info[]`: feature queries about another family of calls,
    /// which answer NOT_SUPPORTED whatever is enabled.
    const FALSE_HVC_INFO: &[(&str, SmcccCall)] = &[
        (
            "ARM_SMCCC_TRNG_FEATURES(ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID)",
            hvc(ARM_SMCCC_TRNG_FEATURES, ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID as u64),
        ),
        (
            "ARM_SMCCC_ARCH_FEATURES_FUNC_ID(ARM_SMCCC_TRNG_RND64)",
            hvc(ARM_SMCCC_ARCH_FEATURES_FUNC_ID, ARM_SMCCC_TRNG_RND64 as u64),
        ),
        (
            "ARM_SMCCC_HV_PV_TIME_FEATURES(ARM_SMCCC_TRNG_RND64)",
            hvc(ARM_SMCCC_HV_PV_TIME_FEATURES, ARM_SMCCC_TRNG_RND64 as u64),
        ),
    ];

    /// The PSCI versions KVM accepts on a PSCI 0.2 vCPU, and what the guest's
    /// PSCI_VERSION call then answers.
    const PSCI_VERSIONS: &[(&str, u64)] = &[
        ("KVM_ARM_PSCI_0_2", KVM_ARM_PSCI_0_2),
        ("KVM_ARM_PSCI_1_0", KVM_ARM_PSCI_1_0),
        ("KVM_ARM_PSCI_1_1", KVM_ARM_PSCI_1_1),
    ];

    /// PSCI_VERSION values no kernel implements.
    const INVALID_PSCI_VERSIONS: &[u64] = &[0, 3, psci_version(0, 3), psci_version(1, 2), psci_version(2, 0), u64::MAX];

    pub fn trials() -> Vec<runner::Trial> {
        let mut t = Vec::new();
        for &reg in FwReg::BITMAPS {
            t.push(runner::test(format!("reg_iface::{reg}::default_is_the_supported_set"), move || {
                default_is_supported_set(reg)
            }));
            t.push(runner::test(format!("reg_iface::{reg}::clear_all"), move || clear_all(reg)));
        }
        for bit in FW_BITS {
            t.push(runner::test(format!("reg_iface::{}::clear_and_set", bit.short_name()), move || clear_and_set(bit)));
        }
        t.push(runner::test("reg_iface::after_first_run", after_first_run));
        t.push(runner::test("reg_iface::unknown_register_is_enoent", unknown_register));
        t.push(runner::test("reg_iface::values_are_per_vm", per_vm));
        t.push(runner::test("reg_iface::workarounds_read_back", workarounds));
        t.push(runner::test("guest::all_disabled", || guest_view("all services disabled", &[], true)));
        t.push(runner::test("guest::all_enabled", || guest_view("all services enabled", &[], false)));
        t.push(runner::test("guest::false_info", false_info));
        for bit in FW_BITS {
            t.push(runner::test(format!("guest::only_{}_disabled", bit.short_name()), move || {
                guest_view(&format!("only {} disabled", bit.name), &[*bit], false)
            }));
        }
        for &(name, v) in PSCI_VERSIONS {
            t.push(runner::test(format!("psci_version::{name}"), move || psci_version_seen(name, v)));
        }
        t.push(runner::test("psci_version::KVM_ARM_PSCI_0_1", psci_0_1));
        t.push(runner::test("psci_version::invalid_is_einval", psci_invalid));
        t
    }

    /// `Ok` for a success, the errno for a KVM error, any other error as is.
    fn outcome(r: Result<()>) -> Result<std::result::Result<(), i32>> {
        match r {
            Ok(()) => Ok(Ok(())),
            Err(e) => match e.errno() {
                Some(errno) if matches!(e, Error::Kvm { .. }) => Ok(Err(errno)),
                _ => Err(e),
            },
        }
    }

    fn errno_name(r: &std::result::Result<(), i32>) -> String {
        match r {
            Ok(()) => "Ok".into(),
            Err(EINVAL) => "EINVAL".into(),
            Err(EBUSY) => "EBUSY".into(),
            Err(ENOENT) => "ENOENT".into(),
            Err(n) => format!("errno {n}"),
        }
    }

    /// Checks that writing `value` to `reg` gives `expected`.
    fn expect_write(fw: &FwRegs<'_>, reg: FwReg, value: u64, expected: std::result::Result<(), i32>) -> Result<()> {
        let got = outcome(fw.set(reg, value))?;
        ensure!(
            got == expected,
            "{reg} write {value:#x}: expected {}, got {}",
            errno_name(&expected),
            errno_name(&got)
        );
        Ok(())
    }

    fn expect_value(fw: &FwRegs<'_>, reg: FwReg, expected: u64, when: &str) -> Result<()> {
        let got = fw.get(reg)?;
        ensure!(got == expected, "{reg} {when}: expected {expected:#x}, read {got:#x}");
        Ok(())
    }

    fn idle_vm() -> Result<Vm> {
        calls_vm(SMCCC_CALLS, 1, &[])
    }

    /// Skips when this kernel does not list `reg`, after checking that it then
    /// answers ENOENT as an unknown register should.
    fn require_reg(fw: &FwRegs<'_>, reg: FwReg) -> Result<()> {
        if fw.present()?.contains(&reg) {
            return Ok(());
        }
        let got = outcome(fw.get(reg).map(|_| ()))?;
        ensure!(
            got == Err(ENOENT),
            "{reg} is not in KVM_GET_REG_LIST: expected ENOENT on read, got {}",
            errno_name(&got)
        );
        Err(kvmtest::kvm::skip_missing(&format!("{} in KVM_GET_REG_LIST", reg.name())))
    }

    /// hypercalls.c's first read: the default is the upper limit of the
    /// supported features; here it must be made of known bits, and every
    /// other bit must be refused with EINVAL.
    fn default_is_supported_set(reg: FwReg) -> Result<()> {
        let mut vm = idle_vm()?;
        let fw = vm.fw_regs();
        require_reg(&fw, reg)?;
        let default = fw.get(reg)?;
        let unknown = default & !reg.known_mask();
        ensure!(
            unknown == 0,
            "{reg} default {default:#x}: bits {unknown:#x} are not known to kvmtest (known: {:#x}); name them in fw_regs.rs",
            reg.known_mask()
        );
        for bit in 0..64 {
            let b = 1u64 << bit;
            if default & b == 0 {
                expect_write(&fw, reg, default | b, Err(EINVAL))?;
                expect_value(&fw, reg, default, &format!("after the refused write of bit {bit}"))?;
            }
        }
        Ok(())
    }

    fn clear_all(reg: FwReg) -> Result<()> {
        let mut vm = idle_vm()?;
        let fw = vm.fw_regs();
        require_reg(&fw, reg)?;
        let default = fw.get(reg)?;
        expect_write(&fw, reg, 0, Ok(()))?;
        expect_value(&fw, reg, 0, "after clearing every feature")?;
        expect_write(&fw, reg, default, Ok(()))?;
        expect_value(&fw, reg, default, "after restoring the default")
    }

    fn clear_and_set(bit: &FwBit) -> Result<()> {
        let mut vm = idle_vm()?;
        let fw = vm.fw_regs();
        let reg = bit.reg;
        require_reg(&fw, reg)?;
        let default = fw.get(reg)?;
        if default & bit.mask() == 0 {
            // The bit is above the supported set: default_is_supported_set checks it is EINVAL.
            return Err(kvmtest::kvm::skip_missing(bit.name));
        }
        let cleared = default & !bit.mask();
        expect_write(&fw, reg, cleared, Ok(()))?;
        expect_value(&fw, reg, cleared, &format!("after clearing {}", bit.name))?;
        expect_write(&fw, reg, default, Ok(()))?;
        expect_value(&fw, reg, default, &format!("after setting {} again", bit.name))
    }

    /// test_fw_regs_after_vm_start(): the bitmaps are frozen once a vCPU ran.
    fn after_first_run() -> Result<()> {
        let mut vm = idle_vm()?;
        let present: Vec<FwReg> = vm.fw_regs().present()?.into_iter().filter(|r| r.is_bitmap()).collect();
        if present.is_empty() {
            return Err(kvmtest::kvm::skip_missing("the hypercall-service bitmap registers (Linux 5.19+)"));
        }
        let mut defaults = Vec::new();
        {
            let fw = vm.fw_regs();
            for &reg in &present {
                defaults.push(fw.get(reg)?);
                expect_write(&fw, reg, 0, Ok(()))?;
            }
        }
        run_calls(vm.vcpu(0), 0)?;
        let fw = vm.fw_regs();
        for (&reg, &default) in present.iter().zip(&defaults) {
            expect_value(&fw, reg, 0, "after the first run")?;
            if default != 0 {
                expect_write(&fw, reg, default, Err(EBUSY))?;
            }
            expect_write(&fw, reg, 0, Ok(()))?;
            expect_value(&fw, reg, 0, "after the refused write")?;
        }
        Ok(())
    }

    /// "Affects the whole VM (even if the register view is per-vcpu)": a
    /// write through vCPU 0 is what vCPU 1 reads.
    fn per_vm() -> Result<()> {
        let mut vm = calls_vm(SMCCC_CALLS, 2, &[])?;
        let present = vm.fw_regs().present()?;
        let mut writes = vec![(FwReg::PsciVersion, KVM_ARM_PSCI_0_2)];
        writes.extend(FwReg::BITMAPS.iter().filter(|r| present.contains(r)).map(|&r| (r, 0)));
        for (reg, value) in writes {
            vm.fw_regs().set(reg, value)?;
            expect_value(&vm.vcpu(1).fw_regs(), reg, value, "through vCPU 1 after a write through vCPU 0")?;
        }
        Ok(())
    }

    fn unknown_register() -> Result<()> {
        let mut vm = idle_vm()?;
        let fw = vm.fw_regs();
        let listed = fw.listed_ids()?;
        for id in [kvm_reg_arm_fw_reg(0xff), kvm_reg_arm_fw_feat_bmap_reg(0xff)] {
            ensure!(!listed.contains(&id), "register {id:#x} is unexpectedly listed");
            let got = outcome(fw.get_raw(id).map(|_| ()))?;
            ensure!(
                got == Err(ENOENT),
                "read of unknown firmware register {id:#x}: expected ENOENT, got {}",
                errno_name(&got)
            );
            let got = outcome(fw.set_raw(id, 0))?;
            ensure!(
                got == Err(ENOENT),
                "write of unknown firmware register {id:#x}: expected ENOENT, got {}",
                errno_name(&got)
            );
        }
        Ok(())
    }

    /// The workaround levels are the host's: the read value can be written
    /// back, a level with bits outside the level mask cannot.
    fn workarounds() -> Result<()> {
        let mut vm = idle_vm()?;
        let fw = vm.fw_regs();
        for reg in [FwReg::SmcccArchWorkaround1, FwReg::SmcccArchWorkaround2, FwReg::SmcccArchWorkaround3] {
            if !fw.present()?.contains(&reg) {
                continue;
            }
            let level = fw.get(reg)?;
            ensure!(level & !0xf == 0, "{reg}: level {level:#x} has bits outside KVM_REG_FEATURE_LEVEL_MASK");
            expect_write(&fw, reg, level, Ok(()))?;
            expect_write(&fw, reg, 0x20 | level, Err(EINVAL))?;
        }
        // WORKAROUND_2's ENABLED bit needs the AVAIL level.
        expect_write(
            &fw,
            FwReg::SmcccArchWorkaround2,
            KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_ENABLED | KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_NOT_AVAIL,
            Err(EINVAL),
        )
    }

    /// The stages TEST_STAGE_HVC_IFACE_FEAT_DISABLED / _ENABLED: every
    /// service disabled (`all_disabled`), or every supported one enabled but
    /// `disabled`.
    fn guest_view(stage: &str, disabled: &[FwBit], all_disabled: bool) -> Result<()> {
        let rows: Vec<SmcccCall> = HVC_INFO.iter().map(|s| s.call).collect();
        let mut vm = calls_vm(SMCCC_CALLS, 1, &rows)?;
        let steal_time = steal_time_init(&mut vm)?[0];
        let mut bitmaps = Vec::new();
        {
            let fw = vm.fw_regs();
            let present = fw.present()?;
            for bit in disabled {
                require_reg(&fw, bit.reg)?;
            }
            for &reg in FwReg::BITMAPS.iter().filter(|r| present.contains(r)) {
                let default = fw.get(reg)?;
                let value = if all_disabled {
                    0
                } else {
                    disabled.iter().filter(|b| b.reg == reg).fold(default, |v, b| v & !b.mask())
                };
                for bit in disabled.iter().filter(|b| b.reg == reg) {
                    if default & bit.mask() == 0 {
                        return Err(kvmtest::kvm::skip_missing(bit.name));
                    }
                }
                fw.set(reg, value)?;
                bitmaps.push((reg, value));
            }
            if bitmaps.is_empty() {
                return Err(kvmtest::kvm::skip_missing("the hypercall-service bitmap registers (Linux 5.19+)"));
            }
        }
        let value_of = |reg: FwReg| bitmaps.iter().find(|(r, _)| *r == reg).map(|(_, v)| *v).unwrap_or(0);
        let vendor_bmap = value_of(FwReg::VendorHypBmap);
        let results = run_calls(vm.vcpu(0), rows.len())?;
        for (s, r) in HVC_INFO.iter().zip(results) {
            let enabled = value_of(s.bit.reg) & s.bit.mask() != 0;
            check_answer(stage, s, enabled, vendor_bmap, steal_time, r)?;
        }
        Ok(())
    }

    /// TEST_STAGE_HVC_IFACE_FALSE_INFO, with every service enabled.
    fn false_info() -> Result<()> {
        let rows: Vec<SmcccCall> = FALSE_HVC_INFO.iter().map(|(_, c)| *c).collect();
        let mut vm = calls_vm(SMCCC_CALLS, 1, &rows)?;
        steal_time_init(&mut vm)?;
        let results = run_calls(vm.vcpu(0), rows.len())?;
        for ((name, _), r) in FALSE_HVC_INFO.iter().zip(results) {
            ensure!(r[0] == SMCCC_RET_NOT_SUPPORTED, "false info: {name}: expected NOT_SUPPORTED, got {:#x}", r[0]);
        }
        Ok(())
    }

    /// PSCI_VERSION register `value` is what the guest's PSCI_VERSION call returns.
    fn psci_version_seen(name: &str, value: u64) -> Result<()> {
        let rows = [hvc(PSCI_0_2_FN_PSCI_VERSION, 0)];
        let mut vm = calls_vm(SMCCC_CALLS, 1, &rows)?;
        let default = vm.fw_regs().get(FwReg::PsciVersion)?;
        ensure!(
            PSCI_VERSIONS.iter().any(|&(_, v)| v == default),
            "PSCI_VERSION default {default:#x}: expected one of 0.2, 1.0, 1.1 on a PSCI 0.2 vCPU"
        );
        let fw = vm.fw_regs();
        // Only the versions up to the default are implemented by this kernel.
        if value > default {
            return Err(kvmtest::kvm::skip_missing(&format!(
                "PSCI version {name} (the kernel's highest is {default:#x})"
            )));
        }
        expect_write(&fw, FwReg::PsciVersion, value, Ok(()))?;
        expect_value(&fw, FwReg::PsciVersion, value, &format!("after writing {name}"))?;
        let [a0, ..] = run_calls(vm.vcpu(0), 1)?[0];
        ensure!(a0 == value, "guest PSCI_VERSION with register {name}: expected {value:#x}, got {a0:#x}");
        Ok(())
    }

    fn psci_invalid() -> Result<()> {
        let mut vm = idle_vm()?;
        let fw = vm.fw_regs();
        let before = fw.get(FwReg::PsciVersion)?;
        // KVM_ARM_PSCI_0_1 is for vCPUs without KVM_ARM_VCPU_PSCI_0_2 only.
        expect_write(&fw, FwReg::PsciVersion, KVM_ARM_PSCI_0_1, Err(EINVAL))?;
        for &v in INVALID_PSCI_VERSIONS {
            expect_write(&fw, FwReg::PsciVersion, v, Err(EINVAL))?;
        }
        expect_value(&fw, FwReg::PsciVersion, before, "after the refused writes")
    }

    /// A vCPU initialised without KVM_ARM_VCPU_PSCI_0_2 has PSCI 0.1, which
    /// it may set, and no 0.2+ version; its guest has no PSCI_VERSION call
    /// (PSCI 0.1 predates it): the call is NOT_SUPPORTED.
    fn psci_0_1() -> Result<()> {
        let rows = [hvc(PSCI_0_2_FN_PSCI_VERSION, 0)];
        let mut vm = calls_vm_with(SMCCC_CALLS, 1, &rows, Arm64Options { psci: Psci::V0_1 })?;
        let fw = vm.fw_regs();
        expect_value(&fw, FwReg::PsciVersion, KVM_ARM_PSCI_0_1, "without KVM_ARM_VCPU_PSCI_0_2")?;
        expect_write(&fw, FwReg::PsciVersion, KVM_ARM_PSCI_0_1, Ok(()))?;
        for &(_, v) in PSCI_VERSIONS {
            expect_write(&fw, FwReg::PsciVersion, v, Err(EINVAL))?;
        }
        let [a0, ..] = run_calls(vm.vcpu(0), 1)?[0];
        ensure!(
            a0 == PSCI_RET_NOT_SUPPORTED,
            "guest PSCI_VERSION with register KVM_ARM_PSCI_0_1: expected NOT_SUPPORTED, got {a0:#x}"
        );
        Ok(())
    }
}
