//! The system_counter_offset guest (upstream system_counter_offset_test.c
//! guest_main): for each of the host's test cases (boot argument 0 says how
//! many) GUEST_SYNC(i, rdtsc()); the host sets the case's TSC offset before
//! each run and checks the value falls between its own reads around it.
#![no_std]
#![no_main]

use kvmtest_guest::arch::rdtsc;
use kvmtest_guest::{boot_arg, guest_sync};

fn main() {
    for i in 0..boot_arg(0) {
        guest_sync!(i, rdtsc());
    }
}

kvmtest_guest::entry!(main);
