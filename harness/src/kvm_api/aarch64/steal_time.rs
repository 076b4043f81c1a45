//! arm64 stolen time for the generic `steal_time` scenario (upstream
//! steal_time.c): the record's IPA set with KVM_ARM_VCPU_PVTIME_CTRL /
//! KVM_ARM_VCPU_PVTIME_IPA, `struct pvclock_vcpu_stolen_time` in guest RAM,
//! and switching the service off by clearing KVM_REG_ARM_STD_HYP_BIT_PV_TIME
//! in the hypercall-service bitmap. x86_64/steal_time.rs has the same shape.

use kvm_bindings::kvm_device_attr;
use kvmtest_abi::smccc::SMCCC_RET_NOT_SUPPORTED;
pub use kvmtest_abi::steal_time::{PvclockVcpuStolenTime, STEAL_TIME_SIZE};
use vm_memory::{Bytes, GuestAddress};

use super::fw_regs::{FwReg, KVM_REG_ARM_STD_HYP_BIT_PV_TIME};
use super::smccc::{KVM_ARM_VCPU_PVTIME_CTRL, KVM_ARM_VCPU_PVTIME_IPA};
use crate::series::{Feature, Series};
use crate::{ensure, Error, Result, Vcpu, Vm};

/// The interface, as messages name it.
pub const INTERFACE: &str = "SMCCC PV_TIME_ST (KVM_ARM_VCPU_PVTIME_IPA)";

fn pvtime_attr(ipa: &u64) -> kvm_device_attr {
    kvm_device_attr {
        group: KVM_ARM_VCPU_PVTIME_CTRL,
        attr: KVM_ARM_VCPU_PVTIME_IPA,
        addr: ipa as *const u64 as u64,
        flags: 0,
    }
}

/// Upstream's is_steal_time_supported(), as a requirement: the series has
/// PV time (a skip naming it otherwise), and then KVM_HAS_DEVICE_ATTR
/// (KVM_ARM_VCPU_PVTIME_IPA) must succeed (pvtime.c needs the host's
/// sched_info, which Debian's kernels have): ENXIO is a failure.
pub fn require_steal_time(vcpu: &Vcpu) -> Result<()> {
    Feature::PvTime.require()?;
    let attr = pvtime_attr(&0);
    vcpu.fd().has_device_attr(&attr).map_err(|e| {
        Error::Check(format!(
            "KVM_HAS_DEVICE_ATTR(KVM_ARM_VCPU_PVTIME_IPA): expected Ok (Linux {} has PV time), got errno {}",
            Series::running().map(|s| s.to_string()).unwrap_or_default(),
            e.errno()
        ))
    })
}

/// Upstream's steal_time_init(): an unaligned IPA is EINVAL, the aligned
/// one is taken, and setting it again is EEXIST (pvtime.c
/// kvm_arm_pvtime_set_attr).
pub fn steal_time_init(vcpu: &Vcpu, ipa: u64) -> Result<()> {
    let expect_errno = |value: u64, errno: i32, name: &str, what: &str| -> Result<()> {
        match vcpu.fd().set_device_attr(&pvtime_attr(&value)) {
            Err(e) if e.errno() == errno => Ok(()),
            Err(e) => Err(Error::Check(format!(
                "KVM_SET_DEVICE_ATTR(KVM_ARM_VCPU_PVTIME_IPA, {value:#x}) {what}: expected {name}, got errno {}",
                e.errno()
            ))),
            Ok(()) => Err(Error::Check(format!(
                "KVM_SET_DEVICE_ATTR(KVM_ARM_VCPU_PVTIME_IPA, {value:#x}) {what}: expected {name}, got Ok"
            ))),
        }
    };
    expect_errno(ipa | 1, libc::EINVAL, "EINVAL", "of an unaligned IPA")?;
    vcpu.fd()
        .set_device_attr(&pvtime_attr(&ipa))
        .map_err(Error::kvm("KVM_SET_DEVICE_ATTR(KVM_ARM_VCPU_PVTIME_IPA)"))?;
    expect_errno(ipa, libc::EEXIST, "EEXIST", "a second time")
}

/// Upstream's steal_time_dump(): the record at `ipa`, for a failure report.
pub fn steal_time_dump(vm: &Vm, ipa: u64) -> Result<String> {
    let field = |off: usize, size: usize| -> Result<u64> {
        let mut b = [0u8; 8];
        vm.mem()
            .read_slice(&mut b[..size], GuestAddress(ipa + off as u64))
            .map_err(|e| Error::Memory(format!("reading the stolen-time record at {ipa:#x}: {e}")))?;
        Ok(u64::from_le_bytes(b))
    };
    Ok(format!(
        "rev {} attr {} st_time {}",
        field(std::mem::offset_of!(PvclockVcpuStolenTime, revision), 4)?,
        field(std::mem::offset_of!(PvclockVcpuStolenTime, attributes), 4)?,
        field(std::mem::offset_of!(PvclockVcpuStolenTime, stolen_time), 8)?,
    ))
}

/// Switches PV time off the way the VMM does on arm64: clears
/// KVM_REG_ARM_STD_HYP_BIT_PV_TIME in KVM_REG_ARM_STD_HYP_BMAP
/// (Documentation/virt/kvm/arm/hypercalls.rst, fw-pseudo-registers.rst).
/// The bitmap is the VM's; `_id` names the vCPU for the x86 twin's sake.
/// Before the first run.
pub fn disable_steal_time(vm: &mut Vm, _id: usize) -> Result<()> {
    Feature::HypercallBitmaps.require()?;
    let fw = vm.fw_regs();
    let value = fw.get(FwReg::StdHypBmap)?;
    fw.set(FwReg::StdHypBmap, value & !KVM_REG_ARM_STD_HYP_BIT_PV_TIME.mask())
}

/// What the guest's calls must answer with the service off (the
/// `steal_time` payload's MODE_DISABLED report): NOT_SUPPORTED from
/// SMCCC_ARCH_FEATURES(PV_TIME_FEATURES), both PV_TIME_FEATURES queries
/// and PV_TIME_ST (hypercalls.c kvm_smccc_test_fw_bmap, kvm_hvc_call_handler).
pub fn check_disabled_answers(answers: &[u64]) -> Result<()> {
    let names = [
        "SMCCC_ARCH_FEATURES(PV_TIME_FEATURES)",
        "PV_TIME_FEATURES(PV_TIME_FEATURES)",
        "PV_TIME_FEATURES(PV_TIME_ST)",
        "PV_TIME_ST",
    ];
    ensure!(answers.len() == names.len(), "service off: expected {} answers, got {answers:?}", names.len());
    for (name, &got) in names.iter().zip(answers) {
        ensure!(
            got == SMCCC_RET_NOT_SUPPORTED,
            "{name} with KVM_REG_ARM_STD_HYP_BIT_PV_TIME clear: expected NOT_SUPPORTED, got {got:#x}"
        );
    }
    Ok(())
}
