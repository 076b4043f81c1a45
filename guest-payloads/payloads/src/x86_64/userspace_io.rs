//! The userspace_io payload (x86_64), upstream userspace_io_test.c's
//! guest_code: REP INSB from port 0x80 into a buffer, with counts 2 and 3
//! (which the host rewrites in RCX on the KVM_EXIT_IO: 2 => 1, 3 => 8192)
//! and 8192, checking RCX and RDI afterwards and, for the last, that every
//! byte is what the host put in kvm_run's I/O data (0xaa).
#![no_std]
#![no_main]

use core::cell::UnsafeCell;

use kvmtest_guest::abi::userspace_io::{BUFFER_SIZE, COUNT_LONG, COUNT_SHORT, FILL_BYTE, PORT};
use kvmtest_guest::{guest_assert, guest_assert_eq};

/// The buffer REP INSB writes (upstream's 8 KiB stack array; a static here,
/// so the vCPU's 12 KiB stack keeps room for the runtime's formatting).
struct Buffer(UnsafeCell<[u8; BUFFER_SIZE]>);
// SAFETY: the guest runs on one vCPU; only main() touches the buffer.
unsafe impl Sync for Buffer {}
static BUFFER: Buffer = Buffer(UnsafeCell::new([0; BUFFER_SIZE]));

fn guest_ins_port80(buffer: *mut u8, count: u64) {
    let end = if count == COUNT_SHORT { buffer as u64 + 1 } else { buffer as u64 + BUFFER_SIZE as u64 };
    let (mut rdi, mut rcx) = (buffer as u64, count);
    // SAFETY: writes at most BUFFER_SIZE bytes at `buffer` (the host stuffs
    // RCX to at most 8192); identity-mapped guest RAM.
    unsafe {
        core::arch::asm!("cld", "rep insb", inout("rdi") rdi, inout("rcx") rcx, in("dx") PORT);
    }
    guest_assert_eq!(rcx, 0u64);
    guest_assert_eq!(rdi, end);
}

fn main() {
    let buffer = BUFFER.0.get() as *mut u8;
    // Special cases: the host adjusts RCX 2 => 1 and 3 => 8192, and KVM must
    // neither explode nor overflow the buffer.
    guest_ins_port80(buffer, COUNT_SHORT);
    guest_ins_port80(buffer, COUNT_LONG);

    // KVM fills the buffer correctly when RCX is left alone.
    // SAFETY: `buffer` is BUFFER_SIZE bytes of this payload's .bss.
    unsafe { core::ptr::write_bytes(buffer, 0, BUFFER_SIZE) };
    guest_ins_port80(buffer, BUFFER_SIZE as u64);
    for i in 0..BUFFER_SIZE {
        // SAFETY: i < BUFFER_SIZE; volatile because REP INSB wrote it behind the compiler.
        let b = unsafe { core::ptr::read_volatile(buffer.add(i)) };
        guest_assert!(b == FILL_BYTE, "Expected '{FILL_BYTE:#x}', got '{b:#x}' at buffer[{i}]");
    }
}

kvmtest_guest::entry!(main);
