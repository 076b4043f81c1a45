//! hyperv_cpuid: upstream x86 hyperv_cpuid.c. KVM_GET_SUPPORTED_HV_CPUID,
//! as a vCPU ioctl (KVM_CAP_HYPERV_CPUID), after enabling the enlightened
//! VMCS on Intel (KVM_CAP_HYPERV_ENLIGHTENED_VMCS), and as a system ioctl
//! (KVM_CAP_SYS_HYPERV_CPUID): a table too small is E2BIG; the answer has
//! the series' leaves (series.rs `hv_cpuid`), each with index, flags and
//! padding zero, the max leaf in 0x40000000.EAX, NoNonArchitecturalCoreSharing
//! as SMT allows, the enlightened MSR bitmap always and the eVMCS version
//! range 1:1 when eVMCS is on. PVM has no Hyper-V: the capability skips.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's Hyper-V emulation");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::asm::AsmGuest;
    use kvmtest::kvm_bindings::{KVM_CAP_HYPERV_CPUID, KVM_CAP_HYPERV_ENLIGHTENED_VMCS, KVM_CAP_SYS_HYPERV_CPUID};
    use kvmtest::series::{self, Feature, Series};
    use kvmtest::x86_64::cpuid::Cpuid;
    use kvmtest::x86_64::hyperv::{
        system_supported_hv_cpuid, HV_X64_NESTED_MSR_BITMAP, HV_X64_NO_NONARCH_CORESHARING,
        HYPERV_CPUID_ENLIGHTMENT_INFO, HYPERV_CPUID_NESTED_FEATURES, HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS,
    };
    use kvmtest::x86_64::sregs::X86_FEATURE_VMX;
    use kvmtest::{ensure, runner, Error, Result, Vm};
    use libtest_mimic::Trial;

    /// smt_possible() of the C test: /sys/devices/system/cpu/smt/control
    /// is not "forceoff" or "notsupported" (true if it cannot be read).
    fn smt_possible() -> bool {
        match std::fs::read_to_string("/sys/devices/system/cpu/smt/control") {
            Ok(s) => !(s.starts_with("forceoff") || s.starts_with("notsupported")),
            Err(_) => true,
        }
    }

    /// test_hv_cpuid() of the C test, on the answer of `which`.
    fn test_hv_cpuid(cpuid: &Cpuid, evmcs_expected: bool, which: &str) -> Result<()> {
        let s = Series::running()?;
        let row = series::hv_cpuid(s)
            .ok_or_else(|| Error::Config(format!("series.rs has no Hyper-V CPUID row for Linux {s}")))?;
        let entries = cpuid.entries();
        ensure!(
            entries.len() == row.nent,
            "{which}: KVM_GET_SUPPORTED_HV_CPUID should return {} entries (returned {})",
            row.nent,
            entries.len()
        );
        for e in entries {
            ensure!(
                (HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS..=row.max_leaf).contains(&e.function),
                "{which}: function {:#x} is out of supported range",
                e.function
            );
            ensure!(e.index == 0, "{which}: {:#x}: .index field should be zero, got {}", e.function, e.index);
            ensure!(e.flags == 0, "{which}: {:#x}: .flags field should be zero, got {:#x}", e.function, e.flags);
            ensure!(e.padding == [0; 3], "{which}: {:#x}: padding should be zero, got {:?}", e.function, e.padding);
            let regs = [e.eax, e.ebx, e.ecx, e.edx];
            match e.function {
                HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS => ensure!(
                    e.eax == row.max_leaf,
                    "{which}: Wrong max leaf report in 0x40000000.EAX: expected {:#x}, got {:#x} (evmcs={evmcs_expected})",
                    row.max_leaf,
                    e.eax
                ),
                HYPERV_CPUID_ENLIGHTMENT_INFO => {
                    let (expected, got) = (!smt_possible(), HV_X64_NO_NONARCH_CORESHARING.in_regs(regs));
                    ensure!(
                        got == expected,
                        "{which}: NoNonArchitecturalCoreSharing bit doesn't reflect SMT setting: expected {expected}, \
                         got {got} (0x40000004.EAX {:#x})",
                        e.eax
                    )
                }
                HYPERV_CPUID_NESTED_FEATURES => {
                    ensure!(
                        HV_X64_NESTED_MSR_BITMAP.in_regs(regs),
                        "{which}: Enlightened MSR-Bitmap should always be supported 0x4000000A.EAX: {:#x}",
                        e.eax
                    );
                    if evmcs_expected {
                        ensure!(
                            e.eax & 0xffff == 0x101,
                            "{which}: Supported Enlightened VMCS version range is supposed to be 1:1 \
                             0x4000000A.EAX: {:#x}",
                            e.eax
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// test_hv_cpuid_e2big() of the C test: an empty table is E2BIG.
    fn test_hv_cpuid_e2big(got: Result<Cpuid>, which: &str) -> Result<()> {
        match got {
            Err(e) if e.errno() == Some(libc::E2BIG) => Ok(()),
            Err(e) => {
                Err(Error::Check(format!("{which} KVM_GET_SUPPORTED_HV_CPUID with nent 0: expected E2BIG, got {e}")))
            }
            Ok(_) => {
                Err(Error::Check(format!("{which} KVM_GET_SUPPORTED_HV_CPUID with nent 0: expected E2BIG, got Ok")))
            }
        }
    }

    fn one_vcpu_vm() -> Result<Vm> {
        kvmtest::require_cap_raw("KVM_CAP_HYPERV_CPUID", KVM_CAP_HYPERV_CPUID.into())?;
        let mut g = AsmGuest::new();
        g.done();
        Vm::builder().payload(g.finish()?).build()
    }

    /// The vCPU ioctl.
    fn vcpu() -> Result<()> {
        let mut vm = one_vcpu_vm()?;
        let vcpu = vm.vcpu(0);
        test_hv_cpuid_e2big(vcpu.supported_hv_cpuid_in(0), "vCPU")?;
        test_hv_cpuid(&vcpu.supported_hv_cpuid()?, false, "vCPU")
    }

    /// The vCPU ioctl after vcpu_enable_evmcs() (Intel VMX only).
    fn vcpu_evmcs() -> Result<()> {
        let mut vm = one_vcpu_vm()?;
        if !Cpuid::supported()?.has(X86_FEATURE_VMX)
            || kvmtest::kvm::check_cap_raw(KVM_CAP_HYPERV_ENLIGHTENED_VMCS.into())? == 0
        {
            return Err(Error::Skip(format!(
                "Enlightened VMCS is unsupported: needs VMX and KVM_CAP_HYPERV_ENLIGHTENED_VMCS ({})",
                kvmtest::backend()?
            )));
        }
        let vcpu = vm.vcpu(0);
        let evmcs_ver = vcpu.enable_evmcs()?;
        let (lo, hi) = (evmcs_ver & 0xff, evmcs_ver >> 8);
        ensure!(hi >= lo && lo > 0, "Incorrect EVMCS version range: {lo:#x}:{hi:#x}");
        test_hv_cpuid(&vcpu.supported_hv_cpuid()?, true, "vCPU with eVMCS")
    }

    /// The system ioctl: the series decides whether /dev/kvm answers it.
    fn system() -> Result<()> {
        kvmtest::require_cap_raw("KVM_CAP_HYPERV_CPUID", KVM_CAP_HYPERV_CPUID.into())?;
        Feature::SysHypervCpuid.require()?;
        ensure!(
            kvmtest::kvm::check_cap_raw(KVM_CAP_SYS_HYPERV_CPUID.into())? != 0,
            "KVM_CAP_SYS_HYPERV_CPUID: expected it (Linux {} has it, beside KVM_CAP_HYPERV_CPUID), got 0",
            Series::running()?
        );
        test_hv_cpuid_e2big(system_supported_hv_cpuid(0), "KVM")?;
        let evmcs = Cpuid::supported()?.has(X86_FEATURE_VMX);
        test_hv_cpuid(&system_supported_hv_cpuid(kvmtest::kvm_bindings::KVM_MAX_CPUID_ENTRIES)?, evmcs, "KVM")
    }

    pub fn trials() -> Vec<Trial> {
        vec![
            runner::test("hyperv_cpuid::vcpu", vcpu),
            runner::test("hyperv_cpuid::vcpu_evmcs", vcpu_evmcs),
            runner::test("hyperv_cpuid::system", system),
        ]
    }
}
