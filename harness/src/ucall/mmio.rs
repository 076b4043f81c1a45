//! MMIO: the guest stores its message's 64-bit guest address to an address
//! with no memslot, giving KVM_EXIT_MMIO with the address in the kvm_run page.

use kvm_ioctls::VcpuExit;

use super::{Doorbell, SharedArena, Transport};
use crate::layout::Layout;
use crate::Result;

pub struct Mmio {
    addr: u64,
}

impl Mmio {
    pub fn new(layout: &Layout) -> Self {
        Mmio { addr: layout.mmio.ucall }
    }
}

impl Transport for Mmio {
    fn doorbell(&self) -> Doorbell {
        Doorbell::MmioWrite { addr: self.addr }
    }
    fn message_buffer(&self, layout: &Layout, id: usize, _: &mut SharedArena) -> Result<u64> {
        Ok(layout.ucall_slot_of(id))
    }
    fn decode(&self, exit: &VcpuExit<'_>, _buffer: u64) -> Option<Result<u64, String>> {
        match exit {
            VcpuExit::MmioWrite(addr, data) if *addr == self.addr => Some(match <[u8; 8]>::try_from(*data) {
                Ok(d) => Ok(u64::from_le_bytes(d)),
                Err(_) => Err(format!(
                    "{}-byte write to the ucall MMIO address {:#x}, expected the message's 8-byte address",
                    data.len(),
                    self.addr
                )),
            }),
            _ => None,
        }
    }
}
