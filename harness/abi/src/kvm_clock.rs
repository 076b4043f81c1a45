//! The `kvm_clock` payload's contract (upstream x86 kvm_clock_test.c): the
//! kvmclock MSR, `struct pvclock_vcpu_time_info` KVM keeps in guest memory,
//! and `__pvclock_read_cycles`, which the guest computes and the host's
//! unit tests check.

/// `MSR_KVM_SYSTEM_TIME_NEW` (Documentation/virt/kvm/x86/msr.rst).
pub const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
pub use crate::steal_time::KVM_MSR_ENABLED;

/// Boot argument 0: the guest physical (= virtual) address of the record.
pub const PVTI_ARG: usize = 0;
/// Boot argument 1: how many test cases the guest reads the clock for.
pub const CASES_ARG: usize = 1;

/// `struct pvclock_vcpu_time_info` (asm/pvclock-abi.h; packed, 32 bytes).
#[repr(C, packed)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PvclockVcpuTimeInfo {
    /// Odd while KVM updates the record.
    pub version: u32,
    /// Padding.
    pub pad0: u32,
    /// The TSC value at `system_time`.
    pub tsc_timestamp: u64,
    /// kvmclock nanoseconds at `tsc_timestamp`.
    pub system_time: u64,
    /// TSC-to-nanoseconds multiplier, a 32-bit binary fraction.
    pub tsc_to_system_mul: u32,
    /// Power-of-two scale applied to the TSC delta first.
    pub tsc_shift: i8,
    /// PVCLOCK_TSC_STABLE_BIT and friends.
    pub flags: u8,
    /// Padding.
    pub pad: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<PvclockVcpuTimeInfo>() == 32);

/// `pvclock_scale_delta()` (asm/pvclock.h): `(delta << shift) * mul_frac >> 32`.
pub const fn pvclock_scale_delta(delta: u64, mul_frac: u32, shift: i8) -> u64 {
    let delta = if shift < 0 { delta >> (-(shift as i32)) } else { delta << shift };
    ((delta as u128 * mul_frac as u128) >> 32) as u64
}

/// `__pvclock_read_cycles()` (asm/pvclock.h): kvmclock nanoseconds at `tsc`.
pub const fn pvclock_read_cycles(src: &PvclockVcpuTimeInfo, tsc: u64) -> u64 {
    let delta = tsc.wrapping_sub(src.tsc_timestamp);
    let offset = pvclock_scale_delta(delta, src.tsc_to_system_mul, src.tsc_shift);
    src.system_time.wrapping_add(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvclock_scaling_as_the_kernel_does() {
        // mul_frac 2^31 is one half; shift 1 doubles first.
        assert_eq!(pvclock_scale_delta(1000, 1 << 31, 1), 1000);
        assert_eq!(pvclock_scale_delta(1000, 1 << 31, -1), 250);
        // The 128-bit product does not overflow for a large delta.
        assert_eq!(pvclock_scale_delta(u64::MAX, u32::MAX, 0), ((u64::MAX as u128 * u32::MAX as u128) >> 32) as u64);
        let pvti = PvclockVcpuTimeInfo {
            tsc_timestamp: 100,
            system_time: 5_000,
            tsc_to_system_mul: 1 << 31,
            tsc_shift: 0,
            ..Default::default()
        };
        assert_eq!(pvclock_read_cycles(&pvti, 300), 5_100);
    }
}
