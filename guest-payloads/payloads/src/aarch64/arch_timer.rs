//! The arch_timer payload (upstream aarch64/arch_timer.c's guest_code): each
//! vCPU arms its virtual and physical timers through CVAL and TVAL, takes the
//! timer interrupt through the vGICv3 in its IRQ handler, and checks there
//! that the architectural state says the timer condition is met.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kvmtest_guest::abi::arch_timer::*;
use kvmtest_guest::gic::IAR_SPURIOUS;
use kvmtest_guest::timer::{cycles_to_usec, msecs_to_cycles, Timer, CTL_ENABLE, CTL_IMASK, CTL_ISTATUS};
use kvmtest_guest::{boot_arg, guest_assert, guest_assert_eq, guest_sync, irq, vcpu_id};

/// More vCPUs than the host runs (`struct test_vcpu_shared_data vcpu_shared_data[]`).
const MAX_VCPUS: usize = 8;

/// One vCPU's `struct test_vcpu_shared_data`, plus the worst latency seen.
struct Shared {
    nr_iter: AtomicU32,
    stage: AtomicU64,
    xcnt: AtomicU64,
    worst_latency_us: AtomicU64,
}

static SHARED: [Shared; MAX_VCPUS] = [const {
    Shared {
        nr_iter: AtomicU32::new(0),
        stage: AtomicU64::new(0),
        xcnt: AtomicU64::new(0),
        worst_latency_us: AtomicU64::new(0),
    }
}; MAX_VCPUS];

fn shared() -> &'static Shared {
    &SHARED[vcpu_id() as usize]
}

fn stage_timer(stage: u64) -> Timer {
    if stage == Stage::VtimerCval as u64 || stage == Stage::VtimerTval as u64 {
        Timer::Virtual
    } else {
        Timer::Physical
    }
}

fn timer_irq(timer: Timer) -> u32 {
    let irqs = boot_arg(ARG_TIMER_IRQS);
    match timer {
        Timer::Virtual => irqs as u32,
        Timer::Physical => (irqs >> 32) as u32,
    }
}

/// guest_configure_timer_action().
fn configure_timer_action(shared: &Shared, stage: Stage) {
    let period_ms = boot_arg(ARG_PERIOD_MS);
    let timer = stage_timer(stage as u64);
    match stage {
        Stage::VtimerCval | Stage::PtimerCval => timer.set_next_cval_ms(period_ms),
        Stage::VtimerTval | Stage::PtimerTval => timer.set_next_tval_ms(period_ms),
    }
    shared.xcnt.store(timer.count(), Ordering::SeqCst);
    timer.set_ctl(CTL_ENABLE);
}

/// guest_validate_irq().
fn validate_irq(intid: u32, shared: &Shared) {
    if intid == IAR_SPURIOUS {
        return;
    }
    let timer = stage_timer(shared.stage.load(Ordering::SeqCst));
    let xctl = timer.ctl();
    if xctl & CTL_IMASK != 0 || xctl & CTL_ENABLE == 0 {
        return;
    }
    timer.set_ctl(CTL_IMASK);
    let xcnt = timer.count();
    let cval = timer.cval();
    let xcnt_diff_us = cycles_to_usec(xcnt.wrapping_sub(shared.xcnt.load(Ordering::SeqCst)));

    // Make sure we are dealing with the correct timer IRQ.
    guest_assert_eq!(intid, timer_irq(timer));
    // Basic 'timer condition met' check.
    guest_assert!(xcnt >= cval, "xcnt = {xcnt:#x}, cval = {cval:#x}, xcnt_diff_us = {xcnt_diff_us:#x}");
    guest_assert!(xctl & CTL_ISTATUS != 0, "xctl = {xctl:#x}");

    let latency_us = cycles_to_usec(xcnt - cval);
    shared.worst_latency_us.fetch_max(latency_us, Ordering::SeqCst);
    shared.nr_iter.fetch_add(1, Ordering::SeqCst);
}

/// guest_irq_handler(): the runtime acknowledges (gic_get_and_ack_irq)
/// before and EOIs (gic_set_eoi) after.
fn guest_irq_handler(intid: u32) {
    validate_irq(intid, shared());
}

/// guest_run_stage(): upstream waits `period + margin` with udelay() and
/// then counts; this waits until the interrupt is counted or that deadline
/// passes (the same check, without spending the margin when it is large).
fn run_stage(shared: &Shared, stage: Stage) {
    shared.stage.store(stage as u64, Ordering::SeqCst);
    shared.nr_iter.store(0, Ordering::SeqCst);
    shared.worst_latency_us.store(0, Ordering::SeqCst);
    let wait = msecs_to_cycles(boot_arg(ARG_PERIOD_MS) + boot_arg(ARG_MARGIN_MS));
    for config_iter in 0..boot_arg(ARG_NR_ITER) as u32 {
        configure_timer_action(shared, stage);
        let start = Timer::Virtual.count();
        while shared.nr_iter.load(Ordering::SeqCst) != config_iter + 1 && Timer::Virtual.count() - start < wait {
            core::hint::spin_loop();
        }
        let irq_iter = shared.nr_iter.load(Ordering::SeqCst);
        guest_assert!(
            config_iter + 1 == irq_iter,
            "config_iter + 1 = {:#x}, irq_iter = {irq_iter:#x}: the {stage:?} timer interrupt did not arrive within \
             the period ({} ms) plus the margin ({} ms)",
            config_iter + 1,
            boot_arg(ARG_PERIOD_MS),
            boot_arg(ARG_MARGIN_MS)
        );
    }
    guest_sync!(stage as u64, shared.worst_latency_us.load(Ordering::SeqCst));
}

fn main() {
    let shared = shared();
    irq::disable();
    let gic = irq::Controller::init(ARG_IRQ_CONTROLLER);
    Timer::Virtual.set_ctl(CTL_IMASK);
    Timer::Physical.set_ctl(CTL_IMASK);
    gic.enable(timer_irq(Timer::Virtual));
    gic.enable(timer_irq(Timer::Physical));
    irq::set_handler(guest_irq_handler);
    irq::enable();

    for stage in STAGES {
        run_stage(shared, stage);
    }
}

kvmtest_guest::entry!(main); // GUEST_DONE when main returns
