//! Run-time assembled guests (dynasm): write instructions with
//! `dynasm!(guest.ops() ; .arch x64 ; ...)` (`.arch aarch64` on arm64) and
//! emit ucalls with the helpers, which fill the vCPU's message buffer and call
//! the doorbell exactly as the Rust guest runtime does. Hostile guests
//! (tests/hostile.rs) build any message, valid or not, with `write_message`
//! and `ring_doorbell`.
//!
//! Everything here is arch-neutral: the instructions come from the host
//! arch's [`AsmArch`] (`arch/<arch>/asm.rs`), so every method has the same
//! meaning on each arch.

use dynasmrt::{AssemblyOffset, DynasmApi, DynasmLabelApi, VecAssembler};
use kvmtest_abi::{UcallCmd, UCALL_MAX_ARGS, UCALL_TEXT_MAX};

use crate::arch::{AsmArch, HostArch};
use crate::payload::Payload;
use crate::ucall::{MessageAt, RawUcall};
use crate::{Error, Result};

/// The dynasm assembler of this arch, positioned at the payload base.
pub type Assembler = VecAssembler<<HostArch as AsmArch>::Relocation>;

/// A guest assembled at run time.
pub struct AsmGuest {
    ops: Assembler,
    /// The first misuse (a ucall too big for its message), reported by `finish`.
    error: Option<Error>,
}

impl Default for AsmGuest {
    fn default() -> Self {
        Self::new()
    }
}

impl AsmGuest {
    /// An empty guest, assembled for the payload region.
    pub fn new() -> Self {
        AsmGuest { ops: VecAssembler::new(HostArch::PAYLOAD_BASE as usize), error: None }
    }

    /// The raw assembler, for `dynasm!(g.ops() ; .arch <this arch> ; ...)`.
    pub fn ops(&mut self) -> &mut Assembler {
        &mut self.ops
    }

    /// Guest address the next instruction will have.
    pub fn here(&self) -> u64 {
        Self::address(self.ops.offset())
    }

    fn address(at: AssemblyOffset) -> u64 {
        HostArch::PAYLOAD_BASE + at.0 as u64
    }

    /// Whether a ucall with `nargs` arguments and `text_len` bytes of text
    /// fits its message; if not, remembers the error for `finish`.
    fn check(&mut self, nargs: usize, text_len: usize) -> bool {
        if nargs > UCALL_MAX_ARGS || text_len > UCALL_TEXT_MAX {
            self.error.get_or_insert(Error::Config(format!(
                "ucall with {nargs} args and {text_len} text bytes: at most {UCALL_MAX_ARGS} and {UCALL_TEXT_MAX}",
            )));
            return false;
        }
        true
    }

    fn ucall(&mut self, cmd: UcallCmd, line: u32, file: &str, msg: &str, args: &[u64]) -> &mut Self {
        if self.check(args.len(), file.len() + msg.len()) {
            HostArch::ucall(&mut self.ops, cmd, line, file, msg, args);
        }
        self
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
        HostArch::write_message(&mut self.ops, at, msg);
        self
    }

    /// Calls the doorbell routine with the message address `at`, as a ucall
    /// does once its message is written; writes nothing itself.
    pub fn ring_doorbell(&mut self, at: MessageAt) -> &mut Self {
        HostArch::ring_doorbell(&mut self.ops, at);
        self
    }

    /// GUEST_SYNC: stage plus up to five values.
    pub fn sync(&mut self, stage: u64, args: &[u64]) -> &mut Self {
        if self.check(1 + args.len(), 0) {
            let mut all = [0u64; UCALL_MAX_ARGS];
            all[0] = stage;
            all[1..=args.len()].copy_from_slice(args);
            HostArch::short_ucall(&mut self.ops, UcallCmd::Sync, &all[..=args.len()]);
        }
        self
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
        self.ops.dynamic_label(again);
        HostArch::short_ucall(&mut self.ops, UcallCmd::Done, &[]);
        HostArch::jump(&mut self.ops, again);
        self
    }

    /// An undefined instruction (x86_64 UD2, arm64 `udf #0`); returns its address.
    pub fn undefined_instruction(&mut self) -> u64 {
        Self::address(HostArch::undefined_instruction(&mut self.ops))
    }

    /// A 64-bit load from guest address `addr`; returns the load's address.
    pub fn load_from(&mut self, addr: u64) -> u64 {
        Self::address(HostArch::load_from(&mut self.ops, addr))
    }

    /// An endless loop with no exit; returns its address.
    pub fn spin(&mut self) -> u64 {
        let at = self.here();
        let top = self.ops.new_dynamic_label();
        self.ops.dynamic_label(top);
        HostArch::jump(&mut self.ops, top);
        at
    }

    /// A 64-bit store of `value` to guest address `addr`; returns the store's address.
    pub fn store_u64(&mut self, addr: u64, value: u64) -> u64 {
        Self::address(HostArch::store_u64(&mut self.ops, addr, value))
    }

    /// A 32-bit store of `value` to guest address `addr`; returns the store's address.
    pub fn store_u32(&mut self, addr: u64, value: u32) -> u64 {
        Self::address(HostArch::store_u32(&mut self.ops, addr, value))
    }

    /// Masks interrupts and waits for one forever (x86_64 CLI; HLT, arm64
    /// DAIF set; WFI): the vCPU sleeps in the kernel (on x86_64 with an
    /// in-kernel irqchip), and only the watchdog's signal gets it out.
    /// Returns the address of the halt.
    pub fn halt_forever(&mut self) -> u64 {
        Self::address(HostArch::halt_forever(&mut self.ops))
    }

    /// Emits `body` for vCPU `id` only; the other vCPUs jump over it.
    pub fn on_vcpu(&mut self, id: u32, body: impl FnOnce(&mut Self)) -> &mut Self {
        let skip = self.ops.new_dynamic_label();
        HostArch::jump_unless_vcpu(&mut self.ops, id, skip);
        body(self);
        self.ops.dynamic_label(skip);
        self
    }

    /// Emits `body` in an endless loop.
    pub fn forever(&mut self, body: impl FnOnce(&mut Self)) -> &mut Self {
        let top = self.ops.new_dynamic_label();
        self.ops.dynamic_label(top);
        body(self);
        HostArch::jump(&mut self.ops, top);
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
