//! arm64's part of KVM_SET_GUEST_DEBUG: the host's hardware breakpoint and
//! watchpoint registers (`struct kvm_guest_debug_arch`) and KVM_EXIT_DEBUG's
//! syndrome (`struct kvm_debug_exit_arch`, arch/arm64/include/uapi/asm/kvm.h).

use kvm_bindings::{kvm_debug_exit_arch, kvm_guest_debug_arch, KVM_ARM_MAX_DBG_REGS};

/// DBGBCRn/DBGBVRn/DBGWCRn/DBGWVRn as the host programs them (with KVM_GUESTDBG_USE_HW).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HwDebugRegs {
    /// Breakpoint control registers.
    pub bcr: [u64; KVM_ARM_MAX_DBG_REGS as usize],
    /// Breakpoint value registers.
    pub bvr: [u64; KVM_ARM_MAX_DBG_REGS as usize],
    /// Watchpoint control registers.
    pub wcr: [u64; KVM_ARM_MAX_DBG_REGS as usize],
    /// Watchpoint value registers.
    pub wvr: [u64; KVM_ARM_MAX_DBG_REGS as usize],
}

impl HwDebugRegs {
    pub(crate) fn to_kvm(self) -> kvm_guest_debug_arch {
        kvm_guest_debug_arch { dbg_bcr: self.bcr, dbg_bvr: self.bvr, dbg_wcr: self.wcr, dbg_wvr: self.wvr }
    }
}

/// ESR_ELx.EC of a software step from a lower EL (ESR_ELx_EC_SOFTSTP_LOW).
pub const ESR_EC_SOFTSTP_LOW: u64 = 0x32;
/// ESR_ELx.EC of a hardware breakpoint from a lower EL (ESR_ELx_EC_BREAKPT_LOW).
pub const ESR_EC_BREAKPT_LOW: u64 = 0x30;
/// ESR_ELx.EC of a watchpoint from a lower EL (ESR_ELx_EC_WATCHPT_LOW).
pub const ESR_EC_WATCHPT_LOW: u64 = 0x34;
/// ESR_ELx.EC of a BRK instruction (ESR_ELx_EC_BRK64).
pub const ESR_EC_BRK64: u64 = 0x3c;

/// A KVM_EXIT_DEBUG: the syndrome KVM took the debug exception with, and
/// the fault address of a watchpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugExit {
    /// ESR_EL2: `hsr` with `hsr_high` (bits 61:32) above it.
    pub esr: u64,
    /// FAR_EL2 (watchpoints).
    pub far: u64,
}

impl DebugExit {
    pub(crate) fn from_kvm(raw: &kvm_debug_exit_arch) -> DebugExit {
        DebugExit { esr: u64::from(raw.hsr) | (u64::from(raw.hsr_high) << 32), far: raw.far }
    }

    /// The exception class, ESR bits 31:26.
    pub fn ec(&self) -> u64 {
        (self.esr >> 26) & 0x3f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_syndrome_joins_both_halves() {
        let raw = kvm_debug_exit_arch { hsr: 0xc800_0000, hsr_high: 0x1, far: 0x1234 };
        let exit = DebugExit::from_kvm(&raw);
        assert_eq!(exit.esr, 0x1_c800_0000);
        assert_eq!(exit.ec(), ESR_EC_SOFTSTP_LOW);
        assert_eq!(exit.far, 0x1234);
    }

    #[test]
    fn registers_land_in_their_arrays() {
        let mut regs = HwDebugRegs::default();
        regs.bcr[1] = 0x1e7;
        regs.wvr[15] = 0x8000;
        let arch = regs.to_kvm();
        assert_eq!(arch.dbg_bcr[1], 0x1e7);
        assert_eq!(arch.dbg_wvr[15], 0x8000);
        assert_eq!(arch.dbg_bvr, [0; 16]);
    }
}
