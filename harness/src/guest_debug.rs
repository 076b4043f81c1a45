//! KVM_SET_GUEST_DEBUG (Documentation/virt/kvm/api.rst 4.57): the host
//! debugging its guest — single step, software and hardware breakpoints —
//! and what KVM_EXIT_DEBUG reports. One shape on every arch; the hardware
//! breakpoint registers and the exit's details are the arch's
//! ([`crate::arch::Arch::HwDebugRegs`], [`crate::arch::Arch::DebugExit`]).

use kvm_bindings::{kvm_debug_exit_arch, kvm_guest_debug};

use crate::arch::{Arch, HostArch};
use crate::vcpu::Vcpu;
use crate::{Error, Result};

/// `KVM_GUESTDBG_ENABLE` (include/uapi/linux/kvm.h).
pub const KVM_GUESTDBG_ENABLE: u32 = 0x0000_0001;
/// `KVM_GUESTDBG_SINGLESTEP`.
pub const KVM_GUESTDBG_SINGLESTEP: u32 = 0x0000_0002;
/// `KVM_GUESTDBG_USE_SW_BP` (the same bit in arm64's and x86's asm/kvm.h).
pub const KVM_GUESTDBG_USE_SW_BP: u32 = 0x0001_0000;
/// arm64 `KVM_GUESTDBG_USE_HW`, x86 `KVM_GUESTDBG_USE_HW_BP` (the same bit).
pub const KVM_GUESTDBG_USE_HW: u32 = 0x0002_0000;

/// The host arch's hardware breakpoint/watchpoint registers.
pub type HwDebugRegs = <HostArch as Arch>::HwDebugRegs;
/// The host arch's decoded KVM_EXIT_DEBUG.
pub type DebugExit = <HostArch as Arch>::DebugExit;

/// What KVM_SET_GUEST_DEBUG asks of KVM.
#[derive(Debug, Clone, Default)]
pub struct GuestDebug {
    /// KVM_GUESTDBG_ENABLE: without it, guest debugging is off (the rest is ignored).
    pub enable: bool,
    /// KVM_GUESTDBG_SINGLESTEP: exit with KVM_EXIT_DEBUG after each guest instruction.
    pub single_step: bool,
    /// KVM_GUESTDBG_USE_SW_BP: the guest's software breakpoints exit to the host.
    pub use_sw_bp: bool,
    /// KVM_GUESTDBG_USE_HW(_BP): `hw_regs` are the host's hardware breakpoints.
    pub use_hw: bool,
    /// The hardware breakpoint/watchpoint registers, with `use_hw`.
    pub hw_regs: HwDebugRegs,
}

impl GuestDebug {
    /// Guest debugging off (control 0).
    pub fn off() -> GuestDebug {
        GuestDebug::default()
    }

    /// KVM_GUESTDBG_ENABLE alone: on, with nothing to trap.
    pub fn enabled() -> GuestDebug {
        GuestDebug { enable: true, ..GuestDebug::default() }
    }

    /// KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP.
    pub fn single_step() -> GuestDebug {
        GuestDebug { enable: true, single_step: true, ..GuestDebug::default() }
    }

    /// The `control` word.
    pub fn control(&self) -> u32 {
        [
            (self.enable, KVM_GUESTDBG_ENABLE),
            (self.single_step, KVM_GUESTDBG_SINGLESTEP),
            (self.use_sw_bp, KVM_GUESTDBG_USE_SW_BP),
            (self.use_hw, KVM_GUESTDBG_USE_HW),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |control, (_, bit)| control | bit)
    }

    /// The ioctl's `struct kvm_guest_debug`.
    pub fn to_kvm(&self) -> kvm_guest_debug {
        kvm_guest_debug { control: self.control(), pad: 0, arch: HostArch::guest_debug_arch(&self.hw_regs) }
    }
}

impl Vcpu {
    /// KVM_SET_GUEST_DEBUG; a refusal keeps the errno.
    pub fn set_guest_debug(&self, debug: &GuestDebug) -> Result<()> {
        self.fd().set_guest_debug(&debug.to_kvm()).map_err(Error::kvm("KVM_SET_GUEST_DEBUG"))
    }
}

/// Decodes the `kvm_run.debug.arch` of a KVM_EXIT_DEBUG (`VcpuExit::Debug`).
pub fn debug_exit(raw: &kvm_debug_exit_arch) -> DebugExit {
    HostArch::debug_exit(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_word_has_the_uapi_bits() {
        assert_eq!(GuestDebug::off().control(), 0);
        assert_eq!(GuestDebug::enabled().control(), 0x1);
        assert_eq!(GuestDebug::single_step().control(), 0x3);
        let all = GuestDebug { enable: true, single_step: true, use_sw_bp: true, use_hw: true, ..GuestDebug::off() };
        assert_eq!(all.control(), 0x3_0003);
        assert_eq!(all.to_kvm().control, 0x3_0003);
        assert_eq!(KVM_GUESTDBG_ENABLE, kvm_bindings::KVM_GUESTDBG_ENABLE);
        assert_eq!(KVM_GUESTDBG_SINGLESTEP, kvm_bindings::KVM_GUESTDBG_SINGLESTEP);
        assert_eq!(KVM_GUESTDBG_USE_SW_BP, kvm_bindings::KVM_GUESTDBG_USE_SW_BP);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(KVM_GUESTDBG_USE_HW, kvm_bindings::KVM_GUESTDBG_USE_HW_BP);
        #[cfg(target_arch = "aarch64")]
        assert_eq!(KVM_GUESTDBG_USE_HW, kvm_bindings::KVM_GUESTDBG_USE_HW);
    }
}
