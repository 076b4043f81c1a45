//! What every arch's identity page tables must do, stated over the
//! arch-neutral [`Layout`](crate::layout::Layout) and run against the host
//! arch's `paging.rs`; what only one arch's tables do is tested there.

use super::host_paging::{build, translate};
use super::{write_table_pages, Arch, HostArch};

#[test]
fn identity_maps_ram_and_mmio_window() {
    let l = HostArch::layout(64 << 20).unwrap();
    let pages = build(&l);
    for va in [0x1000, 0x20_0000, 0x20_1234, (64 << 20) - 8, l.mmio.ucall, l.mmio.shared_doorbell] {
        assert_eq!(translate(&pages, va), Some(va), "va {va:#x}");
    }
}

#[test]
fn null_page_and_stack_guards_are_unmapped() {
    let l = HostArch::layout(64 << 20).unwrap();
    let pages = build(&l);
    assert_eq!(translate(&pages, 0), None);
    assert_eq!(translate(&pages, 0xfff), None);
    for id in 0..l.max_vcpus {
        let guard = l.stack_guard_of(id);
        assert_eq!(translate(&pages, guard + 8), None, "guard of vCPU {id}");
        assert_eq!(translate(&pages, l.stack_top_of(id) - 8), Some(l.stack_top_of(id) - 8));
    }
}

#[test]
fn cached_tables_are_the_built_ones_for_each_layout() {
    use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
    let small = HostArch::layout(64 << 20).unwrap();
    let large = HostArch::layout(1 << 30).unwrap();
    // Twice each, interleaved: the second write of a layout comes from the cache.
    for l in [&small, &large, &small, &large] {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), l.mem_size as usize)]).unwrap();
        write_table_pages(&mem, l, build).unwrap();
        for (addr, entries) in build(l) {
            for (i, want) in entries.iter().enumerate() {
                let got: u64 = mem.read_obj(GuestAddress(addr + 8 * i as u64)).unwrap();
                assert_eq!(got, *want, "layout of {:#x} bytes: entry {i} of the table at {addr:#x}", l.mem_size);
            }
        }
    }
}
