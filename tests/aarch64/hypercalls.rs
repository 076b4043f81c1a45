//! hypercalls: the arm64 hypercall-service bitmaps (aarch64/hypercalls.c).
//!
//! The register interface: each bitmap's value at VM creation is the one the
//! running kernel's series pins (harness/src/series.rs: the full mask of the
//! known bits, or 0 for the opt-in VENDOR_HYP_BMAP_2), every bit the series
//! supports can be set, every other bit is EINVAL, every feature can be cleared
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
    use kvmtest::series::{self, FwBitmapRow, Series};
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

    /// PSCI_VERSION values no kernel series of series.rs implements.
    const INVALID_PSCI_VERSIONS: &[u64] = &[0, 3, psci_version(0, 3), psci_version(1, 4), psci_version(2, 0), u64::MAX];

    /// Every PSCI 0.2+ version some series accepts (name, value), one trial each.
    fn all_psci_versions() -> Vec<(&'static str, u64)> {
        let mut all: Vec<(&'static str, u64)> = Vec::new();
        for row in series::PSCI {
            for &v in row.writable {
                if !all.contains(&v) {
                    all.push(v);
                }
            }
        }
        all
    }

    /// The bitmap row the running series has for `reg`: a skip naming the
    /// series when it lacks the register.
    fn bitmap_row(reg: FwReg) -> Result<&'static FwBitmapRow> {
        reg.feature().require()?;
        let s = Series::running()?;
        reg.bitmap_in(s).ok_or_else(|| Error::Config(format!("series.rs has no FW_BITMAPS row of {reg} for Linux {s}")))
    }

    /// A bit that is off at VM creation in the newest series that has it (VENDOR_HYP_BMAP_2's).
    fn opt_in(bit: &FwBit) -> bool {
        series::FW_BITMAPS
            .iter()
            .filter(|r| Some(r.index) == bit.reg.bitmap_index())
            .max_by_key(|r| r.since)
            .is_some_and(|r| r.reset & bit.mask() == 0)
    }

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
            // Default-on bits are disabled alone; opt-in bits are enabled alone.
            let which = if opt_in(bit) { "enabled" } else { "disabled" };
            t.push(runner::test(format!("guest::only_{}_{which}", bit.short_name()), move || {
                guest_view(&format!("only {} {which}", bit.name), &[*bit], false)
            }));
        }
        t.push(runner::test("psci_version::default", psci_default));
        for (name, v) in all_psci_versions() {
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

    /// Skips when the running series lacks `reg` (naming the series), fails
    /// when the series has it and KVM_GET_REG_LIST does not list it; a
    /// register the series lacks must then answer ENOENT.
    fn require_reg(fw: &FwRegs<'_>, reg: FwReg) -> Result<()> {
        match fw.require(reg) {
            Err(Error::Skip(why)) => {
                let got = outcome(fw.get(reg).map(|_| ()))?;
                ensure!(
                    got == Err(ENOENT),
                    "{reg}, which this series lacks: expected ENOENT on read, got {}",
                    errno_name(&got)
                );
                Err(Error::Skip(why))
            }
            other => other,
        }
    }

    /// hypercalls.c's first read: the value at VM creation is the series'
    /// reset value (upstream: the full mask of the known bits; 7.x's
    /// VENDOR_HYP_BMAP_2: 0); the series' supported bits can all be set, and
    /// every other bit is refused with EINVAL.
    fn default_is_supported_set(reg: FwReg) -> Result<()> {
        let mut vm = idle_vm()?;
        let fw = vm.fw_regs();
        require_reg(&fw, reg)?;
        let row = bitmap_row(reg)?;
        let s = Series::running()?;
        expect_value(&fw, reg, row.reset, &format!("at VM creation on Linux {s}"))?;
        expect_write(&fw, reg, row.supported, Ok(()))?;
        expect_value(&fw, reg, row.supported, &format!("after setting every bit Linux {s} supports"))?;
        for bit in 0..64 {
            let b = 1u64 << bit;
            if row.supported & b == 0 {
                expect_write(&fw, reg, row.supported | b, Err(EINVAL))?;
                expect_value(&fw, reg, row.supported, &format!("after the refused write of bit {bit}"))?;
            }
        }
        expect_write(&fw, reg, row.reset, Ok(()))?;
        expect_value(&fw, reg, row.reset, "after writing the reset value back")
    }

    fn clear_all(reg: FwReg) -> Result<()> {
        let mut vm = idle_vm()?;
        let fw = vm.fw_regs();
        require_reg(&fw, reg)?;
        let default = bitmap_row(reg)?.reset;
        expect_value(&fw, reg, default, "at VM creation")?;
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
        let row = bitmap_row(reg)?;
        ensure!(row.supported & bit.mask() != 0, "{}: not a bit series.rs lists as supported", bit.name);
        let default = row.reset;
        expect_value(&fw, reg, default, "at VM creation")?;
        // A default-on bit is cleared and set again, an opt-in one set and cleared.
        let toggled = default ^ bit.mask();
        expect_write(&fw, reg, toggled, Ok(()))?;
        expect_value(&fw, reg, toggled, &format!("after toggling {}", bit.name))?;
        expect_write(&fw, reg, default, Ok(()))?;
        expect_value(&fw, reg, default, &format!("after toggling {} back", bit.name))
    }

    /// test_fw_regs_after_vm_start(): the bitmaps are frozen once a vCPU ran.
    fn after_first_run() -> Result<()> {
        let mut vm = idle_vm()?;
        let bitmaps = FwReg::bitmaps_of_running_series()?;
        {
            let fw = vm.fw_regs();
            for &(reg, _) in &bitmaps {
                require_reg(&fw, reg)?;
                expect_write(&fw, reg, 0, Ok(()))?;
            }
        }
        run_calls(vm.vcpu(0), 0)?;
        let fw = vm.fw_regs();
        for &(reg, row) in &bitmaps {
            expect_value(&fw, reg, 0, "after the first run")?;
            // Upstream writes FW_REG_ULIMIT_VAL: never 0, whatever the reset value.
            expect_write(&fw, reg, row.supported, Err(EBUSY))?;
            expect_write(&fw, reg, 0, Ok(()))?;
            expect_value(&fw, reg, 0, "after the refused write")?;
        }
        Ok(())
    }

    /// "Affects the whole VM (even if the register view is per-vcpu)": a
    /// write through vCPU 0 is what vCPU 1 reads.
    fn per_vm() -> Result<()> {
        let mut vm = calls_vm(SMCCC_CALLS, 2, &[])?;
        let mut writes = vec![(FwReg::PsciVersion, KVM_ARM_PSCI_0_2)];
        writes.extend(FwReg::bitmaps_of_running_series()?.iter().map(|&(r, row)| (r, row.supported ^ row.reset)));
        for (reg, value) in writes {
            require_reg(&vm.fw_regs(), reg)?;
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
            require_reg(&fw, reg)?;
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
    /// service disabled (`all_disabled`), or the series' defaults with the
    /// bits of `toggled` flipped (a default-on bit disabled, an opt-in bit
    /// enabled). Every bitmap the series has must start at its reset value.
    fn guest_view(stage: &str, toggled: &[FwBit], all_disabled: bool) -> Result<()> {
        let rows: Vec<SmcccCall> = HVC_INFO.iter().map(|s| s.call).collect();
        let mut vm = calls_vm(SMCCC_CALLS, 1, &rows)?;
        let steal_time = steal_time_init(&mut vm)?[0];
        let mut bitmaps = Vec::new();
        {
            let fw = vm.fw_regs();
            for bit in toggled {
                require_reg(&fw, bit.reg)?;
            }
            for (reg, row) in FwReg::bitmaps_of_running_series()? {
                require_reg(&fw, reg)?;
                expect_value(&fw, reg, row.reset, "at VM creation")?;
                let value = if all_disabled {
                    0
                } else {
                    toggled.iter().filter(|b| b.reg == reg).fold(row.reset, |v, b| v ^ b.mask())
                };
                fw.set(reg, value)?;
                bitmaps.push((reg, value));
            }
        }
        let value_of = |reg: FwReg| bitmaps.iter().find(|(r, _)| *r == reg).map(|(_, v)| *v).unwrap_or(0);
        let vendor = VendorBitmaps { bmap: value_of(FwReg::VendorHypBmap), bmap_2: value_of(FwReg::VendorHypBmap2) };
        let results = run_calls(vm.vcpu(0), rows.len())?;
        for (s, r) in HVC_INFO.iter().zip(results) {
            let enabled = value_of(s.bit.reg) & s.bit.mask() != 0;
            check_answer(stage, s, enabled, vendor, steal_time, r)?;
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

    /// On a PSCI 0.2 vCPU the PSCI_VERSION register starts at the series'
    /// KVM_ARM_PSCI_LATEST, and the guest's PSCI_VERSION call answers it.
    fn psci_default() -> Result<()> {
        let rows = [hvc(PSCI_0_2_FN_PSCI_VERSION, 0)];
        let mut vm = calls_vm(SMCCC_CALLS, 1, &rows)?;
        let (s, psci) = (Series::running()?, series::psci(Series::running()?)?);
        expect_value(&vm.fw_regs(), FwReg::PsciVersion, psci.default, &format!("at VM creation on Linux {s}"))?;
        let [a0, ..] = run_calls(vm.vcpu(0), 1)?[0];
        ensure!(a0 == psci.default, "guest PSCI_VERSION on Linux {s}: expected {:#x}, got {a0:#x}", psci.default);
        Ok(())
    }

    /// PSCI_VERSION register `value` is what the guest's PSCI_VERSION call
    /// returns, on a series that accepts it; a series that does not refuses
    /// it with EINVAL.
    fn psci_version_seen(name: &str, value: u64) -> Result<()> {
        let rows = [hvc(PSCI_0_2_FN_PSCI_VERSION, 0)];
        let mut vm = calls_vm(SMCCC_CALLS, 1, &rows)?;
        let (s, psci) = (Series::running()?, series::psci(Series::running()?)?);
        let fw = vm.fw_regs();
        expect_value(&fw, FwReg::PsciVersion, psci.default, &format!("at VM creation on Linux {s}"))?;
        if !psci.writable.iter().any(|&(_, v)| v == value) {
            expect_write(&fw, FwReg::PsciVersion, value, Err(EINVAL))?;
            return expect_value(&fw, FwReg::PsciVersion, psci.default, &format!("after the refused {name}"));
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
        // And the versions of newer series.
        let psci = series::psci(Series::running()?)?;
        for (_, v) in all_psci_versions() {
            if !psci.writable.iter().any(|&(_, w)| w == v) {
                expect_write(&fw, FwReg::PsciVersion, v, Err(EINVAL))?;
            }
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
        for (_, v) in all_psci_versions() {
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
