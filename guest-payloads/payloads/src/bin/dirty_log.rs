//! dirty_log_test.c's guest: write the iteration number into the first 8
//! bytes of every test page once, then of random pages, TEST_PAGES_PER_LOOP
//! at a time with a SYNC after each batch, forever (the host stops it).
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
    let iteration = boot_arg(ARG_ITERATION) as *const u64;
    let pages_per_loop = boot_arg(ARG_PAGES_PER_LOOP);
    let mut rng = boot_arg(ARG_SEED) | 1;
    let write = |page: u64| {
        let addr = (test_mem + page * PAGE_SIZE) as *mut u64;
        // SAFETY: page < num_pages: inside the test memslot, which the host
        // mapped; `iteration` is a u64 in guest RAM the host writes.
        unsafe { core::ptr::write_volatile(addr, core::ptr::read_volatile(iteration)) };
    };

    for page in 0..num_pages {
        write(page);
    }
    loop {
        for _ in 0..pages_per_loop {
            write(next_random(&mut rng) % num_pages);
        }
        guest_sync!(SYNC_LOOP);
    }
}
kvmtest_guest::entry!(main);
