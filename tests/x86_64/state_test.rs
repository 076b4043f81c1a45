//! state_test: vCPU state save/restore (upstream x86_64/state_test.c). At
//! every GUEST_SYNC the whole vCPU state (vcpu_save_state(): events, MP
//! state, regs, XSAVE, XCRs, sregs, nested state, every listed MSR, debug
//! registers) is saved, the VM released and rebuilt from its memory and
//! that state, and the guest must carry on there; KVM_SET_XSAVE of the
//! state (and with every supported XSTATE_BV bit) works on a second vCPU
//! with no or an empty guest CPUID. The XSAVE stage dirties x87, SSE, AVX,
//! AVX-512, MPX and PKRU state where the vCPU has them.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "the vCPU state ioctls are x86's");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
    use kvmtest::asm::AsmGuest;
    use kvmtest::kvm_bindings::{CpuId, KVM_CAP_NESTED_STATE};
    use kvmtest::vm_memory::{Bytes, GuestAddress};
    use kvmtest::x86_64::cpuid::{Cpuid, CpuidBit, Reg};
    use kvmtest::x86_64::sregs::{X86_CR4_OSXSAVE, X86_CR4_PKE};
    use kvmtest::x86_64::state::{self, VcpuState};
    use kvmtest::{ensure, runner, Error, Payload, Result, Ucall, Vm, VmBuilder};
    use libtest_mimic::Trial;

    /// Guest RAM of these VMs: the smallest layout, so a migration copies little.
    const MEM_SIZE: u64 = 4 << 20;
    /// Where the guest's 4 KiB of 0xcc (upstream's `buffer`) and MPX bounds live.
    const BUFFER: u64 = 0x30_0000;
    const BOUNDS: u64 = BUFFER + 0x1000;
    const MSR_IA32_BNDCFGS: u32 = 0xd90;

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

    /// guest_code(): SYNC(1), the XSAVE stage if planned, SYNC(2), DONE.
    fn guest(plan: Option<&XsavePlan>) -> Result<Payload> {
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
            dynasm!(g.ops() ; .arch x64 ; mov rax, QWORD BUFFER as i64);
            g.ops().extend([0xc5, 0xfa, 0x6f, 0x00]); // vmovdqu xmm0, [rax]
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
        g.done();
        g.finish()
    }

    fn builder(payload: &Payload) -> VmBuilder {
        // The in-kernel irqchip of every selftests VM (MSR_KVM_ASYNC_PF_INT needs it).
        Vm::builder().payload(payload.clone()).mem_size(MEM_SIZE).irqchip(true)
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
        Ok(XsavePlan { supported_xcr0, mpx, pku })
    }

    /// main()'s loop: at each SYNC(stage) save the state, rebuild the VM
    /// from its memory and that state, exercise KVM_SET_XSAVE on a second
    /// vCPU, and check the registers came across.
    fn save_restore_each_stage(plan: Option<&XsavePlan>) -> Result<()> {
        let payload = guest(plan)?;
        let build = || -> Result<Vm> {
            let vm = builder(&payload).build()?;
            vm.mem()
                .write_slice(&[0xcc; 4096], GuestAddress(BUFFER))
                .map_err(|e| Error::Memory(format!("the 0xcc buffer: {e}")))?;
            let bounds = [10u64, 0xffff_ffff];
            for (i, b) in bounds.iter().enumerate() {
                vm.mem()
                    .write_obj(*b, GuestAddress(BOUNDS + 8 * i as u64))
                    .map_err(|e| Error::Memory(format!("the MPX bounds: {e}")))?;
            }
            Ok(vm)
        };
        let supported_xcr0 = supported_xcr0()?;
        let mut vm = build()?;
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
        ensure!(stages == 2, "the guest reached DONE after {stages} stages, expected 2");
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
        save_restore_each_stage(None)
    }

    fn xsave() -> Result<()> {
        let plan = xsave_plan()?;
        save_restore_each_stage(Some(&plan))
    }

    /// The save/load API itself: state saved, loaded into the same vCPU and
    /// saved again is the same (MSRs compared by index, TSC excepted: it runs).
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
        const MSR_IA32_TSC: u32 = 0x10;
        for (a, b) in first.msrs.iter().zip(&second.msrs) {
            ensure!(a.index == b.index, "MSR order: {:#x} then {:#x}", a.index, b.index);
            if a.index != MSR_IA32_TSC {
                ensure!(a.data == b.data, "MSR {:#x}: saved {:#x}, again {:#x}", a.index, a.data, b.data);
            }
        }
        ensure!(
            first.xsave.as_slice() == second.xsave.as_slice()
                && first.xsave.as_fam_struct_ref().xsave.region == second.xsave.as_fam_struct_ref().xsave.region,
            "the XSAVE area changed across KVM_SET_XSAVE/KVM_GET_XSAVE2"
        );
        vm.vcpu(0).expect_done()
    }

    /// Stages 3-13: an L1 hypervisor in the guest (SVM VMRUN or VMX) whose
    /// L2 is migrated mid-run with KVM_GET/SET_NESTED_STATE.
    fn nested() -> Result<()> {
        let backend = kvmtest::backend()?;
        let size = kvmtest::kvm::check_cap_raw(KVM_CAP_NESTED_STATE.into())?;
        if backend.is_pvm() || size == 0 {
            return Err(Error::Skip(format!(
                "requires KVM_CAP_NESTED_STATE (nested virtualization), which this KVM does not offer (backend {backend})"
            )));
        }
        Err(Error::Skip(
            "the nested stages need an L1 SVM/VMX hypervisor guest, which kvmtest's guests do not have yet".into(),
        ))
    }

    pub fn trials() -> Vec<Trial> {
        vec![
            runner::test("state_test::save_load_round_trip", save_load_round_trip),
            runner::test("state_test::stages", base),
            runner::test("state_test::stages_xsave", xsave),
            runner::test("state_test::nested", nested),
        ]
    }
}
