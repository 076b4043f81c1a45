//! The debug_exceptions payload (arm64): guest_code() of upstream
//! aarch64/debug-exceptions.c. With handlers of its own for BRK, hardware
//! breakpoints, watchpoints, software step and SVC (install_sync_handler),
//! the guest takes each debug exception at EL1 and checks where it came
//! from: software breakpoint, hardware breakpoint (alone, on an SVC, on a
//! BRK), watchpoint, single step; the OS Lock blocking hardware breakpoints,
//! watchpoints and single step but not BRK; breakpoints and watchpoints
//! linked to a context-ID breakpoint. Boot arguments 0-2: the breakpoint,
//! watchpoint and context-aware breakpoint numbers to use (bpn, wpn, ctx_bpn).
//!
//! The labels of the C (sw_bp, hw_bp, bp_svc, ...) are the small functions
//! in the global_asm! below, so their addresses are known before they run;
//! the single-step sequence is inline, after the store that resets its index.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use kvmtest_guest::arch::{install_sync_handler, ExRegs};
use kvmtest_guest::{boot_arg, guest_assert, guest_assert_eq};

const MDSCR_KDE: u64 = 1 << 13;
const MDSCR_MDE: u64 = 1 << 15;
const MDSCR_SS: u64 = 1 << 0;

const DBGBCR_LEN8: u64 = 0xff << 5;
const DBGBCR_EXEC: u64 = 0x0 << 3;
const DBGBCR_EL1: u64 = 0x1 << 1;
const DBGBCR_E: u64 = 0x1 << 0;
const DBGBCR_LBN_SHIFT: u64 = 16;
const DBGBCR_BT_SHIFT: u64 = 20;
const DBGBCR_BT_ADDR_LINK_CTX: u64 = 0x1 << DBGBCR_BT_SHIFT;
const DBGBCR_BT_CTX_LINK: u64 = 0x3 << DBGBCR_BT_SHIFT;

const DBGWCR_LEN8: u64 = 0xff << 5;
const DBGWCR_RD: u64 = 0x1 << 3;
const DBGWCR_WR: u64 = 0x2 << 3;
const DBGWCR_EL1: u64 = 0x1 << 1;
const DBGWCR_E: u64 = 0x1 << 0;
const DBGWCR_LBN_SHIFT: u64 = 16;
const DBGWCR_WT_SHIFT: u64 = 20;
const DBGWCR_WT_LINK: u64 = 0x1 << DBGWCR_WT_SHIFT;

const SPSR_D: u64 = 1 << 9;
const SPSR_SS: u64 = 1 << 21;

/// ESR_EL1.EC values the handlers are installed for (processor.h).
const ESR_EC_SVC64: u8 = 0x15;
const ESR_EC_HW_BP_CURRENT: u8 = 0x31;
const ESR_EC_SSTEP_CURRENT: u8 = 0x33;
const ESR_EC_WP_CURRENT: u8 = 0x35;
const ESR_EC_BRK_INS: u8 = 0x3c;

static SW_BP_ADDR: AtomicU64 = AtomicU64::new(0);
static HW_BP_ADDR: AtomicU64 = AtomicU64::new(0);
static WP_ADDR: AtomicU64 = AtomicU64::new(0);
static WP_DATA_ADDR: AtomicU64 = AtomicU64::new(0);
static SVC_ADDR: AtomicU64 = AtomicU64::new(0);
static SS_ADDR: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static SS_IDX: AtomicU64 = AtomicU64::new(0);
static WRITE_DATA: AtomicU8 = AtomicU8::new(0);

global_asm!(
    ".pushsection .text.debug_labels, \"ax\"",
    ".p2align 2",
    ".global dbg_sw_bp",
    "dbg_sw_bp: brk #0",
    "ret",
    ".global dbg_hw_bp",
    "dbg_hw_bp: nop",
    "ret",
    ".global dbg_bp_svc",
    "dbg_bp_svc: svc #0",
    "ret",
    ".global dbg_bp_brk",
    "dbg_bp_brk: brk #0",
    "ret",
    ".global dbg_sw_bp2",
    "dbg_sw_bp2: brk #0",
    "ret",
    ".global dbg_hw_bp2",
    "dbg_hw_bp2: nop",
    "ret",
    ".global dbg_hw_bp_ctx",
    "dbg_hw_bp_ctx: nop",
    "ret",
    ".popsection",
);

extern "C" {
    fn dbg_sw_bp();
    fn dbg_hw_bp();
    fn dbg_bp_svc();
    fn dbg_bp_brk();
    fn dbg_sw_bp2();
    fn dbg_hw_bp2();
    fn dbg_hw_bp_ctx();
}

/// `PC(label)`.
fn pc(label: unsafe extern "C" fn()) -> u64 {
    label as usize as u64
}

/// `write_sysreg(val, reg)`.
macro_rules! write_sysreg {
    ($reg:literal, $val:expr) => {{
        let v: u64 = $val;
        // SAFETY: a debug or context system register this test owns; KVM traps and emulates it.
        unsafe { asm!(concat!("msr ", $reg, ", {}"), in(reg) v, options(nostack, preserves_flags)) }
    }};
}

/// `read_sysreg(reg)`.
macro_rules! read_sysreg {
    ($reg:literal) => {{
        let v: u64;
        // SAFETY: reading an ID or debug system register has no side effect.
        unsafe { asm!(concat!("mrs {}, ", $reg), out(reg) v, options(nostack, preserves_flags)) };
        v
    }};
}

fn isb() {
    // SAFETY: a barrier.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}

/// `GEN_DEBUG_WRITE_REG(reg_name)`: `write_<reg_name>(num, val)` for n = 0..15.
macro_rules! gen_debug_write_reg {
    ($name:ident, $($n:literal => $reg:literal,)*) => {
        fn $name(num: u8, val: u64) {
            match num {
                $($n => write_sysreg!($reg, val),)*
                _ => guest_assert!(false, "{} {}: no such register", stringify!($name), num),
            }
        }
    };
}

gen_debug_write_reg!(write_dbgbcr, 0 => "dbgbcr0_el1", 1 => "dbgbcr1_el1", 2 => "dbgbcr2_el1", 3 => "dbgbcr3_el1", 4 => "dbgbcr4_el1", 5 => "dbgbcr5_el1", 6 => "dbgbcr6_el1", 7 => "dbgbcr7_el1", 8 => "dbgbcr8_el1", 9 => "dbgbcr9_el1", 10 => "dbgbcr10_el1", 11 => "dbgbcr11_el1", 12 => "dbgbcr12_el1", 13 => "dbgbcr13_el1", 14 => "dbgbcr14_el1", 15 => "dbgbcr15_el1",);
gen_debug_write_reg!(write_dbgbvr, 0 => "dbgbvr0_el1", 1 => "dbgbvr1_el1", 2 => "dbgbvr2_el1", 3 => "dbgbvr3_el1", 4 => "dbgbvr4_el1", 5 => "dbgbvr5_el1", 6 => "dbgbvr6_el1", 7 => "dbgbvr7_el1", 8 => "dbgbvr8_el1", 9 => "dbgbvr9_el1", 10 => "dbgbvr10_el1", 11 => "dbgbvr11_el1", 12 => "dbgbvr12_el1", 13 => "dbgbvr13_el1", 14 => "dbgbvr14_el1", 15 => "dbgbvr15_el1",);
gen_debug_write_reg!(write_dbgwcr, 0 => "dbgwcr0_el1", 1 => "dbgwcr1_el1", 2 => "dbgwcr2_el1", 3 => "dbgwcr3_el1", 4 => "dbgwcr4_el1", 5 => "dbgwcr5_el1", 6 => "dbgwcr6_el1", 7 => "dbgwcr7_el1", 8 => "dbgwcr8_el1", 9 => "dbgwcr9_el1", 10 => "dbgwcr10_el1", 11 => "dbgwcr11_el1", 12 => "dbgwcr12_el1", 13 => "dbgwcr13_el1", 14 => "dbgwcr14_el1", 15 => "dbgwcr15_el1",);
gen_debug_write_reg!(write_dbgwvr, 0 => "dbgwvr0_el1", 1 => "dbgwvr1_el1", 2 => "dbgwvr2_el1", 3 => "dbgwvr3_el1", 4 => "dbgwvr4_el1", 5 => "dbgwvr5_el1", 6 => "dbgwvr6_el1", 7 => "dbgwvr7_el1", 8 => "dbgwvr8_el1", 9 => "dbgwvr9_el1", 10 => "dbgwvr10_el1", 11 => "dbgwvr11_el1", 12 => "dbgwvr12_el1", 13 => "dbgwvr13_el1", 14 => "dbgwvr14_el1", 15 => "dbgwvr15_el1",);

fn reset_debug_state() {
    // SAFETY: masks debug exceptions (PSTATE.D).
    unsafe { asm!("msr daifset, #8", options(nostack, preserves_flags)) };

    write_sysreg!("osdlr_el1", 0);
    write_sysreg!("oslar_el1", 0);
    isb();

    write_sysreg!("mdscr_el1", 0);
    write_sysreg!("contextidr_el1", 0);

    // Reset all bcr/bvr/wcr/wvr registers.
    let dfr0 = read_sysreg!("id_aa64dfr0_el1");
    let brps = ((dfr0 >> 12) & 0xf) as u8;
    for i in 0..=brps {
        write_dbgbcr(i, 0);
        write_dbgbvr(i, 0);
    }
    let wrps = ((dfr0 >> 20) & 0xf) as u8;
    for i in 0..=wrps {
        write_dbgwcr(i, 0);
        write_dbgwvr(i, 0);
    }

    isb();
}

fn enable_os_lock() {
    write_sysreg!("oslar_el1", 1);
    isb();

    guest_assert!(read_sysreg!("oslsr_el1") & 2 != 0);
}

fn enable_monitor_debug_exceptions() {
    // SAFETY: unmasks debug exceptions; this guest handles them.
    unsafe { asm!("msr daifclr, #8", options(nostack, preserves_flags)) };

    let mdscr = read_sysreg!("mdscr_el1") | MDSCR_KDE | MDSCR_MDE;
    write_sysreg!("mdscr_el1", mdscr);
    isb();
}

fn install_wp(wpn: u8, addr: u64) {
    let wcr = DBGWCR_LEN8 | DBGWCR_RD | DBGWCR_WR | DBGWCR_EL1 | DBGWCR_E;
    write_dbgwcr(wpn, wcr);
    write_dbgwvr(wpn, addr);

    isb();

    enable_monitor_debug_exceptions();
}

fn install_hw_bp(bpn: u8, addr: u64) {
    let bcr = DBGBCR_LEN8 | DBGBCR_EXEC | DBGBCR_EL1 | DBGBCR_E;
    write_dbgbcr(bpn, bcr);
    write_dbgbvr(bpn, addr);
    isb();

    enable_monitor_debug_exceptions();
}

fn install_wp_ctx(addr_wp: u8, ctx_bp: u8, addr: u64, ctx: u64) {
    // Setup a context-aware breakpoint for Linked Context ID Match.
    let ctx_bcr = DBGBCR_LEN8 | DBGBCR_EXEC | DBGBCR_EL1 | DBGBCR_E | DBGBCR_BT_CTX_LINK;
    write_dbgbcr(ctx_bp, ctx_bcr);
    write_dbgbvr(ctx_bp, ctx);

    // Setup a linked watchpoint (linked to the context-aware breakpoint).
    let wcr = DBGWCR_LEN8
        | DBGWCR_RD
        | DBGWCR_WR
        | DBGWCR_EL1
        | DBGWCR_E
        | DBGWCR_WT_LINK
        | (u64::from(ctx_bp) << DBGWCR_LBN_SHIFT);
    write_dbgwcr(addr_wp, wcr);
    write_dbgwvr(addr_wp, addr);
    isb();

    enable_monitor_debug_exceptions();
}

fn install_hw_bp_ctx(addr_bp: u8, ctx_bp: u8, addr: u64, ctx: u64) {
    // Setup a context-aware breakpoint for Linked Context ID Match.
    let ctx_bcr = DBGBCR_LEN8 | DBGBCR_EXEC | DBGBCR_EL1 | DBGBCR_E | DBGBCR_BT_CTX_LINK;
    write_dbgbcr(ctx_bp, ctx_bcr);
    write_dbgbvr(ctx_bp, ctx);

    // Setup a normal breakpoint for Linked Address Match, and link it to
    // the context-aware breakpoint.
    let addr_bcr = DBGBCR_LEN8
        | DBGBCR_EXEC
        | DBGBCR_EL1
        | DBGBCR_E
        | DBGBCR_BT_ADDR_LINK_CTX
        | (u64::from(ctx_bp) << DBGBCR_LBN_SHIFT);
    write_dbgbcr(addr_bp, addr_bcr);
    write_dbgbvr(addr_bp, addr);
    isb();

    enable_monitor_debug_exceptions();
}

fn install_ss() {
    // SAFETY: unmasks debug exceptions; this guest handles them.
    unsafe { asm!("msr daifclr, #8", options(nostack, preserves_flags)) };

    let mdscr = read_sysreg!("mdscr_el1") | MDSCR_KDE | MDSCR_SS;
    write_sysreg!("mdscr_el1", mdscr);
    isb();
}

/// `ss_idx = 0;` then the stepped sequence (`ss_start:` mrs; add; msr
/// daifset) in one block, so the first step after the store is at
/// ss_start; returns ss_start's address.
fn single_step_sequence() -> u64 {
    let ss_start: u64;
    // SAFETY: resets the handler's index (a plain store, no exclusives),
    // then three instructions that clobber x0 only; the last masks debug
    // exceptions, which ends the stepping.
    unsafe {
        asm!(
            "adr {start}, 2f",
            "str xzr, [{idx}]",
            "2:",
            "mrs x0, esr_el1",
            "add x0, x0, #1",
            "msr daifset, #8",
            start = out(reg) ss_start,
            idx = in(reg) SS_IDX.as_ptr(),
            out("x0") _,
            options(nostack),
        )
    };
    ss_start
}

fn write_data_addr() -> u64 {
    WRITE_DATA.as_ptr() as u64
}

fn guest_code(bpn: u8, wpn: u8, ctx_bpn: u8) {
    let ctx: u64 = 0xabcdef; // a random context number

    // Software-breakpoint
    reset_debug_state();
    // SAFETY: `brk #0; ret`; the BRK handler resumes after the brk.
    unsafe { dbg_sw_bp() };
    guest_assert_eq!(SW_BP_ADDR.load(Relaxed), pc(dbg_sw_bp));

    // Hardware-breakpoint
    reset_debug_state();
    install_hw_bp(bpn, pc(dbg_hw_bp));
    // SAFETY: `nop; ret`.
    unsafe { dbg_hw_bp() };
    guest_assert_eq!(HW_BP_ADDR.load(Relaxed), pc(dbg_hw_bp));

    // Hardware-breakpoint + svc
    reset_debug_state();
    install_hw_bp(bpn, pc(dbg_bp_svc));
    // SAFETY: `svc #0; ret`; the SVC handler returns after the svc.
    unsafe { dbg_bp_svc() };
    guest_assert_eq!(HW_BP_ADDR.load(Relaxed), pc(dbg_bp_svc));
    guest_assert_eq!(SVC_ADDR.load(Relaxed), pc(dbg_bp_svc) + 4);

    // Hardware-breakpoint + software-breakpoint
    reset_debug_state();
    install_hw_bp(bpn, pc(dbg_bp_brk));
    // SAFETY: `brk #0; ret`.
    unsafe { dbg_bp_brk() };
    guest_assert_eq!(SW_BP_ADDR.load(Relaxed), pc(dbg_bp_brk));
    guest_assert_eq!(HW_BP_ADDR.load(Relaxed), pc(dbg_bp_brk));

    // Watchpoint
    reset_debug_state();
    install_wp(wpn, write_data_addr());
    WRITE_DATA.store(b'x', Relaxed);
    guest_assert_eq!(WRITE_DATA.load(Relaxed), b'x');
    guest_assert_eq!(WP_DATA_ADDR.load(Relaxed), write_data_addr());

    // Single-step
    reset_debug_state();
    install_ss();
    let ss_start = single_step_sequence();
    guest_assert_eq!(SS_ADDR[0].load(Relaxed), ss_start);
    guest_assert_eq!(SS_ADDR[1].load(Relaxed), ss_start + 4);
    guest_assert_eq!(SS_ADDR[2].load(Relaxed), ss_start + 8);

    // OS Lock does not block software-breakpoint
    reset_debug_state();
    enable_os_lock();
    SW_BP_ADDR.store(0, Relaxed);
    // SAFETY: `brk #0; ret`.
    unsafe { dbg_sw_bp2() };
    guest_assert_eq!(SW_BP_ADDR.load(Relaxed), pc(dbg_sw_bp2));

    // OS Lock blocking hardware-breakpoint
    reset_debug_state();
    enable_os_lock();
    install_hw_bp(bpn, pc(dbg_hw_bp2));
    HW_BP_ADDR.store(0, Relaxed);
    // SAFETY: `nop; ret`.
    unsafe { dbg_hw_bp2() };
    guest_assert_eq!(HW_BP_ADDR.load(Relaxed), 0u64);

    // OS Lock blocking watchpoint
    reset_debug_state();
    enable_os_lock();
    WRITE_DATA.store(0, Relaxed);
    WP_DATA_ADDR.store(0, Relaxed);
    install_wp(wpn, write_data_addr());
    WRITE_DATA.store(b'x', Relaxed);
    guest_assert_eq!(WRITE_DATA.load(Relaxed), b'x');
    guest_assert_eq!(WP_DATA_ADDR.load(Relaxed), 0u64);

    // OS Lock blocking single-step
    reset_debug_state();
    enable_os_lock();
    SS_ADDR[0].store(0, Relaxed);
    install_ss();
    single_step_sequence();
    guest_assert_eq!(SS_ADDR[0].load(Relaxed), 0u64);

    // Linked hardware-breakpoint
    HW_BP_ADDR.store(0, Relaxed);
    reset_debug_state();
    install_hw_bp_ctx(bpn, ctx_bpn, pc(dbg_hw_bp_ctx), ctx);
    // Set context id
    write_sysreg!("contextidr_el1", ctx);
    isb();
    // SAFETY: `nop; ret`.
    unsafe { dbg_hw_bp_ctx() };
    write_sysreg!("contextidr_el1", 0);
    guest_assert_eq!(HW_BP_ADDR.load(Relaxed), pc(dbg_hw_bp_ctx));

    // Linked watchpoint
    reset_debug_state();
    install_wp_ctx(wpn, ctx_bpn, write_data_addr(), ctx);
    // Set context id
    write_sysreg!("contextidr_el1", ctx);
    isb();
    WRITE_DATA.store(b'x', Relaxed);
    guest_assert_eq!(WRITE_DATA.load(Relaxed), b'x');
    guest_assert_eq!(WP_DATA_ADDR.load(Relaxed), write_data_addr());
}

fn guest_sw_bp_handler(regs: &mut ExRegs) {
    SW_BP_ADDR.store(regs.pc, Relaxed);
    regs.pc += 4;
}

fn guest_hw_bp_handler(regs: &mut ExRegs) {
    HW_BP_ADDR.store(regs.pc, Relaxed);
    regs.pstate |= SPSR_D;
}

fn guest_wp_handler(regs: &mut ExRegs) {
    WP_DATA_ADDR.store(read_sysreg!("far_el1"), Relaxed);
    WP_ADDR.store(regs.pc, Relaxed);
    regs.pstate |= SPSR_D;
}

fn guest_ss_handler(regs: &mut ExRegs) {
    let idx = SS_IDX.load(Relaxed);
    guest_assert!(idx < 4, "Expected index < 4, got '{}'", idx);
    SS_ADDR[idx as usize].store(regs.pc, Relaxed);
    SS_IDX.store(idx + 1, Relaxed);
    regs.pstate |= SPSR_SS;
}

fn guest_svc_handler(regs: &mut ExRegs) {
    SVC_ADDR.store(regs.pc, Relaxed);
}

fn main() {
    // test_guest_debug_exceptions()'s vm_install_sync_handler() calls.
    install_sync_handler(ESR_EC_BRK_INS, guest_sw_bp_handler);
    install_sync_handler(ESR_EC_HW_BP_CURRENT, guest_hw_bp_handler);
    install_sync_handler(ESR_EC_WP_CURRENT, guest_wp_handler);
    install_sync_handler(ESR_EC_SSTEP_CURRENT, guest_ss_handler);
    install_sync_handler(ESR_EC_SVC64, guest_svc_handler);
    guest_code(boot_arg(0) as u8, boot_arg(1) as u8, boot_arg(2) as u8);
}

kvmtest_guest::entry!(main); // GUEST_DONE() when main returns
