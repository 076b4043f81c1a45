//! The vCPU's TSC offset (vCPU device attribute group KVM_VCPU_TSC_CTRL,
//! Documentation/virt/kvm/devices/vcpu.rst): guest_tsc = host_tsc +
//! KVM_VCPU_TSC_OFFSET, for the system_counter_offset scenario.

use kvm_bindings::kvm_device_attr;
use vmm_sys_util::ioctl::ioctl_with_ref;
use vmm_sys_util::ioctl_iow_nr;

use crate::series::Feature;
use crate::{Error, Result, Vcpu};

/// The vCPU device-attribute ioctls, raw: kvm-ioctls wraps them for arm64
/// vCPUs only. Private: vmm-sys-util's macro makes undocumented `pub fn`s.
mod ioctl_nr {
    super::ioctl_iow_nr!(KVM_SET_DEVICE_ATTR, kvm_bindings::KVMIO, 0xe1, kvm_bindings::kvm_device_attr);
    super::ioctl_iow_nr!(KVM_GET_DEVICE_ATTR, kvm_bindings::KVMIO, 0xe2, kvm_bindings::kvm_device_attr);
    super::ioctl_iow_nr!(KVM_HAS_DEVICE_ATTR, kvm_bindings::KVMIO, 0xe3, kvm_bindings::kvm_device_attr);
}
use ioctl_nr::{KVM_GET_DEVICE_ATTR, KVM_HAS_DEVICE_ATTR, KVM_SET_DEVICE_ATTR};

/// `KVM_VCPU_TSC_CTRL`: the vCPU device-attribute group of the TSC.
pub const KVM_VCPU_TSC_CTRL: u32 = 0;
/// `KVM_VCPU_TSC_OFFSET`: the TSC offset attribute.
pub const KVM_VCPU_TSC_OFFSET: u64 = 0;

fn tsc_offset_attr(value: &mut u64) -> kvm_device_attr {
    kvm_device_attr { group: KVM_VCPU_TSC_CTRL, attr: KVM_VCPU_TSC_OFFSET, addr: value as *mut u64 as u64, flags: 0 }
}

/// RDTSC on the host (the selftests' rdtsc()).
pub fn host_rdtsc() -> u64 {
    // SAFETY: RDTSC reads the time-stamp counter and has no other effect;
    // every x86_64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

impl Vcpu {
    /// One device-attribute ioctl on this vCPU with `attr`.
    fn device_attr_ioctl(&self, nr: u64, op: &'static str, attr: &kvm_device_attr) -> Result<()> {
        // SAFETY: the three device-attribute ioctls read one kvm_device_attr,
        // which `attr` is; KVM_GET_DEVICE_ATTR writes 8 bytes at `attr.addr`,
        // which every caller points at a live u64.
        let ret = unsafe { ioctl_with_ref(self.fd(), nr, attr) };
        if ret != 0 {
            return Err(Error::Kvm { op, source: kvm_ioctls::Error::last() });
        }
        Ok(())
    }

    /// The precondition of system_counter_offset_test.c, as a requirement:
    /// the series has KVM_VCPU_TSC_OFFSET (a skip naming it otherwise), and
    /// then KVM_HAS_DEVICE_ATTR must say so (a refusal is a failure).
    pub fn require_tsc_offset(&self) -> Result<()> {
        Feature::VcpuTscOffset.require()?;
        let mut value = 0;
        self.device_attr_ioctl(
            KVM_HAS_DEVICE_ATTR(),
            "KVM_HAS_DEVICE_ATTR(KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET), which this series has",
            &tsc_offset_attr(&mut value),
        )
    }

    /// KVM_SET_DEVICE_ATTR(KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET).
    pub fn set_tsc_offset(&self, offset: u64) -> Result<()> {
        let mut value = offset;
        self.device_attr_ioctl(
            KVM_SET_DEVICE_ATTR(),
            "KVM_SET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET)",
            &tsc_offset_attr(&mut value),
        )
    }

    /// KVM_GET_DEVICE_ATTR(KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET).
    pub fn tsc_offset(&self) -> Result<u64> {
        let mut value = 0u64;
        let attr = tsc_offset_attr(&mut value);
        self.device_attr_ioctl(KVM_GET_DEVICE_ATTR(), "KVM_GET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET)", &attr)?;
        Ok(value)
    }
}
