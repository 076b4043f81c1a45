//! The hypercall services KVM offers an arm64 guest, as data: each call,
//! the firmware-register feature bit that gates it
//! (`kvm_smccc_test_fw_bmap()` in arch/arm64/kvm/hypercalls.c) and what it
//! answers when enabled. hypercalls.c's `hvc_info[]`, which the hypercalls
//! and migration scenarios both walk.

use kvmtest::aarch64::fw_regs::*;
use kvmtest::aarch64::smccc::*;
use kvmtest::{ensure, Result};

/// What a call answers when its service is enabled.
#[derive(Clone, Copy)]
pub enum Answer {
    /// Anything but NOT_SUPPORTED (a random number, a time, an error code of the service).
    Supported,
    /// Exactly this x0.
    Exactly(u64),
    /// x0..x3 are [VENDOR_HYP_BMAP, 0, VENDOR_HYP_BMAP_2, 0] as the VM was
    /// given them (ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID: `val[4]` of
    /// kvm_smccc_call_handler(); x2 is 0 before Linux 6.15, which has no BMAP_2).
    VendorFeatures,
    /// x0..x3 are KVM's vendor UID.
    KvmUid,
    /// x0 is the vCPU's stolen-time record (PV_TIME_ST).
    StealTimeIpa,
}

/// One row of `hvc_info[]`: a call and the feature bit that gates it.
pub struct Service {
    /// The call's kernel name (`hvc_info[]`'s).
    pub name: &'static str,
    /// The call the guest makes.
    pub call: SmcccCall,
    /// The feature bit that gates it.
    pub bit: FwBit,
    /// What the guest gets when the bit is set.
    pub answer: Answer,
}

macro_rules! service {
    ($func:ident, $arg1:expr, $bit:ident, $answer:expr) => {
        Service {
            name: concat!(stringify!($func), "(", stringify!($arg1), ")"),
            call: hvc($func, $arg1 as u64),
            bit: $bit,
            answer: $answer,
        }
    };
}

/// `hvc_info[]` of hypercalls.c, with what each call answers when enabled.
pub const HVC_INFO: &[Service] = &[
    // KVM_REG_ARM_STD_BMAP
    service!(ARM_SMCCC_TRNG_VERSION, 0, KVM_REG_ARM_STD_BIT_TRNG_V1_0, Answer::Exactly(ARM_SMCCC_TRNG_VERSION_1_0)),
    service!(ARM_SMCCC_TRNG_FEATURES, ARM_SMCCC_TRNG_RND64, KVM_REG_ARM_STD_BIT_TRNG_V1_0, Answer::Exactly(0)),
    service!(ARM_SMCCC_TRNG_GET_UUID, 0, KVM_REG_ARM_STD_BIT_TRNG_V1_0, Answer::Supported),
    service!(ARM_SMCCC_TRNG_RND32, 0, KVM_REG_ARM_STD_BIT_TRNG_V1_0, Answer::Supported),
    service!(ARM_SMCCC_TRNG_RND64, 0, KVM_REG_ARM_STD_BIT_TRNG_V1_0, Answer::Supported),
    // KVM_REG_ARM_STD_HYP_BMAP
    service!(
        ARM_SMCCC_ARCH_FEATURES_FUNC_ID,
        ARM_SMCCC_HV_PV_TIME_FEATURES,
        KVM_REG_ARM_STD_HYP_BIT_PV_TIME,
        Answer::Exactly(SMCCC_RET_SUCCESS)
    ),
    service!(
        ARM_SMCCC_HV_PV_TIME_FEATURES,
        ARM_SMCCC_HV_PV_TIME_ST,
        KVM_REG_ARM_STD_HYP_BIT_PV_TIME,
        Answer::Exactly(SMCCC_RET_SUCCESS)
    ),
    service!(ARM_SMCCC_HV_PV_TIME_ST, 0, KVM_REG_ARM_STD_HYP_BIT_PV_TIME, Answer::StealTimeIpa),
    // KVM_REG_ARM_VENDOR_HYP_BMAP
    service!(
        ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID,
        ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID,
        KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT,
        Answer::VendorFeatures
    ),
    service!(ARM_SMCCC_VENDOR_HYP_CALL_UID_FUNC_ID, 0, KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT, Answer::KvmUid),
    service!(
        ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID,
        KVM_PTP_VIRT_COUNTER,
        KVM_REG_ARM_VENDOR_HYP_BIT_PTP,
        Answer::Supported
    ),
];

/// The vendor bitmaps a VM was given (0 for one its series lacks).
#[derive(Debug, Clone, Copy)]
pub struct VendorBitmaps {
    /// KVM_REG_ARM_VENDOR_HYP_BMAP.
    pub bmap: u64,
    /// KVM_REG_ARM_VENDOR_HYP_BMAP_2.
    pub bmap_2: u64,
}

/// Checks one call's answer given whether its service is enabled.
pub fn check_answer(
    stage: &str,
    s: &Service,
    enabled: bool,
    vendor: VendorBitmaps,
    steal_time: u64,
    r: [u64; 4],
) -> Result<()> {
    if !enabled {
        ensure!(r[0] == SMCCC_RET_NOT_SUPPORTED, "{stage}: {}: expected NOT_SUPPORTED, got {:#x}", s.name, r[0]);
        return Ok(());
    }
    ensure!(r[0] != SMCCC_RET_NOT_SUPPORTED, "{stage}: {}: expected a supported answer, got NOT_SUPPORTED", s.name);
    let (what, expected, got) = match s.answer {
        Answer::Supported => return Ok(()),
        Answer::Exactly(v) => ("x0", v, r[0]),
        Answer::VendorFeatures => {
            let expected = [vendor.bmap, 0, vendor.bmap_2, 0];
            ensure!(
                r == expected,
                "{stage}: {}: expected the enabled vendor bits [BMAP, 0, BMAP_2, 0] {expected:x?}, got {r:x?}",
                s.name
            );
            return Ok(());
        }
        Answer::StealTimeIpa => ("the stolen-time IPA (x0)", steal_time, r[0]),
        Answer::KvmUid => {
            ensure!(
                r == ARM_SMCCC_VENDOR_HYP_UID_KVM,
                "{stage}: {}: expected KVM's UID {:x?}, got {r:x?}",
                s.name,
                ARM_SMCCC_VENDOR_HYP_UID_KVM
            );
            return Ok(());
        }
    };
    ensure!(got == expected, "{stage}: {}: expected {what} {expected:#x}, got {got:#x}", s.name);
    Ok(())
}

/// What a guest can rely on from one answer, for comparing two VMs: whether
/// the service is there and, for answers that do not vary between calls
/// (everything but random numbers and clocks), the exact x0..x3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The call answers NOT_SUPPORTED.
    NotSupported,
    /// The call works; its answer varies.
    Supported,
    /// The call works and answers exactly x0..x3.
    Exactly([u64; 4]),
}

impl Service {
    /// The view a guest gets from answer `r` to this call.
    pub fn view(&self, r: [u64; 4]) -> View {
        match (r[0], self.answer) {
            (SMCCC_RET_NOT_SUPPORTED, _) => View::NotSupported,
            (_, Answer::Supported) => View::Supported,
            _ => View::Exactly(r),
        }
    }
}
