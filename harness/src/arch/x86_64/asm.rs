//! The x86_64 instructions of run-time assembled guests (`kvmtest::asm`,
//! arch-neutral in `crate::asm`): ucalls fill the vCPU's message buffer
//! (found through GS) and call the doorbell exactly as the Rust guest
//! runtime does, with the buffer address in rax.

use dynasmrt::{dynasm, x64::X64Relocation, AssemblyOffset, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{boot_offsets as boot, ucall_offsets as uc, UcallCmd, UCALL_MAGIC};

use super::layout::PAYLOAD_BASE;
use super::X86_64;
use crate::arch::AsmArch;
use crate::transport::{MessageAt, RawUcall};

type Ops = VecAssembler<X64Relocation>;

/// Stores `value` at `[rax + offset]`: one instruction when it fits a
/// sign-extended imm32, else through rdx.
fn store_field(ops: &mut Ops, offset: usize, value: u64) {
    match i32::try_from(value as i64) {
        Ok(imm) => dynasm!(ops ; .arch x64 ; mov QWORD [rax + offset as i32], imm),
        Err(_) => dynasm!(ops ; .arch x64 ; mov rdx, QWORD value as i64 ; mov [rax + offset as i32], rdx),
    }
}

/// The message head every ucall has: buffer address in rax (where the
/// doorbell takes it), magic, command, argument count and arguments.
fn head(ops: &mut Ops, cmd: UcallCmd, args: &[u64]) {
    dynasm!(ops
        ; .arch x64
        ; gs mov rax, QWORD [boot::UCALL_BUF as i32]
        ; mov DWORD [rax + uc::MAGIC as i32], UCALL_MAGIC as i32
        ; mov DWORD [rax + uc::CMD as i32], cmd as i32
        ; mov DWORD [rax + uc::NARGS as i32], args.len() as i32
    );
    for (i, a) in args.iter().enumerate() {
        store_field(ops, uc::ARGS + 8 * i, *a);
    }
}

fn ring(ops: &mut Ops) {
    dynasm!(ops ; .arch x64 ; gs call QWORD [boot::UCALL_FN as i32]);
}

/// Puts the address of `at` in rax, where the doorbell takes it.
fn message_address(ops: &mut Ops, at: MessageAt) {
    match at {
        MessageAt::Buffer => dynasm!(ops ; .arch x64 ; gs mov rax, QWORD [boot::UCALL_BUF as i32]),
        MessageAt::Addr(addr) => dynasm!(ops ; .arch x64 ; mov rax, QWORD addr as i64),
    }
}

impl AsmArch for X86_64 {
    type Relocation = X64Relocation;
    const PAYLOAD_BASE: u64 = PAYLOAD_BASE;

    fn ucall(ops: &mut Ops, cmd: UcallCmd, line: u32, file: &str, msg: &str, args: &[u64]) {
        head(ops, cmd, args);
        dynasm!(ops
            ; .arch x64
            ; mov DWORD [rax + uc::LINE as i32], line as i32
            ; mov DWORD [rax + uc::FILE_LEN as i32], file.len() as i32
            ; mov DWORD [rax + uc::MSG_LEN as i32], msg.len() as i32
        );
        let text: Vec<u8> = file.bytes().chain(msg.bytes()).collect();
        for (i, chunk) in text.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            store_field(ops, uc::TEXT + 8 * i, u64::from_le_bytes(word));
        }
        ring(ops);
    }

    /// The head only. The host reads neither `line` nor the text lengths of
    /// SYNC and DONE, so a SYNC with one small value is six instructions
    /// before the doorbell: each guest instruction after an exit costs about
    /// a microsecond on an emulating backend (PVM).
    fn short_ucall(ops: &mut Ops, cmd: UcallCmd, args: &[u64]) {
        head(ops, cmd, args);
        ring(ops);
    }

    fn write_message(ops: &mut Ops, at: MessageAt, msg: &RawUcall<'_>) {
        message_address(ops, at);
        dynasm!(ops
            ; .arch x64
            ; mov DWORD [rax + uc::MAGIC as i32], msg.magic as i32
            ; mov DWORD [rax + uc::CMD as i32], msg.cmd as i32
            ; mov DWORD [rax + uc::LINE as i32], msg.line as i32
            ; mov DWORD [rax + uc::NARGS as i32], msg.nargs as i32
            ; mov DWORD [rax + uc::FILE_LEN as i32], msg.file_len as i32
            ; mov DWORD [rax + uc::MSG_LEN as i32], msg.msg_len as i32
        );
        for (i, a) in msg.args.iter().enumerate().take(msg.nargs as usize) {
            store_field(ops, uc::ARGS + 8 * i, *a);
        }
        for (i, chunk) in msg.text.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            store_field(ops, uc::TEXT + 8 * i, u64::from_le_bytes(word));
        }
    }

    fn ring_doorbell(ops: &mut Ops, at: MessageAt) {
        message_address(ops, at);
        ring(ops);
    }

    fn jump(ops: &mut Ops, to: DynamicLabel) {
        dynasm!(ops ; .arch x64 ; jmp =>to);
    }

    fn jump_unless_vcpu(ops: &mut Ops, id: u32, skip: DynamicLabel) {
        dynasm!(ops
            ; .arch x64
            ; gs mov rax, QWORD [boot::VCPU_ID as i32]
            ; cmp rax, id as i32
            ; jne =>skip
        );
    }

    /// UD2.
    fn undefined_instruction(ops: &mut Ops) -> AssemblyOffset {
        let at = ops.offset();
        dynasm!(ops ; .arch x64 ; ud2);
        at
    }

    fn load_from(ops: &mut Ops, addr: u64) -> AssemblyOffset {
        dynasm!(ops ; .arch x64 ; mov rax, QWORD addr as i64);
        let at = ops.offset();
        dynasm!(ops ; .arch x64 ; mov rax, [rax]);
        at
    }

    fn store_u64(ops: &mut Ops, addr: u64, value: u64) -> AssemblyOffset {
        dynasm!(ops ; .arch x64 ; mov rax, QWORD addr as i64 ; mov rcx, QWORD value as i64);
        let at = ops.offset();
        dynasm!(ops ; .arch x64 ; mov [rax], rcx);
        at
    }

    fn store_u32(ops: &mut Ops, addr: u64, value: u32) -> AssemblyOffset {
        dynasm!(ops ; .arch x64 ; mov rax, QWORD addr as i64 ; mov ecx, value as i32);
        let at = ops.offset();
        dynasm!(ops ; .arch x64 ; mov [rax], ecx);
        at
    }

    /// CLI; HLT: with an in-kernel irqchip the vCPU sleeps in the kernel.
    fn halt_forever(ops: &mut Ops) -> AssemblyOffset {
        let top = ops.new_dynamic_label();
        dynasm!(ops ; .arch x64 ; cli ; =>top);
        let at = ops.offset();
        dynasm!(ops ; .arch x64 ; hlt ; jmp =>top);
        at
    }
}
