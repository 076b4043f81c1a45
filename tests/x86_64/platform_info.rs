//! platform_info: KVM_CAP_MSR_PLATFORM_INFO (upstream
//! x86_64/platform_info_test.c). The VMM sets MSR_PLATFORM_INFO's max turbo
//! ratio bits; with the capability enabled the guest's RDMSR returns them,
//! with it disabled the RDMSR raises #GP. The VMM's own access works either way.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "MSR_PLATFORM_INFO is x86's");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::abi::platform_info::{MSR_PLATFORM_INFO, MSR_PLATFORM_INFO_MAX_TURBO_RATIO};
    use kvmtest::kvm_bindings::KVM_CAP_MSR_PLATFORM_INFO;
    use kvmtest::series::{
        Series, X86_MSR_PLATFORM_INFO_CAP, X86_MSR_PLATFORM_INFO_SOURCE, X86_PLATFORM_INFO_IMMUTABLE_AFTER_RUN,
    };
    use kvmtest::{bail, ensure, runner, Error, Payload, Result, Ucall, Vm};
    use kvmtest_tests::payloads::PLATFORM_INFO;
    use libtest_mimic::Trial;

    /// TEST_REQUIRE(kvm_has_cap(KVM_CAP_MSR_PLATFORM_INFO)), as the series says.
    fn require_cap() -> Result<()> {
        let series = Series::running()?;
        if !series.at_least(X86_MSR_PLATFORM_INFO_CAP) {
            return Err(Error::Skip(format!(
                "requires KVM_CAP_MSR_PLATFORM_INFO, Linux {X86_MSR_PLATFORM_INFO_CAP}+ (this kernel is Linux {series})"
            )));
        }
        let cap = kvmtest::kvm::check_cap_raw(KVM_CAP_MSR_PLATFORM_INFO.into())?;
        ensure!(
            cap != 0,
            "KVM_CAP_MSR_PLATFORM_INFO: expected it on Linux {series}, got 0 ({X86_MSR_PLATFORM_INFO_SOURCE})"
        );
        Ok(())
    }

    fn platform_info() -> Result<()> {
        require_cap()?;
        let mut vm = Vm::builder().payload(Payload::elf(PLATFORM_INFO)).build()?;
        let msr_platform_info = vm.vcpu(0).get_msr(MSR_PLATFORM_INFO)?;
        vm.vcpu(0).set_msr(MSR_PLATFORM_INFO, msr_platform_info | MSR_PLATFORM_INFO_MAX_TURBO_RATIO)?;
        let mut stages = Vec::new();
        loop {
            match vm.vcpu(0).next_event()? {
                Ucall::Sync { stage, .. } => {
                    stages.push(stage);
                    vm.enable_cap(KVM_CAP_MSR_PLATFORM_INFO, &[stage])?;
                }
                Ucall::Done => break,
                other => bail!("Unexpected ucall {other:?}"),
            }
        }
        // kvmtest adds: both stages ran, enabled first.
        ensure!(stages == [1, 0], "GUEST_SYNC stages: expected [1, 0] (true, false), got {stages:?}");
        // The VMM's access does not depend on the capability (x86.c: host_initiated).
        let now = vm.vcpu(0).get_msr(MSR_PLATFORM_INFO)?;
        let want = msr_platform_info | MSR_PLATFORM_INFO_MAX_TURBO_RATIO;
        ensure!(
            now == want,
            "MSR_PLATFORM_INFO as the VMM reads it with the capability off: expected {want:#x}, got {now:#x}"
        );
        // vcpu_set_msr(vcpu, MSR_PLATFORM_INFO, msr_platform_info) after the
        // run, in the series whose test makes it.
        if !Series::running()?.at_least(X86_PLATFORM_INFO_IMMUTABLE_AFTER_RUN) {
            vm.vcpu(0).set_msr(MSR_PLATFORM_INFO, msr_platform_info).map_err(|e| {
                Error::Check(format!("restoring MSR_PLATFORM_INFO after KVM_RUN: expected Ok, got {e}"))
            })?;
        }
        Ok(())
    }

    pub fn trials() -> Vec<Trial> {
        vec![runner::test("platform_info::enable_then_disable", platform_info)]
    }
}
