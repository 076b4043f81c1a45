//! The set_id_regs payload (arm64): guest_code() of upstream
//! arm64/set_id_regs.c of 7.2 (6.12's reads a subset). Reads each ID register the host wrote, by its
//! encoding, and reports it as `GUEST_SYNC(0, idx, value)`, idx being the
//! register's KVM_ARM_FEATURE_ID_RANGE_IDX; the host compares with what it set.
#![no_std]
#![no_main]

use kvmtest_guest::{guest_assert, guest_sync, read_sysreg_safe};

fn reg_sync(name: &str, idx: u64, read: Result<u64, u8>) {
    match read {
        Ok(value) => guest_sync!(0, idx, value),
        Err(ec) => guest_assert!(false, "MRS {} took an exception, ESR_EL1.EC {:#x}", name, ec),
    }
}

/// `KVM_ARM_FEATURE_ID_RANGE_IDX(3, op1, 0, crm, op2)`: op1 3 folds to 2.
const fn range_idx(op1: u64, crm: u64, op2: u64) -> u64 {
    let op1 = if op1 == 3 { 2 } else { op1 };
    (op1 << 6) | (crm << 3) | op2
}

/// `GUEST_REG_SYNC(id)`.
macro_rules! guest_reg_sync {
    ($name:literal, $op1:literal, $crm:literal, $op2:literal, $enc:ident) => {
        reg_sync($name, range_idx($op1, $crm, $op2), read_sysreg_safe!($enc))
    };
}

fn main() {
    guest_reg_sync!("ID_AA64DFR0_EL1", 0, 5, 0, s3_0_c0_c5_0);
    guest_reg_sync!("ID_DFR0_EL1", 0, 1, 2, s3_0_c0_c1_2);
    guest_reg_sync!("ID_AA64ISAR0_EL1", 0, 6, 0, s3_0_c0_c6_0);
    guest_reg_sync!("ID_AA64ISAR1_EL1", 0, 6, 1, s3_0_c0_c6_1);
    guest_reg_sync!("ID_AA64ISAR2_EL1", 0, 6, 2, s3_0_c0_c6_2);
    guest_reg_sync!("ID_AA64ISAR3_EL1", 0, 6, 3, s3_0_c0_c6_3);
    guest_reg_sync!("ID_AA64PFR0_EL1", 0, 4, 0, s3_0_c0_c4_0);
    guest_reg_sync!("ID_AA64PFR1_EL1", 0, 4, 1, s3_0_c0_c4_1);
    guest_reg_sync!("ID_AA64MMFR0_EL1", 0, 7, 0, s3_0_c0_c7_0);
    guest_reg_sync!("ID_AA64MMFR1_EL1", 0, 7, 1, s3_0_c0_c7_1);
    guest_reg_sync!("ID_AA64MMFR2_EL1", 0, 7, 2, s3_0_c0_c7_2);
    guest_reg_sync!("ID_AA64MMFR3_EL1", 0, 7, 3, s3_0_c0_c7_3);
    guest_reg_sync!("ID_AA64ZFR0_EL1", 0, 4, 4, s3_0_c0_c4_4);
    guest_reg_sync!("MPIDR_EL1", 0, 0, 5, s3_0_c0_c0_5);
    guest_reg_sync!("CLIDR_EL1", 1, 0, 1, s3_1_c0_c0_1);
    guest_reg_sync!("CTR_EL0", 3, 0, 1, s3_3_c0_c0_1);
    guest_reg_sync!("MIDR_EL1", 0, 0, 0, s3_0_c0_c0_0);
    guest_reg_sync!("REVIDR_EL1", 0, 0, 6, s3_0_c0_c0_6);
    guest_reg_sync!("AIDR_EL1", 1, 0, 7, s3_1_c0_c0_7);
}

kvmtest_guest::entry!(main); // GUEST_DONE() when main returns
