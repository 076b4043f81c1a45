//! set_memory_region_test.c's guests: spin on MEM_REGION_GPA while the host
//! moves or deletes the memslot under it; a read while no slot is there is
//! MMIO, answered with MMIO_VAL.
#![no_std]
#![no_main]

use kvmtest_guest::abi::memslots::set_memory_region::*;
use kvmtest_guest::{arch, boot_arg, guest_assert, guest_assert_eq, guest_sync};

fn guest_spin_on_val(gpa: u64, spin_val: u64) -> u64 {
    let val = arch::spin_while_eq(gpa, spin_val);
    guest_sync!(SYNC_SPUN);
    val
}

fn guest_code_move_memory_region(gpa: u64) {
    guest_sync!(SYNC_SPUN);

    // Spin until the memory region starts getting moved to a misaligned
    // address; every move may or may not trigger MMIO.
    let val = guest_spin_on_val(gpa, 0);
    guest_assert!(val == 1 || val == MMIO_VAL, "Expected '1' or MMIO ('{:#x}'), got '{:#x}'", MMIO_VAL, val);

    // Spin until the misaligning memory region move completes.
    let val = guest_spin_on_val(gpa, MMIO_VAL);
    guest_assert!(val == 1 || val == 0, "Expected '0' or '1' (no MMIO), got '{:#x}'", val);

    // Spin until the memory region starts to get re-aligned.
    let val = guest_spin_on_val(gpa, 0);
    guest_assert!(val == 1 || val == MMIO_VAL, "Expected '1' or MMIO ('{:#x}'), got '{:#x}'", MMIO_VAL, val);

    // Spin until the re-aligning memory region move completes.
    let val = guest_spin_on_val(gpa, MMIO_VAL);
    guest_assert_eq!(val, 1u64);
}

fn guest_code_delete_memory_region(gpa: u64) {
    // x86: an exception now escalates to a triple fault (KVM_EXIT_SHUTDOWN)
    // once slot 0, which holds the IDT's handlers, is gone.
    arch::clobber_exception_table();
    guest_sync!(SYNC_SPUN);

    // Spin until the memory region is deleted.
    let val = guest_spin_on_val(gpa, 0);
    guest_assert_eq!(val, MMIO_VAL);

    // Spin until the memory region is recreated.
    let val = guest_spin_on_val(gpa, MMIO_VAL);
    guest_assert_eq!(val, 0u64);

    // Spin until the memory region is deleted.
    let val = guest_spin_on_val(gpa, 0);
    guest_assert_eq!(val, MMIO_VAL);

    // Spin indefinitely (until the code memslot is deleted): the host checks
    // the vCPU stopped inside this loop.
    let (start, end) = arch::spin_loop_range();
    guest_sync!(SYNC_FINAL_SPIN, start, end);
    let val = arch::spin_while_eq(gpa, MMIO_VAL);
    guest_sync!(SYNC_LEFT_FINAL_SPIN, val);
}

fn main() {
    let gpa = boot_arg(ARG_GPA);
    match boot_arg(ARG_MODE) {
        MODE_MOVE => guest_code_move_memory_region(gpa),
        MODE_DELETE => guest_code_delete_memory_region(gpa),
        other => guest_assert!(false, "unknown mode {}", other),
    }
}
kvmtest_guest::entry!(main);
