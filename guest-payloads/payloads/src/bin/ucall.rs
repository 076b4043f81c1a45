//! The ucall payload: sends the kind of ucall boot argument 0 asks for, so
//! the host can check each kind over each transport.
#![no_std]
#![no_main]

use kvmtest_guest::{boot_arg, guest_assert_eq, guest_printf, guest_sync, vcpu_id};

/// Kinds, as the host's `tests/ucall.rs` numbers them.
const SYNC: u64 = 0;
const PRINTF: u64 = 1;
const ABORT: u64 = 2;
const DONE: u64 = 3;

/// Stage of the SYNC that announces the line of the failing assertion.
const ASSERT_LINE_STAGE: u64 = 100;

fn main() {
    match boot_arg(0) {
        SYNC => {
            guest_sync!(1, 0x1111_2222_3333_4444u64, -1i64, vcpu_id());
            guest_sync!(2);
        }
        PRINTF => guest_printf!("hello from vCPU {} of the {} payload: {:#x}", vcpu_id(), "ucall", boot_arg(1)),
        ABORT => {
            guest_sync!(ASSERT_LINE_STAGE, line!() + 1);
            guest_assert_eq!(boot_arg(1), 42u64, "boot arg 1 should be {}", 42);
        }
        DONE => {}
        other => guest_printf!("unknown mode {}", other),
    }
}

kvmtest_guest::entry!(main);
