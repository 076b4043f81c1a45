//! KVM_GET_REG_LIST and the ONE_REG ids of an arm64 vCPU (Documentation/
//! virt/kvm/api.rst, KVM_SET_ONE_REG, "ARM64 registers"): the id encodings
//! (core, system, SVE, firmware, DEMUX), each id's name as the kernel's
//! get-reg-list selftest prints it, and the arm64 ioctls of a [`BareVcpu`]
//! (KVM_ARM_VCPU_INIT with optional features, KVM_ARM_VCPU_FINALIZE), as
//! get-reg-list and vcpu_width_config create their vCPUs.

use kvm_bindings::{kvm_vcpu_init, RegList};
use kvm_ioctls::VcpuFd;

pub use super::fw_regs::{kvm_reg_arm_fw_feat_bmap_reg, kvm_reg_arm_fw_reg, KVM_REG_ARM64, KVM_REG_SIZE_U64};
use super::fw_regs::{KVM_REG_ARM_COPROC_MASK, KVM_REG_ARM_COPROC_SHIFT, KVM_REG_ARM_FW, KVM_REG_ARM_FW_FEAT_BMAP};
use crate::bare_vm::{BareVcpu, BareVm};
use crate::{Error, Result};

/// `KVM_REG_ARCH_MASK`, `KVM_REG_SIZE_MASK`, `KVM_REG_SIZE_SHIFT` (include/uapi/linux/kvm.h).
pub const KVM_REG_ARCH_MASK: u64 = 0xff00_0000_0000_0000;
/// `KVM_REG_SIZE_MASK`.
pub const KVM_REG_SIZE_MASK: u64 = 0x00f0_0000_0000_0000;
/// `KVM_REG_SIZE_SHIFT`.
pub const KVM_REG_SIZE_SHIFT: u64 = 52;
/// `KVM_REG_SIZE_U8` .. `KVM_REG_SIZE_U2048`: log2 of the size in bytes, in the size field.
pub const KVM_REG_SIZE_U8: u64 = 0;
/// `KVM_REG_SIZE_U16`.
pub const KVM_REG_SIZE_U16: u64 = 0x0010_0000_0000_0000;
/// `KVM_REG_SIZE_U32`.
pub const KVM_REG_SIZE_U32: u64 = 0x0020_0000_0000_0000;
/// `KVM_REG_SIZE_U128`.
pub const KVM_REG_SIZE_U128: u64 = 0x0040_0000_0000_0000;
/// `KVM_REG_SIZE_U256`.
pub const KVM_REG_SIZE_U256: u64 = 0x0050_0000_0000_0000;
/// `KVM_REG_SIZE_U512`.
pub const KVM_REG_SIZE_U512: u64 = 0x0060_0000_0000_0000;
/// `KVM_REG_SIZE_U1024`.
pub const KVM_REG_SIZE_U1024: u64 = 0x0070_0000_0000_0000;
/// `KVM_REG_SIZE_U2048`.
pub const KVM_REG_SIZE_U2048: u64 = 0x0080_0000_0000_0000;

/// The arm64 coprocessor fields (arch/arm64/include/uapi/asm/kvm.h).
pub const KVM_REG_ARM_CORE: u64 = 0x0010 << KVM_REG_ARM_COPROC_SHIFT;
/// `KVM_REG_ARM_DEMUX`.
pub const KVM_REG_ARM_DEMUX: u64 = 0x0011 << KVM_REG_ARM_COPROC_SHIFT;
/// `KVM_REG_ARM64_SYSREG`.
pub const KVM_REG_ARM64_SYSREG: u64 = 0x0013 << KVM_REG_ARM_COPROC_SHIFT;
/// `KVM_REG_ARM64_SVE`.
pub const KVM_REG_ARM64_SVE: u64 = 0x0015 << KVM_REG_ARM_COPROC_SHIFT;
/// `KVM_REG_ARM_DEMUX_ID_MASK`, `KVM_REG_ARM_DEMUX_ID_CCSIDR`, `KVM_REG_ARM_DEMUX_VAL_MASK`.
pub const KVM_REG_ARM_DEMUX_ID_MASK: u64 = 0xff00;
/// `KVM_REG_ARM_DEMUX_ID_CCSIDR`.
pub const KVM_REG_ARM_DEMUX_ID_CCSIDR: u64 = 0;
/// `KVM_REG_ARM_DEMUX_VAL_MASK`.
pub const KVM_REG_ARM_DEMUX_VAL_MASK: u64 = 0xff;

/// `KVM_REG_ARM64_SYSREG_{OP0,OP1,CRN,CRM,OP2}_{MASK,SHIFT}`.
pub const KVM_REG_ARM64_SYSREG_OP0_MASK: u64 = 0xc000;
/// `KVM_REG_ARM64_SYSREG_OP0_SHIFT`.
pub const KVM_REG_ARM64_SYSREG_OP0_SHIFT: u64 = 14;
/// `KVM_REG_ARM64_SYSREG_OP1_MASK`.
pub const KVM_REG_ARM64_SYSREG_OP1_MASK: u64 = 0x3800;
/// `KVM_REG_ARM64_SYSREG_OP1_SHIFT`.
pub const KVM_REG_ARM64_SYSREG_OP1_SHIFT: u64 = 11;
/// `KVM_REG_ARM64_SYSREG_CRN_MASK`.
pub const KVM_REG_ARM64_SYSREG_CRN_MASK: u64 = 0x0780;
/// `KVM_REG_ARM64_SYSREG_CRN_SHIFT`.
pub const KVM_REG_ARM64_SYSREG_CRN_SHIFT: u64 = 7;
/// `KVM_REG_ARM64_SYSREG_CRM_MASK`.
pub const KVM_REG_ARM64_SYSREG_CRM_MASK: u64 = 0x0078;
/// `KVM_REG_ARM64_SYSREG_CRM_SHIFT`.
pub const KVM_REG_ARM64_SYSREG_CRM_SHIFT: u64 = 3;
/// `KVM_REG_ARM64_SYSREG_OP2_MASK`.
pub const KVM_REG_ARM64_SYSREG_OP2_MASK: u64 = 0x0007;
/// `KVM_REG_ARM64_SYSREG_OP2_SHIFT`.
pub const KVM_REG_ARM64_SYSREG_OP2_SHIFT: u64 = 0;

/// `ARM64_SYS_REG(op0, op1, crn, crm, op2)`: a system register's ONE_REG id.
pub const fn arm64_sys_reg(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_SIZE_U64
        | KVM_REG_ARM64_SYSREG
        | ((op0 << KVM_REG_ARM64_SYSREG_OP0_SHIFT) & KVM_REG_ARM64_SYSREG_OP0_MASK)
        | ((op1 << KVM_REG_ARM64_SYSREG_OP1_SHIFT) & KVM_REG_ARM64_SYSREG_OP1_MASK)
        | ((crn << KVM_REG_ARM64_SYSREG_CRN_SHIFT) & KVM_REG_ARM64_SYSREG_CRN_MASK)
        | ((crm << KVM_REG_ARM64_SYSREG_CRM_SHIFT) & KVM_REG_ARM64_SYSREG_CRM_MASK)
        | ((op2 << KVM_REG_ARM64_SYSREG_OP2_SHIFT) & KVM_REG_ARM64_SYSREG_OP2_MASK)
}

/// `KVM_REG_ARM_CORE_REG(name)` for the field at `byte_offset` in `struct kvm_regs`:
/// the offset in 32-bit words.
pub const fn kvm_reg_arm_core_reg(byte_offset: usize) -> u64 {
    (byte_offset / 4) as u64
}

/// `KVM_REG_ARM_CORE_REG(field)` with the field written as in C:
/// `kvm_reg_arm_core_reg!(regs.regs[3])`, `kvm_reg_arm_core_reg!(fp_regs.fpsr)`.
#[macro_export]
macro_rules! kvm_reg_arm_core_reg {
    (regs.regs[$i:expr]) => {
        $crate::aarch64::reg_list::kvm_reg_arm_core_reg(
            ::core::mem::offset_of!($crate::kvm_bindings::kvm_regs, regs.regs) + 8 * $i,
        )
    };
    (spsr[$i:expr]) => {
        $crate::aarch64::reg_list::kvm_reg_arm_core_reg(::core::mem::offset_of!($crate::kvm_bindings::kvm_regs, spsr) + 8 * $i)
    };
    (fp_regs.vregs[$i:expr]) => {
        $crate::aarch64::reg_list::kvm_reg_arm_core_reg(
            ::core::mem::offset_of!($crate::kvm_bindings::kvm_regs, fp_regs.vregs) + 16 * $i,
        )
    };
    ($($field:ident).+) => {
        $crate::aarch64::reg_list::kvm_reg_arm_core_reg(::core::mem::offset_of!($crate::kvm_bindings::kvm_regs, $($field).+))
    };
}

/// `KVM_NR_SPSR`.
pub const KVM_NR_SPSR: u64 = 5;

/// The SVE register ids (`KVM_REG_ARM64_SVE_*`, arch/arm64/include/uapi/asm/kvm.h).
pub const KVM_REG_ARM64_SVE_ZREG_BASE: u64 = 0;
/// `KVM_REG_ARM64_SVE_PREG_BASE`.
pub const KVM_REG_ARM64_SVE_PREG_BASE: u64 = 0x400;
/// `KVM_REG_ARM64_SVE_FFR_BASE`.
pub const KVM_REG_ARM64_SVE_FFR_BASE: u64 = 0x600;
/// `KVM_ARM64_SVE_NUM_ZREGS`.
pub const KVM_ARM64_SVE_NUM_ZREGS: u64 = 32;
/// `KVM_ARM64_SVE_NUM_PREGS`.
pub const KVM_ARM64_SVE_NUM_PREGS: u64 = 16;
/// `KVM_ARM64_SVE_MAX_SLICES`.
pub const KVM_ARM64_SVE_MAX_SLICES: u64 = 32;
/// `KVM_REG_ARM64_SVE_VLS`: the vector lengths a vCPU offers, writable only before KVM_ARM_VCPU_FINALIZE.
pub const KVM_REG_ARM64_SVE_VLS: u64 = KVM_REG_ARM64 | KVM_REG_ARM64_SVE | 0xffff | KVM_REG_SIZE_U512;

/// `KVM_REG_ARM64_SVE_ZREG(n, i)`.
pub const fn kvm_reg_arm64_sve_zreg(n: u64, i: u64) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_ARM64_SVE
        | KVM_REG_ARM64_SVE_ZREG_BASE
        | KVM_REG_SIZE_U2048
        | ((n & (KVM_ARM64_SVE_NUM_ZREGS - 1)) << 5)
        | (i & (KVM_ARM64_SVE_MAX_SLICES - 1))
}

/// `KVM_REG_ARM64_SVE_PREG(n, i)`.
pub const fn kvm_reg_arm64_sve_preg(n: u64, i: u64) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_ARM64_SVE
        | KVM_REG_ARM64_SVE_PREG_BASE
        | KVM_REG_SIZE_U256
        | ((n & (KVM_ARM64_SVE_NUM_PREGS - 1)) << 5)
        | (i & (KVM_ARM64_SVE_MAX_SLICES - 1))
}

/// `KVM_REG_ARM64_SVE_FFR(i)`.
pub const fn kvm_reg_arm64_sve_ffr(i: u64) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_ARM64_SVE
        | KVM_REG_ARM64_SVE_FFR_BASE
        | KVM_REG_SIZE_U256
        | (i & (KVM_ARM64_SVE_MAX_SLICES - 1))
}

/// The size in bytes of the register with ONE_REG id `id`.
pub const fn reg_size(id: u64) -> usize {
    1 << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT)
}

/// True for the DEMUX registers (the CCSIDR_EL1 of each cache level), which
/// the selftest leaves out of its blessed lists: which ones exist follows
/// the host's CLIDR_EL1.
pub const fn is_demux_reg(id: u64) -> bool {
    id & KVM_REG_ARM_COPROC_MASK == KVM_REG_ARM_DEMUX
}

/// The register with ONE_REG id `id` written as get-reg-list's `print_reg()`
/// writes it (`ARM64_SYS_REG(3, 0, 0, 1, 0)`, `KVM_REG_ARM64 |
/// KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc)`,
/// `KVM_REG_ARM64_SVE_ZREG(3, 0)`); an id it cannot decode is written in hex.
pub fn reg_name(id: u64) -> String {
    let raw = || format!("{id:#x}");
    if id & KVM_REG_ARCH_MASK != KVM_REG_ARM64 {
        return raw();
    }
    let size = match id & KVM_REG_SIZE_MASK {
        KVM_REG_SIZE_U8 => "KVM_REG_SIZE_U8",
        KVM_REG_SIZE_U16 => "KVM_REG_SIZE_U16",
        KVM_REG_SIZE_U32 => "KVM_REG_SIZE_U32",
        KVM_REG_SIZE_U64 => "KVM_REG_SIZE_U64",
        KVM_REG_SIZE_U128 => "KVM_REG_SIZE_U128",
        KVM_REG_SIZE_U256 => "KVM_REG_SIZE_U256",
        KVM_REG_SIZE_U512 => "KVM_REG_SIZE_U512",
        KVM_REG_SIZE_U1024 => "KVM_REG_SIZE_U1024",
        KVM_REG_SIZE_U2048 => "KVM_REG_SIZE_U2048",
        _ => return raw(),
    };
    let low = id & 0xffff;
    match id & KVM_REG_ARM_COPROC_MASK {
        KVM_REG_ARM_CORE => match core_field(id & !(KVM_REG_ARCH_MASK | KVM_REG_SIZE_MASK | KVM_REG_ARM_COPROC_MASK)) {
            Some(field) => format!("KVM_REG_ARM64 | {size} | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG({field})"),
            None => raw(),
        },
        KVM_REG_ARM_DEMUX => format!(
            "KVM_REG_ARM64 | {size} | KVM_REG_ARM_DEMUX | KVM_REG_ARM_DEMUX_ID_CCSIDR | {}",
            id & KVM_REG_ARM_DEMUX_VAL_MASK
        ),
        KVM_REG_ARM64_SYSREG => {
            let field = |mask: u64, shift: u64| (id & mask) >> shift;
            let (op0, op1, crn, crm, op2) = (
                field(KVM_REG_ARM64_SYSREG_OP0_MASK, KVM_REG_ARM64_SYSREG_OP0_SHIFT),
                field(KVM_REG_ARM64_SYSREG_OP1_MASK, KVM_REG_ARM64_SYSREG_OP1_SHIFT),
                field(KVM_REG_ARM64_SYSREG_CRN_MASK, KVM_REG_ARM64_SYSREG_CRN_SHIFT),
                field(KVM_REG_ARM64_SYSREG_CRM_MASK, KVM_REG_ARM64_SYSREG_CRM_SHIFT),
                field(KVM_REG_ARM64_SYSREG_OP2_MASK, KVM_REG_ARM64_SYSREG_OP2_SHIFT),
            );
            if id != arm64_sys_reg(op0, op1, crn, crm, op2) {
                return raw();
            }
            format!("ARM64_SYS_REG({op0}, {op1}, {crn}, {crm}, {op2})")
        }
        KVM_REG_ARM_FW if id == kvm_reg_arm_fw_reg(low) => format!("KVM_REG_ARM_FW_REG({low})"),
        KVM_REG_ARM_FW_FEAT_BMAP if id == kvm_reg_arm_fw_feat_bmap_reg(low) => {
            format!("KVM_REG_ARM_FW_FEAT_BMAP_REG({low})")
        }
        KVM_REG_ARM64_SVE => sve_name(id).unwrap_or_else(raw),
        _ => raw(),
    }
}

/// The `struct kvm_regs` field at 32-bit word `word` (get-reg-list's `core_id_to_str()`).
fn core_field(word: u64) -> Option<String> {
    let regs0 = kvm_reg_arm_core_reg!(regs.regs[0]);
    let spsr0 = kvm_reg_arm_core_reg!(spsr[0]);
    let vregs0 = kvm_reg_arm_core_reg!(fp_regs.vregs[0]);
    let named: [(u64, &str); 7] = [
        (kvm_reg_arm_core_reg!(regs.sp), "regs.sp"),
        (kvm_reg_arm_core_reg!(regs.pc), "regs.pc"),
        (kvm_reg_arm_core_reg!(regs.pstate), "regs.pstate"),
        (kvm_reg_arm_core_reg!(sp_el1), "sp_el1"),
        (kvm_reg_arm_core_reg!(elr_el1), "elr_el1"),
        (kvm_reg_arm_core_reg!(fp_regs.fpsr), "fp_regs.fpsr"),
        (kvm_reg_arm_core_reg!(fp_regs.fpcr), "fp_regs.fpcr"),
    ];
    if let Some((_, name)) = named.iter().find(|(w, _)| *w == word) {
        return Some((*name).to_string());
    }
    // 2 words per 64-bit register, 4 per 128-bit one; only the first word of each names it.
    if (regs0..regs0 + 31 * 2).contains(&word) && (word - regs0) % 2 == 0 {
        return Some(format!("regs.regs[{}]", (word - regs0) / 2));
    }
    if (spsr0..spsr0 + KVM_NR_SPSR * 2).contains(&word) && (word - spsr0) % 2 == 0 {
        return Some(format!("spsr[{}]", (word - spsr0) / 2));
    }
    if (vregs0..vregs0 + 32 * 4).contains(&word) && (word - vregs0) % 4 == 0 {
        return Some(format!("fp_regs.vregs[{}]", (word - vregs0) / 4));
    }
    None
}

/// get-reg-list's `sve_id_to_str()` (slice 0 only, as there).
fn sve_name(id: u64) -> Option<String> {
    if id == KVM_REG_ARM64_SVE_VLS {
        return Some("KVM_REG_ARM64_SVE_VLS".into());
    }
    if id & (KVM_ARM64_SVE_MAX_SLICES - 1) != 0 {
        return None;
    }
    let zn = (id >> 5) & (KVM_ARM64_SVE_NUM_ZREGS - 1);
    let pn = (id >> 5) & (KVM_ARM64_SVE_NUM_PREGS - 1);
    if id == kvm_reg_arm64_sve_zreg(zn, 0) {
        Some(format!("KVM_REG_ARM64_SVE_ZREG({zn}, 0)"))
    } else if id == kvm_reg_arm64_sve_preg(pn, 0) {
        Some(format!("KVM_REG_ARM64_SVE_PREG({pn}, 0)"))
    } else if id == kvm_reg_arm64_sve_ffr(0) {
        Some("KVM_REG_ARM64_SVE_FFR(0)".into())
    } else {
        None
    }
}

pub use crate::arch::aarch64::vcpu_feature::{features_word, VcpuFeature};

impl VcpuFeature {
    /// Skips (naming the capability) unless /dev/kvm offers the feature.
    pub fn require(self) -> Result<()> {
        crate::require_cap_raw(self.cap_name(), self.cap().into()).map(|_| ())
    }
}

impl BareVm {
    /// KVM_ARM_PREFERRED_TARGET with `features` set (and nothing else), for a
    /// KVM_ARM_VCPU_INIT of a vCPU made by [`BareVm::create_vcpu`].
    pub fn preferred_init(&self, features: &[VcpuFeature]) -> Result<kvm_vcpu_init> {
        let mut init = kvm_vcpu_init::default();
        self.fd().get_preferred_target(&mut init).map_err(Error::kvm("KVM_ARM_PREFERRED_TARGET"))?;
        init.features = features_word(features);
        Ok(init)
    }
}

/// The arm64 ioctls of a bare vCPU (get-reg-list's and vcpu_width_config's):
/// enough to initialise it, list, read and write its registers, not to run it.
impl BareVcpu {
    /// KVM_ARM_VCPU_INIT with `init`; a refusal is `Error::Kvm` with the errno.
    pub fn vcpu_init(&self, init: &kvm_vcpu_init) -> Result<()> {
        self.fd().vcpu_init(init).map_err(Error::kvm("KVM_ARM_VCPU_INIT"))
    }

    /// KVM_ARM_VCPU_FINALIZE of `feature` (SVE: fixes the vector lengths).
    pub fn finalize(&self, feature: VcpuFeature) -> Result<()> {
        let what = feature.bit() as std::os::raw::c_int;
        self.fd().vcpu_finalize(&what).map_err(Error::kvm("KVM_ARM_VCPU_FINALIZE"))
    }

    /// KVM_GET_REG_LIST.
    pub fn reg_list(&self) -> Result<Vec<u64>> {
        reg_list(self.fd())
    }

    /// KVM_GET_ONE_REG of `id`, its bytes (as many as the id's size field says).
    pub fn get_one_reg(&self, id: u64) -> Result<Vec<u8>> {
        let mut value = vec![0u8; reg_size(id)];
        self.fd().get_one_reg(id, &mut value).map_err(Error::kvm("KVM_GET_ONE_REG"))?;
        Ok(value)
    }
}

/// KVM_GET_REG_LIST: every ONE_REG id of the vCPU.
pub fn reg_list(vcpu: &VcpuFd) -> Result<Vec<u64>> {
    // The kernel says how many there are when the list is too short (E2BIG).
    let mut probe = RegList::new(0).map_err(|e| Error::Memory(format!("KVM_GET_REG_LIST buffer: {e:?}")))?;
    let n = match vcpu.get_reg_list(&mut probe) {
        Ok(()) => return Ok(Vec::new()),
        Err(e) if e.errno() == libc::E2BIG => probe.as_fam_struct_ref().n as usize,
        Err(e) => return Err(Error::Kvm { op: "KVM_GET_REG_LIST", source: e }),
    };
    let mut list = RegList::new(n).map_err(|e| Error::Memory(format!("KVM_GET_REG_LIST buffer of {n}: {e:?}")))?;
    vcpu.get_reg_list(&mut list).map_err(Error::kvm("KVM_GET_REG_LIST"))?;
    Ok(list.as_slice().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_uapi_header() {
        assert_eq!(KVM_REG_ARCH_MASK, kvm_bindings::KVM_REG_ARCH_MASK as u64);
        assert_eq!(KVM_REG_SIZE_MASK, kvm_bindings::KVM_REG_SIZE_MASK);
        assert_eq!(KVM_REG_SIZE_U2048, kvm_bindings::KVM_REG_SIZE_U2048);
        assert_eq!(KVM_REG_ARM_CORE, u64::from(kvm_bindings::KVM_REG_ARM_CORE));
        assert_eq!(KVM_REG_ARM_DEMUX, u64::from(kvm_bindings::KVM_REG_ARM_DEMUX));
        assert_eq!(KVM_REG_ARM64_SYSREG, u64::from(kvm_bindings::KVM_REG_ARM64_SYSREG));
        assert_eq!(KVM_REG_ARM64_SVE, u64::from(kvm_bindings::KVM_REG_ARM64_SVE));
        assert_eq!(KVM_REG_ARM64_SVE_VLS, 0x6060_0000_0015_ffff);
        // MIDR_EL1, x0, pc, fpcr, v31 as the header's macros give them.
        assert_eq!(arm64_sys_reg(3, 0, 0, 0, 0), 0x6030_0000_0013_c000);
        assert_eq!(
            KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | kvm_reg_arm_core_reg!(regs.regs[0]),
            0x6030_0000_0010_0000
        );
        assert_eq!(kvm_reg_arm_core_reg!(regs.pc), 64);
        assert_eq!(kvm_reg_arm_core_reg!(fp_regs.vregs[31]), 84 + 31 * 4);
        assert_eq!(kvm_reg_arm_core_reg!(fp_regs.fpcr), 213);
    }

    #[test]
    fn names_are_print_regs() {
        assert_eq!(reg_name(arm64_sys_reg(3, 0, 0, 1, 0)), "ARM64_SYS_REG(3, 0, 0, 1, 0)");
        assert_eq!(
            reg_name(KVM_REG_ARM64 | KVM_REG_SIZE_U128 | KVM_REG_ARM_CORE | kvm_reg_arm_core_reg!(fp_regs.vregs[7])),
            "KVM_REG_ARM64 | KVM_REG_SIZE_U128 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(fp_regs.vregs[7])"
        );
        assert_eq!(
            reg_name(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | kvm_reg_arm_core_reg!(spsr[4])),
            "KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(spsr[4])"
        );
        assert_eq!(reg_name(kvm_reg_arm64_sve_zreg(31, 0)), "KVM_REG_ARM64_SVE_ZREG(31, 0)");
        assert_eq!(reg_name(kvm_reg_arm64_sve_preg(15, 0)), "KVM_REG_ARM64_SVE_PREG(15, 0)");
        assert_eq!(reg_name(kvm_reg_arm64_sve_ffr(0)), "KVM_REG_ARM64_SVE_FFR(0)");
        assert_eq!(reg_name(KVM_REG_ARM64_SVE_VLS), "KVM_REG_ARM64_SVE_VLS");
        assert_eq!(reg_name(kvm_reg_arm_fw_feat_bmap_reg(2)), "KVM_REG_ARM_FW_FEAT_BMAP_REG(2)");
        assert_eq!(reg_size(kvm_reg_arm64_sve_zreg(0, 0)), 256);
    }
}
