//! KVM's Xen HVM emulation (api.rst: KVM_XEN_HVM_CONFIG, KVM_EXIT_XEN,
//! KVM_XEN_HVM_GET/SET_ATTR, KVM_XEN_VCPU_GET/SET_ATTR, KVM_XEN_HVM_EVTCHN_SEND).
//! kvm-ioctls wraps none of them, so this module holds a raw wrapper for each.

use std::os::fd::AsRawFd;

use kvm_bindings::{kvm_irq_routing_xen_evtchn, kvm_xen_hvm_attr, kvm_xen_hvm_config, kvm_xen_vcpu_attr, KVM_EXIT_XEN};
use kvm_ioctls::VcpuExit;
use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_ref};
use vmm_sys_util::{ioctl_iow_nr, ioctl_iowr_nr};

use crate::{Error, ExitAction, Result, Ucall, Vcpu, Vm};

/// The ioctl number, private: vmm-sys-util's macro makes an undocumented `pub fn`.
mod ioctl_nr {
    super::ioctl_iow_nr!(KVM_XEN_HVM_CONFIG, kvm_bindings::KVMIO, 0x7a, super::kvm_xen_hvm_config);
    super::ioctl_iowr_nr!(KVM_XEN_HVM_GET_ATTR, kvm_bindings::KVMIO, 0xc8, super::kvm_xen_hvm_attr);
    super::ioctl_iow_nr!(KVM_XEN_HVM_SET_ATTR, kvm_bindings::KVMIO, 0xc9, super::kvm_xen_hvm_attr);
    super::ioctl_iowr_nr!(KVM_XEN_VCPU_GET_ATTR, kvm_bindings::KVMIO, 0xca, super::kvm_xen_vcpu_attr);
    super::ioctl_iow_nr!(KVM_XEN_VCPU_SET_ATTR, kvm_bindings::KVMIO, 0xcb, super::kvm_xen_vcpu_attr);
    super::ioctl_iow_nr!(KVM_XEN_HVM_EVTCHN_SEND, kvm_bindings::KVMIO, 0xd0, super::kvm_irq_routing_xen_evtchn);
}
use ioctl_nr::{
    KVM_XEN_HVM_CONFIG, KVM_XEN_HVM_EVTCHN_SEND, KVM_XEN_HVM_GET_ATTR, KVM_XEN_HVM_SET_ATTR, KVM_XEN_VCPU_GET_ATTR,
    KVM_XEN_VCPU_SET_ATTR,
};

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

/// The result of a raw ioctl: its errno kept as kvm-ioctls does.
fn check(ret: i32, op: &'static str) -> Result<()> {
    if ret != 0 {
        return Err(Error::Kvm { op, source: kvm_ioctls::Error::last() });
    }
    Ok(())
}

/// KVM_XEN_HVM_SET_ATTR on any VM fd (a second thread may hold a dup of
/// the VM's fd while the vCPU runs, as upstream's juggle_shinfo_state).
pub fn hvm_set_attr(vm_fd: &impl AsRawFd, attr: &kvm_xen_hvm_attr) -> Result<()> {
    // SAFETY: KVM_XEN_HVM_SET_ATTR reads one kvm_xen_hvm_attr, which `attr`
    // is, and keeps no reference to it; on a fd that is not a VM the ioctl fails.
    check(unsafe { ioctl_with_ref(vm_fd, KVM_XEN_HVM_SET_ATTR(), attr) }, "KVM_XEN_HVM_SET_ATTR")
}

/// KVM_XEN_HVM_EVTCHN_SEND on any VM fd.
pub fn hvm_evtchn_send(vm_fd: &impl AsRawFd, evtchn: &kvm_irq_routing_xen_evtchn) -> Result<()> {
    // SAFETY: KVM_XEN_HVM_EVTCHN_SEND reads one kvm_irq_routing_xen_evtchn,
    // which `evtchn` is, and keeps no reference to it.
    check(unsafe { ioctl_with_ref(vm_fd, KVM_XEN_HVM_EVTCHN_SEND(), evtchn) }, "KVM_XEN_HVM_EVTCHN_SEND")
}

impl Vm {
    /// KVM_XEN_HVM_SET_ATTR: one VM-wide Xen attribute (`attr.type_`).
    pub fn xen_hvm_set_attr(&self, attr: &kvm_xen_hvm_attr) -> Result<()> {
        hvm_set_attr(self.fd(), attr)
    }

    /// KVM_XEN_HVM_GET_ATTR: fills in the attribute `attr.type_` names.
    pub fn xen_hvm_get_attr(&self, attr: &mut kvm_xen_hvm_attr) -> Result<()> {
        // SAFETY: KVM_XEN_HVM_GET_ATTR reads and writes one kvm_xen_hvm_attr,
        // which `attr` is, and keeps no reference to it.
        check(unsafe { ioctl_with_mut_ref(self.fd(), KVM_XEN_HVM_GET_ATTR(), attr) }, "KVM_XEN_HVM_GET_ATTR")
    }

    /// KVM_XEN_HVM_EVTCHN_SEND: delivers an event channel port as a guest's
    /// EVTCHNOP_send would.
    pub fn xen_hvm_evtchn_send(&self, evtchn: &kvm_irq_routing_xen_evtchn) -> Result<()> {
        hvm_evtchn_send(self.fd(), evtchn)
    }

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
    /// KVM_XEN_VCPU_SET_ATTR: one per-vCPU Xen attribute (`attr.type_`).
    pub fn xen_vcpu_set_attr(&self, attr: &kvm_xen_vcpu_attr) -> Result<()> {
        // SAFETY: KVM_XEN_VCPU_SET_ATTR reads one kvm_xen_vcpu_attr, which
        // `attr` is, and keeps no reference to it.
        check(unsafe { ioctl_with_ref(self.fd(), KVM_XEN_VCPU_SET_ATTR(), attr) }, "KVM_XEN_VCPU_SET_ATTR")
    }

    /// KVM_XEN_VCPU_GET_ATTR: fills in the attribute `attr.type_` names.
    pub fn xen_vcpu_get_attr(&self, attr: &mut kvm_xen_vcpu_attr) -> Result<()> {
        // SAFETY: KVM_XEN_VCPU_GET_ATTR reads and writes one kvm_xen_vcpu_attr,
        // which `attr` is, and keeps no reference to it.
        check(unsafe { ioctl_with_mut_ref(self.fd(), KVM_XEN_VCPU_GET_ATTR(), attr) }, "KVM_XEN_VCPU_GET_ATTR")
    }

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
