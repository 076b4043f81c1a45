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

#[cfg(test)]
mod tests {
    use super::*;

    fn mmio() -> (Mmio, Layout) {
        let layout = Layout::of_host(64 << 20).unwrap();
        (Mmio::new(&layout), layout)
    }

    #[test]
    fn claims_an_eight_byte_write_to_its_address() {
        let (t, layout) = mmio();
        let at = layout.mmio.ucall;
        assert_eq!(t.doorbell(), Doorbell::MmioWrite { addr: at });
        let addr = 0x1122_3344_5566_7788u64.to_le_bytes();
        assert_eq!(t.decode(&VcpuExit::MmioWrite(at, &addr), 0x2_0000), Some(Ok(0x1122_3344_5566_7788)));
        assert_eq!(t.decode(&VcpuExit::MmioWrite(at + 1, &addr), 0), None);
        assert_eq!(t.decode(&VcpuExit::MmioWrite(at - 1, &addr), 0), None);
        assert_eq!(t.decode(&VcpuExit::MmioWrite(layout.mmio.shared_doorbell, &addr), 0), None);
        assert_eq!(t.decode(&VcpuExit::MmioRead(at, &mut [0; 8]), 0), None, "a load is not the doorbell");
    }

    #[test]
    fn any_other_width_is_a_bad_doorbell() {
        let (t, layout) = mmio();
        for width in [1, 2, 4, 7] {
            assert_eq!(
                t.decode(&VcpuExit::MmioWrite(layout.mmio.ucall, &[0; 8][..width]), 0),
                Some(Err(format!(
                    "{width}-byte write to the ucall MMIO address {:#x}, expected the message's 8-byte address",
                    layout.mmio.ucall
                ))),
            );
        }
    }

    #[test]
    fn the_message_sits_in_the_vcpu_slot() {
        let (t, layout) = mmio();
        let mut arena = super::super::SharedArena::new(&layout);
        assert_eq!(t.message_buffer(&layout, 7, &mut arena).unwrap(), layout.ucall_slot_of(7));
        assert!(!t.forbids_irqchip());
    }
}
