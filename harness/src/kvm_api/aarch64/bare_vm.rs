//! A VM with no memory whose vCPUs are created and initialised one ioctl at
//! a time (the selftests' `vm_create_barebones()`, `__vm_vcpu_add()` and a
//! bare KVM_ARM_VCPU_INIT): for scenarios about vCPU configuration itself,
//! such as which `kvm_vcpu_init` features vCPUs of one VM may mix.

use kvm_bindings::kvm_vcpu_init;
use kvm_ioctls::{VcpuFd, VmFd};

use super::reg_list::{features_word, VcpuFeature};
use crate::{Error, Result};

/// A memoryless VM and the vCPUs added to it so far, none of them runnable.
pub struct BareVm {
    // Declared first, dropped first: the vCPU fds go before the VM fd.
    vcpus: Vec<VcpuFd>,
    vm: VmFd,
}

impl BareVm {
    /// KVM_CREATE_VM with the default VM type.
    pub fn new() -> Result<BareVm> {
        let kvm = crate::kvm::open_kvm()?;
        let vm = crate::kvm::create_default_vm(&kvm)?;
        Ok(BareVm { vcpus: Vec::new(), vm })
    }

    /// KVM_ARM_PREFERRED_TARGET with `features` set (and nothing else).
    pub fn preferred_init(&self, features: &[VcpuFeature]) -> Result<kvm_vcpu_init> {
        let mut init = kvm_vcpu_init::default();
        self.vm.get_preferred_target(&mut init).map_err(Error::kvm("KVM_ARM_PREFERRED_TARGET"))?;
        init.features = features_word(features);
        Ok(init)
    }

    /// KVM_CREATE_VCPU with the next vCPU id; returns that id.
    pub fn add_vcpu(&mut self) -> Result<usize> {
        let id = self.vcpus.len();
        let vcpu = self.vm.create_vcpu(id as u64).map_err(Error::kvm("KVM_CREATE_VCPU"))?;
        self.vcpus.push(vcpu);
        Ok(id)
    }

    /// KVM_ARM_VCPU_INIT of vCPU `id` with `init`; a refusal is
    /// `Error::Kvm` with the errno.
    pub fn vcpu_init(&self, id: usize, init: &kvm_vcpu_init) -> Result<()> {
        self.vcpu(id)?.vcpu_init(init).map_err(Error::kvm("KVM_ARM_VCPU_INIT"))
    }

    /// KVM_GET_ONE_REG of a 64-bit register of vCPU `id`.
    pub fn get_reg(&self, id: usize, reg: u64) -> Result<u64> {
        let mut bytes = [0u8; 8];
        self.vcpu(id)?.get_one_reg(reg, &mut bytes).map_err(Error::kvm("KVM_GET_ONE_REG"))?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// KVM_SET_ONE_REG of a 64-bit register of vCPU `id`; a refusal keeps the errno.
    pub fn set_reg(&self, id: usize, reg: u64, value: u64) -> Result<()> {
        self.vcpu(id)?.set_one_reg(reg, &value.to_le_bytes()).map(|_| ()).map_err(Error::kvm("KVM_SET_ONE_REG"))
    }

    /// The fd of vCPU `id`, for the ioctls this type does not wrap.
    pub fn vcpu(&self, id: usize) -> Result<&VcpuFd> {
        self.vcpus.get(id).ok_or_else(|| Error::Config(format!("no vCPU {id}: {} added", self.vcpus.len())))
    }

    /// The VM fd.
    pub fn fd(&self) -> &VmFd {
        &self.vm
    }
}
