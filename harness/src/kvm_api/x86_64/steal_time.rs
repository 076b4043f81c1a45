//! x86 steal time for the generic `steal_time` scenario (upstream
//! steal_time.c): MSR_KVM_STEAL_TIME set from the host, `struct
//! kvm_steal_time` in guest RAM, and switching the service off with
//! KVM_CAP_ENFORCE_PV_FEATURE_CPUID. aarch64/steal_time.rs has the same shape.

use kvm_bindings::{kvm_msr_entry, Msrs, KVM_CAP_ENFORCE_PV_FEATURE_CPUID};
use kvmtest_abi::probe::NO_EXCEPTION;
pub use kvmtest_abi::steal_time::{
    KvmStealTime, KVM_MSR_ENABLED, KVM_STEAL_RESERVED_MASK, MSR_KVM_STEAL_TIME, STEAL_TIME_SIZE,
};
use vm_memory::{Bytes, GuestAddress};

use super::cpuid::Cpuid;
use super::probe::GP_VECTOR;
use crate::series::{Feature, Series};
use crate::{ensure, kvm_feature, Error, Result, Vcpu, Vm};

/// The interface, as messages name it.
pub const INTERFACE: &str = "MSR_KVM_STEAL_TIME";

/// Upstream's is_steal_time_supported(), as a requirement: the series has
/// the MSR (a skip naming it otherwise), and then KVM_GET_SUPPORTED_CPUID
/// must offer KVM_FEATURE_STEAL_TIME (cpuid.c sets it when the host has
/// sched_info, as Debian's kernels do): its absence is a failure.
pub fn require_steal_time(_vcpu: &Vcpu) -> Result<()> {
    Feature::StealTime.require()?;
    let bit = kvm_feature!(KVM_FEATURE_STEAL_TIME);
    ensure!(
        Cpuid::supported()?.has(bit),
        "KVM_GET_SUPPORTED_CPUID: expected {bit} (Linux {} has it; cpuid.c offers it when the host has sched_info), got it clear",
        Series::running()?
    );
    Ok(())
}

/// KVM_SET_MSRS of one MSR: Ok(true) if KVM took it, Ok(false) if it refused it.
fn set_msr(vcpu: &Vcpu, index: u32, data: u64) -> Result<bool> {
    let msrs = Msrs::from_entries(&[kvm_msr_entry { index, data, ..Default::default() }])
        .map_err(|e| Error::Config(format!("KVM_SET_MSRS table: {e:?}")))?;
    let n = vcpu.fd().set_msrs(&msrs).map_err(Error::kvm("KVM_SET_MSRS(MSR_KVM_STEAL_TIME)"))?;
    Ok(n == 1)
}

/// Upstream's steal_time_init(): a record address with reserved bits is
/// refused, then `gpa | KVM_MSR_ENABLED` is taken.
pub fn steal_time_init(vcpu: &Vcpu, gpa: u64) -> Result<()> {
    let bad = gpa | KVM_STEAL_RESERVED_MASK;
    ensure!(
        !set_msr(vcpu, MSR_KVM_STEAL_TIME, bad)?,
        "KVM_SET_MSRS(MSR_KVM_STEAL_TIME, {bad:#x}) with reserved bits {KVM_STEAL_RESERVED_MASK:#x}: expected refused, got taken"
    );
    let good = gpa | KVM_MSR_ENABLED;
    ensure!(
        set_msr(vcpu, MSR_KVM_STEAL_TIME, good)?,
        "KVM_SET_MSRS(MSR_KVM_STEAL_TIME, {good:#x}): expected taken, got refused"
    );
    Ok(())
}

/// Upstream's steal_time_dump(): the record at `gpa`, for a failure report.
pub fn steal_time_dump(vm: &Vm, gpa: u64) -> Result<String> {
    let field = |off: usize, size: usize| -> Result<u64> {
        let mut b = [0u8; 8];
        vm.mem()
            .read_slice(&mut b[..size], GuestAddress(gpa + off as u64))
            .map_err(|e| Error::Memory(format!("reading the steal-time record at {gpa:#x}: {e}")))?;
        Ok(u64::from_le_bytes(b))
    };
    Ok(format!(
        "steal {} version {} flags {} preempted {}",
        field(std::mem::offset_of!(KvmStealTime, steal), 8)?,
        field(std::mem::offset_of!(KvmStealTime, version), 4)?,
        field(std::mem::offset_of!(KvmStealTime, flags), 4)?,
        field(std::mem::offset_of!(KvmStealTime, preempted), 1)?,
    ))
}

/// Switches steal time off for vCPU `id` the way the VMM does on x86:
/// KVM_CAP_ENFORCE_PV_FEATURE_CPUID with KVM_FEATURE_STEAL_TIME clear
/// (Documentation/virt/kvm/x86/cpuid.rst, msr.rst). Before the first run.
pub fn disable_steal_time(vm: &mut Vm, id: usize) -> Result<()> {
    crate::kvm::require_cap_raw("KVM_CAP_ENFORCE_PV_FEATURE_CPUID", KVM_CAP_ENFORCE_PV_FEATURE_CPUID.into())?;
    let vcpu = vm.vcpu(id);
    vcpu.enable_cap(KVM_CAP_ENFORCE_PV_FEATURE_CPUID, &[1])?;
    vcpu.update_cpuid(|c| c.set(kvm_feature!(KVM_FEATURE_STEAL_TIME), false))
}

/// What the guest's calls must answer with the service off (the
/// `steal_time` payload's MODE_DISABLED report: RDMSR and WRMSR vectors):
/// x86.c answers KVM_MSR_RET_UNSUPPORTED without the PV feature, which is
/// #GP for both with kvm.ignore_msrs=N and a completed access (read 0,
/// write dropped) with Y (`msr_params`: the module's configuration).
pub fn check_disabled_answers(answers: &[u64]) -> Result<()> {
    let unsupported = super::msr_params::UnsupportedMsrAccess::configured()?;
    let (want, want_shown) = match unsupported {
        super::msr_params::UnsupportedMsrAccess::Fault => (u64::from(GP_VECTOR), "#GP"),
        super::msr_params::UnsupportedMsrAccess::Ignored => (NO_EXCEPTION, "no exception"),
    };
    let names = ["RDMSR(MSR_KVM_STEAL_TIME)", "WRMSR(MSR_KVM_STEAL_TIME)"];
    ensure!(answers.len() == names.len(), "service off: expected {} answers, got {answers:?}", names.len());
    for (name, &got) in names.iter().zip(answers) {
        let shown = if got == NO_EXCEPTION { "no exception".to_string() } else { format!("vector {got}") };
        ensure!(
            got == want,
            "{name} with KVM_FEATURE_STEAL_TIME clear ({unsupported}): expected {want_shown}, got {shown}"
        );
    }
    Ok(())
}
