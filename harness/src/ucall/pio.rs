//! PIO: the guest writes its message's (32-bit) guest address to an I/O port;
//! the address arrives in the kvm_run page, so no register read is needed.

use kvm_ioctls::VcpuExit;

use super::{Doorbell, SharedArena, Transport};
use crate::layout::Layout;
use crate::Result;

pub use kvmtest_abi::UCALL_PIO_PORT;

pub struct Pio;

impl Pio {
    pub fn new() -> Self {
        Pio
    }
}

impl Transport for Pio {
    fn doorbell(&self) -> Doorbell {
        Doorbell::PortOut { port: UCALL_PIO_PORT }
    }
    fn message_buffer(&self, layout: &Layout, id: usize, _: &mut SharedArena) -> Result<u64> {
        Ok(layout.ucall_slot_of(id))
    }
    fn decode(&self, exit: &VcpuExit<'_>, _buffer: u64) -> Option<Result<u64, String>> {
        match exit {
            VcpuExit::IoOut(UCALL_PIO_PORT, data) => Some(match <[u8; 4]>::try_from(*data) {
                Ok(d) => Ok(u64::from(u32::from_le_bytes(d))),
                Err(_) => Err(format!(
                    "{}-byte OUT to the ucall port {UCALL_PIO_PORT:#x}, expected the message's 4-byte address",
                    data.len()
                )),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_a_four_byte_out_to_its_port() {
        let t = Pio::new();
        assert_eq!(t.doorbell(), Doorbell::PortOut { port: UCALL_PIO_PORT });
        let addr = [0x78, 0x56, 0x34, 0x12];
        assert_eq!(t.decode(&VcpuExit::IoOut(UCALL_PIO_PORT, &addr), 0x2_0000), Some(Ok(0x1234_5678)), "not the slot");
        assert_eq!(t.decode(&VcpuExit::IoOut(UCALL_PIO_PORT - 1, &addr), 0), None);
        assert_eq!(t.decode(&VcpuExit::IoOut(UCALL_PIO_PORT + 1, &addr), 0), None);
        assert_eq!(t.decode(&VcpuExit::MmioWrite(u64::from(UCALL_PIO_PORT), &addr), 0), None);
        assert_eq!(t.decode(&VcpuExit::Hlt, 0), None);
    }

    #[test]
    fn any_other_width_is_a_bad_doorbell() {
        let t = Pio::new();
        for width in [1, 2, 3, 5, 8] {
            assert_eq!(
                t.decode(&VcpuExit::IoOut(UCALL_PIO_PORT, &[0; 8][..width]), 0),
                Some(Err(format!("{width}-byte OUT to the ucall port 0x1000, expected the message's 4-byte address"))),
            );
        }
    }

    #[test]
    fn the_message_sits_in_the_vcpu_slot() {
        let layout = Layout::of_host(64 << 20).unwrap();
        let mut arena = super::super::SharedArena::new(&layout);
        assert_eq!(Pio::new().message_buffer(&layout, 2, &mut arena).unwrap(), layout.ucall_slot_of(2));
        assert!(!Pio::new().forbids_irqchip());
    }
}
