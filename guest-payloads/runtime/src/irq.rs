//! Interrupts in the guest: a per-vCPU handler the harness's firmware calls
//! for each IRQ (`VcpuBootInfo::irq_handler`), and unmasking, masking and
//! waiting for interrupts. The interrupt controller itself is [`crate::gic`]
//! (arm64).

use core::arch::asm;

use kvmtest_abi::boot_offsets;

/// Makes the firmware call `handler` for each interrupt this vCPU takes (with
/// interrupts masked); it returns to the interrupted code afterwards.
pub fn set_handler(handler: extern "C" fn()) {
    crate::arch::set_boot_field(boot_offsets::IRQ_HANDLER, handler as usize as u64);
}

/// Unmasks IRQs (the selftests' `local_irq_enable`: DAIF.I clear).
#[inline(always)]
pub fn enable() {
    // SAFETY: unmasking IRQs; the handler set with `set_handler` (or the
    // firmware's report) takes any that is pending.
    unsafe { asm!("msr daifclr, #2", "isb", options(nomem, nostack)) };
}

/// Masks IRQs (`local_irq_disable`).
#[inline(always)]
pub fn disable() {
    // SAFETY: masking IRQs has no other effect.
    unsafe { asm!("msr daifset, #2", "isb", options(nomem, nostack)) };
}

/// Waits for an interrupt (WFI); returns after it was handled, or at once
/// if one is pending.
#[inline(always)]
pub fn wait() {
    // SAFETY: WFI only waits.
    unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
}
