//! The arm64 instructions of run-time assembled guests (`kvmtest::asm`,
//! arch-neutral in `crate::asm`): ucalls fill the vCPU's message buffer
//! (found through TPIDR_EL1) and call the doorbell exactly as the Rust guest
//! runtime does. A ucall clobbers what a C call may: x0-x17 and x30.

use dynasmrt::aarch64::{Aarch64Relocation, RX};
use dynasmrt::{dynasm, AssemblyOffset, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{boot_offsets as boot, ucall_offsets as uc, UcallCmd};

use super::firmware::{load_imm32, load_imm64};
use super::layout::PAYLOAD_BASE;
use super::regs::TPIDR_EL1;
use super::Aarch64;
use crate::arch::AsmArch;
use crate::transport::{MessageAt, RawUcall};

type Ops = VecAssembler<Aarch64Relocation>;

/// x9 = this vCPU's boot info, x0 = the address of `at` (the doorbell's argument).
fn message_address(ops: &mut Ops, at: MessageAt) {
    let tpidr = TPIDR_EL1.mrs_imm();
    dynasm!(ops ; .arch aarch64 ; mrs x9, tpidr);
    match at {
        MessageAt::Buffer => dynasm!(ops ; .arch aarch64 ; ldr x0, [x9, boot::UCALL_BUF as u32]),
        MessageAt::Addr(addr) => load_imm64(ops, RX::X0, addr),
    }
}

impl AsmArch for Aarch64 {
    type Relocation = Aarch64Relocation;
    const PAYLOAD_BASE: u64 = PAYLOAD_BASE;

    /// The whole message, as `write_message` writes it, then the doorbell.
    fn ucall(ops: &mut Ops, cmd: UcallCmd, line: u32, file: &str, msg: &str, args: &[u64]) {
        let text: Vec<u8> = file.bytes().chain(msg.bytes()).collect();
        let mut raw = RawUcall {
            line,
            nargs: args.len() as u32,
            file_len: file.len() as u32,
            msg_len: msg.len() as u32,
            text: &text,
            ..RawUcall::new(cmd)
        };
        raw.args[..args.len()].copy_from_slice(args);
        Self::write_message(ops, MessageAt::Buffer, &raw);
        Self::ring_doorbell(ops, MessageAt::Buffer);
    }

    fn write_message(ops: &mut Ops, at: MessageAt, msg: &RawUcall<'_>) {
        message_address(ops, at);
        for (offset, value) in [
            (uc::MAGIC, msg.magic),
            (uc::CMD, msg.cmd),
            (uc::LINE, msg.line),
            (uc::NARGS, msg.nargs),
            (uc::FILE_LEN, msg.file_len),
            (uc::MSG_LEN, msg.msg_len),
        ] {
            load_imm32(ops, RX::X10, value);
            dynasm!(ops ; .arch aarch64 ; str w10, [x0, offset as u32]);
        }
        for (i, a) in msg.args.iter().enumerate().take(msg.nargs as usize) {
            load_imm64(ops, RX::X10, *a);
            dynasm!(ops ; .arch aarch64 ; str x10, [x0, (uc::ARGS + 8 * i) as u32]);
        }
        for (i, chunk) in msg.text.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            load_imm64(ops, RX::X10, u64::from_le_bytes(word));
            dynasm!(ops ; .arch aarch64 ; str x10, [x0, (uc::TEXT + 8 * i) as u32]);
        }
    }

    fn ring_doorbell(ops: &mut Ops, at: MessageAt) {
        message_address(ops, at);
        dynasm!(ops
            ; .arch aarch64
            ; ldr x10, [x9, boot::UCALL_FN as u32]
            ; blr x10
        );
    }

    fn jump(ops: &mut Ops, to: DynamicLabel) {
        dynasm!(ops ; .arch aarch64 ; b =>to);
    }

    fn jump_unless_vcpu(ops: &mut Ops, id: u32, skip: DynamicLabel) {
        let tpidr = TPIDR_EL1.mrs_imm();
        dynasm!(ops
            ; .arch aarch64
            ; mrs x9, tpidr
            ; ldr x10, [x9, boot::VCPU_ID as u32]
        );
        load_imm64(ops, RX::X11, u64::from(id));
        dynasm!(ops ; .arch aarch64 ; cmp x10, x11 ; b.ne =>skip);
    }

    /// `udf #0`.
    fn undefined_instruction(ops: &mut Ops) -> AssemblyOffset {
        let at = ops.offset();
        dynasm!(ops ; .arch aarch64 ; udf 0);
        at
    }

    fn load_from(ops: &mut Ops, addr: u64) -> AssemblyOffset {
        load_imm64(ops, RX::X1, addr);
        let at = ops.offset();
        dynasm!(ops ; .arch aarch64 ; ldr x0, [x1]);
        at
    }

    fn store_u64(ops: &mut Ops, addr: u64, value: u64) -> AssemblyOffset {
        load_imm64(ops, RX::X1, addr);
        load_imm64(ops, RX::X2, value);
        let at = ops.offset();
        dynasm!(ops ; .arch aarch64 ; str x2, [x1]);
        at
    }

    fn store_u32(ops: &mut Ops, addr: u64, value: u32) -> AssemblyOffset {
        load_imm64(ops, RX::X1, addr);
        load_imm32(ops, RX::X2, value);
        let at = ops.offset();
        dynasm!(ops ; .arch aarch64 ; str w2, [x1]);
        at
    }

    /// DAIF set; WFI: the vCPU sleeps in the kernel.
    fn halt_forever(ops: &mut Ops) -> AssemblyOffset {
        let top = ops.new_dynamic_label();
        dynasm!(ops ; .arch aarch64 ; msr daifset, 0xf ; =>top);
        let at = ops.offset();
        dynasm!(ops ; .arch aarch64 ; wfi ; b =>top);
        at
    }
}
