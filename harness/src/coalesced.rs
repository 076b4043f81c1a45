//! Coalesced MMIO and PIO (KVM_REGISTER_COALESCED_MMIO, KVM_CAP_COALESCED_PIO):
//! writes to a registered zone are queued by KVM in a ring page beside each
//! vCPU's kvm_run instead of exiting. The ring is mapped here and read and
//! written only through bounds-checked accessors (the kernel writes it too).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;

use kvm_bindings::{kvm_coalesced_mmio, kvm_coalesced_mmio_ring, KVM_CAP_COALESCED_MMIO};
use kvm_ioctls::IoEventAddress;
use vm_memory::mmap::{MmapRegion, MmapRegionBuilder};
use vm_memory::{Bytes, FileOffset, VolatileMemory};

use crate::{Error, Result, Vcpu, Vm};

/// Where a coalesced zone is: guest-physical MMIO, or an x86 I/O port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// A guest-physical address (KVM_REGISTER_COALESCED_MMIO).
    Mmio(u64),
    /// An I/O port (KVM_CAP_COALESCED_PIO, x86).
    Pio(u64),
}

impl Zone {
    fn address(self) -> IoEventAddress {
        match self {
            Zone::Mmio(a) => IoEventAddress::Mmio(a),
            Zone::Pio(p) => IoEventAddress::Pio(p),
        }
    }
}

impl Vm {
    /// KVM_REGISTER_COALESCED_MMIO of `size` bytes at `zone`.
    pub fn register_coalesced(&self, zone: Zone, size: u32) -> Result<()> {
        self.fd().register_coalesced_mmio(zone.address(), size).map_err(Error::kvm("KVM_REGISTER_COALESCED_MMIO"))
    }

    /// KVM_UNREGISTER_COALESCED_MMIO of the zone registered as `zone`, `size`.
    pub fn unregister_coalesced(&self, zone: Zone, size: u32) -> Result<()> {
        self.fd().unregister_coalesced_mmio(zone.address(), size).map_err(Error::kvm("KVM_UNREGISTER_COALESCED_MMIO"))
    }
}

/// One queued write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoalescedWrite {
    /// Guest-physical address, or the port for PIO.
    pub phys_addr: u64,
    /// Bytes written (at most 8).
    pub len: u32,
    /// A port write (KVM_CAP_COALESCED_PIO) rather than MMIO.
    pub pio: bool,
    /// The data, little-endian, `len` bytes of it meaningful.
    pub data: [u8; 8],
}

impl CoalescedWrite {
    /// The data as a little-endian number of `len` bytes.
    pub fn value(&self) -> u64 {
        let n = (self.len as usize).min(8);
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&self.data[..n]);
        u64::from_le_bytes(b)
    }
}

const RING_HEADER: usize = std::mem::size_of::<kvm_coalesced_mmio_ring>();
const ENTRY_SIZE: usize = std::mem::size_of::<kvm_coalesced_mmio>();

/// A vCPU's view of the VM's coalesced ring: the page KVM maps at the page
/// offset KVM_CHECK_EXTENSION(KVM_CAP_COALESCED_MMIO) returns, relative to
/// the vCPU's kvm_run. `first` is the consumer's index, `last` KVM's.
pub struct CoalescedRing {
    page: MmapRegion,
    entries: u32,
}

impl CoalescedRing {
    /// Maps the ring through `vcpu`'s fd.
    pub fn map(vcpu: &Vcpu) -> Result<CoalescedRing> {
        let kvm = crate::kvm::open_kvm()?;
        let page_offset = kvm.check_extension_int(kvm_ioctls::Cap::CoalescedMmio);
        if page_offset <= 0 {
            return Err(Error::Unsupported(format!(
                "requires KVM_CAP_COALESCED_MMIO ({KVM_CAP_COALESCED_MMIO}); KVM_CHECK_EXTENSION says {page_offset}"
            )));
        }
        // SAFETY: sysconf has no preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        // SAFETY: the vCPU's fd is open for as long as `vcpu` is borrowed; it
        // is only duplicated here.
        let fd = unsafe { BorrowedFd::borrow_raw(vcpu.fd().as_raw_fd()) };
        let file = fd.try_clone_to_owned().map_err(|e| Error::Memory(format!("dup of the vCPU fd: {e}")))?;
        let offset = page_offset as u64 * page_size as u64;
        let page = MmapRegionBuilder::new(page_size)
            .with_file_offset(FileOffset::new(std::fs::File::from(file), offset))
            .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
            .with_mmap_flags(libc::MAP_SHARED)
            .build()
            .map_err(|e| Error::Memory(format!("mapping the coalesced MMIO ring (page {page_offset}): {e}")))?;
        // Sized by the kernel's PAGE_SIZE, as KVM_COALESCED_MMIO_MAX does.
        let entries = ((page_size - RING_HEADER) / ENTRY_SIZE) as u32;
        Ok(CoalescedRing { page, entries })
    }

    /// Entries in the ring (KVM_COALESCED_MMIO_MAX for this page size).
    pub fn entries(&self) -> u32 {
        self.entries
    }

    fn load_u32(&self, at: usize) -> Result<u32> {
        self.page
            .as_volatile_slice()
            .load(at, Ordering::Acquire)
            .map_err(|e| Error::Memory(format!("coalesced ring at {at:#x}: {e}")))
    }

    fn store_u32(&self, at: usize, value: u32) -> Result<()> {
        self.page
            .as_volatile_slice()
            .store(value, at, Ordering::Release)
            .map_err(|e| Error::Memory(format!("coalesced ring at {at:#x}: {e}")))
    }

    /// `ring->first`.
    pub fn first(&self) -> Result<u32> {
        self.load_u32(0)
    }

    /// `ring->last`.
    pub fn last(&self) -> Result<u32> {
        self.load_u32(4)
    }

    /// Sets `ring->first` and `ring->last` (WRITE_ONCE), as upstream does to
    /// start the ring at a chosen index.
    pub fn reset_to(&self, index: u32) -> Result<()> {
        self.store_u32(0, index)?;
        self.store_u32(4, index)
    }

    /// Entry `index` (taken modulo the ring size).
    pub fn entry(&self, index: u32) -> Result<CoalescedWrite> {
        let at = RING_HEADER + (index % self.entries) as usize * ENTRY_SIZE;
        let slice = self.page.as_volatile_slice();
        let read = |off: usize, buf: &mut [u8]| {
            slice.read_slice(buf, at + off).map_err(|e| Error::Memory(format!("coalesced ring entry {index}: {e}")))
        };
        let (mut addr, mut len, mut pio, mut data) = ([0u8; 8], [0u8; 4], [0u8; 4], [0u8; 8]);
        read(0, &mut addr)?;
        read(8, &mut len)?;
        read(12, &mut pio)?;
        read(16, &mut data)?;
        Ok(CoalescedWrite {
            phys_addr: u64::from_le_bytes(addr),
            len: u32::from_le_bytes(len),
            pio: u32::from_le_bytes(pio) != 0,
            data,
        })
    }
}
