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
        Self::with_doorbell(HostArch::HALT_DOORBELL)
    }

    /// The transport for either arch's halt doorbell: its decode is plain
    /// logic, so any host's unit tests check both.
    fn with_doorbell(doorbell: Doorbell) -> Self {
        Halt { doorbell }
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

    const SLOT: u64 = 0x2_0000;

    fn suspend() -> VcpuExit<'static> {
        VcpuExit::SystemEvent(KVM_SYSTEM_EVENT_SUSPEND, &[])
    }

    #[test]
    fn the_host_gets_its_arch_halt_doorbell() {
        assert_eq!(Halt::new().doorbell(), HostArch::HALT_DOORBELL);
    }

    #[test]
    fn x86_hlt_claims_only_hlt_and_needs_no_irqchip() {
        let t = Halt::with_doorbell(Doorbell::Halt);
        assert_eq!(t.doorbell(), Doorbell::Halt);
        assert_eq!(t.decode(&VcpuExit::Hlt, SLOT), Some(Ok(SLOT)), "the vCPU's own slot");
        assert_eq!(t.decode(&suspend(), SLOT), None);
        assert_eq!(t.decode(&VcpuExit::Shutdown, SLOT), None);
        assert!(t.forbids_irqchip(), "HLT exits to userspace only without an in-kernel LAPIC");
    }

    #[test]
    fn arm64_system_suspend_claims_only_the_suspend_event() {
        let t = Halt::with_doorbell(Doorbell::SystemSuspend);
        assert_eq!(t.doorbell(), Doorbell::SystemSuspend);
        assert_eq!(t.decode(&suspend(), SLOT), Some(Ok(SLOT)));
        assert_eq!(t.decode(&VcpuExit::Hlt, SLOT), None);
        for other in [kvm_bindings::KVM_SYSTEM_EVENT_RESET, kvm_bindings::KVM_SYSTEM_EVENT_SHUTDOWN] {
            assert_eq!(t.decode(&VcpuExit::SystemEvent(other, &[]), SLOT), None, "event {other}");
        }
        assert!(!t.forbids_irqchip(), "SYSTEM_SUSPEND exits with or without a vGIC");
    }

    #[test]
    fn the_message_sits_in_the_vcpu_slot() {
        let layout = Layout::of_host(64 << 20).unwrap();
        let mut arena = SharedArena::new(&layout);
        let t = Halt::new();
        assert_eq!(t.message_buffer(&layout, 3, &mut arena).unwrap(), layout.ucall_slot_of(3));
    }
}
