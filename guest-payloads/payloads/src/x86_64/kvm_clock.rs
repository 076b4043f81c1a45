//! The kvm_clock guest (upstream x86 kvm_clock_test.c guest_main): turns
//! kvmclock on at the record the host gave (MSR_KVM_SYSTEM_TIME_NEW), then
//! for each of the host's test cases GUEST_SYNC(i, __pvclock_read_cycles(pvti,
//! rdtsc())).
#![no_std]
#![no_main]

use kvmtest_guest::abi::kvm_clock::{
    pvclock_read_cycles, PvclockVcpuTimeInfo, CASES_ARG, KVM_MSR_ENABLED, MSR_KVM_SYSTEM_TIME_NEW, PVTI_ARG,
};
use kvmtest_guest::arch::{rdtsc, wrmsr_safe};
use kvmtest_guest::{boot_arg, guest_assert, guest_sync};

fn main() {
    let pvti_pa = boot_arg(PVTI_ARG);
    let pvti = pvti_pa as *const PvclockVcpuTimeInfo;
    guest_assert!(
        wrmsr_safe(MSR_KVM_SYSTEM_TIME_NEW, pvti_pa | KVM_MSR_ENABLED).is_ok(),
        "WRMSR(MSR_KVM_SYSTEM_TIME_NEW) faulted"
    );
    for i in 0..boot_arg(CASES_ARG) {
        // SAFETY: the record is 32 bytes of identity-mapped guest RAM KVM
        // writes between runs; a volatile read of it as upstream's plain one.
        let src = unsafe { pvti.read_volatile() };
        guest_sync!(i, pvclock_read_cycles(&src, rdtsc()));
    }
}

kvmtest_guest::entry!(main);
