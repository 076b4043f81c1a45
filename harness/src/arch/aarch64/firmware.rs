//! The code the harness places in every arm64 guest: the EL1 vector table
//! (VBAR_EL1), a common handler, and the ucall doorbell routine.
//!
//! Each synchronous and SError slot first checks, with registers only, that
//! the exception did not come from the firmware itself: a fault in this code
//! means the guest broke what it relies on (TPIDR_EL1, the exception stack,
//! the page tables), and handling it would fault again forever. It gives up
//! with PSCI SYSTEM_OFF instead, a KVM_EXIT_SYSTEM_EVENT at a firmware PC the
//! host reports as such (x86's firmware triple-faults for the same reason).
//! The check borrows TPIDRRO_EL0 to keep x0: every exception clobbers it.
//!
//! Then each of the 16 vector slots switches to the vCPU's exception stack
//! (SP_EL0, so an SP_EL1 overflow is still reported), saves x0-x3 and jumps
//! to the handler with the slot and the "vector": ESR_EL1.EC for synchronous
//! exceptions and SErrors, [`VECTOR_IRQ`] / [`VECTOR_FIQ`] for interrupts.
//! The handler first honours a pending fixup (`VcpuBootInfo::exc_fixup`, for
//! `read_sysreg_safe`-style probes): it resumes there with the vector stored
//! in `exc_vector`, x0-x3 intact. Then, for a synchronous exception from
//! EL1 with SP_EL1 (the guest's own code), a guest handler
//! (`VcpuBootInfo::exc_handler`, the guest runtime's `install_sync_handler`)
//! is called with every register in an [`kvmtest_abi::ExRegs`] frame; if it
//! handled the exception, the guest resumes where and how the frame says
//! (the handler itself faulting comes through the SP_EL0 slot, which is
//! reported, not handled again). Otherwise it fills an EXCEPTION ucall
//! (EC, ESR, ELR, FAR, SP, slot) and rings the doorbell, so any transport
//! reports it. An IRQ whose vCPU has set `VcpuBootInfo::irq_handler` calls
//! that function instead and returns to the interrupted code. No FP/SIMD anywhere (CPACR_EL1.FPEN stays 0: a stray FP
//! instruction is itself reported, as EC 0x07).

use dynasmrt::aarch64::{Aarch64Relocation, RX};
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{
    boot_offsets as boot, ex_regs_offsets as ex, ucall_offsets as uc, ExceptionArgs, UcallCmd, UCALL_MAGIC,
};

use super::layout::{FIRMWARE, FIRMWARE_SIZE};
use super::regs::{SysReg, ELR_EL1_SYSREG, ESR_EL1, FAR_EL1, SPSR_EL1_SYSREG, TPIDRRO_EL0, TPIDR_EL1};
use crate::arch::exception::aarch64::ESR_EC_SHIFT;
pub use crate::arch::exception::aarch64::{VECTOR_FIQ, VECTOR_IRQ};
use crate::transport::Doorbell;
use crate::{Error, Result};

/// Slots in the vector table: {current EL with SP0, current EL with SPx,
/// lower EL AArch64, lower EL AArch32} x {Synchronous, IRQ, FIQ, SError}.
pub const SLOTS: usize = 16;
/// Bytes per slot.
pub const SLOT_SIZE: usize = 0x80;
/// The PSCI calls the firmware makes: SYSTEM_SUSPEND is the halt doorbell,
/// SYSTEM_OFF how the firmware gives up when it faults itself.
pub use kvmtest_abi::smccc::{PSCI_0_2_FN_SYSTEM_OFF, PSCI_1_0_FN64_SYSTEM_SUSPEND};

/// Bytes the slot code pushes on the exception stack (x0-x3).
const FRAME: u32 = 32;
/// The IRQ path's further frame: x4-x18, x29, x30, ELR_EL1, SPSR_EL1, 16-byte aligned.
const IRQ_FRAME: u32 = 160;
/// The slot of a synchronous exception from the current EL with SP_ELx:
/// the guest's code (EL1h) faulting, what a guest handler may handle.
const SYNC_EL1H_SLOT: u32 = 4;

/// The assembled firmware.
pub struct Firmware {
    /// The machine code, loaded at [`FIRMWARE`].
    pub code: Vec<u8>,
    /// Guest address of the vector table (VBAR_EL1).
    pub vectors: u64,
    /// Guest address of the doorbell routine.
    pub doorbell: u64,
}

/// What kind of exception a slot receives.
pub fn slot_kind(slot: usize) -> &'static str {
    ["Synchronous", "IRQ", "FIQ", "SError"][slot % 4]
}

/// Where the exception came from, by slot.
pub fn slot_origin(slot: usize) -> &'static str {
    ["current EL with SP_EL0", "current EL with SP_ELx", "lower EL (AArch64)", "lower EL (AArch32)"][(slot / 4) % 4]
}

fn imm(r: SysReg) -> u32 {
    r.mrs_imm()
}

type Ops = VecAssembler<Aarch64Relocation>;

/// `movz`/`movk` of a 64-bit constant into X(reg).
pub fn load_imm64(ops: &mut Ops, reg: RX, value: u64) {
    dynasm!(ops ; .arch aarch64 ; movz X(reg), (value & 0xffff) as u32);
    for shift in [16u32, 32, 48] {
        let half = ((value >> shift) & 0xffff) as u32;
        if half != 0 {
            dynasm!(ops ; .arch aarch64 ; movk X(reg), half, lsl shift);
        }
    }
}

/// `movz`/`movk` of a 32-bit constant into W(reg).
pub fn load_imm32(ops: &mut Ops, reg: RX, value: u32) {
    dynasm!(ops ; .arch aarch64 ; movz W(reg), value & 0xffff);
    if value >> 16 != 0 {
        dynasm!(ops ; .arch aarch64 ; movk W(reg), value >> 16, lsl 16);
    }
}

/// Assembles the vector table, the exception handler and the ucall routine for `doorbell`.
pub fn assemble(doorbell: Doorbell) -> Result<Firmware> {
    let mut ops: Ops = VecAssembler::new(FIRMWARE as usize);
    let common = ops.new_dynamic_label();
    let report = ops.new_dynamic_label();
    let from_sp0 = ops.new_dynamic_label();
    let have_sp = ops.new_dynamic_label();
    let hang = ops.new_dynamic_label();
    let give_up = ops.new_dynamic_label();
    let irq = ops.new_dynamic_label();
    let no_fixup = ops.new_dynamic_label();
    let unhandled = ops.new_dynamic_label();
    let (tpidr, esr, elr, far, spsr, scratch) =
        (imm(TPIDR_EL1), imm(ESR_EL1), imm(ELR_EL1_SYSREG), imm(FAR_EL1), imm(SPSR_EL1_SYSREG), imm(TPIDRRO_EL0));
    const _: () = assert!(FIRMWARE % 4096 == 0 && FIRMWARE_SIZE % 4096 == 0 && (FIRMWARE >> 12) < 4096);

    for slot in 0..SLOTS {
        let start = ops.offset().0;
        debug_assert_eq!(start, slot * SLOT_SIZE);
        if matches!(slot % 4, 0 | 3) {
            // Synchronous or SError from a firmware PC: give up. (An IRQ may
            // legitimately arrive while a guest runs the doorbell routine.)
            dynasm!(ops
                ; .arch aarch64
                ; msr scratch, x0
                ; mrs x0, elr
                ; lsr x0, x0, 12
                ; sub x0, x0, (FIRMWARE >> 12) as u32
                ; cmp x0, (FIRMWARE_SIZE >> 12) as u32
                ; b.lo =>give_up
                ; mrs x0, scratch
            );
        }
        dynasm!(ops
            ; .arch aarch64
            ; msr spsel, 0
            ; sub sp, sp, FRAME
            ; stp x0, x1, [sp]
            ; stp x2, x3, [sp, 16]
            ; movz x0, slot as u32
        );
        match slot % 4 {
            1 => {
                load_imm64(&mut ops, RX::X1, VECTOR_IRQ);
                dynasm!(ops ; .arch aarch64 ; b =>irq ; .align 0x80);
                continue;
            }
            2 => load_imm64(&mut ops, RX::X1, VECTOR_FIQ),
            _ => dynasm!(ops ; .arch aarch64 ; mrs x1, esr ; lsr x1, x1, ESR_EC_SHIFT),
        }
        dynasm!(ops ; .arch aarch64 ; b =>common ; .align 0x80);
    }

    // An IRQ with a guest handler (`VcpuBootInfo::irq_handler`): call it on
    // the interrupted code's stack (SP_EL1: the vCPU's stack, with its guard
    // page; the exception stack is too small for a handler written in Rust)
    // with the registers the C ABI lets it clobber saved (x4-x18, x29, x30,
    // and ELR/SPSR), then return to the interrupted code. IRQs stay masked
    // meanwhile (PSTATE.I is set on entry). Without a handler: reported.
    // x0 = slot, x1 = vector; x0-x3 saved at [sp] (SP_EL0).
    dynasm!(ops
        ; .arch aarch64
        ; =>irq
        ; mrs x2, tpidr
        ; ldr x3, [x2, boot::IRQ_HANDLER as u32]
        ; cbz x3, =>common
        ; msr spsel, 1
        ; sub sp, sp, IRQ_FRAME
        ; stp x4, x5, [sp]
        ; stp x6, x7, [sp, 16]
        ; stp x8, x9, [sp, 32]
        ; stp x10, x11, [sp, 48]
        ; stp x12, x13, [sp, 64]
        ; stp x14, x15, [sp, 80]
        ; stp x16, x17, [sp, 96]
        ; stp x18, x29, [sp, 112]
        ; mrs x4, elr
        ; mrs x5, spsr
        ; stp x30, x4, [sp, 128]
        ; str x5, [sp, 144]
        ; blr x3
        ; ldr x5, [sp, 144]
        ; ldp x30, x4, [sp, 128]
        ; msr elr, x4
        ; msr spsr, x5
        ; ldp x18, x29, [sp, 112]
        ; ldp x16, x17, [sp, 96]
        ; ldp x14, x15, [sp, 80]
        ; ldp x12, x13, [sp, 64]
        ; ldp x10, x11, [sp, 48]
        ; ldp x8, x9, [sp, 32]
        ; ldp x6, x7, [sp, 16]
        ; ldp x4, x5, [sp]
        ; add sp, sp, IRQ_FRAME
        ; msr spsel, 0
        ; ldp x2, x3, [sp, 16]
        ; ldp x0, x1, [sp], FRAME as i32
        ; eret
    );

    // x0 = slot, x1 = vector; x0-x3 saved at [sp].
    dynasm!(ops
        ; .arch aarch64
        ; =>common
        ; mrs x2, tpidr
        ; ldr x3, [x2, boot::EXC_FIXUP as u32]
        ; cbz x3, =>no_fixup
        ; msr elr, x3
        ; str xzr, [x2, boot::EXC_FIXUP as u32]
        ; str x1, [x2, boot::EXC_VECTOR as u32]
        ; ldp x2, x3, [sp, 16]
        ; ldp x0, x1, [sp], FRAME as i32
        ; eret
        // The guest's handler, for synchronous exceptions from EL1h only.
        ; =>no_fixup
        ; ldr x3, [x2, boot::EXC_HANDLER as u32]
        ; cbz x3, =>report
        ; cmp x0, SYNC_EL1H_SLOT
        ; b.ne =>report
        ; sub sp, sp, ex::SIZE as u32
        ; stp x4, x5, [sp, 32]
        ; stp x6, x7, [sp, 48]
        ; stp x8, x9, [sp, 64]
        ; stp x10, x11, [sp, 80]
        ; stp x12, x13, [sp, 96]
        ; stp x14, x15, [sp, 112]
        ; stp x16, x17, [sp, 128]
        ; stp x18, x19, [sp, 144]
        ; stp x20, x21, [sp, 160]
        ; stp x22, x23, [sp, 176]
        ; stp x24, x25, [sp, 192]
        ; stp x26, x27, [sp, 208]
        ; stp x28, x29, [sp, 224]
        ; str x30, [sp, 240]
        ; ldp x4, x5, [sp, ex::SIZE as i32]
        ; stp x4, x5, [sp]
        ; ldp x4, x5, [sp, (ex::SIZE + 16) as i32]
        ; stp x4, x5, [sp, 16]
        ; mrs x4, elr
        ; str x4, [sp, ex::PC as u32]
        ; mrs x4, spsr
        ; str x4, [sp, ex::PSTATE as u32]
        ; str x0, [sp, ex::SLOT as u32]
        ; mov x0, sp
        ; blr x3
        ; cbz x0, =>unhandled
        ; ldr x4, [sp, ex::PC as u32]
        ; msr elr, x4
        ; ldr x4, [sp, ex::PSTATE as u32]
        ; msr spsr, x4
        ; ldp x0, x1, [sp]
        ; ldp x2, x3, [sp, 16]
        ; ldp x4, x5, [sp, 32]
        ; ldp x6, x7, [sp, 48]
        ; ldp x8, x9, [sp, 64]
        ; ldp x10, x11, [sp, 80]
        ; ldp x12, x13, [sp, 96]
        ; ldp x14, x15, [sp, 112]
        ; ldp x16, x17, [sp, 128]
        ; ldp x18, x19, [sp, 144]
        ; ldp x20, x21, [sp, 160]
        ; ldp x22, x23, [sp, 176]
        ; ldp x24, x25, [sp, 192]
        ; ldp x26, x27, [sp, 208]
        ; ldp x28, x29, [sp, 224]
        ; ldr x30, [sp, 240]
        ; add sp, sp, (ex::SIZE + FRAME as usize) as u32
        ; eret
        // Not handled: report it as if no handler were installed (x4-x30
        // are the handler's now; the report needs x0-x3 only).
        ; =>unhandled
        ; ldr x0, [sp, ex::SLOT as u32]
        ; mrs x1, esr
        ; lsr x1, x1, ESR_EC_SHIFT
        ; add sp, sp, ex::SIZE as u32
        ; mrs x2, tpidr
        ; =>report
        ; ldr x3, [x2, boot::UCALL_BUF as u32]
    );
    load_imm32(&mut ops, RX::X4, UCALL_MAGIC);
    dynasm!(ops ; .arch aarch64 ; str w4, [x3, uc::MAGIC as u32]);
    load_imm32(&mut ops, RX::X4, UcallCmd::Exception as u32);
    dynasm!(ops
        ; .arch aarch64
        ; str w4, [x3, uc::CMD as u32]
        ; str wzr, [x3, uc::LINE as u32]
        ; movz w4, 6
        ; str w4, [x3, uc::NARGS as u32]
        ; str wzr, [x3, uc::FILE_LEN as u32]
        ; str wzr, [x3, uc::MSG_LEN as u32]
        ; str x1, [x3, arg(ExceptionArgs::VECTOR)]
        ; mrs x4, esr
        ; str x4, [x3, arg(ExceptionArgs::ERROR_CODE)]
        ; mrs x4, elr
        ; str x4, [x3, arg(ExceptionArgs::PC)]
        ; mrs x4, far
        ; str x4, [x3, arg(ExceptionArgs::FAULT_ADDR)]
        // The interrupted SP: SP_EL1 if SPSR_EL1.M[0] says EL1h, else SP_EL0 above our frame.
        ; mrs x4, spsr
        ; tbz x4, 0, =>from_sp0
        ; msr spsel, 1
        ; mov x4, sp
        ; msr spsel, 0
        ; b =>have_sp
        ; =>from_sp0
        ; add x4, sp, FRAME
        ; =>have_sp
        ; str x4, [x3, arg(ExceptionArgs::SP)]
        ; str x0, [x3, arg(ExceptionArgs::SLOT)]
        ; mov x0, x3
        ; ldr x5, [x2, boot::UCALL_FN as u32]
        ; blr x5
        // The host never resumes an exception report; if it does, wait
        // until the watchdog ends the test.
        ; =>hang
        ; wfi
        ; b =>hang
        // Registers only: neither memory nor the stack can be trusted here.
        ; =>give_up
    );
    load_imm32(&mut ops, RX::X0, PSCI_0_2_FN_SYSTEM_OFF);
    dynasm!(ops ; .arch aarch64 ; hvc 0 ; b =>hang);

    let doorbell_addr = FIRMWARE + ops.offset().0 as u64;
    match doorbell {
        Doorbell::MmioWrite { addr } => {
            // A plain 64-bit store without writeback, so ESR_EL2.ISV is set
            // and KVM can hand the access to userspace.
            load_imm64(&mut ops, RX::X1, addr);
            dynasm!(ops ; .arch aarch64 ; str x0, [x1] ; ret);
        }
        Doorbell::Hypercall { func_id } => {
            // SMCCC: function ID in w0, the message address as argument 1.
            dynasm!(ops ; .arch aarch64 ; mov x1, x0);
            load_imm32(&mut ops, RX::X0, func_id);
            dynasm!(ops ; .arch aarch64 ; hvc 0 ; ret);
        }
        Doorbell::SystemSuspend => {
            // PSCI SYSTEM_SUSPEND(entry_point = our return address,
            // context_id = message): were the suspend emulated, the guest
            // would wake up returning from this call.
            dynasm!(ops ; .arch aarch64 ; mov x2, x0 ; mov x1, x30);
            load_imm32(&mut ops, RX::X0, PSCI_1_0_FN64_SYSTEM_SUSPEND);
            dynasm!(ops ; .arch aarch64 ; hvc 0 ; ret);
        }
        Doorbell::PortOut { .. } | Doorbell::Halt => {
            return Err(Error::Unsupported(format!(
                "{doorbell:?} doorbell on aarch64 (no I/O ports; WFI never exits to userspace, the halt transport uses PSCI SYSTEM_SUSPEND)"
            )));
        }
    }
    let code = ops.finalize().map_err(|e| Error::Config(format!("assembling the aarch64 firmware: {e:?}")))?;
    if code.len() as u64 > FIRMWARE_SIZE {
        return Err(Error::Config(format!(
            "aarch64 firmware is {} bytes, more than its {FIRMWARE_SIZE} byte region",
            code.len()
        )));
    }
    Ok(Firmware { code, vectors: FIRMWARE, doorbell: doorbell_addr })
}

/// Byte offset of EXCEPTION argument `i` in the message.
const fn arg(i: usize) -> u32 {
    (uc::ARGS + 8 * i) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_fits_and_slots_are_0x80_apart() {
        for d in [
            Doorbell::MmioWrite { addr: 0x400_0000 },
            Doorbell::Hypercall { func_id: kvmtest_abi::UCALL_HVC_FUNC_ID },
            Doorbell::SystemSuspend,
        ] {
            let fw = assemble(d).unwrap();
            assert!(fw.code.len() as u64 <= FIRMWARE_SIZE);
            assert_eq!(fw.vectors % 0x800, 0);
            assert!(fw.doorbell >= fw.vectors + (SLOTS * SLOT_SIZE) as u64);
            // Every slot switches to SP_EL0 with `msr spsel, #0` (0xd50040bf),
            // the synchronous and SError ones after the firmware-PC check.
            for slot in 0..SLOTS {
                let at = slot * SLOT_SIZE;
                let words: Vec<u32> =
                    fw.code[at..at + SLOT_SIZE].chunks(4).map(|w| u32::from_le_bytes(w.try_into().unwrap())).collect();
                let spsel = words.iter().position(|&w| w == 0xd500_40bf);
                let expected = if matches!(slot % 4, 0 | 3) { 7 } else { 0 };
                assert_eq!(spsel, Some(expected), "slot {slot}");
            }
        }
    }

    #[test]
    fn io_port_and_hlt_doorbells_are_refused() {
        assert!(matches!(assemble(Doorbell::PortOut { port: 0x1000 }), Err(Error::Unsupported(_))));
        assert!(matches!(assemble(Doorbell::Halt), Err(Error::Unsupported(_))));
    }
}
