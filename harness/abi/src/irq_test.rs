//! The `irq_injection` payload's contract: boot arguments and ucall stages
//! of a guest that takes interrupts the host drives with `Vm::irq_line`.

/// Boot arguments 0-2: `Vm::irq_controller_args()`.
pub const ARG_IRQ_CONTROLLER: usize = 0;
/// Boot argument: the interrupt the host drives (arm64 INTID, x86 vector).
pub const ARG_INTID: usize = 3;
/// Boot argument: how many interrupts the host sends.
pub const ARG_ROUNDS: usize = 4;

/// SYNC(STAGE_READY, round): the guest waits for interrupt number `round`.
pub const STAGE_READY: u64 = 1;
/// SYNC(STAGE_GOT_IRQ, intid, round), from the guest's handler.
pub const STAGE_GOT_IRQ: u64 = 2;
