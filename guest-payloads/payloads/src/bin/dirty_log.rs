//! dirty_log_test.c's guest: write the iteration number into the first 8
//! bytes of every test page once (6.1's and 6.12's guest on every arch),
//! then of random pages, counting the writes, until the host sets
//! `vcpu_stop`; then GUEST_SYNC and start over (the host resumes it with the
//! next iteration's number already in place).
#![no_std]
#![no_main]

use kvmtest_guest::abi::memslots::dirty_log::*;
use kvmtest_guest::{boot_arg, guest_sync};

const PAGE_SIZE: u64 = 4096;

/// xorshift64*: the guest's own random numbers (upstream's guest_random_u64).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn main() {
    let test_mem = boot_arg(ARG_TEST_MEM);
    let num_pages = boot_arg(ARG_NUM_PAGES);
    let shared = boot_arg(ARG_SHARED);
    let mut rng = boot_arg(ARG_SEED) | 1;
    let field = |offset: u64| (shared + offset) as *mut u64;
    // SAFETY: `shared` is the host's `Shared` block in guest RAM, each field
    // a naturally aligned u64 the host reads and writes whole.
    let read_shared = |offset: u64| unsafe { core::ptr::read_volatile(field(offset)) };
    let write = |page: u64| {
        let addr = (test_mem + page * PAGE_SIZE) as *mut u64;
        // SAFETY: page < num_pages: inside the test memslot, which the host mapped.
        unsafe { core::ptr::write_volatile(addr, read_shared(SHARED_ITERATION)) };
        // The host zeroes the count while the vCPU is stopped: reload it.
        let nr_writes = read_shared(SHARED_NR_WRITES) + 1;
        // SAFETY: as for `read_shared`.
        unsafe { core::ptr::write_volatile(field(SHARED_NR_WRITES), nr_writes) };
    };

    for page in 0..num_pages {
        write(page);
    }
    loop {
        while read_shared(SHARED_VCPU_STOP) == 0 {
            write(next_random(&mut rng) % num_pages);
        }
        guest_sync!(SYNC_STOPPED);
    }
}
kvmtest_guest::entry!(main);
