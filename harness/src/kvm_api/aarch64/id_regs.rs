//! Writable feature ID registers (arm64, Linux 6.7+): KVM_ARM_GET_REG_WRITABLE_MASKS
//! (Documentation/virt/kvm/api.rst 4.139) and the index of a register in
//! its Feature ID range, `KVM_ARM_FEATURE_ID_RANGE_IDX` (arch/arm64/include/
//! uapi/asm/kvm.h).

use kvm_bindings::reg_mask_range;
use kvm_ioctls::VmFd;
use vmm_sys_util::ioctl::ioctl_with_mut_ref;
use vmm_sys_util::ioctl_ior_nr;

use crate::{Error, Result};

mod ioctl_nr {
    super::ioctl_ior_nr!(KVM_ARM_GET_REG_WRITABLE_MASKS, kvm_bindings::KVMIO, 0xb6, super::reg_mask_range);
}

/// `KVM_ARM_FEATURE_ID_RANGE`: op0==3, op1=={0, 1, 3}, CRn==0, CRm=={0-7}, op2=={0-7}.
pub const KVM_ARM_FEATURE_ID_RANGE: u32 = 0;
/// `KVM_ARM_FEATURE_ID_RANGE_SIZE`.
pub const KVM_ARM_FEATURE_ID_RANGE_SIZE: usize = 3 * 8 * 8;

/// `KVM_ARM_FEATURE_ID_RANGE_IDX(op0, op1, crn, crm, op2)`: op1 3 folds to 2.
pub const fn feature_id_range_idx(op1: u64, crm: u64, op2: u64) -> usize {
    let op1 = op1 & 3;
    let op1 = if op1 == 3 { 2 } else { op1 };
    ((op1 << 6) | ((crm & 7) << 3) | (op2 & 7)) as usize
}

/// The writable masks of the Feature ID range, indexed by [`feature_id_range_idx`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableMasks(pub [u64; KVM_ARM_FEATURE_ID_RANGE_SIZE]);

impl WritableMasks {
    /// The mask of the register at `idx` (0 outside the range).
    pub fn at(&self, idx: usize) -> u64 {
        self.0.get(idx).copied().unwrap_or(0)
    }
}

/// KVM_ARM_GET_REG_WRITABLE_MASKS of the Feature ID range.
pub fn writable_masks(vm: &VmFd) -> Result<WritableMasks> {
    writable_masks_with(vm, KVM_ARM_FEATURE_ID_RANGE, [0; 13])
}

/// KVM_ARM_GET_REG_WRITABLE_MASKS with the given `range` and `reserved`
/// words (which KVM may refuse unless 0); a refusal keeps the errno.
pub fn writable_masks_with(vm: &VmFd, range: u32, reserved: [u32; 13]) -> Result<WritableMasks> {
    let mut masks = [0u64; KVM_ARM_FEATURE_ID_RANGE_SIZE];
    let mut arg = reg_mask_range { addr: masks.as_mut_ptr() as u64, range, reserved };
    // SAFETY: the argument is a `struct reg_mask_range` of the ioctl's size;
    // `addr` points to KVM_ARM_FEATURE_ID_RANGE_SIZE u64s that live across
    // the call, which is all KVM writes for the one range it knows.
    let ret = unsafe { ioctl_with_mut_ref(vm, ioctl_nr::KVM_ARM_GET_REG_WRITABLE_MASKS(), &mut arg) };
    if ret < 0 {
        return Err(Error::Kvm { op: "KVM_ARM_GET_REG_WRITABLE_MASKS", source: kvm_ioctls::Error::last() });
    }
    Ok(WritableMasks(masks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_index_matches_the_uapi_macro() {
        // ID_AA64PFR0_EL1 (3,0,0,4,0), ID_AA64ZFR0_EL1 (3,0,0,4,4), CTR_EL0 (3,3,0,0,1),
        // CLIDR_EL1 (3,1,0,0,1), the last of the range (3,3,0,7,7).
        assert_eq!(feature_id_range_idx(0, 4, 0), 32);
        assert_eq!(feature_id_range_idx(0, 4, 4), 36);
        assert_eq!(feature_id_range_idx(3, 0, 1), 129);
        assert_eq!(feature_id_range_idx(1, 0, 1), 65);
        assert_eq!(feature_id_range_idx(3, 7, 7), KVM_ARM_FEATURE_ID_RANGE_SIZE - 1);
    }

    #[test]
    fn ioctl_number_matches_the_uapi() {
        // _IOR(KVMIO, 0xb6, struct reg_mask_range), 64 bytes.
        assert_eq!(ioctl_nr::KVM_ARM_GET_REG_WRITABLE_MASKS(), 0x8040_aeb6);
    }
}
