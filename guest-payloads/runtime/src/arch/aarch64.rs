//! aarch64: the boot info is at TPIDR_EL1; the doorbell is `blr` to its
//! first field. SMCCC calls over HVC/SMC, system register probes that
//! return the exception class instead of dying, and handlers of the guest's
//! own synchronous exceptions (`install_sync_handler`).

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicUsize, Ordering};

use kvmtest_abi::{boot_offsets, UcallMsg};

/// Reads a field of this vCPU's boot info.
#[inline(always)]
pub fn boot_field(offset: usize) -> u64 {
    let v: u64;
    // SAFETY: TPIDR_EL1 is this vCPU's boot info, set up by the harness; the
    // offset is one of `boot_offsets` inside the 128-byte record.
    unsafe {
        asm!("mrs {b}, tpidr_el1", "ldr {v}, [{b}, {off}]",
             b = out(reg) _, v = out(reg) v, off = in(reg) offset, options(nostack, readonly, preserves_flags))
    };
    v
}

/// Writes a field of this vCPU's boot info.
#[inline(always)]
pub fn set_boot_field(offset: usize, value: u64) {
    // SAFETY: as in `boot_field`; the record is this vCPU's own.
    unsafe {
        asm!("mrs {b}, tpidr_el1", "str {v}, [{b}, {off}]",
             b = out(reg) _, v = in(reg) value, off = in(reg) offset, options(nostack, preserves_flags))
    };
}

/// This vCPU's message buffer (`VcpuBootInfo::ucall_buf`), with the offset
/// as an immediate (two instructions).
#[inline(always)]
pub fn ucall_buffer() -> *mut UcallMsg {
    let v: *mut UcallMsg;
    // SAFETY: as in `boot_field`.
    unsafe {
        asm!("mrs {v}, tpidr_el1", "ldr {v}, [{v}, {off}]",
             v = out(reg) v, off = const boot_offsets::UCALL_BUF, options(nostack, readonly, preserves_flags))
    };
    v
}

/// Rings the VM's ucall doorbell for the message at `msg`.
#[inline(always)]
pub fn doorbell(msg: *mut UcallMsg) {
    // SAFETY: the harness put a routine at [TPIDR_EL1 + UCALL_FN] that takes
    // the message address in x0 and follows the C ABI (an SMCCC call inside
    // it clobbers no more than x0-x17).
    unsafe {
        asm!("mrs x9, tpidr_el1", "ldr x9, [x9, {off}]", "blr x9",
             off = const boot_offsets::UCALL_FN, in("x0") msg, out("x9") _, clobber_abi("C"))
    };
}

/// Stops the CPU in a loop the host can only end (used after a final ucall).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: WFI only waits; with every interrupt masked it waits until
        // the host kicks the vCPU out of KVM_RUN.
        unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}

/// The values an SMCCC call returns in x0-x3.
pub type SmcccRet = [u64; 4];

/// Defines an SMCCC 1.1 call through one conduit: function ID in w0,
/// arguments in x1-x7, results in x0-x3 (x4-x17 may be clobbered).
macro_rules! smccc_conduit {
    ($(#[$doc:meta])* $name:ident, $insn:literal) => {
        $(#[$doc])*
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        pub fn $name(func: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64, a6: u64, a7: u64) -> SmcccRet {
            let (r0, r1, r2, r3);
            // SAFETY: HVC and SMC trap to KVM (an SMC too, under KVM), which
            // handles or forwards the call and returns here; SMCCC 1.1
            // preserves x18 and above, and the clobbered x4-x17 are declared.
            unsafe {
                asm!($insn,
                     inlateout("x0") func as u64 => r0, inlateout("x1") a1 => r1, inlateout("x2") a2 => r2,
                     inlateout("x3") a3 => r3, inlateout("x4") a4 => _, inlateout("x5") a5 => _,
                     inlateout("x6") a6 => _, inlateout("x7") a7 => _,
                     out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
                     out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack));
            }
            [r0, r1, r2, r3]
        }
    };
}

smccc_conduit!(
    /// An SMCCC 1.1 call with HVC: function ID in w0, arguments in x1-x7,
    /// results in x0-x3 (x4-x17 may be clobbered).
    smccc_hvc,
    "hvc #0"
);
smccc_conduit!(
    /// As [`smccc_hvc`] with the SMC conduit.
    smccc_smc,
    "smc #0"
);

/// `MRS` of a system register that returns the exception class (ESR_EL1.EC)
/// instead of dying: `read_sysreg_safe!(id_aa64pfr0_el1)` or with a generic
/// encoding, `read_sysreg_safe!(s3_0_c0_c4_0)`.
#[macro_export]
macro_rules! read_sysreg_safe {
    ($reg:ident) => {{
        let v: u64;
        // SAFETY: the fixup makes the harness's exception handler resume at
        // `2:` if the MRS faults; the handler clears the fixup when it uses it.
        unsafe {
            core::arch::asm!(
                "adr {t}, 2f", "mrs {b}, tpidr_el1", "str {t}, [{b}, {fix}]",
                "mov {v}, xzr",
                concat!("mrs {v}, ", stringify!($reg)),
                "2:",
                t = out(reg) _, b = out(reg) _, v = out(reg) v,
                fix = const $crate::abi::boot_offsets::EXC_FIXUP, options(nostack))
        };
        $crate::arch::fault_or(v)
    }};
}

/// `MSR` of a system register that returns the exception class instead of dying.
#[macro_export]
macro_rules! write_sysreg_safe {
    ($reg:ident, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: as in `read_sysreg_safe!`.
        unsafe {
            core::arch::asm!(
                "adr {t}, 2f", "mrs {b}, tpidr_el1", "str {t}, [{b}, {fix}]",
                concat!("msr ", stringify!($reg), ", {v}"),
                "2:",
                t = out(reg) _, b = out(reg) _, v = in(reg) value,
                fix = const $crate::abi::boot_offsets::EXC_FIXUP, options(nostack))
        };
        $crate::arch::fault_or(())
    }};
}

/// After a guarded instruction: a fixup still set means no exception came;
/// otherwise the exception class the handler recorded.
#[doc(hidden)]
pub fn fault_or<T>(ok: T) -> Result<T, u8> {
    if boot_field(boot_offsets::EXC_FIXUP) != 0 {
        set_boot_field(boot_offsets::EXC_FIXUP, 0);
        Ok(ok)
    } else {
        Err(boot_field(boot_offsets::EXC_VECTOR) as u8)
    }
}

/// ESR_EL1.EC of an instruction that is UNDEFINED ("Unknown reason").
pub const EC_UNKNOWN: u8 = 0x00;
/// ESR_EL1.EC of a Data Abort taken without a change in EL.
pub const EC_DATA_ABORT_CUR: u8 = 0x25;

/// The exception class [`probe_undefined_register`] should fail with.
pub const PROBE_FAULT_VECTOR: u8 = EC_UNKNOWN;

/// Reads a register EL1 may not read (SP_EL1: UNDEFINED at EL1 without
/// nested virtualisation), through the fixup: the framework's probe test.
pub fn probe_undefined_register() -> Result<u64, u8> {
    read_sysreg_safe!(sp_el1)
}

global_asm!(
    ".pushsection .text.kvmtest_undefined, \"ax\"",
    ".global kvmtest_undefined_instruction",
    ".p2align 2",
    "kvmtest_undefined_instruction:",
    "udf #0",
    ".popsection",
);

extern "C" {
    fn kvmtest_undefined_instruction() -> !;
}

/// Address of the UNDEFINED instruction [`undefined_instruction`] executes.
pub fn undefined_instruction_addr() -> u64 {
    kvmtest_undefined_instruction as *const () as usize as u64
}

/// Executes an UNDEFINED instruction (`udf #0`) at [`undefined_instruction_addr`].
pub fn undefined_instruction() -> ! {
    // SAFETY: deliberately executes UDF; the harness reports the exception.
    unsafe { kvmtest_undefined_instruction() }
}

/// FAR_EL1 (the faulting address of the last abort).
pub fn read_far() -> u64 {
    let v: u64;
    // SAFETY: reading FAR_EL1 at EL1 has no side effects.
    unsafe { asm!("mrs {}, far_el1", out(reg) v, options(nostack, nomem, preserves_flags)) };
    v
}

/// Whether this arch has port I/O: arm64 has none.
pub const HAS_PIO: bool = false;

/// Port I/O does not exist on arm64: reaching this is a guest bug.
pub fn outl(port: u16, value: u32) {
    panic!("outl({port:#x}, {value:#x}): arm64 has no port I/O (check HAS_PIO)");
}

// The spin loop of `spin_while_eq`, with global labels around it so the
// host can be told where it is (inline asm may not define named labels).
global_asm!(
    ".pushsection .text.kvmtest_spin, \"ax\"",
    ".global kvmtest_spin_while_eq",
    ".global kvmtest_spin_start",
    ".global kvmtest_spin_end",
    "kvmtest_spin_while_eq:",
    "kvmtest_spin_start:",
    "ldr x2, [x0]",
    "cmp x2, x1",
    "b.eq kvmtest_spin_start",
    "kvmtest_spin_end:",
    "mov x0, x2",
    "ret",
    ".popsection",
);

extern "C" {
    fn kvmtest_spin_while_eq(addr: u64, val: u64) -> u64;
    static kvmtest_spin_start: u8;
    static kvmtest_spin_end: u8;
}

/// Spins while the u64 at `addr` equals `val`, one load and compare per pass
/// (`ldr x2, [x0]`, whose data abort has a valid syndrome (ISV), so KVM can
/// hand it to the host as MMIO when no memslot backs the address);
/// returns the value that ended the spin. The loop's code is
/// [`spin_loop_range`], for a host that checks where a vCPU stopped.
pub fn spin_while_eq(addr: u64, val: u64) -> u64 {
    // SAFETY: the routine reads one u64 at `addr`, which the caller has mapped
    // (or which exits to the host as MMIO), and follows the C ABI.
    unsafe { kvmtest_spin_while_eq(addr, val) }
}

/// The code addresses `[start, end)` of [`spin_while_eq`]'s loop.
pub fn spin_loop_range() -> (u64, u64) {
    // Only the labels' addresses are taken, never their bytes.
    (core::ptr::addr_of!(kvmtest_spin_start) as u64, core::ptr::addr_of!(kvmtest_spin_end) as u64)
}

/// x86's IDT clobber has no counterpart the arm64 scenarios need (the host
/// never deletes slot 0 under an arm64 guest: `Arch::NO_EXIT_WITHOUT_MEMORY`).
pub fn clobber_exception_table() {}
/// The frame a synchronous exception handler gets (`struct ex_regs`).
pub use kvmtest_abi::ExRegs;

/// A guest handler of one exception class (`handler_fn` of the selftests).
pub type SyncHandler = fn(&mut ExRegs);

/// Handlers by ESR_EL1.EC; 0 where none is installed (stored as addresses
/// so that every vCPU sees one table without a lock).
static SYNC_HANDLERS: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];

/// `vm_install_sync_handler(vm, VECTOR_SYNC_CURRENT, ec, handler)`: a
/// synchronous exception of class `ec` taken from EL1 calls `handler`, then
/// the guest resumes at `regs.pc` with `regs.pstate`. Exceptions of other
/// classes are still reported to the host.
pub fn install_sync_handler(ec: u8, handler: SyncHandler) {
    SYNC_HANDLERS[usize::from(ec & 0x3f)].store(handler as usize, Ordering::Release);
    set_boot_field(boot_offsets::EXC_HANDLER, sync_dispatch as *const () as usize as u64);
}

/// What the firmware calls (VcpuBootInfo::exc_handler): the handler of
/// `ec`, if any; returns 1 when one ran (resume), 0 when none (report).
extern "C" fn sync_dispatch(regs: *mut ExRegs, ec: u64) -> u64 {
    let addr = SYNC_HANDLERS[(ec & 0x3f) as usize].load(Ordering::Acquire);
    if addr == 0 {
        return 0;
    }
    // SAFETY: only `install_sync_handler` stores here, and it stores a
    // `SyncHandler`; `regs` is the firmware's frame on the exception stack,
    // live and unaliased until this returns.
    let handler: SyncHandler = unsafe { core::mem::transmute::<usize, SyncHandler>(addr) };
    // SAFETY: as above.
    handler(unsafe { &mut *regs });
    1
}
