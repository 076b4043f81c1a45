//! Xen hypercall interception (api.rst: KVM_XEN_HVM_CONFIG, KVM_EXIT_XEN).
//! kvm-ioctls wraps neither the ioctl nor the exit, so this module holds a
//! raw wrapper for each: [`Vm::xen_hvm_config`] and [`Vcpu::run_with_xen`].

use kvm_bindings::{kvm_xen_hvm_config, KVM_EXIT_XEN};
use kvm_ioctls::VcpuExit;
use vmm_sys_util::ioctl::ioctl_with_ref;
use vmm_sys_util::ioctl_iow_nr;

use crate::{Error, ExitAction, Result, Ucall, Vcpu, Vm};

/// The ioctl number, private: vmm-sys-util's macro makes an undocumented `pub fn`.
mod ioctl_nr {
    super::ioctl_iow_nr!(KVM_XEN_HVM_CONFIG, kvm_bindings::KVMIO, 0x7a, super::kvm_xen_hvm_config);
}
use ioctl_nr::KVM_XEN_HVM_CONFIG;

/// `KVM_XEN_HVM_CONFIG_HYPERCALL_MSR`.
pub const KVM_XEN_HVM_CONFIG_HYPERCALL_MSR: u32 = kvm_bindings::KVM_XEN_HVM_CONFIG_HYPERCALL_MSR;
/// `KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL`.
pub const KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL: u32 = kvm_bindings::KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL;
/// kvm_run.xen.type of a hypercall.
pub const KVM_EXIT_XEN_HCALL: u32 = 1;
/// The MSR a Xen guest writes to have its hypercall page filled (the
/// selftests' XEN_HYPERCALL_MSR; the VMM chooses it in KVM_XEN_HVM_CONFIG).
pub const XEN_HYPERCALL_MSR: u32 = 0x4000_0200;
/// Each hypercall's stub in the hypercall page is this many bytes.
pub const XEN_HYPERCALL_STRIDE: u64 = 32;

/// A Xen hypercall as KVM reports it (kvm_run.xen.u.hcall).
#[derive(Debug)]
pub struct XenHcall<'a> {
    /// Whether the guest was in 64-bit mode.
    pub longmode: u32,
    /// The guest's privilege level (CPL).
    pub cpl: u32,
    /// Hypercall number (RAX).
    pub input: u64,
    /// RDI, RSI, RDX, R10, R8, R9 in 64-bit mode.
    pub params: [u64; 6],
    /// What the guest gets back in RAX.
    pub result: &'a mut u64,
}

impl Vm {
    /// KVM_XEN_HVM_CONFIG: with `KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL` the
    /// guest's hypercalls leave KVM as KVM_EXIT_XEN, and a write of a page
    /// address to `msr` fills that page with hypercall stubs.
    pub fn xen_hvm_config(&self, config: &kvm_xen_hvm_config) -> Result<()> {
        // SAFETY: KVM_XEN_HVM_CONFIG reads one kvm_xen_hvm_config, which
        // `config` is, and keeps no reference to it.
        let ret = unsafe { ioctl_with_ref(self.fd(), KVM_XEN_HVM_CONFIG(), config) };
        if ret != 0 {
            return Err(Error::Kvm { op: "KVM_XEN_HVM_CONFIG", source: kvm_ioctls::Error::last() });
        }
        Ok(())
    }
}

impl Vcpu {
    /// Runs until the next ucall; each KVM_EXIT_XEN hypercall goes to
    /// `on_hcall`, which fills in the result and says whether to resume.
    /// Any other exit, or a KVM_EXIT_XEN of another type, fails.
    pub fn run_with_xen(&mut self, mut on_hcall: impl FnMut(XenHcall<'_>) -> ExitAction) -> Result<Ucall> {
        let run = self.kvm_run_ptr();
        self.run_with(|exit| match exit {
            VcpuExit::Unsupported(reason) if *reason == KVM_EXIT_XEN => {
                // SAFETY: `run` is this vCPU's kvm_run mapping, alive as long
                // as its fd (which `self` holds across run_with); KVM_RUN has
                // returned, so the kernel is not writing it, and exit_reason
                // KVM_EXIT_XEN makes `xen` the active union member.
                let xen = unsafe { &mut (*run).__bindgen_anon_1.xen };
                if xen.type_ != KVM_EXIT_XEN_HCALL {
                    return ExitAction::Unhandled;
                }
                // SAFETY: type KVM_EXIT_XEN_HCALL makes `hcall` the active member.
                let h = unsafe { &mut xen.u.hcall };
                on_hcall(XenHcall {
                    longmode: h.longmode,
                    cpl: h.cpl,
                    input: h.input,
                    params: h.params,
                    result: &mut h.result,
                })
            }
            _ => ExitAction::Unhandled,
        })
    }
}
