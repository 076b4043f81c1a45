//! coalesced_io_test.c's guest: fill the coalesced ring with MMIO (and on
//! x86, alternately, port) writes, the last of each round being the write
//! that finds the ring full and exits; then SYNC, then one more of each.
//! How many writes fill the ring is the host's ARG_FILL (upstream's
//! ring_size - 1, which 6.1's KVM takes only from some starts).
#![no_std]
#![no_main]

use kvmtest_guest::abi::memslots::coalesced_io::*;
use kvmtest_guest::{arch, boot_arg, guest_sync};

fn main() {
    let mmio_gpa = boot_arg(ARG_MMIO_GPA);
    let pio_port = boot_arg(ARG_PIO_PORT) as u16;
    let has_pio = u64::from(arch::HAS_PIO);
    let mmio = |value: u64| {
        // SAFETY: the host mapped mmio_gpa as device memory with no memslot:
        // the store is MMIO, coalesced or an exit.
        unsafe { core::ptr::write_volatile(mmio_gpa as *mut u64, value) };
    };
    let pio = |value: u64| arch::outl(pio_port, value as u32);

    loop {
        let mut i = 0;
        for j in 0..1 + has_pio {
            // KVM always leaves one free entry, i.e. exits to userspace
            // before the last entry is filled (6.1: earlier, see the host).
            let fill = boot_arg(ARG_FILL);
            i = 0;
            while i < fill {
                if arch::HAS_PIO && i & 1 == 1 {
                    pio(u64::from(pio_port) + i);
                } else {
                    mmio(mmio_gpa + i);
                }
                i += 1;
            }
            if arch::HAS_PIO && j & 1 == 1 {
                pio(u64::from(pio_port) + i);
            } else {
                mmio(mmio_gpa + i);
            }
        }
        guest_sync!(SYNC_ROUND);

        mmio(mmio_gpa + i);
        if arch::HAS_PIO {
            pio(u64::from(pio_port) + i);
        }
    }
}
kvmtest_guest::entry!(main);
