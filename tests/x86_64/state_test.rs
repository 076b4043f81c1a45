//! state_test: vCPU state save/restore (upstream x86_64/state_test.c). At
//! every GUEST_SYNC the whole vCPU state (vcpu_save_state(): events, MP
//! state, regs, XSAVE, XCRs, sregs, nested state, every listed MSR, debug
//! registers) is saved, the VM released and rebuilt from its memory and
//! that state, and the guest must carry on there; KVM_SET_XSAVE of the
//! state (and with every supported XSTATE_BV bit) works on a second vCPU
//! with no or an empty guest CPUID. The XSAVE stage dirties x87, SSE, AVX,
//! AVX-512, MPX and PKRU state where the vCPU has them. With nested
//! virtualization an L1 hypervisor in the guest (SVM: run-time assembled;
//! VMX: the `state_test_vmx` payload) runs L2 across further stages, so the
//! nested state is migrated too, with L2 running at some of them.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "the vCPU state ioctls are x86's");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
    use kvmtest::abi::vmx::VmxPages;
    use kvmtest::asm::AsmGuest;
    use kvmtest::kvm_bindings::{
        nested::KvmNestedStateBuffer, CpuId, KVM_CAP_NESTED_STATE, KVM_STATE_NESTED_FORMAT_VMX,
        KVM_STATE_NESTED_GUEST_MODE,
    };
    use kvmtest::vm_memory::{Bytes, GuestAddress};
    use kvmtest::x86_64::cpuid::{Cpuid, CpuidBit, Reg};
    use kvmtest::x86_64::sregs::{X86_CR4_OSFXSR, X86_CR4_OSXSAVE, X86_CR4_PKE};
    use kvmtest::x86_64::state::{self, VcpuState};
    use kvmtest::{ensure, runner, Error, Payload, Result, Ucall, Vm, VmBuilder};
    use kvmtest_tests::payloads::STATE_TEST_VMX;
    use libtest_mimic::Trial;

    /// Guest RAM of these VMs: the smallest layout, so a migration copies little.
    const MEM_SIZE: u64 = 4 << 20;
    /// Where the guest's 4 KiB of 0xcc (upstream's `buffer`) and MPX bounds live.
    const BUFFER: u64 = 0x30_0000;
    const BOUNDS: u64 = BUFFER + 0x1000;
    const MSR_IA32_BNDCFGS: u32 = 0xd90;
    /// The SVM pages (vcpu_alloc_svm()): VMCB, host save area, MSR permission map, L2's stack.
    const VMCB: u64 = BUFFER + 0x2000;
    const HSAVE: u64 = VMCB + 0x1000;
    const MSRPM: u64 = HSAVE + 0x1000;
    const L2_STACK_TOP: u64 = MSRPM + 0x3000;
    const MSR_EFER: u32 = 0xc000_0080;
    const EFER_SVME: u64 = 1 << 12;
    const MSR_VM_HSAVE_PA: u32 = 0xc001_0117;
    const MSR_IA32_CR_PAT: u32 = 0x277;
    const MSR_IA32_DEBUGCTLMSR: u32 = 0x1d9;
    const SVM_EXIT_VMMCALL: i32 = 0x81;
    /// vmcb_control_area offsets (selftests include/x86_64/svm.h).
    const VMCB_INTERCEPT: u64 = 0xc;
    const VMCB_MSRPM_BASE_PA: u64 = 0x48;
    const VMCB_ASID: u64 = 0x58;
    const VMCB_EXIT_CODE: i32 = 0x70;
    const INTERCEPT_VMRUN: u32 = 32;
    const INTERCEPT_VMMCALL: u32 = 33;
    /// vmcb_save_area and its offsets.
    const VMCB_SAVE: i32 = 0x400;
    const SAVE_ES: u64 = 0x0;
    const SAVE_CS: u64 = 0x10;
    const SAVE_SS: u64 = 0x20;
    const SAVE_DS: u64 = 0x30;
    const SAVE_GDTR: u64 = 0x60;
    const SAVE_IDTR: u64 = 0x80;
    const SAVE_CPL: u64 = 0xcb;
    const SAVE_EFER: u64 = 0xd0;
    const SAVE_CR4: u64 = 0x148;
    const SAVE_CR3: u64 = 0x150;
    const SAVE_CR0: u64 = 0x158;
    const SAVE_DR7: u64 = 0x160;
    const SAVE_DR6: u64 = 0x168;
    const SAVE_RFLAGS: u64 = 0x170;
    const SAVE_RIP: i32 = 0x178;
    const SAVE_RSP: u64 = 0x1d8;
    const SAVE_G_PAT: u64 = 0x268;
    const SAVE_DBGCTL: u64 = 0x270;
    const SVM_SELECTOR_S_MASK: u16 = 1 << 4;
    const SVM_SELECTOR_P_MASK: u16 = 1 << 7;
    const SVM_SELECTOR_L_MASK: u16 = 1 << 9;
    const SVM_SELECTOR_DB_MASK: u16 = 1 << 10;
    const SVM_SELECTOR_G_MASK: u16 = 1 << 11;
    const X86_FEATURE_SVM: CpuidBit =
        CpuidBit { leaf: 0x8000_0001, subleaf: 0, reg: Reg::Ecx, bit: 2, name: "X86_FEATURE_SVM" };
    const X86_FEATURE_VMX: CpuidBit = CpuidBit { leaf: 1, subleaf: 0, reg: Reg::Ecx, bit: 5, name: "X86_FEATURE_VMX" };
    /// vcpu_alloc_vmx()'s pages: the `VmxPages` record, then VMXON region,
    /// VMCS, MSR bitmap, shadow VMCS, VMREAD and VMWRITE bitmaps, 4 KiB each.
    const VMX_PAGES: u64 = 0x31_0000;
    const VMX: VmxPages = VmxPages {
        vmxon_gpa: VMX_PAGES + 0x1000,
        vmcs_gpa: VMX_PAGES + 0x2000,
        msr_gpa: VMX_PAGES + 0x3000,
        shadow_vmcs_gpa: VMX_PAGES + 0x4000,
        vmread_gpa: VMX_PAGES + 0x5000,
        vmwrite_gpa: VMX_PAGES + 0x6000,
    };
    /// The last stage of each guest: guest_code() alone, with the SVM L1, with the VMX L1.
    const LAST_STAGE_PLAIN: u64 = 2;
    const LAST_STAGE_SVM: u64 = 7;
    const LAST_STAGE_VMX: u64 = 13;

    /// Which L1 hypervisor guest_code() runs after stage 2 (upstream: none
    /// without KVM_CAP_NESTED_STATE, else SVM or VMX by the CPU).
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Nested {
        None,
        Svm,
        Vmx,
    }

    const fn bit(leaf: u32, reg: Reg, bit: u8, name: &'static str) -> CpuidBit {
        CpuidBit { leaf, subleaf: 0, reg, bit, name }
    }
    const X86_FEATURE_XSAVE: CpuidBit = bit(1, Reg::Ecx, 26, "X86_FEATURE_XSAVE");
    const X86_FEATURE_OSXSAVE_BIT: u32 = 27;
    const X86_FEATURE_MPX: CpuidBit = bit(7, Reg::Ebx, 14, "X86_FEATURE_MPX");
    const X86_FEATURE_PKU: CpuidBit = bit(7, Reg::Ecx, 3, "X86_FEATURE_PKU");
    const X86_FEATURE_OSPKE_BIT: u32 = 4;
    const XFEATURE_MASK_FP: u64 = 1 << 0;
    const XFEATURE_MASK_SSE: u64 = 1 << 1;
    const XFEATURE_MASK_YMM: u64 = 1 << 2;
    const XFEATURE_MASK_BNDREGS: u64 = 1 << 3;
    const XFEATURE_MASK_BNDCSR: u64 = 1 << 4;
    const XFEATURE_MASK_AVX512: u64 = 0b111 << 5;
    const XFEATURE_MASK_PKRU: u64 = 1 << 9;

    /// kvm_cpu_supported_xcr0(): KVM_GET_SUPPORTED_CPUID leaf 0xd.0 EDX:EAX.
    fn supported_xcr0() -> Result<u64> {
        let c = Cpuid::supported()?;
        let e = c.entry(0xd, 0).ok_or_else(|| Error::Check("KVM_GET_SUPPORTED_CPUID has no leaf 0xd".into()))?;
        Ok(u64::from(e.eax) | u64::from(e.edx) << 32)
    }

    /// What the XSAVE stage touches, from the vCPU's CPUID (the guest's
    /// this_cpu_has(), decided when the guest is assembled).
    struct XsavePlan {
        supported_xcr0: u64,
        mpx: bool,
        pku: bool,
    }

    /// The guest's abort with the condition upstream asserts.
    fn assert_or_abort(g: &mut AsmGuest, ok: dynasmrt::DynamicLabel, what: &str) {
        g.abort(file!(), line!(), what, &[]);
        dynasm!(g.ops() ; .arch x64 ; =>ok);
    }

    /// guest_code(): SYNC(1), the XSAVE stage if planned, SYNC(2), the SVM
    /// L1 of stages 3-7 if asked (returning L2's entry), DONE.
    fn guest(plan: Option<&XsavePlan>, svm: bool) -> Result<(Payload, u64)> {
        let mut g = AsmGuest::new();
        g.sync(1, &[]);
        if let Some(p) = plan {
            // set_cr4(get_cr4() | X86_CR4_OSXSAVE); GUEST_ASSERT(this_cpu_has(X86_FEATURE_OSXSAVE)).
            let ok = g.ops().new_dynamic_label();
            dynasm!(g.ops()
                ; .arch x64
                ; mov rax, cr4
                ; mov rcx, QWORD X86_CR4_OSXSAVE as i64
                ; or rax, rcx
                ; mov cr4, rax
                ; mov eax, 1
                ; xor ecx, ecx
                ; cpuid
                ; bt ecx, X86_FEATURE_OSXSAVE_BIT as i8
                ; jc =>ok
            );
            assert_or_abort(&mut g, ok, "this_cpu_has(X86_FEATURE_OSXSAVE)");
            // xsetbv(0, xgetbv(0) | supported_xcr0).
            dynasm!(g.ops()
                ; .arch x64
                ; xor ecx, ecx
            );
            g.ops().extend([0x0f, 0x01, 0xd0]); // xgetbv
            dynasm!(g.ops()
                ; .arch x64
                ; or eax, p.supported_xcr0 as u32 as i32
                ; or edx, (p.supported_xcr0 >> 32) as u32 as i32
                ; xor ecx, ecx
            );
            g.ops().extend([0x0f, 0x01, 0xd1]); // xsetbv
                                                // Take every supported xfeature out of its init state.
            g.ops().extend([0xd9, 0xf7]); // fincstp
            if p.supported_xcr0 & XFEATURE_MASK_YMM != 0 {
                dynasm!(g.ops() ; .arch x64 ; mov rax, QWORD BUFFER as i64);
                g.ops().extend([0xc5, 0xfa, 0x6f, 0x00]); // vmovdqu xmm0, [rax]
            } else {
                // Without YMM in XCR0 the VEX form is #UD: the legacy
                // encoding, which needs CR4.OSFXSR.
                dynasm!(g.ops()
                    ; .arch x64
                    ; mov rax, cr4
                    ; or rax, X86_CR4_OSFXSR as i32
                    ; mov cr4, rax
                    ; mov rax, QWORD BUFFER as i64
                );
                g.ops().extend([0xf3, 0x0f, 0x6f, 0x00]); // movdqu xmm0, [rax]
            }
            if p.supported_xcr0 & XFEATURE_MASK_YMM != 0 {
                g.ops().extend([0xc5, 0xfe, 0x6f, 0x00]); // vmovdqu ymm0, [rax]
            }
            if p.supported_xcr0 & XFEATURE_MASK_AVX512 != 0 {
                dynasm!(g.ops() ; .arch x64 ; mov rcx, -1);
                g.ops().extend([0xc4, 0xe1, 0xfb, 0x92, 0xc9]); // kmovq k1, rcx
                g.ops().extend([0x62, 0xf1, 0xfd, 0x48, 0x10, 0x00]); // vmovupd zmm0, [rax]
                g.ops().extend([0x62, 0xe1, 0xfd, 0x48, 0x10, 0x00]); // vmovupd zmm16, [rax]
            }
            if p.mpx {
                // wrmsr(MSR_IA32_BNDCFGS, 1); bndmov (%rax),%bnd1; bndmov %bnd1,16(%rax)
                // via (%rax) of the output; wrmsr(MSR_IA32_BNDCFGS, 0); compare.
                let ok = g.ops().new_dynamic_label();
                dynasm!(g.ops()
                    ; .arch x64
                    ; mov ecx, MSR_IA32_BNDCFGS as i32
                    ; mov eax, 1
                    ; xor edx, edx
                    ; wrmsr
                    ; mov rax, QWORD BOUNDS as i64
                );
                g.ops().extend([0x66, 0x0f, 0x1a, 0x08]); // bndmov (%rax),%bnd1
                dynasm!(g.ops() ; .arch x64 ; mov rax, QWORD (BOUNDS + 16) as i64);
                g.ops().extend([0x66, 0x0f, 0x1b, 0x08]); // bndmov %bnd1,(%rax)
                dynasm!(g.ops()
                    ; .arch x64
                    ; mov ecx, MSR_IA32_BNDCFGS as i32
                    ; xor eax, eax
                    ; xor edx, edx
                    ; wrmsr
                    ; mov rax, QWORD BOUNDS as i64
                    ; mov rcx, [rax]
                    ; cmp rcx, [rax + 16]
                    ; jne >bad
                    ; mov rcx, [rax + 8]
                    ; cmp rcx, [rax + 24]
                    ; je =>ok
                    ; bad:
                );
                assert_or_abort(&mut g, ok, "bounds == output (BND1 loaded and stored)");
            }
            if p.pku {
                // set_cr4(get_cr4() | X86_CR4_PKE); GUEST_ASSERT(this_cpu_has(X86_FEATURE_OSPKE)); wrpkru(-1u).
                let ok = g.ops().new_dynamic_label();
                dynasm!(g.ops()
                    ; .arch x64
                    ; mov rax, cr4
                    ; mov rcx, QWORD X86_CR4_PKE as i64
                    ; or rax, rcx
                    ; mov cr4, rax
                    ; mov eax, 7
                    ; xor ecx, ecx
                    ; cpuid
                    ; bt ecx, X86_FEATURE_OSPKE_BIT as i8
                    ; jc =>ok
                );
                assert_or_abort(&mut g, ok, "this_cpu_has(X86_FEATURE_OSPKE)");
                dynasm!(g.ops()
                    ; .arch x64
                    ; xor ecx, ecx
                    ; xor edx, edx
                    ; mov eax, -1
                );
                g.ops().extend([0x0f, 0x01, 0xef]); // wrpkru
            }
        }
        g.sync(2, &[]);
        let mut l2_rip = 0;
        if svm {
            l2_rip = svm_l1_guest_code(&mut g);
        }
        g.done();
        Ok((g.finish()?, l2_rip))
    }

    /// svm_l1_guest_code() with generic_svm_setup()'s guest half (EFER.SVME,
    /// VM_HSAVE_PA, VMSAVE; the host fills the rest of the VMCB as the C
    /// helper copies it from L1's registers) and run_guest(); then
    /// svm_l2_guest_code(). Returns L2's entry.
    fn svm_l1_guest_code(g: &mut AsmGuest) -> u64 {
        let run_guest = |g: &mut AsmGuest| {
            dynasm!(g.ops() ; .arch x64 ; mov rax, QWORD VMCB as i64);
            g.ops().extend([0x0f, 0x01, 0xda]); // vmload
            g.ops().extend([0x0f, 0x01, 0xd8]); // vmrun
            dynasm!(g.ops() ; .arch x64 ; mov rax, QWORD VMCB as i64);
            g.ops().extend([0x0f, 0x01, 0xdb]); // vmsave
        };
        let assert_vmmcall = |g: &mut AsmGuest| {
            let ok = g.ops().new_dynamic_label();
            dynasm!(g.ops()
                ; .arch x64
                ; mov rax, QWORD VMCB as i64
                ; cmp DWORD [rax + VMCB_EXIT_CODE], SVM_EXIT_VMMCALL
                ; je =>ok
            );
            assert_or_abort(g, ok, "vmcb->control.exit_code == SVM_EXIT_VMMCALL");
        };
        dynasm!(g.ops()
            ; .arch x64
            ; mov ecx, MSR_EFER as i32
            ; rdmsr
            ; or eax, EFER_SVME as i32
            ; wrmsr
            ; mov ecx, MSR_VM_HSAVE_PA as i32
            ; mov eax, HSAVE as i32
            ; xor edx, edx
            ; wrmsr
            ; mov rax, QWORD VMCB as i64
        );
        g.ops().extend([0x0f, 0x01, 0xdb]); // vmsave
        g.sync(3, &[]);
        run_guest(g);
        assert_vmmcall(g);
        g.sync(5, &[]);
        dynasm!(g.ops()
            ; .arch x64
            ; mov rax, QWORD VMCB as i64
            ; add QWORD [rax + VMCB_SAVE + SAVE_RIP], 3
        );
        run_guest(g);
        assert_vmmcall(g);
        g.sync(7, &[]);
        let done = g.ops().new_dynamic_label();
        dynasm!(g.ops() ; .arch x64 ; jmp =>done);

        // svm_l2_guest_code().
        let l2_rip = g.here();
        g.sync(4, &[]);
        g.ops().extend([0x0f, 0x01, 0xd9]); // vmmcall: exit to L1
        g.sync(6, &[]);
        g.ops().extend([0x0f, 0x01, 0xd9]); // done, exit to L1 and never come back
        g.undefined_instruction();
        dynasm!(g.ops() ; .arch x64 ; =>done);
        l2_rip
    }

    fn builder(payload: &Payload) -> VmBuilder {
        // The in-kernel irqchip of every selftests VM (MSR_KVM_ASYNC_PF_INT needs it).
        // Argument 0 is upstream's nested_gva: the VMX pages' record (the
        // SVM and plain guests ignore it).
        Vm::builder().payload(payload.clone()).mem_size(MEM_SIZE).irqchip(true).arg(0, VMX_PAGES)
    }

    /// vcpu_alloc_vmx(): the record of the L1 hypervisor's pages, each page
    /// zeroed (upstream clears the MSR, VMREAD and VMWRITE bitmaps; the
    /// others are fresh pages).
    fn vcpu_alloc_vmx(vm: &Vm) -> Result<()> {
        let mem_err = |e: kvmtest::vm_memory::GuestMemoryError| Error::Memory(format!("the VMX pages: {e}"));
        vm.mem().write_slice(&[0; 7 * 4096], GuestAddress(VMX_PAGES)).map_err(mem_err)?;
        let record = [VMX.vmxon_gpa, VMX.vmcs_gpa, VMX.msr_gpa, VMX.shadow_vmcs_gpa, VMX.vmread_gpa, VMX.vmwrite_gpa];
        for (i, gpa) in record.iter().enumerate() {
            vm.mem().write_obj(*gpa, GuestAddress(VMX_PAGES + 8 * i as u64)).map_err(mem_err)?;
        }
        Ok(())
    }

    /// kvmtest adds: KVM_GET_NESTED_STATE's VMX header at each stage of the
    /// VMX guest says what L1 has done (Documentation/virt/kvm/api.rst
    /// KVM_GET_NESTED_STATE; vmx/nested.c vmx_get_nested_state(), the same
    /// in 6.1 and 6.12): VMX format; vmxon_pa the VMXON region from stage 3
    /// (INVALID_GPA before); vmcs12_pa the current VMCS (none at stage 3,
    /// the shadow VMCS while L1 has it loaded at 8, 9 and 13); GUEST_MODE
    /// while L2 runs (6, 10, 11, 12).
    fn check_vmx_nested_state(stage: u64, nested: Option<&KvmNestedStateBuffer>) -> Result<()> {
        const INVALID_GPA: u64 = u64::MAX;
        let Some(n) = nested else {
            return Err(Error::Check(format!("stage {stage}: expected nested state, got none")));
        };
        ensure!(
            u32::from(n.format) == KVM_STATE_NESTED_FORMAT_VMX,
            "stage {stage}: nested state format: expected {KVM_STATE_NESTED_FORMAT_VMX} (VMX), got {}",
            n.format
        );
        // SAFETY: the header is a union of plain integers; KVM wrote the VMX member (format checked above).
        let hdr = unsafe { n.hdr.vmx };
        let (vmxon, vmcs12) = match stage {
            1 | 2 => (INVALID_GPA, INVALID_GPA),
            3 => (VMX.vmxon_gpa, INVALID_GPA),
            8 | 9 | 13 => (VMX.vmxon_gpa, VMX.shadow_vmcs_gpa),
            _ => (VMX.vmxon_gpa, VMX.vmcs_gpa),
        };
        let (got_vmxon, got_vmcs12) = (hdr.vmxon_pa, hdr.vmcs12_pa);
        ensure!(got_vmxon == vmxon, "stage {stage}: nested state vmxon_pa: expected {vmxon:#x}, got {got_vmxon:#x}");
        ensure!(
            got_vmcs12 == vmcs12,
            "stage {stage}: nested state vmcs12_pa: expected {vmcs12:#x}, got {got_vmcs12:#x}"
        );
        let l2_running = matches!(stage, 6 | 10..=12);
        let guest_mode = u32::from(n.flags) & KVM_STATE_NESTED_GUEST_MODE != 0;
        ensure!(
            guest_mode == l2_running,
            "stage {stage}: nested state KVM_STATE_NESTED_GUEST_MODE: expected {l2_running}, got {guest_mode} (flags {:#x})",
            n.flags
        );
        Ok(())
    }

    /// The XSAVE stage's plan for this host; a skip where it cannot run.
    fn xsave_plan() -> Result<XsavePlan> {
        let backend = kvmtest::backend()?;
        if backend.is_pvm() {
            return Err(Error::Skip(format!(
                "the XSAVE stage runs x87/SSE/AVX instructions, which PVM's emulator cannot run after an exit \
                 (backend {backend})"
            )));
        }
        let cpuid = Cpuid::supported()?;
        if cpuid.has(X86_FEATURE_XSAVE) && host_is_qemu_tcg() {
            xsetbv_reaches_kvm()?;
        }
        if !cpuid.has(X86_FEATURE_XSAVE) {
            return Err(Error::Skip("this CPU has no XSAVE: upstream's guest skips the XSAVE stage too".into()));
        }
        let supported_xcr0 = supported_xcr0()?;
        ensure!(supported_xcr0 & XFEATURE_MASK_FP != 0, "supported XCR0 {supported_xcr0:#x} lacks XFEATURE_MASK_FP");
        ensure!(supported_xcr0 & XFEATURE_MASK_SSE != 0, "supported XCR0 {supported_xcr0:#x} lacks XFEATURE_MASK_SSE");
        let mpx = cpuid.has(X86_FEATURE_MPX);
        if mpx {
            let both = XFEATURE_MASK_BNDREGS | XFEATURE_MASK_BNDCSR;
            ensure!(supported_xcr0 & both == both, "MPX without BNDREGS|BNDCSR in supported XCR0 {supported_xcr0:#x}");
        }
        let pku = cpuid.has(X86_FEATURE_PKU);
        if pku {
            ensure!(supported_xcr0 & XFEATURE_MASK_PKRU != 0, "PKU without PKRU in supported XCR0 {supported_xcr0:#x}");
        }
        runner::announce(format!(
            "state_test: XSAVE stage with supported XCR0 {supported_xcr0:#x}, MPX {mpx}, PKU {pku}"
        ));
        Ok(XsavePlan { supported_xcr0, mpx, pku })
    }

    /// The guest's data: upstream's 4 KiB of 0xcc and the MPX bounds.
    fn write_guest_data(vm: &Vm) -> Result<()> {
        let mem_err = |e: kvmtest::vm_memory::GuestMemoryError| Error::Memory(format!("the guest's data: {e}"));
        vm.mem().write_slice(&[0xcc; 4096], GuestAddress(BUFFER)).map_err(mem_err)?;
        for (i, b) in [10u64, 0xffff_ffff].iter().enumerate() {
            vm.mem().write_obj(*b, GuestAddress(BOUNDS + 8 * i as u64)).map_err(mem_err)?;
        }
        Ok(())
    }

    /// generic_svm_setup()'s VMCB, from L1's registers as the harness set
    /// them (the guest does VMSAVE, EFER.SVME and VM_HSAVE_PA itself).
    fn generic_svm_setup(vm: &mut Vm, l2_rip: u64) -> Result<()> {
        let vcpu = vm.vcpu(0);
        let sregs = vcpu.sregs()?;
        let debugregs = vcpu.fd().get_debug_regs().map_err(Error::kvm("KVM_GET_DEBUGREGS"))?;
        let g_pat = vcpu.get_msr(MSR_IA32_CR_PAT)?;
        let dbgctl = vcpu.get_msr(MSR_IA32_DEBUGCTLMSR)?;
        let data_seg_attr = 3 | SVM_SELECTOR_S_MASK | SVM_SELECTOR_P_MASK | SVM_SELECTOR_DB_MASK | SVM_SELECTOR_G_MASK;
        let code_seg_attr = 9 | SVM_SELECTOR_S_MASK | SVM_SELECTOR_P_MASK | SVM_SELECTOR_L_MASK | SVM_SELECTOR_G_MASK;
        let mem = vm.mem();
        let mem_err = |e: kvmtest::vm_memory::GuestMemoryError| Error::Memory(format!("the VMCB: {e}"));
        let save = VMCB + VMCB_SAVE as u64;
        let seg = |off: u64, selector: u16, base: u64, limit: u32, attr: u16| -> Result<()> {
            mem.write_obj(selector, GuestAddress(save + off)).map_err(mem_err)?;
            mem.write_obj(attr, GuestAddress(save + off + 2)).map_err(mem_err)?;
            mem.write_obj(limit, GuestAddress(save + off + 4)).map_err(mem_err)?;
            mem.write_obj(base, GuestAddress(save + off + 8)).map_err(mem_err)
        };
        seg(SAVE_ES, sregs.es.selector, 0, u32::MAX, data_seg_attr)?;
        seg(SAVE_CS, sregs.cs.selector, 0, u32::MAX, code_seg_attr)?;
        seg(SAVE_SS, sregs.ss.selector, 0, u32::MAX, data_seg_attr)?;
        seg(SAVE_DS, sregs.ds.selector, 0, u32::MAX, data_seg_attr)?;
        seg(SAVE_GDTR, 0, sregs.gdt.base, sregs.gdt.limit.into(), 0)?;
        seg(SAVE_IDTR, 0, sregs.idt.base, sregs.idt.limit.into(), 0)?;
        let w64 = |at: u64, v: u64| mem.write_obj(v, GuestAddress(at)).map_err(mem_err);
        w64(VMCB + VMCB_INTERCEPT, (1 << INTERCEPT_VMRUN) | (1 << INTERCEPT_VMMCALL))?;
        w64(VMCB + VMCB_MSRPM_BASE_PA, MSRPM)?;
        mem.write_obj(1u32, GuestAddress(VMCB + VMCB_ASID)).map_err(mem_err)?;
        mem.write_obj(0u8, GuestAddress(save + SAVE_CPL)).map_err(mem_err)?;
        w64(save + SAVE_EFER, sregs.efer | EFER_SVME)?;
        w64(save + SAVE_CR4, sregs.cr4)?;
        w64(save + SAVE_CR3, sregs.cr3)?;
        w64(save + SAVE_CR0, sregs.cr0)?;
        w64(save + SAVE_DR7, debugregs.dr7)?;
        w64(save + SAVE_DR6, debugregs.dr6)?;
        w64(save + SAVE_RFLAGS, 0x2)?;
        w64(save + SAVE_RIP as u64, l2_rip)?;
        // As if called: the stack the harness's ucall code expects.
        w64(save + SAVE_RSP, L2_STACK_TOP - 8)?;
        w64(save + SAVE_G_PAT, g_pat)?;
        w64(save + SAVE_DBGCTL, dbgctl)
    }

    /// Whether this host runs under qemu's TCG (hypervisor signature
    /// "TCGTCGTCGTCG" at CPUID 0x40000000), the emulated machines' CPU.
    fn host_is_qemu_tcg() -> bool {
        let r = std::arch::x86_64::__cpuid(0x4000_0000);
        let sig: Vec<u8> = [r.ebx, r.ecx, r.edx].iter().flat_map(|w| w.to_le_bytes()).collect();
        sig == b"TCGTCGTCGTCG"
    }

    /// Under qemu's TCG (Debian's qemu 7.2, kvm_amd of 6.1 and 6.12) a
    /// guest's XSETBV never reaches KVM (no XSETBV exit seen): the guest's
    /// XCR0 holds until the next VM entry, when KVM loads its own copy and
    /// AVX faults. A guest sets
    /// XCR0 = x87|SSE; KVM_GET_XCRS must say so, or the stage skips naming it.
    fn xsetbv_reaches_kvm() -> Result<()> {
        let mut g = AsmGuest::new();
        dynasm!(g.ops()
            ; .arch x64
            ; mov rax, cr4
            ; mov rcx, QWORD X86_CR4_OSXSAVE as i64
            ; or rax, rcx
            ; mov cr4, rax
            ; xor ecx, ecx
            ; xor edx, edx
            ; mov eax, (XFEATURE_MASK_FP | XFEATURE_MASK_SSE) as i32
        );
        g.ops().extend([0x0f, 0x01, 0xd1]); // xsetbv
        g.sync(1, &[]).done();
        let mut vm = builder(&g.finish()?).build()?;
        vm.vcpu(0).expect_sync(1)?;
        let xcrs = vm.vcpu(0).fd().get_xcrs().map_err(Error::kvm("KVM_GET_XCRS"))?;
        let xcr0 = xcrs.xcrs.iter().take(xcrs.nr_xcrs as usize).find(|x| x.xcr == 0).map(|x| x.value);
        if xcr0 != Some(XFEATURE_MASK_FP | XFEATURE_MASK_SSE) {
            let backend = kvmtest::backend()?;
            return Err(Error::Skip(format!(
                "under qemu's TCG the guest's XSETBV does not reach KVM (guest set XCR0 {:#x}, KVM_GET_XCRS says \
                 {xcr0:x?}): KVM reloads its own XCR0 at the next entry and AVX faults, so the XSAVE stage cannot \
                 run here (backend {backend})",
                XFEATURE_MASK_FP | XFEATURE_MASK_SSE
            )));
        }
        vm.vcpu(0).expect_done()
    }

    /// main()'s loop: at each SYNC(stage) save the state, rebuild the VM
    /// from its memory and that state, exercise KVM_SET_XSAVE on a second
    /// vCPU, and check the registers came across.
    fn save_restore_each_stage(plan: Option<&XsavePlan>, nested: Nested) -> Result<()> {
        let (payload, l2_rip) = match nested {
            Nested::Vmx => (Payload::elf(STATE_TEST_VMX), 0),
            _ => guest(plan, nested == Nested::Svm)?,
        };
        let supported_xcr0 = supported_xcr0()?;
        let mut vm = builder(&payload).build()?;
        write_guest_data(&vm)?;
        match nested {
            Nested::Svm => generic_svm_setup(&mut vm, l2_rip)?,
            Nested::Vmx => vcpu_alloc_vmx(&vm)?,
            Nested::None => {}
        }
        let mut stages = 0u64;
        for stage in 1.. {
            match vm.vcpu(0).next_event()? {
                Ucall::Sync { stage: s, .. } => {
                    ensure!(s == stage, "Stage {stage}: Unexpected register values vmexit, got {s:#x}")
                }
                Ucall::Done => break,
                other => return Err(other.into_failure(0)),
            }
            stages = stage;
            let mut saved = vm.vcpu(0).save_state()?;
            if nested == Nested::Vmx {
                check_vmx_nested_state(stage, saved.nested.as_ref())?;
            }
            let regs1 = vm.vcpu(0).fd().get_regs().map_err(Error::kvm("KVM_GET_REGS"))?;

            // Restore state in a new VM.
            let target = builder(&payload).build()?;
            target.copy_memory_from(&vm)?;
            drop(vm);
            vm = target;
            vm.vcpu(0).load_state(&saved)?;

            // Restore XSAVE state in a dummy vCPU, first without KVM_SET_CPUID2,
            // then with an empty guest CPUID; once as saved, once with every
            // supported feature forced on in XSTATE_BV.
            let vcpu_n = vm.fd().create_vcpu(1).map_err(Error::kvm("KVM_CREATE_VCPU (dummy vCPU)"))?;
            let saved_xstate_bv = saved.xstate_bv();
            state::set_xsave(&vcpu_n, &saved.xsave)?;
            saved.set_xstate_bv(supported_xcr0);
            state::set_xsave(&vcpu_n, &saved.xsave)?;
            let empty = CpuId::new(0).map_err(|e| Error::Config(format!("an empty CPUID: {e:?}")))?;
            vcpu_n.set_cpuid2(&empty).map_err(Error::kvm("KVM_SET_CPUID2 (empty, dummy vCPU)"))?;
            state::set_xsave(&vcpu_n, &saved.xsave)?;
            saved.set_xstate_bv(saved_xstate_bv);
            state::set_xsave(&vcpu_n, &saved.xsave)?;

            let regs2 = vm.vcpu(0).fd().get_regs().map_err(Error::kvm("KVM_GET_REGS"))?;
            ensure!(
                regs1 == regs2,
                "Unexpected register values after vcpu_load_state; rdi: {:#x} rsi: {:#x}\n  saved {regs1:x?}\n  loaded {regs2:x?}",
                regs2.rdi,
                regs2.rsi
            );
            // kvmtest adds: the special registers and XCRs came across too.
            check_loaded(&mut vm, &saved)?;
        }
        let expected = match nested {
            Nested::None => LAST_STAGE_PLAIN,
            Nested::Svm => LAST_STAGE_SVM,
            Nested::Vmx => LAST_STAGE_VMX,
        };
        ensure!(stages == expected, "the guest reached DONE after {stages} stages, expected {expected}");
        Ok(())
    }

    /// sregs and XCRs as loaded equal the saved ones.
    fn check_loaded(vm: &mut Vm, saved: &VcpuState) -> Result<()> {
        let vcpu = vm.vcpu(0);
        let sregs = vcpu.sregs()?;
        ensure!(sregs == saved.sregs, "sregs after vcpu_load_state: saved {:x?}, loaded {sregs:x?}", saved.sregs);
        if let Some(xcrs) = &saved.xcrs {
            let now = vcpu.fd().get_xcrs().map_err(Error::kvm("KVM_GET_XCRS"))?;
            ensure!(now == *xcrs, "XCRs after vcpu_load_state: saved {xcrs:x?}, loaded {now:x?}");
        }
        Ok(())
    }

    fn base() -> Result<()> {
        save_restore_each_stage(None, Nested::None)
    }

    fn xsave() -> Result<()> {
        let plan = xsave_plan()?;
        save_restore_each_stage(Some(&plan), Nested::None)
    }

    /// MSRs that count time, so differ between two reads: MSR_IA32_TSC and
    /// Hyper-V's HV_X64_MSR_VP_RUNTIME and HV_X64_MSR_TIME_REF_COUNT.
    const RUNNING_CLOCK_MSRS: &[u32] = &[0x10, 0x4000_0010, 0x4000_0020];

    /// The save/load API itself: state saved, loaded into the same vCPU and
    /// saved again is the same (MSRs compared by index, running clocks excepted).
    fn save_load_round_trip() -> Result<()> {
        let mut g = AsmGuest::new();
        g.sync(1, &[]).done();
        let mut vm = builder(&g.finish()?).build()?;
        vm.vcpu(0).expect_sync(1)?;
        let first = vm.vcpu(0).save_state()?;
        vm.vcpu(0).load_state(&first)?;
        let second = vm.vcpu(0).save_state()?;
        ensure!(first.regs == second.regs, "regs: saved {:x?}, again {:x?}", first.regs, second.regs);
        ensure!(first.sregs == second.sregs, "sregs: saved {:x?}, again {:x?}", first.sregs, second.sregs);
        ensure!(first.xcrs == second.xcrs, "XCRs: saved {:x?}, again {:x?}", first.xcrs, second.xcrs);
        ensure!(
            first.debugregs == second.debugregs,
            "debug registers: saved {:x?}, again {:x?}",
            first.debugregs,
            second.debugregs
        );
        ensure!(first.mp_state.mp_state == second.mp_state.mp_state, "MP state changed");
        ensure!(first.msrs.len() == second.msrs.len(), "MSR count: {} then {}", first.msrs.len(), second.msrs.len());
        let mut changed = Vec::new();
        for (a, b) in first.msrs.iter().zip(&second.msrs) {
            ensure!(a.index == b.index, "MSR order: {:#x} then {:#x}", a.index, b.index);
            if !RUNNING_CLOCK_MSRS.contains(&a.index) && a.data != b.data {
                changed.push(format!("MSR {:#x}: saved {:#x}, again {:#x}", a.index, a.data, b.data));
            }
        }
        ensure!(changed.is_empty(), "MSRs changed across load_state/save_state:\n  {}", changed.join("\n  "));
        ensure!(
            first.xsave.as_slice() == second.xsave.as_slice()
                && first.xsave.as_fam_struct_ref().xsave.region == second.xsave.as_fam_struct_ref().xsave.region,
            "the XSAVE area changed across KVM_SET_XSAVE/KVM_GET_XSAVE2"
        );
        vm.vcpu(0).expect_done()
    }

    /// Stages 3-7 on SVM: an L1 hypervisor in the guest runs an L2 that
    /// syncs from inside guest mode, so the state saved there includes
    /// KVM_GET_NESTED_STATE with L2 running; L2 and L1 must carry on in each
    /// new VM. (Stages 3-13 on VMX need an Intel CPU.)
    fn nested_svm() -> Result<()> {
        let backend = kvmtest::backend()?;
        let size = kvmtest::kvm::check_cap_raw(KVM_CAP_NESTED_STATE.into())?;
        if backend.is_pvm() || size == 0 {
            return Err(Error::Skip(format!(
                "requires KVM_CAP_NESTED_STATE (nested virtualization), which this KVM does not offer (backend {backend})"
            )));
        }
        if !Cpuid::supported()?.has(X86_FEATURE_SVM) {
            return Err(Error::Skip(format!(
                "requires X86_FEATURE_SVM in KVM_GET_SUPPORTED_CPUID (nested SVM; backend {backend})"
            )));
        }
        save_restore_each_stage(None, Nested::Svm)
    }

    /// Stages 3-13 on VMX (the `state_test_vmx` payload: upstream's
    /// vmx_l1_guest_code and vmx_l2_guest_code): an L1 hypervisor syncs
    /// after VMXON, with its VMCS loaded, with L2 launched and resumed, with
    /// a shadow VMCS current, and L2 syncs while reading and writing that
    /// shadow VMCS; the state saved at each stage includes the nested state.
    /// Upstream runs it where KVM_CAP_NESTED_STATE is offered and the CPU
    /// has VMX (not SVM).
    fn nested_vmx() -> Result<()> {
        let backend = kvmtest::backend()?;
        let size = kvmtest::kvm::check_cap_raw(KVM_CAP_NESTED_STATE.into())?;
        let vmx = Cpuid::supported()?.has(X86_FEATURE_VMX);
        if size == 0 || !vmx {
            return Err(Error::Skip(format!(
                "requires nested VMX: X86_FEATURE_VMX in KVM's supported CPUID ({}) and KVM_CAP_NESTED_STATE ({}); \
                 backend {backend}",
                if vmx { "present" } else { "absent" },
                if size == 0 { "not offered".to_string() } else { format!("{size} bytes") }
            )));
        }
        save_restore_each_stage(None, Nested::Vmx)
    }

    pub fn trials() -> Vec<Trial> {
        vec![
            runner::test("state_test::save_load_round_trip", save_load_round_trip),
            runner::test("state_test::stages", base),
            runner::test("state_test::stages_xsave", xsave),
            runner::test("state_test::nested_svm", nested_svm),
            runner::test("state_test::nested_vmx", nested_vmx),
        ]
    }
}
