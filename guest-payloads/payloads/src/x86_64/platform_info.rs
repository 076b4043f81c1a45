//! The platform_info payload (x86_64), upstream platform_info_test.c's
//! guest_code: after GUEST_SYNC(true) RDMSR(MSR_PLATFORM_INFO) succeeds with
//! the max turbo ratio bits the host set; after GUEST_SYNC(false) it #GPs.
#![no_std]
#![no_main]

use kvmtest_guest::abi::platform_info::{
    GP_VECTOR, MSR_PLATFORM_INFO, MSR_PLATFORM_INFO_MAX_TURBO_RATIO, STAGE_DISABLED, STAGE_ENABLED,
};
use kvmtest_guest::{arch, guest_assert, guest_assert_eq, guest_sync};

fn main() {
    guest_sync!(STAGE_ENABLED);
    // Upstream's plain rdmsr(): a fault here is the failure, reported with its vector.
    match arch::rdmsr_safe(MSR_PLATFORM_INFO) {
        Ok(msr_platform_info) => {
            guest_assert_eq!(msr_platform_info & MSR_PLATFORM_INFO_MAX_TURBO_RATIO, MSR_PLATFORM_INFO_MAX_TURBO_RATIO)
        }
        Err(vector) => {
            guest_assert!(
                false,
                "RDMSR(MSR_PLATFORM_INFO) with the capability on: expected a value, got vector {vector}"
            )
        }
    }

    guest_sync!(STAGE_DISABLED);
    match arch::rdmsr_safe(MSR_PLATFORM_INFO) {
        Ok(v) => guest_assert!(false, "RDMSR(MSR_PLATFORM_INFO) with the capability off: expected #GP, got {v:#x}"),
        Err(vector) => guest_assert_eq!(vector, GP_VECTOR),
    }
}

kvmtest_guest::entry!(main);
