//! The code the harness places in every x86_64 guest: one stub per exception
//! vector, a common handler, and the ucall doorbell routine (message address
//! in rax: PIO is `mov dx, port; out dx, eax; ret`, MMIO `mov [addr], rax;
//! ret`, halt `hlt; ret`).
//!
//! The handler first honours a pending fixup (`VcpuBootInfo::exc_fixup`,
//! used by `rdmsr_safe`-style probes): it resumes there with the vector
//! recorded. Otherwise it fills an EXCEPTION ucall with vector, error code,
//! RIP, CR2 and RSP and rings the doorbell, so any transport reports it.
//! A fault inside the handler itself (the guest destroyed its GS base or
//! stack) triple-faults on purpose: the host sees KVM_EXIT_SHUTDOWN at once
//! instead of a fault loop that only the watchdog would end.
//! No SSE anywhere: PVM's emulator rejects it, and CR4.OSFXSR is clear.

use dynasmrt::{dynasm, x64::X64Relocation, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{boot_offsets as boot, ucall_offsets as uc, UcallCmd, UCALL_MAGIC};

use super::layout::{FIRMWARE, FIRMWARE_FAULT_FLAG, FIRMWARE_SIZE};
use crate::layout::FIRMWARE_FAULT_MAGIC;
use crate::transport::Doorbell;
use crate::{Error, Result};

/// Exception vectors 0..32 get stubs of the exception path.
pub const VECTORS: usize = 32;
/// Vectors 32..256 (interrupts, with an irqchip) get stubs of the IRQ path.
pub const FIRST_EXTERNAL_VECTOR: usize = 32;

/// Vectors for which the CPU pushes an error code.
pub fn has_error_code(vector: usize) -> bool {
    matches!(vector, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

/// The assembled firmware.
pub struct Firmware {
    /// The machine code, loaded at [`FIRMWARE`](super::layout::FIRMWARE).
    pub code: Vec<u8>,
    /// Guest address of each exception vector's stub.
    pub vectors: [u64; VECTORS],
    /// Guest address of the stub of each interrupt vector (32..256).
    pub irq_vectors: Vec<u64>,
    /// Guest address of the doorbell routine.
    pub doorbell: u64,
}

const REX_W: u8 = 0x48;
const MOV_MOFFS64_RAX: u8 = 0xa3;

/// Assembles the firmware. The doorbell routine takes the message address in
/// rax (the register `out` and `mov [moffs64]` read it from, so the doorbell
/// moves nothing) and clobbers rax and rdx.
pub fn assemble(doorbell: Doorbell) -> Result<Firmware> {
    let mut ops: VecAssembler<X64Relocation> = VecAssembler::new(FIRMWARE as usize);
    let common = ops.new_dynamic_label();
    let report = ops.new_dynamic_label();
    let hang = ops.new_dynamic_label();
    let give_up = ops.new_dynamic_label();
    let mut vectors = [0u64; VECTORS];
    for (v, addr) in vectors.iter_mut().enumerate() {
        *addr = FIRMWARE + ops.offset().0 as u64;
        if !has_error_code(v) {
            dynasm!(ops ; .arch x64 ; push 0);
        }
        dynasm!(ops ; .arch x64 ; push v as i32 ; jmp =>common);
    }
    let irq = ops.new_dynamic_label();
    let irq_call = ops.new_dynamic_label();
    let mut irq_vectors = Vec::with_capacity(256 - FIRST_EXTERNAL_VECTOR);
    for v in FIRST_EXTERNAL_VECTOR..256 {
        irq_vectors.push(FIRMWARE + ops.offset().0 as u64);
        dynasm!(ops ; .arch x64 ; push 0 ; push v as i32 ; jmp =>irq);
    }
    // An interrupt with a guest handler (`VcpuBootInfo::irq_handler`): call
    // it with the vector in rdi and the registers the SysV ABI lets it
    // clobber saved, then IRETQ (IF stays clear meanwhile: interrupt gates).
    // Without a handler: the exception path reports it. Frame as below;
    // 40 + 16 + 9 * 8 bytes pushed keep the call 16-byte aligned.
    dynasm!(ops
        ; .arch x64
        ; =>irq
        ; push rax
        ; gs mov rax, QWORD [boot::IRQ_HANDLER as i32]
        ; test rax, rax
        ; jnz =>irq_call
        ; pop rax
        ; jmp =>common
        ; =>irq_call
        ; push rcx
        ; push rdx
        ; push rsi
        ; push rdi
        ; push r8
        ; push r9
        ; push r10
        ; push r11
        ; mov rdi, [rsp + 72]
        ; call rax
        ; pop r11
        ; pop r10
        ; pop r9
        ; pop r8
        ; pop rdi
        ; pop rsi
        ; pop rdx
        ; pop rcx
        ; pop rax
        ; add rsp, 16
        ; iretq
    );
    // Frame here: [rsp] saved rax, +8 vector, +16 error code, +24 rip, +32 cs,
    // +40 rflags, +48 rsp, +56 ss.
    dynasm!(ops
        ; .arch x64
        ; =>common
        ; push rax
        // A fault inside this code means the guest broke what it relies on
        // (GS base, stacks, page tables): handling it would fault again
        // forever. Shut the machine down instead, so the host reports it now.
        ; mov rax, [rsp + 24]
        ; sub rax, FIRMWARE as i32
        ; cmp rax, FIRMWARE_SIZE as i32
        ; jb =>give_up
        ; gs mov rax, QWORD [boot::EXC_FIXUP as i32]
        ; test rax, rax
        ; jz =>report
        ; mov [rsp + 24], rax
        ; gs mov QWORD [boot::EXC_FIXUP as i32], 0
        ; mov rax, [rsp + 8]
        ; gs mov [boot::EXC_VECTOR as i32], rax
        ; pop rax
        ; add rsp, 16
        ; iretq
        ; =>report
        ; gs mov rdi, QWORD [boot::UCALL_BUF as i32]
        ; mov DWORD [rdi + uc::MAGIC as i32], UCALL_MAGIC as i32
        ; mov DWORD [rdi + uc::CMD as i32], UcallCmd::Exception as i32
        ; mov DWORD [rdi + uc::LINE as i32], 0
        ; mov DWORD [rdi + uc::NARGS as i32], 6
        ; mov DWORD [rdi + uc::FILE_LEN as i32], 0
        ; mov DWORD [rdi + uc::MSG_LEN as i32], 0
        ; mov rax, [rsp + 8]
        ; mov [rdi + uc::ARGS as i32], rax
        ; mov rax, [rsp + 16]
        ; mov [rdi + uc::ARGS as i32 + 8], rax
        ; mov rax, [rsp + 24]
        ; mov [rdi + uc::ARGS as i32 + 16], rax
        ; mov rax, cr2
        ; mov [rdi + uc::ARGS as i32 + 24], rax
        ; mov rax, [rsp + 48]
        ; mov [rdi + uc::ARGS as i32 + 32], rax
        ; mov QWORD [rdi + uc::ARGS as i32 + 40], 0
        ; mov rax, rdi
        ; gs call QWORD [boot::UCALL_FN as i32]
        // The host never resumes an exception report; if it does, spin
        // until the watchdog ends the test.
        ; =>hang
        ; jmp =>hang
        // An IDT of limit 0: the UD2 cannot be delivered, nor the faults
        // that follow: a triple fault, KVM_EXIT_SHUTDOWN.
        ; =>give_up
        ; mov rax, QWORD FIRMWARE_FAULT_FLAG as i64
        ; mov DWORD [rax], FIRMWARE_FAULT_MAGIC as i32
        ; push 0
        ; push 0
        ; lidt [rsp]
        ; ud2
    );
    let doorbell_addr = FIRMWARE + ops.offset().0 as u64;
    match doorbell {
        Doorbell::PortOut { port } => {
            dynasm!(ops ; .arch x64 ; mov dx, port as i16 ; out dx, eax ; ret);
        }
        Doorbell::MmioWrite { addr } => {
            // `mov [moffs64], rax` (REX.W A3): the store needs no register
            // for the address, one guest instruction fewer per ucall.
            ops.extend([REX_W, MOV_MOFFS64_RAX]);
            ops.extend(addr.to_le_bytes());
            dynasm!(ops ; .arch x64 ; ret);
        }
        Doorbell::Halt => {
            dynasm!(ops ; .arch x64 ; hlt ; ret);
        }
        Doorbell::Hypercall { .. } | Doorbell::SystemSuspend => {
            return Err(Error::Unsupported(format!("{doorbell:?} doorbell on x86_64")));
        }
    }
    let code = ops.finalize().map_err(|e| Error::Config(format!("assembling the x86_64 firmware: {e:?}")))?;
    if code.len() as u64 > FIRMWARE_SIZE {
        return Err(Error::Config(format!(
            "x86_64 firmware is {} bytes, more than its {FIRMWARE_SIZE} byte region",
            code.len()
        )));
    }
    Ok(Firmware { code, vectors, irq_vectors, doorbell: doorbell_addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_fits_and_stubs_are_distinct() {
        for d in [Doorbell::PortOut { port: 0x1000 }, Doorbell::MmioWrite { addr: 0x400_0000 }, Doorbell::Halt] {
            let fw = assemble(d).unwrap();
            assert!(fw.code.len() as u64 <= FIRMWARE_SIZE);
            let mut v = fw.vectors.to_vec();
            v.dedup();
            assert_eq!(v.len(), VECTORS);
            assert!(fw.doorbell > fw.vectors[VECTORS - 1]);
            let mut irq = fw.irq_vectors.clone();
            irq.dedup();
            assert_eq!(irq.len(), 256 - FIRST_EXTERNAL_VECTOR);
            assert!(irq.iter().all(|a| (FIRMWARE..FIRMWARE + FIRMWARE_SIZE).contains(a)));
        }
    }

    #[test]
    fn hypercall_doorbell_is_refused_on_x86() {
        assert!(matches!(assemble(Doorbell::Hypercall { func_id: 0 }), Err(Error::Unsupported(_))));
    }
}
