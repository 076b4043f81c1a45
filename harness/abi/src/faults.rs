//! The `faults` self-test payload's contract: boot argument 0 picks the way
//! the guest misbehaves (guest-payloads/payloads/src/bin/faults.rs), and the
//! host's tests/selftest.rs checks the harness reports exactly that.

/// How the `faults` payload misbehaves (boot argument 0).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// An undefined instruction: #UD on x86_64, UNDEF (EC 0) on arm64.
    Ud = 0,
    /// A read of [`UNMAPPED`]: a page fault / data abort.
    PageFault = 1,
    /// A loop that never exits: the watchdog must stop it.
    EndlessLoop = 2,
    /// Unbounded recursion: the stack guard must catch it.
    StackOverflow = 3,
    /// A fixed-up read of an undefined register: a value, not a report.
    ProbeFault = 4,
    /// An out-of-bounds index (boot argument 1) on a 3-element array.
    Panic = 5,
}

/// A boot argument that names no [`FaultMode`]; holds the raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFaultMode(pub u64);

impl TryFrom<u64> for FaultMode {
    type Error = UnknownFaultMode;
    fn try_from(raw: u64) -> Result<Self, Self::Error> {
        Ok(match raw {
            0 => Self::Ud,
            1 => Self::PageFault,
            2 => Self::EndlessLoop,
            3 => Self::StackOverflow,
            4 => Self::ProbeFault,
            5 => Self::Panic,
            other => return Err(UnknownFaultMode(other)),
        })
    }
}

/// An address in the harness's unmapped null page, which [`FaultMode::PageFault`] reads.
pub const UNMAPPED: u64 = 0x10;
