//! The `steal_time` payload's contract (upstream steal_time.c): its boot
//! arguments and stages, and the stolen-time records both arches' KVM write
//! into guest memory, as the guest reads them and the host dumps them.

/// Boot argument 0: the guest address of vCPU 0's record; vCPU `i`'s is
/// `i * STEAL_TIME_SIZE` past it (upstream's `ST_GPA_BASE + i * STEAL_TIME_SIZE`).
pub const RECORDS_ARG: usize = 0;
/// Boot argument 1: what the guest checks, [`MODE_ENABLED`] or [`MODE_DISABLED`].
pub const MODE_ARG: usize = 1;
/// Upstream's guest_code(): the service is on and the record is the vCPU's.
/// SYNC(0) once the record is set up, SYNC(1, stolen) and SYNC(2, stolen)
/// with the record's stolen time at upstream's two WRITE_ONCEs, then DONE.
pub const MODE_ENABLED: u64 = 0;
/// The service switched off by the VMM: the guest makes the interface's
/// calls once and reports what it got with SYNC(0, ...), then DONE. x86:
/// the vectors of RDMSR and WRMSR of MSR_KVM_STEAL_TIME (`probe::NO_EXCEPTION`
/// if none); arm64: x0 of SMCCC_ARCH_FEATURES(PV_TIME_FEATURES),
/// PV_TIME_FEATURES(PV_TIME_FEATURES), PV_TIME_FEATURES(PV_TIME_ST), PV_TIME_ST.
pub const MODE_DISABLED: u64 = 1;

/// `STEAL_TIME_SIZE`: each record is 64-byte aligned (both arches' rule).
pub const STEAL_TIME_SIZE: u64 = 64;

/// `MSR_KVM_STEAL_TIME` (x86, Documentation/virt/kvm/x86/msr.rst).
pub const MSR_KVM_STEAL_TIME: u32 = 0x4b56_4d03;
/// `KVM_MSR_ENABLED`: bit 0 of the MSR turns the record on.
pub const KVM_MSR_ENABLED: u64 = 1;
/// `KVM_STEAL_RESERVED_MASK`: bits 1-5 of the MSR are reserved.
pub const KVM_STEAL_RESERVED_MASK: u64 = ((1 << KVM_STEAL_ALIGNMENT_BITS) - 1) << 1;
/// `KVM_STEAL_ALIGNMENT_BITS`.
pub const KVM_STEAL_ALIGNMENT_BITS: u64 = 5;

/// `struct kvm_steal_time` (x86 uapi asm/kvm_para.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct KvmStealTime {
    /// Stolen time in nanoseconds.
    pub steal: u64,
    /// Odd while KVM updates the record.
    pub version: u32,
    /// Always 0.
    pub flags: u32,
    /// KVM_VCPU_PREEMPTED while the vCPU is preempted.
    pub preempted: u8,
    /// Padding.
    pub u8_pad: [u8; 3],
    /// Padding.
    pub pad: [u32; 11],
}

/// `struct pvclock_vcpu_stolen_time` (arm64, ARM DEN0057A; upstream's `struct st_time`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PvclockVcpuStolenTime {
    /// Revision, 0.
    pub revision: u32,
    /// Attributes, 0.
    pub attributes: u32,
    /// Stolen time in nanoseconds.
    pub stolen_time: u64,
}

const _: () = assert!(core::mem::size_of::<KvmStealTime>() == STEAL_TIME_SIZE as usize);
const _: () = assert!(core::mem::size_of::<PvclockVcpuStolenTime>() <= STEAL_TIME_SIZE as usize);
const _: () = assert!(KVM_STEAL_RESERVED_MASK == 0x3e);
