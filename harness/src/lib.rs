//! kvmtest: KVM selftests in Rust.
//!
//! A test builds a [`Vm`] around a guest [`Payload`] (run-time assembled with
//! [`asm::AsmGuest`], or a `#![no_std]` ELF from `guest-payloads/`), runs
//! its vCPUs until each [`Ucall`], and checks what the guest reports. See
//! ARCHITECTURE.md for the map and the life of one test.

pub mod arch;
pub mod asm;
pub mod bare_vm;
pub mod coalesced;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod guest_debug;
pub mod kvm;
pub mod kvm_api;
pub mod layout;
pub mod memslot;
pub mod payload;
mod progress;
pub mod regs;
pub mod runner;
pub mod series;
pub mod stats;
pub mod transport;
pub mod ucall;
pub mod vcpu;
pub mod vm;
mod watchdog;

pub use error::{Error, ExceptionKind, GuestAssert, GuestException, Result};
pub use kvm::{backend, check_cap, require_cap, require_cap_raw, Backend};
/// arm64-only KVM API (firmware registers, SMCCC services and filter), for tests under tests/aarch64/.
#[cfg(target_arch = "aarch64")]
pub use kvm_api::aarch64;
/// The host arch's paravirtual steal time, for the generic steal_time scenario.
pub use kvm_api::steal_time;
/// x86-only KVM API (CPUID, PV/Hyper-V/Xen interfaces, the hypercall probe), for tests under tests/x86_64/.
#[cfg(target_arch = "x86_64")]
pub use kvm_api::x86_64;
pub use kvm_bindings;
pub use kvm_ioctls;
pub use kvm_ioctls::Cap;
/// The guest/host contract (`kvmtest-abi`): message layout, commands, limits.
pub use kvmtest_abi as abi;
pub use payload::{Payload, PayloadError};
pub use regs::RegisterDump;
pub use ucall::{TransportKind, Ucall, UcallArgs};
pub use vcpu::{ExitAction, Kicker, Vcpu};
pub use vm::{Vm, VmBuilder};
pub use vm_memory;

/// Name of the arch this build runs guests for.
pub fn arch_name() -> &'static str {
    <arch::HostArch as arch::Arch>::NAME
}
