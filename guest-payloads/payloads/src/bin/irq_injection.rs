//! The irq_injection payload: brings up this vCPU's interrupt controller,
//! enables the interrupt the host names, and for each round says READY,
//! waits, and reports from its handler the interrupt it took. With
//! SOURCE_GUEST_TIMER the interrupt is its own one-shot timer's instead.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use kvmtest_guest::abi::irq_test::*;
use kvmtest_guest::{boot_arg, guest_assert_eq, guest_sync, irq};

/// Interrupts handled so far.
static TAKEN: AtomicU64 = AtomicU64::new(0);

fn handler(intid: u32) {
    let round = TAKEN.load(Ordering::SeqCst);
    if boot_arg(ARG_SOURCE) == SOURCE_GUEST_TIMER {
        irq::stop_timer();
    }
    // The host lowers the line before this returns (and the runtime EOIs).
    guest_sync!(STAGE_GOT_IRQ, u64::from(intid), round);
    TAKEN.store(round + 1, Ordering::SeqCst);
}

fn main() {
    irq::disable();
    let controller = irq::Controller::init(ARG_IRQ_CONTROLLER);
    controller.enable(boot_arg(ARG_INTID) as u32);
    irq::set_handler(handler);
    let from_host = boot_arg(ARG_SOURCE) != SOURCE_GUEST_TIMER;
    for round in 0..boot_arg(ARG_ROUNDS) {
        // The host raises the line while this vCPU is stopped at READY:
        // unmasked, the interrupt is taken as soon as the vCPU runs again
        // (KVM injects it at that entry). Masked there (an interrupt window
        // KVM must open later), KVM 7.3 under qemu 7.2's TCG SVM once saw
        // READY's doorbell rung a second time, in 1 run of 4; the cause,
        // KVM's or TCG's, is not found.
        if from_host {
            irq::enable();
        }
        guest_sync!(STAGE_READY, round);
        irq::disable();
        if !from_host {
            irq::oneshot_timer_us(TIMER_US);
        }
        while TAKEN.load(Ordering::SeqCst) == round {
            irq::wait();
            irq::disable();
        }
    }
    guest_assert_eq!(TAKEN.load(Ordering::SeqCst), boot_arg(ARG_ROUNDS));
}

kvmtest_guest::entry!(main); // DONE when main returns
