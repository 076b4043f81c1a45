//! The `xen_shinfo` payload's contract (upstream x86_64/xen_shinfo_test.c):
//! the numbered stages the guest walks, where the shared-info region is,
//! the Xen structures' offsets both sides read and the event channel ports.

/// Boot argument: guest address (identity-mapped) of the shared-info region,
/// three pages (SHINFO_REGION_GPA).
pub const ARG_SHINFO_REGION: usize = 0;
/// Boot argument: the first of the three `irq::Controller::init` arguments.
pub const ARG_IRQ_CONTROLLER: usize = 1;

/// Page size of the region.
pub const PAGE_SIZE: u64 = 4096;
/// VCPU_INFO_ADDR - SHINFO_REGION_GPA: vcpu_info[1] of the shared info page.
pub const VCPU_INFO_OFFSET: u64 = 0x40;
/// PVTIME_ADDR - SHINFO_REGION_GPA.
pub const PVTIME_OFFSET: u64 = PAGE_SIZE;
/// RUNSTATE_ADDR - SHINFO_REGION_GPA: 15 bytes before the end of the second
/// page, so the runstate area crosses into the third.
pub const RUNSTATE_OFFSET: u64 = 2 * PAGE_SIZE - 15;

/// struct vcpu_info: evtchn_upcall_pending (u8).
pub const VI_UPCALL_PENDING: u64 = 0;
/// struct vcpu_info: evtchn_pending_sel (unsigned long).
pub const VI_PENDING_SEL: u64 = 8;
/// struct vcpu_info: the pvclock_vcpu_time_info.
pub const VI_TIME: u64 = 0x20;
/// struct shared_info: evtchn_pending[64] (unsigned long).
pub const SI_EVTCHN_PENDING: u64 = 0x800;
/// struct shared_info: evtchn_mask[64].
pub const SI_EVTCHN_MASK: u64 = 0xa00;
/// struct shared_info: the pvclock_wall_clock.
pub const SI_WC: u64 = 0xc00;

/// struct vcpu_runstate_info (64-bit): state (u32).
pub const RS_STATE: u64 = 0;
/// state_entry_time (u64), after 4 bytes of padding.
pub const RS_STATE_ENTRY_TIME: u64 = 8;
/// time[4] (plus upstream's fifth for the overrun check).
pub const RS_TIME: u64 = 16;
/// sizeof(struct vcpu_runstate_info) as upstream declares it (time[5]).
pub const RS_SIZE: u64 = 56;
/// struct compat_vcpu_runstate_info (packed): state_entry_time.
pub const CRS_STATE_ENTRY_TIME: u64 = 4;
/// compat time[5].
pub const CRS_TIME: u64 = 12;

/// RUNSTATE_running, _runnable, _blocked, _offline.
pub const RUNSTATE_RUNNING: u64 = 0;
/// See [`RUNSTATE_RUNNING`].
pub const RUNSTATE_RUNNABLE: u64 = 1;
/// See [`RUNSTATE_RUNNING`].
pub const RUNSTATE_BLOCKED: u64 = 2;
/// See [`RUNSTATE_RUNNING`].
pub const RUNSTATE_OFFLINE: u64 = 3;

/// The upcall vector. Upstream uses 0x10; this runtime's IDT routes vectors
/// 32-255 to its interrupt handler, and KVM takes any vector >= 0x10.
pub const EVTCHN_VECTOR: u8 = 0x30;
/// EVTCHN_TEST1, EVTCHN_TEST2, EVTCHN_TIMER.
pub const EVTCHN_TEST1: u32 = 15;
/// See [`EVTCHN_TEST1`].
pub const EVTCHN_TEST2: u32 = 66;
/// See [`EVTCHN_TEST1`].
pub const EVTCHN_TIMER: u32 = 13;
/// The port the guest's EVTCHNOP_send goes to, delivered to EVTCHN_TEST1.
pub const SEND_PORT_TO_EVTCHN: u32 = 127;
/// The port the guest's EVTCHNOP_send goes to, delivered to an eventfd.
pub const SEND_PORT_TO_EVENTFD: u32 = 197;

/// MIN_STEAL_TIME: runnable time (ns) the steal-time stage must produce.
pub const MIN_STEAL_TIME: u64 = 50_000;
/// SHINFO_RACE_TIMEOUT in milliseconds: how long the host sends while the
/// shared info page is juggled, and how far ahead the polling stage's timer
/// is set (each lost timer IRQ costs one more). Upstream's is 2 s; 500 ms
/// keeps the binary near the emulated machines' per-binary budget.
pub const SHINFO_RACE_TIMEOUT_MS: u64 = 500;

/// __HYPERVISOR_set_timer_op, __HYPERVISOR_sched_op, __HYPERVISOR_event_channel_op.
pub const HYPERVISOR_SET_TIMER_OP: u64 = 15;
/// See [`HYPERVISOR_SET_TIMER_OP`].
pub const HYPERVISOR_SCHED_OP: u64 = 29;
/// See [`HYPERVISOR_SET_TIMER_OP`].
pub const HYPERVISOR_EVENT_CHANNEL_OP: u64 = 32;
/// SCHEDOP_poll.
pub const SCHEDOP_POLL: u64 = 3;
/// EVTCHNOP_send.
pub const EVTCHNOP_SEND: u64 = 4;

/// The stages, in upstream's enum order.
pub mod stage {
    #![allow(missing_docs)]
    pub const TEST_INJECT_VECTOR: u64 = 0;
    pub const TEST_RUNSTATE_RUNNABLE: u64 = 1;
    pub const TEST_RUNSTATE_BLOCKED: u64 = 2;
    pub const TEST_RUNSTATE_OFFLINE: u64 = 3;
    pub const TEST_RUNSTATE_ADJUST: u64 = 4;
    pub const TEST_RUNSTATE_DATA: u64 = 5;
    pub const TEST_STEAL_TIME: u64 = 6;
    pub const TEST_EVTCHN_MASKED: u64 = 7;
    pub const TEST_EVTCHN_UNMASKED: u64 = 8;
    pub const TEST_EVTCHN_SLOWPATH: u64 = 9;
    pub const TEST_EVTCHN_SEND_IOCTL: u64 = 10;
    pub const TEST_EVTCHN_HCALL: u64 = 11;
    pub const TEST_EVTCHN_HCALL_SLOWPATH: u64 = 12;
    pub const TEST_EVTCHN_HCALL_EVENTFD: u64 = 13;
    pub const TEST_TIMER_SETUP: u64 = 14;
    pub const TEST_TIMER_WAIT: u64 = 15;
    pub const TEST_TIMER_RESTORE: u64 = 16;
    pub const TEST_POLL_READY: u64 = 17;
    pub const TEST_POLL_TIMEOUT: u64 = 18;
    pub const TEST_POLL_MASKED: u64 = 19;
    pub const TEST_POLL_WAKE: u64 = 20;
    pub const SET_VCPU_INFO: u64 = 21;
    pub const TEST_TIMER_PAST: u64 = 22;
    pub const TEST_LOCKING_SEND_RACE: u64 = 23;
    pub const TEST_LOCKING_POLL_RACE: u64 = 24;
    pub const TEST_LOCKING_POLL_TIMEOUT: u64 = 25;
    pub const TEST_DONE: u64 = 26;
    pub const TEST_GUEST_SAW_IRQ: u64 = 27;
}
