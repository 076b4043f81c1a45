//! The aarch32_id_regs payload (arm64): guest_main() of upstream
//! aarch64/aarch32_id_regs.c. Reads the AArch64 views of the AArch32 ID
//! registers (op0=3, op1=0, CRn=0, CRm=1..3) by their encodings and asserts
//! each reads as zero. The hidden and unallocated ones (ID_AFR0_EL1,
//! ID_DFR1_EL1, (3,0,0,3,3), (3,0,0,3,7)) are RAZ on every CPU KVM runs on
//! and are always read; the rest only with boot argument ALL_ARG set, which
//! the host sets when the vCPU's EL0 is AArch64-only (upstream's
//! TEST_REQUIRE(vcpu_aarch64_only())).
#![no_std]
#![no_main]

use kvmtest_guest::{boot_arg, guest_assert, guest_assert_eq, read_sysreg_safe};

/// Boot argument: nonzero to read every AArch32 ID register.
const ALL_ARG: usize = 0;

/// A register that must read as zero: the MRS, guarded so that an
/// exception is reported as a failure naming the register.
fn assert_reg_raz(name: &str, read: Result<u64, u8>) {
    match read {
        Ok(value) => guest_assert_eq!(value, 0u64, "{} is not RAZ", name),
        Err(ec) => guest_assert!(false, "MRS {} took an exception, ESR_EL1.EC {:#x}", name, ec),
    }
}

/// `GUEST_ASSERT_REG_RAZ(reg)`.
macro_rules! guest_assert_reg_raz {
    ($name:literal, $enc:ident) => {
        assert_reg_raz($name, read_sysreg_safe!($enc))
    };
}

fn main() {
    // Hidden and unallocated: raz_visibility() whatever the CPU.
    guest_assert_reg_raz!("ID_AFR0_EL1", s3_0_c0_c1_3);
    guest_assert_reg_raz!("sys_reg(3, 0, 0, 3, 3)", s3_0_c0_c3_3);
    guest_assert_reg_raz!("ID_DFR1_EL1", s3_0_c0_c3_5);
    guest_assert_reg_raz!("sys_reg(3, 0, 0, 3, 7)", s3_0_c0_c3_7);
    if boot_arg(ALL_ARG) == 0 {
        return;
    }
    // RAZ because no EL supports AArch32 (aa32_id_visibility()).
    guest_assert_reg_raz!("ID_PFR0_EL1", s3_0_c0_c1_0);
    guest_assert_reg_raz!("ID_PFR1_EL1", s3_0_c0_c1_1);
    guest_assert_reg_raz!("ID_DFR0_EL1", s3_0_c0_c1_2);
    guest_assert_reg_raz!("ID_MMFR0_EL1", s3_0_c0_c1_4);
    guest_assert_reg_raz!("ID_MMFR1_EL1", s3_0_c0_c1_5);
    guest_assert_reg_raz!("ID_MMFR2_EL1", s3_0_c0_c1_6);
    guest_assert_reg_raz!("ID_MMFR3_EL1", s3_0_c0_c1_7);
    guest_assert_reg_raz!("ID_ISAR0_EL1", s3_0_c0_c2_0);
    guest_assert_reg_raz!("ID_ISAR1_EL1", s3_0_c0_c2_1);
    guest_assert_reg_raz!("ID_ISAR2_EL1", s3_0_c0_c2_2);
    guest_assert_reg_raz!("ID_ISAR3_EL1", s3_0_c0_c2_3);
    guest_assert_reg_raz!("ID_ISAR4_EL1", s3_0_c0_c2_4);
    guest_assert_reg_raz!("ID_ISAR5_EL1", s3_0_c0_c2_5);
    guest_assert_reg_raz!("ID_MMFR4_EL1", s3_0_c0_c2_6);
    guest_assert_reg_raz!("ID_ISAR6_EL1", s3_0_c0_c2_7);
    guest_assert_reg_raz!("MVFR0_EL1", s3_0_c0_c3_0);
    guest_assert_reg_raz!("MVFR1_EL1", s3_0_c0_c3_1);
    guest_assert_reg_raz!("MVFR2_EL1", s3_0_c0_c3_2);
    guest_assert_reg_raz!("ID_PFR2_EL1", s3_0_c0_c3_4);
    guest_assert_reg_raz!("ID_MMFR5_EL1", s3_0_c0_c3_6);
}

kvmtest_guest::entry!(main); // GUEST_DONE() when main returns
