//! What every arch's identity page tables must do, stated over the
//! arch-neutral [`Layout`](crate::layout::Layout) and run against the host
//! arch's `paging.rs`; what only one arch's tables do is tested there.

use super::host_paging::{build, translate};
use super::{Arch, HostArch};

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
