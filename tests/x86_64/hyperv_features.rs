//! hyperv_features: KVM_CAP_HYPERV_ENFORCE_CPUID (hyperv_features.c,
//! api.rst 8.32). With enforcement, a Hyper-V synthetic MSR faults with #GP
//! and a hypercall returns HV_STATUS_ACCESS_DENIED until the VMM grants
//! the matching privilege or recommendation bit in the Hyper-V CPUID
//! leaves; once granted, the MSR reads and the hypercall gets past the
//! access check (the status hyperv_features.c expects for its input).
//!
//! Each row is two trials: `<row>::denied` and `<row>::granted`. As in the
//! C test, each vCPU starts from every Hyper-V leaf KVM supports with
//! HYPERV_CPUID_FEATURES and HYPERV_CPUID_ENLIGHTMENT_INFO cleared, and
//! hypercall rows grant HV_MSR_HYPERCALL_AVAILABLE and write
//! HV_X64_MSR_GUEST_OS_ID and HV_X64_MSR_HYPERCALL first.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's Hyper-V emulation");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::kvm_bindings::{KVM_CAP_HYPERV_CPUID, KVM_CAP_HYPERV_ENFORCE_CPUID};
    use kvmtest::x86_64::cpuid::CpuidBit;
    use kvmtest::x86_64::hyperv::*;
    use kvmtest::x86_64::probe::{self, Access, Outcome, Probe, GP_VECTOR, READ};
    use kvmtest::{ensure, runner, Result};
    use kvmtest_tests::payloads::HYPERCALL_PROBE;
    use libtest_mimic::Trial;

    enum Service {
        /// RDMSR of this MSR.
        Msr(u32),
        /// A slow hypercall with this control word and zeroed input.
        Hcall(u64),
    }

    struct Row {
        name: &'static str,
        service: Service,
        grant: CpuidBit,
        /// HV_STATUS once granted (hypercalls).
        granted_status: u64,
    }

    macro_rules! msr {
        ($msr:ident, $grant:ident) => {
            Row { name: stringify!($msr), service: Service::Msr($msr), grant: $grant, granted_status: 0 }
        };
    }
    macro_rules! hcall {
        ($code:ident, $grant:ident, $status:ident) => {
            Row { name: stringify!($code), service: Service::Hcall($code), grant: $grant, granted_status: $status }
        };
    }

    const ROWS: &[Row] = &[
        msr!(HV_X64_MSR_GUEST_OS_ID, HV_MSR_HYPERCALL_AVAILABLE),
        msr!(HV_X64_MSR_HYPERCALL, HV_MSR_HYPERCALL_AVAILABLE),
        msr!(HV_X64_MSR_VP_RUNTIME, HV_MSR_VP_RUNTIME_AVAILABLE),
        msr!(HV_X64_MSR_TIME_REF_COUNT, HV_MSR_TIME_REF_COUNT_AVAILABLE),
        msr!(HV_X64_MSR_VP_INDEX, HV_MSR_VP_INDEX_AVAILABLE),
        msr!(HV_X64_MSR_RESET, HV_MSR_RESET_AVAILABLE),
        msr!(HV_X64_MSR_REFERENCE_TSC, HV_MSR_REFERENCE_TSC_AVAILABLE),
        msr!(HV_X64_MSR_TSC_FREQUENCY, HV_ACCESS_FREQUENCY_MSRS),
        msr!(HV_X64_MSR_CRASH_P0, HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE),
        hcall!(HVCALL_POST_MESSAGE, HV_POST_MESSAGES, HV_STATUS_INVALID_HYPERCALL_INPUT),
        hcall!(HVCALL_SIGNAL_EVENT, HV_SIGNAL_EVENTS, HV_STATUS_INVALID_HYPERCALL_INPUT),
        hcall!(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED, HV_STATUS_SUCCESS),
        hcall!(HVCALL_SEND_IPI, HV_X64_CLUSTER_IPI_RECOMMENDED, HV_STATUS_INVALID_HYPERCALL_INPUT),
        hcall!(HVCALL_NOTIFY_LONG_SPIN_WAIT, HV_PV_SPINLOCKS_TEST, HV_STATUS_SUCCESS),
    ];

    fn status_name(s: u64) -> String {
        match s {
            HV_STATUS_SUCCESS => "HV_STATUS_SUCCESS".into(),
            HV_STATUS_INVALID_HYPERCALL_CODE => "HV_STATUS_INVALID_HYPERCALL_CODE".into(),
            HV_STATUS_INVALID_HYPERCALL_INPUT => "HV_STATUS_INVALID_HYPERCALL_INPUT".into(),
            HV_STATUS_ACCESS_DENIED => "HV_STATUS_ACCESS_DENIED".into(),
            other => format!("HV_STATUS {other:#x}"),
        }
    }

    fn check(row: &Row, granted: bool) -> Result<()> {
        kvmtest::require_cap_raw("KVM_CAP_HYPERV_ENFORCE_CPUID", KVM_CAP_HYPERV_ENFORCE_CPUID.into())?;
        kvmtest::require_cap_raw("KVM_CAP_HYPERV_CPUID", KVM_CAP_HYPERV_CPUID.into())?;
        let mut vm = probe::vm_builder(HYPERCALL_PROBE).build()?;
        let pages = vm.shared_alloc(2 * 4096)?;
        let vcpu = vm.vcpu(0);
        vcpu.enable_cap(KVM_CAP_HYPERV_ENFORCE_CPUID, &[1])?;
        vcpu.reset_hv_cpuid()?;
        let hcall = matches!(row.service, Service::Hcall(_));
        vcpu.update_cpuid(|c| {
            if hcall {
                c.set(HV_MSR_HYPERCALL_AVAILABLE, true)?;
            }
            c.set(row.grant, granted)
        })?;
        let state = if granted { "granted" } else { "not granted" };

        match row.service {
            Service::Msr(index) => {
                let got = probe::run_probe(&mut vm, &Probe::Msr { index, value: 0, ops: READ })?;
                let Outcome::Msr { read, .. } = got else { unreachable!("an MSR probe") };
                if granted {
                    ensure!(
                        read.is_ok(),
                        "RDMSR {} with {} {state}: expected it to complete, got {read}",
                        row.name,
                        row.grant
                    );
                } else {
                    ensure!(
                        read == Access::Fault(GP_VECTOR),
                        "RDMSR {} with {} {state}: expected #GP, got {read}",
                        row.name,
                        row.grant
                    );
                }
            }
            Service::Hcall(control) => {
                for (msr, value) in [(HV_X64_MSR_GUEST_OS_ID, HYPERV_LINUX_OS_ID), (HV_X64_MSR_HYPERCALL, pages)] {
                    let got = probe::run_probe(&mut vm, &Probe::Msr { index: msr, value, ops: probe::WRITE })?;
                    let Outcome::Msr { write, .. } = got else { unreachable!("an MSR probe") };
                    ensure!(write.is_ok(), "{}: set-up WRMSR {msr:#x} = {value:#x} failed: {write}", row.name);
                }
                let got = probe::run_probe(&mut vm, &Probe::HvHcall { control, input: pages, output: pages + 4096 })?;
                let Outcome::HvHcall(ret) = got else { unreachable!("a Hyper-V probe") };
                let want = if granted { row.granted_status } else { HV_STATUS_ACCESS_DENIED };
                ensure!(
                    ret == Access::Ok(want),
                    "{} with {} {state}: expected {}, got {}",
                    row.name,
                    row.grant,
                    status_name(want),
                    match ret {
                        Access::Ok(s) => status_name(s),
                        fault => fault.to_string(),
                    }
                );
            }
        }
        probe::finish(&mut vm)
    }

    pub fn trials() -> Vec<Trial> {
        let mut table = String::from("hyperv_features: service (denied -> granted)         granted by\n");
        for r in ROWS {
            let rule = match r.service {
                Service::Msr(_) => "#GP -> reads".to_string(),
                Service::Hcall(_) => format!("ACCESS_DENIED -> {}", status_name(r.granted_status)),
            };
            table += &format!("  {:<36} {:<45} {}\n", r.name, rule, r.grant);
        }
        runner::announce(table);
        ROWS.iter()
            .enumerate()
            .flat_map(|(i, r)| {
                [("denied", false), ("granted", true)].map(move |(m, granted)| {
                    runner::test(format!("hyperv_features::{}::{m}", r.name), move || check(&ROWS[i], granted))
                })
            })
            .collect()
    }
}
