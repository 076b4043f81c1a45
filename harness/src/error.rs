//! Typed errors of the harness. Every variant says what happened, where in the
//! guest (PC, vector, address) and why; the kernel's errno is kept wherever a
//! KVM ioctl failed so tests can assert on it.

use std::fmt;

use crate::regs::RegisterDump;

/// Result type of the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed guest assertion (an ABORT ucall).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestAssert {
    /// Index of the vCPU that asserted.
    pub vcpu: usize,
    /// Source file of the assertion, as the guest reported it.
    pub file: String,
    /// Source line of the assertion.
    pub line: u32,
    /// The assertion's message.
    pub msg: String,
    /// The values the guest passed along (e.g. left and right).
    pub values: Vec<u64>,
}

impl fmt::Display for GuestAssert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = if self.file.is_empty() { "<unknown file>" } else { &self.file };
        write!(f, "guest assertion failed on vCPU {} at {}:{}: {}", self.vcpu, file, self.line, self.msg)?;
        // The ABORT's arguments are the compared values (kvmtest-abi:
        // guest_assert_eq! sends left and right), each shown once, decimal and hex.
        match self.values.as_slice() {
            [] => Ok(()),
            [left, right] => write!(f, ": left {left} ({left:#x}), right {right} ({right:#x})"),
            values => {
                write!(f, ": values")?;
                for (i, v) in values.iter().enumerate() {
                    write!(f, "{} {v} ({v:#x})", if i == 0 { "" } else { "," })?;
                }
                Ok(())
            }
        }
    }
}

/// What an exception means, whatever the arch calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionKind {
    /// x86 #UD, arm64 EC 0x00 (unknown reason).
    UndefinedInstruction,
    /// A translation/permission fault on a data access: x86 #PF, arm64 data abort.
    PageFault,
    /// An instruction fetch fault: x86 #PF on fetch, arm64 instruction abort.
    InstructionFault,
    /// x86 #GP.
    GeneralProtection,
    /// Anything else.
    Other,
}

/// An exception the guest did not handle, as reported by the harness's stubs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestException {
    /// Index of the vCPU that took it.
    pub vcpu: usize,
    /// Human name of the vector / exception class (`#UD`, `#PF`, `Data Abort`).
    pub name: String,
    /// What kind of exception it is, across arches.
    pub kind: ExceptionKind,
    /// x86 vector number, or arm64 exception class (ESR_EL1.EC).
    pub vector: u64,
    /// x86 error code, or the full ESR_EL1.
    pub error_code: u64,
    /// Guest RIP / ELR_EL1 of the faulting instruction.
    pub pc: u64,
    /// CR2 / FAR_EL1.
    pub fault_addr: u64,
    /// Guest stack pointer when it was taken.
    pub sp: u64,
}

impl fmt::Display for GuestException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unhandled guest exception {} (vector {}) on vCPU {} at pc {:#x}, error code {:#x}, fault address {:#x}, sp {:#x}",
            self.name, self.vector, self.vcpu, self.pc, self.error_code, self.fault_addr, self.sp
        )
    }
}

/// Everything that can go wrong, from opening /dev/kvm to a guest's last ucall.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// /dev/kvm cannot be opened. A skip, unless `KVMTEST_REQUIRE_KVM=1`.
    #[error("/dev/kvm is not usable: {0}")]
    KvmUnavailable(std::io::Error),

    /// A requirement of the test is not met by this kernel or machine.
    #[error("{0}")]
    Skip(String),

    /// A KVM ioctl failed; `errno()` gives the kernel's errno.
    #[error("{op} failed: {source}")]
    Kvm {
        /// The ioctl, by its kernel name.
        op: &'static str,
        #[source]
        /// The error, with the errno.
        source: kvm_ioctls::Error,
    },

    /// The configuration asked for something impossible.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// Guest memory could not be created or accessed.
    #[error("guest memory: {0}")]
    Memory(String),

    /// A payload could not be loaded.
    #[error("payload: {0}")]
    Payload(#[from] crate::payload::PayloadError),

    /// The guest failed an assertion.
    #[error("{0}")]
    GuestAssert(Box<GuestAssert>),

    /// The guest took an exception it did not expect.
    #[error("{exception}\n{regs}")]
    GuestException {
        /// What the guest took, where.
        exception: Box<GuestException>,
        /// The vCPU's registers after the exception.
        regs: Box<RegisterDump>,
    },

    /// The guest sent a ucall the harness cannot decode.
    #[error("malformed ucall from vCPU {vcpu} (message at guest address {addr:#x}): {why}")]
    BadUcall {
        /// Index of the vCPU.
        vcpu: usize,
        /// Guest address of the message.
        addr: u64,
        /// What is wrong with it (which field).
        why: String,
    },

    /// The guest rang the ucall doorbell the wrong way (e.g. a 2-byte OUT
    /// to the ucall port): there is no message address to read.
    #[error("malformed ucall doorbell from vCPU {vcpu} at guest pc {pc:#x}: {why}")]
    BadDoorbell {
        /// Index of the vCPU.
        vcpu: usize,
        /// Guest pc of the doorbell instruction.
        pc: u64,
        /// What is wrong with it.
        why: String,
    },

    /// The guest sent a valid ucall the test did not expect here.
    #[error("unexpected ucall from vCPU {vcpu}: {ucall}")]
    UnexpectedUcall {
        /// Index of the vCPU.
        vcpu: usize,
        /// The ucall, debug-printed.
        ucall: String,
    },

    /// KVM_RUN returned with an exit no ucall transport claims.
    #[error("unexpected exit on vCPU {vcpu}: {exit} at pc {pc:#x}{hint}\n{regs}")]
    UnexpectedExit {
        /// Index of the vCPU.
        vcpu: usize,
        /// The exit, debug-printed.
        exit: String,
        /// Guest pc at the exit.
        pc: u64,
        /// What the exit likely means, or empty.
        hint: String,
        /// The vCPU's registers at the exit.
        regs: Box<RegisterDump>,
    },

    /// A test's exit handler stopped the run at an exit it handles itself
    /// ([`crate::ExitAction::Stop`]); expected by that test, a failure anywhere else.
    #[error("vCPU {vcpu} stopped by the test's exit handler at {exit}")]
    ExitStopped {
        /// Index of the vCPU.
        vcpu: usize,
        /// The exit the handler stopped at.
        exit: String,
    },

    /// The host kicked the vCPU out of KVM_RUN ([`crate::vcpu::Kicker`]).
    #[error("vCPU {vcpu} was kicked out of KVM_RUN by the host (guest pc {pc:#x})")]
    Kicked {
        /// Index of the vCPU.
        vcpu: usize,
        /// Guest pc when the run ended.
        pc: u64,
    },

    /// The guest ran longer than the watchdog allows without a ucall.
    #[error(
        "watchdog: vCPU {vcpu} ran {timeout_ms} ms without a ucall (guest pc {pc:#x}){hint}; raise it with Vm::builder().timeout(..) or KVMTEST_TIMEOUT_MS\n{regs}"
    )]
    Watchdog {
        /// Index of the vCPU.
        vcpu: usize,
        /// The watchdog's limit.
        timeout_ms: u64,
        /// Guest pc when the watchdog fired.
        pc: u64,
        /// What the guest is likely stuck on, or empty.
        hint: String,
        /// The vCPU's registers when the watchdog fired.
        regs: Box<RegisterDump>,
    },

    /// The guest kept printing for longer than the watchdog allows without
    /// a SYNC or DONE (`Vcpu::next_event`).
    #[error(
        "vCPU {vcpu} sent {lines} PRINTF lines in {timeout_ms} ms without a SYNC or DONE (last: {last:?}); raise the limit with Vm::builder().timeout(..) or KVMTEST_TIMEOUT_MS"
    )]
    PrintfFlood {
        /// Index of the vCPU.
        vcpu: usize,
        /// PRINTF lines received in that time.
        lines: u64,
        /// The watchdog's limit.
        timeout_ms: u64,
        /// The last line printed.
        last: String,
    },

    /// The arm64 or x86 code of the harness has no such feature.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A check made by the test itself failed.
    #[error("{0}")]
    Check(String),
}

impl Error {
    /// The kernel's errno, for errors that came from an ioctl.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kvm { source, .. } => Some(source.errno()),
            Error::KvmUnavailable(e) => e.raw_os_error(),
            _ => None,
        }
    }

    /// Wraps a kvm-ioctls error with the name of the operation.
    pub fn kvm(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Error {
        move |source| Error::Kvm { op, source }
    }

    /// True when this error means "not run", not "failed".
    pub fn is_skip(&self) -> bool {
        match self {
            Error::Skip(_) => true,
            Error::KvmUnavailable(_) => !kvm_required(),
            _ => false,
        }
    }
}

/// Fails a test with a formatted message, prefixed with the file and line
/// of the `bail!` (or `ensure!`): `bail!("STD_BMAP: expected {a}, got {b}")`
/// fails with `tests/aarch64/hypercalls.rs:120: STD_BMAP: expected 3, got 1`.
#[macro_export]
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::Error::Check(format!("{}:{}: {}", file!(), line!(), format_args!($($t)*))))
    };
}

/// Checks a condition inside a test, failing with the formatted message.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($t:tt)*) => { if !$cond { $crate::bail!($($t)*) } };
}

/// Environment variable that makes a missing /dev/kvm a failure.
pub const REQUIRE_KVM_ENV: &str = "KVMTEST_REQUIRE_KVM";

/// Whether a missing /dev/kvm must fail the run instead of skipping it.
pub fn kvm_required() -> bool {
    std::env::var(REQUIRE_KVM_ENV).is_ok_and(|v| v == "1")
}
