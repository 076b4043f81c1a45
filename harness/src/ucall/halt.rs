//! halt: the message sits in the vCPU's pre-arranged slot and the guest
//! executes HLT. HLT reaches userspace only without an in-kernel LAPIC, so a
//! VM using this transport is built without an irqchip.

use kvm_ioctls::VcpuExit;

use super::{Doorbell, SharedArena, Transport};
use crate::layout::Layout;
use crate::Result;

pub struct Halt;

impl Halt {
    pub fn new() -> Self {
        Halt
    }
}

impl Transport for Halt {
    fn doorbell(&self) -> Doorbell {
        Doorbell::Halt
    }
    fn message_buffer(&self, layout: &Layout, id: usize, _: &mut SharedArena) -> Result<u64> {
        Ok(layout.ucall_slot_of(id))
    }
    fn decode(&self, exit: &VcpuExit<'_>, buffer: u64) -> Option<Result<u64, String>> {
        matches!(exit, VcpuExit::Hlt).then_some(Ok(buffer))
    }
    fn forbids_irqchip(&self) -> bool {
        true
    }
}
