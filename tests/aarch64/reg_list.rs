//! reg_list: the firmware pseudo-registers in KVM_GET_REG_LIST
//! (aarch64/get-reg-list.c's `KVM_REG_ARM_FW_REG(n)` /
//! `KVM_REG_ARM_FW_FEAT_BMAP_REG(n)` entries). Each register kvmtest knows is
//! either listed and readable, or unlisted and ENOENT (then skipped, named:
//! newer registers such as VENDOR_HYP_BMAP_2 come with newer kernels); every
//! listed firmware register is one kvmtest knows, so a new one is noticed.

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::fw_regs::*;
    use kvmtest::aarch64::smccc::calls_vm;
    use kvmtest::{bail, ensure, runner, Error, Result};
    use kvmtest_tests::payloads::SMCCC_CALLS;

    use libc::ENOENT;

    /// Registers every kernel kvmtest supports (5.10+) lists.
    const ALWAYS_LISTED: &[FwReg] = &[FwReg::PsciVersion, FwReg::SmcccArchWorkaround1, FwReg::SmcccArchWorkaround2];

    pub fn trials() -> Vec<runner::Trial> {
        let mut t: Vec<runner::Trial> =
            FwReg::ALL.iter().map(|&reg| runner::test(format!("reg_list::{reg}"), move || listed(reg))).collect();
        t.push(runner::test("reg_list::every_listed_fw_reg_is_known", every_listed_is_known));
        t
    }

    fn listed(reg: FwReg) -> Result<()> {
        let mut vm = calls_vm(SMCCC_CALLS, 1, &[])?;
        let fw = vm.fw_regs();
        let ids = fw.listed_ids()?;
        if ids.contains(&reg.id()) {
            fw.get(reg)?;
            return Ok(());
        }
        ensure!(!ALWAYS_LISTED.contains(&reg), "{} ({:#x}) is missing from KVM_GET_REG_LIST", reg.name(), reg.id());
        match fw.get(reg) {
            Err(e @ Error::Kvm { .. }) if e.errno() == Some(ENOENT) => {}
            other => bail!("{reg} is not listed: expected ENOENT on read, got {other:?}"),
        }
        Err(kvmtest::kvm::skip_missing(&format!("{} in KVM_GET_REG_LIST", reg.name())))
    }

    fn every_listed_is_known() -> Result<()> {
        let mut vm = calls_vm(SMCCC_CALLS, 1, &[])?;
        let fw = vm.fw_regs();
        let ids = fw.listed_ids()?;
        ensure!(!ids.is_empty(), "KVM_GET_REG_LIST lists no firmware register");
        for id in ids {
            ensure!(
                FwReg::from_id(id).is_some(),
                "KVM_GET_REG_LIST lists firmware register {id:#x}, unknown to kvmtest: name it in harness/src/kvm_api/aarch64/fw_regs.rs"
            );
            fw.get_raw(id)?;
        }
        Ok(())
    }
}
