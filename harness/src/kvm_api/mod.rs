//! The KVM API vocabulary the scenarios speak, one tree per arch with the
//! same shape: UAPI constants, the ioctls behind them, and the `Vm`/`Vcpu`
//! methods that use them (arm64: firmware registers, SMCCC; x86_64: CPUID,
//! KVM PV, Hyper-V, Xen, the hypercall probe). How a guest boots and traps
//! is `arch/`'s; this tree sits on top of `vm`/`vcpu`/`arch`, nothing below
//! it names it. Besides `arch/`, the cfgs here and lib.rs's re-exports
//! (`kvmtest::aarch64`, `kvmtest::x86_64`) are the only places that name
//! `target_arch`.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

/// Whether a guest's read of the register the `faults` payload's
/// PROBE_FAULT mode reads (x86: a bogus MSR; arm64: SP_EL1 at EL1) faults.
/// arm64: always (an UNDEF, architectural). x86: only while kvm.ignore_msrs
/// is N; with Y KVM completes the RDMSR with 0 (`x86_64::msr_params`).
pub fn undefined_register_read_faults() -> crate::Result<bool> {
    #[cfg(target_arch = "x86_64")]
    let faults =
        x86_64::msr_params::UnsupportedMsrAccess::configured()? == x86_64::msr_params::UnsupportedMsrAccess::Fault;
    #[cfg(not(target_arch = "x86_64"))]
    let faults = true;
    Ok(faults)
}
// Interfaces generic scenarios use, one module of the same shape per arch.
/// Paravirtual steal time (upstream steal_time.c): x86 MSR_KVM_STEAL_TIME
/// or arm64 PV_TIME_ST, behind the same functions.
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::steal_time;
/// Paravirtual steal time (upstream steal_time.c): x86 MSR_KVM_STEAL_TIME
/// or arm64 PV_TIME_ST, behind the same functions.
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::steal_time;
