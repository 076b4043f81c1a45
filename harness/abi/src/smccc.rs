//! Arm SMCCC function ids and return codes (include/linux/arm-smccc.h,
//! include/uapi/linux/psci.h, arch/arm64/include/uapi/asm/kvm.h), shared by
//! the guest (which makes the calls) and the host (which filters, forwards
//! and checks them), plus the call-table layout of the `smccc_calls` payload.
//!
//! Plain integers on every arch: only the instructions that make the calls
//! are arm64-specific.

/// `ARM_SMCCC_CALL_VAL(type, calling_convention, owner, func_num)`.
pub const fn call_val(fast: bool, smc64: bool, owner: u32, func_num: u32) -> u32 {
    ((fast as u32) << ARM_SMCCC_TYPE_SHIFT)
        | ((smc64 as u32) << ARM_SMCCC_CALL_CONV_SHIFT)
        | ((owner & ARM_SMCCC_OWNER_MASK) << ARM_SMCCC_OWNER_SHIFT)
        | (func_num & ARM_SMCCC_FUNC_MASK)
}

/// `ARM_SMCCC_TYPE_SHIFT`.
pub const ARM_SMCCC_TYPE_SHIFT: u32 = 31;
/// `ARM_SMCCC_CALL_CONV_SHIFT`.
pub const ARM_SMCCC_CALL_CONV_SHIFT: u32 = 30;
/// `ARM_SMCCC_OWNER_MASK`.
pub const ARM_SMCCC_OWNER_MASK: u32 = 0x3f;
/// `ARM_SMCCC_OWNER_SHIFT`.
pub const ARM_SMCCC_OWNER_SHIFT: u32 = 24;
/// `ARM_SMCCC_FUNC_MASK`.
pub const ARM_SMCCC_FUNC_MASK: u32 = 0xffff;

/// `ARM_SMCCC_OWNER_ARCH`.
pub const ARM_SMCCC_OWNER_ARCH: u32 = 0;
/// `ARM_SMCCC_OWNER_STANDARD`.
pub const ARM_SMCCC_OWNER_STANDARD: u32 = 4;
/// `ARM_SMCCC_OWNER_STANDARD_HYP`.
pub const ARM_SMCCC_OWNER_STANDARD_HYP: u32 = 5;
/// `ARM_SMCCC_OWNER_VENDOR_HYP`.
pub const ARM_SMCCC_OWNER_VENDOR_HYP: u32 = 6;

/// `ARM_SMCCC_VERSION_1_1`: what SMCCC_VERSION answers for SMCCC 1.1.
pub const ARM_SMCCC_VERSION_1_1: u64 = 0x10001;

// Arm architecture calls (owner 0).
/// `ARM_SMCCC_VERSION_FUNC_ID`.
pub const ARM_SMCCC_VERSION_FUNC_ID: u32 = call_val(true, false, ARM_SMCCC_OWNER_ARCH, 0);
/// `ARM_SMCCC_ARCH_FEATURES_FUNC_ID`.
pub const ARM_SMCCC_ARCH_FEATURES_FUNC_ID: u32 = call_val(true, false, ARM_SMCCC_OWNER_ARCH, 1);
/// `ARM_SMCCC_ARCH_WORKAROUND_1`.
pub const ARM_SMCCC_ARCH_WORKAROUND_1: u32 = call_val(true, false, ARM_SMCCC_OWNER_ARCH, 0x8000);
/// `ARM_SMCCC_ARCH_WORKAROUND_2`.
pub const ARM_SMCCC_ARCH_WORKAROUND_2: u32 = call_val(true, false, ARM_SMCCC_OWNER_ARCH, 0x7fff);
/// `ARM_SMCCC_ARCH_WORKAROUND_3`.
pub const ARM_SMCCC_ARCH_WORKAROUND_3: u32 = call_val(true, false, ARM_SMCCC_OWNER_ARCH, 0x3fff);

// TRNG (ARM DEN0098), standard secure service: KVM_REG_ARM_STD_BIT_TRNG_V1_0.
/// `ARM_SMCCC_TRNG_VERSION`.
pub const ARM_SMCCC_TRNG_VERSION: u32 = call_val(true, false, ARM_SMCCC_OWNER_STANDARD, 0x50);
/// `ARM_SMCCC_TRNG_FEATURES`.
pub const ARM_SMCCC_TRNG_FEATURES: u32 = call_val(true, false, ARM_SMCCC_OWNER_STANDARD, 0x51);
/// `ARM_SMCCC_TRNG_GET_UUID`.
pub const ARM_SMCCC_TRNG_GET_UUID: u32 = call_val(true, false, ARM_SMCCC_OWNER_STANDARD, 0x52);
/// `ARM_SMCCC_TRNG_RND32`.
pub const ARM_SMCCC_TRNG_RND32: u32 = call_val(true, false, ARM_SMCCC_OWNER_STANDARD, 0x53);
/// `ARM_SMCCC_TRNG_RND64`.
pub const ARM_SMCCC_TRNG_RND64: u32 = call_val(true, true, ARM_SMCCC_OWNER_STANDARD, 0x53);
/// What TRNG_VERSION answers (arch/arm64/kvm/trng.c).
pub const ARM_SMCCC_TRNG_VERSION_1_0: u64 = 0x10000;

// Paravirtualised time (ARM DEN0057A): KVM_REG_ARM_STD_HYP_BIT_PV_TIME.
/// `ARM_SMCCC_HV_PV_TIME_FEATURES`.
pub const ARM_SMCCC_HV_PV_TIME_FEATURES: u32 = call_val(true, true, ARM_SMCCC_OWNER_STANDARD_HYP, 0x20);
/// `ARM_SMCCC_HV_PV_TIME_ST`.
pub const ARM_SMCCC_HV_PV_TIME_ST: u32 = call_val(true, true, ARM_SMCCC_OWNER_STANDARD_HYP, 0x21);

// KVM vendor hypervisor calls: KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT / _PTP.
/// `ARM_SMCCC_FUNC_QUERY_CALL_UID`.
pub const ARM_SMCCC_FUNC_QUERY_CALL_UID: u32 = 0xff01;
/// `ARM_SMCCC_KVM_FUNC_FEATURES`.
pub const ARM_SMCCC_KVM_FUNC_FEATURES: u32 = 0;
/// `ARM_SMCCC_KVM_FUNC_PTP`.
pub const ARM_SMCCC_KVM_FUNC_PTP: u32 = 1;
/// `ARM_SMCCC_VENDOR_HYP_CALL_UID_FUNC_ID`.
pub const ARM_SMCCC_VENDOR_HYP_CALL_UID_FUNC_ID: u32 =
    call_val(true, false, ARM_SMCCC_OWNER_VENDOR_HYP, ARM_SMCCC_FUNC_QUERY_CALL_UID);
/// `ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID`.
pub const ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID: u32 =
    call_val(true, false, ARM_SMCCC_OWNER_VENDOR_HYP, ARM_SMCCC_KVM_FUNC_FEATURES);
/// `ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID`.
pub const ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID: u32 =
    call_val(true, false, ARM_SMCCC_OWNER_VENDOR_HYP, ARM_SMCCC_KVM_FUNC_PTP);
/// KVM's vendor UID, 28b46fb6-2ec5-11e9-a9ca-4b564d003a74, as CALL_UID returns it in a0..a3.
pub const ARM_SMCCC_VENDOR_HYP_UID_KVM: [u64; 4] = [0xb66f_b428, 0xe911_c52e, 0x564b_caa9, 0x743a_004d];
/// `KVM_PTP_VIRT_COUNTER`.
pub const KVM_PTP_VIRT_COUNTER: u64 = 0;
/// `KVM_PTP_PHYS_COUNTER`.
pub const KVM_PTP_PHYS_COUNTER: u64 = 1;

// PSCI (include/uapi/linux/psci.h).
/// `PSCI_0_2_FN_BASE`.
pub const PSCI_0_2_FN_BASE: u32 = 0x8400_0000;
/// `PSCI_0_2_64BIT`.
pub const PSCI_0_2_64BIT: u32 = 0x4000_0000;
/// `PSCI_0_2_FN_PSCI_VERSION`.
pub const PSCI_0_2_FN_PSCI_VERSION: u32 = PSCI_0_2_FN_BASE;
/// `PSCI_0_2_FN_CPU_OFF`.
pub const PSCI_0_2_FN_CPU_OFF: u32 = PSCI_0_2_FN_BASE + 2;
/// `PSCI_0_2_FN_CPU_ON`.
pub const PSCI_0_2_FN_CPU_ON: u32 = PSCI_0_2_FN_BASE + 3;
/// `PSCI_0_2_FN_AFFINITY_INFO`.
pub const PSCI_0_2_FN_AFFINITY_INFO: u32 = PSCI_0_2_FN_BASE + 4;
/// `PSCI_0_2_FN_SYSTEM_OFF`.
pub const PSCI_0_2_FN_SYSTEM_OFF: u32 = PSCI_0_2_FN_BASE + 8;
/// `PSCI_0_2_FN_SYSTEM_RESET`.
pub const PSCI_0_2_FN_SYSTEM_RESET: u32 = PSCI_0_2_FN_BASE + 9;
/// `PSCI_0_2_FN64_CPU_ON`.
pub const PSCI_0_2_FN64_CPU_ON: u32 = PSCI_0_2_FN_BASE + PSCI_0_2_64BIT + 3;
/// `PSCI_0_2_FN64_AFFINITY_INFO`.
pub const PSCI_0_2_FN64_AFFINITY_INFO: u32 = PSCI_0_2_FN_BASE + PSCI_0_2_64BIT + 4;
/// `PSCI_1_0_FN_PSCI_FEATURES`.
pub const PSCI_1_0_FN_PSCI_FEATURES: u32 = PSCI_0_2_FN_BASE + 10;
/// `PSCI_1_0_FN_SYSTEM_SUSPEND`.
pub const PSCI_1_0_FN_SYSTEM_SUSPEND: u32 = PSCI_0_2_FN_BASE + 14;
/// `PSCI_1_0_FN64_SYSTEM_SUSPEND`.
pub const PSCI_1_0_FN64_SYSTEM_SUSPEND: u32 = PSCI_0_2_FN_BASE + PSCI_0_2_64BIT + 14;
/// `PSCI_0_2_AFFINITY_LEVEL_ON`.
pub const PSCI_0_2_AFFINITY_LEVEL_ON: u64 = 0;
/// `PSCI_0_2_AFFINITY_LEVEL_OFF`.
pub const PSCI_0_2_AFFINITY_LEVEL_OFF: u64 = 1;
/// `PSCI_0_2_AFFINITY_LEVEL_ON_PENDING`.
pub const PSCI_0_2_AFFINITY_LEVEL_ON_PENDING: u64 = 2;
/// KVM's pre-SMCCC PSCI 0.1 function ids (`KVM_PSCI_FN(n)`).
pub const KVM_PSCI_FN_BASE: u32 = 0x95c1_ba5e;
/// `KVM_PSCI_FN_CPU_OFF`.
pub const KVM_PSCI_FN_CPU_OFF: u32 = KVM_PSCI_FN_BASE + 1;
/// `KVM_PSCI_FN_CPU_ON`.
pub const KVM_PSCI_FN_CPU_ON: u32 = KVM_PSCI_FN_BASE + 2;

/// `PSCI_VERSION(major, minor)`; also the `KVM_ARM_PSCI_x_y` register values.
pub const fn psci_version(major: u64, minor: u64) -> u64 {
    (major << 16) | minor
}

// Return codes, as the 64-bit a0 the guest sees.
/// `SMCCC_RET_SUCCESS`.
pub const SMCCC_RET_SUCCESS: u64 = 0;
/// `SMCCC_RET_NOT_SUPPORTED`.
pub const SMCCC_RET_NOT_SUPPORTED: u64 = -1i64 as u64;
/// `SMCCC_RET_NOT_REQUIRED`.
pub const SMCCC_RET_NOT_REQUIRED: u64 = -2i64 as u64;
/// `SMCCC_RET_INVALID_PARAMETER`.
pub const SMCCC_RET_INVALID_PARAMETER: u64 = -3i64 as u64;
/// `SMCCC_ARCH_WORKAROUND_RET_UNAFFECTED`.
pub const SMCCC_ARCH_WORKAROUND_RET_UNAFFECTED: u64 = 1;
/// `PSCI_RET_SUCCESS`.
pub const PSCI_RET_SUCCESS: u64 = 0;
/// `PSCI_RET_NOT_SUPPORTED`.
pub const PSCI_RET_NOT_SUPPORTED: u64 = -1i64 as u64;
/// `PSCI_RET_INVALID_PARAMS`.
pub const PSCI_RET_INVALID_PARAMS: u64 = -2i64 as u64;
/// `PSCI_RET_ALREADY_ON`.
pub const PSCI_RET_ALREADY_ON: u64 = -4i64 as u64;

/// Which instruction makes an SMCCC call.
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// The HVC instruction (the guest traps to EL2).
    Hvc = 0,
    /// The SMC instruction (the guest traps to EL3, which KVM emulates).
    Smc = 1,
}

/// One row of the call table the `smccc_calls` payload executes: the host
/// writes `[SmcccCall; n]` at a guest address and passes (address, n) as
/// boot arguments [`CALLS_ADDR_ARG`] and [`CALLS_LEN_ARG`]. For row `i` the
/// guest makes the call and reports `GUEST_SYNC(i, a0, a1, a2, a3)`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmcccCall {
    /// SMCCC function id, in a0.
    pub func_id: u64,
    /// a1..a3.
    pub args: [u64; 3],
    /// `Conduit as u64`.
    pub conduit: u64,
}

/// Boot argument holding the guest address of the call table.
pub const CALLS_ADDR_ARG: usize = 0;
/// Boot argument holding the number of rows.
pub const CALLS_LEN_ARG: usize = 1;
/// Size of one [`SmcccCall`] row in guest memory.
pub const SMCCC_CALL_SIZE: usize = core::mem::size_of::<SmcccCall>();

const _: () = {
    assert!(SMCCC_CALL_SIZE == 40);
    // Spot checks against the values the kernel headers expand to.
    assert!(ARM_SMCCC_VERSION_FUNC_ID == 0x8000_0000);
    assert!(ARM_SMCCC_ARCH_FEATURES_FUNC_ID == 0x8000_0001);
    assert!(ARM_SMCCC_ARCH_WORKAROUND_1 == 0x8000_8000);
    assert!(ARM_SMCCC_TRNG_RND64 == 0xc400_0053);
    assert!(ARM_SMCCC_HV_PV_TIME_ST == 0xc500_0021);
    assert!(ARM_SMCCC_VENDOR_HYP_CALL_UID_FUNC_ID == 0x8600_ff01);
    assert!(ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID == 0x8600_0001);
    assert!(PSCI_0_2_FN64_CPU_ON == 0xc400_0003);
};
