//! The irq_injection payload: brings up this vCPU's interrupt controller,
//! enables the interrupt the host names, and for each round says READY,
//! waits, and reports from its handler the interrupt it took (masked or
//! unmasked at READY, as ARG_MASKED_AT_READY says). With
//! SOURCE_GUEST_TIMER the interrupt is its own one-shot timer's instead.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kvmtest_guest::abi::irq_test::*;
use kvmtest_guest::{boot_arg, guest_assert_eq, guest_sync, irq};

/// Interrupts handled so far.
static TAKEN: AtomicU64 = AtomicU64::new(0);
/// Set by main just before it unmasks to take this round's interrupt,
/// cleared by the handler that takes it: a handler that finds it clear
/// runs for an interrupt nobody raised, e.g. one delivered a second time.
static EXPECTED: AtomicBool = AtomicBool::new(false);
/// Set while the handler runs (interrupts masked throughout).
static IN_HANDLER: AtomicBool = AtomicBool::new(false);

fn handler(intid: u32) {
    let round = TAKEN.load(Ordering::SeqCst);
    let nested = IN_HANDLER.swap(true, Ordering::SeqCst);
    if !EXPECTED.swap(false, Ordering::SeqCst) {
        let place = if nested { TAKEN_IN_HANDLER } else { TAKEN_ELSEWHERE };
        guest_sync!(STAGE_UNEXPECTED_IRQ, u64::from(intid), round, place);
    }
    if boot_arg(ARG_SOURCE) == SOURCE_GUEST_TIMER {
        irq::stop_timer();
    }
    // The host lowers the line before this returns (and the runtime EOIs).
    guest_sync!(STAGE_GOT_IRQ, u64::from(intid), round);
    TAKEN.store(round + 1, Ordering::SeqCst);
    IN_HANDLER.store(false, Ordering::SeqCst);
}

fn main() {
    irq::disable();
    let controller = irq::Controller::init(ARG_IRQ_CONTROLLER);
    controller.enable(boot_arg(ARG_INTID) as u32);
    irq::set_handler(handler);
    let from_host = boot_arg(ARG_SOURCE) != SOURCE_GUEST_TIMER;
    for round in 0..boot_arg(ARG_ROUNDS) {
        // The host raises the line while this vCPU is stopped at READY:
        // unmasked there, the interrupt is taken as soon as the vCPU runs
        // again (KVM injects it at that entry); masked (ARG_MASKED_AT_READY),
        // KVM must open an interrupt window and inject it once the wait
        // below unmasks.
        if from_host && boot_arg(ARG_MASKED_AT_READY) == 0 {
            EXPECTED.store(true, Ordering::SeqCst);
            irq::enable();
        }
        guest_sync!(STAGE_READY, round);
        irq::disable();
        if !from_host {
            irq::oneshot_timer_us(TIMER_US);
        }
        while TAKEN.load(Ordering::SeqCst) == round {
            EXPECTED.store(true, Ordering::SeqCst);
            irq::wait();
            irq::disable();
        }
    }
    guest_assert_eq!(TAKEN.load(Ordering::SeqCst), boot_arg(ARG_ROUNDS));
}

kvmtest_guest::entry!(main); // DONE when main returns
