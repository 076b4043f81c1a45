//! halt: the message sits in the vCPU's pre-arranged slot and the guest
//! stops the CPU in the one way that reaches userspace on its arch.
//!
//! - x86_64: HLT. It exits only without an in-kernel LAPIC, so a VM using
//!   this transport is built without an irqchip.
//! - arm64: WFI never leaves the kernel, so "halt" is PSCI SYSTEM_SUSPEND
//!   with KVM_CAP_ARM_SYSTEM_SUSPEND enabled: KVM exits with
//!   KVM_EXIT_SYSTEM_EVENT type SUSPEND and changes no register (Linux 5.19+;
//!   older kernels skip the transport). The host does not emulate the
//!   suspend: it re-enters the vCPU, which continues after its HVC as if the
//!   call had been denied. The doorbell ignores x0, so the host writes
//!   nothing. It works with or without an in-kernel vGIC.

use kvm_bindings::KVM_SYSTEM_EVENT_SUSPEND;
use kvm_ioctls::VcpuExit;

use super::{Doorbell, SharedArena, Transport};
use crate::arch::{Arch, HostArch};
use crate::layout::Layout;
use crate::Result;

pub struct Halt {
    doorbell: Doorbell,
}

impl Halt {
    pub fn new() -> Self {
        Halt { doorbell: HostArch::HALT_DOORBELL }
    }
}

impl Transport for Halt {
    fn doorbell(&self) -> Doorbell {
        self.doorbell
    }
    fn message_buffer(&self, layout: &Layout, id: usize, _: &mut SharedArena) -> Result<u64> {
        Ok(layout.ucall_slot_of(id))
    }
    fn decode(&self, exit: &VcpuExit<'_>, buffer: u64) -> Option<Result<u64, String>> {
        match (self.doorbell, exit) {
            (Doorbell::Halt, VcpuExit::Hlt) => Some(Ok(buffer)),
            (Doorbell::SystemSuspend, VcpuExit::SystemEvent(KVM_SYSTEM_EVENT_SUSPEND, _)) => Some(Ok(buffer)),
            _ => None,
        }
    }
    fn forbids_irqchip(&self) -> bool {
        self.doorbell == Doorbell::Halt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_only_its_arch_halt_exit() {
        let t = Halt::new();
        let suspend = VcpuExit::SystemEvent(KVM_SYSTEM_EVENT_SUSPEND, &[]);
        let reset = VcpuExit::SystemEvent(kvm_bindings::KVM_SYSTEM_EVENT_RESET, &[]);
        match t.doorbell() {
            Doorbell::Halt => {
                assert_eq!(t.decode(&VcpuExit::Hlt, 0x2_0000), Some(Ok(0x2_0000)));
                assert_eq!(t.decode(&suspend, 0x2_0000), None);
                assert!(t.forbids_irqchip());
            }
            Doorbell::SystemSuspend => {
                assert_eq!(t.decode(&suspend, 0x2_0000), Some(Ok(0x2_0000)));
                assert_eq!(t.decode(&VcpuExit::Hlt, 0x2_0000), None);
                assert!(!t.forbids_irqchip());
            }
            other => panic!("unexpected halt doorbell {other:?}"),
        }
        assert_eq!(t.decode(&reset, 0x2_0000), None);
    }
}
