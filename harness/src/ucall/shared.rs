//! shared memory: the host allocates each vCPU's message buffer up front in
//! the shared arena (`ucall_shared_alloc`) and hands its address to the guest
//! in the boot info; the guest fills it and writes to the doorbell address.
//! The host reads the buffer it allocated and never looks at a guest pointer,
//! as a confidential guest whose registers and private memory are opaque needs.

use kvm_ioctls::VcpuExit;

use super::{Doorbell, SharedArena, Transport};
use crate::layout::{Layout, UCALL_SLOT_SIZE};
use crate::Result;

pub struct Shared {
    doorbell: u64,
}

impl Shared {
    pub fn new(layout: &Layout) -> Self {
        Shared { doorbell: layout.mmio.shared_doorbell }
    }
}

impl Transport for Shared {
    fn doorbell(&self) -> Doorbell {
        Doorbell::MmioWrite { addr: self.doorbell }
    }
    fn message_buffer(&self, _: &Layout, _: usize, arena: &mut SharedArena) -> Result<u64> {
        arena.alloc(UCALL_SLOT_SIZE)
    }
    fn decode(&self, exit: &VcpuExit<'_>, buffer: u64) -> Option<Result<u64, String>> {
        match exit {
            // The written value is ignored: the buffer is the one the host allocated.
            VcpuExit::MmioWrite(addr, _) if *addr == self.doorbell => Some(Ok(buffer)),
            _ => None,
        }
    }
}
