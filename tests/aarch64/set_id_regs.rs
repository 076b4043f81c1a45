//! set_id_regs: userspace writes to the feature ID registers (upstream
//! aarch64/set_id_regs.c of 6.12 and arm64/set_id_regs.c of 7.2; the
//! writable ID registers are Linux 6.7+, so on 6.1 every trial skips,
//! naming the series: harness/src/series.rs `Feature::WritableIdRegs`).
//!
//! `set_id_regs::<REG>::<FIELD>`, one per row of upstream's `ftr_*[]`
//! tables (the union of 6.12's and 7.2's), each on a new VM
//! (test_vm_ftr_id_regs(), one field): the field is covered by the
//! register's KVM_ARM_GET_REG_WRITABLE_MASKS mask; a value unsafe by the
//! field's ftr rule (FTR_LOWER_SAFE: one higher, FTR_HIGHER_SAFE: one lower,
//! FTR_EXACT: other than the safe value) is EINVAL and leaves the register
//! unchanged; a safe value (one lower, one higher, the exact value) is
//! accepted and read back. AArch32 registers (CRm < 4) skip on a CPU without
//! AArch32, where they are RAZ/WI, as upstream does. Which rows the running
//! series' KVM lets userspace write is series.rs `ID_REG_FIELDS`: a row
//! read-only there (6.12's TME from 7.2, ASIDBITS from 6.12 — the 6.12 tree's
//! test fails on its own kernel there —, 7.2's new rows before 7.2) is
//! checked read-only: not in the mask, a change EINVAL, the register kept.
//!
//! `set_id_regs::guest_reg_read_and_reset`: upstream's main() on one VM:
//! every field as above, cumulatively; CLIDR_EL1, CTR_EL0, MPIDR_EL1 set
//! (test_vcpu_ftr_id_regs()); from 7.2 MIDR_EL1, REVIDR_EL1, AIDR_EL1 set
//! under KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (test_vcpu_non_ftr_id_regs());
//! the guest reads each register and finds what userspace set
//! (test_guest_reg_read(), from 7.2 with the mutable GIC field masked);
//! KVM_ARM_VCPU_INIT (an architectural reset) keeps every value
//! (test_reset_preserves_id_regs()). `set_id_regs::user_set_mpam_reg` and
//! `::user_set_mte_reg`: 7.2's checks that the MPAM fields cannot be set
//! arbitrarily and that MTE_frac = 0 is accepted.
//! `set_id_regs::writable_masks::*`: a nonzero reserved word is refused,
//! and KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES offers the Feature ID range.

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::id_regs::{
        feature_id_range_idx, writable_masks, writable_masks_with, WritableMasks, KVM_ARM_FEATURE_ID_RANGE,
        KVM_ARM_FEATURE_ID_RANGE_SIZE,
    };
    use kvmtest::aarch64::reg_list::arm64_sys_reg;
    use kvmtest::bare_vm::BareVm;
    use kvmtest::kvm_bindings::{
        kvm_enable_cap, kvm_vcpu_init, KVM_ARM_VCPU_PSCI_0_2, KVM_CAP_ARM_MTE, KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES,
        KVM_CAP_ARM_WRITABLE_IMP_ID_REGS,
    };
    use kvmtest::kvm_ioctls::VcpuFd;
    use kvmtest::series::{id_reg_field_source, id_reg_field_writable, Feature, Series};
    use kvmtest::{bail, ensure, runner, Error, Payload, Result, Ucall, Vm};
    use kvmtest_tests::payloads::SET_ID_REGS;

    /// `enum ftr_type`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum FtrType {
        /// FTR_EXACT: use a predefined safe value.
        Exact,
        /// FTR_LOWER_SAFE: smaller value is safe.
        LowerSafe,
        /// FTR_HIGHER_SAFE: bigger value is safe.
        HigherSafe,
    }
    use FtrType::*;

    /// `struct reg_ftr_bits`: fields are 4 bits (ARM64_FEATURE_FIELD_BITS).
    struct RegFtrBits {
        name: &'static str,
        /// FTR_SIGNED.
        sign: bool,
        ftr_type: FtrType,
        shift: u32,
        /// FTR_EXACT: the exact safe value; FTR_LOWER_SAFE: the minimal safe value.
        safe_val: u64,
        /// A later series' table raises `safe_val` (7.2's ELx rows), because
        /// that series' KVM refuses lower values: from the feature's series on.
        safe_val_from: Option<(Feature, u64)>,
        /// `mutable` (7.2's REG_FTR_BITS_MUTABLE): KVM may change the field at
        /// the first run, in the feature's series on; compared as `safe_val`.
        mutable_from: Option<Feature>,
    }

    impl RegFtrBits {
        fn mask(&self) -> u64 {
            FTR_MAX << self.shift
        }
        const fn safe_val_from(self, feature: Feature, safe_val: u64) -> Self {
            RegFtrBits { safe_val_from: Some((feature, safe_val)), ..self }
        }
        const fn mutable_from(self, feature: Feature) -> Self {
            RegFtrBits { mutable_from: Some(feature), ..self }
        }
        /// The table's safe value in the running series.
        fn safe_val(&self) -> Result<u64> {
            Ok(match self.safe_val_from {
                Some((feature, v)) if feature.in_series(Series::running()?) => v,
                _ => self.safe_val,
            })
        }
        fn mutable(&self) -> Result<bool> {
            Ok(match self.mutable_from {
                Some(feature) => feature.in_series(Series::running()?),
                None => false,
            })
        }
    }

    /// `GENMASK_ULL(ARM64_FEATURE_FIELD_BITS - 1, 0)`.
    const FTR_MAX: u64 = 0xf;

    macro_rules! reg_ftr_bits {
        ($type:ident, $reg:ident, $field:ident, $shift:literal, $safe:expr) => {
            RegFtrBits {
                name: stringify!($field),
                sign: false,
                ftr_type: $type,
                shift: $shift,
                safe_val: $safe,
                safe_val_from: None,
                mutable_from: None,
            }
        };
    }
    macro_rules! s_reg_ftr_bits {
        ($type:ident, $reg:ident, $field:ident, $shift:literal, $safe:expr) => {
            RegFtrBits {
                name: stringify!($field),
                sign: true,
                ftr_type: $type,
                shift: $shift,
                safe_val: $safe,
                safe_val_from: None,
                mutable_from: None,
            }
        };
    }

    /// The enumerated values upstream's tables name (arch/arm64/tools/sysreg).
    const ID_AA64DFR0_EL1_DEBUGVER_IMP: u64 = 0b0110;
    const ID_DFR0_EL1_PERFMON_PMUV3: u64 = 0b0011;
    const ID_DFR0_EL1_COPDBG_ARMV8: u64 = 0b0110;
    const ID_AA64PFR1_EL1_SSBS_NI: u64 = 0b0000;

    /// `struct test_feature_reg`: an ID register (op0 3, CRn 0) and its fields.
    struct TestFeatureReg {
        name: &'static str,
        op1: u64,
        crm: u64,
        op2: u64,
        ftr_bits: &'static [RegFtrBits],
    }

    impl TestFeatureReg {
        fn id(&self) -> u64 {
            arm64_sys_reg(3, self.op1, 0, self.crm, self.op2)
        }
        fn idx(&self) -> usize {
            feature_id_range_idx(self.op1, self.crm, self.op2)
        }
    }

    macro_rules! test_reg {
        ($reg:ident, $op1:literal, $crm:literal, $op2:literal, $table:ident) => {
            TestFeatureReg { name: stringify!($reg), op1: $op1, crm: $crm, op2: $op2, ftr_bits: $table }
        };
    }

    /// `ftr_id_aa64dfr0_el1[]`.
    const FTR_ID_AA64DFR0_EL1: &[RegFtrBits] = &[
        s_reg_ftr_bits!(LowerSafe, ID_AA64DFR0_EL1, DoubleLock, 36, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64DFR0_EL1, WRPs, 20, 0),
        s_reg_ftr_bits!(LowerSafe, ID_AA64DFR0_EL1, PMUVer, 8, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64DFR0_EL1, DebugVer, 0, ID_AA64DFR0_EL1_DEBUGVER_IMP),
    ];
    /// `ftr_id_dfr0_el1[]`.
    const FTR_ID_DFR0_EL1: &[RegFtrBits] = &[
        s_reg_ftr_bits!(LowerSafe, ID_DFR0_EL1, PerfMon, 24, ID_DFR0_EL1_PERFMON_PMUV3),
        reg_ftr_bits!(LowerSafe, ID_DFR0_EL1, CopDbg, 0, ID_DFR0_EL1_COPDBG_ARMV8),
    ];
    /// `ftr_id_aa64isar0_el1[]` (7.2's drops TME: read-only there, series.rs `ID_REG_FIELDS`).
    const FTR_ID_AA64ISAR0_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, RNDR, 60, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, TLB, 56, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, TS, 52, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, FHM, 48, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, DP, 44, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, SM4, 40, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, SM3, 36, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, SHA3, 32, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, RDM, 28, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, TME, 24, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, ATOMIC, 20, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, CRC32, 16, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, SHA2, 12, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, SHA1, 8, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR0_EL1, AES, 4, 0),
    ];
    /// `ftr_id_aa64isar1_el1[]`.
    const FTR_ID_AA64ISAR1_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, LS64, 60, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, XS, 56, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, I8MM, 52, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, DGH, 48, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, BF16, 44, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, SPECRES, 40, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, SB, 36, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, FRINTTS, 32, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, LRCPC, 20, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, FCMA, 16, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, JSCVT, 12, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR1_EL1, DPB, 0, 0),
    ];
    /// `ftr_id_aa64isar2_el1[]`.
    const FTR_ID_AA64ISAR2_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR2_EL1, BC, 20, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR2_EL1, RPRES, 4, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR2_EL1, WFxT, 0, 0),
    ];
    /// `ftr_id_aa64isar3_el1[]` (7.2's table; read-only before, series.rs `ID_REG_FIELDS`).
    const FTR_ID_AA64ISAR3_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR3_EL1, FPRCVT, 28, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR3_EL1, LSUI, 24, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR3_EL1, LSFE, 16, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ISAR3_EL1, FAMINMAX, 4, 0),
    ];
    /// `ftr_id_aa64pfr0_el1[]`: 7.2's GIC row is mutable ("GICv3 support will
    /// be forced at run time if available") and its ELx rows have safe value 1.
    const FTR_ID_AA64PFR0_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64PFR0_EL1, CSV3, 60, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR0_EL1, CSV2, 56, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR0_EL1, DIT, 48, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR0_EL1, SEL2, 36, 0),
        reg_ftr_bits!(Exact, ID_AA64PFR0_EL1, GIC, 24, 0).mutable_from(Feature::IdAa64Pfr0GicSetAtFirstRun),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR0_EL1, EL3, 12, 0).safe_val_from(ELX_REQUIRED, 1),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR0_EL1, EL2, 8, 0).safe_val_from(ELX_REQUIRED, 1),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR0_EL1, EL1, 4, 0).safe_val_from(ELX_REQUIRED, 1),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR0_EL1, EL0, 0, 0).safe_val_from(ELX_REQUIRED, 1),
    ];
    const ELX_REQUIRED: Feature = Feature::IdAa64Pfr0El0El1Required;
    /// `ftr_id_aa64pfr1_el1[]` (DF2: 7.2's row).
    const FTR_ID_AA64PFR1_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64PFR1_EL1, DF2, 56, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR1_EL1, CSV2_frac, 32, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR1_EL1, SSBS, 4, ID_AA64PFR1_EL1_SSBS_NI),
        reg_ftr_bits!(LowerSafe, ID_AA64PFR1_EL1, BT, 0, 0),
    ];
    /// `ftr_id_aa64mmfr0_el1[]` (TGRANx_2: 7.2's rows; ASIDBITS: 6.12's only).
    const FTR_ID_AA64MMFR0_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, ECV, 60, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, EXS, 44, 0),
        reg_ftr_bits!(Exact, ID_AA64MMFR0_EL1, TGRAN4_2, 40, 1),
        reg_ftr_bits!(Exact, ID_AA64MMFR0_EL1, TGRAN64_2, 36, 1),
        reg_ftr_bits!(Exact, ID_AA64MMFR0_EL1, TGRAN16_2, 32, 1),
        s_reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, TGRAN4, 28, 0),
        s_reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, TGRAN64, 24, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, TGRAN16, 20, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, BIGENDEL0, 16, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, SNSMEM, 12, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, BIGEND, 8, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, ASIDBITS, 4, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR0_EL1, PARANGE, 0, 0),
    ];
    /// `ftr_id_aa64mmfr1_el1[]` (HCX, TWED: 7.2's rows).
    const FTR_ID_AA64MMFR1_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, TIDCP1, 52, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, AFP, 44, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, HCX, 40, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, ETS, 36, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, TWED, 32, 0),
        reg_ftr_bits!(HigherSafe, ID_AA64MMFR1_EL1, SpecSEI, 24, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, PAN, 20, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, LO, 16, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, HPDS, 12, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR1_EL1, HAFDBS, 0, 0),
    ];
    /// `ftr_id_aa64mmfr2_el1[]`.
    const FTR_ID_AA64MMFR2_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, E0PD, 60, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, BBM, 52, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, TTL, 48, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, AT, 32, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, ST, 28, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, VARange, 16, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, IESB, 12, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, LSM, 8, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, UAO, 4, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR2_EL1, CnP, 0, 0),
    ];
    /// `ftr_id_aa64mmfr3_el1[]` (7.2's table; series.rs `ID_REG_FIELDS`).
    const FTR_ID_AA64MMFR3_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR3_EL1, S1POE, 16, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR3_EL1, S1PIE, 8, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR3_EL1, SCTLRX, 4, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64MMFR3_EL1, TCRX, 0, 0),
    ];
    /// `ftr_id_aa64zfr0_el1[]`.
    const FTR_ID_AA64ZFR0_EL1: &[RegFtrBits] = &[
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, F64MM, 56, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, F32MM, 52, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, I8MM, 44, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, SM4, 40, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, SHA3, 32, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, BF16, 20, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, BitPerm, 16, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, AES, 4, 0),
        reg_ftr_bits!(LowerSafe, ID_AA64ZFR0_EL1, SVEver, 0, 0),
    ];

    /// `test_regs[]`.
    const TEST_REGS: &[TestFeatureReg] = &[
        test_reg!(ID_AA64DFR0_EL1, 0, 5, 0, FTR_ID_AA64DFR0_EL1),
        test_reg!(ID_DFR0_EL1, 0, 1, 2, FTR_ID_DFR0_EL1),
        test_reg!(ID_AA64ISAR0_EL1, 0, 6, 0, FTR_ID_AA64ISAR0_EL1),
        test_reg!(ID_AA64ISAR1_EL1, 0, 6, 1, FTR_ID_AA64ISAR1_EL1),
        test_reg!(ID_AA64ISAR2_EL1, 0, 6, 2, FTR_ID_AA64ISAR2_EL1),
        test_reg!(ID_AA64ISAR3_EL1, 0, 6, 3, FTR_ID_AA64ISAR3_EL1),
        test_reg!(ID_AA64PFR0_EL1, 0, 4, 0, FTR_ID_AA64PFR0_EL1),
        test_reg!(ID_AA64PFR1_EL1, 0, 4, 1, FTR_ID_AA64PFR1_EL1),
        test_reg!(ID_AA64MMFR0_EL1, 0, 7, 0, FTR_ID_AA64MMFR0_EL1),
        test_reg!(ID_AA64MMFR1_EL1, 0, 7, 1, FTR_ID_AA64MMFR1_EL1),
        test_reg!(ID_AA64MMFR2_EL1, 0, 7, 2, FTR_ID_AA64MMFR2_EL1),
        test_reg!(ID_AA64MMFR3_EL1, 0, 7, 3, FTR_ID_AA64MMFR3_EL1),
        test_reg!(ID_AA64ZFR0_EL1, 0, 4, 4, FTR_ID_AA64ZFR0_EL1),
    ];

    /// Per-vCPU registers test_vcpu_ftr_id_regs() writes.
    const CLIDR_EL1: (u64, u64, u64) = (1, 0, 1);
    const CTR_EL0: (u64, u64, u64) = (3, 0, 1);
    const MPIDR_EL1: (u64, u64, u64) = (0, 0, 5);
    /// The implementation ID registers test_vcpu_non_ftr_id_regs() writes
    /// (KVM_CAP_ARM_WRITABLE_IMP_ID_REGS).
    const MIDR_EL1: (u64, u64, u64) = (0, 0, 0);
    const REVIDR_EL1: (u64, u64, u64) = (0, 0, 6);
    const AIDR_EL1: (u64, u64, u64) = (1, 0, 7);
    /// The per-vCPU and implementation registers, by name, for messages and the reset check.
    const OTHER_REGS: [(&str, (u64, u64, u64)); 6] = [
        ("MPIDR_EL1", MPIDR_EL1),
        ("CLIDR_EL1", CLIDR_EL1),
        ("CTR_EL0", CTR_EL0),
        ("MIDR_EL1", MIDR_EL1),
        ("REVIDR_EL1", REVIDR_EL1),
        ("AIDR_EL1", AIDR_EL1),
    ];
    /// CTR_EL0.DIC and CTR_EL0.IminLine.
    const CTR_EL0_DIC_MASK: u64 = 1 << 29;
    const CTR_EL0_IMINLINE_MASK: u64 = 0xf;
    /// CLIDR_EL1.Ctype<n>: 3 bits per level from bit 0; 0b100 is a unified cache.
    const CLIDR_CTYPE_UNIFIED: u64 = 0b100;

    /// ID_AA64PFR0_EL1.EL0 == 0b0001: EL0 is AArch64-only.
    const ID_AA64PFR0_EL1_ELX_64BIT_ONLY: u64 = 0b0001;

    fn sys_reg_id((op1, crm, op2): (u64, u64, u64)) -> u64 {
        arm64_sys_reg(3, op1, 0, crm, op2)
    }

    pub fn trials() -> Vec<runner::Trial> {
        let mut t = Vec::new();
        for reg in TEST_REGS {
            for field in reg.ftr_bits {
                t.push(runner::test(format!("set_id_regs::{}::{}", reg.name, field.name), move || {
                    one_field(reg, field)
                }));
            }
        }
        t.push(runner::test("set_id_regs::guest_reg_read_and_reset", guest_reg_read_and_reset));
        t.push(runner::test("set_id_regs::user_set_mpam_reg", test_user_set_mpam_reg));
        t.push(runner::test("set_id_regs::user_set_mte_reg", test_user_set_mte_reg));
        t.push(runner::test("set_id_regs::writable_masks::reserved_nonzero_refused", reserved_nonzero_refused));
        t.push(runner::test("set_id_regs::writable_masks::feature_id_range_offered", feature_id_range_offered));
        t
    }

    fn get(vcpu: &VcpuFd, id: u64) -> Result<u64> {
        let mut bytes = [0u8; 8];
        vcpu.get_one_reg(id, &mut bytes).map_err(Error::kvm("KVM_GET_ONE_REG"))?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn set(vcpu: &VcpuFd, id: u64, value: u64) -> Result<()> {
        vcpu.set_one_reg(id, &value.to_le_bytes()).map(|_| ()).map_err(Error::kvm("KVM_SET_ONE_REG"))
    }

    /// A VM with vCPU 0 initialised from the preferred target, as
    /// `vm_create_with_one_vcpu()` (no memory: these trials do not run it).
    fn bare_vm() -> Result<BareVm> {
        BareVm::with_vcpu(&[])
    }

    /// main()'s "Check for AARCH64 only system".
    fn aarch64_only(vcpu: &VcpuFd) -> Result<bool> {
        let pfr0 = get(vcpu, arm64_sys_reg(3, 0, 0, 4, 0))?;
        Ok(pfr0 & 0xf == ID_AA64PFR0_EL1_ELX_64BIT_ONLY)
    }

    /// `get_safe_value()`: a value of the field KVM must accept.
    fn get_safe_value(ftr_bits: &RegFtrBits, mut ftr: u64) -> Result<u64> {
        let safe_val = ftr_bits.safe_val()?;
        if !ftr_bits.sign {
            match ftr_bits.ftr_type {
                Exact => ftr = safe_val,
                LowerSafe if ftr > safe_val => ftr -= 1,
                HigherSafe if ftr < FTR_MAX => ftr += 1,
                _ => {}
            }
        } else if ftr != FTR_MAX {
            match ftr_bits.ftr_type {
                Exact => ftr = safe_val,
                LowerSafe if ftr > safe_val => ftr -= 1,
                HigherSafe if ftr < FTR_MAX - 1 => ftr += 1,
                _ => {}
            }
        }
        Ok(ftr)
    }

    /// `get_invalid_value()`: a value of the field KVM must refuse.
    fn get_invalid_value(ftr_bits: &RegFtrBits, ftr: u64) -> Result<u64> {
        if ftr_bits.sign && ftr == FTR_MAX {
            return Ok(0);
        }
        Ok(match ftr_bits.ftr_type {
            Exact => (ftr_bits.safe_val()? + 1).max(ftr + 1),
            LowerSafe => ftr + 1,
            HigherSafe => ftr.wrapping_sub(1),
        })
    }

    /// `val` with the field replaced by `ftr` as the C does it (`ftr <<=
    /// shift; val &= ~mask; val |= ftr`): a value wider than the field (a
    /// wrapped `0 - 1` of FTR_HIGHER_SAFE, a `0xf + 1` of FTR_LOWER_SAFE)
    /// sets bits above it too, and upstream expects that write refused.
    fn with_field(val: u64, f: &RegFtrBits, ftr: u64) -> u64 {
        (val & !f.mask()) | (ftr << f.shift)
    }

    /// `test_reg_set_fail()`.
    fn test_reg_set_fail(vcpu: &VcpuFd, reg: &TestFeatureReg, f: &RegFtrBits) -> Result<()> {
        let old_val = get(vcpu, reg.id())?;
        let ftr = get_invalid_value(f, (old_val & f.mask()) >> f.shift)?;
        let val = with_field(old_val, f, ftr);
        match set(vcpu, reg.id(), val) {
            Err(e) if e.errno() == Some(libc::EINVAL) => {}
            Err(e) => {
                bail!("{}.{}: write of unsafe value {ftr:#x} ({val:#x}): expected EINVAL, got {e}", reg.name, f.name)
            }
            Ok(()) => bail!(
                "{}.{}: write of unsafe value {ftr:#x} ({val:#x}, was {old_val:#x}): expected EINVAL, got success",
                reg.name,
                f.name
            ),
        }
        let now = get(vcpu, reg.id())?;
        ensure!(
            now == old_val,
            "{}.{}: after the refused write: expected {old_val:#x}, got {now:#x}",
            reg.name,
            f.name
        );
        Ok(())
    }

    /// `test_reg_set_success()`: returns the value written.
    fn test_reg_set_success(vcpu: &VcpuFd, reg: &TestFeatureReg, f: &RegFtrBits) -> Result<u64> {
        let old_val = get(vcpu, reg.id())?;
        let ftr = get_safe_value(f, (old_val & f.mask()) >> f.shift)?;
        let val = with_field(old_val, f, ftr);
        if let Err(e) = set(vcpu, reg.id(), val) {
            bail!(
                "{}.{}: write of safe value {ftr:#x} ({val:#x}, was {old_val:#x}): expected success, got {e}",
                reg.name,
                f.name
            );
        }
        let new_val = get(vcpu, reg.id())?;
        ensure!(new_val == val, "{}.{}: read back: expected {val:#x}, got {new_val:#x}", reg.name, f.name);
        Ok(new_val)
    }

    /// A field of upstream's tables (6.12's or 7.2's) that the running
    /// series' KVM keeps read-only (series.rs `ID_REG_FIELDS`).
    fn immutable_in_series(reg: &TestFeatureReg, f: &RegFtrBits) -> Result<bool> {
        Ok(!id_reg_field_writable(reg.name, f.name, Series::running()?))
    }

    /// A read-only field: outside the writable mask, and any change of it
    /// EINVAL with the register unchanged (arm64_check_features(): "For
    /// fields that are not writable, values in limit are the safe values").
    fn test_field_immutable(vcpu: &VcpuFd, mask: u64, reg: &TestFeatureReg, f: &RegFtrBits) -> Result<u64> {
        ensure!(
            mask & f.mask() == 0,
            "{}.{}: writable mask: expected bits {:#x} clear (read-only in Linux {}: {}), got mask {mask:#x}",
            reg.name,
            f.name,
            f.mask(),
            Series::running()?,
            id_reg_field_source(reg.name, f.name)
        );
        let old_val = get(vcpu, reg.id())?;
        let ftr = (old_val & f.mask()) >> f.shift;
        let changed = if ftr > 0 { ftr - 1 } else { ftr + 1 };
        let val = with_field(old_val, f, changed);
        match set(vcpu, reg.id(), val) {
            Err(e) if e.errno() == Some(libc::EINVAL) => {}
            Err(e) => {
                bail!("{}.{}: change to {changed:#x} of a read-only field: expected EINVAL, got {e}", reg.name, f.name)
            }
            Ok(()) => bail!(
                "{}.{}: change to {changed:#x} of a read-only field: expected EINVAL, got success",
                reg.name,
                f.name
            ),
        }
        let now = get(vcpu, reg.id())?;
        ensure!(
            now == old_val,
            "{}.{}: after the refused write: expected {old_val:#x}, got {now:#x}",
            reg.name,
            f.name
        );
        Ok(old_val)
    }

    /// The body of test_vm_ftr_id_regs()'s loop for one field: the value
    /// the register holds after it; `None` when skipped as an AArch32
    /// register on an AArch64-only CPU.
    fn test_field(
        vcpu: &VcpuFd,
        masks: &WritableMasks,
        aarch64_only: bool,
        reg: &TestFeatureReg,
        f: &RegFtrBits,
    ) -> Result<Option<u64>> {
        // Skip aarch32 reg on aarch64 only system, since they are RAZ/WI.
        if aarch64_only && reg.crm < 4 {
            return Ok(None);
        }
        let mask = masks.at(reg.idx());
        if immutable_in_series(reg, f)? {
            return test_field_immutable(vcpu, mask, reg, f).map(Some);
        }
        // Make sure the feature field is writable.
        ensure!(
            mask & f.mask() == f.mask(),
            "{}.{}: writable mask: expected bits {:#x} set, got mask {mask:#x}",
            reg.name,
            f.name,
            f.mask()
        );
        test_reg_set_fail(vcpu, reg, f)?;
        test_reg_set_success(vcpu, reg, f).map(Some)
    }

    fn one_field(reg: &TestFeatureReg, f: &RegFtrBits) -> Result<()> {
        Feature::WritableIdRegs.require()?;
        let vm = bare_vm()?;
        let vcpu = vm.vcpu(0)?.fd();
        let masks = writable_masks(vm.fd())?;
        let aarch64_only = aarch64_only(vcpu)?;
        match test_field(vcpu, &masks, aarch64_only, reg, f)? {
            Some(_) => Ok(()),
            None => Err(Error::Skip(format!("{} on AARCH64 only system (AArch32 ID registers are RAZ/WI)", f.name))),
        }
    }

    /// test_clidr(), test_ctr() and the MPIDR_EL1 write of test_vcpu_ftr_id_regs().
    fn test_vcpu_ftr_id_regs(vcpu: &VcpuFd, vals: &mut [u64; KVM_ARM_FEATURE_ID_RANGE_SIZE]) -> Result<()> {
        let mut clidr = get(vcpu, sys_reg_id(CLIDR_EL1))?;
        // The first empty level in the cache hierarchy.
        let Some(level) = (1..=7).find(|level| (clidr >> (3 * (level - 1))) & 7 == 0) else {
            bail!("CLIDR_EL1 {clidr:#x}: can't find an empty level in cache hierarchy");
        };
        // Stick in a unified cache level.
        clidr |= CLIDR_CTYPE_UNIFIED << (3 * (level - 1));
        if let Err(e) = set(vcpu, sys_reg_id(CLIDR_EL1), clidr) {
            bail!("CLIDR_EL1: write of {clidr:#x} (a unified cache at level {level}): expected success, got {e}");
        }
        vals[feature_id_range_idx(CLIDR_EL1.0, CLIDR_EL1.1, CLIDR_EL1.2)] = clidr;

        let mut ctr = get(vcpu, sys_reg_id(CTR_EL0))?;
        ctr &= !CTR_EL0_DIC_MASK;
        if ctr & CTR_EL0_IMINLINE_MASK != 0 {
            ctr -= 1;
        }
        if let Err(e) = set(vcpu, sys_reg_id(CTR_EL0), ctr) {
            bail!("CTR_EL0: write of {ctr:#x} (DIC clear, IminLine lowered): expected success, got {e}");
        }
        vals[feature_id_range_idx(CTR_EL0.0, CTR_EL0.1, CTR_EL0.2)] = ctr;

        let mpidr = get(vcpu, sys_reg_id(MPIDR_EL1))? + 1;
        if let Err(e) = set(vcpu, sys_reg_id(MPIDR_EL1), mpidr) {
            bail!("MPIDR_EL1: write of {mpidr:#x}: expected success, got {e}");
        }
        vals[feature_id_range_idx(MPIDR_EL1.0, MPIDR_EL1.1, MPIDR_EL1.2)] = mpidr;
        Ok(())
    }

    /// Registers the guest reads, by range index, for messages.
    fn reg_name(idx: usize) -> String {
        TEST_REGS
            .iter()
            .find(|r| r.idx() == idx)
            .map(|r| r.name.to_string())
            .or_else(|| {
                OTHER_REGS
                    .iter()
                    .find(|(_, (op1, crm, op2))| feature_id_range_idx(*op1, *crm, *op2) == idx)
                    .map(|(n, _)| n.to_string())
            })
            .unwrap_or_else(|| format!("ID register #{idx}"))
    }

    /// The ID registers the payload reads (guest_code()'s GUEST_REG_SYNCs), in order.
    const GUEST_READS: &[&str] = &[
        "ID_AA64DFR0_EL1",
        "ID_DFR0_EL1",
        "ID_AA64ISAR0_EL1",
        "ID_AA64ISAR1_EL1",
        "ID_AA64ISAR2_EL1",
        "ID_AA64ISAR3_EL1",
        "ID_AA64PFR0_EL1",
        "ID_AA64PFR1_EL1",
        "ID_AA64MMFR0_EL1",
        "ID_AA64MMFR1_EL1",
        "ID_AA64MMFR2_EL1",
        "ID_AA64MMFR3_EL1",
        "ID_AA64ZFR0_EL1",
        "MPIDR_EL1",
        "CLIDR_EL1",
        "CTR_EL0",
        "MIDR_EL1",
        "REVIDR_EL1",
        "AIDR_EL1",
    ];

    /// `reset_mutable_bits()`: the fields KVM may change at the first run
    /// (in the running series) replaced by their safe value.
    fn reset_mutable_bits(idx: usize, mut val: u64) -> Result<u64> {
        if let Some(reg) = TEST_REGS.iter().find(|r| r.idx() == idx) {
            for f in reg.ftr_bits {
                if f.mutable()? {
                    val = with_field(val, f, f.safe_val()?);
                }
            }
        }
        Ok(val)
    }

    /// test_vcpu_non_ftr_id_regs(): MIDR_EL1, REVIDR_EL1 and AIDR_EL1 each
    /// written one higher, where the series has KVM_CAP_ARM_WRITABLE_IMP_ID_REGS
    /// (enabled at VM creation); before it they are invariant, and the guest
    /// must read what KVM_GET_ONE_REG shows.
    fn test_vcpu_non_ftr_id_regs(
        vcpu: &VcpuFd,
        writable: bool,
        vals: &mut [u64; KVM_ARM_FEATURE_ID_RANGE_SIZE],
    ) -> Result<()> {
        for (name, reg) in [("MIDR_EL1", MIDR_EL1), ("REVIDR_EL1", REVIDR_EL1), ("AIDR_EL1", AIDR_EL1)] {
            let mut val = get(vcpu, sys_reg_id(reg))?;
            if writable {
                val = val.wrapping_add(1);
                if let Err(e) = set(vcpu, sys_reg_id(reg), val) {
                    bail!("{name}: write of {val:#x} with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS: expected success, got {e}");
                }
            }
            vals[feature_id_range_idx(reg.0, reg.1, reg.2)] = val;
        }
        Ok(())
    }

    fn guest_reg_read_and_reset() -> Result<()> {
        Feature::WritableIdRegs.require()?;
        let imp_writable = Feature::WritableImpIdRegs.in_series(Series::running()?);
        let mut builder = Vm::builder().payload(Payload::elf(SET_ID_REGS));
        if imp_writable {
            builder = builder.vm_cap(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, &[]);
        }
        let mut vm = builder.build()?;
        let masks = writable_masks(vm.fd())?;
        let mut test_reg_vals = [0u64; KVM_ARM_FEATURE_ID_RANGE_SIZE];
        {
            let vcpu = vm.vcpu(0).fd();
            let aarch64_only = aarch64_only(vcpu)?;
            // test_vm_ftr_id_regs().
            for reg in TEST_REGS {
                for f in reg.ftr_bits {
                    if let Some(v) = test_field(vcpu, &masks, aarch64_only, reg, f)? {
                        test_reg_vals[reg.idx()] = v;
                    }
                }
            }
            test_vcpu_ftr_id_regs(vcpu, &mut test_reg_vals)?;
            test_vcpu_non_ftr_id_regs(vcpu, imp_writable, &mut test_reg_vals)?;
        }
        // test_guest_reg_read(): make sure the written values are seen by the guest.
        let mut seen = Vec::new();
        loop {
            match vm.vcpu(0).run_until_ucall()? {
                Ucall::Sync { stage: 0, args } if args.len() >= 2 => {
                    let (idx, value) = (args[0] as usize, args[1]);
                    let Some(&expected) = test_reg_vals.get(idx) else {
                        bail!("guest reported register index {idx}, outside the Feature ID range");
                    };
                    let (expected, value) = (reset_mutable_bits(idx, expected)?, reset_mutable_bits(idx, value)?);
                    ensure!(
                        value == expected,
                        "{} read by the guest: expected {expected:#x} (what userspace set), got {value:#x}",
                        reg_name(idx)
                    );
                    seen.push(reg_name(idx));
                }
                Ucall::Done => break,
                other => return Err(other.into_failure(0)),
            }
        }
        ensure!(seen == GUEST_READS, "guest read: expected {GUEST_READS:?}, got {seen:?}");

        // test_reset_preserves_id_regs(): KVM_ARM_VCPU_INIT again, with the
        // features the harness first gave (PSCI 0.2), is an architectural reset.
        let mut init = kvm_vcpu_init::default();
        vm.fd().get_preferred_target(&mut init).map_err(Error::kvm("KVM_ARM_PREFERRED_TARGET"))?;
        init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
        let vcpu = vm.vcpu(0).fd();
        vcpu.vcpu_init(&init).map_err(Error::kvm("KVM_ARM_VCPU_INIT (reset)"))?;
        let kept = TEST_REGS
            .iter()
            .map(|r| (r.name, r.id(), r.idx()))
            .chain(OTHER_REGS.into_iter().map(|(n, r)| (n, sys_reg_id(r), feature_id_range_idx(r.0, r.1, r.2))));
        for (name, id, idx) in kept {
            let observed = reset_mutable_bits(idx, get(vcpu, id)?)?;
            let expected = reset_mutable_bits(idx, test_reg_vals[idx])?;
            ensure!(
                observed == expected,
                "{name} after KVM_ARM_VCPU_INIT (reset): expected {expected:#x}, got {observed:#x}"
            );
        }
        Ok(())
    }

    /// A field of a register outside upstream's tables (test_user_set_*_reg()).
    struct Field {
        name: &'static str,
        reg: (u64, u64, u64),
        shift: u32,
    }
    impl Field {
        fn id(&self) -> u64 {
            sys_reg_id(self.reg)
        }
        fn idx(&self) -> usize {
            feature_id_range_idx(self.reg.0, self.reg.1, self.reg.2)
        }
        fn mask(&self) -> u64 {
            FTR_MAX << self.shift
        }
        fn get(&self, val: u64) -> u64 {
            (val & self.mask()) >> self.shift
        }
        fn with(&self, val: u64, ftr: u64) -> u64 {
            (val & !self.mask()) | (ftr << self.shift)
        }
    }
    const ID_AA64PFR0_EL1: (u64, u64, u64) = (0, 4, 0);
    const ID_AA64PFR1_EL1: (u64, u64, u64) = (0, 4, 1);
    const PFR0_MPAM: Field = Field { name: "ID_AA64PFR0_EL1.MPAM", reg: ID_AA64PFR0_EL1, shift: 40 };
    const PFR1_MPAM_FRAC: Field = Field { name: "ID_AA64PFR1_EL1.MPAM_frac", reg: ID_AA64PFR1_EL1, shift: 16 };
    const PFR1_MTE: Field = Field { name: "ID_AA64PFR1_EL1.MTE", reg: ID_AA64PFR1_EL1, shift: 8 };
    const PFR1_MTE_FRAC: Field = Field { name: "ID_AA64PFR1_EL1.MTE_frac", reg: ID_AA64PFR1_EL1, shift: 40 };
    /// ID_AA64PFR1_EL1.MTE == 0b0010: FEAT_MTE2.
    const ID_AA64PFR1_EL1_MTE_MTE2: u64 = 0b0010;
    /// ID_AA64PFR1_EL1.MTE_frac == 0b1111: no asynchronous tag check faults.
    const ID_AA64PFR1_EL1_MTE_FRAC_NI: u64 = 0b1111;

    /// One MPAM field of test_user_set_mpam_reg(): Ok(false) when the field
    /// is officially writable ("nothing to test"). 0 is always accepted; 1
    /// may be (where the hardware has MPAM); 2 never.
    fn mpam_field(vcpu: &VcpuFd, masks: &WritableMasks, f: &Field) -> Result<bool> {
        if masks.at(f.idx()) & f.mask() == f.mask() {
            return Ok(false);
        }
        let mut val = get(vcpu, f.id())?;
        val = f.with(val, 0);
        if let Err(e) = set(vcpu, f.id(), val) {
            bail!("{}=0 was not accepted: expected success, got {e}", f.name);
        }
        // MPAM=1 is accepted where the hardware has it, refused otherwise: both pass.
        let _ = set(vcpu, f.id(), f.with(val, 1));
        val = f.with(val, 2);
        match set(vcpu, f.id(), val) {
            Err(e) if e.errno() == Some(libc::EINVAL) => Ok(true),
            Err(e) => bail!("{}=2 (not arbitrarily modifiable): expected EINVAL, got {e}", f.name),
            Ok(()) => bail!("{}=2: expected EINVAL (the value should not be ignored), got success", f.name),
        }
    }

    /// test_user_set_mpam_reg() (7.2's set_id_regs.c): where ID_AA64PFR0_EL1.MPAM
    /// and ID_AA64PFR1_EL1.MPAM_frac are not officially writable, 0 is
    /// accepted and an arbitrary value refused.
    fn test_user_set_mpam_reg() -> Result<()> {
        Feature::WritableIdRegs.require()?;
        let vm = bare_vm()?;
        let vcpu = vm.vcpu(0)?.fd();
        let masks = writable_masks(vm.fd())?;
        if !mpam_field(vcpu, &masks, &PFR0_MPAM)? {
            return Err(Error::Skip("ID_AA64PFR0_EL1.MPAM is officially writable, nothing to test".into()));
        }
        if !mpam_field(vcpu, &masks, &PFR1_MPAM_FRAC)? {
            return Err(Error::Skip("ID_AA64PFR1_EL1.MPAM_frac is officially writable, nothing to test".into()));
        }
        Ok(())
    }

    /// test_user_set_mte_reg() (7.2's set_id_regs.c), on a VM with
    /// KVM_CAP_ARM_MTE where KVM offers it (test_wants_mte()): with FEAT_MTE2
    /// but no asynchronous faults (MTE_frac 0xf), a write of MTE_frac = 0 is
    /// accepted.
    fn test_user_set_mte_reg() -> Result<()> {
        Feature::WritableIdRegs.require()?;
        let mut vm = BareVm::new()?;
        if kvmtest::kvm::check_cap_raw(KVM_CAP_ARM_MTE.into())? > 0 {
            let cap = kvm_enable_cap { cap: KVM_CAP_ARM_MTE, ..Default::default() };
            vm.fd().enable_cap(&cap).map_err(Error::kvm("KVM_ENABLE_CAP(KVM_CAP_ARM_MTE)"))?;
        }
        vm.add_vcpu(0, &[])?;
        let vcpu = vm.vcpu(0)?.fd();
        let mut val = get(vcpu, PFR1_MTE.id())?;
        let mte = PFR1_MTE.get(val);
        if mte == 0 {
            return Err(Error::Skip("MTE capability not supported, nothing to test".into()));
        }
        let masks = writable_masks(vm.fd())?;
        if masks.at(PFR1_MTE_FRAC.idx()) & PFR1_MTE_FRAC.mask() == PFR1_MTE_FRAC.mask() {
            return Err(Error::Skip("ID_AA64PFR1_EL1.MTE_frac is officially writable, nothing to test".into()));
        }
        if mte != ID_AA64PFR1_EL1_MTE_MTE2 || PFR1_MTE_FRAC.get(val) != ID_AA64PFR1_EL1_MTE_FRAC_NI {
            return Err(Error::Skip("MTE_ASYNC or MTE_ASYMM are supported, nothing to test".into()));
        }
        val = PFR1_MTE_FRAC.with(val, 0);
        if let Err(e) = set(vcpu, PFR1_MTE_FRAC.id(), val) {
            bail!("ID_AA64PFR1_EL1.MTE_frac=0: expected success, got {e}");
        }
        // Upstream passes whether MTE_frac then reads 0xf or not.
        get(vcpu, PFR1_MTE_FRAC.id()).map(|_| ())
    }

    /// "KVM should return error when reserved field is not zero" (EINVAL:
    /// 6.12 sys_regs.c kvm_vm_ioctl_get_reg_writable_masks()).
    fn reserved_nonzero_refused() -> Result<()> {
        Feature::WritableIdRegs.require()?;
        let vm = bare_vm()?;
        let mut reserved = [0u32; 13];
        reserved[0] = 1;
        match writable_masks_with(vm.fd(), KVM_ARM_FEATURE_ID_RANGE, reserved) {
            Err(e) if e.errno() == Some(libc::EINVAL) => Ok(()),
            Err(e) => bail!("KVM_ARM_GET_REG_WRITABLE_MASKS with reserved[0] = 1: expected EINVAL, got {e}"),
            Ok(_) => bail!("KVM_ARM_GET_REG_WRITABLE_MASKS with reserved[0] = 1: expected EINVAL, got success"),
        }
    }

    /// main()'s TEST_REQUIRE(KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES), made a
    /// check for a series that has it: the capability is the set of
    /// ranges, BIT(KVM_ARM_FEATURE_ID_RANGE) (api.rst 4.139; 6.12 arm.c).
    fn feature_id_range_offered() -> Result<()> {
        Feature::WritableIdRegs.require()?;
        let ranges = kvmtest::kvm::check_cap_raw(KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES.into())?;
        ensure!(
            ranges == 1 << KVM_ARM_FEATURE_ID_RANGE,
            "KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES: expected {:#x} (BIT(KVM_ARM_FEATURE_ID_RANGE)), got {ranges:#x}",
            1 << KVM_ARM_FEATURE_ID_RANGE
        );
        Ok(())
    }
}
