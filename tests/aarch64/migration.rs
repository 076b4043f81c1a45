//! migration: the firmware registers carry a VM's hypercall-service
//! selection (Documentation/virt/kvm/arm/fw-pseudo-registers.rst: "can be
//! saved/restored by userspace"). A configured VM runs and reports its view
//! of every service; a VMM saves every firmware register KVM_GET_REG_LIST
//! names (GET_ONE_REG), restores them into a fresh VM (SET_ONE_REG), and the
//! guest there must see exactly the same services, versions and answers.

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::fw_regs::*;
    use kvmtest::aarch64::smccc::*;
    use kvmtest::{ensure, runner, Result, Vm};
    use kvmtest_tests::aarch64::services::*;
    use kvmtest_tests::payloads::SMCCC_CALLS;

    /// A source VM's configuration: feature bits to clear, and a PSCI version.
    struct Config {
        name: &'static str,
        clear: &'static [FwBit],
        psci: Option<u64>,
    }

    const CONFIGS: &[Config] = &[
        Config { name: "defaults", clear: &[], psci: None },
        Config {
            name: "trng_and_ptp_off_psci_1_0",
            clear: &[KVM_REG_ARM_STD_BIT_TRNG_V1_0, KVM_REG_ARM_VENDOR_HYP_BIT_PTP],
            psci: Some(KVM_ARM_PSCI_1_0),
        },
        Config {
            name: "all_off_psci_0_2",
            clear: &[
                KVM_REG_ARM_STD_BIT_TRNG_V1_0,
                KVM_REG_ARM_STD_HYP_BIT_PV_TIME,
                KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT,
                KVM_REG_ARM_VENDOR_HYP_BIT_PTP,
            ],
            psci: Some(KVM_ARM_PSCI_0_2),
        },
        Config { name: "pv_time_off", clear: &[KVM_REG_ARM_STD_HYP_BIT_PV_TIME], psci: None },
    ];

    /// Calls not gated by a bitmap whose answers are the VM's firmware
    /// revision: compared exactly.
    const UNGATED: &[(&str, SmcccCall)] = &[
        ("ARM_SMCCC_VERSION_FUNC_ID", hvc(ARM_SMCCC_VERSION_FUNC_ID, 0)),
        ("PSCI_0_2_FN_PSCI_VERSION", hvc(PSCI_0_2_FN_PSCI_VERSION, 0)),
        (
            "ARCH_FEATURES(ARM_SMCCC_ARCH_WORKAROUND_1)",
            hvc(ARM_SMCCC_ARCH_FEATURES_FUNC_ID, ARM_SMCCC_ARCH_WORKAROUND_1 as u64),
        ),
        (
            "ARCH_FEATURES(ARM_SMCCC_ARCH_WORKAROUND_2)",
            hvc(ARM_SMCCC_ARCH_FEATURES_FUNC_ID, ARM_SMCCC_ARCH_WORKAROUND_2 as u64),
        ),
        (
            "ARCH_FEATURES(ARM_SMCCC_ARCH_WORKAROUND_3)",
            hvc(ARM_SMCCC_ARCH_FEATURES_FUNC_ID, ARM_SMCCC_ARCH_WORKAROUND_3 as u64),
        ),
        (
            "PSCI_FEATURES(PSCI_1_0_FN_SYSTEM_SUSPEND)",
            hvc(PSCI_1_0_FN_PSCI_FEATURES, PSCI_1_0_FN_SYSTEM_SUSPEND as u64),
        ),
    ];

    pub fn trials() -> Vec<runner::Trial> {
        CONFIGS.iter().map(|c| runner::test(format!("migration::{}", c.name), move || migrate(c))).collect()
    }

    fn rows() -> Vec<SmcccCall> {
        UNGATED.iter().map(|(_, c)| *c).chain(HVC_INFO.iter().map(|s| s.call)).collect()
    }

    /// The guest's view of every row.
    fn views(results: &[[u64; 4]]) -> Vec<(&'static str, View)> {
        let (ungated, gated) = results.split_at(UNGATED.len());
        let mut out: Vec<(&'static str, View)> =
            UNGATED.iter().zip(ungated).map(|((name, _), r)| (*name, View::Exactly(*r))).collect();
        out.extend(HVC_INFO.iter().zip(gated).map(|(s, r)| (s.name, s.view(*r))));
        out
    }

    /// Builds a VM with a stolen-time record (a vCPU attribute a VMM restores
    /// on its own: at the same IPA in both VMs).
    fn new_vm() -> Result<(Vm, u64)> {
        let mut vm = calls_vm(SMCCC_CALLS, 1, &rows())?;
        let ipa = steal_time_init(&mut vm)?[0];
        Ok((vm, ipa))
    }

    fn migrate(config: &Config) -> Result<()> {
        // The source: configured, then run once, as a VM that is migrated.
        let (mut src, src_ipa) = new_vm()?;
        {
            let fw = src.fw_regs();
            for &reg in FwReg::ALL {
                // Every register the series has must be there to migrate.
                match fw.require(reg) {
                    Err(kvmtest::Error::Skip(_)) => {}
                    other => other?,
                }
            }
            for bit in config.clear {
                fw.require(bit.reg)?;
                let value = fw.get(bit.reg)?;
                ensure!(
                    value & bit.mask() != 0,
                    "{}: expected on at VM creation, {} reads {value:#x}",
                    bit.name,
                    bit.reg
                );
                fw.set(bit.reg, value & !bit.mask())?;
            }
            if let Some(v) = config.psci {
                fw.set(FwReg::PsciVersion, v)?;
            }
        }
        let n = rows().len();
        let before = views(&run_calls(src.vcpu(0), n)?);
        let saved = src.fw_regs().save()?;
        ensure!(!saved.is_empty(), "KVM_GET_REG_LIST lists no firmware register to migrate");

        // A configuration must change what a fresh VM shows, or a migration
        // that lost it would pass.
        let (mut fresh, _) = new_vm()?;
        let default_view = views(&run_calls(fresh.vcpu(0), n)?);
        if !config.clear.is_empty() || config.psci.is_some() {
            ensure!(default_view != before, "configuration {}: the guest's view equals a default VM's", config.name);
        }

        // The destination: every saved register restored before the first run.
        let (mut dst, dst_ipa) = new_vm()?;
        ensure!(
            dst_ipa == src_ipa,
            "stolen-time record at {dst_ipa:#x} in the destination, {src_ipa:#x} in the source"
        );
        dst.fw_regs().restore(&saved)?;
        let restored = dst.fw_regs().save()?;
        ensure!(
            restored.len() == saved.len(),
            "the destination lists {} firmware registers, the source {}",
            restored.len(),
            saved.len()
        );
        for (&(id, want), &(id2, got)) in saved.iter().zip(&restored) {
            let name = FwReg::from_id(id).map(|r| r.short_name().to_string()).unwrap_or(format!("{id:#x}"));
            ensure!(id == id2 && want == got, "{name} after restore: expected {want:#x}, read {got:#x}");
        }
        let after = views(&run_calls(dst.vcpu(0), n)?);
        ensure!(
            after.len() == before.len(),
            "{} answers in the destination, {} in the source",
            after.len(),
            before.len()
        );
        for ((name, want), (_, got)) in before.iter().zip(&after) {
            ensure!(
                want == got,
                "configuration {}: {name}: the source guest saw {want:x?}, the destination {got:x?}",
                config.name
            );
        }
        Ok(())
    }
}
