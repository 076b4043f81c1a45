//! Host side of the `hypercall_probe` payload: put a probe in the boot
//! arguments, run the vCPU to the guest's SYNC(1, ...), decode what
//! happened. The x86 scenarios (pv_features, exit_hypercall, fix_hypercall,
//! hyperv_features, xen_hypercall, migration) judge the outcomes against
//! the kernel's documented rule; they pass in the payload's bytes, which
//! the tests crate embeds.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use kvm_ioctls::VcpuExit;

use super::xen::XenHcall;
use crate::{bail, Error, ExitAction, Payload, Result, Ucall, Vcpu, Vm, VmBuilder};

// Probe kinds and constants shared with guest-payloads/payloads/src/bin/hypercall_probe.rs
// (their one definition: `kvmtest::abi::probe`).
use kvmtest_abi::probe::{ProbeKind, NO_EXCEPTION};
pub use kvmtest_abi::probe::{MSR_READ as READ, MSR_WRITE as WRITE, XEN_ARG_BASE};

/// #UD (x86 exception vectors).
pub const UD_VECTOR: u8 = 6;
/// #GP (x86 exception vectors).
pub const GP_VECTOR: u8 = 13;

/// Which hypercall instruction the guest uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insn {
    /// The CPU's own (VMMCALL on AMD, VMCALL on Intel).
    Native,
    /// The other vendor's: what KVM_X86_QUIRK_FIX_HYPERCALL_INSN patches.
    Foreign,
}

/// One thing for the guest to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// RDMSR and/or WRMSR of `value` (`ops`: READ | WRITE).
    Msr {
        /// The MSR.
        index: u32,
        /// What WRMSR writes.
        value: u64,
        /// [`READ`] and/or [`WRITE`].
        ops: u64,
    },
    /// A KVM hypercall.
    Hcall {
        /// Hypercall number (RAX).
        nr: u64,
        /// a0..a3 (RBX, RCX, RDX, RSI).
        args: [u64; 4],
        /// Which instruction makes the call.
        insn: Insn,
    },
    /// CPUID as the guest sees it.
    Cpuid {
        /// CPUID leaf (EAX in).
        leaf: u32,
        /// CPUID subleaf (ECX in).
        subleaf: u32,
    },
    /// A Hyper-V hypercall (control, input GPA, output GPA).
    HvHcall {
        /// The hypercall input value (code and flags).
        control: u64,
        /// Input parameters' GPA.
        input: u64,
        /// Output parameters' GPA.
        output: u64,
    },
    /// A Xen hypercall with `insn` (xen_vmcall_test issues a literal VMCALL:
    /// the CPU's own on Intel, the other vendor's on AMD).
    XenHcall {
        /// Hypercall number.
        nr: u64,
        /// Which instruction makes the call.
        insn: Insn,
    },
    /// A Xen hypercall through the hypercall page at `page`.
    XenPageHcall {
        /// Hypercall number.
        nr: u64,
        /// GPA of the hypercall page.
        page: u64,
    },
    /// A Hyper-V hypercall through the Hyper-V hypercall page at `page`.
    HvPageHcall {
        /// The hypercall input value (code and flags).
        control: u64,
        /// Input parameters' GPA.
        input: u64,
        /// Output parameters' GPA.
        output: u64,
        /// GPA of the Hyper-V hypercall page.
        page: u64,
    },
}

impl Probe {
    /// RDMSR then WRMSR of `value` to MSR `index`.
    pub const fn rdwr(index: u32, value: u64) -> Self {
        Probe::Msr { index, value, ops: READ | WRITE }
    }
    /// KVM hypercall `nr` with the CPU's own instruction.
    pub const fn hcall(nr: u64, args: [u64; 4]) -> Self {
        Probe::Hcall { nr, args, insn: Insn::Native }
    }

    fn args(&self) -> [u64; 7] {
        match *self {
            Probe::Msr { index, value, ops } => [ProbeKind::Msr as u64, index.into(), value, ops, 0, 0, 0],
            Probe::Hcall { nr, args: [a0, a1, a2, a3], insn } => {
                [ProbeKind::Hcall as u64, nr, a0, a1, a2, a3, u64::from(insn == Insn::Foreign)]
            }
            Probe::Cpuid { leaf, subleaf } => [ProbeKind::Cpuid as u64, leaf.into(), subleaf.into(), 0, 0, 0, 0],
            Probe::HvHcall { control, input, output } => [ProbeKind::HvHcall as u64, control, input, output, 0, 0, 0],
            Probe::XenHcall { nr, insn } => {
                [ProbeKind::XenHcall as u64, nr, u64::from(insn == Insn::Foreign), 0, 0, 0, 0]
            }
            Probe::XenPageHcall { nr, page } => [ProbeKind::XenPageHcall as u64, nr, page, 0, 0, 0, 0],
            Probe::HvPageHcall { control, input, output, page } => {
                [ProbeKind::HvPageHcall as u64, control, input, output, page, 0, 0]
            }
        }
    }
}

/// What one access did: completed (with the value read / returned) or faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Completed; the value read or returned.
    Ok(u64),
    /// Faulted with this vector.
    Fault(u8),
}

impl Access {
    fn decode(vector: u64, value: u64) -> Self {
        if vector == NO_EXCEPTION {
            Access::Ok(value)
        } else {
            Access::Fault(vector as u8)
        }
    }
    /// Whether the access completed.
    pub fn is_ok(&self) -> bool {
        matches!(self, Access::Ok(_))
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Ok(v) => write!(f, "completed ({v:#x})"),
            Access::Fault(6) => write!(f, "#UD"),
            Access::Fault(13) => write!(f, "#GP"),
            Access::Fault(v) => write!(f, "exception vector {v}"),
        }
    }
}

/// What the guest reported for a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The MSR accesses.
    Msr {
        /// RDMSR.
        read: Access,
        /// WRMSR.
        write: Access,
    },
    /// RAX (or the fault) and the guest address of the instruction used.
    Hcall {
        /// RAX, or the fault.
        ret: Access,
        /// Guest address of the instruction used.
        insn_addr: u64,
    },
    /// EAX, EBX, ECX, EDX.
    Cpuid([u32; 4]),
    /// The Hyper-V hypercall's result (RAX), or the fault.
    HvHcall(Access),
    /// The Xen hypercall's result (RAX).
    Xen(u64),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Msr { read, write } => write!(f, "RDMSR {read}, WRMSR {write}"),
            Outcome::Hcall { ret, .. } => write!(f, "hypercall {ret}"),
            Outcome::Cpuid([a, b, c, d]) => write!(f, "CPUID eax {a:#x} ebx {b:#x} ecx {c:#x} edx {d:#x}"),
            Outcome::HvHcall(a) => write!(f, "Hyper-V hypercall {a}"),
            Outcome::Xen(v) => write!(f, "Xen hypercall returned {v:#x}"),
        }
    }
}

impl Outcome {
    fn decode(p: &Probe, v: &[u64]) -> Result<Self> {
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        Ok(match p {
            Probe::Msr { .. } => Outcome::Msr { read: Access::decode(at(0), at(1)), write: Access::decode(at(2), 0) },
            Probe::Hcall { .. } => Outcome::Hcall { ret: Access::decode(at(0), at(1)), insn_addr: at(2) },
            Probe::Cpuid { .. } => Outcome::Cpuid([at(0) as u32, at(1) as u32, at(2) as u32, at(3) as u32]),
            Probe::HvHcall { .. } => Outcome::HvHcall(Access::decode(at(0), at(1))),
            Probe::XenHcall { .. } | Probe::XenPageHcall { .. } => Outcome::Xen(at(0)),
            Probe::HvPageHcall { .. } => Outcome::HvHcall(Access::Ok(at(0))),
        })
    }

    /// RAX of a completed KVM hypercall, or a failure naming `what`.
    pub fn hcall_ret(&self, what: &str) -> Result<u64> {
        match self {
            Outcome::Hcall { ret: Access::Ok(v), .. } => Ok(*v),
            other => bail!("{what}: expected the hypercall to return, got {other}"),
        }
    }
}

/// Watchdog of a probe: each probe is a handful of instructions and at most
/// a few exits (0.4 ms each under the emulated SVM machine, the slowest
/// backend CI runs). It is also how long a backend whose hypercalls never
/// complete (PVM) holds each scenario binary before its skip, so it is kept
/// short: 500 ms is still over a thousand times the slowest probe's need.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// A one-vCPU VM running the probe payload (`payload`: the tests'
/// embedded `hypercall_probe` ELF; no probe set yet).
pub fn vm_builder(payload: &'static [u8]) -> VmBuilder {
    Vm::builder().payload(Payload::elf(payload)).mem_size(8 << 20).timeout(PROBE_TIMEOUT)
}

/// Runs `probe` on vCPU 0; `on_exit` sees the exits that are not ucalls.
pub fn run_probe_with(
    vm: &mut Vm,
    probe: &Probe,
    on_exit: impl FnMut(&mut VcpuExit<'_>) -> ExitAction,
) -> Result<Outcome> {
    run_probe_on(vm, 0, probe, on_exit)
}

/// Runs `probe` on vCPU `vcpu` (the others stay where they are: a VM
/// whose vCPUs are set up differently can probe each in turn, as
/// pv_features does); `on_exit` sees the exits that are not ucalls.
pub fn run_probe_on(
    vm: &mut Vm,
    vcpu: usize,
    probe: &Probe,
    on_exit: impl FnMut(&mut VcpuExit<'_>) -> ExitAction,
) -> Result<Outcome> {
    if vcpu >= vm.vcpus_mut().len() {
        return Err(Error::Config(format!("probe on vCPU {vcpu}: the VM has {}", vm.vcpus_mut().len())));
    }
    if is_hypercall(probe) {
        if let Some(seen) = PVM_HYPERCALL_HANG.get() {
            return Err(Error::Skip(seen.clone()));
        }
    }
    set_probe(vm, probe)?;
    let u = vm.vcpu(vcpu).run_with(on_exit).map_err(|e| pvm_hypercall_limit(probe, e))?;
    decode(vm.vcpu(vcpu), probe, u)
}

/// On PVM a guest's VMCALL/VMMCALL never completes: the vCPU stays at the
/// instruction until the watchdog fires (observed on kvm_pvm; PVM's guest
/// kernel runs in ring 3 and PVM has its own hypercall entry). That is the
/// backend's limit, reported as a skip there and as the failure it is
/// anywhere else.
/// Once seen in this process, later hypercall probes on PVM skip with the
/// same observation instead of each waiting out the watchdog again.
pub fn pvm_hypercall_limit(probe: &Probe, e: Error) -> Error {
    match (&e, crate::kvm::backend()) {
        (Error::Watchdog { pc, .. }, Ok(b)) if is_hypercall(probe) && b.is_pvm() => {
            let seen = PVM_HYPERCALL_HANG.get_or_init(|| {
                format!(
                    "on {b} the guest's hypercall instruction (VMCALL/VMMCALL) never completes: \
                     the vCPU stayed at pc {pc:#x} for {PROBE_TIMEOUT:?} (observed once in this process)"
                )
            });
            Error::Skip(seen.clone())
        }
        _ => e,
    }
}

/// The first observation of PVM's hypercall hang in this process.
static PVM_HYPERCALL_HANG: OnceLock<String> = OnceLock::new();

fn is_hypercall(probe: &Probe) -> bool {
    !matches!(probe, Probe::Msr { .. } | Probe::Cpuid { .. })
}

/// Runs `probe` on vCPU 0 where any exit but a ucall is a failure.
pub fn run_probe(vm: &mut Vm, probe: &Probe) -> Result<Outcome> {
    run_probe_with(vm, probe, |_| ExitAction::Unhandled)
}

/// Puts `probe` in the boot arguments of every vCPU.
pub fn set_probe(vm: &mut Vm, probe: &Probe) -> Result<()> {
    for (i, a) in probe.args().iter().enumerate() {
        vm.set_arg(i, *a)?;
    }
    Ok(())
}

/// Decodes the ucall that ended a probe.
pub fn decode(vcpu: &mut Vcpu, probe: &Probe, u: Ucall) -> Result<Outcome> {
    match u {
        Ucall::Sync { stage: 1, args } => Outcome::decode(probe, &args),
        other => Err(other.into_failure(vcpu.id())),
    }
}

/// Lets the guest finish (probe kind 0) and expects its DONE.
pub fn finish(vm: &mut Vm) -> Result<()> {
    finish_on(vm, 0)
}

/// Lets the guest on vCPU `vcpu` finish (probe kind 0) and expects its DONE.
pub fn finish_on(vm: &mut Vm, vcpu: usize) -> Result<()> {
    if vcpu >= vm.vcpus_mut().len() {
        return Err(Error::Config(format!("finish on vCPU {vcpu}: the VM has {}", vm.vcpus_mut().len())));
    }
    vm.set_arg(0, ProbeKind::Done as u64)?;
    vm.vcpu(vcpu).expect_done()
}

/// Runs a Xen probe on vCPU 0; each KVM_EXIT_XEN hypercall goes to `on_hcall`.
pub fn run_probe_xen(vm: &mut Vm, probe: &Probe, on_hcall: impl FnMut(XenHcall<'_>) -> ExitAction) -> Result<Outcome> {
    set_probe(vm, probe)?;
    let u = vm.vcpu(0).run_with_xen(on_hcall).map_err(|e| pvm_hypercall_limit(probe, e))?;
    decode(vm.vcpu(0), probe, u)
}
