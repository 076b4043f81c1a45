//! Interrupts in the guest, one shape on both arches: a handler that gets
//! each interrupt's number (arm64 INTID, x86 vector) with the acknowledge
//! and EOI done around it, unmask/mask/wait, and the interrupt controller
//! brought up from what the host passes (`Vm::irq_controller_args`). The
//! harness's firmware calls the runtime's entry (`VcpuBootInfo::irq_handler`)
//! with interrupts masked; the controllers are [`crate::gic`] (arm64) and
//! [`crate::apic`] (x86_64).

use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use kvmtest_abi::boot_offsets;

/// The payload's handler (one for every vCPU; 0: none yet).
static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Called by the firmware for each interrupt (x86: with the vector in the
/// first argument; arm64: the INTID comes from ICC_IAR1_EL1).
extern "C" fn irq_entry(vector: u64) {
    #[cfg(target_arch = "aarch64")]
    let intid = {
        let _ = vector;
        crate::gic::ack()
    };
    #[cfg(target_arch = "x86_64")]
    let intid = vector as u32;
    let handler = HANDLER.load(Ordering::SeqCst);
    if handler != 0 {
        // SAFETY: HANDLER only ever holds a `fn(u32)` (set_handler).
        let f: fn(u32) = unsafe { core::mem::transmute::<usize, fn(u32)>(handler) };
        f(intid);
    }
    #[cfg(target_arch = "aarch64")]
    crate::gic::eoi(intid);
    #[cfg(target_arch = "x86_64")]
    if intid != crate::apic::SPURIOUS_VECTOR {
        crate::apic::eoi();
    }
}

/// Makes `handler` run for each interrupt this vCPU takes (interrupts
/// masked meanwhile), after the acknowledge and before the EOI.
pub fn set_handler(handler: fn(u32)) {
    HANDLER.store(handler as *const () as usize, Ordering::SeqCst);
    crate::arch::set_boot_field(boot_offsets::IRQ_HANDLER, irq_entry as *const () as usize as u64);
}

/// The interrupt controller as this vCPU uses it.
pub struct Controller {
    #[cfg(target_arch = "aarch64")]
    gic: crate::gic::Gic,
}

impl Controller {
    /// Brings this vCPU's interrupt controller up from the three boot
    /// arguments at `first_arg` (the host's `Vm::irq_controller_args`):
    /// arm64 `gic_init` (distributor, this vCPU's redistributor, ICC_*);
    /// x86_64 the local APIC in x2APIC mode, software-enabled.
    pub fn init(first_arg: usize) -> Controller {
        #[cfg(target_arch = "aarch64")]
        {
            let arg = |i| crate::boot_arg(first_arg + i);
            Controller { gic: crate::gic::Gic::init(arg(0), arg(1), arg(2)) }
        }
        #[cfg(target_arch = "x86_64")]
        {
            let _ = first_arg;
            crate::apic::enable_x2apic();
            Controller {}
        }
    }

    /// Lets interrupt `intid` through (arm64: GIC enable; x86: vectors need
    /// no enabling).
    pub fn enable(&self, intid: u32) {
        #[cfg(target_arch = "aarch64")]
        self.gic.irq_enable(intid);
        #[cfg(target_arch = "x86_64")]
        let _ = intid;
    }

    /// The arm64 GIC, for what only it has.
    #[cfg(target_arch = "aarch64")]
    pub fn gic(&self) -> &crate::gic::Gic {
        &self.gic
    }
}

/// The per-vCPU timer interrupt [`oneshot_timer_us`] arms: arm64 the EL1
/// virtual timer's PPI, x86_64 the vector this runtime gives the APIC timer
/// (the host's `Vm::GUEST_TIMER_IRQ`).
#[cfg(target_arch = "aarch64")]
pub const TIMER_INTID: u32 = kvmtest_abi::irq_test::ARM64_VTIMER_INTID;
/// See above.
#[cfg(target_arch = "x86_64")]
pub const TIMER_INTID: u32 = kvmtest_abi::irq_test::X86_APIC_TIMER_VECTOR;

/// Arms this vCPU's timer to raise [`TIMER_INTID`] once, `us` microseconds
/// from now: arm64 CNTV_TVAL_EL0 + CNTV_CTL_EL0.ENABLE; x86_64 the local
/// APIC timer one-shot (x2APIC). Enable the INTID on the controller first.
pub fn oneshot_timer_us(us: u32) {
    #[cfg(target_arch = "aarch64")]
    {
        let t = crate::timer::Timer::Virtual;
        t.set_tval((u64::from(us) * crate::timer::cntfrq() / 1_000_000) as u32);
        t.set_ctl(crate::timer::CTL_ENABLE);
    }
    #[cfg(target_arch = "x86_64")]
    crate::apic::timer_oneshot(TIMER_INTID, us.saturating_mul(1000));
}

/// Stops the timer [`oneshot_timer_us`] armed (from its handler: an arm64
/// timer interrupt is level-triggered and stays pending until masked).
pub fn stop_timer() {
    #[cfg(target_arch = "aarch64")]
    crate::timer::Timer::Virtual.set_ctl(crate::timer::CTL_IMASK);
    #[cfg(target_arch = "x86_64")]
    crate::apic::timer_stop();
}

/// Unmasks interrupts (`local_irq_enable`: arm64 DAIF.I clear, x86 STI).
#[inline(always)]
pub fn enable() {
    // SAFETY: unmasking interrupts; the handler (or the firmware's report)
    // takes any that is pending.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        asm!("msr daifclr, #2", "isb", options(nomem, nostack))
    };
    // SAFETY: as above.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        asm!("sti", "nop", options(nomem, nostack))
    };
}

/// Masks interrupts (`local_irq_disable`).
#[inline(always)]
pub fn disable() {
    // SAFETY: masking interrupts has no other effect.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        asm!("msr daifset, #2", "isb", options(nomem, nostack))
    };
    // SAFETY: as above.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        asm!("cli", options(nomem, nostack))
    };
}

/// Waits for an interrupt and takes it: called with interrupts masked, it
/// unmasks them only as the wait ends, so one arriving after the caller's
/// last check is not missed (x86 `safe_halt`: STI;HLT in STI's shadow;
/// arm64 WFI, which a masked pending IRQ also ends, then unmask). Returns
/// with interrupts unmasked, after the handler ran.
#[inline(always)]
pub fn wait() {
    // SAFETY: WFI/HLT only wait; the unmasking is `enable`'s.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        asm!("wfi", "msr daifclr, #2", "isb", options(nomem, nostack))
    };
    // SAFETY: as above.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        asm!("sti", "hlt", options(nomem, nostack))
    };
}
