//! x86_64's part of KVM_SET_GUEST_DEBUG: the host's debug registers DR0-DR7
//! (`struct kvm_guest_debug_arch`) and what KVM_EXIT_DEBUG reports
//! (`struct kvm_debug_exit_arch`, arch/x86/include/uapi/asm/kvm.h).

use kvm_bindings::{kvm_debug_exit_arch, kvm_guest_debug_arch};

/// DR0-DR3 (addresses), DR6, DR7 as the host programs them (with
/// KVM_GUESTDBG_USE_HW_BP); `debugreg[4]` and `[5]` are unused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HwDebugRegs {
    /// `debugreg[0..8]`.
    pub debugreg: [u64; 8],
}

impl HwDebugRegs {
    pub(crate) fn to_kvm(self) -> kvm_guest_debug_arch {
        kvm_guest_debug_arch { debugreg: self.debugreg }
    }
}

/// A KVM_EXIT_DEBUG: the exception vector (#DB 1, #BP 3), the guest RIP,
/// and DR6/DR7 as KVM saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugExit {
    /// The vector.
    pub exception: u32,
    /// Guest RIP (linear address).
    pub pc: u64,
    /// DR6.
    pub dr6: u64,
    /// DR7.
    pub dr7: u64,
}

impl DebugExit {
    pub(crate) fn from_kvm(raw: &kvm_debug_exit_arch) -> DebugExit {
        DebugExit { exception: raw.exception, pc: raw.pc, dr6: raw.dr6, dr7: raw.dr7 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_fields_are_copied() {
        let raw = kvm_debug_exit_arch { exception: 1, pad: 0, pc: 0x40_1000, dr6: 0xffff_4ff0, dr7: 0x400 };
        assert_eq!(DebugExit::from_kvm(&raw), DebugExit { exception: 1, pc: 0x40_1000, dr6: 0xffff_4ff0, dr7: 0x400 });
        let regs = HwDebugRegs { debugreg: [1, 2, 3, 4, 0, 0, 6, 7] };
        assert_eq!(regs.to_kvm().debugreg, [1, 2, 3, 4, 0, 0, 6, 7]);
    }
}
