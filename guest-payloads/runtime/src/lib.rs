//! The kvmtest guest runtime: what a `#![no_std]` payload links against.
//!
//! - [`entry!`] makes `_start` call the payload's `main` and then GUEST_DONE.
//! - [`guest_sync!`], [`guest_done!`], [`guest_printf!`], [`guest_assert!`],
//!   [`guest_assert_eq!`]: the ucall client (messages in `kvmtest_abi` form,
//!   delivered by the doorbell routine the harness installed for the VM's
//!   transport, so one payload works over every transport).
//! - [`arch`]: per-CPU boot info, hypercall wrappers, MSR / system register
//!   probes that return the exception instead of dying.
//! - [`smccc`] (arm64): named SMCCC/PSCI function ids and HVC/SMC wrappers.
//! - [`irq`]: an interrupt handler, unmask/mask/wait, the controller's
//!   set-up, the same on both arches; [`gic`] (arm64: GICv3 distributor,
//!   redistributor, ICC_*), [`apic`] (x86_64: x2APIC); [`timer`] (arm64
//!   generic timers CNTV_*/CNTP_*).
//! - [`vmx`] (x86_64): a guest's own L1 hypervisor on Intel VMX (VMXON,
//!   VMCS set-up, VMLAUNCH/VMRESUME), as the selftests' lib/x86_64/vmx.c.
//!
//! A panic is reported as a guest assertion failure at the panic's location.
#![no_std]

#[cfg(target_arch = "x86_64")]
pub mod apic;
pub mod arch;
#[cfg(target_arch = "aarch64")]
pub mod gic;
pub mod irq;
mod macros;
#[cfg(target_arch = "aarch64")]
pub mod smccc;
#[cfg(target_arch = "aarch64")]
pub mod timer;
pub mod ucall;
#[cfg(target_arch = "x86_64")]
pub mod vmx;

pub use kvmtest_abi as abi;
use kvmtest_abi::{boot_offsets, BOOT_ARGS};

/// Index of the running vCPU.
pub fn vcpu_id() -> u64 {
    arch::boot_field(boot_offsets::VCPU_ID)
}

/// Test-defined boot argument `i` (set with `VmBuilder::arg`); 0 if out of range.
pub fn boot_arg(i: usize) -> u64 {
    if i < BOOT_ARGS {
        arch::boot_field(boot_offsets::ARGS + 8 * i)
    } else {
        0
    }
}

/// Declares the payload's entry: `kvmtest_guest::entry!(main);` with `fn main()`.
/// When `main` returns, the guest reports DONE.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        #[link_section = ".text._start"]
        pub extern "C" fn _start() -> ! {
            $main();
            $crate::ucall::done()
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let (file, line) = info.location().map(|l| (l.file(), l.line())).unwrap_or(("<unknown>", 0));
    ucall::abort(file, line, &[], format_args!("guest panic: {}", info.message()))
}
