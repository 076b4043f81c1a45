//! Run-time assembled x86_64 guests (dynasm): write instructions with
//! `dynasm!(guest.ops() ; .arch x64 ; ...)` and emit ucalls with the helpers,
//! which fill the vCPU's message buffer and call the doorbell exactly as the
//! Rust guest runtime does. Hostile guests (tests/hostile.rs) build any
//! message, valid or not, with `write_message` and `ring_doorbell`. Every
//! public method here is arch-neutral in meaning: the aarch64 `AsmGuest`
//! provides the same ones.

use dynasmrt::{dynasm, x64::X64Relocation, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{boot_offsets as boot, ucall_offsets as uc, UcallCmd, UCALL_MAGIC, UCALL_MAX_ARGS, UCALL_TEXT_MAX};

use super::layout::PAYLOAD_BASE;
use crate::payload::Payload;
use crate::ucall::{MessageAt, RawUcall};
use crate::{Error, Result};

/// The dynasm assembler of this arch, positioned at the payload base.
pub type Assembler = VecAssembler<X64Relocation>;

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

    /// The raw assembler, for `dynasm!(g.ops() ; .arch x64 ; ...)`.
    pub fn ops(&mut self) -> &mut Assembler {
        &mut self.ops
    }

    /// Guest address the next instruction will have.
    pub fn here(&self) -> u64 {
        PAYLOAD_BASE + self.ops.offset().0 as u64
    }

    /// Stores `value` at `[rax + offset]`: one instruction when it fits a
    /// sign-extended imm32, else through rdx.
    fn store_field(&mut self, offset: usize, value: u64) {
        let ops = &mut self.ops;
        match i32::try_from(value as i64) {
            Ok(imm) => dynasm!(ops ; .arch x64 ; mov QWORD [rax + offset as i32], imm),
            Err(_) => dynasm!(ops ; .arch x64 ; mov rdx, QWORD value as i64 ; mov [rax + offset as i32], rdx),
        }
    }

    fn check(&mut self, args: &[u64], text_len: usize) -> bool {
        if args.len() > UCALL_MAX_ARGS || text_len > UCALL_TEXT_MAX {
            self.error.get_or_insert(Error::Config(format!(
                "ucall with {} args and {text_len} text bytes: at most {UCALL_MAX_ARGS} and {UCALL_TEXT_MAX}",
                args.len(),
            )));
            return false;
        }
        true
    }

    /// The message head every ucall has: buffer address in rax (where the
    /// doorbell takes it), magic, command, argument count and arguments.
    fn head(&mut self, cmd: UcallCmd, args: &[u64]) {
        let ops = &mut self.ops;
        dynasm!(ops
            ; .arch x64
            ; gs mov rax, QWORD [boot::UCALL_BUF as i32]
            ; mov DWORD [rax + uc::MAGIC as i32], UCALL_MAGIC as i32
            ; mov DWORD [rax + uc::CMD as i32], cmd as i32
            ; mov DWORD [rax + uc::NARGS as i32], args.len() as i32
        );
        for (i, a) in args.iter().enumerate() {
            self.store_field(uc::ARGS + 8 * i, *a);
        }
    }

    fn ring(&mut self) {
        dynasm!(self.ops ; .arch x64 ; gs call QWORD [boot::UCALL_FN as i32]);
    }

    /// SYNC and DONE: the head only. The host reads neither `line` nor the
    /// text lengths of these, so a SYNC with one small value is six
    /// instructions before the doorbell: each guest instruction after an
    /// exit costs about a microsecond on an emulating backend (PVM).
    fn short_ucall(&mut self, cmd: UcallCmd, args: &[u64]) -> &mut Self {
        if self.check(args, 0) {
            self.head(cmd, args);
            self.ring();
        }
        self
    }

    fn ucall(&mut self, cmd: UcallCmd, line: u32, file: &str, msg: &str, args: &[u64]) -> &mut Self {
        if !self.check(args, file.len() + msg.len()) {
            return self;
        }
        self.head(cmd, args);
        let ops = &mut self.ops;
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
            self.store_field(uc::TEXT + 8 * i, u64::from_le_bytes(word));
        }
        self.ring();
        self
    }

    /// Puts the address of `at` in rax, where the doorbell takes it.
    fn message_address(&mut self, at: MessageAt) {
        match at {
            MessageAt::Buffer => dynasm!(self.ops ; .arch x64 ; gs mov rax, QWORD [boot::UCALL_BUF as i32]),
            MessageAt::Addr(addr) => dynasm!(self.ops ; .arch x64 ; mov rax, QWORD addr as i64),
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
        dynasm!(self.ops
            ; .arch x64
            ; mov DWORD [rax + uc::MAGIC as i32], msg.magic as i32
            ; mov DWORD [rax + uc::CMD as i32], msg.cmd as i32
            ; mov DWORD [rax + uc::LINE as i32], msg.line as i32
            ; mov DWORD [rax + uc::NARGS as i32], msg.nargs as i32
            ; mov DWORD [rax + uc::FILE_LEN as i32], msg.file_len as i32
            ; mov DWORD [rax + uc::MSG_LEN as i32], msg.msg_len as i32
        );
        for (i, a) in msg.args.iter().enumerate().take(msg.nargs as usize) {
            self.store_field(uc::ARGS + 8 * i, *a);
        }
        for (i, chunk) in msg.text.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.store_field(uc::TEXT + 8 * i, u64::from_le_bytes(word));
        }
        self
    }

    /// Calls the doorbell routine with the message address `at`, as a ucall
    /// does once its message is written; writes nothing itself.
    pub fn ring_doorbell(&mut self, at: MessageAt) -> &mut Self {
        self.message_address(at);
        self.ring();
        self
    }

    /// GUEST_SYNC: stage plus up to five values.
    pub fn sync(&mut self, stage: u64, args: &[u64]) -> &mut Self {
        let mut all = [0u64; UCALL_MAX_ARGS + 1];
        let n = args.len().min(UCALL_MAX_ARGS);
        all[0] = stage;
        all[1..=n].copy_from_slice(&args[..n]);
        // More than five values fails in `check`, as for any ucall.
        let all = if args.len() < UCALL_MAX_ARGS { &all[..=n] } else { &all[..] };
        self.short_ucall(UcallCmd::Sync, all)
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
        dynasm!(self.ops ; .arch x64 ; =>again);
        self.short_ucall(UcallCmd::Done, &[]);
        dynasm!(self.ops ; .arch x64 ; jmp =>again);
        self
    }

    /// An undefined instruction (UD2); returns its address.
    pub fn undefined_instruction(&mut self) -> u64 {
        let at = self.here();
        dynasm!(self.ops ; .arch x64 ; ud2);
        at
    }

    /// A 64-bit load from guest address `addr`; returns the load's address.
    pub fn load_from(&mut self, addr: u64) -> u64 {
        dynasm!(self.ops ; .arch x64 ; mov rax, QWORD addr as i64);
        let at = self.here();
        dynasm!(self.ops ; .arch x64 ; mov rax, [rax]);
        at
    }

    /// An endless loop with no exit; returns its address.
    pub fn spin(&mut self) -> u64 {
        let at = self.here();
        let top = self.ops.new_dynamic_label();
        dynasm!(self.ops ; .arch x64 ; =>top ; jmp =>top);
        at
    }

    /// A 64-bit store of `value` to guest address `addr`; returns the store's address.
    pub fn store_u64(&mut self, addr: u64, value: u64) -> u64 {
        dynasm!(self.ops ; .arch x64 ; mov rax, QWORD addr as i64 ; mov rcx, QWORD value as i64);
        let at = self.here();
        dynasm!(self.ops ; .arch x64 ; mov [rax], rcx);
        at
    }

    /// A 32-bit store of `value` to guest address `addr`; returns the store's address.
    pub fn store_u32(&mut self, addr: u64, value: u32) -> u64 {
        dynasm!(self.ops ; .arch x64 ; mov rax, QWORD addr as i64 ; mov ecx, value as i32);
        let at = self.here();
        dynasm!(self.ops ; .arch x64 ; mov [rax], ecx);
        at
    }

    /// Masks interrupts and waits for one forever (CLI; HLT): with an
    /// in-kernel irqchip the vCPU sleeps in the kernel, and only the
    /// watchdog's signal gets it out. Returns the halt's address.
    pub fn halt_forever(&mut self) -> u64 {
        let top = self.ops.new_dynamic_label();
        dynasm!(self.ops ; .arch x64 ; cli ; =>top);
        let at = self.here();
        dynasm!(self.ops ; .arch x64 ; hlt ; jmp =>top);
        at
    }

    /// Emits `body` for vCPU `id` only; the other vCPUs jump over it.
    pub fn on_vcpu(&mut self, id: u32, body: impl FnOnce(&mut Self)) -> &mut Self {
        let skip = self.ops.new_dynamic_label();
        dynasm!(self.ops
            ; .arch x64
            ; gs mov rax, QWORD [boot::VCPU_ID as i32]
            ; cmp rax, id as i32
            ; jne =>skip
        );
        body(self);
        dynasm!(self.ops ; .arch x64 ; =>skip);
        self
    }

    /// Emits `body` in an endless loop.
    pub fn forever(&mut self, body: impl FnOnce(&mut Self)) -> &mut Self {
        let top = self.ops.new_dynamic_label();
        dynasm!(self.ops ; .arch x64 ; =>top);
        body(self);
        dynasm!(self.ops ; .arch x64 ; jmp =>top);
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
