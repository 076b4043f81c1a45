//! The `arch_timer` payload's contract (upstream aarch64/arch_timer.c): the
//! boot arguments the host passes, and the stages the guest walks, each
//! ended by a SYNC(stage, worst interrupt latency in microseconds).

/// Boot argument: iterations per stage (`test_args.nr_iter`).
pub const ARG_NR_ITER: usize = 0;
/// Boot argument: the timer period in ms (`test_args.timer_period_ms`).
pub const ARG_PERIOD_MS: usize = 1;
/// Boot argument: how long past the period an interrupt may take, in ms
/// (`test_args.timer_err_margin_us`, in ms: emulated machines need more).
pub const ARG_MARGIN_MS: usize = 2;
/// Boot arguments 3-5: `Vm::irq_controller_args()` (the GICv3 frames).
pub const ARG_IRQ_CONTROLLER: usize = 3;
/// Boot argument: the virtual timer's INTID (low 32 bits) and the physical
/// timer's (high 32 bits).
pub const ARG_TIMER_IRQS: usize = 6;

/// `enum guest_stage` of arch_timer.c.
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The virtual timer programmed through CNTV_CVAL_EL0.
    VtimerCval = 1,
    /// The virtual timer programmed through CNTV_TVAL_EL0.
    VtimerTval = 2,
    /// The physical timer programmed through CNTP_CVAL_EL0.
    PtimerCval = 3,
    /// The physical timer programmed through CNTP_TVAL_EL0.
    PtimerTval = 4,
}

/// The stages in the order the guest runs them.
pub const STAGES: [Stage; 4] = [Stage::VtimerCval, Stage::VtimerTval, Stage::PtimerCval, Stage::PtimerTval];
