//! The bench payload: SYNC(1) forever, so `cargo xtask bench` can time
//! ucall round trips of the Rust guest runtime and cold starts to the
//! first ucall.
#![no_std]
#![no_main]

use kvmtest_guest::guest_sync;

fn main() {
    loop {
        guest_sync!(1);
    }
}

kvmtest_guest::entry!(main);
