//! The arm64 generic timers from the guest (the selftests'
//! include/aarch64/arch_timer.h): the EL1 virtual (CNTV_*) and physical
//! (CNTP_*) timers and their counters.

use core::arch::asm;

/// CNT*_CTL_EL0.ENABLE.
pub const CTL_ENABLE: u64 = 1 << 0;
/// CNT*_CTL_EL0.IMASK.
pub const CTL_IMASK: u64 = 1 << 1;
/// CNT*_CTL_EL0.ISTATUS: the timer condition is met.
pub const CTL_ISTATUS: u64 = 1 << 2;

/// Which timer (`enum arch_timer` of arch_timer.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// CNTV_*, counting CNTVCT_EL0.
    Virtual,
    /// CNTP_*, counting CNTPCT_EL0.
    Physical,
}

macro_rules! mrs {
    ($reg:literal) => {{
        let v: u64;
        // SAFETY: reading a generic-timer register at EL1 has no side effect.
        unsafe { asm!(concat!("isb", "\n", "mrs {}, ", $reg), out(reg) v, options(nostack, nomem)) };
        v
    }};
}

macro_rules! msr {
    ($reg:literal, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: programming this vCPU's own EL1 timer.
        unsafe { asm!(concat!("msr ", $reg, ", {}"), "isb", in(reg) v, options(nostack, nomem)) };
    }};
}

/// CNTFRQ_EL0: counter ticks per second.
pub fn cntfrq() -> u64 {
    mrs!("cntfrq_el0")
}

impl Timer {
    /// `timer_get_cntct`: the timer's counter.
    pub fn count(self) -> u64 {
        match self {
            Timer::Virtual => mrs!("cntvct_el0"),
            Timer::Physical => mrs!("cntpct_el0"),
        }
    }

    /// `timer_get_ctl`.
    pub fn ctl(self) -> u64 {
        match self {
            Timer::Virtual => mrs!("cntv_ctl_el0"),
            Timer::Physical => mrs!("cntp_ctl_el0"),
        }
    }

    /// `timer_set_ctl`.
    pub fn set_ctl(self, ctl: u64) {
        match self {
            Timer::Virtual => msr!("cntv_ctl_el0", ctl),
            Timer::Physical => msr!("cntp_ctl_el0", ctl),
        }
    }

    /// `timer_get_cval`.
    pub fn cval(self) -> u64 {
        match self {
            Timer::Virtual => mrs!("cntv_cval_el0"),
            Timer::Physical => mrs!("cntp_cval_el0"),
        }
    }

    /// `timer_set_cval`.
    pub fn set_cval(self, cval: u64) {
        match self {
            Timer::Virtual => msr!("cntv_cval_el0", cval),
            Timer::Physical => msr!("cntp_cval_el0", cval),
        }
    }

    /// `timer_set_tval`: fires `tval` ticks from now (signed 32-bit).
    pub fn set_tval(self, tval: u32) {
        match self {
            Timer::Virtual => msr!("cntv_tval_el0", u64::from(tval)),
            Timer::Physical => msr!("cntp_tval_el0", u64::from(tval)),
        }
    }

    /// `timer_set_next_cval_ms`: CVAL = now + `ms`.
    pub fn set_next_cval_ms(self, ms: u64) {
        self.set_cval(self.count() + msecs_to_cycles(ms));
    }

    /// `timer_set_next_tval_ms`: TVAL = `ms` in ticks.
    pub fn set_next_tval_ms(self, ms: u64) {
        self.set_tval(msecs_to_cycles(ms) as u32);
    }
}

/// `msecs_to_cycles`.
pub fn msecs_to_cycles(ms: u64) -> u64 {
    ms * cntfrq() / 1000
}

/// `cycles_to_usec`.
pub fn cycles_to_usec(cycles: u64) -> u64 {
    cycles * 1_000_000 / cntfrq()
}
