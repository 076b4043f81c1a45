//! The ucall storm payload: every vCPU sends SYNC(1, vcpu_id, seq) for seq
//! in 0..boot_arg(0), all at once, so the host can check that no message is
//! lost or delivered to the wrong vCPU.
#![no_std]
#![no_main]

use kvmtest_guest::{boot_arg, guest_sync, vcpu_id};

fn main() {
    let id = vcpu_id();
    for seq in 0..boot_arg(0) {
        guest_sync!(1, id, seq);
    }
}

kvmtest_guest::entry!(main);
