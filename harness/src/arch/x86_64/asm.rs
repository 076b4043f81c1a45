//! Run-time assembled x86_64 guests (dynasm): write instructions with
//! `dynasm!(guest.ops() ; .arch x64 ; ...)` and emit ucalls with the helpers,
//! which fill the vCPU's message buffer and call the doorbell exactly as the
//! Rust guest runtime does. Hostile guests (tests/hostile.rs) build any
//! message, valid or not, with `write_message` and `ring_doorbell`. Every
//! public method here is arch-neutral in meaning: the aarch64 `AsmGuest`
//! provides the same ones.

use dynasmrt::{dynasm, x64::X64Relocation, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{boot_offsets as boot, ucall_offsets as uc, UcallCmd, UCALL_MAX_ARGS, UCALL_TEXT_MAX};

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

    /// Puts the address of `at` in RDI, the doorbell's argument register.
    fn message_address(&mut self, at: MessageAt) {
        match at {
            MessageAt::Buffer => dynasm!(self.ops ; .arch x64 ; gs mov rdi, QWORD [boot::UCALL_BUF as i32]),
            MessageAt::Addr(addr) => dynasm!(self.ops ; .arch x64 ; mov rdi, QWORD addr as i64),
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
        dynasm!(ops
            ; .arch x64
            ; mov DWORD [rdi + uc::MAGIC as i32], msg.magic as i32
            ; mov DWORD [rdi + uc::CMD as i32], msg.cmd as i32
            ; mov DWORD [rdi + uc::LINE as i32], msg.line as i32
            ; mov DWORD [rdi + uc::NARGS as i32], msg.nargs as i32
            ; mov DWORD [rdi + uc::FILE_LEN as i32], msg.file_len as i32
            ; mov DWORD [rdi + uc::MSG_LEN as i32], msg.msg_len as i32
        );
        for (i, a) in msg.args.iter().enumerate().take(msg.nargs as usize) {
            dynasm!(ops ; .arch x64 ; mov rax, QWORD *a as i64 ; mov [rdi + (uc::ARGS + 8 * i) as i32], rax);
        }
        for (i, chunk) in msg.text.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            dynasm!(ops
                ; .arch x64
                ; mov rax, QWORD i64::from_le_bytes(word)
                ; mov [rdi + (uc::TEXT + 8 * i) as i32], rax
            );
        }
        self
    }

    /// Calls the doorbell routine with the message address `at`, as a ucall
    /// does once its message is written; writes nothing itself.
    pub fn ring_doorbell(&mut self, at: MessageAt) -> &mut Self {
        self.message_address(at);
        dynasm!(self.ops ; .arch x64 ; gs call QWORD [boot::UCALL_FN as i32]);
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
        dynasm!(self.ops ; .arch x64 ; =>again);
        self.ucall(UcallCmd::Done, 0, "", "", &[]);
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
