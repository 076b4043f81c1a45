//! The `ucall` payload's contract: boot argument 0 picks the kind of ucall
//! the guest sends (guest-payloads/payloads/src/bin/ucall.rs), and the
//! host's tests/ucall.rs checks each kind arrives intact over each transport.

/// The kind of ucall the `ucall` payload sends (boot argument 0).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UcallTestKind {
    /// SYNC(1, values) then SYNC(2).
    Sync = 0,
    /// One GUEST_PRINTF line.
    Printf = 1,
    /// SYNC([`ASSERT_LINE_STAGE`], line) then a failing assertion.
    Abort = 2,
    /// Nothing: the runtime's DONE alone.
    Done = 3,
}

/// A boot argument that names no [`UcallTestKind`]; holds the raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownUcallTestKind(pub u64);

impl TryFrom<u64> for UcallTestKind {
    type Error = UnknownUcallTestKind;
    fn try_from(raw: u64) -> Result<Self, Self::Error> {
        Ok(match raw {
            0 => Self::Sync,
            1 => Self::Printf,
            2 => Self::Abort,
            3 => Self::Done,
            other => return Err(UnknownUcallTestKind(other)),
        })
    }
}

/// Stage of the SYNC that announces the line of the failing assertion.
pub const ASSERT_LINE_STAGE: u64 = 100;
