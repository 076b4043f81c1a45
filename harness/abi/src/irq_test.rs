//! The `irq_injection` payload's contract: boot arguments and ucall stages
//! of a guest that takes interrupts the host drives with `Vm::irq_line`.

/// The arm64 guest timer's interrupt: the EL1 virtual timer's PPI, 27 by
/// default (Documentation/virt/kvm/devices/vcpu.rst,
/// KVM_ARM_VCPU_TIMER_IRQ_VTIMER, 6.1 and 6.12), which the harness keeps.
pub const ARM64_VTIMER_INTID: u32 = 27;
/// The x86_64 guest timer's interrupt: the vector the runtime gives the
/// local APIC timer's LVT entry.
pub const X86_APIC_TIMER_VECTOR: u32 = 0xef;

/// Boot arguments 0-2: `Vm::irq_controller_args()`.
pub const ARG_IRQ_CONTROLLER: usize = 0;
/// Boot argument: the interrupt the host drives (arm64 INTID, x86 vector).
pub const ARG_INTID: usize = 3;
/// Boot argument: how many interrupts the host sends.
pub const ARG_ROUNDS: usize = 4;

/// Boot argument: where the interrupts come from, [`SOURCE_HOST`] or
/// [`SOURCE_GUEST_TIMER`].
pub const ARG_SOURCE: usize = 5;
/// The host drives them with `Vm::irq_line`.
pub const SOURCE_HOST: u64 = 0;
/// The guest arms its own one-shot timer (`irq::oneshot_timer_us`).
pub const SOURCE_GUEST_TIMER: u64 = 1;
/// How far ahead the guest arms its timer, in microseconds.
pub const TIMER_US: u32 = 1000;

/// SYNC(STAGE_READY, round): the guest waits for interrupt number `round`.
pub const STAGE_READY: u64 = 1;
/// SYNC(STAGE_GOT_IRQ, intid, round), from the guest's handler.
pub const STAGE_GOT_IRQ: u64 = 2;
