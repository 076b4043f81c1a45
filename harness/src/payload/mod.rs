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

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: Range<u64> = 0x1000..0x2000;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x4000)]).unwrap()
    }

    #[test]
    fn code_may_fill_the_region_exactly() {
        let m = mem();
        assert_eq!(Payload::code(vec![0xaa; 0x1000]).load(&m, REGION, 0), Ok(0x1000));
        let mut last = [0u8; 2];
        m.read_slice(&mut last, GuestAddress(0x1fff)).unwrap();
        assert_eq!(last, [0xaa, 0], "written to the region's last byte, not past it");
        assert_eq!(
            Payload::code(vec![0xaa; 0x1001]).load(&m, REGION, 0),
            Err(PayloadError::TooLarge { size: 0x1001, region: REGION })
        );
        assert_eq!(
            Payload::code(vec![0; 0x1001]).load(&m, REGION, 0).unwrap_err().to_string(),
            "0x1001-byte payload does not fit the payload region [0x1000, 0x2000)"
        );
        assert_eq!(Payload::code(vec![]).load(&m, REGION, 0), Err(PayloadError::Empty));
        assert!(
            matches!(
                Payload::code(vec![1]).load(&m, u64::MAX..u64::MAX, 0),
                Err(PayloadError::TooLarge { size: 1, .. })
            ),
            "no wrap-around"
        );
    }

    #[test]
    fn code_lands_at_the_start_of_the_region() {
        let m = mem();
        assert_eq!(Payload::code(vec![1, 2, 3]).load(&m, REGION, 0), Ok(0x1000));
        let mut got = [0u8; 4];
        m.read_slice(&mut got, GuestAddress(0xfff)).unwrap();
        assert_eq!(got, [0, 1, 2, 3]);
        assert!(
            matches!(Payload::code(vec![1]).load(&m, 0x8000..0x9000, 0), Err(PayloadError::GuestMemory(_))),
            "outside guest memory"
        );
    }

    #[test]
    fn elf_payloads_go_through_the_elf_loader() {
        assert_eq!(Payload::elf(&b""[..]).load(&mem(), REGION, 0), Err(PayloadError::Empty));
    }
}
