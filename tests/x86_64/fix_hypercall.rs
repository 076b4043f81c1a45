//! fix_hypercall: KVM_X86_QUIRK_FIX_HYPERCALL_INSN (fix_hypercall_test.c,
//! api.rst KVM_CAP_DISABLE_QUIRKS2). The guest issues the other vendor's
//! hypercall instruction (VMCALL on AMD, VMMCALL on Intel). With the quirk
//! on (the default) KVM rewrites it in guest memory to the native one and
//! completes the call; with the quirk disabled the guest gets #UD and the
//! bytes stay as they were. The host reads the bytes back through vm-memory.
//!
//! With the quirk on, the patching is not a one-off: after the first call
//! the host writes the other vendor's bytes back over the patched
//! instruction, and the second call (from the same address) must be
//! patched and completed again (kvmtest's addition; upstream makes one
//! call).

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "VMCALL/VMMCALL patching");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::kvm_bindings::KVM_CAP_DISABLE_QUIRKS2;
    use kvmtest::vm_memory::{Bytes, GuestAddress};
    use kvmtest::x86_64::kvm_para::{
        host_is_amd, KVM_HC_SCHED_YIELD, KVM_X86_QUIRK_FIX_HYPERCALL_INSN, SVM_VMMCALL, VMX_VMCALL,
    };
    use kvmtest::x86_64::probe::{self, Access, Insn, Outcome, Probe, UD_VECTOR};
    use kvmtest::{ensure, runner, Error, Result, Vm};
    use kvmtest_tests::payloads::HYPERCALL_PROBE;
    use libtest_mimic::Trial;

    /// KVM_HC_SCHED_YIELD to APIC ID 0 (this vCPU), as the C test yields to itself.
    const CALL: Probe = Probe::Hcall { nr: KVM_HC_SCHED_YIELD, args: [0; 4], insn: Insn::Foreign };

    fn instructions() -> ([u8; 3], [u8; 3], &'static str, &'static str) {
        if host_is_amd() {
            (SVM_VMMCALL, VMX_VMCALL, "VMMCALL", "VMCALL")
        } else {
            (VMX_VMCALL, SVM_VMMCALL, "VMCALL", "VMMCALL")
        }
    }

    fn insn_bytes(vm: &Vm, at: u64) -> Result<[u8; 3]> {
        let mut b = [0u8; 3];
        vm.mem().read_slice(&mut b, GuestAddress(at)).map_err(|e| Error::Memory(format!("reading {at:#x}: {e}")))?;
        Ok(b)
    }

    fn call(vm: &mut Vm) -> Result<(Access, u64)> {
        match probe::run_probe(vm, &CALL)? {
            Outcome::Hcall { ret, insn_addr } => Ok((ret, insn_addr)),
            other => kvmtest::bail!("unexpected probe outcome {other}"),
        }
    }

    fn quirk_enabled() -> Result<()> {
        let (native, foreign, native_name, foreign_name) = instructions();
        let mut vm = probe::vm_builder(HYPERCALL_PROBE).build()?;
        let mut first_at = None;
        for round in ["first", "second"] {
            let (ret, at) = call(&mut vm)?;
            if let Some(first) = first_at {
                ensure!(at == first, "second call: expected the hypercall at {first:#x} again, it ran at {at:#x}");
            }
            let bytes = insn_bytes(&vm, at)?;
            ensure!(
                ret == Access::Ok(0),
                "{round} {foreign_name} (KVM_HC_SCHED_YIELD) with the quirk on: expected 0, got {ret}"
            );
            ensure!(
                bytes == native,
                "{round} call: the {foreign_name} at {at:#x} should now be {native_name} {native:02x?}, memory holds {bytes:02x?} (was {foreign:02x?})"
            );
            // Put the other vendor's instruction back for the second call to meet.
            vm.mem()
                .write_slice(&foreign, GuestAddress(at))
                .map_err(|e| Error::Memory(format!("writing {at:#x}: {e}")))?;
            first_at = Some(at);
        }
        probe::finish(&mut vm)
    }

    fn quirk_disabled() -> Result<()> {
        let quirks = kvmtest::require_cap_raw("KVM_CAP_DISABLE_QUIRKS2", KVM_CAP_DISABLE_QUIRKS2.into())? as u64;
        if quirks & KVM_X86_QUIRK_FIX_HYPERCALL_INSN == 0 {
            return Err(kvmtest::kvm::skip_missing("KVM_X86_QUIRK_FIX_HYPERCALL_INSN in KVM_CAP_DISABLE_QUIRKS2"));
        }
        let (_, foreign, _, foreign_name) = instructions();
        let mut vm = probe::vm_builder(HYPERCALL_PROBE).build()?;
        vm.enable_cap(KVM_CAP_DISABLE_QUIRKS2, &[KVM_X86_QUIRK_FIX_HYPERCALL_INSN])?;
        let (ret, at) = call(&mut vm)?;
        ensure!(
            ret == Access::Fault(UD_VECTOR),
            "{foreign_name} with KVM_X86_QUIRK_FIX_HYPERCALL_INSN disabled: expected #UD, got {ret}"
        );
        let bytes = insn_bytes(&vm, at)?;
        ensure!(
            bytes == foreign,
            "with the quirk disabled KVM must not patch: {at:#x} should still hold {foreign_name} {foreign:02x?}, holds {bytes:02x?}"
        );
        probe::finish(&mut vm)
    }

    pub fn trials() -> Vec<Trial> {
        let (native, foreign, native_name, foreign_name) = instructions();
        runner::announce(format!(
            "fix_hypercall: guest issues {foreign_name} {foreign:02x?}; native is {native_name} {native:02x?}\n  \
             enable_quirk  -> patched to {native_name}, call completes; {foreign_name} written back -> patched again\n  \
             disable_quirk -> #UD, bytes unchanged"
        ));
        vec![
            runner::test("fix_hypercall::enable_quirk", quirk_enabled),
            runner::test("fix_hypercall::disable_quirk", quirk_disabled),
        ]
    }
}
