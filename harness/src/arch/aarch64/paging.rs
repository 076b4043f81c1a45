//! Identity-mapped stage-1 tables for arm64 guests: 4 KiB granule, 39-bit
//! VA, so the walk starts at level 1 (1 GiB per entry).
//!
//! The low 2 MiB use 4 KiB pages so the null page and each vCPU's stack
//! guard can be left unmapped; the rest of RAM uses 2 MiB blocks of Normal
//! memory, and the MMIO window 2 MiB blocks of Device-nGnRE. Nothing else is
//! mapped: a stray access faults instead of reaching an unbacked IPA.

use super::layout::{L1_TABLE, L2_BASE, L3_LOW};
use std::ops::Range;

use crate::layout::{align_up, Layout, RegionKind};
use crate::Result;

/// Descriptor bit 0: valid.
pub const DESC_VALID: u64 = 1 << 0;
/// Descriptor bit 1: table (levels 1-2) or page (level 3); clear for a block.
pub const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
/// AttrIndx (bits 4:2) selecting MAIR_EL1 attribute 0: Device-nGnRE.
pub const ATTR_DEVICE: u64 = (MAIR_IDX_DEVICE as u64) << 2;
/// AttrIndx selecting MAIR_EL1 attribute 1: Normal write-back.
pub const ATTR_NORMAL: u64 = (MAIR_IDX_NORMAL as u64) << 2;
/// SH[1:0] = 0b11: inner shareable.
pub const SH_INNER: u64 = 3 << 8;
/// Access flag: set, so the first access does not fault.
pub const AF: u64 = 1 << 10;
/// Privileged and unprivileged execute-never.
pub const PXN: u64 = 1 << 53;
/// Unprivileged execute-never.
pub const UXN: u64 = 1 << 54;

/// MAIR_EL1 attribute slots the descriptors use.
pub const MAIR_IDX_DEVICE: usize = 0;
/// The Normal write-back slot.
pub const MAIR_IDX_NORMAL: usize = 1;
/// MAIR_EL1 attribute encodings (ARM DDI 0487 D19.2): Device-nGnRE and
/// Normal inner/outer write-back non-transient read/write-allocate.
pub const MAIR_DEVICE_NGNRE: u64 = 0x04;
/// Normal inner/outer write-back.
pub const MAIR_NORMAL_WB: u64 = 0xff;
/// The MAIR_EL1 value matching the descriptors.
pub const MAIR_EL1: u64 = (MAIR_DEVICE_NGNRE << (8 * MAIR_IDX_DEVICE)) | (MAIR_NORMAL_WB << (8 * MAIR_IDX_NORMAL));

/// Leaf attributes of RAM (EL1 read/write/execute; EL0 never runs).
pub const NORMAL_LEAF: u64 = AF | SH_INNER | ATTR_NORMAL | UXN;
/// Leaf attributes of the MMIO window (never executable).
pub const DEVICE_LEAF: u64 = AF | ATTR_DEVICE | PXN | UXN;

const ENTRIES: usize = 512;
const PAGE: u64 = 4096;
const MIB2: u64 = 2 << 20;
const GIB: u64 = 1 << 30;
const OUTPUT_MASK: u64 = 0x0000_ffff_ffff_f000;

/// One table page: its guest address and its 512 entries.
pub type TablePage = (u64, Box<[u64; ENTRIES]>);

fn page_at(addr: u64) -> TablePage {
    (addr, Box::new([0u64; ENTRIES]))
}

/// Builds the tables for `layout`. Returns the pages to write, L1 first.
pub fn build(layout: &Layout) -> Vec<TablePage> {
    let ram_end = align_up(layout.mem_size, MIB2);
    let top = align_up(layout.mmio.end, GIB);
    let mut l1 = page_at(L1_TABLE);
    let mut l3 = page_at(L3_LOW);
    let mut l2s: Vec<TablePage> = (0..top / GIB).map(|i| page_at(L2_BASE + i * PAGE)).collect();

    for (i, l2) in l2s.iter().enumerate() {
        l1.1[i] = l2.0 | DESC_VALID | DESC_TABLE_OR_PAGE;
    }
    l2s[0].1[0] = L3_LOW | DESC_VALID | DESC_TABLE_OR_PAGE;
    // A guard is the lowest page of each vCPU's stack (`stack_guard_of`):
    // tested by arithmetic, not by searching a list for each of 511 pages
    // (as on x86, that search was most of a VM's start-up instructions).
    let stacks_end = layout.stack_guard_of(layout.max_vcpus);
    let is_guard =
        |addr: u64| (layout.stacks..stacks_end).contains(&addr) && (addr - layout.stacks) % layout.stack_stride == 0;
    for (k, entry) in l3.1.iter_mut().enumerate().skip(1) {
        let addr = k as u64 * PAGE;
        if !is_guard(addr) {
            *entry = addr | NORMAL_LEAF | DESC_VALID | DESC_TABLE_OR_PAGE;
        }
    }
    for j in 1..(top / MIB2) as usize {
        let addr = j as u64 * MIB2;
        let attrs = if addr < ram_end {
            NORMAL_LEAF
        } else if addr >= layout.mmio.ucall && addr < layout.mmio.end {
            DEVICE_LEAF
        } else {
            continue;
        };
        l2s[j / ENTRIES].1[j % ENTRIES] = addr | attrs | DESC_VALID;
    }
    let mut pages = vec![l1, l3];
    pages.extend(l2s);
    pages
}

/// The L2 block descriptors that map `range` (2 MiB-aligned, inside
/// `layout.spare`, which `build` leaves unmapped) identity, as `(guest
/// address of the descriptor, value)`: Normal memory for RAM, Device-nGnRE
/// and never executable for MMIO.
pub fn region_entries(layout: &Layout, range: Range<u64>, kind: RegionKind) -> Result<Vec<(u64, u64)>> {
    layout.check_spare(&range)?;
    let attrs = match kind {
        RegionKind::Ram => NORMAL_LEAF,
        RegionKind::Mmio => DEVICE_LEAF,
    };
    Ok((range.start / MIB2..range.end / MIB2)
        .map(|j| {
            let at = L2_BASE + (j / ENTRIES as u64) * PAGE + (j % ENTRIES as u64) * 8;
            (at, (j * MIB2) | attrs | DESC_VALID)
        })
        .collect())
}

/// Walks `pages` as the MMU would; `None` if `va` is not mapped, else the
/// output address and the leaf descriptor.
pub fn walk(pages: &[TablePage], va: u64) -> Option<(u64, u64)> {
    if va >> super::layout::VA_BITS != 0 {
        return None;
    }
    let table = |addr: u64| pages.iter().find(|p| p.0 == addr).map(|p| &p.1);
    let index = |level: u32| ((va >> (12 + 9 * (3 - level))) & 0x1ff) as usize;
    let mut next = L1_TABLE;
    for level in 1..=3u32 {
        let desc = table(next)?[index(level)];
        if desc & DESC_VALID == 0 {
            return None;
        }
        let is_table = desc & DESC_TABLE_OR_PAGE != 0;
        if level == 3 {
            // At level 3 bit 1 clear is reserved (invalid).
            return is_table.then_some(((desc & OUTPUT_MASK) + (va & (PAGE - 1)), desc));
        }
        if !is_table {
            if level == 1 {
                return None; // no 1 GiB blocks are built
            }
            return Some(((desc & OUTPUT_MASK & !(MIB2 - 1)) + (va & (MIB2 - 1)), desc));
        }
        next = desc & OUTPUT_MASK;
    }
    None
}

/// Walks `pages` as the MMU would; `None` if `va` is not mapped.
pub fn translate(pages: &[TablePage], va: u64) -> Option<u64> {
    walk(pages, va).map(|(pa, _)| pa)
}

// The checks every arch's tables must pass are in `arch/paging_tests.rs`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::aarch64::layout::{gicd_base, gicr_base, layout, GICR_STRIDE};

    #[test]
    fn ram_is_normal_and_the_window_is_device() {
        let l = layout(64 << 20).unwrap();
        let pages = build(&l);
        for va in [0x1000, 0x20_0000, (64 << 20) - 8] {
            let (_, d) = walk(&pages, va).unwrap();
            assert_eq!(d & (7 << 2), ATTR_NORMAL, "va {va:#x}: {d:#x}");
            assert_eq!(d & PXN, 0, "RAM at {va:#x} must be executable");
            assert_ne!(d & AF, 0);
        }
        for va in
            [l.mmio.ucall, l.mmio.shared_doorbell, gicd_base(&l), gicr_base(&l) + 63 * GICR_STRIDE, l.mmio.end - 8]
        {
            let (pa, d) = walk(&pages, va).unwrap();
            assert_eq!(pa, va);
            assert_eq!(d & (7 << 2), ATTR_DEVICE, "va {va:#x}: {d:#x}");
            assert_ne!(d & PXN, 0, "the MMIO window must not be executable");
        }
        assert_eq!(MAIR_EL1, 0xff04);
    }

    #[test]
    fn table_count_grows_by_one_l2_per_gib() {
        let small = build(&layout(64 << 20).unwrap()).len();
        let big = build(&layout(4 << 30).unwrap()).len();
        assert_eq!(small, 3);
        assert_eq!(big, 2 + 5);
        let l = layout(4 << 30).unwrap();
        let pages = build(&l);
        assert_eq!(translate(&pages, (4 << 30) - 4096), Some((4 << 30) - 4096));
        assert_eq!(translate(&pages, l.mmio.ucall), Some(4 << 30));
    }

    #[test]
    fn beyond_ram_and_window_is_unmapped() {
        let l = layout(64 << 20).unwrap();
        let pages = build(&l);
        assert_eq!(translate(&pages, l.mmio.end), None);
        assert_eq!(translate(&pages, 1 << 30), None);
        assert_eq!(translate(&pages, 1 << 39), None);
        assert_eq!(translate(&pages, u64::MAX), None);
    }

    #[test]
    fn region_entries_map_the_spare_range_only() {
        let l = layout(64 << 20).unwrap();
        let mut pages = build(&l);
        let at = l.spare.start + (2 << 20);
        assert_eq!(translate(&pages, at), None, "the spare range starts unmapped");
        let mut apply = |entries: Vec<(u64, u64)>| {
            for (addr, value) in entries {
                let page = pages.iter_mut().find(|p| p.0 == addr & !(PAGE - 1)).unwrap();
                page.1[((addr % PAGE) / 8) as usize] = value;
            }
        };
        apply(region_entries(&l, at..at + (2 << 20), RegionKind::Ram).unwrap());
        apply(region_entries(&l, at + (2 << 20)..at + (4 << 20), RegionKind::Mmio).unwrap());
        let (pa, d) = walk(&pages, at + 0x1238).unwrap();
        assert_eq!((pa, d & (7 << 2)), (at + 0x1238, ATTR_NORMAL));
        let (pa, d) = walk(&pages, at + (2 << 20) + 8).unwrap();
        assert_eq!((pa, d & (7 << 2)), (at + (2 << 20) + 8, ATTR_DEVICE));
        assert_ne!(d & PXN, 0);
        assert_eq!(translate(&pages, at + (4 << 20)), None);
        assert!(region_entries(&l, 0..(2 << 20), RegionKind::Ram).is_err(), "RAM is not spare");
        assert!(region_entries(&l, l.mmio.ucall..l.mmio.ucall + (2 << 20), RegionKind::Mmio).is_err());
        assert!(region_entries(&l, at..at + 4096, RegionKind::Ram).is_err(), "not 2 MiB-aligned");
    }

    #[test]
    fn too_much_memory_is_refused() {
        assert!(layout(16 << 30).is_err());
        assert!(layout(15 << 30).is_ok());
        assert!(layout(1 << 20).is_err());
    }
}
