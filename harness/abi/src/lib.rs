//! The contract between the kvmtest host harness and its guests.
//!
//! Both sides compile this one file, so the layout of a ucall message and of
//! the per-vCPU boot information cannot drift apart. Everything here is
//! `#[repr(C)]`, plain integers, and free of pointers the host would have to
//! trust: the host reads these structures from guest memory with bounds checks.
#![no_std]

pub mod arch_timer;
pub mod cpuid_test;
pub mod faults;
pub mod irq_test;
pub mod kvm_clock;
pub mod memslots;
pub mod platform_info;
pub mod print_test;
pub mod probe;
pub mod smccc;
pub mod steal_time;
pub mod ucall_test;
pub mod userspace_io;
pub mod vmx;
pub mod xen_shinfo;

/// `"UCAL"` in little-endian: marks a buffer the guest really filled in.
pub const UCALL_MAGIC: u32 = 0x4c41_4355;

/// Number of `u64` arguments a ucall carries.
pub const UCALL_MAX_ARGS: usize = 6;

/// Bytes of text (file name followed by message) a ucall carries.
pub const UCALL_TEXT_MAX: usize = 1024;

/// The I/O port of the PIO transport's doorbell (x86): the kernel
/// selftests' UCALL_PIO_PORT.
pub const UCALL_PIO_PORT: u16 = 0x1000;

/// The SMCCC function id of the hvc transport's doorbell (arm64):
/// `ARM_SMCCC_CALL_VAL(FAST_CALL, SMC_64, OWNER_VENDOR_HYP, 0x5543)` ("UC"),
/// in the vendor-specific hypervisor range, where KVM implements only a few
/// SMC32 calls (UID, KVM features, PTP), so this ID reaches no in-kernel
/// service and the SMCCC filter may claim it.
pub const UCALL_HVC_FUNC_ID: u32 = 0xc600_5543;

/// Guest-to-host message kinds.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UcallCmd {
    /// A checkpoint: `args[0]` is the stage, the rest are free values.
    Sync = 1,
    /// The guest finished successfully.
    Done = 2,
    /// A failed guest assertion: `line`, file name and message in `text`, values in `args`.
    Abort = 3,
    /// A line of guest output in `text`.
    Printf = 4,
    /// Sent by the harness's exception stubs: see [`ExceptionArgs`].
    Exception = 5,
}

impl UcallCmd {
    /// Decodes a raw command word.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Sync),
            2 => Some(Self::Done),
            3 => Some(Self::Abort),
            4 => Some(Self::Printf),
            5 => Some(Self::Exception),
            _ => None,
        }
    }
}

/// The fixed-size head of a ucall message. The host reads only this for
/// SYNC and DONE, so the common path copies 72 bytes. SYNC and DONE need only
/// `magic`, `cmd`, `nargs` and `args`: the host reads `line` and the text
/// lengths for ABORT and PRINTF alone, so a guest may leave them stale (each
/// guest store is an emulated instruction on some backends).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UcallHeader {
    /// [`UCALL_MAGIC`] once the guest has filled the message in.
    pub magic: u32,
    /// A [`UcallCmd`], raw.
    pub cmd: u32,
    /// Source line of an ABORT.
    pub line: u32,
    /// Valid entries in `args`.
    pub nargs: u32,
    /// Length of the file name at the start of `text` (ABORT only).
    pub file_len: u32,
    /// Length of the message following the file name.
    pub msg_len: u32,
    /// The values: `nargs` of them are valid.
    pub args: [u64; UCALL_MAX_ARGS],
}

/// A whole ucall message as it sits in guest memory.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct UcallMsg {
    /// The fixed-size head.
    pub header: UcallHeader,
    /// File name (ABORT) and message (ABORT, PRINTF), lengths in the header.
    pub text: [u8; UCALL_TEXT_MAX],
}

/// Size in bytes of [`UcallHeader`].
pub const UCALL_HEADER_SIZE: usize = core::mem::size_of::<UcallHeader>();
/// Size in bytes of [`UcallMsg`].
pub const UCALL_MSG_SIZE: usize = core::mem::size_of::<UcallMsg>();
/// Byte offsets into [`UcallHeader`], for assembly that fills one in.
pub mod ucall_offsets {
    /// Of `UcallHeader::magic`.
    pub const MAGIC: usize = 0;
    /// Of `UcallHeader::cmd`.
    pub const CMD: usize = 4;
    /// Of `UcallHeader::line`.
    pub const LINE: usize = 8;
    /// Of `UcallHeader::nargs`.
    pub const NARGS: usize = 12;
    /// Of `UcallHeader::file_len`.
    pub const FILE_LEN: usize = 16;
    /// Of `UcallHeader::msg_len`.
    pub const MSG_LEN: usize = 20;
    /// Of `UcallHeader::args`.
    pub const ARGS: usize = 24;
    /// Of `UcallMsg::text`.
    pub const TEXT: usize = super::UCALL_HEADER_SIZE;
}

/// Positions of the values in an EXCEPTION ucall's `args`.
pub struct ExceptionArgs;
impl ExceptionArgs {
    /// Vector (x86) or exception class from ESR (arm64).
    pub const VECTOR: usize = 0;
    /// Error code (x86) or full ESR_EL1 (arm64).
    pub const ERROR_CODE: usize = 1;
    /// Faulting RIP / ELR_EL1.
    pub const PC: usize = 2;
    /// CR2 (x86) or FAR_EL1 (arm64).
    pub const FAULT_ADDR: usize = 3;
    /// Stack pointer at the time of the exception.
    pub const SP: usize = 4;
    /// Vector table slot (arm64) or 0.
    pub const SLOT: usize = 5;
}

/// Per-vCPU information the harness places in guest memory before the first
/// KVM_RUN. The guest finds its own copy through GS base (x86_64) or
/// TPIDR_EL1 (aarch64), so no global variable is shared between vCPUs.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VcpuBootInfo {
    /// Guest address of the doorbell routine: called with the message address
    /// in rax on x86_64 (where `out` and `mov [moffs], rax` take it, so the
    /// routine moves nothing) and in x0 on aarch64; returns when the host
    /// resumes the vCPU.
    pub ucall_fn: u64,
    /// Where this vCPU builds its ucall messages.
    pub ucall_buf: u64,
    /// Index of this vCPU.
    pub vcpu_id: u64,
    /// If non-zero, the next exception resumes execution here instead of being
    /// reported, and stores its vector in `exc_vector` (rdmsr_safe-style probes).
    pub exc_fixup: u64,
    /// Vector of the last exception taken through `exc_fixup`.
    pub exc_vector: u64,
    /// Transport in use, see [`TransportId`].
    pub transport: u64,
    /// Test-defined arguments.
    pub args: [u64; BOOT_ARGS],
    /// If non-zero, the guest address of a C-ABI function the firmware calls
    /// for each interrupt (arm64 IRQ vector), which then returns to the
    /// interrupted code; zero reports an interrupt as an exception. Set by the
    /// guest (the runtime's `irq::set_handler`).
    pub irq_handler: u64,
    /// arm64: if non-zero, the guest's handler of synchronous exceptions at
    /// EL1: the firmware calls `extern "C" fn(regs: *mut ExRegs, ec: u64) ->
    /// u64` and, when it returns non-zero, resumes at `regs.pc` with
    /// `regs.pstate` and the registers as the handler left them (the
    /// selftests' vm_install_sync_handler()); zero reports the exception.
    pub exc_handler: u64,
}

/// arm64: the frame the firmware passes to the guest's exception handler
/// (the selftests' `struct ex_regs`): x0-x30 as interrupted, ELR_EL1 and
/// SPSR_EL1 (written back on return), and the vector slot.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExRegs {
    /// x0-x30.
    pub regs: [u64; 31],
    /// ELR_EL1: where the guest resumes.
    pub pc: u64,
    /// SPSR_EL1: the PSTATE it resumes with.
    pub pstate: u64,
    /// The vector table slot the exception came through.
    pub slot: u64,
}

/// Byte offsets into [`ExRegs`], for assembly.
pub mod ex_regs_offsets {
    /// Of `ExRegs::pc`.
    pub const PC: usize = 31 * 8;
    /// Of `ExRegs::pstate`.
    pub const PSTATE: usize = 32 * 8;
    /// Of `ExRegs::slot`.
    pub const SLOT: usize = 33 * 8;
    /// Size of the frame (a multiple of 16, as SP must stay aligned).
    pub const SIZE: usize = 34 * 8;
}

/// Number of test-defined boot arguments.
pub const BOOT_ARGS: usize = 8;

/// Byte offsets into [`VcpuBootInfo`], for assembly.
pub mod boot_offsets {
    /// Of `VcpuBootInfo::ucall_fn`.
    pub const UCALL_FN: usize = 0;
    /// Of `VcpuBootInfo::ucall_buf`.
    pub const UCALL_BUF: usize = 8;
    /// Of `VcpuBootInfo::vcpu_id`.
    pub const VCPU_ID: usize = 16;
    /// Of `VcpuBootInfo::exc_fixup`.
    pub const EXC_FIXUP: usize = 24;
    /// Of `VcpuBootInfo::exc_vector`.
    pub const EXC_VECTOR: usize = 32;
    /// Of `VcpuBootInfo::transport`.
    pub const TRANSPORT: usize = 40;
    /// Of `VcpuBootInfo::args`.
    pub const ARGS: usize = 48;
    /// Of `VcpuBootInfo::irq_handler`.
    pub const IRQ_HANDLER: usize = 112;
    /// Of `VcpuBootInfo::exc_handler`.
    pub const EXC_HANDLER: usize = 120;
}

/// Size of one vCPU's boot-info record in guest memory.
pub const BOOT_INFO_STRIDE: usize = 128;

/// Identifiers of the ucall transports, as the guest sees them.
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportId {
    /// An OUT of the message address to the ucall I/O port.
    Pio = 1,
    /// A store of the message address to an unmapped address.
    Mmio = 2,
    /// The message in a pre-arranged slot, then HLT (x86_64) or PSCI SYSTEM_SUSPEND (arm64).
    Halt = 3,
    /// A buffer the host allocates up front, with a doorbell.
    Shared = 4,
    /// An HVC with the ucall function id (arm64).
    Hvc = 5,
}

const _: () = {
    assert!(UCALL_HEADER_SIZE == 72);
    assert!(core::mem::size_of::<VcpuBootInfo>() <= BOOT_INFO_STRIDE);
    assert!(core::mem::offset_of!(UcallHeader, args) == ucall_offsets::ARGS);
    assert!(core::mem::offset_of!(UcallHeader, msg_len) == ucall_offsets::MSG_LEN);
    assert!(core::mem::offset_of!(VcpuBootInfo, args) == boot_offsets::ARGS);
    assert!(core::mem::offset_of!(VcpuBootInfo, transport) == boot_offsets::TRANSPORT);
    assert!(core::mem::offset_of!(VcpuBootInfo, irq_handler) == boot_offsets::IRQ_HANDLER);
    assert!(core::mem::offset_of!(VcpuBootInfo, exc_handler) == boot_offsets::EXC_HANDLER);
    assert!(core::mem::offset_of!(ExRegs, pc) == ex_regs_offsets::PC);
    assert!(core::mem::offset_of!(ExRegs, pstate) == ex_regs_offsets::PSTATE);
    assert!(core::mem::offset_of!(ExRegs, slot) == ex_regs_offsets::SLOT);
    assert!(core::mem::size_of::<ExRegs>() == ex_regs_offsets::SIZE && ex_regs_offsets::SIZE.is_multiple_of(16));
};
