//! KVM's paravirtual interface (arch/x86/include/uapi/asm/kvm_para.h,
//! include/uapi/linux/kvm_para.h): the feature bits of CPUID leaf
//! KVM_CPUID_FEATURES, the PV MSRs they gate and the hypercall numbers,
//! with the kernel's names. See Documentation/virt/kvm/x86/{cpuid,msr,hypercalls}.rst.

/// `KVM_CPUID_SIGNATURE`.
pub const KVM_CPUID_SIGNATURE: u32 = 0x4000_0000;
/// `KVM_CPUID_FEATURES`.
pub const KVM_CPUID_FEATURES: u32 = 0x4000_0001;
/// EBX of KVM_CPUID_SIGNATURE: "KVMK" of "KVMKVMKVM\0\0\0".
pub const KVM_SIGNATURE_EBX: u32 = u32::from_le_bytes(*b"KVMK");

/// A bit of KVM_CPUID_FEATURES.EAX by its kernel name: `kvm_feature!(KVM_FEATURE_PV_EOI)`.
#[macro_export]
macro_rules! kvm_feature {
    ($name:ident) => {
        $crate::x86_64::cpuid::CpuidBit::new(
            stringify!($name),
            $crate::x86_64::kvm_para::KVM_CPUID_FEATURES,
            0,
            $crate::x86_64::cpuid::Reg::Eax,
            $crate::x86_64::kvm_para::$name,
        )
    };
}

/// `KVM_FEATURE_CLOCKSOURCE`.
pub const KVM_FEATURE_CLOCKSOURCE: u8 = 0;
/// `KVM_FEATURE_NOP_IO_DELAY`.
pub const KVM_FEATURE_NOP_IO_DELAY: u8 = 1;
/// `KVM_FEATURE_CLOCKSOURCE2`.
pub const KVM_FEATURE_CLOCKSOURCE2: u8 = 3;
/// `KVM_FEATURE_ASYNC_PF`.
pub const KVM_FEATURE_ASYNC_PF: u8 = 4;
/// `KVM_FEATURE_STEAL_TIME`.
pub const KVM_FEATURE_STEAL_TIME: u8 = 5;
/// `KVM_FEATURE_PV_EOI`.
pub const KVM_FEATURE_PV_EOI: u8 = 6;
/// `KVM_FEATURE_PV_UNHALT`.
pub const KVM_FEATURE_PV_UNHALT: u8 = 7;
/// `KVM_FEATURE_PV_TLB_FLUSH`.
pub const KVM_FEATURE_PV_TLB_FLUSH: u8 = 9;
/// `KVM_FEATURE_ASYNC_PF_VMEXIT`.
pub const KVM_FEATURE_ASYNC_PF_VMEXIT: u8 = 10;
/// `KVM_FEATURE_PV_SEND_IPI`.
pub const KVM_FEATURE_PV_SEND_IPI: u8 = 11;
/// `KVM_FEATURE_POLL_CONTROL`.
pub const KVM_FEATURE_POLL_CONTROL: u8 = 12;
/// `KVM_FEATURE_PV_SCHED_YIELD`.
pub const KVM_FEATURE_PV_SCHED_YIELD: u8 = 13;
/// `KVM_FEATURE_ASYNC_PF_INT`.
pub const KVM_FEATURE_ASYNC_PF_INT: u8 = 14;
/// `KVM_FEATURE_MSI_EXT_DEST_ID`.
pub const KVM_FEATURE_MSI_EXT_DEST_ID: u8 = 15;
/// `KVM_FEATURE_HC_MAP_GPA_RANGE`.
pub const KVM_FEATURE_HC_MAP_GPA_RANGE: u8 = 16;
/// `KVM_FEATURE_MIGRATION_CONTROL`.
pub const KVM_FEATURE_MIGRATION_CONTROL: u8 = 17;

/// `MSR_KVM_WALL_CLOCK`.
pub const MSR_KVM_WALL_CLOCK: u32 = 0x11;
/// `MSR_KVM_SYSTEM_TIME`.
pub const MSR_KVM_SYSTEM_TIME: u32 = 0x12;
/// `MSR_KVM_WALL_CLOCK_NEW`.
pub const MSR_KVM_WALL_CLOCK_NEW: u32 = 0x4b56_4d00;
/// `MSR_KVM_SYSTEM_TIME_NEW`.
pub const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
/// `MSR_KVM_ASYNC_PF_EN`.
pub const MSR_KVM_ASYNC_PF_EN: u32 = 0x4b56_4d02;
pub use kvmtest_abi::steal_time::MSR_KVM_STEAL_TIME;
/// `MSR_KVM_PV_EOI_EN`.
pub const MSR_KVM_PV_EOI_EN: u32 = 0x4b56_4d04;
/// `MSR_KVM_POLL_CONTROL`.
pub const MSR_KVM_POLL_CONTROL: u32 = 0x4b56_4d05;
/// `MSR_KVM_ASYNC_PF_INT`.
pub const MSR_KVM_ASYNC_PF_INT: u32 = 0x4b56_4d06;
/// `MSR_KVM_ASYNC_PF_ACK`.
pub const MSR_KVM_ASYNC_PF_ACK: u32 = 0x4b56_4d07;
/// `MSR_KVM_MIGRATION_CONTROL`.
pub const MSR_KVM_MIGRATION_CONTROL: u32 = 0x4b56_4d08;

/// `KVM_HC_VAPIC_POLL_IRQ`.
pub const KVM_HC_VAPIC_POLL_IRQ: u64 = 1;
/// `KVM_HC_KICK_CPU`.
pub const KVM_HC_KICK_CPU: u64 = 5;
/// `KVM_HC_CLOCK_PAIRING`.
pub const KVM_HC_CLOCK_PAIRING: u64 = 9;
/// `KVM_HC_SEND_IPI`.
pub const KVM_HC_SEND_IPI: u64 = 10;
/// `KVM_HC_SCHED_YIELD`.
pub const KVM_HC_SCHED_YIELD: u64 = 11;
/// `KVM_HC_MAP_GPA_RANGE`.
pub const KVM_HC_MAP_GPA_RANGE: u64 = 12;

/// Hypercall error codes as the guest sees them in RAX (negated).
pub const KVM_ENOSYS: u64 = 1000;
/// `KVM_EINVAL`.
pub const KVM_EINVAL: u64 = 22;
/// `KVM_EPERM`.
pub const KVM_EPERM: u64 = 1;

/// `-code` as the 64-bit value a hypercall returns.
pub const fn neg(code: u64) -> u64 {
    code.wrapping_neg()
}

/// MAP_GPA_RANGE attributes (hypercalls.rst).
pub const KVM_MAP_GPA_RANGE_PAGE_SZ_4K: u64 = 0;
/// `KVM_MAP_GPA_RANGE_ENCRYPTED`.
pub const KVM_MAP_GPA_RANGE_ENCRYPTED: u64 = 1 << 4;
/// `KVM_MAP_GPA_RANGE_DECRYPTED`.
pub const KVM_MAP_GPA_RANGE_DECRYPTED: u64 = 0;

/// KVM_CAP_EXIT_HYPERCALL: bit `1 << KVM_HC_MAP_GPA_RANGE` of its mask.
pub const KVM_EXIT_HYPERCALL_VALID_MASK: u64 = 1 << KVM_HC_MAP_GPA_RANGE;
/// kvm_run.hypercall.flags bit 0: the guest was in 64-bit mode.
pub const KVM_EXIT_HYPERCALL_LONG_MODE: u64 = 1 << 0;

/// KVM_CAP_DISABLE_QUIRKS2 bit: patch the other vendor's hypercall instruction.
pub const KVM_X86_QUIRK_FIX_HYPERCALL_INSN: u64 = kvm_bindings::KVM_X86_QUIRK_FIX_HYPERCALL_INSN as u64;

/// The hypercall instructions (fix_hypercall_test.c).
pub const VMX_VMCALL: [u8; 3] = [0x0f, 0x01, 0xc1];
/// `SVM_VMMCALL`.
pub const SVM_VMMCALL: [u8; 3] = [0x0f, 0x01, 0xd9];

/// Which vendor's virtualization KVM runs on, from the host's CPUID vendor.
pub fn host_is_amd() -> bool {
    let r = std::arch::x86_64::__cpuid(0);
    matches!((r.ebx, r.edx, r.ecx), (0x6874_7541, 0x6974_6e65, 0x444d_4163) | (0x6f67_7948, 0x6e65_476e, 0x656e_6975))
}
