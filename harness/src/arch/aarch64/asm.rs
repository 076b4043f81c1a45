//! Run-time assembled arm64 guests (dynasm): write instructions with
//! `dynasm!(guest.ops() ; .arch aarch64 ; ...)` and emit ucalls with the
//! helpers, which fill the vCPU's message buffer (found through TPIDR_EL1)
//! and call the doorbell exactly as the Rust guest runtime does. A ucall
//! clobbers what a C call may: x0-x17 and x30.

use dynasmrt::aarch64::{Aarch64Relocation, RX};
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{boot_offsets as boot, ucall_offsets as uc, UcallCmd, UCALL_MAGIC, UCALL_MAX_ARGS, UCALL_TEXT_MAX};

use super::firmware::{load_imm32, load_imm64};
use super::layout::PAYLOAD_BASE;
use super::regs::TPIDR_EL1;
use crate::payload::Payload;
use crate::{Error, Result};

/// The dynasm assembler of this arch, positioned at the payload base.
pub type Assembler = VecAssembler<Aarch64Relocation>;

/// A guest assembled at run time.
pub struct AsmGuest {
    ops: Assembler,
    error: Option<Error>,
}

impl Default for AsmGuest {
    fn default() -> Self {
        Self::new()
    }
}

impl AsmGuest {
    pub fn new() -> Self {
        AsmGuest { ops: VecAssembler::new(PAYLOAD_BASE as usize), error: None }
    }

    /// The raw assembler, for `dynasm!(g.ops() ; .arch aarch64 ; ...)`.
    pub fn ops(&mut self) -> &mut Assembler {
        &mut self.ops
    }

    /// Guest address the next instruction will have.
    pub fn here(&self) -> u64 {
        PAYLOAD_BASE + self.ops.offset().0 as u64
    }

    fn ucall(&mut self, cmd: UcallCmd, line: u32, file: &str, msg: &str, args: &[u64]) -> &mut Self {
        if args.len() > UCALL_MAX_ARGS || file.len() + msg.len() > UCALL_TEXT_MAX {
            self.error.get_or_insert(Error::Config(format!(
                "ucall with {} args and {} text bytes: at most {UCALL_MAX_ARGS} and {UCALL_TEXT_MAX}",
                args.len(),
                file.len() + msg.len()
            )));
            return self;
        }
        let ops = &mut self.ops;
        let tpidr = TPIDR_EL1.mrs_imm();
        // x9 = boot info, x0 = message buffer, x10 = scratch.
        dynasm!(ops
            ; .arch aarch64
            ; mrs x9, tpidr
            ; ldr x0, [x9, boot::UCALL_BUF as u32]
        );
        for (offset, value) in [
            (uc::MAGIC, UCALL_MAGIC),
            (uc::CMD, cmd as u32),
            (uc::LINE, line),
            (uc::NARGS, args.len() as u32),
            (uc::FILE_LEN, file.len() as u32),
            (uc::MSG_LEN, msg.len() as u32),
        ] {
            load_imm32(ops, RX::X10, value);
            dynasm!(ops ; .arch aarch64 ; str w10, [x0, offset as u32]);
        }
        for (i, a) in args.iter().enumerate() {
            load_imm64(ops, RX::X10, *a);
            dynasm!(ops ; .arch aarch64 ; str x10, [x0, (uc::ARGS + 8 * i) as u32]);
        }
        let text: Vec<u8> = file.bytes().chain(msg.bytes()).collect();
        for (i, chunk) in text.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            load_imm64(ops, RX::X10, u64::from_le_bytes(word));
            dynasm!(ops ; .arch aarch64 ; str x10, [x0, (uc::TEXT + 8 * i) as u32]);
        }
        dynasm!(ops
            ; .arch aarch64
            ; ldr x10, [x9, boot::UCALL_FN as u32]
            ; blr x10
        );
        self
    }

    /// GUEST_SYNC: stage plus up to five values.
    pub fn sync(&mut self, stage: u64, args: &[u64]) -> &mut Self {
        let all: Vec<u64> = std::iter::once(stage).chain(args.iter().copied()).collect();
        self.ucall(UcallCmd::Sync, 0, "", "", &all)
    }

    /// GUEST_PRINTF with a fixed string.
    pub fn printf(&mut self, text: &str) -> &mut Self {
        self.ucall(UcallCmd::Printf, 0, "", text, &[])
    }

    /// GUEST_ASSERT failure with its location, message and values.
    pub fn abort(&mut self, file: &str, line: u32, msg: &str, values: &[u64]) -> &mut Self {
        self.ucall(UcallCmd::Abort, line, file, msg, values)
    }

    /// GUEST_DONE; if the host resumes the guest anyway, it says DONE again.
    pub fn done(&mut self) -> &mut Self {
        let again = self.ops.new_dynamic_label();
        dynasm!(self.ops ; .arch aarch64 ; =>again);
        self.ucall(UcallCmd::Done, 0, "", "", &[]);
        dynasm!(self.ops ; .arch aarch64 ; b =>again);
        self
    }

    /// An undefined instruction (`udf #0`); returns its address.
    pub fn undefined_instruction(&mut self) -> u64 {
        let at = self.here();
        dynasm!(self.ops ; .arch aarch64 ; udf 0);
        at
    }

    /// A 64-bit load from guest address `addr`; returns the load's address.
    pub fn load_from(&mut self, addr: u64) -> u64 {
        load_imm64(&mut self.ops, RX::X1, addr);
        let at = self.here();
        dynasm!(self.ops ; .arch aarch64 ; ldr x0, [x1]);
        at
    }

    /// An endless loop with no exit; returns its address.
    pub fn spin(&mut self) -> u64 {
        let at = self.here();
        let top = self.ops.new_dynamic_label();
        dynasm!(self.ops ; .arch aarch64 ; =>top ; b =>top);
        at
    }

    /// The assembled payload, entered at its first instruction.
    pub fn finish(self) -> Result<Payload> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let code = self.ops.finalize().map_err(|e| Error::Config(format!("assembling the guest: {e:?}")))?;
        Ok(Payload::code(code))
    }
}
