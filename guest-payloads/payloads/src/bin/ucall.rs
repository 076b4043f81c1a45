//! The ucall payload: sends the kind of ucall boot argument 0 asks for, so
//! the host can check each kind over each transport.
#![no_std]
#![no_main]

use kvmtest_guest::abi::ucall_test::{UcallTestKind, ASSERT_LINE_STAGE};
use kvmtest_guest::{boot_arg, guest_assert_eq, guest_printf, guest_sync, vcpu_id};

/// The kinds of [`UcallTestKind`] as match patterns (a match on the raw
/// boot argument, as this payload has always compiled it; unknown values
/// are printed).
const SYNC: u64 = UcallTestKind::Sync as u64;
const PRINTF: u64 = UcallTestKind::Printf as u64;
const ABORT: u64 = UcallTestKind::Abort as u64;
const DONE: u64 = UcallTestKind::Done as u64;

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
