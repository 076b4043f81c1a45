//! The framework's self-test payload: it misbehaves in the way boot argument
//! 0 asks for, and the host checks that the harness reports it exactly.
//! Before faulting it announces, with SYNC(1, address), where it will fault.
#![no_std]
#![no_main]

use kvmtest_guest::abi::faults::{FaultMode, UNMAPPED};
use kvmtest_guest::{arch, boot_arg, guest_assert_eq, guest_sync};

/// The modes of [`FaultMode`] as match patterns (a match on the raw boot
/// argument, as this payload has always compiled it).
const UD: u64 = FaultMode::Ud as u64;
const PAGE_FAULT: u64 = FaultMode::PageFault as u64;
const ENDLESS_LOOP: u64 = FaultMode::EndlessLoop as u64;
const STACK_OVERFLOW: u64 = FaultMode::StackOverflow as u64;
const PROBE_FAULT: u64 = FaultMode::ProbeFault as u64;
const PANIC: u64 = FaultMode::Panic as u64;

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    // black_box keeps both the 512-byte frame and the non-tail call: without
    // it LLVM turns this recursion into a loop that never overflows.
    let pad = core::hint::black_box([depth; 64]);
    core::hint::black_box(recurse(depth + 1)) + pad[depth as usize % 64]
}

fn main() {
    match boot_arg(0) {
        UD => {
            // #UD on x86_64, an UNDEF (EC 0) on arm64, at the announced address.
            guest_sync!(1, arch::undefined_instruction_addr());
            arch::undefined_instruction();
        }
        PAGE_FAULT => {
            guest_sync!(1, UNMAPPED);
            // SAFETY: deliberately reads the unmapped null page: a #PF.
            let v = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
            guest_sync!(2, v);
        }
        ENDLESS_LOOP => {
            guest_sync!(1, 0u64);
            loop {
                core::hint::spin_loop();
            }
        }
        STACK_OVERFLOW => {
            guest_sync!(1, 0u64);
            let v = recurse(0);
            guest_sync!(2, v);
        }
        PROBE_FAULT => {
            // A register the guest may not read (a bogus MSR: #GP; SP_EL1 at
            // EL1: UNDEF): the fixup turns the fault into a value instead of
            // an exception report.
            let vector = match arch::probe_undefined_register() {
                Ok(_) => 0xff,
                Err(v) => v,
            };
            guest_assert_eq!(vector, arch::PROBE_FAULT_VECTOR, "reading an undefined register should fault");
            guest_sync!(1, vector);
        }
        PANIC => {
            let v = [1u8, 2, 3];
            let i = boot_arg(1) as usize;
            guest_sync!(1, line!() + 1);
            guest_sync!(2, v[i]);
        }
        _ => {}
    }
}

kvmtest_guest::entry!(main);
