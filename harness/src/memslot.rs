//! Memory slots beyond the harness's RAM (slot 0): added, moved and deleted
//! while vCPUs run, each backed by an anonymous mapping of its own that the
//! host reads and writes bounds-checked; dirty logging (KVM_GET_DIRTY_LOG,
//! KVM_CLEAR_DIRTY_LOG, and the per-vCPU dirty ring of
//! KVM_CAP_DIRTY_LOG_RING[_ACQ_REL]).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use kvm_bindings::{kvm_clear_dirty_log, kvm_userspace_memory_region};
use kvm_ioctls::VmFd;
use vm_memory::mmap::{MmapRegion, MmapRegionBuilder};
use vm_memory::{Bytes, VolatileMemory};

pub use kvm_bindings::{kvm_userspace_memory_region2, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY};

use crate::{Error, Result};

/// Guest page size the dirty bitmaps count in (4 KiB on both arches' VMs here).
pub const PAGE_SIZE: u64 = 4096;

/// The memory behind one added memslot, shared by the VM and the test: it
/// stays mapped as long as either holds it, whatever the slot's GPA.
#[derive(Clone)]
pub struct SlotMemory {
    region: Arc<MmapRegion>,
}

impl std::fmt::Debug for SlotMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotMemory({:#x} bytes)", self.region.size())
    }
}

impl SlotMemory {
    /// `size` bytes of anonymous, lazily backed memory (MAP_NORESERVE).
    pub fn new(size: u64) -> Result<SlotMemory> {
        let len = usize::try_from(size).map_err(|_| Error::Memory(format!("{size:#x} bytes do not fit usize")))?;
        let region = MmapRegionBuilder::new(len)
            .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
            .with_mmap_flags(libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE)
            .build()
            .map_err(|e| Error::Memory(format!("mapping {size:#x} bytes for a memslot: {e}")))?;
        Ok(SlotMemory { region: Arc::new(region) })
    }

    /// Bytes of memory.
    pub fn len(&self) -> u64 {
        self.region.size() as u64
    }

    /// Whether the mapping is empty (never, for a slot KVM accepted).
    pub fn is_empty(&self) -> bool {
        self.region.size() == 0
    }

    /// The host address KVM is given (`userspace_addr`).
    pub fn host_addr(&self) -> u64 {
        self.region.as_ptr() as u64
    }

    /// Reads the u64 at byte `offset` as one atomic load (READ_ONCE).
    pub fn load_u64(&self, offset: u64) -> Result<u64> {
        self.region
            .as_volatile_slice()
            .load(offset as usize, Ordering::SeqCst)
            .map_err(|e| Error::Memory(format!("reading slot memory at {offset:#x}: {e}")))
    }

    /// Writes the u64 at byte `offset` as one atomic store (WRITE_ONCE).
    pub fn store_u64(&self, offset: u64, value: u64) -> Result<()> {
        self.region
            .as_volatile_slice()
            .store(value, offset as usize, Ordering::SeqCst)
            .map_err(|e| Error::Memory(format!("writing slot memory at {offset:#x}: {e}")))
    }

    /// Copies `buf.len()` bytes from byte `offset` into `buf`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.region
            .as_volatile_slice()
            .read_slice(buf, offset as usize)
            .map_err(|e| Error::Memory(format!("reading slot memory [{offset:#x}, +{:#x}): {e}", buf.len())))
    }

    /// Copies `buf` to byte `offset`.
    pub fn write(&self, offset: u64, buf: &[u8]) -> Result<()> {
        self.region
            .as_volatile_slice()
            .write_slice(buf, offset as usize)
            .map_err(|e| Error::Memory(format!("writing slot memory [{offset:#x}, +{:#x}): {e}", buf.len())))
    }

    /// Zeroes `len` bytes from `offset`.
    pub fn zero(&self, offset: u64, len: u64) -> Result<()> {
        let slice = self
            .region
            .get_slice(offset as usize, len as usize)
            .map_err(|e| Error::Memory(format!("zeroing slot memory [{offset:#x}, +{len:#x}): {e}")))?;
        slice.write_slice(&vec![0u8; len as usize], 0).map_err(|e| Error::Memory(e.to_string()))
    }
}

/// One added slot: where it is and what backs it.
struct Slot {
    gpa: u64,
    flags: u32,
    memory: SlotMemory,
}

/// The slots a VM added beyond its RAM; what [`Memslots`] works on.
#[derive(Default)]
pub(crate) struct MemslotTable {
    slots: Mutex<BTreeMap<u32, Slot>>,
}

impl MemslotTable {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, Slot>> {
        // A panic while holding the lock left the table consistent (each
        // update is one insert or remove after its ioctl): keep using it.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A VM's memslots beyond slot 0 (the harness's RAM), from
/// [`crate::Vm::memslots`] or, beside the vCPUs while they run,
/// [`crate::Vm::vcpus_and_memslots`]. Slot numbers are KVM's (the `slot`
/// of KVM_SET_USER_MEMORY_REGION); pick them from 1 on.
#[derive(Clone, Copy)]
pub struct Memslots<'a> {
    fd: &'a VmFd,
    table: &'a MemslotTable,
}

impl<'a> Memslots<'a> {
    pub(crate) fn new(fd: &'a VmFd, table: &'a MemslotTable) -> Self {
        Memslots { fd, table }
    }

    /// Adds slot `slot` of `size` bytes at guest address `gpa` with `flags`
    /// (KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY), backed by fresh zeroed
    /// memory. Map it in the guest with [`crate::Vm::map_region`].
    pub fn add(&self, slot: u32, gpa: u64, size: u64, flags: u32) -> Result<SlotMemory> {
        let memory = SlotMemory::new(size)?;
        let mut slots = self.table.lock();
        if slots.contains_key(&slot) {
            return Err(Error::Config(format!("memslot {slot} exists already: delete or move it")));
        }
        set_region(self.fd, slot, flags, gpa, &memory)?;
        slots.insert(slot, Slot { gpa, flags, memory: memory.clone() });
        Ok(memory)
    }

    /// Moves slot `slot` to guest address `new_gpa`, same memory and flags
    /// (KVM_SET_USER_MEMORY_REGION with a new `guest_phys_addr`).
    pub fn move_to(&self, slot: u32, new_gpa: u64) -> Result<()> {
        let mut slots = self.table.lock();
        let s = slots.get_mut(&slot).ok_or_else(|| no_slot(slot))?;
        set_region(self.fd, slot, s.flags, new_gpa, &s.memory)?;
        s.gpa = new_gpa;
        Ok(())
    }

    /// Deletes slot `slot` (`memory_size` 0). Slot 0, the harness's RAM,
    /// may be deleted too: its memory stays mapped for the host until the VM goes.
    pub fn delete(&self, slot: u32) -> Result<()> {
        let mut slots = self.table.lock();
        let gpa = slots.get(&slot).map(|s| s.gpa).unwrap_or(0);
        let r = kvm_userspace_memory_region { slot, flags: 0, guest_phys_addr: gpa, memory_size: 0, userspace_addr: 0 };
        // SAFETY: a zero-sized region deletes the slot; KVM keeps no reference
        // to any memory afterwards (the memory itself is dropped only after).
        unsafe { self.fd.set_user_memory_region(r) }.map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION (delete)"))?;
        slots.remove(&slot);
        Ok(())
    }

    /// The memory of slot `slot`.
    pub fn memory(&self, slot: u32) -> Result<SlotMemory> {
        self.table.lock().get(&slot).map(|s| s.memory.clone()).ok_or_else(|| no_slot(slot))
    }

    /// Guest address of slot `slot`.
    pub fn gpa(&self, slot: u32) -> Result<u64> {
        self.table.lock().get(&slot).map(|s| s.gpa).ok_or_else(|| no_slot(slot))
    }

    /// KVM_GET_DIRTY_LOG of slot `slot`: one bit per 4 KiB page, little-endian words.
    pub fn get_dirty_log(&self, slot: u32) -> Result<DirtyBitmap> {
        let pages = self.memory(slot)?.len() / PAGE_SIZE;
        let words =
            self.fd.get_dirty_log(slot, (pages * PAGE_SIZE) as usize).map_err(Error::kvm("KVM_GET_DIRTY_LOG"))?;
        let mut bitmap = DirtyBitmap::new(pages);
        let n = bitmap.words.len().min(words.len());
        bitmap.words[..n].copy_from_slice(&words[..n]);
        Ok(bitmap)
    }

    /// KVM_CLEAR_DIRTY_LOG of slot `slot`: re-protects the pages
    /// `[first_page, first_page + num_pages)` whose bits are set in `bitmap`
    /// (bit 0 of `bitmap` is `first_page`). Needs
    /// KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled; `first_page` a multiple of 64.
    pub fn clear_dirty_log(&self, slot: u32, first_page: u64, num_pages: u32, bitmap: &DirtyBitmap) -> Result<()> {
        vmm_sys_util::ioctl_iowr_nr!(KVM_CLEAR_DIRTY_LOG, kvm_bindings::KVMIO, 0xc0, kvm_clear_dirty_log);
        if bitmap.pages < u64::from(num_pages) {
            return Err(Error::Config(format!(
                "KVM_CLEAR_DIRTY_LOG of {num_pages} pages with a bitmap of {} pages",
                bitmap.pages
            )));
        }
        let mut arg = kvm_clear_dirty_log { slot, num_pages, first_page, ..Default::default() };
        arg.__bindgen_anon_1.dirty_bitmap = bitmap.words.as_ptr() as *mut libc::c_void;
        // SAFETY: KVM reads ALIGN(num_pages, 64) / 8 bytes of the bitmap, which
        // `bitmap.words` holds (checked above: at least num_pages bits, in
        // whole u64 words), and keeps no reference after the call.
        let ret = unsafe { vmm_sys_util::ioctl::ioctl_with_ref(self.fd, KVM_CLEAR_DIRTY_LOG(), &arg) };
        if ret != 0 {
            return Err(Error::Kvm { op: "KVM_CLEAR_DIRTY_LOG", source: kvm_ioctls::Error::last() });
        }
        Ok(())
    }
}

fn no_slot(slot: u32) -> Error {
    Error::Config(format!("memslot {slot} was not added through Memslots::add"))
}

fn set_region(fd: &VmFd, slot: u32, flags: u32, gpa: u64, memory: &SlotMemory) -> Result<()> {
    let r = kvm_userspace_memory_region {
        slot,
        flags,
        guest_phys_addr: gpa,
        memory_size: memory.len(),
        userspace_addr: memory.host_addr(),
    };
    // SAFETY: `memory` is a live mapping of exactly `memory_size` bytes; the
    // table keeps a reference to it until the slot is deleted or the VM (whose
    // fd is dropped first, see Vm's field order) goes, so KVM never accesses
    // unmapped or reused host memory.
    unsafe { fd.set_user_memory_region(r) }.map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION"))
}

/// A dirty bitmap: bit `n` is page `n` of the slot (or of the range cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyBitmap {
    pages: u64,
    words: Vec<u64>,
}

impl DirtyBitmap {
    /// All clear, for `pages` pages.
    pub fn new(pages: u64) -> DirtyBitmap {
        DirtyBitmap { pages, words: vec![0; pages.div_ceil(64) as usize] }
    }
    /// Pages the bitmap covers.
    pub fn pages(&self) -> u64 {
        self.pages
    }
    /// Whether page `page` is set (false beyond the end).
    pub fn test(&self, page: u64) -> bool {
        page < self.pages && self.words[(page / 64) as usize] & (1 << (page % 64)) != 0
    }
    /// Sets page `page` (ignored beyond the end).
    pub fn set(&mut self, page: u64) {
        if page < self.pages {
            self.words[(page / 64) as usize] |= 1 << (page % 64);
        }
    }
    /// Clears page `page`; returns whether it was set (`__test_and_clear_bit_le`).
    pub fn test_and_clear(&mut self, page: u64) -> bool {
        let was = self.test(page);
        if was {
            self.words[(page / 64) as usize] &= !(1 << (page % 64));
        }
        was
    }
    /// Number of pages set.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
    /// Whether any bit beyond `pages` is set (KVM must leave them clear).
    pub fn has_bits_past_end(&self) -> bool {
        let tail = self.pages % 64;
        tail != 0 && self.words.last().is_some_and(|w| w >> tail != 0)
    }
    /// The set pages, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.pages).filter(|&p| self.test(p))
    }
}

/// The capability that enables the dirty ring where KVM offers it, as
/// upstream's vm_enable_dirty_ring() picks it: KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
/// else KVM_CAP_DIRTY_LOG_RING; `None` when KVM offers neither. Enable it
/// with `VmBuilder::vm_cap(cap, &[ring_bytes])` (before any vCPU exists).
pub fn dirty_ring_cap() -> Result<Option<u32>> {
    use kvm_bindings::{KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL};
    for cap in [KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING] {
        if crate::kvm::check_cap_raw(u64::from(cap))? > 0 {
            return Ok(Some(cap));
        }
    }
    Ok(None)
}

/// Bytes of one dirty ring entry (`struct kvm_dirty_gfn`).
pub const DIRTY_GFN_SIZE: u32 = std::mem::size_of::<kvm_bindings::kvm_dirty_gfn>() as u32;
/// `KVM_DIRTY_GFN_F_DIRTY`: KVM published this entry.
const DIRTY_GFN_F_DIRTY: u32 = 1 << 0;
/// `KVM_DIRTY_GFN_F_RESET`: userspace harvested it.
const DIRTY_GFN_F_RESET: u32 = 1 << 1;

/// One vCPU's dirty ring, mapped at KVM_DIRTY_LOG_PAGE_OFFSET of its fd:
/// `entries` `kvm_dirty_gfn`s that KVM fills and userspace harvests
/// (Documentation/virt/kvm/api.rst, KVM_CAP_DIRTY_LOG_RING).
pub struct DirtyRing {
    ring: MmapRegion,
    entries: u32,
    /// The next entry to harvest (upstream's ring_buf_idx).
    fetch_index: u32,
}

impl DirtyRing {
    /// Maps `vcpu`'s ring of `entries` entries (what the VM's capability was
    /// enabled with: `entries * DIRTY_GFN_SIZE` bytes).
    pub fn map(vcpu: &crate::Vcpu, entries: u32) -> Result<DirtyRing> {
        use std::os::fd::{AsRawFd, BorrowedFd};
        // SAFETY: sysconf has no preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        // SAFETY: the vCPU's fd is open while `vcpu` is borrowed; it is only duplicated.
        let fd = unsafe { BorrowedFd::borrow_raw(vcpu.fd().as_raw_fd()) };
        let file = fd.try_clone_to_owned().map_err(|e| Error::Memory(format!("dup of the vCPU fd: {e}")))?;
        let offset = u64::from(kvm_bindings::KVM_DIRTY_LOG_PAGE_OFFSET) * page_size;
        let bytes = entries as usize * DIRTY_GFN_SIZE as usize;
        let ring = MmapRegionBuilder::new(bytes)
            .with_file_offset(vm_memory::FileOffset::new(std::fs::File::from(file), offset))
            .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
            .with_mmap_flags(libc::MAP_SHARED)
            .build()
            .map_err(|e| Error::Memory(format!("mapping the dirty ring ({entries} entries): {e}")))?;
        Ok(DirtyRing { ring, entries, fetch_index: 0 })
    }

    /// Entries in the ring.
    pub fn entries(&self) -> u32 {
        self.entries
    }

    /// Harvests every published entry from the fetch index on, in order:
    /// `(slot, offset)` of each (the slot's id as KVM gives it, the page
    /// offset inside the slot), marking each collected (flags = RESET, with
    /// release order). KVM reuses them after KVM_RESET_DIRTY_RINGS.
    pub fn collect(&mut self) -> Result<Vec<(u32, u64)>> {
        let slice = self.ring.as_volatile_slice();
        let mut out = Vec::new();
        loop {
            let at = (self.fetch_index % self.entries) as usize * DIRTY_GFN_SIZE as usize;
            let err = |e: vm_memory::volatile_memory::Error| Error::Memory(format!("dirty ring entry at {at:#x}: {e}"));
            let flags: u32 = slice.load(at, Ordering::Acquire).map_err(err)?;
            if flags != DIRTY_GFN_F_DIRTY {
                break;
            }
            let slot: u32 = slice.load(at + 4, Ordering::Relaxed).map_err(err)?;
            let offset: u64 = slice.load(at + 8, Ordering::Relaxed).map_err(err)?;
            out.push((slot, offset));
            slice.store(DIRTY_GFN_F_RESET, at, Ordering::Release).map_err(err)?;
            self.fetch_index = self.fetch_index.wrapping_add(1);
            if out.len() > self.entries as usize {
                return Err(Error::Check(format!(
                    "the dirty ring published more than its {} entries at once",
                    self.entries
                )));
            }
        }
        Ok(out)
    }
}

impl Memslots<'_> {
    /// KVM_RESET_DIRTY_RINGS: KVM re-protects the harvested entries' pages
    /// and reuses the entries; returns how many it reset.
    pub fn reset_dirty_rings(&self) -> Result<u32> {
        vmm_sys_util::ioctl_io_nr!(KVM_RESET_DIRTY_RINGS, kvm_bindings::KVMIO, 0xc7);
        // SAFETY: KVM_RESET_DIRTY_RINGS takes no argument.
        let ret = unsafe { vmm_sys_util::ioctl::ioctl(self.fd, KVM_RESET_DIRTY_RINGS()) };
        if ret < 0 {
            return Err(Error::Kvm { op: "KVM_RESET_DIRTY_RINGS", source: kvm_ioctls::Error::last() });
        }
        Ok(ret as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_bits_are_pages_in_little_endian_words() {
        let mut b = DirtyBitmap::new(67);
        assert_eq!(b.words.len(), 2);
        b.set(0);
        b.set(64);
        b.set(66);
        b.set(67); // past the end: ignored
        assert_eq!(b.words, vec![1, 0b101]);
        assert!(b.test(66) && !b.test(65) && !b.test(67));
        assert_eq!(b.count(), 3);
        assert!(b.test_and_clear(64) && !b.test_and_clear(64));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![0, 66]);
        assert!(!b.has_bits_past_end());
        b.words[1] |= 1 << 3;
        assert!(b.has_bits_past_end());
    }

    #[test]
    fn slot_memory_is_bounds_checked() {
        let m = SlotMemory::new(2 * PAGE_SIZE).unwrap();
        m.store_u64(PAGE_SIZE, 7).unwrap();
        assert_eq!(m.load_u64(PAGE_SIZE).unwrap(), 7);
        assert!(m.load_u64(2 * PAGE_SIZE - 4).is_err());
        assert!(m.store_u64(2 * PAGE_SIZE, 1).is_err());
        assert!(m.zero(PAGE_SIZE, 2 * PAGE_SIZE).is_err());
        m.zero(0, 2 * PAGE_SIZE).unwrap();
        assert_eq!(m.load_u64(PAGE_SIZE).unwrap(), 0);
        m.write(PAGE_SIZE - 2, &[1, 2, 3, 4]).unwrap();
        let mut across = [0u8; 4];
        m.read(PAGE_SIZE - 2, &mut across).unwrap();
        assert_eq!(across, [1, 2, 3, 4]);
        assert!(m.read(2 * PAGE_SIZE - 2, &mut across).is_err());
        assert!(m.write(2 * PAGE_SIZE - 2, &across).is_err());
    }
}
