//! Hyper-V emulation as KVM exposes it: the CPUID leaves the VMM grants
//! (KVM_GET_SUPPORTED_HV_CPUID), the synthetic MSRs and hypercall codes,
//! with the names of the kernel's selftests/hyperv.h and the TLFS.

use std::os::fd::AsRawFd;

use kvm_bindings::{kvm_cpuid2, CpuId, KVM_MAX_CPUID_ENTRIES};
use vmm_sys_util::ioctl::ioctl_with_mut_ptr;
use vmm_sys_util::ioctl_iowr_nr;

use super::cpuid::{Cpuid, CpuidBit, Reg};
use crate::{Error, Result, Vcpu};

/// The ioctl number, private: vmm-sys-util's macro makes an undocumented `pub fn`.
mod ioctl_nr {
    super::ioctl_iowr_nr!(KVM_GET_SUPPORTED_HV_CPUID, kvm_bindings::KVMIO, 0xc1, super::kvm_cpuid2);
}
use ioctl_nr::KVM_GET_SUPPORTED_HV_CPUID;

/// `HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS`.
pub const HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS: u32 = 0x4000_0000;
/// `HYPERV_CPUID_INTERFACE`.
pub const HYPERV_CPUID_INTERFACE: u32 = 0x4000_0001;
/// `HYPERV_CPUID_FEATURES`.
pub const HYPERV_CPUID_FEATURES: u32 = 0x4000_0003;
/// `HYPERV_CPUID_ENLIGHTMENT_INFO`.
pub const HYPERV_CPUID_ENLIGHTMENT_INFO: u32 = 0x4000_0004;
/// `HYPERV_CPUID_SYNDBG_PLATFORM_CAPABILITIES`.
pub const HYPERV_CPUID_SYNDBG_PLATFORM_CAPABILITIES: u32 = 0x4000_0082;
/// `HYPERV_CPUID_NESTED_FEATURES`.
pub const HYPERV_CPUID_NESTED_FEATURES: u32 = 0x4000_000a;
/// `HV_X64_NO_NONARCH_CORESHARING`: HYPERV_CPUID_ENLIGHTMENT_INFO.EAX bit 18,
/// set when SMT is impossible (hyperv.c: `!cpu_smt_possible()`).
pub const HV_X64_NO_NONARCH_CORESHARING: CpuidBit =
    bit("HV_X64_NO_NONARCH_CORESHARING", HYPERV_CPUID_ENLIGHTMENT_INFO, Reg::Eax, 18);
/// `HV_X64_NESTED_MSR_BITMAP`: HYPERV_CPUID_NESTED_FEATURES.EAX bit 19, the
/// enlightened MSR bitmap.
pub const HV_X64_NESTED_MSR_BITMAP: CpuidBit =
    bit("HV_X64_NESTED_MSR_BITMAP", HYPERV_CPUID_NESTED_FEATURES, Reg::Eax, 19);
/// End of the hypervisor CPUID range KVM's own leaves live in.
pub const KVM_CPUID_RANGE_END: u32 = 0x4000_0100;

/// `HV_X64_MSR_GUEST_OS_ID`.
pub const HV_X64_MSR_GUEST_OS_ID: u32 = 0x4000_0000;
/// `HV_X64_MSR_HYPERCALL`.
pub const HV_X64_MSR_HYPERCALL: u32 = 0x4000_0001;
/// `HV_X64_MSR_VP_INDEX`.
pub const HV_X64_MSR_VP_INDEX: u32 = 0x4000_0002;
/// `HV_X64_MSR_RESET`.
pub const HV_X64_MSR_RESET: u32 = 0x4000_0003;
/// `HV_X64_MSR_VP_RUNTIME`.
pub const HV_X64_MSR_VP_RUNTIME: u32 = 0x4000_0010;
/// `HV_X64_MSR_TIME_REF_COUNT`.
pub const HV_X64_MSR_TIME_REF_COUNT: u32 = 0x4000_0020;
/// `HV_X64_MSR_REFERENCE_TSC`.
pub const HV_X64_MSR_REFERENCE_TSC: u32 = 0x4000_0021;
/// `HV_X64_MSR_TSC_FREQUENCY`.
pub const HV_X64_MSR_TSC_FREQUENCY: u32 = 0x4000_0022;
/// `HV_X64_MSR_APIC_FREQUENCY`.
pub const HV_X64_MSR_APIC_FREQUENCY: u32 = 0x4000_0023;
/// `HV_X64_MSR_EOI`.
pub const HV_X64_MSR_EOI: u32 = 0x4000_0070;
/// `HV_X64_MSR_EOM`.
pub const HV_X64_MSR_EOM: u32 = 0x4000_0084;
/// `HV_X64_MSR_STIMER0_CONFIG`.
pub const HV_X64_MSR_STIMER0_CONFIG: u32 = 0x4000_00b0;
/// `HV_X64_MSR_SYNDBG_STATUS`.
pub const HV_X64_MSR_SYNDBG_STATUS: u32 = 0x4000_00f2;
/// `HV_X64_MSR_CRASH_P0`.
pub const HV_X64_MSR_CRASH_P0: u32 = 0x4000_0100;
/// `HV_X64_MSR_REENLIGHTENMENT_CONTROL`.
pub const HV_X64_MSR_REENLIGHTENMENT_CONTROL: u32 = 0x4000_0106;
/// `HV_X64_MSR_TSC_EMULATION_STATUS`.
pub const HV_X64_MSR_TSC_EMULATION_STATUS: u32 = 0x4000_0108;
/// `HV_X64_MSR_TSC_INVARIANT_CONTROL`.
pub const HV_X64_MSR_TSC_INVARIANT_CONTROL: u32 = 0x4000_0118;
/// HV_X64_MSR_TSC_INVARIANT_CONTROL bit 0: expose the invariant TSC.
pub const HV_INVARIANT_TSC_EXPOSED: u64 = 1 << 0;
/// HV_X64_MSR_STIMER0_CONFIG bit 12: direct mode (hyperv_features.c writes `1 << 12`).
pub const HV_STIMER_DIRECT_MODE: u64 = 1 << 12;

/// HV_X64_MSR_GUEST_OS_ID value of a Linux guest (selftests' HYPERV_LINUX_OS_ID).
pub const HYPERV_LINUX_OS_ID: u64 = 0x8100 << 48;

/// `HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE`.
pub const HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE: u64 = 0x0002;
/// `HVCALL_NOTIFY_LONG_SPIN_WAIT`.
pub const HVCALL_NOTIFY_LONG_SPIN_WAIT: u64 = 0x0008;
/// `HVCALL_SEND_IPI`.
pub const HVCALL_SEND_IPI: u64 = 0x000b;
/// `HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX`.
pub const HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX: u64 = 0x0013;
/// `HVCALL_SEND_IPI_EX`.
pub const HVCALL_SEND_IPI_EX: u64 = 0x0015;
/// `HVCALL_RESET_DEBUG_SESSION`.
pub const HVCALL_RESET_DEBUG_SESSION: u64 = 0x006b;
/// `HV_EXT_CALL_QUERY_CAPABILITIES`.
pub const HV_EXT_CALL_QUERY_CAPABILITIES: u64 = 0x8001;
/// `HVCALL_POST_MESSAGE`.
pub const HVCALL_POST_MESSAGE: u64 = 0x005c;
/// `HVCALL_SIGNAL_EVENT`.
pub const HVCALL_SIGNAL_EVENT: u64 = 0x005d;
/// Control bit: register ("fast") hypercall.
pub const HV_HYPERCALL_FAST_BIT: u64 = 1 << 16;

/// `HV_STATUS_SUCCESS`.
pub const HV_STATUS_SUCCESS: u64 = 0;
/// `HV_STATUS_INVALID_HYPERCALL_CODE`.
pub const HV_STATUS_INVALID_HYPERCALL_CODE: u64 = 2;
/// `HV_STATUS_INVALID_HYPERCALL_INPUT`.
pub const HV_STATUS_INVALID_HYPERCALL_INPUT: u64 = 3;
/// `HV_STATUS_INVALID_ALIGNMENT`.
pub const HV_STATUS_INVALID_ALIGNMENT: u64 = 4;
/// `HV_STATUS_INVALID_PARAMETER`.
pub const HV_STATUS_INVALID_PARAMETER: u64 = 5;
/// `HV_STATUS_ACCESS_DENIED`.
pub const HV_STATUS_ACCESS_DENIED: u64 = 6;
/// `HV_STATUS_OPERATION_DENIED`.
pub const HV_STATUS_OPERATION_DENIED: u64 = 8;

/// The HV_STATUS code's name, for failure messages.
pub fn hv_status_name(s: u64) -> String {
    match s {
        HV_STATUS_SUCCESS => "HV_STATUS_SUCCESS".into(),
        HV_STATUS_INVALID_HYPERCALL_CODE => "HV_STATUS_INVALID_HYPERCALL_CODE".into(),
        HV_STATUS_INVALID_HYPERCALL_INPUT => "HV_STATUS_INVALID_HYPERCALL_INPUT".into(),
        HV_STATUS_INVALID_ALIGNMENT => "HV_STATUS_INVALID_ALIGNMENT".into(),
        HV_STATUS_INVALID_PARAMETER => "HV_STATUS_INVALID_PARAMETER".into(),
        HV_STATUS_ACCESS_DENIED => "HV_STATUS_ACCESS_DENIED".into(),
        HV_STATUS_OPERATION_DENIED => "HV_STATUS_OPERATION_DENIED".into(),
        other => format!("HV_STATUS {other:#x}"),
    }
}

const fn bit(name: &'static str, leaf: u32, reg: Reg, b: u8) -> CpuidBit {
    CpuidBit::new(name, leaf, 0, reg, b)
}
/// `HV_MSR_VP_RUNTIME_AVAILABLE`.
pub const HV_MSR_VP_RUNTIME_AVAILABLE: CpuidBit =
    bit("HV_MSR_VP_RUNTIME_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 0);
/// `HV_MSR_TIME_REF_COUNT_AVAILABLE`.
pub const HV_MSR_TIME_REF_COUNT_AVAILABLE: CpuidBit =
    bit("HV_MSR_TIME_REF_COUNT_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 1);
/// `HV_MSR_SYNIC_AVAILABLE`.
pub const HV_MSR_SYNIC_AVAILABLE: CpuidBit = bit("HV_MSR_SYNIC_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 2);
/// `HV_MSR_SYNTIMER_AVAILABLE`.
pub const HV_MSR_SYNTIMER_AVAILABLE: CpuidBit = bit("HV_MSR_SYNTIMER_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 3);
/// `HV_MSR_APIC_ACCESS_AVAILABLE`.
pub const HV_MSR_APIC_ACCESS_AVAILABLE: CpuidBit =
    bit("HV_MSR_APIC_ACCESS_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 4);
/// `HV_MSR_HYPERCALL_AVAILABLE`.
pub const HV_MSR_HYPERCALL_AVAILABLE: CpuidBit = bit("HV_MSR_HYPERCALL_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 5);
/// `HV_MSR_VP_INDEX_AVAILABLE`.
pub const HV_MSR_VP_INDEX_AVAILABLE: CpuidBit = bit("HV_MSR_VP_INDEX_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 6);
/// `HV_MSR_RESET_AVAILABLE`.
pub const HV_MSR_RESET_AVAILABLE: CpuidBit = bit("HV_MSR_RESET_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 7);
/// `HV_MSR_REFERENCE_TSC_AVAILABLE`.
pub const HV_MSR_REFERENCE_TSC_AVAILABLE: CpuidBit =
    bit("HV_MSR_REFERENCE_TSC_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Eax, 9);
/// `HV_ACCESS_FREQUENCY_MSRS`.
pub const HV_ACCESS_FREQUENCY_MSRS: CpuidBit = bit("HV_ACCESS_FREQUENCY_MSRS", HYPERV_CPUID_FEATURES, Reg::Eax, 11);
/// `HV_ACCESS_REENLIGHTENMENT`.
pub const HV_ACCESS_REENLIGHTENMENT: CpuidBit = bit("HV_ACCESS_REENLIGHTENMENT", HYPERV_CPUID_FEATURES, Reg::Eax, 13);
/// `HV_ACCESS_TSC_INVARIANT`.
pub const HV_ACCESS_TSC_INVARIANT: CpuidBit = bit("HV_ACCESS_TSC_INVARIANT", HYPERV_CPUID_FEATURES, Reg::Eax, 15);
/// `HV_POST_MESSAGES`.
pub const HV_POST_MESSAGES: CpuidBit = bit("HV_POST_MESSAGES", HYPERV_CPUID_FEATURES, Reg::Ebx, 4);
/// `HV_SIGNAL_EVENTS`.
pub const HV_SIGNAL_EVENTS: CpuidBit = bit("HV_SIGNAL_EVENTS", HYPERV_CPUID_FEATURES, Reg::Ebx, 5);
/// `HV_DEBUGGING`.
pub const HV_DEBUGGING: CpuidBit = bit("HV_DEBUGGING", HYPERV_CPUID_FEATURES, Reg::Ebx, 11);
/// `HV_ENABLE_EXTENDED_HYPERCALLS`.
pub const HV_ENABLE_EXTENDED_HYPERCALLS: CpuidBit =
    bit("HV_ENABLE_EXTENDED_HYPERCALLS", HYPERV_CPUID_FEATURES, Reg::Ebx, 20);
/// `HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE`.
pub const HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE: CpuidBit =
    bit("HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Edx, 4);
/// `HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE`.
pub const HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE: CpuidBit =
    bit("HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Edx, 10);
/// `HV_FEATURE_DEBUG_MSRS_AVAILABLE`.
pub const HV_FEATURE_DEBUG_MSRS_AVAILABLE: CpuidBit =
    bit("HV_FEATURE_DEBUG_MSRS_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Edx, 11);
/// `HV_STIMER_DIRECT_MODE_AVAILABLE`.
pub const HV_STIMER_DIRECT_MODE_AVAILABLE: CpuidBit =
    bit("HV_STIMER_DIRECT_MODE_AVAILABLE", HYPERV_CPUID_FEATURES, Reg::Edx, 19);
/// `HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED`.
pub const HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED: CpuidBit =
    bit("HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED", HYPERV_CPUID_ENLIGHTMENT_INFO, Reg::Eax, 2);
/// `HV_X64_CLUSTER_IPI_RECOMMENDED`.
pub const HV_X64_CLUSTER_IPI_RECOMMENDED: CpuidBit =
    bit("HV_X64_CLUSTER_IPI_RECOMMENDED", HYPERV_CPUID_ENLIGHTMENT_INFO, Reg::Eax, 10);
/// `HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED`.
pub const HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED: CpuidBit =
    bit("HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED", HYPERV_CPUID_ENLIGHTMENT_INFO, Reg::Eax, 11);
/// `HV_X64_SYNDBG_CAP_ALLOW_KERNEL_DEBUGGING`.
pub const HV_X64_SYNDBG_CAP_ALLOW_KERNEL_DEBUGGING: CpuidBit =
    bit("HV_X64_SYNDBG_CAP_ALLOW_KERNEL_DEBUGGING", HYPERV_CPUID_SYNDBG_PLATFORM_CAPABILITIES, Reg::Eax, 1);
/// CPUID.80000007H:EDX[8], the invariant TSC (which HV_ACCESS_TSC_INVARIANT hides until
/// HV_X64_MSR_TSC_INVARIANT_CONTROL is written).
pub const X86_FEATURE_INVTSC: CpuidBit = CpuidBit::new("X86_FEATURE_INVTSC", 0x8000_0007, 0, Reg::Edx, 8);
/// HYPERV_CPUID_ENLIGHTMENT_INFO.EBX is a spin count, not a feature bit;
/// any non-zero value grants HVCALL_NOTIFY_LONG_SPIN_WAIT (hyperv_features.c
/// uses bit 0 as HV_PV_SPINLOCKS_TEST).
pub const HV_PV_SPINLOCKS_TEST: CpuidBit = bit("HV_PV_SPINLOCKS_TEST", HYPERV_CPUID_ENLIGHTMENT_INFO, Reg::Ebx, 0);

/// KVM_GET_SUPPORTED_HV_CPUID on `fd` (a vCPU, or /dev/kvm with
/// KVM_CAP_SYS_HYPERV_CPUID) into a table of `capacity` entries; a table
/// too small is E2BIG, kept in the error.
fn get_supported_hv_cpuid(fd: &impl AsRawFd, capacity: usize, op: &'static str) -> Result<Cpuid> {
    let mut cpuid = CpuId::new(capacity).map_err(|e| Error::Config(format!("allocating a CPUID table: {e:?}")))?;
    // SAFETY: the kernel writes at most `nent` entries into the
    // kvm_cpuid2 the FAM wrapper allocated with that capacity, and
    // updates `nent` to the number written.
    let ret = unsafe { ioctl_with_mut_ptr(fd, KVM_GET_SUPPORTED_HV_CPUID(), cpuid.as_mut_fam_struct_ptr()) };
    if ret != 0 {
        return Err(Error::Kvm { op, source: kvm_ioctls::Error::last() });
    }
    Ok(Cpuid::from_raw(cpuid))
}

/// The Hyper-V CPUID leaves KVM can emulate, asked of /dev/kvm
/// (KVM_GET_SUPPORTED_HV_CPUID as a system ioctl, KVM_CAP_SYS_HYPERV_CPUID),
/// into a table of `capacity` entries (E2BIG if too small).
pub fn system_supported_hv_cpuid(capacity: usize) -> Result<Cpuid> {
    let kvm = crate::kvm::open_kvm()?;
    get_supported_hv_cpuid(&kvm, capacity, "KVM_GET_SUPPORTED_HV_CPUID (system)")
}

impl Vcpu {
    /// The Hyper-V CPUID leaves KVM can emulate for this vCPU
    /// (KVM_GET_SUPPORTED_HV_CPUID on the vCPU, KVM_CAP_HYPERV_CPUID).
    pub fn supported_hv_cpuid(&self) -> Result<Cpuid> {
        self.supported_hv_cpuid_in(KVM_MAX_CPUID_ENTRIES)
    }

    /// [`Vcpu::supported_hv_cpuid`] into a table of `capacity` entries (E2BIG if too small).
    pub fn supported_hv_cpuid_in(&self, capacity: usize) -> Result<Cpuid> {
        get_supported_hv_cpuid(self.fd(), capacity, "KVM_GET_SUPPORTED_HV_CPUID (vCPU)")
    }

    /// The selftests' vcpu_enable_evmcs(): KVM_ENABLE_CAP(KVM_CAP_HYPERV_ENLIGHTENED_VMCS)
    /// on this vCPU (Intel VMX only); returns the supported eVMCS version
    /// range KVM wrote back (low byte the lowest version, high byte the highest).
    pub fn enable_evmcs(&self) -> Result<u16> {
        let mut evmcs_ver: u16 = 0;
        self.enable_cap(kvm_bindings::KVM_CAP_HYPERV_ENLIGHTENED_VMCS, &[&mut evmcs_ver as *mut u16 as u64])?;
        Ok(evmcs_ver)
    }

    /// Gives the vCPU KVM_GET_SUPPORTED_CPUID with every Hyper-V leaf KVM
    /// supports in place of KVM's own 0x400000xx leaves (the selftests'
    /// vcpu_set_hv_cpuid, which also starts from the supported table), then clears the
    /// leaves whose bits grant individual services (vcpu_reset_hv_cpuid), so
    /// a test grants exactly what it tests.
    pub fn reset_hv_cpuid(&self) -> Result<()> {
        let mut cpuid = self.hv_cpuid()?;
        cpuid.clear_leaf(HYPERV_CPUID_FEATURES);
        cpuid.clear_leaf(HYPERV_CPUID_ENLIGHTMENT_INFO);
        cpuid.clear_leaf(HYPERV_CPUID_SYNDBG_PLATFORM_CAPABILITIES);
        self.set_cpuid(&cpuid)
    }

    /// Gives the vCPU KVM_GET_SUPPORTED_CPUID with every Hyper-V leaf KVM
    /// supports in place of KVM's own 0x400000xx leaves, all of them
    /// granted (the selftests' vcpu_set_hv_cpuid).
    pub fn set_hv_cpuid(&self) -> Result<()> {
        let cpuid = self.hv_cpuid()?;
        self.set_cpuid(&cpuid)
    }

    fn hv_cpuid(&self) -> Result<Cpuid> {
        let hv = self.supported_hv_cpuid()?;
        let mut cpuid = Cpuid::supported()?;
        cpuid.remove_leaves(HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS..KVM_CPUID_RANGE_END)?;
        cpuid.extend(hv.entries())?;
        Ok(cpuid)
    }
}
