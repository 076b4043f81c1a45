//! The arm64 in-kernel interrupt controller as a KVM device (vGICv2, vGICv3,
//! ITS): KVM_CREATE_DEVICE and the KVM_DEV_ARM_VGIC_GRP_* attributes, on a
//! [`BareVm`] whose vCPUs are added one at a time, as vgic_init.c needs.

use std::os::fd::AsRawFd;

use dynasmrt::aarch64::Aarch64Relocation;
use dynasmrt::{dynasm, DynasmLabelApi, VecAssembler};
use kvm_bindings::{
    kvm_create_device, kvm_device_attr, KVM_CREATE_DEVICE_TEST, KVM_DEV_ARM_VGIC_CTRL_INIT, KVM_DEV_ARM_VGIC_GRP_CTRL,
};
use kvm_ioctls::{Cap, DeviceFd};

use super::reg_list::VcpuFeature;
use crate::arch::aarch64::regs::{x, PC};
use crate::bare_vm::BareVm;
use crate::memslot::SlotMemory;
use crate::series::{self, Series};
use crate::{Error, Result};

pub use kvm_bindings::{
    kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_ITS as KVM_DEV_TYPE_ARM_VGIC_ITS,
    kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V2 as KVM_DEV_TYPE_ARM_VGIC_V2,
    kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3 as KVM_DEV_TYPE_ARM_VGIC_V3, KVM_DEV_ARM_VGIC_GRP_ADDR,
    KVM_DEV_ARM_VGIC_GRP_CPU_REGS, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS,
    KVM_VGIC_ITS_ADDR_TYPE, KVM_VGIC_V2_ADDR_TYPE_CPU, KVM_VGIC_V2_ADDR_TYPE_DIST, KVM_VGIC_V3_ADDR_TYPE_DIST,
    KVM_VGIC_V3_ADDR_TYPE_REDIST, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION,
};

/// The IPA size of a [`BareVm::gic_vm`]: KVM's default for machine type 0 ("the
/// default value of 40bits", Documentation/virt/kvm/api.rst,
/// KVM_CAP_ARM_VM_IPA_SIZE; KVM_PHYS_SHIFT in arch/arm64/kvm/mmu.c
/// kvm_init_stage2_mmu(), 6.1 and 6.12), asked for explicitly
/// (`KVM_VM_TYPE_ARM_IPA_SIZE(40)`, as the 6.12 selftests do); the
/// `max_phys_size` of vgic_init.c is `1 << 40`. What KVM makes of the
/// request depends on its mode: [`gic_vm_ipa_bits`].
pub const DEFAULT_IPA_BITS: u32 = 40;

/// The IPA size KVM gives a [`BareVm::gic_vm`], as the running kernel's source says
/// its mode does: [`DEFAULT_IPA_BITS`], as asked for, except under protected
/// KVM from [`series::ARM64_PROTECTED_VM_HOST_IPA_SIZE`] on, where every VM
/// gets the host's IPA limit whatever KVM_CREATE_VM asks (that limit is
/// KVM_CAP_ARM_VM_IPA_SIZE's value; [`series::ARM64_PROTECTED_VM_HOST_IPA_SIZE_SOURCE`]).
pub fn gic_vm_ipa_bits() -> Result<u32> {
    let cmdline = std::fs::read_to_string("/proc/cmdline")
        .map_err(|e| Error::Config(format!("reading /proc/cmdline for arm64 KVM's mode: {e}")))?;
    let protected = crate::kvm::cmdline_asks_protected_kvm(&cmdline);
    if !protected || !Series::running()?.at_least(series::ARM64_PROTECTED_VM_HOST_IPA_SIZE) {
        return Ok(DEFAULT_IPA_BITS);
    }
    let limit = crate::kvm::check_cap(Cap::ArmVmIPASize)?;
    u32::try_from(limit)
        .ok()
        .filter(|bits| (32..=52).contains(bits))
        .ok_or_else(|| Error::Config(format!("KVM_CAP_ARM_VM_IPA_SIZE is {limit}, not an IPA size (32 to 52 bits)")))
}

/// Offset of GICR_TYPER in a redistributor's RD frame (the GICv3
/// architecture; vgic_init.c's `GICR_TYPER`).
pub const GICR_TYPER: u32 = 0x8;

/// KVM_DEV_ARM_VGIC_GRP_REDIST_REGS attribute of the register at `offset`
/// of vCPU `vcpu`'s redistributor (vgic_init.c's `REG_OFFSET`).
pub const fn redist_reg(vcpu: u64, offset: u32) -> u64 {
    (vcpu << 32) | offset as u64
}

/// KVM_DEV_ARM_VGIC_GRP_CPU_REGS attribute of the GICv2 CPU interface
/// register at `offset` of vCPU `cpu` (vgic_init.c's `KVM_VGIC_V2_ATTR`).
pub const fn v2_cpu_reg(offset: u32, cpu: u64) -> u64 {
    (cpu << kvm_bindings::KVM_DEV_ARM_VGIC_CPUID_SHIFT) | offset as u64
}

/// The value of a KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION attribute: `count`
/// redistributors at `base`, `flags`, region `index` (the selftests'
/// `REDIST_REGION_ATTR_ADDR`, Documentation/virt/kvm/devices/arm-vgic-v3.rst).
pub const fn redist_region(count: u64, base: u64, flags: u64, index: u64) -> u64 {
    (count << 52) | ((base >> 16) << 16) | (flags << 12) | index
}

/// The end of the addresses a KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION value can
/// name: its base field is bits 51:16 of the address
/// (Documentation/virt/kvm/devices/arm-vgic-v3.rst; vgic.h
/// KVM_VGIC_V3_RDIST_BASE_MASK, 6.12:93). With a 52-bit IPA no region base
/// lies beyond the IPA range.
pub const REDIST_REGION_BASE_END: u64 = 1 << 52;

/// KVM_CREATE_DEVICE: `_IOWR(KVMIO, 0xe0, struct kvm_create_device)`
/// (include/uapi/linux/kvm.h), a 12-byte argument.
const KVM_CREATE_DEVICE_IOCTL: u32 = (3 << 30) | (12 << 16) | (0xAE << 8) | 0xE0;
const _: () = assert!(std::mem::size_of::<kvm_create_device>() == 12);

/// Guest address of the one page of code each vCPU of a [`BareVm::gic_vm`] runs:
/// far above every frame vgic_init.c places (all below 0x40_0000).
const CODE_GPA: u64 = 0x8000_0000;
const CODE_SIZE: u64 = 0x1_0000;
/// The address the code stores to: no memslot there, so the store is a
/// KVM_EXIT_MMIO (vgic_init.c's guest_code ucall, which also exits).
const MMIO_EXIT_GPA: u64 = 0x9000_0000;

fn code() -> Result<Vec<u8>> {
    let mut ops: VecAssembler<Aarch64Relocation> = VecAssembler::new(CODE_GPA as usize);
    dynasm!(ops ; .arch aarch64 ; str xzr, [x1] ; spin: ; b <spin);
    ops.finalize().map_err(|e| Error::Config(format!("assembling the vgic_init vCPU code: {e:?}")))
}

/// vgic_init.c's VM (the selftests' `vm_create_barebones()` / `vm_create()` +
/// `vm_vcpu_add()`): a [`BareVm`] asking for a [`DEFAULT_IPA_BITS`] IPA space,
/// with no vGIC of the harness's making and one memslot of code; each vCPU
/// added with [`BareVm::add_gic_vcpu`] runs `str xzr, [x1]` with x1 at an
/// address without a memslot, so a KVM_RUN that gets past the vGIC's checks
/// returns a KVM_EXIT_MMIO.
impl BareVm {
    /// KVM_CREATE_VM (`KVM_VM_TYPE_ARM_IPA_SIZE(40)`), the code's memslot,
    /// and a vCPU of each id in `ids`, in that order.
    pub fn gic_vm(ids: &[u64]) -> Result<BareVm> {
        // Not `create_vm()`: kvm-ioctls asks there for the host's IPA limit.
        let mut vm = BareVm::with_type(DEFAULT_IPA_BITS.into())?;
        let code_page = SlotMemory::new(CODE_SIZE)?;
        code_page.write(0, &code()?)?;
        vm.add_memory(0, CODE_GPA, code_page)?;
        for &id in ids {
            vm.add_gic_vcpu(id)?;
        }
        Ok(vm)
    }

    /// KVM_CREATE_VCPU of `id`, KVM_ARM_VCPU_INIT (PSCI 0.2), and the
    /// registers that point it at the code.
    pub fn add_gic_vcpu(&mut self, id: u64) -> Result<()> {
        let vcpu = self.add_vcpu(id, &[VcpuFeature::Psci0_2])?;
        vcpu.fd().set_one_reg(PC, &CODE_GPA.to_le_bytes()).map_err(Error::kvm("KVM_SET_ONE_REG(pc)"))?;
        vcpu.fd().set_one_reg(x(1), &MMIO_EXIT_GPA.to_le_bytes()).map_err(Error::kvm("KVM_SET_ONE_REG(x1)"))?;
        Ok(())
    }

    /// One KVM_RUN of vCPU `id` of a [`BareVm::gic_vm`] (vgic_init.c's
    /// `run_vcpu()`): Ok once the guest's store exits, else the ioctl's
    /// error with its errno.
    pub fn run_gic_vcpu(&mut self, id: u64) -> Result<()> {
        match self.vcpu_mut(id)?.fd_mut().run() {
            Ok(kvm_ioctls::VcpuExit::MmioWrite(MMIO_EXIT_GPA, _)) => Ok(()),
            Ok(other) => Err(Error::Config(format!(
                "vCPU {id}: expected the guest's store to {MMIO_EXIT_GPA:#x} to exit, got {other:?}"
            ))),
            Err(e) => Err(Error::Kvm { op: "KVM_RUN", source: e }),
        }
    }

    /// KVM_CREATE_DEVICE of `device_type` (vgic_init.c's `__kvm_create_device`).
    pub fn create_device(&self, device_type: u32) -> Result<VgicDevice> {
        let mut dev = kvm_create_device { type_: device_type, fd: 0, flags: 0 };
        let fd = self.fd().create_device(&mut dev).map_err(Error::kvm("KVM_CREATE_DEVICE"))?;
        Ok(VgicDevice { fd })
    }

    /// KVM_CREATE_DEVICE with KVM_CREATE_DEVICE_TEST: whether KVM would create
    /// one (`__kvm_test_create_device`), without creating it.
    /// (Not `VmFd::create_device`, which would wrap and later close the fd
    /// field, left 0 in test mode.)
    pub fn test_create_device(&self, device_type: u32) -> Result<()> {
        let mut dev = kvm_create_device { type_: device_type, fd: 0, flags: KVM_CREATE_DEVICE_TEST };
        // SAFETY: KVM_CREATE_DEVICE reads and writes one kvm_create_device,
        // which `dev` is, on this VM's fd; in test mode it creates no fd.
        let ret = unsafe { libc::ioctl(self.fd().as_raw_fd(), KVM_CREATE_DEVICE_IOCTL as _, &mut dev) };
        if ret < 0 {
            return Err(Error::Kvm {
                op: "KVM_CREATE_DEVICE(KVM_CREATE_DEVICE_TEST)",
                source: kvm_ioctls::Error::last(),
            });
        }
        Ok(())
    }
}

/// A vGIC (or ITS) device fd and its attribute groups; every refusal is
/// `Error::Kvm` with the errno.
pub struct VgicDevice {
    fd: DeviceFd,
}

impl VgicDevice {
    /// KVM_HAS_DEVICE_ATTR of `group`/`attr`.
    pub fn has_attr(&self, group: u32, attr: u64) -> Result<()> {
        let a = kvm_device_attr { group, attr, addr: 0, flags: 0 };
        self.fd.has_device_attr(&a).map_err(Error::kvm("KVM_HAS_DEVICE_ATTR"))
    }

    /// KVM_SET_DEVICE_ATTR from a u64 (addresses are 64-bit).
    pub fn set_u64(&self, group: u32, attr: u64, value: u64) -> Result<()> {
        let a = kvm_device_attr { group, attr, addr: &value as *const u64 as u64, flags: 0 };
        self.fd.set_device_attr(&a).map_err(Error::kvm("KVM_SET_DEVICE_ATTR"))
    }

    /// KVM_SET_DEVICE_ATTR from a u32 (distributor/redistributor registers).
    pub fn set_u32(&self, group: u32, attr: u64, value: u32) -> Result<()> {
        let a = kvm_device_attr { group, attr, addr: &value as *const u32 as u64, flags: 0 };
        self.fd.set_device_attr(&a).map_err(Error::kvm("KVM_SET_DEVICE_ATTR"))
    }

    /// KVM_SET_DEVICE_ATTR with a NULL `addr` (vgic_init.c's `dummy`): KVM's
    /// copy from user space faults.
    pub fn set_null(&self, group: u32, attr: u64) -> Result<()> {
        let a = kvm_device_attr { group, attr, addr: 0, flags: 0 };
        self.fd.set_device_attr(&a).map_err(Error::kvm("KVM_SET_DEVICE_ATTR"))
    }

    /// KVM_GET_DEVICE_ATTR into a u64, which starts as `input` (a
    /// REDIST_REGION read names its index in the value it reads into).
    pub fn get_u64(&self, group: u32, attr: u64, input: u64) -> Result<u64> {
        let mut value = input;
        let mut a = kvm_device_attr { group, attr, addr: &mut value as *mut u64 as u64, flags: 0 };
        // SAFETY: `addr` points at a live u64, the size of every attribute of
        // the groups this is used with (GRP_ADDR), and outlives the call.
        unsafe { self.fd.get_device_attr(&mut a) }.map_err(Error::kvm("KVM_GET_DEVICE_ATTR"))?;
        Ok(value)
    }

    /// KVM_GET_DEVICE_ATTR into a u32 (distributor/redistributor/CPU
    /// interface registers).
    pub fn get_u32(&self, group: u32, attr: u64) -> Result<u32> {
        let mut value = 0u32;
        let mut a = kvm_device_attr { group, attr, addr: &mut value as *mut u32 as u64, flags: 0 };
        // SAFETY: `addr` points at a live u32, what KVM writes for the
        // register groups (vgic-kvm-device.c copies a u32), and outlives the call.
        unsafe { self.fd.get_device_attr(&mut a) }.map_err(Error::kvm("KVM_GET_DEVICE_ATTR"))?;
        Ok(value)
    }

    /// KVM_DEV_ARM_VGIC_CTRL_INIT.
    pub fn init(&self) -> Result<()> {
        let a = kvm_device_attr {
            group: KVM_DEV_ARM_VGIC_GRP_CTRL,
            attr: KVM_DEV_ARM_VGIC_CTRL_INIT.into(),
            addr: 0,
            flags: 0,
        };
        self.fd.set_device_attr(&a).map_err(Error::kvm("KVM_SET_DEVICE_ATTR(KVM_DEV_ARM_VGIC_CTRL_INIT)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_encodings_match_the_selftests_macros() {
        // REDIST_REGION_ATTR_ADDR(2, 0x200000, 0, 1) of vgic_init.c.
        assert_eq!(redist_region(2, 0x20_0000, 0, 1), (2 << 52) | 0x20_0000 | 1);
        // The base's low 16 bits are dropped, as the macro does.
        assert_eq!(redist_region(2, 0x20_1000, 0, 1), (2 << 52) | 0x20_0000 | 1);
        assert_eq!(redist_region(0, 0, 2, 0), 2 << 12);
        assert_eq!(redist_reg(3, GICR_TYPER), (3 << 32) | 8);
        assert_eq!(v2_cpu_reg(0, 1), 1 << 32);
    }
}
