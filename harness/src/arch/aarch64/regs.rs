//! arm64 register names for KVM_{GET,SET}_ONE_REG and for MRS/MSR: core
//! registers by their offset in `struct kvm_regs`, system registers by their
//! (op0, op1, CRn, CRm, op2) encoding.

use kvm_bindings::{KVM_REG_ARM64, KVM_REG_ARM64_SYSREG, KVM_REG_ARM_CORE, KVM_REG_SIZE_U64};

/// ONE_REG id of the 64-bit core register at byte `offset` of `struct kvm_regs`.
pub const fn core_reg(offset: u64) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE as u64 | (offset / 4)
}

/// `struct kvm_regs` offsets: `user_pt_regs { regs[31], sp, pc, pstate }`,
/// then `sp_el1`, `elr_el1`, `spsr[5]`.
pub const fn x(n: u64) -> u64 {
    core_reg(8 * n)
}
/// SP_EL0 (`regs.sp`).
pub const SP_EL0: u64 = core_reg(8 * 31);
/// PC (`regs.pc`).
pub const PC: u64 = core_reg(8 * 32);
/// PSTATE (`regs.pstate`).
pub const PSTATE: u64 = core_reg(8 * 33);
/// SP_EL1 (`sp_el1`).
pub const SP_EL1: u64 = core_reg(8 * 34);
/// ELR_EL1 (`elr_el1`).
pub const ELR_EL1: u64 = core_reg(8 * 35);
/// SPSR_EL1 (`spsr[KVM_SPSR_EL1]`).
pub const SPSR_EL1: u64 = core_reg(8 * 36);

/// A system register's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysReg {
    /// Name in register dumps.
    pub name: &'static str,
    /// op0.
    pub op0: u32,
    /// op1.
    pub op1: u32,
    /// CRn.
    pub crn: u32,
    /// CRm.
    pub crm: u32,
    /// op2.
    pub op2: u32,
}

impl SysReg {
    const fn new(name: &'static str, op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> Self {
        SysReg { name, op0, op1, crn, crm, op2 }
    }

    /// `ARM64_SYS_REG(op0, op1, crn, crm, op2)`: the ONE_REG id.
    pub const fn kvm_id(self) -> u64 {
        KVM_REG_ARM64
            | KVM_REG_SIZE_U64
            | KVM_REG_ARM64_SYSREG as u64
            | ((self.op0 as u64) << 14)
            | ((self.op1 as u64) << 11)
            | ((self.crn as u64) << 7)
            | ((self.crm as u64) << 3)
            | self.op2 as u64
    }

    /// The 15-bit field of MRS/MSR (register) at bits 19:5: o0 (op0 is 2 + o0),
    /// op1, CRn, CRm, op2, as dynasm's `mrs x0, IMM` takes it.
    pub const fn mrs_imm(self) -> u32 {
        ((self.op0 - 2) << 14) | (self.op1 << 11) | (self.crn << 7) | (self.crm << 3) | self.op2
    }
}

/// SCTLR_EL1: system control.
pub const SCTLR_EL1: SysReg = SysReg::new("sctlr_el1", 3, 0, 1, 0, 0);
/// CPACR_EL1: FP/SIMD access.
pub const CPACR_EL1: SysReg = SysReg::new("cpacr_el1", 3, 0, 1, 0, 2);
/// TTBR0_EL1: the stage-1 table base.
pub const TTBR0_EL1: SysReg = SysReg::new("ttbr0_el1", 3, 0, 2, 0, 0);
/// TCR_EL1: translation control.
pub const TCR_EL1: SysReg = SysReg::new("tcr_el1", 3, 0, 2, 0, 2);
/// ESR_EL1: exception syndrome.
pub const ESR_EL1: SysReg = SysReg::new("esr_el1", 3, 0, 5, 2, 0);
/// FAR_EL1: fault address.
pub const FAR_EL1: SysReg = SysReg::new("far_el1", 3, 0, 6, 0, 0);
/// MAIR_EL1: memory attributes.
pub const MAIR_EL1: SysReg = SysReg::new("mair_el1", 3, 0, 10, 2, 0);
/// VBAR_EL1: the vector table.
pub const VBAR_EL1: SysReg = SysReg::new("vbar_el1", 3, 0, 12, 0, 0);
/// TPIDR_EL1: the vCPU's boot info.
pub const TPIDR_EL1: SysReg = SysReg::new("tpidr_el1", 3, 0, 13, 0, 4);
/// The firmware's scratch register on exception entry (read-only at EL0, free at EL1).
pub const TPIDRRO_EL0: SysReg = SysReg::new("tpidrro_el0", 3, 3, 13, 0, 3);
/// Accessed by the firmware with MRS/MSR only (KVM exposes them as core registers).
pub const SPSR_EL1_SYSREG: SysReg = SysReg::new("spsr_el1", 3, 0, 4, 0, 0);
/// ELR_EL1, by its MRS/MSR encoding.
pub const ELR_EL1_SYSREG: SysReg = SysReg::new("elr_el1", 3, 0, 4, 0, 1);
/// SP_EL0 by its MSR/MRS encoding (the exception stack of the firmware).
pub const SP_EL0_SYSREG: SysReg = SysReg::new("sp_el0", 3, 0, 4, 1, 0);

/// DBGBVR0_EL1: breakpoint value register 0 (op0 2: the debug registers).
pub const DBGBVR0_EL1: SysReg = SysReg::new("dbgbvr0_el1", 2, 0, 0, 0, 4);
/// DBGWVR0_EL1: watchpoint value register 0.
pub const DBGWVR0_EL1: SysReg = SysReg::new("dbgwvr0_el1", 2, 0, 0, 0, 6);
/// ID_AA64DFR0_EL1: the debug feature register (DebugVer, BRPs, WRPs, CTX_CMPs).
pub const ID_AA64DFR0_EL1: SysReg = SysReg::new("id_aa64dfr0_el1", 3, 0, 0, 5, 0);

/// PSTATE.M = EL1h: EL1 using SP_EL1.
pub const PSR_MODE_EL1H: u64 = 0x5;
/// PSTATE.{D,A,I,F}: all exceptions that can be masked are.
pub const PSR_DAIF: u64 = 0xf << 6;

/// SCTLR_EL1.M: stage-1 MMU on.
pub const SCTLR_M: u64 = 1 << 0;
/// SCTLR_EL1.C: data cacheable.
pub const SCTLR_C: u64 = 1 << 2;
/// SCTLR_EL1.I: instruction cacheable.
pub const SCTLR_I: u64 = 1 << 12;

/// TCR_EL1 fields.
pub const TCR_T0SZ_SHIFT: u64 = 0;
/// TCR_EL1.IRGN0: inner write-back write-allocate walks.
pub const TCR_IRGN0_WBWA: u64 = 1 << 8;
/// TCR_EL1.ORGN0: outer write-back write-allocate walks.
pub const TCR_ORGN0_WBWA: u64 = 1 << 10;
/// TCR_EL1.SH0: inner shareable walks.
pub const TCR_SH0_INNER: u64 = 3 << 12;
/// TCR_EL1.TG0: 4 KiB granule.
pub const TCR_TG0_4K: u64 = 0 << 14;
/// EPD1: no walks through TTBR1_EL1 (the upper half is not used).
pub const TCR_EPD1: u64 = 1 << 23;
/// TCR_EL1.IPS: intermediate physical address size, shift.
pub const TCR_IPS_SHIFT: u64 = 32;
/// TCR_EL1.IPS encoding of a 40-bit intermediate physical address.
pub const TCR_IPS_40_BITS: u64 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_kernel_headers() {
        // ARM64_CORE_REG(regs.pc) and ARM64_SYS_REG(3, 0, 1, 0, 0) as the C selftests compute them.
        assert_eq!(PC, 0x6030_0000_0010_0040);
        assert_eq!(SP_EL1, 0x6030_0000_0010_0044);
        assert_eq!(SCTLR_EL1.kvm_id(), 0x6030_0000_0013_c080);
        assert_eq!(TPIDR_EL1.kvm_id(), 0x6030_0000_0013_c684);
    }

    #[test]
    fn mrs_field_matches_the_architecture() {
        // `mrs x1, esr_el1` is 0xd5385201: bits 19:5 hold 0x4290.
        assert_eq!(ESR_EL1.mrs_imm(), (0xd538_5201u32 >> 5) & 0x7fff);
        // `msr dbgbvr0_el1, x0` is 0xd5100080.
        assert_eq!(DBGBVR0_EL1.mrs_imm(), (0xd510_0080u32 >> 5) & 0x7fff);
    }
}
