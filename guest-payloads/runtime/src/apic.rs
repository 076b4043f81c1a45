//! The local APIC from the guest in x2APIC mode (the selftests'
//! lib/x86_64/apic.c `x2apic_enable`): every register an MSR, no MMIO
//! mapping needed. Enable, EOI, and the timer.

use core::arch::asm;

/// IA32_APIC_BASE and its enable bits (Intel SDM vol. 3, 11.12.1).
const MSR_IA32_APICBASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_EXTD: u64 = 1 << 10;
/// x2APIC registers: MSR 0x800 + (xAPIC offset >> 4).
const X2APIC_TPR: u32 = 0x808;
const X2APIC_EOI: u32 = 0x80b;
const X2APIC_SPIV: u32 = 0x80f;
/// x2APIC timer registers: LVT timer, initial count, current count, divide.
pub const X2APIC_LVT_TIMER: u32 = 0x832;
/// Timer initial count.
pub const X2APIC_TMICT: u32 = 0x838;
/// Timer current count.
pub const X2APIC_TMCCT: u32 = 0x839;
/// Timer divide configuration.
pub const X2APIC_TDCR: u32 = 0x83e;
/// SPIV's APIC software enable.
const APIC_SPIV_APIC_ENABLED: u64 = 1 << 8;
/// The spurious-interrupt vector this runtime sets (never EOI'd).
pub const SPURIOUS_VECTOR: u32 = 0xff;

/// RDMSR.
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller names an MSR the vCPU has (the APIC's, here).
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nostack, nomem)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// WRMSR.
pub fn wrmsr(msr: u32, value: u64) {
    // SAFETY: as in `rdmsr`.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, nomem))
    };
}

/// `x2apic_enable()`: xAPIC then x2APIC mode in IA32_APIC_BASE, the APIC
/// software-enabled with [`SPURIOUS_VECTOR`], every priority accepted.
pub fn enable_x2apic() {
    let base = rdmsr(MSR_IA32_APICBASE);
    wrmsr(MSR_IA32_APICBASE, base | APIC_BASE_ENABLE);
    wrmsr(MSR_IA32_APICBASE, base | APIC_BASE_ENABLE | APIC_BASE_EXTD);
    wrmsr(X2APIC_TPR, 0);
    wrmsr(X2APIC_SPIV, APIC_SPIV_APIC_ENABLED | u64::from(SPURIOUS_VECTOR));
}

/// Ends the interrupt in service.
pub fn eoi() {
    wrmsr(X2APIC_EOI, 0);
}

/// LVT timer mode bits 18:17: one-shot.
const APIC_LVT_TIMER_ONESHOT: u64 = 0;
/// LVT mask bit.
const APIC_LVT_MASKED: u64 = 1 << 16;
/// TDCR value for divide by 1.
const APIC_TDCR_DIV_1: u64 = 0xb;

/// Arms the APIC timer once: vector `vector` after `count` bus cycles
/// (divide by 1; KVM's APIC bus runs at 1 GHz unless
/// KVM_CAP_X86_APIC_BUS_CYCLES_NS changes it, so a cycle is a nanosecond).
pub fn timer_oneshot(vector: u32, count: u32) {
    wrmsr(X2APIC_TDCR, APIC_TDCR_DIV_1);
    wrmsr(X2APIC_LVT_TIMER, APIC_LVT_TIMER_ONESHOT | u64::from(vector));
    wrmsr(X2APIC_TMICT, u64::from(count));
}

/// Stops the APIC timer (count 0) and masks its LVT entry.
pub fn timer_stop() {
    wrmsr(X2APIC_TMICT, 0);
    wrmsr(X2APIC_LVT_TIMER, APIC_LVT_MASKED);
}

/// RDTSC.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC reads the time-stamp counter.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nostack, nomem)) };
    (u64::from(hi) << 32) | u64::from(lo)
}
