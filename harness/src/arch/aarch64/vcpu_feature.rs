//! The features a KVM_ARM_VCPU_INIT may ask for (`kvm_vcpu_init.features`,
//! Documentation/virt/kvm/api.rst 4.82), by name: what a bare vCPU is
//! initialised with ([`crate::arch::Arch::init_bare_vcpu`]).

/// A KVM_ARM_VCPU_INIT feature that KVM offers only with a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VcpuFeature {
    /// `KVM_ARM_VCPU_PMU_V3` (KVM_CAP_ARM_PMU_V3).
    PmuV3,
    /// `KVM_ARM_VCPU_SVE` (KVM_CAP_ARM_SVE); needs KVM_ARM_VCPU_FINALIZE before the vCPU runs.
    Sve,
    /// `KVM_ARM_VCPU_PTRAUTH_ADDRESS` (KVM_CAP_ARM_PTRAUTH_ADDRESS).
    PtrauthAddress,
    /// `KVM_ARM_VCPU_PTRAUTH_GENERIC` (KVM_CAP_ARM_PTRAUTH_GENERIC).
    PtrauthGeneric,
    /// `KVM_ARM_VCPU_EL1_32BIT` (KVM_CAP_ARM_EL1_32BIT): the vCPU starts in AArch32 EL1.
    El1_32bit,
    /// `KVM_ARM_VCPU_PSCI_0_2` (KVM_CAP_ARM_PSCI_0_2): PSCI 0.2 or later
    /// instead of KVM's PSCI 0.1.
    Psci0_2,
}

impl VcpuFeature {
    /// The feature's bit number in `kvm_vcpu_init.features`.
    pub const fn bit(self) -> u32 {
        match self {
            VcpuFeature::PmuV3 => kvm_bindings::KVM_ARM_VCPU_PMU_V3,
            VcpuFeature::Sve => kvm_bindings::KVM_ARM_VCPU_SVE,
            VcpuFeature::PtrauthAddress => kvm_bindings::KVM_ARM_VCPU_PTRAUTH_ADDRESS,
            VcpuFeature::PtrauthGeneric => kvm_bindings::KVM_ARM_VCPU_PTRAUTH_GENERIC,
            VcpuFeature::El1_32bit => kvm_bindings::KVM_ARM_VCPU_EL1_32BIT,
            VcpuFeature::Psci0_2 => kvm_bindings::KVM_ARM_VCPU_PSCI_0_2,
        }
    }

    /// The capability that says KVM offers the feature.
    pub const fn cap(self) -> u32 {
        match self {
            VcpuFeature::PmuV3 => kvm_bindings::KVM_CAP_ARM_PMU_V3,
            VcpuFeature::Sve => kvm_bindings::KVM_CAP_ARM_SVE,
            VcpuFeature::PtrauthAddress => kvm_bindings::KVM_CAP_ARM_PTRAUTH_ADDRESS,
            VcpuFeature::PtrauthGeneric => kvm_bindings::KVM_CAP_ARM_PTRAUTH_GENERIC,
            VcpuFeature::El1_32bit => kvm_bindings::KVM_CAP_ARM_EL1_32BIT,
            VcpuFeature::Psci0_2 => kvm_bindings::KVM_CAP_ARM_PSCI_0_2,
        }
    }

    /// The capability's name in include/uapi/linux/kvm.h.
    pub const fn cap_name(self) -> &'static str {
        match self {
            VcpuFeature::PmuV3 => "KVM_CAP_ARM_PMU_V3",
            VcpuFeature::Sve => "KVM_CAP_ARM_SVE",
            VcpuFeature::PtrauthAddress => "KVM_CAP_ARM_PTRAUTH_ADDRESS",
            VcpuFeature::PtrauthGeneric => "KVM_CAP_ARM_PTRAUTH_GENERIC",
            VcpuFeature::El1_32bit => "KVM_CAP_ARM_EL1_32BIT",
            VcpuFeature::Psci0_2 => "KVM_CAP_ARM_PSCI_0_2",
        }
    }
}

/// `kvm_vcpu_init.features` with exactly `features` set.
pub fn features_word(features: &[VcpuFeature]) -> [u32; 7] {
    let mut word = [0u32; 7];
    for f in features {
        word[(f.bit() / 32) as usize] |= 1 << (f.bit() % 32);
    }
    word
}
