//! The SMCCC filter (KVM_ARM_VM_SMCCC_FILTER, Linux 6.4+): which SMCCC
//! function ids KVM handles, denies, or forwards to userspace. The platform
//! uses it for the hvc doorbell; `kvmtest::aarch64::smccc` re-exports it for
//! the scenarios.

use kvm_bindings::{kvm_device_attr, kvm_smccc_filter};
use kvm_ioctls::VmFd;

use crate::{Error, Result};

/// `KVM_ARM_VM_SMCCC_CTRL` (VM device-attribute group) and its `KVM_ARM_VM_SMCCC_FILTER` attribute.
pub const KVM_ARM_VM_SMCCC_CTRL: u32 = 0;
/// `KVM_ARM_VM_SMCCC_FILTER`.
pub const KVM_ARM_VM_SMCCC_FILTER: u64 = 0;

/// `enum kvm_smccc_filter_action`.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmcccFilterAction {
    /// KVM handles the call itself.
    Handle = 0,
    /// KVM answers NOT_SUPPORTED.
    Deny = 1,
    /// KVM exits to userspace (KVM_EXIT_HYPERCALL).
    FwdToUser = 2,
}

/// The `struct kvm_smccc_filter` for `nr_functions` ids from `base`.
pub fn smccc_filter(base: u32, nr_functions: u32, action: SmcccFilterAction) -> kvm_smccc_filter {
    kvm_smccc_filter { base, nr_functions, action: action as u8, pad: [0; 15] }
}

fn smccc_filter_attr(filter: &kvm_smccc_filter) -> kvm_device_attr {
    kvm_device_attr {
        group: KVM_ARM_VM_SMCCC_CTRL,
        attr: KVM_ARM_VM_SMCCC_FILTER,
        addr: filter as *const kvm_smccc_filter as u64,
        flags: 0,
    }
}

/// KVM_HAS_DEVICE_ATTR(KVM_ARM_VM_SMCCC_CTRL, KVM_ARM_VM_SMCCC_FILTER): Linux 6.4+.
pub fn has_smccc_filter(vm: &VmFd) -> bool {
    let probe = smccc_filter(0, 0, SmcccFilterAction::Handle);
    vm.has_device_attr(&smccc_filter_attr(&probe)).is_ok()
}

/// Skips, naming the series, when the running kernel's series predates the
/// SMCCC filter; fails when the series has it and the VM does not
/// (KVM_HAS_DEVICE_ATTR on the VM, as kvm_supports_smccc_filter()). `user`
/// says what needs it, for the failure message.
pub fn require_smccc_filter(vm: &VmFd, user: &str) -> Result<()> {
    crate::series::Feature::SmcccFilter.require()?;
    if has_smccc_filter(vm) {
        Ok(())
    } else {
        Err(Error::Check(format!(
            "KVM_HAS_DEVICE_ATTR(KVM_ARM_VM_SMCCC_CTRL, KVM_ARM_VM_SMCCC_FILTER) failed on Linux {} (6.4+ has it; \
             needed by {user})",
            crate::series::Series::running()?
        )))
    }
}

/// KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER) with `filter` as given (padding
/// and action unchecked, so tests can send what the kernel must refuse).
pub fn set_smccc_filter_raw(vm: &VmFd, filter: &kvm_smccc_filter) -> Result<()> {
    vm.set_device_attr(&smccc_filter_attr(filter)).map_err(Error::kvm("KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER)"))
}

/// Applies `action` to the `nr_functions` SMCCC ids from `base`.
pub fn set_smccc_filter(vm: &VmFd, base: u32, nr_functions: u32, action: SmcccFilterAction) -> Result<()> {
    set_smccc_filter_raw(vm, &smccc_filter(base, nr_functions, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_uapi_values() {
        assert_eq!(KVM_ARM_VM_SMCCC_CTRL, kvm_bindings::KVM_ARM_VM_SMCCC_CTRL);
        assert_eq!(KVM_ARM_VM_SMCCC_FILTER, u64::from(kvm_bindings::KVM_ARM_VM_SMCCC_FILTER));
        assert_eq!(
            SmcccFilterAction::FwdToUser as u32,
            kvm_bindings::kvm_smccc_filter_action_KVM_SMCCC_FILTER_FWD_TO_USER
        );
    }
}
