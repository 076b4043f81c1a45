//! reg_list: KVM_GET_REG_LIST regressions, the kernel's get-reg-list selftest
//! (Linux 6.12: tools/testing/selftests/kvm/get-reg-list.c, the shared part,
//! with aarch64/get-reg-list.c; Linux 6.1: aarch64/get-reg-list.c). Each vCPU
//! configuration upstream runs is one trial, `reg_list::<config>` with
//! upstream's config name (`vregs`, `vregs+pmu`, `sve`, `sve+pmu`,
//! `vregs+pauth_address+pauth_generic`, `...+pmu`): skipped only when
//! /dev/kvm lacks the capability of a feature (CPU features, not series
//! ones), then KVM_ARM_VCPU_INIT with the features, KVM_ARM_VCPU_FINALIZE for
//! SVE, GET of every register and SET of the value just read (KVM_REG_ARM64_
//! SVE_VLS must be refused with EPERM after finalize), and the list against
//! the blessed lists of the running kernel's series: a blessed register
//! missing fails; a listed register that is not blessed is reported and
//! passes, as upstream (neither 6.1 nor 6.12 has an option that fails on new
//! registers: "we allow the newer kernel ... to list new registers").
//!
//! The blessed tables below are upstream's, converted once from the C
//! (`ARM64_SYS_REG(...)` -> `sys_reg!(...)`, names kept as comments).
//!
//! Also the firmware pseudo-registers kvmtest names (`reg_list::<FW_REG>`):
//! each the running series has is listed and readable; one it lacks is
//! unlisted and ENOENT, then skipped naming the series; every listed
//! firmware register is one kvmtest knows.

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::fw_regs::*;
    use kvmtest::aarch64::reg_list::*;
    use kvmtest::aarch64::smccc::calls_vm;
    use kvmtest::bare_vm::{BareVcpu, BareVm};
    use kvmtest::series::{GetRegList, Series};
    use kvmtest::{bail, ensure, runner, Error, Result};
    use kvmtest_tests::payloads::SMCCC_CALLS;

    /// `ARM64_SYS_REG(op0, op1, crn, crm, op2)`.
    macro_rules! sys_reg {
        ($op0:expr, $op1:expr, $crn:expr, $crm:expr, $op2:expr) => {
            arm64_sys_reg($op0, $op1, $crn, $crm, $op2)
        };
    }

    /// `KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(field)`.
    macro_rules! core_reg {
        ($size:ident, $($field:tt)+) => {
            KVM_REG_ARM64 | $size | KVM_REG_ARM_CORE | kvmtest::kvm_reg_arm_core_reg!($($field)+)
        };
    }

    use libc::ENOENT;
    const EPERM: i32 = libc::EPERM;

    pub fn trials() -> Vec<runner::Trial> {
        let mut t: Vec<runner::Trial> = CONFIGS
            .iter()
            .map(|&config| runner::test(format!("reg_list::{}", config_name(config)), move || run_test(config)))
            .collect();
        t.extend(FwReg::ALL.iter().map(|&reg| runner::test(format!("reg_list::{reg}"), move || listed(reg))));
        t.push(runner::test("reg_list::every_listed_fw_reg_is_known", every_listed_is_known));
        t
    }

    /// One `struct vcpu_reg_sublist` of upstream: a feature's registers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Sublist {
        Base,
        Vregs,
        Pmu,
        Sve,
        PauthAddress,
        PauthGeneric,
    }

    impl Sublist {
        fn name(self) -> &'static str {
            match self {
                Sublist::Base => "base",
                Sublist::Vregs => "vregs",
                Sublist::Pmu => "pmu",
                Sublist::Sve => "sve",
                Sublist::PauthAddress => "pauth_address",
                Sublist::PauthGeneric => "pauth_generic",
            }
        }

        /// `.feature` (with its `.capability`).
        fn feature(self) -> Option<VcpuFeature> {
            match self {
                Sublist::Base | Sublist::Vregs => None,
                Sublist::Pmu => Some(VcpuFeature::PmuV3),
                Sublist::Sve => Some(VcpuFeature::Sve),
                Sublist::PauthAddress => Some(VcpuFeature::PtrauthAddress),
                Sublist::PauthGeneric => Some(VcpuFeature::PtrauthGeneric),
            }
        }

        /// `.finalize`: KVM_ARM_VCPU_FINALIZE(feature) before the test.
        fn finalize(self) -> bool {
            self == Sublist::Sve
        }

        /// `.regs`: the blessed registers, per get-reg-list revision.
        fn regs(self, rev: GetRegList) -> &'static [u64] {
            match (self, rev) {
                (Sublist::Base, GetRegList::Linux6_1) => BASE_REGS_6_1,
                (Sublist::Base, GetRegList::Linux6_12) => BASE_REGS_6_12,
                (Sublist::Vregs, _) => VREGS,
                (Sublist::Pmu, _) => PMU_REGS,
                (Sublist::Sve, _) => SVE_REGS,
                (Sublist::PauthAddress, _) => PAUTH_ADDR_REGS,
                (Sublist::PauthGeneric, _) => PAUTH_GENERIC_REGS,
            }
        }

        /// `.rejects_set`: registers whose SET must fail (with EPERM: `check_reject_set()`).
        fn rejects_set(self) -> &'static [u64] {
            match self {
                Sublist::Sve => SVE_REJECTS_SET,
                _ => &[],
            }
        }
    }

    /// `vcpu_configs[]`, in upstream's order.
    const CONFIGS: &[&[Sublist]] = {
        use Sublist::*;
        &[
            &[Base, Vregs],
            &[Base, Vregs, Pmu],
            &[Base, Sve],
            &[Base, Sve, Pmu],
            &[Base, Vregs, PauthAddress, PauthGeneric],
            &[Base, Vregs, PauthAddress, PauthGeneric, Pmu],
        ]
    };

    /// `config_name()`: the sublists but "base", joined by '+'.
    fn config_name(config: &[Sublist]) -> String {
        config.iter().filter(|s| **s != Sublist::Base).map(|s| s.name()).collect::<Vec<_>>().join("+")
    }

    /// Linux 6.12's `feat_id_regs[]`: blessed registers that exist only when
    /// an ID register field says the CPU has the feature.
    struct FeatIdReg {
        reg: u64,
        id_reg: u64,
        feat_shift: u32,
        feat_min: u64,
    }

    const FEAT_ID_REGS: &[FeatIdReg] = &[
        FeatIdReg { reg: sys_reg!(3, 0, 2, 0, 3), id_reg: sys_reg!(3, 0, 0, 7, 3), feat_shift: 0, feat_min: 1 }, // TCR2_EL1, ID_AA64MMFR3_EL1
        FeatIdReg { reg: sys_reg!(3, 0, 10, 2, 2), id_reg: sys_reg!(3, 0, 0, 7, 3), feat_shift: 8, feat_min: 1 }, // PIRE0_EL1, ID_AA64MMFR3_EL1
        FeatIdReg { reg: sys_reg!(3, 0, 10, 2, 3), id_reg: sys_reg!(3, 0, 0, 7, 3), feat_shift: 8, feat_min: 1 }, // PIR_EL1, ID_AA64MMFR3_EL1
        FeatIdReg { reg: sys_reg!(3, 0, 10, 2, 4), id_reg: sys_reg!(3, 0, 0, 7, 3), feat_shift: 16, feat_min: 1 }, // POR_EL1, ID_AA64MMFR3_EL1
        FeatIdReg { reg: sys_reg!(3, 3, 10, 2, 4), id_reg: sys_reg!(3, 0, 0, 7, 3), feat_shift: 16, feat_min: 1 }, // POR_EL0, ID_AA64MMFR3_EL1
    ];

    /// `check_supported_reg()`: whether a blessed register must be listed on
    /// this vCPU (6.12: not a `feat_id_regs[]` one whose feature the vCPU lacks).
    fn check_supported_reg(rev: GetRegList, vcpu: &BareVcpu, reg: u64) -> bool {
        if rev == GetRegList::Linux6_1 {
            return true;
        }
        let Some(f) = FEAT_ID_REGS.iter().find(|f| f.reg == reg) else { return true };
        match vcpu.get_one_reg(f.id_reg) {
            Ok(data) => {
                let data = u64::from_le_bytes(data[..8].try_into().expect("an ARM64_SYS_REG is 8 bytes"));
                (data >> f.feat_shift) & 0xf >= f.feat_min
            }
            Err(_) => false,
        }
    }

    /// An errno as the kernel headers name it.
    fn errno_name(errno: i32) -> String {
        match errno {
            libc::EPERM => "EPERM".into(),
            libc::ENOENT => "ENOENT".into(),
            libc::EINVAL => "EINVAL".into(),
            libc::EBUSY => "EBUSY".into(),
            libc::E2BIG => "E2BIG".into(),
            libc::ENOEXEC => "ENOEXEC".into(),
            libc::EFAULT => "EFAULT".into(),
            other => format!("errno {other}"),
        }
    }

    fn describe(r: &Result<()>) -> String {
        match r {
            Ok(()) => "Ok".into(),
            Err(e) => match e.errno() {
                Some(errno) => format!("{} ({e})", errno_name(errno)),
                None => e.to_string(),
            },
        }
    }

    /// get-reg-list's `run_test()` for one configuration.
    fn run_test(config: &'static [Sublist]) -> Result<()> {
        let name = config_name(config);
        let series = Series::running()?;
        let Some(rev) = series.get_reg_list() else {
            return Err(Error::Skip(format!(
                "kvmtest has get-reg-list's blessed lists for Linux 6.1 and later (this kernel is Linux {series})"
            )));
        };
        // check_supported(): the features are the CPU's, so /dev/kvm says.
        for f in config.iter().filter_map(|s| s.feature()) {
            f.require()?;
        }
        let features: Vec<VcpuFeature> = config.iter().filter_map(|s| s.feature()).collect();
        let vm = BareVm::with_vcpu(&features)?;
        let vcpu = vm.vcpu(0)?;
        for s in config.iter().filter(|s| s.finalize()) {
            if let Some(f) = s.feature() {
                vcpu.finalize(f)?;
            }
        }
        let list = vcpu.reg_list()?;
        let blessed: Vec<u64> = config.iter().flat_map(|s| s.regs(rev)).copied().collect();

        let mut failures = Vec::new();
        // 6.1 GETs and SETs every listed register; 6.12 only the blessed ones
        // listed ("we don't know the capabilities of any new registers").
        let tested = list.iter().copied().filter(|id| rev == GetRegList::Linux6_1 || blessed.contains(id));
        for id in tested {
            let reg = reg_name(id);
            let value = match vcpu.get_one_reg(id) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{reg}: KVM_GET_ONE_REG: expected Ok, got {}", describe(&Err(e))));
                    continue;
                }
            };
            let set = vcpu.set_one_reg(id, &value);
            if config.iter().any(|s| s.rejects_set().contains(&id)) {
                if !matches!(&set, Err(e) if e.errno() == Some(EPERM)) {
                    failures.push(format!(
                        "{reg}: KVM_SET_ONE_REG of a rejects_set register (after KVM_ARM_VCPU_FINALIZE): expected {}, got {}",
                        errno_name(EPERM),
                        describe(&set)
                    ));
                }
            } else if set.is_err() {
                failures.push(format!(
                    "{reg}: KVM_SET_ONE_REG of the value just read: expected Ok, got {}",
                    describe(&set)
                ));
            }
        }

        let new: Vec<u64> = list.iter().copied().filter(|id| !is_demux_reg(*id) && !blessed.contains(id)).collect();
        let missing: Vec<u64> =
            blessed.iter().copied().filter(|id| !list.contains(id) && check_supported_reg(rev, vcpu, *id)).collect();
        if !new.is_empty() {
            let lines: Vec<String> = new.iter().map(|id| format!("\t{},", reg_name(*id))).collect();
            runner::announce(format!(
                "{name}: There are {} new registers (not blessed by Linux {series}'s get-reg-list; reported, not failed, as upstream):\n{}",
                new.len(),
                lines.join("\n")
            ));
        }
        for id in &missing {
            failures.push(format!(
                "{}: blessed for Linux {series} (get-reg-list's {rev:?} list), expected in KVM_GET_REG_LIST, missing",
                reg_name(*id)
            ));
        }
        ensure!(
            failures.is_empty(),
            "{name}: {} blessed registers, {} listed; {} missing, {} failures in all:\n{}",
            blessed.len(),
            list.len(),
            missing.len(),
            failures.len(),
            failures.join("\n")
        );
        Ok(())
    }

    /// The series' kvm_arm_fw_reg_ids[] (arch/arm64/kvm/hypercalls.c, 6.12:383-391, 6.1:231-239)
    /// says which firmware registers KVM_GET_REG_LIST lists
    /// (kvm_arm_copy_fw_reg_indices()); each row of `FwReg::feature()` says since when.
    fn listed(reg: FwReg) -> Result<()> {
        let in_series = reg.feature().require();
        let mut vm = calls_vm(SMCCC_CALLS, 1, &[])?;
        let fw = vm.fw_regs();
        let ids = fw.listed_ids()?;
        let series = Series::running()?;
        if ids.contains(&reg.id()) {
            ensure!(
                in_series.is_ok(),
                "{} ({:#x}): expected unlisted on Linux {series}, which lacks it, got it in KVM_GET_REG_LIST",
                reg.name(),
                reg.id()
            );
            fw.get(reg)?;
            return Ok(());
        }
        ensure!(
            in_series.is_err(),
            "{} ({:#x}): expected in KVM_GET_REG_LIST (Linux {series} has it), missing",
            reg.name(),
            reg.id()
        );
        match fw.get(reg) {
            Err(e @ Error::Kvm { .. }) if e.errno() == Some(ENOENT) => {}
            other => bail!("{reg} is not listed: expected ENOENT on read, got {other:?}"),
        }
        in_series
    }

    fn every_listed_is_known() -> Result<()> {
        let mut vm = calls_vm(SMCCC_CALLS, 1, &[])?;
        let fw = vm.fw_regs();
        let ids = fw.listed_ids()?;
        ensure!(!ids.is_empty(), "KVM_GET_REG_LIST lists no firmware register");
        for id in ids {
            ensure!(
                FwReg::from_id(id).is_some(),
                "KVM_GET_REG_LIST lists firmware register {id:#x}, unknown to kvmtest: name it in harness/src/kvm_api/aarch64/fw_regs.rs"
            );
            fw.get_raw(id)?;
        }
        Ok(())
    }

    /// `base_regs[]` of Linux 6.1 ("up to date with kernel version v5.13-rc3") (Linux 6.1 tools/testing/selftests/kvm/aarch64/get-reg-list.c:656).
    const BASE_REGS_6_1: &[u64] = &[
        core_reg!(KVM_REG_SIZE_U64, regs.regs[0]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[1]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[2]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[3]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[4]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[5]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[6]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[7]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[8]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[9]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[10]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[11]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[12]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[13]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[14]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[15]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[16]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[17]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[18]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[19]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[20]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[21]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[22]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[23]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[24]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[25]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[26]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[27]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[28]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[29]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[30]),
        core_reg!(KVM_REG_SIZE_U64, regs.sp),
        core_reg!(KVM_REG_SIZE_U64, regs.pc),
        core_reg!(KVM_REG_SIZE_U64, regs.pstate),
        core_reg!(KVM_REG_SIZE_U64, sp_el1),
        core_reg!(KVM_REG_SIZE_U64, elr_el1),
        core_reg!(KVM_REG_SIZE_U64, spsr[0]),
        core_reg!(KVM_REG_SIZE_U64, spsr[1]),
        core_reg!(KVM_REG_SIZE_U64, spsr[2]),
        core_reg!(KVM_REG_SIZE_U64, spsr[3]),
        core_reg!(KVM_REG_SIZE_U64, spsr[4]),
        core_reg!(KVM_REG_SIZE_U32, fp_regs.fpsr),
        core_reg!(KVM_REG_SIZE_U32, fp_regs.fpcr),
        kvm_reg_arm_fw_reg(0),           // KVM_REG_ARM_PSCI_VERSION
        kvm_reg_arm_fw_reg(1),           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1
        kvm_reg_arm_fw_reg(2),           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2
        kvm_reg_arm_fw_reg(3),           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3
        kvm_reg_arm_fw_feat_bmap_reg(0), // KVM_REG_ARM_STD_BMAP
        kvm_reg_arm_fw_feat_bmap_reg(1), // KVM_REG_ARM_STD_HYP_BMAP
        kvm_reg_arm_fw_feat_bmap_reg(2), // KVM_REG_ARM_VENDOR_HYP_BMAP
        sys_reg!(3, 3, 14, 3, 1),        // CNTV_CTL_EL0
        sys_reg!(3, 3, 14, 3, 2),        // CNTV_CVAL_EL0
        sys_reg!(3, 3, 14, 0, 2),
        sys_reg!(3, 0, 0, 0, 0), // MIDR_EL1
        sys_reg!(3, 0, 0, 0, 6), // REVIDR_EL1
        sys_reg!(3, 1, 0, 0, 1), // CLIDR_EL1
        sys_reg!(3, 1, 0, 0, 7), // AIDR_EL1
        sys_reg!(3, 3, 0, 0, 1), // CTR_EL0
        sys_reg!(2, 0, 0, 0, 4),
        sys_reg!(2, 0, 0, 0, 5),
        sys_reg!(2, 0, 0, 0, 6),
        sys_reg!(2, 0, 0, 0, 7),
        sys_reg!(2, 0, 0, 1, 4),
        sys_reg!(2, 0, 0, 1, 5),
        sys_reg!(2, 0, 0, 1, 6),
        sys_reg!(2, 0, 0, 1, 7),
        sys_reg!(2, 0, 0, 2, 0), // MDCCINT_EL1
        sys_reg!(2, 0, 0, 2, 2), // MDSCR_EL1
        sys_reg!(2, 0, 0, 2, 4),
        sys_reg!(2, 0, 0, 2, 5),
        sys_reg!(2, 0, 0, 2, 6),
        sys_reg!(2, 0, 0, 2, 7),
        sys_reg!(2, 0, 0, 3, 4),
        sys_reg!(2, 0, 0, 3, 5),
        sys_reg!(2, 0, 0, 3, 6),
        sys_reg!(2, 0, 0, 3, 7),
        sys_reg!(2, 0, 0, 4, 4),
        sys_reg!(2, 0, 0, 4, 5),
        sys_reg!(2, 0, 0, 4, 6),
        sys_reg!(2, 0, 0, 4, 7),
        sys_reg!(2, 0, 0, 5, 4),
        sys_reg!(2, 0, 0, 5, 5),
        sys_reg!(2, 0, 0, 5, 6),
        sys_reg!(2, 0, 0, 5, 7),
        sys_reg!(2, 0, 0, 6, 4),
        sys_reg!(2, 0, 0, 6, 5),
        sys_reg!(2, 0, 0, 6, 6),
        sys_reg!(2, 0, 0, 6, 7),
        sys_reg!(2, 0, 0, 7, 4),
        sys_reg!(2, 0, 0, 7, 5),
        sys_reg!(2, 0, 0, 7, 6),
        sys_reg!(2, 0, 0, 7, 7),
        sys_reg!(2, 0, 0, 8, 4),
        sys_reg!(2, 0, 0, 8, 5),
        sys_reg!(2, 0, 0, 8, 6),
        sys_reg!(2, 0, 0, 8, 7),
        sys_reg!(2, 0, 0, 9, 4),
        sys_reg!(2, 0, 0, 9, 5),
        sys_reg!(2, 0, 0, 9, 6),
        sys_reg!(2, 0, 0, 9, 7),
        sys_reg!(2, 0, 0, 10, 4),
        sys_reg!(2, 0, 0, 10, 5),
        sys_reg!(2, 0, 0, 10, 6),
        sys_reg!(2, 0, 0, 10, 7),
        sys_reg!(2, 0, 0, 11, 4),
        sys_reg!(2, 0, 0, 11, 5),
        sys_reg!(2, 0, 0, 11, 6),
        sys_reg!(2, 0, 0, 11, 7),
        sys_reg!(2, 0, 0, 12, 4),
        sys_reg!(2, 0, 0, 12, 5),
        sys_reg!(2, 0, 0, 12, 6),
        sys_reg!(2, 0, 0, 12, 7),
        sys_reg!(2, 0, 0, 13, 4),
        sys_reg!(2, 0, 0, 13, 5),
        sys_reg!(2, 0, 0, 13, 6),
        sys_reg!(2, 0, 0, 13, 7),
        sys_reg!(2, 0, 0, 14, 4),
        sys_reg!(2, 0, 0, 14, 5),
        sys_reg!(2, 0, 0, 14, 6),
        sys_reg!(2, 0, 0, 14, 7),
        sys_reg!(2, 0, 0, 15, 4),
        sys_reg!(2, 0, 0, 15, 5),
        sys_reg!(2, 0, 0, 15, 6),
        sys_reg!(2, 0, 0, 15, 7),
        sys_reg!(2, 0, 1, 1, 4), // OSLSR_EL1
        sys_reg!(2, 4, 0, 7, 0), // DBGVCR32_EL2
        sys_reg!(3, 0, 0, 0, 5), // MPIDR_EL1
        sys_reg!(3, 0, 0, 1, 0), // ID_PFR0_EL1
        sys_reg!(3, 0, 0, 1, 1), // ID_PFR1_EL1
        sys_reg!(3, 0, 0, 1, 2), // ID_DFR0_EL1
        sys_reg!(3, 0, 0, 1, 3), // ID_AFR0_EL1
        sys_reg!(3, 0, 0, 1, 4), // ID_MMFR0_EL1
        sys_reg!(3, 0, 0, 1, 5), // ID_MMFR1_EL1
        sys_reg!(3, 0, 0, 1, 6), // ID_MMFR2_EL1
        sys_reg!(3, 0, 0, 1, 7), // ID_MMFR3_EL1
        sys_reg!(3, 0, 0, 2, 0), // ID_ISAR0_EL1
        sys_reg!(3, 0, 0, 2, 1), // ID_ISAR1_EL1
        sys_reg!(3, 0, 0, 2, 2), // ID_ISAR2_EL1
        sys_reg!(3, 0, 0, 2, 3), // ID_ISAR3_EL1
        sys_reg!(3, 0, 0, 2, 4), // ID_ISAR4_EL1
        sys_reg!(3, 0, 0, 2, 5), // ID_ISAR5_EL1
        sys_reg!(3, 0, 0, 2, 6), // ID_MMFR4_EL1
        sys_reg!(3, 0, 0, 2, 7), // ID_ISAR6_EL1
        sys_reg!(3, 0, 0, 3, 0), // MVFR0_EL1
        sys_reg!(3, 0, 0, 3, 1), // MVFR1_EL1
        sys_reg!(3, 0, 0, 3, 2), // MVFR2_EL1
        sys_reg!(3, 0, 0, 3, 3),
        sys_reg!(3, 0, 0, 3, 4), // ID_PFR2_EL1
        sys_reg!(3, 0, 0, 3, 5), // ID_DFR1_EL1
        sys_reg!(3, 0, 0, 3, 6), // ID_MMFR5_EL1
        sys_reg!(3, 0, 0, 3, 7),
        sys_reg!(3, 0, 0, 4, 0), // ID_AA64PFR0_EL1
        sys_reg!(3, 0, 0, 4, 1), // ID_AA64PFR1_EL1
        sys_reg!(3, 0, 0, 4, 2),
        sys_reg!(3, 0, 0, 4, 3),
        sys_reg!(3, 0, 0, 4, 4), // ID_AA64ZFR0_EL1
        sys_reg!(3, 0, 0, 4, 5),
        sys_reg!(3, 0, 0, 4, 6),
        sys_reg!(3, 0, 0, 4, 7),
        sys_reg!(3, 0, 0, 5, 0), // ID_AA64DFR0_EL1
        sys_reg!(3, 0, 0, 5, 1), // ID_AA64DFR1_EL1
        sys_reg!(3, 0, 0, 5, 2),
        sys_reg!(3, 0, 0, 5, 3),
        sys_reg!(3, 0, 0, 5, 4), // ID_AA64AFR0_EL1
        sys_reg!(3, 0, 0, 5, 5), // ID_AA64AFR1_EL1
        sys_reg!(3, 0, 0, 5, 6),
        sys_reg!(3, 0, 0, 5, 7),
        sys_reg!(3, 0, 0, 6, 0), // ID_AA64ISAR0_EL1
        sys_reg!(3, 0, 0, 6, 1), // ID_AA64ISAR1_EL1
        sys_reg!(3, 0, 0, 6, 2),
        sys_reg!(3, 0, 0, 6, 3),
        sys_reg!(3, 0, 0, 6, 4),
        sys_reg!(3, 0, 0, 6, 5),
        sys_reg!(3, 0, 0, 6, 6),
        sys_reg!(3, 0, 0, 6, 7),
        sys_reg!(3, 0, 0, 7, 0), // ID_AA64MMFR0_EL1
        sys_reg!(3, 0, 0, 7, 1), // ID_AA64MMFR1_EL1
        sys_reg!(3, 0, 0, 7, 2), // ID_AA64MMFR2_EL1
        sys_reg!(3, 0, 0, 7, 3),
        sys_reg!(3, 0, 0, 7, 4),
        sys_reg!(3, 0, 0, 7, 5),
        sys_reg!(3, 0, 0, 7, 6),
        sys_reg!(3, 0, 0, 7, 7),
        sys_reg!(3, 0, 1, 0, 0),  // SCTLR_EL1
        sys_reg!(3, 0, 1, 0, 1),  // ACTLR_EL1
        sys_reg!(3, 0, 1, 0, 2),  // CPACR_EL1
        sys_reg!(3, 0, 2, 0, 0),  // TTBR0_EL1
        sys_reg!(3, 0, 2, 0, 1),  // TTBR1_EL1
        sys_reg!(3, 0, 2, 0, 2),  // TCR_EL1
        sys_reg!(3, 0, 5, 1, 0),  // AFSR0_EL1
        sys_reg!(3, 0, 5, 1, 1),  // AFSR1_EL1
        sys_reg!(3, 0, 5, 2, 0),  // ESR_EL1
        sys_reg!(3, 0, 6, 0, 0),  // FAR_EL1
        sys_reg!(3, 0, 7, 4, 0),  // PAR_EL1
        sys_reg!(3, 0, 10, 2, 0), // MAIR_EL1
        sys_reg!(3, 0, 10, 3, 0), // AMAIR_EL1
        sys_reg!(3, 0, 12, 0, 0), // VBAR_EL1
        sys_reg!(3, 0, 12, 1, 1), // DISR_EL1
        sys_reg!(3, 0, 13, 0, 1), // CONTEXTIDR_EL1
        sys_reg!(3, 0, 13, 0, 4), // TPIDR_EL1
        sys_reg!(3, 0, 14, 1, 0), // CNTKCTL_EL1
        sys_reg!(3, 2, 0, 0, 0),  // CSSELR_EL1
        sys_reg!(3, 3, 13, 0, 2), // TPIDR_EL0
        sys_reg!(3, 3, 13, 0, 3), // TPIDRRO_EL0
        sys_reg!(3, 4, 3, 0, 0),  // DACR32_EL2
        sys_reg!(3, 4, 5, 0, 1),  // IFSR32_EL2
        sys_reg!(3, 4, 5, 3, 0),  // FPEXC32_EL2
    ];

    /// `base_regs[]` of Linux 6.12 ("up to date with kernel version v6.4") (Linux 6.12 tools/testing/selftests/kvm/aarch64/get-reg-list.c:284).
    const BASE_REGS_6_12: &[u64] = &[
        core_reg!(KVM_REG_SIZE_U64, regs.regs[0]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[1]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[2]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[3]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[4]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[5]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[6]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[7]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[8]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[9]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[10]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[11]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[12]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[13]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[14]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[15]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[16]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[17]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[18]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[19]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[20]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[21]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[22]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[23]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[24]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[25]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[26]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[27]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[28]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[29]),
        core_reg!(KVM_REG_SIZE_U64, regs.regs[30]),
        core_reg!(KVM_REG_SIZE_U64, regs.sp),
        core_reg!(KVM_REG_SIZE_U64, regs.pc),
        core_reg!(KVM_REG_SIZE_U64, regs.pstate),
        core_reg!(KVM_REG_SIZE_U64, sp_el1),
        core_reg!(KVM_REG_SIZE_U64, elr_el1),
        core_reg!(KVM_REG_SIZE_U64, spsr[0]),
        core_reg!(KVM_REG_SIZE_U64, spsr[1]),
        core_reg!(KVM_REG_SIZE_U64, spsr[2]),
        core_reg!(KVM_REG_SIZE_U64, spsr[3]),
        core_reg!(KVM_REG_SIZE_U64, spsr[4]),
        core_reg!(KVM_REG_SIZE_U32, fp_regs.fpsr),
        core_reg!(KVM_REG_SIZE_U32, fp_regs.fpcr),
        kvm_reg_arm_fw_reg(0),           // KVM_REG_ARM_PSCI_VERSION
        kvm_reg_arm_fw_reg(1),           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1
        kvm_reg_arm_fw_reg(2),           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2
        kvm_reg_arm_fw_reg(3),           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3
        kvm_reg_arm_fw_feat_bmap_reg(0), // KVM_REG_ARM_STD_BMAP
        kvm_reg_arm_fw_feat_bmap_reg(1), // KVM_REG_ARM_STD_HYP_BMAP
        kvm_reg_arm_fw_feat_bmap_reg(2), // KVM_REG_ARM_VENDOR_HYP_BMAP
        sys_reg!(3, 3, 14, 3, 1),        // CNTV_CTL_EL0
        sys_reg!(3, 3, 14, 3, 2),        // CNTV_CVAL_EL0
        sys_reg!(3, 3, 14, 0, 2),
        sys_reg!(3, 0, 0, 0, 0), // MIDR_EL1
        sys_reg!(3, 0, 0, 0, 6), // REVIDR_EL1
        sys_reg!(3, 1, 0, 0, 1), // CLIDR_EL1
        sys_reg!(3, 1, 0, 0, 7), // AIDR_EL1
        sys_reg!(3, 3, 0, 0, 1), // CTR_EL0
        sys_reg!(2, 0, 0, 0, 4),
        sys_reg!(2, 0, 0, 0, 5),
        sys_reg!(2, 0, 0, 0, 6),
        sys_reg!(2, 0, 0, 0, 7),
        sys_reg!(2, 0, 0, 1, 4),
        sys_reg!(2, 0, 0, 1, 5),
        sys_reg!(2, 0, 0, 1, 6),
        sys_reg!(2, 0, 0, 1, 7),
        sys_reg!(2, 0, 0, 2, 0), // MDCCINT_EL1
        sys_reg!(2, 0, 0, 2, 2), // MDSCR_EL1
        sys_reg!(2, 0, 0, 2, 4),
        sys_reg!(2, 0, 0, 2, 5),
        sys_reg!(2, 0, 0, 2, 6),
        sys_reg!(2, 0, 0, 2, 7),
        sys_reg!(2, 0, 0, 3, 4),
        sys_reg!(2, 0, 0, 3, 5),
        sys_reg!(2, 0, 0, 3, 6),
        sys_reg!(2, 0, 0, 3, 7),
        sys_reg!(2, 0, 0, 4, 4),
        sys_reg!(2, 0, 0, 4, 5),
        sys_reg!(2, 0, 0, 4, 6),
        sys_reg!(2, 0, 0, 4, 7),
        sys_reg!(2, 0, 0, 5, 4),
        sys_reg!(2, 0, 0, 5, 5),
        sys_reg!(2, 0, 0, 5, 6),
        sys_reg!(2, 0, 0, 5, 7),
        sys_reg!(2, 0, 0, 6, 4),
        sys_reg!(2, 0, 0, 6, 5),
        sys_reg!(2, 0, 0, 6, 6),
        sys_reg!(2, 0, 0, 6, 7),
        sys_reg!(2, 0, 0, 7, 4),
        sys_reg!(2, 0, 0, 7, 5),
        sys_reg!(2, 0, 0, 7, 6),
        sys_reg!(2, 0, 0, 7, 7),
        sys_reg!(2, 0, 0, 8, 4),
        sys_reg!(2, 0, 0, 8, 5),
        sys_reg!(2, 0, 0, 8, 6),
        sys_reg!(2, 0, 0, 8, 7),
        sys_reg!(2, 0, 0, 9, 4),
        sys_reg!(2, 0, 0, 9, 5),
        sys_reg!(2, 0, 0, 9, 6),
        sys_reg!(2, 0, 0, 9, 7),
        sys_reg!(2, 0, 0, 10, 4),
        sys_reg!(2, 0, 0, 10, 5),
        sys_reg!(2, 0, 0, 10, 6),
        sys_reg!(2, 0, 0, 10, 7),
        sys_reg!(2, 0, 0, 11, 4),
        sys_reg!(2, 0, 0, 11, 5),
        sys_reg!(2, 0, 0, 11, 6),
        sys_reg!(2, 0, 0, 11, 7),
        sys_reg!(2, 0, 0, 12, 4),
        sys_reg!(2, 0, 0, 12, 5),
        sys_reg!(2, 0, 0, 12, 6),
        sys_reg!(2, 0, 0, 12, 7),
        sys_reg!(2, 0, 0, 13, 4),
        sys_reg!(2, 0, 0, 13, 5),
        sys_reg!(2, 0, 0, 13, 6),
        sys_reg!(2, 0, 0, 13, 7),
        sys_reg!(2, 0, 0, 14, 4),
        sys_reg!(2, 0, 0, 14, 5),
        sys_reg!(2, 0, 0, 14, 6),
        sys_reg!(2, 0, 0, 14, 7),
        sys_reg!(2, 0, 0, 15, 4),
        sys_reg!(2, 0, 0, 15, 5),
        sys_reg!(2, 0, 0, 15, 6),
        sys_reg!(2, 0, 0, 15, 7),
        sys_reg!(2, 0, 1, 1, 4), // OSLSR_EL1
        sys_reg!(2, 4, 0, 7, 0), // DBGVCR32_EL2
        sys_reg!(3, 0, 0, 0, 5), // MPIDR_EL1
        sys_reg!(3, 0, 0, 1, 0), // ID_PFR0_EL1
        sys_reg!(3, 0, 0, 1, 1), // ID_PFR1_EL1
        sys_reg!(3, 0, 0, 1, 2), // ID_DFR0_EL1
        sys_reg!(3, 0, 0, 1, 3), // ID_AFR0_EL1
        sys_reg!(3, 0, 0, 1, 4), // ID_MMFR0_EL1
        sys_reg!(3, 0, 0, 1, 5), // ID_MMFR1_EL1
        sys_reg!(3, 0, 0, 1, 6), // ID_MMFR2_EL1
        sys_reg!(3, 0, 0, 1, 7), // ID_MMFR3_EL1
        sys_reg!(3, 0, 0, 2, 0), // ID_ISAR0_EL1
        sys_reg!(3, 0, 0, 2, 1), // ID_ISAR1_EL1
        sys_reg!(3, 0, 0, 2, 2), // ID_ISAR2_EL1
        sys_reg!(3, 0, 0, 2, 3), // ID_ISAR3_EL1
        sys_reg!(3, 0, 0, 2, 4), // ID_ISAR4_EL1
        sys_reg!(3, 0, 0, 2, 5), // ID_ISAR5_EL1
        sys_reg!(3, 0, 0, 2, 6), // ID_MMFR4_EL1
        sys_reg!(3, 0, 0, 2, 7), // ID_ISAR6_EL1
        sys_reg!(3, 0, 0, 3, 0), // MVFR0_EL1
        sys_reg!(3, 0, 0, 3, 1), // MVFR1_EL1
        sys_reg!(3, 0, 0, 3, 2), // MVFR2_EL1
        sys_reg!(3, 0, 0, 3, 3),
        sys_reg!(3, 0, 0, 3, 4), // ID_PFR2_EL1
        sys_reg!(3, 0, 0, 3, 5), // ID_DFR1_EL1
        sys_reg!(3, 0, 0, 3, 6), // ID_MMFR5_EL1
        sys_reg!(3, 0, 0, 3, 7),
        sys_reg!(3, 0, 0, 4, 0), // ID_AA64PFR0_EL1
        sys_reg!(3, 0, 0, 4, 1), // ID_AA64PFR1_EL1
        sys_reg!(3, 0, 0, 4, 2), // ID_AA64PFR2_EL1
        sys_reg!(3, 0, 0, 4, 3),
        sys_reg!(3, 0, 0, 4, 4), // ID_AA64ZFR0_EL1
        sys_reg!(3, 0, 0, 4, 5), // ID_AA64SMFR0_EL1
        sys_reg!(3, 0, 0, 4, 6),
        sys_reg!(3, 0, 0, 4, 7),
        sys_reg!(3, 0, 0, 5, 0), // ID_AA64DFR0_EL1
        sys_reg!(3, 0, 0, 5, 1), // ID_AA64DFR1_EL1
        sys_reg!(3, 0, 0, 5, 2),
        sys_reg!(3, 0, 0, 5, 3),
        sys_reg!(3, 0, 0, 5, 4), // ID_AA64AFR0_EL1
        sys_reg!(3, 0, 0, 5, 5), // ID_AA64AFR1_EL1
        sys_reg!(3, 0, 0, 5, 6),
        sys_reg!(3, 0, 0, 5, 7),
        sys_reg!(3, 0, 0, 6, 0), // ID_AA64ISAR0_EL1
        sys_reg!(3, 0, 0, 6, 1), // ID_AA64ISAR1_EL1
        sys_reg!(3, 0, 0, 6, 2), // ID_AA64ISAR2_EL1
        sys_reg!(3, 0, 0, 6, 3),
        sys_reg!(3, 0, 0, 6, 4),
        sys_reg!(3, 0, 0, 6, 5),
        sys_reg!(3, 0, 0, 6, 6),
        sys_reg!(3, 0, 0, 6, 7),
        sys_reg!(3, 0, 0, 7, 0), // ID_AA64MMFR0_EL1
        sys_reg!(3, 0, 0, 7, 1), // ID_AA64MMFR1_EL1
        sys_reg!(3, 0, 0, 7, 2), // ID_AA64MMFR2_EL1
        sys_reg!(3, 0, 0, 7, 3), // ID_AA64MMFR3_EL1
        sys_reg!(3, 0, 0, 7, 4), // ID_AA64MMFR4_EL1
        sys_reg!(3, 0, 0, 7, 5),
        sys_reg!(3, 0, 0, 7, 6),
        sys_reg!(3, 0, 0, 7, 7),
        sys_reg!(3, 0, 1, 0, 0),  // SCTLR_EL1
        sys_reg!(3, 0, 1, 0, 1),  // ACTLR_EL1
        sys_reg!(3, 0, 1, 0, 2),  // CPACR_EL1
        sys_reg!(3, 0, 2, 0, 0),  // TTBR0_EL1
        sys_reg!(3, 0, 2, 0, 1),  // TTBR1_EL1
        sys_reg!(3, 0, 2, 0, 2),  // TCR_EL1
        sys_reg!(3, 0, 2, 0, 3),  // TCR2_EL1
        sys_reg!(3, 0, 5, 1, 0),  // AFSR0_EL1
        sys_reg!(3, 0, 5, 1, 1),  // AFSR1_EL1
        sys_reg!(3, 0, 5, 2, 0),  // ESR_EL1
        sys_reg!(3, 0, 6, 0, 0),  // FAR_EL1
        sys_reg!(3, 0, 7, 4, 0),  // PAR_EL1
        sys_reg!(3, 0, 10, 2, 0), // MAIR_EL1
        sys_reg!(3, 0, 10, 2, 2), // PIRE0_EL1
        sys_reg!(3, 0, 10, 2, 3), // PIR_EL1
        sys_reg!(3, 0, 10, 2, 4), // POR_EL1
        sys_reg!(3, 0, 10, 3, 0), // AMAIR_EL1
        sys_reg!(3, 0, 12, 0, 0), // VBAR_EL1
        sys_reg!(3, 0, 12, 1, 1), // DISR_EL1
        sys_reg!(3, 0, 13, 0, 1), // CONTEXTIDR_EL1
        sys_reg!(3, 0, 13, 0, 4), // TPIDR_EL1
        sys_reg!(3, 0, 14, 1, 0), // CNTKCTL_EL1
        sys_reg!(3, 2, 0, 0, 0),  // CSSELR_EL1
        sys_reg!(3, 3, 10, 2, 4), // POR_EL0
        sys_reg!(3, 3, 13, 0, 2), // TPIDR_EL0
        sys_reg!(3, 3, 13, 0, 3), // TPIDRRO_EL0
        sys_reg!(3, 3, 14, 0, 1), // CNTPCT_EL0
        sys_reg!(3, 3, 14, 2, 1), // CNTP_CTL_EL0
        sys_reg!(3, 3, 14, 2, 2), // CNTP_CVAL_EL0
        sys_reg!(3, 4, 3, 0, 0),  // DACR32_EL2
        sys_reg!(3, 4, 5, 0, 1),  // IFSR32_EL2
        sys_reg!(3, 4, 5, 3, 0),  // FPEXC32_EL2
    ];

    /// `pmu_regs[]`, the same in Linux 6.1 (tools/testing/selftests/kvm/aarch64/get-reg-list.c:866) and 6.12 (:502).
    const PMU_REGS: &[u64] = &[
        sys_reg!(3, 0, 9, 14, 1), // PMINTENSET_EL1
        sys_reg!(3, 0, 9, 14, 2), // PMINTENCLR_EL1
        sys_reg!(3, 3, 9, 12, 0), // PMCR_EL0
        sys_reg!(3, 3, 9, 12, 1), // PMCNTENSET_EL0
        sys_reg!(3, 3, 9, 12, 2), // PMCNTENCLR_EL0
        sys_reg!(3, 3, 9, 12, 3), // PMOVSCLR_EL0
        sys_reg!(3, 3, 9, 12, 4), // PMSWINC_EL0
        sys_reg!(3, 3, 9, 12, 5), // PMSELR_EL0
        sys_reg!(3, 3, 9, 13, 0), // PMCCNTR_EL0
        sys_reg!(3, 3, 9, 14, 0), // PMUSERENR_EL0
        sys_reg!(3, 3, 9, 14, 3), // PMOVSSET_EL0
        sys_reg!(3, 3, 14, 8, 0),
        sys_reg!(3, 3, 14, 8, 1),
        sys_reg!(3, 3, 14, 8, 2),
        sys_reg!(3, 3, 14, 8, 3),
        sys_reg!(3, 3, 14, 8, 4),
        sys_reg!(3, 3, 14, 8, 5),
        sys_reg!(3, 3, 14, 8, 6),
        sys_reg!(3, 3, 14, 8, 7),
        sys_reg!(3, 3, 14, 9, 0),
        sys_reg!(3, 3, 14, 9, 1),
        sys_reg!(3, 3, 14, 9, 2),
        sys_reg!(3, 3, 14, 9, 3),
        sys_reg!(3, 3, 14, 9, 4),
        sys_reg!(3, 3, 14, 9, 5),
        sys_reg!(3, 3, 14, 9, 6),
        sys_reg!(3, 3, 14, 9, 7),
        sys_reg!(3, 3, 14, 10, 0),
        sys_reg!(3, 3, 14, 10, 1),
        sys_reg!(3, 3, 14, 10, 2),
        sys_reg!(3, 3, 14, 10, 3),
        sys_reg!(3, 3, 14, 10, 4),
        sys_reg!(3, 3, 14, 10, 5),
        sys_reg!(3, 3, 14, 10, 6),
        sys_reg!(3, 3, 14, 10, 7),
        sys_reg!(3, 3, 14, 11, 0),
        sys_reg!(3, 3, 14, 11, 1),
        sys_reg!(3, 3, 14, 11, 2),
        sys_reg!(3, 3, 14, 11, 3),
        sys_reg!(3, 3, 14, 11, 4),
        sys_reg!(3, 3, 14, 11, 5),
        sys_reg!(3, 3, 14, 11, 6),
        sys_reg!(3, 3, 14, 12, 0),
        sys_reg!(3, 3, 14, 12, 1),
        sys_reg!(3, 3, 14, 12, 2),
        sys_reg!(3, 3, 14, 12, 3),
        sys_reg!(3, 3, 14, 12, 4),
        sys_reg!(3, 3, 14, 12, 5),
        sys_reg!(3, 3, 14, 12, 6),
        sys_reg!(3, 3, 14, 12, 7),
        sys_reg!(3, 3, 14, 13, 0),
        sys_reg!(3, 3, 14, 13, 1),
        sys_reg!(3, 3, 14, 13, 2),
        sys_reg!(3, 3, 14, 13, 3),
        sys_reg!(3, 3, 14, 13, 4),
        sys_reg!(3, 3, 14, 13, 5),
        sys_reg!(3, 3, 14, 13, 6),
        sys_reg!(3, 3, 14, 13, 7),
        sys_reg!(3, 3, 14, 14, 0),
        sys_reg!(3, 3, 14, 14, 1),
        sys_reg!(3, 3, 14, 14, 2),
        sys_reg!(3, 3, 14, 14, 3),
        sys_reg!(3, 3, 14, 14, 4),
        sys_reg!(3, 3, 14, 14, 5),
        sys_reg!(3, 3, 14, 14, 6),
        sys_reg!(3, 3, 14, 14, 7),
        sys_reg!(3, 3, 14, 15, 0),
        sys_reg!(3, 3, 14, 15, 1),
        sys_reg!(3, 3, 14, 15, 2),
        sys_reg!(3, 3, 14, 15, 3),
        sys_reg!(3, 3, 14, 15, 4),
        sys_reg!(3, 3, 14, 15, 5),
        sys_reg!(3, 3, 14, 15, 6),
        sys_reg!(3, 3, 14, 15, 7), // PMCCFILTR_EL0
    ];

    /// `vregs[]`, the same in Linux 6.1 (tools/testing/selftests/kvm/aarch64/get-reg-list.c:943) and 6.12 (:579).
    const VREGS: &[u64] = &[
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[0]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[1]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[2]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[3]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[4]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[5]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[6]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[7]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[8]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[9]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[10]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[11]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[12]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[13]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[14]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[15]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[16]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[17]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[18]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[19]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[20]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[21]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[22]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[23]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[24]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[25]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[26]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[27]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[28]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[29]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[30]),
        core_reg!(KVM_REG_SIZE_U128, fp_regs.vregs[31]),
    ];

    /// `sve_regs[]`, the same in Linux 6.1 (tools/testing/selftests/kvm/aarch64/get-reg-list.c:978) and 6.12 (:614).
    const SVE_REGS: &[u64] = &[
        KVM_REG_ARM64_SVE_VLS,
        kvm_reg_arm64_sve_zreg(0, 0),
        kvm_reg_arm64_sve_zreg(1, 0),
        kvm_reg_arm64_sve_zreg(2, 0),
        kvm_reg_arm64_sve_zreg(3, 0),
        kvm_reg_arm64_sve_zreg(4, 0),
        kvm_reg_arm64_sve_zreg(5, 0),
        kvm_reg_arm64_sve_zreg(6, 0),
        kvm_reg_arm64_sve_zreg(7, 0),
        kvm_reg_arm64_sve_zreg(8, 0),
        kvm_reg_arm64_sve_zreg(9, 0),
        kvm_reg_arm64_sve_zreg(10, 0),
        kvm_reg_arm64_sve_zreg(11, 0),
        kvm_reg_arm64_sve_zreg(12, 0),
        kvm_reg_arm64_sve_zreg(13, 0),
        kvm_reg_arm64_sve_zreg(14, 0),
        kvm_reg_arm64_sve_zreg(15, 0),
        kvm_reg_arm64_sve_zreg(16, 0),
        kvm_reg_arm64_sve_zreg(17, 0),
        kvm_reg_arm64_sve_zreg(18, 0),
        kvm_reg_arm64_sve_zreg(19, 0),
        kvm_reg_arm64_sve_zreg(20, 0),
        kvm_reg_arm64_sve_zreg(21, 0),
        kvm_reg_arm64_sve_zreg(22, 0),
        kvm_reg_arm64_sve_zreg(23, 0),
        kvm_reg_arm64_sve_zreg(24, 0),
        kvm_reg_arm64_sve_zreg(25, 0),
        kvm_reg_arm64_sve_zreg(26, 0),
        kvm_reg_arm64_sve_zreg(27, 0),
        kvm_reg_arm64_sve_zreg(28, 0),
        kvm_reg_arm64_sve_zreg(29, 0),
        kvm_reg_arm64_sve_zreg(30, 0),
        kvm_reg_arm64_sve_zreg(31, 0),
        kvm_reg_arm64_sve_preg(0, 0),
        kvm_reg_arm64_sve_preg(1, 0),
        kvm_reg_arm64_sve_preg(2, 0),
        kvm_reg_arm64_sve_preg(3, 0),
        kvm_reg_arm64_sve_preg(4, 0),
        kvm_reg_arm64_sve_preg(5, 0),
        kvm_reg_arm64_sve_preg(6, 0),
        kvm_reg_arm64_sve_preg(7, 0),
        kvm_reg_arm64_sve_preg(8, 0),
        kvm_reg_arm64_sve_preg(9, 0),
        kvm_reg_arm64_sve_preg(10, 0),
        kvm_reg_arm64_sve_preg(11, 0),
        kvm_reg_arm64_sve_preg(12, 0),
        kvm_reg_arm64_sve_preg(13, 0),
        kvm_reg_arm64_sve_preg(14, 0),
        kvm_reg_arm64_sve_preg(15, 0),
        kvm_reg_arm64_sve_ffr(0),
        sys_reg!(3, 0, 1, 2, 0), // ZCR_EL1
    ];

    /// `sve_rejects_set[]`, the same in Linux 6.1 (tools/testing/selftests/kvm/aarch64/get-reg-list.c:1032) and 6.12 (:668).
    const SVE_REJECTS_SET: &[u64] = &[KVM_REG_ARM64_SVE_VLS];

    /// `pauth_addr_regs[]`, the same in Linux 6.1 (tools/testing/selftests/kvm/aarch64/get-reg-list.c:1036) and 6.12 (:672).
    const PAUTH_ADDR_REGS: &[u64] = &[
        sys_reg!(3, 0, 2, 1, 0), // APIAKEYLO_EL1
        sys_reg!(3, 0, 2, 1, 1), // APIAKEYHI_EL1
        sys_reg!(3, 0, 2, 1, 2), // APIBKEYLO_EL1
        sys_reg!(3, 0, 2, 1, 3), // APIBKEYHI_EL1
        sys_reg!(3, 0, 2, 2, 0), // APDAKEYLO_EL1
        sys_reg!(3, 0, 2, 2, 1), // APDAKEYHI_EL1
        sys_reg!(3, 0, 2, 2, 2), // APDBKEYLO_EL1
        sys_reg!(3, 0, 2, 2, 3), // APDBKEYHI_EL1
    ];

    /// `pauth_generic_regs[]`, the same in Linux 6.1 (tools/testing/selftests/kvm/aarch64/get-reg-list.c:1047) and 6.12 (:683).
    const PAUTH_GENERIC_REGS: &[u64] = &[
        sys_reg!(3, 0, 2, 3, 0), // APGAKEYLO_EL1
        sys_reg!(3, 0, 2, 3, 1), // APGAKEYHI_EL1
    ];
}
