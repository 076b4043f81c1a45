//! Guest payloads: machine code assembled at run time, or a `#![no_std]`
//! ELF built for `<arch>-unknown-none`. Either way every byte lands in guest
//! memory through bounds-checked vm-memory writes, inside the payload region.

pub mod elf;

use std::borrow::Cow;
use std::ops::Range;

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

pub use elf::PayloadError;

/// Code to run in the guest.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Raw machine code, loaded at the start of the payload region and entered there.
    Code(Vec<u8>),
    /// An ELF executable; its PT_LOAD segments are loaded at their addresses.
    Elf(Cow<'static, [u8]>),
}

impl Payload {
    /// Raw machine code, see [`Payload::Code`].
    pub fn code(bytes: Vec<u8>) -> Self {
        Payload::Code(bytes)
    }

    /// An ELF executable, see [`Payload::Elf`].
    pub fn elf(bytes: impl Into<Cow<'static, [u8]>>) -> Self {
        Payload::Elf(bytes.into())
    }

    /// Loads the payload into `mem`, only inside `region`; returns the entry point.
    pub fn load(&self, mem: &GuestMemoryMmap, region: Range<u64>, machine: u16) -> Result<u64, PayloadError> {
        match self {
            Payload::Code(code) => {
                if code.is_empty() {
                    return Err(PayloadError::Empty);
                }
                let end = region.start.checked_add(code.len() as u64);
                if end.is_none_or(|e| e > region.end) {
                    return Err(PayloadError::TooLarge { size: code.len() as u64, region });
                }
                mem.write_slice(code, GuestAddress(region.start))
                    .map_err(|e| PayloadError::GuestMemory(e.to_string()))?;
                Ok(region.start)
            }
            Payload::Elf(bytes) => elf::load(bytes, mem, region, machine),
        }
    }
}
