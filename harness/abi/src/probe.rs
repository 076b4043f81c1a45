//! The `hypercall_probe` payload's contract (x86_64): boot argument 0 picks
//! a probe kind, the following arguments its operands, and the guest reports
//! with SYNC(1, ...). Guest: guest-payloads/payloads/src/bin/hypercall_probe.rs;
//! host: harness/src/kvm_api/x86_64/probe.rs.

/// What the probe payload does next (boot argument 0).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Stop probing: the guest returns (DONE).
    Done = 0,
    /// RDMSR and/or WRMSR: 1 = index, 2 = value, 3 = [`MSR_READ`] | [`MSR_WRITE`] (0: both).
    Msr = 1,
    /// A KVM hypercall: 1 = nr, 2..=5 = a0..a3, 6 = instruction ([`FOREIGN_INSN`] or 0).
    Hcall = 2,
    /// CPUID: 1 = leaf, 2 = subleaf.
    Cpuid = 3,
    /// A Hyper-V hypercall: 1 = control, 2 = input GPA, 3 = output GPA.
    HvHcall = 4,
    /// A Xen hypercall: 1 = nr, 2 = instruction ([`FOREIGN_INSN`] or 0).
    XenHcall = 5,
    /// A Xen hypercall through the hypercall page: 1 = nr, 2 = page GPA.
    XenPageHcall = 6,
    /// A Hyper-V hypercall through the Hyper-V hypercall page: 1 = control,
    /// 2 = input GPA, 3 = output GPA, 4 = page GPA.
    HvPageHcall = 7,
}

/// A boot argument that names no [`ProbeKind`]; holds the raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownProbeKind(pub u64);

impl TryFrom<u64> for ProbeKind {
    type Error = UnknownProbeKind;
    fn try_from(raw: u64) -> Result<Self, Self::Error> {
        Ok(match raw {
            0 => Self::Done,
            1 => Self::Msr,
            2 => Self::Hcall,
            3 => Self::Cpuid,
            4 => Self::HvHcall,
            5 => Self::XenHcall,
            6 => Self::XenPageHcall,
            7 => Self::HvPageHcall,
            other => return Err(UnknownProbeKind(other)),
        })
    }
}

/// [`ProbeKind::Msr`] access bit: RDMSR (boot argument 3).
pub const MSR_READ: u64 = 1;
/// [`ProbeKind::Msr`] access bit: WRMSR (boot argument 3).
pub const MSR_WRITE: u64 = 2;

/// [`ProbeKind::Hcall`] with the other vendor's instruction (boot argument 6),
/// what KVM_X86_QUIRK_FIX_HYPERCALL_INSN patches.
pub const FOREIGN_INSN: u64 = 1;

/// Reported in place of an exception vector when nothing faulted.
pub const NO_EXCEPTION: u64 = 0x100;

/// Xen hypercall parameter i (1-based) is `XEN_ARG_BASE + i` (xen_vmcall_test.c's ARGVALUE).
pub const XEN_ARG_BASE: u64 = 0xdead_beef_5a5a_0000;
