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

use crate::layout::{align_up, Layout, MmioWindow};
use crate::{Error, Result};

pub const GDT: u64 = 0x1000;
pub const TSS: u64 = 0x1800;
pub const IDT: u64 = 0x2000;
pub const FIRMWARE: u64 = 0x3000;
pub const FIRMWARE_SIZE: u64 = 0x2000;
pub const BOOT_INFO: u64 = 0x5000;
pub const PML4: u64 = 0x7000;
pub const PDPT: u64 = 0x8000;
pub const PT_LOW: u64 = 0x9000;
pub const PD_BASE: u64 = 0xA000;
pub const MAX_PDS: u64 = 16;
pub const UCALL_SLOTS: u64 = 0x2_0000;
pub const EXCEPTION_STACK_TOP: u64 = 0x4_4000;
pub const SHARED_ARENA: u64 = 0x5_0000;
pub const SHARED_ARENA_END: u64 = 0x8_0000;
pub const STACKS: u64 = 0x10_0000;
pub const STACK_STRIDE: u64 = 0x4000;
pub const PAYLOAD_BASE: u64 = 0x20_0000;
pub const MAX_VCPUS: usize = 64;

/// Smallest guest RAM: the harness region plus 2 MiB for the payload.
pub const MIN_MEM: u64 = 4 << 20;

const MIB2: u64 = 2 << 20;
const GIB: u64 = 1 << 30;

/// Selectors in the GDT.
pub const CODE_SEL: u16 = 0x08;
pub const DATA_SEL: u16 = 0x10;
pub const TSS_SEL: u16 = 0x18;

pub fn layout(mem_size: u64) -> Result<Layout> {
    if mem_size < MIN_MEM || mem_size % 4096 != 0 {
        return Err(Error::Config(format!(
            "guest memory of {mem_size:#x} bytes: x86_64 needs a page-aligned size of at least {MIN_MEM:#x}"
        )));
    }
    let mmio_base = align_up(mem_size, MIB2);
    let mmio = MmioWindow { ucall: mmio_base, shared_doorbell: mmio_base + 0x1000, end: mmio_base + MIB2 };
    if align_up(mmio.end, GIB) / GIB > MAX_PDS {
        return Err(Error::Config(format!(
            "guest memory of {mem_size:#x} bytes: the x86_64 page tables map at most {} GiB",
            MAX_PDS - 1
        )));
    }
    Ok(Layout {
        mem_size,
        max_vcpus: MAX_VCPUS,
        reserved: 0..PAYLOAD_BASE,
        firmware: FIRMWARE..FIRMWARE + FIRMWARE_SIZE,
        boot_info: BOOT_INFO,
        ucall_slots: UCALL_SLOTS,
        shared_arena: SHARED_ARENA..SHARED_ARENA_END,
        stacks: STACKS,
        stack_stride: STACK_STRIDE,
        payload: PAYLOAD_BASE..mem_size,
        mmio,
    })
}
