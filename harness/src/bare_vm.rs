//! A VM with no kvmtest memory whose vCPUs are created by hand, one ioctl at
//! a time (the selftests' `vm_create_barebones()` and `__vm_vcpu_add()`): for
//! scenarios about KVM's checks of the set-up itself (memslot arguments, vCPU
//! features and widths, registers before the vCPU model is fixed, the vGIC).

use std::cell::Cell;
use std::collections::BTreeMap;

use kvm_bindings::{kvm_userspace_memory_region, kvm_userspace_memory_region2, KVM_CAP_USER_MEMORY};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};

use crate::arch::{Arch, HostArch};
use crate::memslot::SlotMemory;
use crate::{Error, Result};

/// What a bare vCPU may be initialised with on the host's arch
/// ([`Arch::init_bare_vcpu`]): arm64 `kvmtest::aarch64::reg_list::VcpuFeature`;
/// x86_64 nothing (`&[]`).
pub type VcpuFeature = <HostArch as Arch>::VcpuFeature;

/// A VM with no memory of the harness's and the vCPUs added to it so far.
pub struct BareVm {
    // Dropped in field order: the vCPUs, then the VM, then the memory it maps.
    vcpus: BTreeMap<u64, BareVcpu>,
    fd: VmFd,
    kvm: Kvm,
    memory: Vec<SlotMemory>,
    /// A slot was set with a host address this VM does not own; no vCPU may
    /// then be created (nothing may make KVM touch that memory).
    foreign_slot: Cell<bool>,
}

/// One vCPU of a [`BareVm`], as KVM_CREATE_VCPU (and the arch's init, for
/// [`BareVm::add_vcpu`]) left it. The arch's ioctls on it (arm64
/// KVM_ARM_VCPU_INIT, KVM_GET_REG_LIST; x86_64 KVM_GET/SET_SREGS) live in
/// `kvm_api/`.
pub struct BareVcpu {
    id: u64,
    fd: VcpuFd,
}

impl BareVm {
    /// KVM_CREATE_VM of type 0 ([`crate::kvm::create_default_vm`]), nothing else.
    pub fn new() -> Result<BareVm> {
        let kvm = crate::kvm::open_kvm()?;
        let fd = crate::kvm::create_default_vm(&kvm)?;
        Ok(BareVm::of(kvm, fd))
    }

    /// KVM_CREATE_VM of machine type `vm_type`: x86's
    /// KVM_X86_SW_PROTECTED_VM ([`Arch::SW_PROTECTED_VM_TYPE`]), or on arm64
    /// `KVM_VM_TYPE_ARM_IPA_SIZE(bits)`, an IPA size the test names itself
    /// (vgic_init's 40 bits). The one typed path besides
    /// [`crate::kvm::create_default_vm`].
    pub fn with_type(vm_type: u64) -> Result<BareVm> {
        let kvm = crate::kvm::open_kvm()?;
        let fd = kvm.create_vm_with_type(vm_type).map_err(Error::kvm("KVM_CREATE_VM"))?;
        Ok(BareVm::of(kvm, fd))
    }

    /// [`BareVm::new`] with vCPU 0 added with `features` (the selftests'
    /// `vm_create_with_one_vcpu()`, without memory: nothing runs it).
    pub fn with_vcpu(features: &[VcpuFeature]) -> Result<BareVm> {
        let mut vm = BareVm::new()?;
        vm.add_vcpu(0, features)?;
        Ok(vm)
    }

    fn of(kvm: Kvm, fd: VmFd) -> BareVm {
        BareVm { vcpus: BTreeMap::new(), fd, kvm, memory: Vec::new(), foreign_slot: Cell::new(false) }
    }

    /// The kvm-ioctls VM, for the ioctls this type does not wrap.
    pub fn fd(&self) -> &VmFd {
        &self.fd
    }

    /// The /dev/kvm handle the VM was created from.
    pub fn kvm(&self) -> &Kvm {
        &self.kvm
    }

    /// KVM_CREATE_VCPU of `id` and nothing else (arm64: not initialised yet).
    pub fn create_vcpu(&mut self, id: u64) -> Result<&BareVcpu> {
        if self.foreign_slot.get() {
            return Err(Error::Config(format!(
                "BareVm: no vCPU {id} in a VM with a memslot of memory it does not own"
            )));
        }
        let fd = self.fd.create_vcpu(id).map_err(Error::kvm("KVM_CREATE_VCPU"))?;
        self.vcpus.insert(id, BareVcpu { id, fd });
        self.vcpu(id)
    }

    /// KVM_CREATE_VCPU of `id` and the arch's initialisation with exactly
    /// `features` ([`Arch::init_bare_vcpu`]: arm64 KVM_ARM_PREFERRED_TARGET
    /// and KVM_ARM_VCPU_INIT).
    pub fn add_vcpu(&mut self, id: u64, features: &[VcpuFeature]) -> Result<&BareVcpu> {
        self.create_vcpu(id)?;
        let vcpu = self.vcpu(id)?;
        HostArch::init_bare_vcpu(&self.fd, &vcpu.fd, features)?;
        Ok(vcpu)
    }

    /// vCPU `id`.
    pub fn vcpu(&self, id: u64) -> Result<&BareVcpu> {
        self.vcpus.get(&id).ok_or_else(|| self.no_vcpu(id))
    }

    /// vCPU `id`, to run it.
    pub fn vcpu_mut(&mut self, id: u64) -> Result<&mut BareVcpu> {
        let missing = self.no_vcpu(id);
        self.vcpus.get_mut(&id).ok_or(missing)
    }

    fn no_vcpu(&self, id: u64) -> Error {
        Error::Config(format!("BareVm has no vCPU {id} ({} added)", self.vcpus.len()))
    }

    /// KVM_SET_USER_MEMORY_REGION of `memory` at `gpa` in `slot`; the VM keeps
    /// the memory mapped until after its fd is closed.
    pub fn add_memory(&mut self, slot: u32, gpa: u64, memory: SlotMemory) -> Result<()> {
        let r = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: memory.len(),
            userspace_addr: memory.host_addr(),
        };
        // SAFETY: the region is a live mapping of exactly `memory_size` bytes,
        // which `self.memory` keeps until after the VM fd is closed (field
        // order); KVM accesses it only as guest memory.
        unsafe { self.fd.set_user_memory_region(r) }.map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION"))?;
        self.memory.push(memory);
        Ok(())
    }

    /// KVM_SET_USER_MEMORY_REGION with exactly these fields, for the ioctl's
    /// argument checks: any host address may be passed, so the VM must have
    /// no vCPU, and gets none after.
    pub fn set_user_memory_region(&self, slot: u32, flags: u32, gpa: u64, size: u64, host_addr: u64) -> Result<()> {
        self.claim_foreign_slot("KVM_SET_USER_MEMORY_REGION")?;
        let r = kvm_userspace_memory_region {
            slot,
            flags,
            guest_phys_addr: gpa,
            memory_size: size,
            userspace_addr: host_addr,
        };
        // SAFETY: the VM has no vCPU and gets none (`claim_foreign_slot`), and
        // nothing else makes KVM access a slot's host memory (no dirty log is
        // read through it), so the address need not be ours.
        unsafe { self.fd.set_user_memory_region(r) }.map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION"))
    }

    /// KVM_SET_USER_MEMORY_REGION2 (Linux 6.8+) of exactly `region`, under
    /// the same rule as [`BareVm::set_user_memory_region`].
    pub fn set_user_memory_region2(&self, region: kvm_userspace_memory_region2) -> Result<()> {
        self.claim_foreign_slot("KVM_SET_USER_MEMORY_REGION2")?;
        // SAFETY: as in `set_user_memory_region`: no vCPU ever runs in this VM.
        unsafe { self.fd.set_user_memory_region2(region) }.map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION2"))
    }

    fn claim_foreign_slot(&self, op: &str) -> Result<()> {
        if !self.vcpus.is_empty() {
            return Err(Error::Config(format!(
                "{op} with any host address: the BareVm has {} vCPU(s) that could reach it",
                self.vcpus.len()
            )));
        }
        self.foreign_slot.set(true);
        Ok(())
    }

    /// KVM_CHECK_EXTENSION(KVM_CAP_USER_MEMORY) on the VM: the selftests'
    /// probe of a VM KVM killed (every VM ioctl is then EIO, kvm_util.h).
    pub fn check_alive(&self) -> Result<()> {
        match self.fd.check_extension_raw(KVM_CAP_USER_MEMORY.into()) {
            r if r < 0 => {
                Err(Error::Kvm { op: "KVM_CHECK_EXTENSION(KVM_CAP_USER_MEMORY)", source: kvm_ioctls::Error::last() })
            }
            _ => Ok(()),
        }
    }

    /// KVM_RUN of a vCPU in a fresh VM that has no memslot at all
    /// (test_zero_memory_regions): the `exit_reason` KVM gives. A skip where
    /// the arch's KVM gives no exit to check ([`Arch::NO_EXIT_WITHOUT_MEMORY`]).
    pub fn run_without_memslots() -> Result<u32> {
        if let Some(why) = HostArch::NO_EXIT_WITHOUT_MEMORY {
            return Err(Error::Skip(why.to_string()));
        }
        let mut vm = BareVm::new()?;
        HostArch::prepare_vm_without_memory(&vm.fd)?;
        vm.create_vcpu(0)?;
        let vcpu = vm.vcpu_mut(0)?;
        // A fresh VM of its own: no slot was ever set, so the vCPU can reach no
        // host memory. Any exit or error is the answer; only the reason is read.
        match vcpu.fd.run() {
            Ok(_) => {}
            Err(e) => return Err(Error::Kvm { op: "KVM_RUN (no memslots)", source: e }),
        }
        Ok(vcpu.fd.get_kvm_run().exit_reason)
    }
}

impl BareVcpu {
    /// The id it was created with.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The vCPU's fd, for the ioctls this type does not wrap.
    pub fn fd(&self) -> &VcpuFd {
        &self.fd
    }

    /// The vCPU's fd, to KVM_RUN it.
    pub fn fd_mut(&mut self) -> &mut VcpuFd {
        &mut self.fd
    }

    /// KVM_GET_ONE_REG of a 64-bit register.
    pub fn get_reg(&self, reg: u64) -> Result<u64> {
        let mut bytes = [0u8; 8];
        self.fd.get_one_reg(reg, &mut bytes).map_err(Error::kvm("KVM_GET_ONE_REG"))?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// KVM_SET_ONE_REG of a 64-bit register; a refusal keeps the errno.
    pub fn set_reg(&self, reg: u64, value: u64) -> Result<()> {
        self.set_one_reg(reg, &value.to_le_bytes())
    }

    /// KVM_SET_ONE_REG of `reg` to `value` (as many bytes as the id's size
    /// field says); `Error::Kvm` keeps the errno on refusal.
    pub fn set_one_reg(&self, reg: u64, value: &[u8]) -> Result<()> {
        self.fd.set_one_reg(reg, value).map(|_| ()).map_err(Error::kvm("KVM_SET_ONE_REG"))
    }
}
