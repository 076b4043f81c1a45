//! xen_hypercall: KVM_XEN_HVM_CONFIG with KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL
//! (xen_vmcall_test.c, api.rst KVM_XEN_HVM_CONFIG and KVM_EXIT_XEN). The
//! guest's Xen hypercall (number in RAX, parameters in RDI, RSI, RDX, R10,
//! R8, R9) leaves KVM as KVM_EXIT_XEN of type KVM_EXIT_XEN_HCALL with its
//! input and parameters, and the VMM's result comes back in RAX; a write
//! of a page address to the configured MSR makes KVM fill the page with
//! `mov eax, nr; vmcall/vmmcall; ret` stubs. Without the configuration
//! the same instruction is a KVM hypercall: an unknown one, -KVM_ENOSYS.
//!
//! As upstream, the direct call is a literal VMCALL: the CPU's own on
//! Intel, on AMD the other vendor's, which KVM's #UD path emulates
//! (x86.c handle_ud, emulator_fix_hypercall) into the same exit
//! (`intercept::literal_vmcall`; `intercept::direct` uses the native
//! instruction). And Xen interception leaves Hyper-V's hypercalls to
//! Hyper-V: with the Hyper-V CPUID, a guest OS ID and a Hyper-V hypercall
//! page, a call through that page (whose stub sets bit 31 of EAX) reaches
//! KVM's Hyper-V emulation, which answers HVCALL_SIGNAL_EVENT with a
//! misaligned input GPA with HV_STATUS_INVALID_ALIGNMENT
//! (`intercept::hyperv_coexistence`; xen.c kvm_xen_hypercall, hyperv.c
//! kvm_hvcall_signal_event).

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's Xen HVM emulation");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::kvm_bindings::KVM_CAP_HYPERV_CPUID;
    use kvmtest::kvm_bindings::{kvm_xen_hvm_config, KVM_CAP_XEN_HVM};
    use kvmtest::vm_memory::{Bytes, GuestAddress};
    use kvmtest::x86_64::hyperv::{
        hv_status_name, HVCALL_SIGNAL_EVENT, HV_STATUS_INVALID_ALIGNMENT, HV_X64_MSR_GUEST_OS_ID, HV_X64_MSR_HYPERCALL,
    };
    use kvmtest::x86_64::kvm_para::{host_is_amd, neg, KVM_ENOSYS, SVM_VMMCALL, VMX_VMCALL};
    use kvmtest::x86_64::probe::{self, Access, Insn, Outcome, Probe, XEN_ARG_BASE};
    use kvmtest::x86_64::xen::{XenHcall, KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL, XEN_HYPERCALL_MSR, XEN_HYPERCALL_STRIDE};
    use kvmtest::{bail, ensure, runner, Error, ExitAction, Result, Vm};
    use kvmtest_tests::payloads::HYPERCALL_PROBE;
    use libtest_mimic::Trial;

    /// xen_vmcall_test's INPUTVALUE and RETVALUE.
    const INPUTVALUE: u64 = 17;
    const RETVALUE: u64 = 0xcafe_f00d_fbfb_ffff;

    /// xen_vmcall_test's Hyper-V guest OS ID and misaligned input GPA.
    const HV_GUEST_OS_ID: u64 = 0x5a;
    const HV_MISALIGNED_INPUT: u64 = 0x5a5a_5a5a;
    /// HV_X64_MSR_HYPERCALL bit 0: enable the hypercall page.
    const HV_HYPERCALL_ENABLE: u64 = 1;

    fn xen_vm() -> Result<Vm> {
        let caps = kvmtest::require_cap_raw("KVM_CAP_XEN_HVM", KVM_CAP_XEN_HVM.into())? as u32;
        if caps & KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL == 0 {
            return Err(kvmtest::kvm::skip_missing("KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL in KVM_CAP_XEN_HVM"));
        }
        let vm = probe::vm_builder(HYPERCALL_PROBE).build()?;
        vm.xen_hvm_config(&kvm_xen_hvm_config {
            flags: KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL,
            msr: XEN_HYPERCALL_MSR,
            ..Default::default()
        })?;
        Ok(vm)
    }

    /// Runs a Xen hypercall probe: checks the exit as xen_vmcall_test does and answers RETVALUE.
    fn call(vm: &mut Vm, p: Probe, what: &str) -> Result<()> {
        let mut seen: Vec<String> = Vec::new();
        let mut bad: Option<String> = None;
        let got = probe::run_probe_xen(vm, &p, |h: XenHcall<'_>| {
            let want: Vec<u64> = (1..=6).map(|i| XEN_ARG_BASE + i).collect();
            seen.push(format!("input {} params {:#x?}", h.input, h.params));
            if h.cpl != 0 || h.longmode != 1 || h.input != INPUTVALUE || h.params[..] != want[..] {
                bad = Some(format!(
                    "KVM_EXIT_XEN: expected cpl 0, longmode 1, input {INPUTVALUE}, params {want:#x?}; got cpl {}, longmode {}, input {}, params {:#x?}",
                    h.cpl, h.longmode, h.input, h.params
                ));
            }
            *h.result = RETVALUE;
            ExitAction::Resume
        })?;
        if let Some(b) = bad {
            bail!("{what}: {b}");
        }
        ensure!(seen.len() == 1, "{what}: expected one KVM_EXIT_XEN, saw {seen:?}");
        ensure!(
            got == Outcome::Xen(RETVALUE),
            "{what}: the VMM's result {RETVALUE:#x} should reach the guest, got {got}"
        );
        Ok(())
    }

    fn direct() -> Result<()> {
        let mut vm = xen_vm()?;
        call(&mut vm, Probe::XenHcall { nr: INPUTVALUE, insn: Insn::Native }, "native hypercall instruction")?;
        probe::finish(&mut vm)
    }

    /// Upstream's literal `vmcall`: the other vendor's instruction on AMD.
    fn literal_vmcall() -> Result<()> {
        let insn = if host_is_amd() { Insn::Foreign } else { Insn::Native };
        let mut vm = xen_vm()?;
        call(&mut vm, Probe::XenHcall { nr: INPUTVALUE, insn }, "literal VMCALL")?;
        probe::finish(&mut vm)
    }

    fn write_msr(vm: &mut Vm, index: u32, value: u64, name: &str) -> Result<()> {
        let got = probe::run_probe(vm, &Probe::Msr { index, value, ops: probe::WRITE })?;
        let Outcome::Msr { write, .. } = got else { unreachable!("an MSR probe") };
        ensure!(write.is_ok(), "WRMSR {name} ({index:#x}) = {value:#x}: expected it to complete, got {write}");
        Ok(())
    }

    fn hyperv_coexistence() -> Result<()> {
        kvmtest::require_cap_raw("KVM_CAP_HYPERV_CPUID", KVM_CAP_HYPERV_CPUID.into())?;
        let mut vm = xen_vm()?;
        vm.vcpu(0).set_hv_cpuid()?;
        let pages = vm.shared_alloc(2 * 4096)?;
        let hv_page = pages + 4096;
        write_msr(&mut vm, XEN_HYPERCALL_MSR, pages, "XEN_HYPERCALL_MSR")?;
        write_msr(&mut vm, HV_X64_MSR_GUEST_OS_ID, HV_GUEST_OS_ID, "HV_X64_MSR_GUEST_OS_ID")?;
        write_msr(&mut vm, HV_X64_MSR_HYPERCALL, hv_page | HV_HYPERCALL_ENABLE, "HV_X64_MSR_HYPERCALL")?;
        call(&mut vm, Probe::XenPageHcall { nr: INPUTVALUE, page: pages }, "Xen call through its page")?;
        let p =
            Probe::HvPageHcall { control: HVCALL_SIGNAL_EVENT, input: HV_MISALIGNED_INPUT, output: 0, page: hv_page };
        let got = probe::run_probe(&mut vm, &p)?;
        ensure!(
            got == Outcome::HvHcall(Access::Ok(HV_STATUS_INVALID_ALIGNMENT)),
            "HVCALL_SIGNAL_EVENT with input GPA {HV_MISALIGNED_INPUT:#x} through the Hyper-V hypercall page at \
             {hv_page:#x}, Xen interception on: expected {}, got {got}",
            hv_status_name(HV_STATUS_INVALID_ALIGNMENT)
        );
        probe::finish(&mut vm)
    }

    fn hypercall_page() -> Result<()> {
        let mut vm = xen_vm()?;
        let page = vm.shared_alloc(4096)?;
        let got = probe::run_probe(&mut vm, &Probe::Msr { index: XEN_HYPERCALL_MSR, value: page, ops: probe::WRITE })?;
        let Outcome::Msr { write, .. } = got else { unreachable!("an MSR probe") };
        ensure!(
            write.is_ok(),
            "WRMSR XEN_HYPERCALL_MSR ({XEN_HYPERCALL_MSR:#x}) = {page:#x}: expected it to complete, got {write}"
        );
        // The stub of INPUTVALUE: mov eax, imm32; the native hypercall; ret.
        let native = if host_is_amd() { SVM_VMMCALL } else { VMX_VMCALL };
        let mut want = vec![0xb8];
        want.extend_from_slice(&(INPUTVALUE as u32).to_le_bytes());
        want.extend_from_slice(&native);
        want.push(0xc3);
        let mut stub = vec![0u8; want.len()];
        let at = page + INPUTVALUE * XEN_HYPERCALL_STRIDE;
        vm.mem().read_slice(&mut stub, GuestAddress(at)).map_err(|e| Error::Memory(e.to_string()))?;
        ensure!(stub == want, "hypercall page stub {INPUTVALUE} at {at:#x}: expected {want:02x?}, got {stub:02x?}");
        call(&mut vm, Probe::XenPageHcall { nr: INPUTVALUE, page }, "call through the hypercall page")?;
        probe::finish(&mut vm)
    }

    fn not_configured() -> Result<()> {
        let mut vm = probe::vm_builder(HYPERCALL_PROBE).build()?;
        let got = probe::run_probe(&mut vm, &Probe::XenHcall { nr: INPUTVALUE, insn: Insn::Native })?;
        ensure!(
            got == Outcome::Xen(neg(KVM_ENOSYS)),
            "Xen hypercall {INPUTVALUE} without KVM_XEN_HVM_CONFIG: expected KVM's -KVM_ENOSYS, got {got}"
        );
        probe::finish(&mut vm)
    }

    pub fn trials() -> Vec<Trial> {
        runner::announce(format!(
            "xen_hypercall: hypercall {INPUTVALUE}, params {XEN_ARG_BASE:#x} + 1..=6, VMM result {RETVALUE:#x}\n  \
             intercept::direct          native instruction -> KVM_EXIT_XEN\n  \
             intercept::literal_vmcall  VMCALL (AMD: cross-vendor, emulated) -> KVM_EXIT_XEN\n  \
             intercept::hyperv_coexistence  Hyper-V page call -> Hyper-V's HV_STATUS_INVALID_ALIGNMENT\n  \
             intercept::hypercall_page  WRMSR {XEN_HYPERCALL_MSR:#x} fills the page; call stub -> KVM_EXIT_XEN\n  \
             not_configured             no KVM_XEN_HVM_CONFIG -> -KVM_ENOSYS"
        ));
        vec![
            runner::test("xen_hypercall::intercept::direct", direct),
            runner::test("xen_hypercall::intercept::literal_vmcall", literal_vmcall),
            runner::test("xen_hypercall::intercept::hyperv_coexistence", hyperv_coexistence),
            runner::test("xen_hypercall::intercept::hypercall_page", hypercall_page),
            runner::test("xen_hypercall::not_configured", not_configured),
        ]
    }
}
