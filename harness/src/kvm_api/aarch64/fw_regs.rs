//! The arm64 firmware pseudo-registers (Documentation/virt/kvm/arm/
//! fw-pseudo-registers.rst): PSCI_VERSION, the SMCCC_ARCH_WORKAROUND_n
//! levels and the hypercall-service bitmaps, by name, with the kernel's errno
//! kept on failure so tests can tell EINVAL from EBUSY from ENOENT.
//!
//! Which registers a kernel must have is its series' row in `series.rs`
//! ([`FwReg::feature`], [`FwRegs::require`]: listed in KVM_GET_REG_LIST, or
//! the trial fails); [`FwRegs::present`] reads what KVM lists, and a register
//! this file does not know yet still shows up there as a raw id.

use kvm_ioctls::VcpuFd;

pub use super::reg_list::reg_list;
use crate::series::{self, Feature, FwBitmapRow, Series};

use crate::{Error, Result, Vcpu, Vm};

/// `KVM_REG_ARM64`: the arch field of an arm64 ONE_REG id.
pub const KVM_REG_ARM64: u64 = 0x6000_0000_0000_0000;
/// `KVM_REG_SIZE_U64`: the size field of a 64-bit register.
pub const KVM_REG_SIZE_U64: u64 = 0x0030_0000_0000_0000;
/// `KVM_REG_ARM_COPROC_SHIFT` and `KVM_REG_ARM_COPROC_MASK`.
pub const KVM_REG_ARM_COPROC_SHIFT: u64 = 16;
/// `KVM_REG_ARM_COPROC_MASK`.
pub const KVM_REG_ARM_COPROC_MASK: u64 = 0x0fff_0000;
/// `KVM_REG_ARM_FW`: the firmware registers' coprocessor.
pub const KVM_REG_ARM_FW: u64 = 0x0014 << KVM_REG_ARM_COPROC_SHIFT;
/// `KVM_REG_ARM_FW_FEAT_BMAP`: the bitmapped firmware registers' coprocessor.
pub const KVM_REG_ARM_FW_FEAT_BMAP: u64 = 0x0016 << KVM_REG_ARM_COPROC_SHIFT;

/// `KVM_REG_ARM_FW_REG(r)`.
pub const fn kvm_reg_arm_fw_reg(r: u64) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_FW | (r & 0xffff)
}

/// `KVM_REG_ARM_FW_FEAT_BMAP_REG(r)`.
pub const fn kvm_reg_arm_fw_feat_bmap_reg(r: u64) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_FW_FEAT_BMAP | (r & 0xffff)
}

/// True for the id of any firmware register, known here or not.
pub const fn is_fw_reg_id(id: u64) -> bool {
    let arch_size = KVM_REG_ARM64 | KVM_REG_SIZE_U64;
    let coproc = id & KVM_REG_ARM_COPROC_MASK;
    id & 0xfff0_0000_0000_0000 == arch_size
        && (coproc == KVM_REG_ARM_FW || coproc == KVM_REG_ARM_FW_FEAT_BMAP)
        && id & 0x000f_ffff_f000_0000 == 0
        && id & 0xffff_0000 == coproc
}

/// `KVM_ARM_PSCI_0_1`, `_0_2`, `_1_0`, `_1_1` (include/kvm/arm_psci.h).
pub const KVM_ARM_PSCI_0_1: u64 = 1;
/// `KVM_ARM_PSCI_0_2`.
pub const KVM_ARM_PSCI_0_2: u64 = 2;
/// `KVM_ARM_PSCI_1_0`.
pub const KVM_ARM_PSCI_1_0: u64 = 0x1_0000;
/// `KVM_ARM_PSCI_1_1`.
pub const KVM_ARM_PSCI_1_1: u64 = 0x1_0001;

/// Values of the SMCCC_ARCH_WORKAROUND_n registers (uapi asm/kvm.h).
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1_NOT_AVAIL: u64 = 0;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1_AVAIL`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1_AVAIL: u64 = 1;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1_NOT_REQUIRED`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1_NOT_REQUIRED: u64 = 2;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_NOT_AVAIL`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_NOT_AVAIL: u64 = 0;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_UNKNOWN`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_UNKNOWN: u64 = 1;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_AVAIL`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_AVAIL: u64 = 2;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_NOT_REQUIRED`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_NOT_REQUIRED: u64 = 3;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_ENABLED`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_ENABLED: u64 = 1 << 4;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3_NOT_AVAIL`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3_NOT_AVAIL: u64 = 0;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3_AVAIL`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3_AVAIL: u64 = 1;
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3_NOT_REQUIRED`.
pub const KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3_NOT_REQUIRED: u64 = 2;

/// A firmware pseudo-register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FwReg {
    /// `KVM_REG_ARM_PSCI_VERSION`.
    PsciVersion,
    /// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1`.
    SmcccArchWorkaround1,
    /// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2`.
    SmcccArchWorkaround2,
    /// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3`.
    SmcccArchWorkaround3,
    /// `KVM_REG_ARM_STD_BMAP`: standard secure services.
    StdBmap,
    /// `KVM_REG_ARM_STD_HYP_BMAP`: standard hypervisor services.
    StdHypBmap,
    /// `KVM_REG_ARM_VENDOR_HYP_BMAP`: KVM's vendor services (functions 0-63).
    VendorHypBmap,
    /// Newer kernels only: present when KVM_GET_REG_LIST lists it.
    VendorHypBmap2,
}

impl FwReg {
    /// Every register this file knows, in id order.
    pub const ALL: &'static [FwReg] = &[
        FwReg::PsciVersion,
        FwReg::SmcccArchWorkaround1,
        FwReg::SmcccArchWorkaround2,
        FwReg::SmcccArchWorkaround3,
        FwReg::StdBmap,
        FwReg::StdHypBmap,
        FwReg::VendorHypBmap,
        FwReg::VendorHypBmap2,
    ];
    /// The hypercall-service bitmaps.
    pub const BITMAPS: &'static [FwReg] =
        &[FwReg::StdBmap, FwReg::StdHypBmap, FwReg::VendorHypBmap, FwReg::VendorHypBmap2];

    /// The ONE_REG id (`KVM_REG_ARM_PSCI_VERSION`, ...).
    pub const fn id(self) -> u64 {
        match self {
            FwReg::PsciVersion => kvm_reg_arm_fw_reg(0),
            FwReg::SmcccArchWorkaround1 => kvm_reg_arm_fw_reg(1),
            FwReg::SmcccArchWorkaround2 => kvm_reg_arm_fw_reg(2),
            FwReg::SmcccArchWorkaround3 => kvm_reg_arm_fw_reg(3),
            FwReg::StdBmap => kvm_reg_arm_fw_feat_bmap_reg(0),
            FwReg::StdHypBmap => kvm_reg_arm_fw_feat_bmap_reg(1),
            FwReg::VendorHypBmap => kvm_reg_arm_fw_feat_bmap_reg(2),
            FwReg::VendorHypBmap2 => kvm_reg_arm_fw_feat_bmap_reg(3),
        }
    }

    /// The kernel header's name of the register.
    pub const fn name(self) -> &'static str {
        match self {
            FwReg::PsciVersion => "KVM_REG_ARM_PSCI_VERSION",
            FwReg::SmcccArchWorkaround1 => "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1",
            FwReg::SmcccArchWorkaround2 => "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2",
            FwReg::SmcccArchWorkaround3 => "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3",
            FwReg::StdBmap => "KVM_REG_ARM_STD_BMAP",
            FwReg::StdHypBmap => "KVM_REG_ARM_STD_HYP_BMAP",
            FwReg::VendorHypBmap => "KVM_REG_ARM_VENDOR_HYP_BMAP",
            FwReg::VendorHypBmap2 => "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
        }
    }

    /// The name without `KVM_REG_ARM_`, as in trial names and messages.
    pub fn short_name(self) -> &'static str {
        &self.name()["KVM_REG_ARM_".len()..]
    }

    /// The register with ONE_REG id `id`, if this file knows it.
    pub fn from_id(id: u64) -> Option<FwReg> {
        FwReg::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// True for the hypercall-service bitmaps.
    pub fn is_bitmap(self) -> bool {
        FwReg::BITMAPS.contains(&self)
    }

    /// The series feature that brings this register.
    pub const fn feature(self) -> Feature {
        match self {
            FwReg::PsciVersion
            | FwReg::SmcccArchWorkaround1
            | FwReg::SmcccArchWorkaround2
            | FwReg::SmcccArchWorkaround3 => Feature::FwRegsPsciWorkarounds,
            FwReg::StdBmap | FwReg::StdHypBmap | FwReg::VendorHypBmap => Feature::HypercallBitmaps,
            FwReg::VendorHypBmap2 => Feature::VendorHypBmap2,
        }
    }

    /// N of `KVM_REG_ARM_FW_FEAT_BMAP_REG(N)` for a bitmap register.
    pub const fn bitmap_index(self) -> Option<u64> {
        match self {
            FwReg::StdBmap => Some(0),
            FwReg::StdHypBmap => Some(1),
            FwReg::VendorHypBmap => Some(2),
            FwReg::VendorHypBmap2 => Some(3),
            _ => None,
        }
    }

    /// What `series` says of this bitmap register (supported bits, reset
    /// value); `None` for a series without it or a register that is no bitmap.
    pub fn bitmap_in(self, series: Series) -> Option<&'static FwBitmapRow> {
        series::fw_bitmap(series, self.bitmap_index()?)
    }

    /// The bitmaps the running kernel's series has, with their rows.
    pub fn bitmaps_of_running_series() -> Result<Vec<(FwReg, &'static FwBitmapRow)>> {
        let s = Series::running()?;
        Ok(FwReg::BITMAPS.iter().filter_map(|&r| r.bitmap_in(s).map(|row| (r, row))).collect())
    }

    /// The feature bits this file knows for a bitmap register (empty for the others).
    pub fn known_bits(self) -> impl Iterator<Item = &'static FwBit> {
        FW_BITS.iter().filter(move |b| b.reg == self)
    }

    /// The OR of [`FwReg::known_bits`].
    pub fn known_mask(self) -> u64 {
        self.known_bits().fold(0, |m, b| m | b.mask())
    }

    const fn get_op(self) -> &'static str {
        match self {
            FwReg::PsciVersion => "KVM_GET_ONE_REG(KVM_REG_ARM_PSCI_VERSION)",
            FwReg::SmcccArchWorkaround1 => "KVM_GET_ONE_REG(KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1)",
            FwReg::SmcccArchWorkaround2 => "KVM_GET_ONE_REG(KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2)",
            FwReg::SmcccArchWorkaround3 => "KVM_GET_ONE_REG(KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3)",
            FwReg::StdBmap => "KVM_GET_ONE_REG(KVM_REG_ARM_STD_BMAP)",
            FwReg::StdHypBmap => "KVM_GET_ONE_REG(KVM_REG_ARM_STD_HYP_BMAP)",
            FwReg::VendorHypBmap => "KVM_GET_ONE_REG(KVM_REG_ARM_VENDOR_HYP_BMAP)",
            FwReg::VendorHypBmap2 => "KVM_GET_ONE_REG(KVM_REG_ARM_VENDOR_HYP_BMAP_2)",
        }
    }

    const fn set_op(self) -> &'static str {
        match self {
            FwReg::PsciVersion => "KVM_SET_ONE_REG(KVM_REG_ARM_PSCI_VERSION)",
            FwReg::SmcccArchWorkaround1 => "KVM_SET_ONE_REG(KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1)",
            FwReg::SmcccArchWorkaround2 => "KVM_SET_ONE_REG(KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2)",
            FwReg::SmcccArchWorkaround3 => "KVM_SET_ONE_REG(KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3)",
            FwReg::StdBmap => "KVM_SET_ONE_REG(KVM_REG_ARM_STD_BMAP)",
            FwReg::StdHypBmap => "KVM_SET_ONE_REG(KVM_REG_ARM_STD_HYP_BMAP)",
            FwReg::VendorHypBmap => "KVM_SET_ONE_REG(KVM_REG_ARM_VENDOR_HYP_BMAP)",
            FwReg::VendorHypBmap2 => "KVM_SET_ONE_REG(KVM_REG_ARM_VENDOR_HYP_BMAP_2)",
        }
    }
}

impl std::fmt::Display for FwReg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.short_name())
    }
}

/// One feature bit of a bitmap register (`KVM_REG_ARM_STD_BIT_TRNG_V1_0`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FwBit {
    /// The bitmap register holding the bit.
    pub reg: FwReg,
    /// Bit number in the register.
    pub bit: u32,
    /// The kernel header's name.
    pub name: &'static str,
}

impl FwBit {
    /// The bit as a mask of the register's value.
    pub const fn mask(&self) -> u64 {
        1 << self.bit
    }
    /// The name without `KVM_REG_ARM_`.
    pub fn short_name(&self) -> &'static str {
        &self.name["KVM_REG_ARM_".len()..]
    }
}

macro_rules! fw_bit {
    ($name:ident, $reg:ident, $bit:expr) => {
        #[doc = concat!("`", stringify!($name), "`.")]
        pub const $name: FwBit = FwBit { reg: FwReg::$reg, bit: $bit, name: stringify!($name) };
    };
}

fw_bit!(KVM_REG_ARM_STD_BIT_TRNG_V1_0, StdBmap, 0);
fw_bit!(KVM_REG_ARM_STD_HYP_BIT_PV_TIME, StdHypBmap, 0);
fw_bit!(KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT, VendorHypBmap, 0);
fw_bit!(KVM_REG_ARM_VENDOR_HYP_BIT_PTP, VendorHypBmap, 1);
// VENDOR_HYP_BMAP_2 (vendor function numbers 64-127) is newer than both CI kernels
// (c0000e58c74e "KVM: arm64: Introduce KVM_REG_ARM_VENDOR_HYP_BMAP_2"):
// uapi/asm/kvm.h numbers its bits DISCOVER_IMPL_VER 0, DISCOVER_IMPL_CPUS 1.
fw_bit!(KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_VER, VendorHypBmap2, 0);
fw_bit!(KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_CPUS, VendorHypBmap2, 1);

/// Every feature bit this file knows.
pub const FW_BITS: &[FwBit] = &[
    KVM_REG_ARM_STD_BIT_TRNG_V1_0,
    KVM_REG_ARM_STD_HYP_BIT_PV_TIME,
    KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT,
    KVM_REG_ARM_VENDOR_HYP_BIT_PTP,
    KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_VER,
    KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_CPUS,
];

/// The firmware registers of one vCPU (their values are per VM: KVM keeps
/// them in `kvm->arch`, the per-vCPU view is the interface).
pub struct FwRegs<'a> {
    vcpu: &'a VcpuFd,
}

impl Vcpu {
    /// The vCPU's firmware registers (arm64 only).
    pub fn fw_regs(&self) -> FwRegs<'_> {
        FwRegs::new(self.fd())
    }
}

impl Vm {
    /// The VM's firmware registers, seen through vCPU 0 (arm64 only).
    pub fn fw_regs(&mut self) -> FwRegs<'_> {
        FwRegs::new(self.vcpu(0).fd())
    }
}

impl<'a> FwRegs<'a> {
    /// The firmware registers seen through `vcpu` (an initialised vCPU).
    pub fn new(vcpu: &'a VcpuFd) -> Self {
        FwRegs { vcpu }
    }

    /// KVM_GET_ONE_REG of `reg`.
    pub fn get(&self, reg: FwReg) -> Result<u64> {
        read(self.vcpu, reg.id(), reg.get_op())
    }

    /// KVM_SET_ONE_REG of `reg` to `value`; `Error::Kvm` with the kernel's
    /// errno (EINVAL, EBUSY, ENOENT) on refusal.
    pub fn set(&self, reg: FwReg, value: u64) -> Result<()> {
        write(self.vcpu, reg.id(), reg.set_op(), value)
    }

    /// KVM_GET_ONE_REG of a raw 64-bit register id (e.g. one this file does not know).
    pub fn get_raw(&self, id: u64) -> Result<u64> {
        read(self.vcpu, id, "KVM_GET_ONE_REG")
    }

    /// KVM_SET_ONE_REG of a raw 64-bit register id.
    pub fn set_raw(&self, id: u64, value: u64) -> Result<()> {
        write(self.vcpu, id, "KVM_SET_ONE_REG", value)
    }

    /// The firmware register ids KVM_GET_REG_LIST lists, known here or not, in its order.
    pub fn listed_ids(&self) -> Result<Vec<u64>> {
        Ok(reg_list(self.vcpu)?.into_iter().filter(|id| is_fw_reg_id(*id)).collect())
    }

    /// The known registers this kernel has (the ones KVM_GET_REG_LIST lists).
    pub fn present(&self) -> Result<Vec<FwReg>> {
        let ids = self.listed_ids()?;
        Ok(FwReg::ALL.iter().copied().filter(|r| ids.contains(&r.id())).collect())
    }

    /// Ok if the running series has `reg` and KVM lists it; a skip naming
    /// the series if the series lacks it; a failure if the series has it and
    /// KVM_GET_REG_LIST does not list it.
    pub fn require(&self, reg: FwReg) -> Result<()> {
        reg.feature().require()?;
        if self.present()?.contains(&reg) {
            return Ok(());
        }
        Err(Error::Check(format!(
            "{} (Linux {}+) is missing from KVM_GET_REG_LIST on Linux {}",
            reg.name(),
            reg.feature().row().since,
            Series::running()?
        )))
    }

    /// GET_ONE_REG of every firmware register the kernel lists, as a VMM
    /// saves them for migration.
    pub fn save(&self) -> Result<Vec<(u64, u64)>> {
        self.listed_ids()?.into_iter().map(|id| Ok((id, self.get_raw(id)?))).collect()
    }

    /// SET_ONE_REG of every saved register, as a VMM restores them; the
    /// failing register is named in the error.
    pub fn restore(&self, saved: &[(u64, u64)]) -> Result<()> {
        for &(id, value) in saved {
            let op = FwReg::from_id(id).map(FwReg::set_op).unwrap_or("KVM_SET_ONE_REG");
            write(self.vcpu, id, op, value)?;
        }
        Ok(())
    }
}

fn read(vcpu: &VcpuFd, id: u64, op: &'static str) -> Result<u64> {
    let mut b = [0u8; 8];
    vcpu.get_one_reg(id, &mut b).map_err(Error::kvm(op))?;
    Ok(u64::from_le_bytes(b))
}

fn write(vcpu: &VcpuFd, id: u64, op: &'static str, value: u64) -> Result<()> {
    vcpu.set_one_reg(id, &value.to_le_bytes()).map(|_| ()).map_err(Error::kvm(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_uapi_header() {
        // The values KVM_REG_ARM_FW_REG(n) / KVM_REG_ARM_FW_FEAT_BMAP_REG(n) expand to.
        assert_eq!(FwReg::PsciVersion.id(), 0x6030_0000_0014_0000);
        assert_eq!(FwReg::SmcccArchWorkaround1.id(), 0x6030_0000_0014_0001);
        assert_eq!(FwReg::SmcccArchWorkaround2.id(), 0x6030_0000_0014_0002);
        assert_eq!(FwReg::SmcccArchWorkaround3.id(), 0x6030_0000_0014_0003);
        assert_eq!(FwReg::StdBmap.id(), 0x6030_0000_0016_0000);
        assert_eq!(FwReg::StdHypBmap.id(), 0x6030_0000_0016_0001);
        assert_eq!(FwReg::VendorHypBmap.id(), 0x6030_0000_0016_0002);
        assert_eq!(FwReg::VendorHypBmap2.id(), 0x6030_0000_0016_0003);
        // And kvm-bindings agrees on the pieces.
        assert_eq!(KVM_REG_ARM64, kvm_bindings::KVM_REG_ARM64);
        assert_eq!(KVM_REG_SIZE_U64, kvm_bindings::KVM_REG_SIZE_U64);
        assert_eq!(KVM_REG_ARM_FW, u64::from(kvm_bindings::KVM_REG_ARM_FW));
        assert_eq!(KVM_REG_ARM_STD_BIT_TRNG_V1_0.bit, kvm_bindings::KVM_REG_ARM_STD_BIT_TRNG_V1_0);
        assert_eq!(KVM_REG_ARM_VENDOR_HYP_BIT_PTP.bit, kvm_bindings::KVM_REG_ARM_VENDOR_HYP_BIT_PTP);
    }

    #[test]
    fn ids_round_trip_and_are_recognised() {
        for r in FwReg::ALL {
            assert_eq!(FwReg::from_id(r.id()), Some(*r), "{r}");
            assert!(is_fw_reg_id(r.id()), "{r}");
            assert!(r.name().ends_with(r.short_name()));
        }
        assert!(is_fw_reg_id(kvm_reg_arm_fw_feat_bmap_reg(15)));
        // A core register (x0) and a system register (MPIDR_EL1) are not firmware registers.
        assert!(!is_fw_reg_id(0x6030_0000_0010_0000));
        assert!(!is_fw_reg_id(0x6030_0000_0013_c005));
        // A 32-bit encoding of a firmware register is not one either.
        assert!(!is_fw_reg_id(0x6020_0000_0014_0000));
    }

    #[test]
    fn bits_belong_to_bitmaps() {
        for b in FW_BITS {
            assert!(b.reg.is_bitmap(), "{}", b.name);
            assert!(b.name.starts_with("KVM_REG_ARM_"));
        }
        assert_eq!(FwReg::StdBmap.known_mask(), 0b1);
        assert_eq!(FwReg::StdHypBmap.known_mask(), 0b1);
        assert_eq!(FwReg::VendorHypBmap.known_mask(), 0b11);
        assert_eq!(FwReg::PsciVersion.known_mask(), 0);
    }
}
