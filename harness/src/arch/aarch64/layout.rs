//! The arm64 guest memory map.
//!
//! ```text
//!  0x0000_0000  null page (not mapped: a null dereference is a Data Abort)
//!  0x0000_1000  firmware: EL1 vector table (16 x 0x80), handler, doorbell (8 KiB)
//!  0x0000_3000  per-vCPU boot info (64 x 128 B)
//!  0x0000_5000  stage-1 tables: L1, L3 of the low 2 MiB, then up to 16 L2s
//!  0x0002_0000  per-vCPU ucall slots (64 x 2 KiB)
//!  0x0004_0000  per-vCPU exception stacks (64 x 1 KiB, SP_EL0)
//!  0x0005_0000  shared-memory arena (192 KiB)
//!  0x0010_0000  vCPU stacks (64 x 16 KiB, SP_EL1, lowest page of each a guard)
//!  0x0020_0000  payload ... end of RAM
//!  RAM end (2 MiB aligned): MMIO window (16 MiB, Device-nGnRE), no memslot:
//!    +0x00_0000  ucall MMIO doorbell
//!    +0x00_1000  shared-memory doorbell
//!    +0x10_0000  GICv3 distributor (64 KiB), with `irqchip(true)`
//!    +0x20_0000  GICv3 redistributors (64 x 128 KiB)
//! ```
//! Guest RAM starts at IPA 0 as on x86 (KVM/arm64 puts nothing there).
//! Everything is identity-mapped with 4 KiB granules and a 39-bit VA (three
//! levels from L1), so the map reaches 16 GiB, well inside the 40-bit IPA
//! space a VM of type 0 gets. RAM is Normal write-back, the window Device.

use crate::layout::{FixedLayout, Layout};
use crate::Result;

/// The firmware: vector table, handler, doorbell (see the map above).
pub const FIRMWARE: u64 = 0x1000;
/// Bytes reserved for the firmware.
pub const FIRMWARE_SIZE: u64 = 0x2000;
/// The first vCPU's boot info.
pub const BOOT_INFO: u64 = 0x3000;
/// The stage-1 L1 table.
pub const L1_TABLE: u64 = 0x5000;
/// The L3 table of the low 2 MiB (null page unmapped).
pub const L3_LOW: u64 = 0x6000;
/// The first L2 table; up to [`MAX_L2`] follow.
pub const L2_BASE: u64 = 0x7000;
/// L2 tables at most: 1 GiB each.
pub const MAX_L2: u64 = 16;
/// The first vCPU's ucall slot.
pub const UCALL_SLOTS: u64 = 0x2_0000;
/// The first vCPU's exception stack (SP_EL0).
pub const EXCEPTION_STACKS: u64 = 0x4_0000;
/// Bytes per exception stack.
pub const EXCEPTION_STACK_SIZE: u64 = 0x400;
/// Start of the shared-memory arena.
pub const SHARED_ARENA: u64 = 0x5_0000;
/// End of the shared-memory arena (exclusive).
pub const SHARED_ARENA_END: u64 = 0x8_0000;
/// The lowest vCPU stack (SP_EL1).
pub const STACKS: u64 = 0x10_0000;
/// Bytes per vCPU stack, guard page included.
pub const STACK_STRIDE: u64 = 0x4000;
/// Where payloads load.
pub const PAYLOAD_BASE: u64 = 0x20_0000;
/// vCPUs the boot-info, slot and stack regions have room for.
pub const MAX_VCPUS: usize = 64;
/// Size of the MMIO window above RAM.
pub const MMIO_WINDOW_SIZE: u64 = 16 << 20;
/// Offset of the GICv3 distributor in the MMIO window.
pub const GICD_OFFSET: u64 = 0x10_0000;
/// Size of the distributor's frame (`KVM_VGIC_V3_DIST_SIZE`).
pub const GICD_SIZE: u64 = 0x1_0000;
/// Offset of the first GICv3 redistributor in the MMIO window.
pub const GICR_OFFSET: u64 = 0x20_0000;
/// Size of one vCPU's redistributor (`KVM_VGIC_V3_REDIST_SIZE`: RD and SGI frames).
pub const GICR_STRIDE: u64 = 0x2_0000;
/// Bits of virtual address TTBR0_EL1 translates (TCR_EL1.T0SZ = 64 - 39).
pub const VA_BITS: u32 = 39;
/// IPA bits of a VM created with type 0 (KVM's default since Linux 4.20).
pub const DEFAULT_IPA_BITS: u32 = 40;

/// Smallest guest RAM: the harness region plus 2 MiB for the payload.
pub const MIN_MEM: u64 = 4 << 20;

const _: () = {
    assert!(FIRMWARE % 0x800 == 0, "VBAR_EL1 must be 2 KiB aligned");
    assert!(BOOT_INFO + MAX_VCPUS as u64 * kvmtest_abi::BOOT_INFO_STRIDE as u64 <= L1_TABLE);
    assert!(L2_BASE + MAX_L2 * 0x1000 <= UCALL_SLOTS);
    assert!(UCALL_SLOTS + MAX_VCPUS as u64 * crate::layout::UCALL_SLOT_SIZE <= EXCEPTION_STACKS);
    assert!(EXCEPTION_STACKS + MAX_VCPUS as u64 * EXCEPTION_STACK_SIZE <= SHARED_ARENA);
    assert!(STACKS + MAX_VCPUS as u64 * STACK_STRIDE <= PAYLOAD_BASE);
    assert!(0x2000 <= GICD_OFFSET && GICD_OFFSET + GICD_SIZE <= GICR_OFFSET);
    assert!(GICR_OFFSET + MAX_VCPUS as u64 * GICR_STRIDE <= MMIO_WINDOW_SIZE);
    // The largest map (MAX_L2 GiB) fits the VA and the default IPA space.
    assert!(MAX_L2 << 30 <= 1 << VA_BITS && MAX_L2 << 30 <= 1 << DEFAULT_IPA_BITS);
};

/// Guest address of the GICv3 distributor of a VM with `layout`.
pub fn gicd_base(layout: &Layout) -> u64 {
    layout.mmio.ucall + GICD_OFFSET
}

/// Guest address of the first GICv3 redistributor (vCPU 0's; vCPU n's is
/// `n * GICR_STRIDE` above).
pub fn gicr_base(layout: &Layout) -> u64 {
    layout.mmio.ucall + GICR_OFFSET
}

/// Top of vCPU `id`'s exception stack (SP_EL0; the handler switches to it,
/// so a stack overflow on SP_EL1 is still reported).
pub fn exception_stack_top(id: usize) -> u64 {
    EXCEPTION_STACKS + (id as u64 + 1) * EXCEPTION_STACK_SIZE
}

/// The aarch64 map's fixed part.
pub const FIXED: FixedLayout = FixedLayout {
    arch: "aarch64",
    min_mem: MIN_MEM,
    max_mapped_gib: MAX_L2,
    mmio_window_size: MMIO_WINDOW_SIZE,
    max_vcpus: MAX_VCPUS,
    firmware: FIRMWARE..FIRMWARE + FIRMWARE_SIZE,
    boot_info: BOOT_INFO,
    ucall_slots: UCALL_SLOTS,
    shared_arena: SHARED_ARENA..SHARED_ARENA_END,
    stacks: STACKS,
    stack_stride: STACK_STRIDE,
    payload_base: PAYLOAD_BASE,
    firmware_fault_flag: None,
};

/// The map for `mem_size` bytes of RAM, or why none fits.
pub fn layout(mem_size: u64) -> Result<Layout> {
    FIXED.layout(mem_size)
}
