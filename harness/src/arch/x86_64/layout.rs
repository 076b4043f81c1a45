//! The x86_64 guest memory map.
//!
//! ```text
//!  0x0000_0000  null page (not mapped: a null dereference is a #PF)
//!  0x0000_1000  GDT, TSS at +0x800
//!  0x0000_2000  IDT (256 gates)
//!  0x0000_3000  firmware: exception stubs and the ucall doorbell (8 KiB)
//!  0x0000_5000  per-vCPU boot info (64 x 128 B)
//!  0x0000_7000  PML4, PDPT, PT of the low 2 MiB, then up to 16 PDs
//!  0x0002_0000  per-vCPU ucall slots (64 x 2 KiB)
//!  0x0004_0000  exception stack (IST1, 16 KiB)
//!  0x0005_0000  shared-memory arena (192 KiB)
//!  0x0010_0000  vCPU stacks (64 x 16 KiB, lowest page of each a guard)
//!  0x0020_0000  payload ... end of RAM
//!  RAM end (2 MiB aligned): MMIO window, no memslot
//! ```
//! Everything is identity-mapped: a guest virtual address is its physical one.

use crate::layout::{FixedLayout, Layout};
use crate::Result;

/// The GDT (see the map above).
pub const GDT: u64 = 0x1000;
/// The 64-bit TSS (IST1 for the exception stubs).
pub const TSS: u64 = 0x1800;
/// A word in the GDT/TSS page where the exception handler records that it
/// faulted itself, found without GS base or registers (real SVM resets the
/// vCPU's registers on a triple fault, so the PC cannot tell).
pub const FIRMWARE_FAULT_FLAG: u64 = 0x1f00;
/// The IDT, 256 gates.
pub const IDT: u64 = 0x2000;
/// The firmware: exception stubs and the ucall doorbell.
pub const FIRMWARE: u64 = 0x3000;
/// Bytes reserved for the firmware.
pub const FIRMWARE_SIZE: u64 = 0x2000;
/// The first vCPU's boot info.
pub const BOOT_INFO: u64 = 0x5000;
/// The PML4.
pub const PML4: u64 = 0x7000;
/// The one PDPT.
pub const PDPT: u64 = 0x8000;
/// The page table of the low 2 MiB (null page unmapped).
pub const PT_LOW: u64 = 0x9000;
/// The first page directory; up to [`MAX_PDS`] follow.
pub const PD_BASE: u64 = 0xA000;
/// Page directories at most: 1 GiB each.
pub const MAX_PDS: u64 = 16;
/// The first vCPU's ucall slot.
pub const UCALL_SLOTS: u64 = 0x2_0000;
/// Top of the exception stack (IST1).
pub const EXCEPTION_STACK_TOP: u64 = 0x4_4000;
/// Start of the shared-memory arena.
pub const SHARED_ARENA: u64 = 0x5_0000;
/// End of the shared-memory arena (exclusive).
pub const SHARED_ARENA_END: u64 = 0x8_0000;
/// The lowest vCPU stack.
pub const STACKS: u64 = 0x10_0000;
/// Bytes per vCPU stack, guard page included.
pub const STACK_STRIDE: u64 = 0x4000;
/// Where payloads load.
pub const PAYLOAD_BASE: u64 = 0x20_0000;
/// vCPUs the boot-info, slot and stack regions have room for.
pub const MAX_VCPUS: usize = 64;

/// Smallest guest RAM: the harness region plus 2 MiB for the payload.
pub const MIN_MEM: u64 = 4 << 20;

/// The x86_64 MMIO window: one 2 MiB page.
const MIB2: u64 = 2 << 20;

/// Selectors in the GDT: flat 64-bit code.
pub const CODE_SEL: u16 = 0x08;
/// Flat data segment.
pub const DATA_SEL: u16 = 0x10;
/// The TSS.
pub const TSS_SEL: u16 = 0x18;

/// The x86_64 map's fixed part.
pub const FIXED: FixedLayout = FixedLayout {
    arch: "x86_64",
    min_mem: MIN_MEM,
    max_mapped_gib: MAX_PDS,
    mmio_window_size: MIB2,
    max_vcpus: MAX_VCPUS,
    firmware: FIRMWARE..FIRMWARE + FIRMWARE_SIZE,
    boot_info: BOOT_INFO,
    ucall_slots: UCALL_SLOTS,
    shared_arena: SHARED_ARENA..SHARED_ARENA_END,
    stacks: STACKS,
    stack_stride: STACK_STRIDE,
    payload_base: PAYLOAD_BASE,
    firmware_fault_flag: Some(FIRMWARE_FAULT_FLAG),
};

/// The map for `mem_size` bytes of RAM, or why none fits.
pub fn layout(mem_size: u64) -> Result<Layout> {
    FIXED.layout(mem_size)
}
