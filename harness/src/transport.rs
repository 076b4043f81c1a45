//! The names both sides of a ucall agree on before any VM exists: which
//! transport a test picks, what each arch's doorbell routine does, and the
//! hand-made messages of hostile guests. A leaf: `arch/` turns these into
//! guest code and `ucall/` into host transports, neither through the other.

use std::fmt;

use kvmtest_abi::{UcallCmd, UCALL_MAGIC, UCALL_MAX_ARGS};

/// What the guest's doorbell routine does; each arch turns it into code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doorbell {
    /// `out dx, eax` with the message address (x86 only).
    PortOut {
        /// The I/O port.
        port: u16,
    },
    /// A store of the message address to an address with no memslot.
    MmioWrite {
        /// The guest physical address, outside every memslot.
        addr: u64,
    },
    /// HLT (x86, no in-kernel LAPIC): the message is in the vCPU's slot.
    Halt,
    /// An HVC with SMCCC function `func_id`, forwarded to userspace by the
    /// SMCCC filter as KVM_EXIT_HYPERCALL (arm64); the message is in the vCPU's slot.
    Hypercall {
        /// The SMCCC function id the filter forwards.
        func_id: u32,
    },
    /// PSCI SYSTEM_SUSPEND, giving KVM_EXIT_SYSTEM_EVENT (arm64); the message
    /// is in the vCPU's slot.
    SystemSuspend,
}

/// The transports, as a test names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The guest passes its message's address through an I/O port exit.
    Pio,
    /// The guest writes its message's address to an unmapped address.
    Mmio,
    /// The message sits in the vCPU's pre-arranged slot; the guest halts
    /// (x86: HLT; arm64: PSCI SYSTEM_SUSPEND, see `ucall/halt.rs`).
    Halt,
    /// The host allocates the message buffer up front and hands it to the
    /// guest; the guest fills it and rings a doorbell. No guest pointer is
    /// ever translated (the confidential-guest case).
    Shared,
    /// arm64: an HVC doorbell forwarded to userspace by the SMCCC filter.
    Hvc,
}

impl TransportKind {
    /// Lower-case name used in test names (`ucall::mmio::sync::elf`).
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Pio => "pio",
            TransportKind::Mmio => "mmio",
            TransportKind::Halt => "halt",
            TransportKind::Shared => "shared",
            TransportKind::Hvc => "hvc",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A ucall message with every header field chosen by the test, valid or
/// not: what a hostile guest can put in memory. The run-time assembler
/// writes it with `AsmGuest::write_message`; the host must reject what is
/// wrong with a [`crate::Error::BadUcall`] naming the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawUcall<'a> {
    /// [`UCALL_MAGIC`], or anything else.
    pub magic: u32,
    /// A [`UcallCmd`] as a number, or any other number.
    pub cmd: u32,
    /// Source line (ABORT).
    pub line: u32,
    /// How many of `args` are valid.
    pub nargs: u32,
    /// Length of the file name at the start of `text`.
    pub file_len: u32,
    /// Length of the message after the file name.
    pub msg_len: u32,
    /// The values.
    pub args: [u64; UCALL_MAX_ARGS],
    /// Bytes written after the header (file name, then message); the
    /// lengths above need not match it.
    pub text: &'a [u8],
}

impl RawUcall<'static> {
    /// A well-formed header for `cmd` with no arguments and no text.
    pub const fn new(cmd: UcallCmd) -> Self {
        RawUcall {
            magic: UCALL_MAGIC,
            cmd: cmd as u32,
            line: 0,
            nargs: 0,
            file_len: 0,
            msg_len: 0,
            args: [0; UCALL_MAX_ARGS],
            text: &[],
        }
    }
}

/// Where a hand-made message goes, or which address a doorbell passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAt {
    /// The vCPU's own message buffer (from its boot info).
    Buffer,
    /// Any guest address, in guest RAM or not.
    Addr(u64),
}
