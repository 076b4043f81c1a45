//! Run-time assembled arm64 guests (dynasm): write instructions with
//! `dynasm!(guest.ops() ; .arch aarch64 ; ...)` and emit ucalls with the
//! helpers, which fill the vCPU's message buffer (found through TPIDR_EL1)
//! and call the doorbell exactly as the Rust guest runtime does. A ucall
//! clobbers what a C call may: x0-x17 and x30. Hostile guests
//! (tests/hostile.rs) build any message, valid or not, with `write_message`
//! and `ring_doorbell`; the x86_64 `AsmGuest` has the same methods.

use dynasmrt::aarch64::{Aarch64Relocation, RX};
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{boot_offsets as boot, ucall_offsets as uc, UcallCmd, UCALL_MAX_ARGS, UCALL_TEXT_MAX};

use super::firmware::{load_imm32, load_imm64};
use super::layout::PAYLOAD_BASE;
use super::regs::TPIDR_EL1;
use crate::payload::Payload;
use crate::ucall::{MessageAt, RawUcall};
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
        self.write_message(MessageAt::Buffer, &raw).ring_doorbell(MessageAt::Buffer)
    }

    /// x9 = this vCPU's boot info, x0 = the address of `at` (the doorbell's argument).
    fn message_address(&mut self, at: MessageAt) {
        let tpidr = TPIDR_EL1.mrs_imm();
        dynasm!(self.ops ; .arch aarch64 ; mrs x9, tpidr);
        match at {
            MessageAt::Buffer => dynasm!(self.ops ; .arch aarch64 ; ldr x0, [x9, boot::UCALL_BUF as u32]),
            MessageAt::Addr(addr) => load_imm64(&mut self.ops, RX::X0, addr),
        }
    }

    /// Writes `msg` at `at` exactly as given, valid or not, without ringing
    /// the doorbell: the header, `args[..nargs]` (at most all six) and `text`.
    pub fn write_message(&mut self, at: MessageAt, msg: &RawUcall<'_>) -> &mut Self {
        if msg.text.len() > UCALL_TEXT_MAX {
            self.error.get_or_insert(Error::Config(format!(
                "a message with {} text bytes would overrun its {UCALL_TEXT_MAX}-byte text field",
                msg.text.len()
            )));
            return self;
        }
        self.message_address(at);
        let ops = &mut self.ops;
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
        self
    }

    /// Calls the doorbell routine with the message address `at`, as a ucall
    /// does once its message is written; writes nothing itself.
    pub fn ring_doorbell(&mut self, at: MessageAt) -> &mut Self {
        self.message_address(at);
        dynasm!(self.ops
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

    /// A 64-bit store of `value` to guest address `addr`; returns the store's address.
    pub fn store_u64(&mut self, addr: u64, value: u64) -> u64 {
        load_imm64(&mut self.ops, RX::X1, addr);
        load_imm64(&mut self.ops, RX::X2, value);
        let at = self.here();
        dynasm!(self.ops ; .arch aarch64 ; str x2, [x1]);
        at
    }

    /// A 32-bit store of `value` to guest address `addr`; returns the store's address.
    pub fn store_u32(&mut self, addr: u64, value: u32) -> u64 {
        load_imm64(&mut self.ops, RX::X1, addr);
        load_imm32(&mut self.ops, RX::X2, value);
        let at = self.here();
        dynasm!(self.ops ; .arch aarch64 ; str w2, [x1]);
        at
    }

    /// Masks interrupts and waits for one forever (DAIF set; WFI): the vCPU
    /// sleeps in the kernel, and only the watchdog's signal gets it out.
    /// Returns the WFI's address.
    pub fn halt_forever(&mut self) -> u64 {
        let top = self.ops.new_dynamic_label();
        dynasm!(self.ops ; .arch aarch64 ; msr daifset, 0xf ; =>top);
        let at = self.here();
        dynasm!(self.ops ; .arch aarch64 ; wfi ; b =>top);
        at
    }

    /// Emits `body` for vCPU `id` only; the other vCPUs jump over it.
    pub fn on_vcpu(&mut self, id: u32, body: impl FnOnce(&mut Self)) -> &mut Self {
        let skip = self.ops.new_dynamic_label();
        let tpidr = TPIDR_EL1.mrs_imm();
        dynasm!(self.ops
            ; .arch aarch64
            ; mrs x9, tpidr
            ; ldr x10, [x9, boot::VCPU_ID as u32]
        );
        load_imm64(&mut self.ops, RX::X11, u64::from(id));
        dynasm!(self.ops ; .arch aarch64 ; cmp x10, x11 ; b.ne =>skip);
        body(self);
        dynasm!(self.ops ; .arch aarch64 ; =>skip);
        self
    }

    /// Emits `body` in an endless loop.
    pub fn forever(&mut self, body: impl FnOnce(&mut Self)) -> &mut Self {
        let top = self.ops.new_dynamic_label();
        dynasm!(self.ops ; .arch aarch64 ; =>top);
        body(self);
        dynasm!(self.ops ; .arch aarch64 ; b =>top);
        self
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
