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
