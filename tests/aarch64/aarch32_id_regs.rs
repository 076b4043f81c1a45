//! aarch32_id_regs: the AArch64 views of the AArch32 ID registers on a CPU
//! without AArch32 (upstream aarch64/aarch32_id_regs.c, 6.1 and 6.12 alike).
//! With no EL able to run AArch32, KVM makes them RAZ for the guest and
//! RAZ/WI for userspace (sys_regs.c `aa32_id_visibility()`: REG_RAZ |
//! REG_USER_WI): `user_raz_wi::<REG>` reads 0, writes 0x1badc0de without
//! error and still reads 0; `guest_raz` reads every one with MRS by its
//! encoding and finds 0. Upstream runs only on a vCPU whose
//! ID_AA64PFR0_EL1.EL0 says AArch64-only (`vcpu_aarch64_only()`); those
//! trials skip otherwise, naming the field.
//!
//! The hidden and unallocated ones (ID_AFR0_EL1, ID_DFR1_EL1, (3,0,0,3,3),
//! (3,0,0,3,7)) are RAZ on any CPU (`ID_HIDDEN`/`ID_UNALLOCATED`:
//! `raz_visibility()`, no REG_USER_WI) and invariant for userspace: a write
//! of another value is EINVAL (6.12 `set_id_reg()` through
//! `arm64_check_features()` with a writable mask of 0, -E2BIG turned into
//! -EINVAL; 6.1 `set_id_reg()`: "you can't change it"). Their trials
//! (`user_raz_invariant::<REG>`, `guest_raz::hidden_and_unallocated`) run
//! on every CPU, AArch32-capable ones too.

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::reg_list::arm64_sys_reg;
    use kvmtest::bare_vm::{BareVcpu, BareVm};
    use kvmtest::{bail, ensure, runner, Error, Payload, Result, Vm};
    use kvmtest_tests::payloads::AARCH32_ID_REGS;

    /// `BAD_ID_REG_VAL`.
    const BAD_ID_REG_VAL: u64 = 0x1bad_c0de;

    /// ID_AA64PFR0_EL1 and its EL0 field (bits 3:0).
    const ID_AA64PFR0_EL1: u64 = arm64_sys_reg(3, 0, 0, 4, 0);
    const ID_AA64PFR0_EL1_EL0_MASK: u64 = 0xf;
    /// `ID_AA64PFR0_EL1_ELx_64BIT_ONLY`.
    const ID_AA64PFR0_EL1_ELX_64BIT_ONLY: u64 = 0b0001;

    /// The payload's boot argument 0: read every AArch32 ID register, not
    /// only the hidden and unallocated ones.
    const GUEST_ALL_ARG: usize = 0;

    struct IdReg {
        name: &'static str,
        id: u64,
    }

    /// `KVM_ARM64_SYS_REG(SYS_<name>)`: op0=3, op1=0, CRn=0.
    macro_rules! id_reg {
        ($name:literal, $crm:literal, $op2:literal) => {
            IdReg { name: $name, id: arm64_sys_reg(3, 0, 0, $crm, $op2) }
        };
    }

    /// `raz_wi_reg_ids[]`.
    const RAZ_WI_REGS: &[IdReg] = &[
        id_reg!("ID_PFR0_EL1", 1, 0),
        id_reg!("ID_PFR1_EL1", 1, 1),
        id_reg!("ID_DFR0_EL1", 1, 2),
        id_reg!("ID_MMFR0_EL1", 1, 4),
        id_reg!("ID_MMFR1_EL1", 1, 5),
        id_reg!("ID_MMFR2_EL1", 1, 6),
        id_reg!("ID_MMFR3_EL1", 1, 7),
        id_reg!("ID_ISAR0_EL1", 2, 0),
        id_reg!("ID_ISAR1_EL1", 2, 1),
        id_reg!("ID_ISAR2_EL1", 2, 2),
        id_reg!("ID_ISAR3_EL1", 2, 3),
        id_reg!("ID_ISAR4_EL1", 2, 4),
        id_reg!("ID_ISAR5_EL1", 2, 5),
        id_reg!("ID_MMFR4_EL1", 2, 6),
        id_reg!("ID_ISAR6_EL1", 2, 7),
        id_reg!("MVFR0_EL1", 3, 0),
        id_reg!("MVFR1_EL1", 3, 1),
        id_reg!("MVFR2_EL1", 3, 2),
        id_reg!("ID_PFR2_EL1", 3, 4),
        id_reg!("ID_MMFR5_EL1", 3, 6),
    ];

    /// `raz_invariant_reg_ids[]`.
    const RAZ_INVARIANT_REGS: &[IdReg] = &[
        id_reg!("ID_AFR0_EL1", 1, 3),
        id_reg!("sys_reg(3,0,0,3,3)", 3, 3),
        id_reg!("ID_DFR1_EL1", 3, 5),
        id_reg!("sys_reg(3,0,0,3,7)", 3, 7),
    ];

    pub fn trials() -> Vec<runner::Trial> {
        let mut t: Vec<runner::Trial> = RAZ_WI_REGS
            .iter()
            .map(|reg| runner::test(format!("aarch32_id_regs::user_raz_wi::{}", reg.name), move || user_raz_wi(reg)))
            .collect();
        t.extend(RAZ_INVARIANT_REGS.iter().map(|reg| {
            runner::test(format!("aarch32_id_regs::user_raz_invariant::{}", reg.name), move || user_raz_invariant(reg))
        }));
        t.push(runner::test("aarch32_id_regs::guest_raz", || guest_raz(true)));
        t.push(runner::test("aarch32_id_regs::guest_raz::hidden_and_unallocated", || guest_raz(false)));
        t
    }

    fn get(vcpu: &BareVcpu, reg: &IdReg) -> Result<u64> {
        let bytes = vcpu.get_one_reg(reg.id)?;
        let word: [u8; 8] =
            bytes.try_into().map_err(|b: Vec<u8>| Error::Config(format!("{}: {} bytes, not 8", reg.name, b.len())))?;
        Ok(u64::from_le_bytes(word))
    }

    /// `TEST_REQUIRE(vcpu_aarch64_only(vcpu))`.
    fn require_aarch64_only(vcpu: &BareVcpu) -> Result<()> {
        let pfr0 = get(vcpu, &IdReg { name: "ID_AA64PFR0_EL1", id: ID_AA64PFR0_EL1 })?;
        let el0 = pfr0 & ID_AA64PFR0_EL1_EL0_MASK;
        if el0 != ID_AA64PFR0_EL1_ELX_64BIT_ONLY {
            return Err(Error::Skip(format!(
                "requires a CPU without AArch32 (the vCPU's ID_AA64PFR0_EL1.EL0 = {el0:#06b}, not \
                 0b0001 AArch64-only): the AArch32 ID registers are RAZ only then"
            )));
        }
        Ok(())
    }

    /// `test_user_raz_wi()`, one register.
    fn user_raz_wi(reg: &IdReg) -> Result<()> {
        let vm = BareVm::with_vcpu(&[])?;
        let vcpu = vm.vcpu(0)?;
        require_aarch64_only(vcpu)?;
        let before = get(vcpu, reg)?;
        ensure!(before == 0, "{}: expected RAZ (0), got {before:#x}", reg.name);
        // Expect the ioctl to succeed with no effect on the register value.
        if let Err(e) = vcpu.set_one_reg(reg.id, &BAD_ID_REG_VAL.to_le_bytes()) {
            bail!("{}: write of {BAD_ID_REG_VAL:#x}: expected success (WI), got {e}", reg.name);
        }
        let after = get(vcpu, reg)?;
        ensure!(after == 0, "{}: after writing {BAD_ID_REG_VAL:#x}: expected 0, got {after:#x}", reg.name);
        Ok(())
    }

    /// `test_user_raz_invariant()`, one register.
    fn user_raz_invariant(reg: &IdReg) -> Result<()> {
        let vm = BareVm::with_vcpu(&[])?;
        let vcpu = vm.vcpu(0)?;
        let before = get(vcpu, reg)?;
        ensure!(before == 0, "{}: expected RAZ (0), got {before:#x}", reg.name);
        match vcpu.set_one_reg(reg.id, &BAD_ID_REG_VAL.to_le_bytes()) {
            Err(e) if e.errno() == Some(libc::EINVAL) => {}
            Err(e) => bail!("{}: write of {BAD_ID_REG_VAL:#x}: expected EINVAL, got {e}", reg.name),
            Ok(()) => bail!("{}: write of {BAD_ID_REG_VAL:#x}: expected EINVAL, got success", reg.name),
        }
        let after = get(vcpu, reg)?;
        ensure!(after == 0, "{}: after the refused write: expected 0, got {after:#x}", reg.name);
        Ok(())
    }

    /// `test_guest_raz()`: the guest asserts each register reads 0 and
    /// ends with DONE; any other ucall fails.
    fn guest_raz(all: bool) -> Result<()> {
        if all {
            require_aarch64_only(BareVm::with_vcpu(&[])?.vcpu(0)?)?;
        }
        let mut vm = Vm::builder().payload(Payload::elf(AARCH32_ID_REGS)).arg(GUEST_ALL_ARG, all.into()).build()?;
        vm.vcpu(0).expect_done()
    }
}
