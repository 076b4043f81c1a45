//! The `platform_info` payload's contract (upstream platform_info_test.c):
//! the MSR, the bits the host sets in it, and the vector a refused read raises.

/// MSR_PLATFORM_INFO (arch/x86/include/asm/msr-index.h).
pub const MSR_PLATFORM_INFO: u32 = 0xce;
/// The max non-turbo ratio field the host sets (MSR_PLATFORM_INFO_MAX_TURBO_RATIO).
pub const MSR_PLATFORM_INFO_MAX_TURBO_RATIO: u64 = 0xff00;
/// #GP.
pub const GP_VECTOR: u8 = 13;
/// GUEST_SYNC(true): the host enables KVM_CAP_MSR_PLATFORM_INFO with the stage as its argument.
pub const STAGE_ENABLED: u64 = 1;
/// GUEST_SYNC(false): the host disables it.
pub const STAGE_DISABLED: u64 = 0;
