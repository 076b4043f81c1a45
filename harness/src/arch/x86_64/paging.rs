//! Identity-mapped 4-level page tables for x86_64 guests.
//!
//! The low 2 MiB use 4 KiB pages so the null page and each vCPU's stack guard
//! can be left unmapped; everything above uses 2 MiB pages, up to the end of
//! the MMIO window rounded to 1 GiB. The cost is a handful of table pages
//! whatever the guest's size.

use super::layout::{PDPT, PD_BASE, PML4, PT_LOW};
use std::ops::Range;

use crate::layout::{align_up, Layout, RegionKind};
use crate::Result;

/// Present.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Writable.
pub const PTE_WRITABLE: u64 = 1 << 1;
/// PS: a 2 MiB page in a PD entry.
pub const PTE_HUGE: u64 = 1 << 7;

const ENTRIES: usize = 512;
const PAGE: u64 = 4096;
const MIB2: u64 = 2 << 20;
const GIB: u64 = 1 << 30;

/// One page-table page: its guest address and its 512 entries.
pub type TablePage = (u64, Box<[u64; ENTRIES]>);

fn page_at(addr: u64) -> TablePage {
    (addr, Box::new([0u64; ENTRIES]))
}

/// Builds the tables for `layout`. Returns the pages to write, PML4 first.
pub fn build(layout: &Layout) -> Vec<TablePage> {
    let top = align_up(layout.mmio.end, GIB);
    let n_pd = (top / GIB) as usize;
    let mut pml4 = page_at(PML4);
    let mut pdpt = page_at(PDPT);
    let mut pt = page_at(PT_LOW);
    let mut pds: Vec<TablePage> = (0..n_pd).map(|i| page_at(PD_BASE + i as u64 * PAGE)).collect();

    pml4.1[0] = PDPT | PTE_PRESENT | PTE_WRITABLE;
    for (i, pd) in pds.iter().enumerate() {
        pdpt.1[i] = pd.0 | PTE_PRESENT | PTE_WRITABLE;
    }
    pds[0].1[0] = PT_LOW | PTE_PRESENT | PTE_WRITABLE;
    // A guard is the lowest page of each vCPU's stack (`stack_guard_of`):
    // tested by arithmetic, not by searching a list for each of 511 pages
    // (that search was most of a VM's start-up instructions).
    let stacks_end = layout.stack_guard_of(layout.max_vcpus);
    let is_guard =
        |addr: u64| (layout.stacks..stacks_end).contains(&addr) && (addr - layout.stacks) % layout.stack_stride == 0;
    for (k, entry) in pt.1.iter_mut().enumerate().skip(1) {
        let addr = k as u64 * PAGE;
        if !is_guard(addr) {
            *entry = addr | PTE_PRESENT | PTE_WRITABLE;
        }
    }
    for j in 1..(top / MIB2) as usize {
        pds[j / ENTRIES].1[j % ENTRIES] = (j as u64 * MIB2) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE;
    }
    let mut pages = vec![pml4, pdpt, pt];
    pages.extend(pds);
    pages
}

/// The page-directory entries that map `range` (2 MiB-aligned, inside
/// `layout.spare`) identity, writable, as `(guest address of the entry,
/// value)`. RAM and MMIO are mapped alike on x86 (the tables already map the
/// spare range so; writing them again is harmless).
pub fn region_entries(layout: &Layout, range: Range<u64>, _kind: RegionKind) -> Result<Vec<(u64, u64)>> {
    layout.check_spare(&range)?;
    Ok((range.start / MIB2..range.end / MIB2)
        .map(|j| {
            let at = PD_BASE + (j / ENTRIES as u64) * PAGE + (j % ENTRIES as u64) * 8;
            (at, (j * MIB2) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE)
        })
        .collect())
}

/// Walks `pages` as the MMU would; `None` if `va` is not mapped.
pub fn translate(pages: &[TablePage], va: u64) -> Option<u64> {
    let table = |addr: u64| pages.iter().find(|p| p.0 == addr).map(|p| &p.1);
    let index = |level: u32| ((va >> (12 + 9 * level)) & 0x1ff) as usize;
    let frame = |e: u64| e & 0x000f_ffff_ffff_f000;
    let mut entry = table(PML4)?[index(3)];
    for level in [2u32, 1, 0] {
        if entry & PTE_PRESENT == 0 {
            return None;
        }
        let next = table(frame(entry))?[index(level)];
        if next & PTE_PRESENT == 0 {
            return None;
        }
        if level == 1 && next & PTE_HUGE != 0 {
            return Some(frame(next) + (va & (MIB2 - 1)));
        }
        entry = next;
    }
    Some(frame(entry) + (va & (PAGE - 1)))
}

// The checks every arch's tables must pass are in `arch/paging_tests.rs`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86_64::layout::layout;

    #[test]
    fn table_count_does_not_grow_with_memory_beyond_one_pd_per_gib() {
        let small = build(&layout(64 << 20).unwrap()).len();
        let big = build(&layout(4 << 30).unwrap()).len();
        assert_eq!(small, 4);
        assert_eq!(big, 3 + 5);
        let l = layout(4 << 30).unwrap();
        assert_eq!(translate(&build(&l), (4 << 30) - 4096), Some((4 << 30) - 4096));
    }

    #[test]
    fn region_entries_map_the_spare_range_only() {
        let l = layout(64 << 20).unwrap();
        let mut pages = build(&l);
        let at = l.spare.start + (2 << 20);
        for (addr, value) in region_entries(&l, at..at + (4 << 20), RegionKind::Ram).unwrap() {
            let page = pages.iter_mut().find(|p| p.0 == addr & !(PAGE - 1)).unwrap();
            page.1[((addr % PAGE) / 8) as usize] = value;
        }
        assert_eq!(translate(&pages, at + 0x1234), Some(at + 0x1234));
        assert_eq!(translate(&pages, at + (4 << 20) - 8), Some(at + (4 << 20) - 8));
        assert!(region_entries(&l, 0..(2 << 20), RegionKind::Ram).is_err(), "RAM is not spare");
        assert!(region_entries(&l, at..at + 4096, RegionKind::Ram).is_err(), "not 2 MiB-aligned");
        assert!(region_entries(&l, l.spare.end..l.spare.end + (2 << 20), RegionKind::Ram).is_err());
    }

    #[test]
    fn beyond_the_mapped_range_is_unmapped() {
        let l = layout(64 << 20).unwrap();
        assert_eq!(translate(&build(&l), 1 << 30), None);
        assert_eq!(translate(&build(&l), 1 << 39), None);
    }
}
