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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_write_to_its_doorbell_means_its_own_buffer() {
        let layout = Layout::of_host(64 << 20).unwrap();
        let t = Shared::new(&layout);
        let at = layout.mmio.shared_doorbell;
        assert_eq!(t.doorbell(), Doorbell::MmioWrite { addr: at });
        let guest_pointer = 0xdead_beefu64.to_le_bytes();
        assert_eq!(t.decode(&VcpuExit::MmioWrite(at, &guest_pointer), 0x3000), Some(Ok(0x3000)), "never the guest's");
        assert_eq!(t.decode(&VcpuExit::MmioWrite(at, &[1]), 0x3000), Some(Ok(0x3000)), "any width");
        assert_eq!(t.decode(&VcpuExit::MmioWrite(at + 1, &guest_pointer), 0x3000), None);
        assert_eq!(t.decode(&VcpuExit::MmioWrite(layout.mmio.ucall, &guest_pointer), 0x3000), None);
        assert_eq!(t.decode(&VcpuExit::Hlt, 0x3000), None);
        assert!(!t.forbids_irqchip());
    }

    #[test]
    fn each_vcpu_buffer_comes_from_the_arena() {
        let layout = Layout::of_host(64 << 20).unwrap();
        let mut arena = super::super::SharedArena::new(&layout);
        let t = Shared::new(&layout);
        let first = t.message_buffer(&layout, 0, &mut arena).unwrap();
        assert_eq!(first, layout.shared_arena.start);
        assert_eq!(t.message_buffer(&layout, 0, &mut arena).unwrap(), first + UCALL_SLOT_SIZE, "a new one each time");
    }
}
