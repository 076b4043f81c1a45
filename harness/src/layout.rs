//! The guest-physical memory map every VM gets, filled in by the arch module.
//!
//! The harness owns the low region (descriptor tables, page tables, ucall
//! slots, stacks); payloads load above `payload.start`; the ucall MMIO
//! addresses lie just above guest RAM, where no memory slot is.

use std::ops::Range;

use kvmtest_abi::BOOT_INFO_STRIDE;

use crate::{Error, Result};

/// Size of one vCPU's ucall slot (a `UcallMsg` rounded up).
pub const UCALL_SLOT_SIZE: u64 = 2048;

/// Addresses outside guest RAM that the ucall transports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioWindow {
    /// The MMIO transport's doorbell: the guest writes its message address here.
    pub ucall: u64,
    /// The shared-memory transport's doorbell: a write here means "read my buffer".
    pub shared_doorbell: u64,
    /// End of the window (exclusive).
    pub end: u64,
}

/// A VM's guest-physical memory map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of guest RAM, from guest address 0.
    pub mem_size: u64,
    /// How many vCPUs the boot-info and stack regions have room for.
    pub max_vcpus: usize,
    /// Harness-owned memory; payloads may not load here.
    pub reserved: Range<u64>,
    /// Exception vectors and the doorbell routine.
    pub firmware: Range<u64>,
    /// The first vCPU's [`VcpuBootInfo`](kvmtest_abi::VcpuBootInfo); vCPU n's is `BOOT_INFO_STRIDE` bytes further.
    pub boot_info: u64,
    /// The first vCPU's ucall message slot; one `UCALL_MSG_SIZE` slot per vCPU.
    pub ucall_slots: u64,
    /// Memory handed out by `Vm::shared_alloc` (the shared-memory transport's buffers).
    pub shared_arena: Range<u64>,
    /// Lowest vCPU stack region; each vCPU gets `stack_stride` bytes, the lowest page a guard.
    pub stacks: u64,
    /// Bytes of stack per vCPU, guard page included.
    pub stack_stride: u64,
    /// Where payload segments may be loaded.
    pub payload: Range<u64>,
    /// The MMIO window above RAM (ucall and shared doorbells).
    pub mmio: MmioWindow,
    /// Where the firmware marks that its exception handler faulted itself
    /// ([`FIRMWARE_FAULT_MAGIC`]) before it gives up, if the arch does.
    pub firmware_fault_flag: Option<u64>,
    /// Guest-physical addresses above the MMIO window, up to the end of what
    /// the page tables can reach, that hold nothing: where extra memslots and
    /// a test's own MMIO go (`Vm::map_region` maps 2 MiB-aligned parts of it).
    pub spare: Range<u64>,
}

/// How `Vm::map_region` maps a range in the guest's page tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    /// Normal memory (a memslot's RAM).
    Ram,
    /// Device memory, never executable (an address KVM exits on: MMIO).
    Mmio,
}

/// The value the firmware stores at `Layout::firmware_fault_flag`.
pub const FIRMWARE_FAULT_MAGIC: u32 = 0x4641_554c; // "LUAF": a fault in the fault handler

impl Layout {
    /// Guest address of vCPU `id`'s boot information.
    pub fn boot_info_of(&self, id: usize) -> u64 {
        self.boot_info + (id * BOOT_INFO_STRIDE) as u64
    }
    /// Guest address of vCPU `id`'s pre-arranged ucall slot.
    pub fn ucall_slot_of(&self, id: usize) -> u64 {
        self.ucall_slots + id as u64 * UCALL_SLOT_SIZE
    }
    /// Initial stack pointer of vCPU `id` (top of its stack).
    pub fn stack_top_of(&self, id: usize) -> u64 {
        self.stacks + (id as u64 + 1) * self.stack_stride
    }
    /// Checks that `range` may be mapped by `Vm::map_region`: non-empty,
    /// 2 MiB-aligned at both ends, inside [`Layout::spare`].
    pub fn check_spare(&self, range: &Range<u64>) -> Result<()> {
        const MIB2: u64 = 2 << 20;
        if range.start >= range.end || range.start % MIB2 != 0 || range.end % MIB2 != 0 {
            return Err(Error::Config(format!(
                "mapping [{:#x}, {:#x}): the range must be non-empty and 2 MiB-aligned at both ends",
                range.start, range.end
            )));
        }
        if range.start < self.spare.start || range.end > self.spare.end {
            return Err(Error::Config(format!(
                "mapping [{:#x}, {:#x}): only the spare range [{:#x}, {:#x}) above the MMIO window may be mapped",
                range.start, range.end, self.spare.start, self.spare.end
            )));
        }
        Ok(())
    }
    /// Guard page (unmapped) below vCPU `id`'s stack.
    pub fn stack_guard_of(&self, id: usize) -> u64 {
        self.stacks + id as u64 * self.stack_stride
    }
}

/// Rounds `x` up to a multiple of `align` (a power of two).
pub const fn align_up(x: u64, align: u64) -> u64 {
    (x + align - 1) & !(align - 1)
}

/// The part of an arch's memory map that does not depend on the RAM size;
/// [`FixedLayout::layout`] adds the rest (payload end, MMIO window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedLayout {
    /// The arch, as `std::env::consts::ARCH` names it.
    pub arch: &'static str,
    /// Smallest guest RAM: the harness region plus room for a payload.
    pub min_mem: u64,
    /// The page tables map at most this many GiB, MMIO window included.
    pub max_mapped_gib: u64,
    /// Bytes of the MMIO window above RAM.
    pub mmio_window_size: u64,
    /// See [`Layout::max_vcpus`].
    pub max_vcpus: usize,
    /// See [`Layout::firmware`].
    pub firmware: Range<u64>,
    /// See [`Layout::boot_info`].
    pub boot_info: u64,
    /// See [`Layout::ucall_slots`].
    pub ucall_slots: u64,
    /// See [`Layout::shared_arena`].
    pub shared_arena: Range<u64>,
    /// See [`Layout::stacks`].
    pub stacks: u64,
    /// See [`Layout::stack_stride`].
    pub stack_stride: u64,
    /// Start of [`Layout::payload`].
    pub payload_base: u64,
    /// See [`Layout::firmware_fault_flag`].
    pub firmware_fault_flag: Option<u64>,
}

impl FixedLayout {
    /// The full map for `mem_size` bytes of RAM at guest address 0; the MMIO
    /// window starts at the first 2 MiB boundary above RAM.
    pub fn layout(&self, mem_size: u64) -> Result<Layout> {
        const MIB2: u64 = 2 << 20;
        const GIB: u64 = 1 << 30;
        if mem_size < self.min_mem || mem_size % 4096 != 0 {
            return Err(Error::Config(format!(
                "guest memory of {mem_size:#x} bytes: {} needs a page-aligned size of at least {:#x}",
                self.arch, self.min_mem
            )));
        }
        let mmio_base = align_up(mem_size, MIB2);
        let mmio = MmioWindow {
            ucall: mmio_base,
            shared_doorbell: mmio_base + 0x1000,
            end: mmio_base + self.mmio_window_size,
        };
        if align_up(mmio.end, GIB) / GIB > self.max_mapped_gib {
            return Err(Error::Config(format!(
                "guest memory of {mem_size:#x} bytes: the {} page tables map at most {} GiB",
                self.arch,
                self.max_mapped_gib - 1
            )));
        }
        Ok(Layout {
            mem_size,
            max_vcpus: self.max_vcpus,
            reserved: 0..self.payload_base,
            firmware: self.firmware.clone(),
            boot_info: self.boot_info,
            ucall_slots: self.ucall_slots,
            shared_arena: self.shared_arena.clone(),
            stacks: self.stacks,
            stack_stride: self.stack_stride,
            payload: self.payload_base..mem_size,
            mmio,
            firmware_fault_flag: self.firmware_fault_flag,
            spare: align_up(mmio.end, MIB2)..align_up(mmio.end, GIB),
        })
    }
}
