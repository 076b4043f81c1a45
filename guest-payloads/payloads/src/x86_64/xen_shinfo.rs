//! The xen_shinfo guest (upstream x86_64/xen_shinfo_test.c guest_code): walks
//! the numbered stages with GUEST_SYNC, checks the runstate area KVM keeps,
//! waits for each event channel upcall the host arranges (the handler syncs
//! TEST_GUEST_SAW_IRQ), and makes the Xen hypercalls KVM serves in-kernel:
//! EVTCHNOP_send, set_timer_op and SCHEDOP_poll.
#![no_std]
#![no_main]

use core::sync::atomic::{compiler_fence, AtomicBool, Ordering};

use kvmtest_guest::abi::xen_shinfo::stage::*;
use kvmtest_guest::abi::xen_shinfo::*;
use kvmtest_guest::arch::xen_hypercall;
use kvmtest_guest::{boot_arg, guest_assert, guest_assert_eq, guest_sync, irq};

static GUEST_SAW_IRQ: AtomicBool = AtomicBool::new(false);

fn shinfo() -> u64 {
    boot_arg(ARG_SHINFO_REGION)
}

/// A u64 of the identity-mapped shared-info region, read as the guest's
/// plain C read (the runstate area is deliberately unaligned).
fn read_u64(addr: u64) -> u64 {
    compiler_fence(Ordering::SeqCst);
    // SAFETY: `addr` lies in the three pages the host mapped for the region.
    unsafe { core::ptr::read_unaligned(addr as *const u64) }
}

fn read_u32(addr: u64) -> u32 {
    compiler_fence(Ordering::SeqCst);
    // SAFETY: as in read_u64.
    unsafe { core::ptr::read_unaligned(addr as *const u32) }
}

fn rs_time(state: u64) -> u64 {
    read_u64(shinfo() + RUNSTATE_OFFSET + RS_TIME + 8 * state)
}

fn rs_state() -> u32 {
    read_u32(shinfo() + RUNSTATE_OFFSET + RS_STATE)
}

fn rs_state_entry_time() -> u64 {
    read_u64(shinfo() + RUNSTATE_OFFSET + RS_STATE_ENTRY_TIME)
}

/// evtchn_handler(): clears the vcpu_info's pending flags and reports.
fn evtchn_handler(vector: u32) {
    guest_assert_eq!(vector, u32::from(EVTCHN_VECTOR));
    let vi = shinfo() + VCPU_INFO_OFFSET;
    // SAFETY: vcpu_info lies in the region's first page; WRITE_ONCE as
    // upstream's vcpu_arch_put_guest.
    unsafe {
        core::ptr::write_volatile((vi + VI_UPCALL_PENDING) as *mut u8, 0);
        core::ptr::write_volatile((vi + VI_PENDING_SEL) as *mut u64, 0);
    }
    GUEST_SAW_IRQ.store(true, Ordering::SeqCst);
    guest_sync!(TEST_GUEST_SAW_IRQ);
}

fn guest_wait_for_irq() {
    while !GUEST_SAW_IRQ.load(Ordering::SeqCst) {
        core::hint::spin_loop();
    }
    GUEST_SAW_IRQ.store(false, Ordering::SeqCst);
}

#[repr(C)]
struct EvtchnSend {
    port: u32,
}

#[repr(C)]
struct SchedPoll {
    ports: u64,
    nr_ports: u32,
    timeout: u64,
}

/// __xen_hypercall(): the raw result.
fn raw_hcall(nr: u64, a0: u64, a1: u64) -> u64 {
    xen_hypercall(nr, [a0, a1, 0, 0, 0, 0])
}

/// xen_hypercall(): the call must succeed (6.12 processor.c asserts it;
/// 6.1's test asserts `rax == 0` after each).
fn hcall(nr: u64, a0: u64, a1: u64) {
    guest_assert_eq!(raw_hcall(nr, a0, a1), 0);
}

fn main() {
    irq::disable();
    let _controller = irq::Controller::init(ARG_IRQ_CONTROLLER);
    irq::set_handler(evtchn_handler);
    irq::enable();

    // Trigger an interrupt injection
    guest_sync!(TEST_INJECT_VECTOR);
    guest_wait_for_irq();

    // Test having the host set runstates manually
    guest_sync!(TEST_RUNSTATE_RUNNABLE);
    guest_assert!(rs_time(RUNSTATE_RUNNABLE) != 0);
    guest_assert_eq!(rs_state(), 0);

    guest_sync!(TEST_RUNSTATE_BLOCKED);
    guest_assert!(rs_time(RUNSTATE_BLOCKED) != 0);
    guest_assert_eq!(rs_state(), 0);

    guest_sync!(TEST_RUNSTATE_OFFLINE);
    guest_assert!(rs_time(RUNSTATE_OFFLINE) != 0);
    guest_assert_eq!(rs_state(), 0);

    // Test runstate time adjust
    guest_sync!(TEST_RUNSTATE_ADJUST);
    guest_assert_eq!(rs_time(RUNSTATE_BLOCKED), 0x5a);
    guest_assert_eq!(rs_time(RUNSTATE_OFFLINE), 0x6b6b);

    // Test runstate time set
    guest_sync!(TEST_RUNSTATE_DATA);
    guest_assert!(rs_state_entry_time() >= 0x8000);
    guest_assert_eq!(rs_time(RUNSTATE_RUNNABLE), 0);
    guest_assert_eq!(rs_time(RUNSTATE_BLOCKED), 0x6b6b);
    guest_assert_eq!(rs_time(RUNSTATE_OFFLINE), 0x5a);

    // sched_yield() should result in some 'runnable' time
    guest_sync!(TEST_STEAL_TIME);
    guest_assert!(rs_time(RUNSTATE_RUNNABLE) >= MIN_STEAL_TIME);

    // Attempt to deliver a *masked* interrupt
    guest_sync!(TEST_EVTCHN_MASKED);

    // Wait until we see the bit set
    while read_u64(shinfo() + SI_EVTCHN_PENDING) == 0 {
        core::hint::spin_loop();
    }

    // Now deliver an *unmasked* interrupt
    guest_sync!(TEST_EVTCHN_UNMASKED);
    guest_wait_for_irq();

    // Change memslots and deliver an interrupt
    guest_sync!(TEST_EVTCHN_SLOWPATH);
    guest_wait_for_irq();

    // Deliver event channel with KVM_XEN_HVM_EVTCHN_SEND
    guest_sync!(TEST_EVTCHN_SEND_IOCTL);
    guest_wait_for_irq();

    guest_sync!(TEST_EVTCHN_HCALL);
    // Our turn. Deliver event channel (to ourselves) with EVTCHNOP_send hypercall.
    let mut s = EvtchnSend { port: SEND_PORT_TO_EVTCHN };
    hcall(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_SEND, &s as *const EvtchnSend as u64);
    guest_wait_for_irq();

    guest_sync!(TEST_EVTCHN_HCALL_SLOWPATH);
    // Same again, but this time the host has messed with memslots so it
    // should take the slow path in kvm_xen_set_evtchn().
    hcall(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_SEND, &s as *const EvtchnSend as u64);
    guest_wait_for_irq();

    guest_sync!(TEST_EVTCHN_HCALL_EVENTFD);
    // Deliver "outbound" event channel to an eventfd which happens to be one of our own irqfds.
    s.port = SEND_PORT_TO_EVENTFD;
    hcall(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_SEND, &s as *const EvtchnSend as u64);
    guest_wait_for_irq();

    guest_sync!(TEST_TIMER_SETUP);
    // Set a timer 100ms in the future.
    hcall(HYPERVISOR_SET_TIMER_OP, rs_state_entry_time() + 100_000_000, 0);

    guest_sync!(TEST_TIMER_WAIT);
    // Now wait for the timer
    guest_wait_for_irq();

    guest_sync!(TEST_TIMER_RESTORE);
    // The host has 'restored' the timer. Just wait for it.
    guest_wait_for_irq();

    guest_sync!(TEST_POLL_READY);
    // Poll for an event channel port which is already set
    let mut ports = [EVTCHN_TIMER];
    let mut p = SchedPoll { ports: ports.as_ptr() as u64, nr_ports: 1, timeout: 0 };
    hcall(HYPERVISOR_SCHED_OP, SCHEDOP_POLL, &p as *const SchedPoll as u64);

    guest_sync!(TEST_POLL_TIMEOUT);
    // Poll for an unset port and wait for the timeout.
    p.timeout = 100_000_000;
    hcall(HYPERVISOR_SCHED_OP, SCHEDOP_POLL, &p as *const SchedPoll as u64);

    guest_sync!(TEST_POLL_MASKED);
    // A timer will wake the masked port we're waiting on, while we poll
    p.timeout = 0;
    hcall(HYPERVISOR_SCHED_OP, SCHEDOP_POLL, &p as *const SchedPoll as u64);

    guest_sync!(TEST_POLL_WAKE);

    // Set the vcpu_info to point at exactly the place it already is to
    // make sure the attribute is functional.
    guest_sync!(SET_VCPU_INFO);

    // A timer wake an *unmasked* port which should wake us with an
    // actual interrupt, while we're polling on a different port.
    ports[0] += 1;
    p.ports = ports.as_ptr() as u64;
    p.timeout = 0;
    hcall(HYPERVISOR_SCHED_OP, SCHEDOP_POLL, &p as *const SchedPoll as u64);
    guest_wait_for_irq();

    guest_sync!(TEST_TIMER_PAST);
    // Timer should have fired already
    guest_wait_for_irq();

    guest_sync!(TEST_LOCKING_SEND_RACE);
    // Racing host ioctls
    guest_wait_for_irq();

    guest_sync!(TEST_LOCKING_POLL_RACE);
    // Racing vmcall against host ioctl
    ports[0] = 0;
    let p = SchedPoll { ports: ports.as_ptr() as u64, nr_ports: 1, timeout: 0 };
    loop {
        // Poll for a timer wake event while the host thread is mucking with
        // the shared info; KVM drops timer IRQs if the shared info is
        // invalid when the timer expires, so after 100 polls ask the VMM to
        // re-arm the timer.
        let mut i = 0;
        while i < 100 && !GUEST_SAW_IRQ.load(Ordering::SeqCst) {
            raw_hcall(HYPERVISOR_SCHED_OP, SCHEDOP_POLL, &p as *const SchedPoll as u64);
            i += 1;
        }
        if GUEST_SAW_IRQ.load(Ordering::SeqCst) {
            break;
        }
        guest_sync!(TEST_LOCKING_POLL_TIMEOUT);
    }
    GUEST_SAW_IRQ.store(false, Ordering::SeqCst);

    guest_sync!(TEST_DONE);
}

kvmtest_guest::entry!(main);
