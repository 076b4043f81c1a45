//! cpuid: the KVM CPUID ioctls (upstream x86_64/cpuid_test.c). The vCPU's
//! CPUID is KVM_GET_SUPPORTED_CPUID's (modulo the XCR0/XSS-dependent leaf
//! 0xd.0/0xd.1); the guest's CPUID instruction returns exactly what
//! KVM_SET_CPUID2 set, and KVM's signature leaf says 0x40000001; after
//! KVM_RUN, KVM_SET_CPUID2 takes the identical table and refuses changed
//! features or MAXPHYADDR; KVM_GET_CPUID2 reports its size in nent on
//! success and leaves nent alone on E2BIG (per series).

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "CPUID is x86's");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::abi::cpuid_test::{
        CpuidRow, CPUID_ROW_SIZE, STAGE_COMPARED, STAGE_START, TABLE_ADDR_ARG, TABLE_LEN_ARG,
    };
    use kvmtest::asm::AsmGuest;
    use kvmtest::kvm_bindings::kvm_cpuid_entry2;
    use kvmtest::series::{
        Series, X86_GET_CPUID2_NENT_ON_SUCCESS, X86_GET_CPUID2_NENT_SOURCE, X86_SET_CPUID_AFTER_RUN_IDENTICAL,
        X86_SET_CPUID_AFTER_RUN_SOURCE,
    };
    use kvmtest::vm_memory::{Bytes, GuestAddress};
    use kvmtest::x86_64::cpuid::{Cpuid, Reg};
    use kvmtest::{bail, ensure, runner, Error, Payload, Result, Vm};
    use kvmtest_tests::payloads::CPUID_TEST;
    use libc::{E2BIG, EINVAL};
    use libtest_mimic::Trial;

    /// CPUIDs known to differ: they depend on the vCPU's XCR0 register and
    /// IA32_XSS MSR, which are not controlled for by this test.
    const MANGLED_CPUIDS: &[(u32, u32)] = &[(0xd, 0), (0xd, 1)];

    fn is_cpuid_mangled(e: &kvm_cpuid_entry2) -> bool {
        MANGLED_CPUIDS.contains(&(e.function, e.index))
    }

    /// compare_cpuids(): same entries in the same order with the same flags,
    /// and the same registers but for the mangled leaves.
    fn compare_cpuids(cpuid1: &Cpuid, cpuid2: &Cpuid) -> Result<()> {
        let (c1, c2) = (cpuid1.entries(), cpuid2.entries());
        ensure!(c1.len() == c2.len(), "CPUID nent mismatch: {} vs. {}", c1.len(), c2.len());
        for (i, (e1, e2)) in c1.iter().zip(c2).enumerate() {
            ensure!(
                e1.function == e2.function && e1.index == e2.index && e1.flags == e2.flags,
                "CPUID entries[{i}] mismatch: {:#x}.{}.{:x} vs. {:#x}.{}.{:x}",
                e1.function,
                e1.index,
                e1.flags,
                e2.function,
                e2.index,
                e2.flags
            );
            if is_cpuid_mangled(e1) {
                continue;
            }
            ensure!(
                (e1.eax, e1.ebx, e1.ecx, e1.edx) == (e2.eax, e2.ebx, e2.ecx, e2.edx),
                "CPUID {:#x}.{:x} differ: {:#x}:{:#x}:{:#x}:{:#x} vs {:#x}:{:#x}:{:#x}:{:#x}",
                e1.function,
                e1.index,
                e1.eax,
                e1.ebx,
                e1.ecx,
                e1.edx,
                e2.eax,
                e2.ebx,
                e2.ecx,
                e2.edx
            );
        }
        Ok(())
    }

    /// A VM running the cpuid_test guest, never run yet.
    fn vm() -> Result<Vm> {
        Vm::builder().payload(Payload::elf(CPUID_TEST)).build()
    }

    /// vcpu_alloc_cpuid() + vcpu_args_set(): the vCPU's table in guest memory.
    fn load_table(vm: &mut Vm, cpuid: &Cpuid) -> Result<()> {
        let rows: Vec<CpuidRow> = cpuid
            .entries()
            .iter()
            .map(|e| CpuidRow { function: e.function, index: e.index, regs: [e.eax, e.ebx, e.ecx, e.edx] })
            .collect();
        let table = vm.shared_alloc((rows.len().max(1) * CPUID_ROW_SIZE) as u64)?;
        let mem_err = |e: kvmtest::vm_memory::GuestMemoryError| Error::Memory(format!("writing the CPUID table: {e}"));
        for (i, row) in rows.iter().enumerate() {
            let words = [row.function, row.index, row.regs[0], row.regs[1], row.regs[2], row.regs[3]];
            for (j, w) in words.iter().enumerate() {
                let at = table + (i * CPUID_ROW_SIZE + 4 * j) as u64;
                vm.mem().write_obj(*w, GuestAddress(at)).map_err(mem_err)?;
            }
        }
        vm.set_arg(TABLE_ADDR_ARG, table)?;
        vm.set_arg(TABLE_LEN_ARG, rows.len() as u64)
    }

    /// What the guest-visible checks need: a KVM that intercepts CPUID. PVM
    /// does not; it shows the guest the host CPU's CPUID, and KVM_GET_CPUID2
    /// there returns the host's bits (e.g. leaf 1 ECX.OSXSAVE), not KVM_SET_CPUID2's.
    fn require_cpuid_interception() -> Result<()> {
        let backend = kvmtest::backend()?;
        if backend.is_pvm() {
            return Err(Error::Skip(format!(
                "PVM does not intercept CPUID: the guest sees the host CPU's, not KVM_SET_CPUID2's (backend {backend})"
            )));
        }
        Ok(())
    }

    /// main()'s compare_cpuids(kvm_get_supported_cpuid(), vcpu->cpuid).
    fn vcpu_has_supported() -> Result<()> {
        require_cpuid_interception()?;
        let mut vm = vm()?;
        compare_cpuids(&Cpuid::supported_as_given()?, &vm.vcpu(0).cpuid()?)
    }

    /// The three stages of run_vcpu(): SYNC(1), every row compared by the
    /// guest, SYNC(2), KVM_CPUID_SIGNATURE.EAX checked, DONE.
    fn guest_sees_set_cpuid() -> Result<()> {
        require_cpuid_interception()?;
        let mut vm = vm()?;
        let cpuid = vm.vcpu(0).cpuid()?;
        load_table(&mut vm, &cpuid)?;
        let vcpu = vm.vcpu(0);
        vcpu.expect_sync(STAGE_START)?;
        vcpu.expect_sync(STAGE_COMPARED)?;
        vcpu.expect_done()
    }

    /// set_cpuid_after_run() on a vCPU that has run (a guest that says DONE).
    fn set_cpuid_after_run() -> Result<()> {
        let series = Series::running()?;
        if !series.at_least(X86_SET_CPUID_AFTER_RUN_IDENTICAL) {
            return Err(Error::Skip(format!(
                "KVM_SET_CPUID2 of the identical table after KVM_RUN, Linux {X86_SET_CPUID_AFTER_RUN_IDENTICAL}+ \
                 (this kernel is Linux {series})"
            )));
        }
        let mut g = AsmGuest::new();
        g.done();
        let mut vm = Vm::builder().payload(g.finish()?).build()?;
        let vcpu = vm.vcpu(0);
        vcpu.expect_done()?;
        let cpuid = vcpu.cpuid()?;

        // Setting unmodified CPUID is allowed.
        if let Err(e) = vcpu.set_cpuid(&cpuid) {
            bail!("Setting unmodified CPUID after KVM_RUN failed: {e} ({X86_SET_CPUID_AFTER_RUN_SOURCE})");
        }

        let refused = |what: &str, leaf: u32, reg: Reg, edit: fn(u32) -> u32| -> Result<()> {
            let Some(e) = cpuid.entry(leaf, 0) else { bail!("the vCPU's CPUID has no leaf {leaf:#x}") };
            let old = match reg {
                Reg::Eax => e.eax,
                Reg::Ebx => e.ebx,
                Reg::Ecx => e.ecx,
                Reg::Edx => e.edx,
            };
            let mut changed = cpuid.clone();
            changed.set_reg(leaf, 0, reg, edit(old))?;
            match vcpu.set_cpuid(&changed) {
                Err(e) if e.errno() == Some(EINVAL) => {}
                Ok(()) => bail!("{what} should fail: expected EINVAL, got Ok ({X86_SET_CPUID_AFTER_RUN_SOURCE})"),
                Err(e) => bail!("{what} should fail: expected EINVAL, got {e}"),
            }
            // kvmtest adds: the refused table changed nothing.
            let now = vcpu.cpuid()?;
            ensure!(now == cpuid, "a refused KVM_SET_CPUID2 after KVM_RUN ({what}) changed the vCPU's CPUID");
            Ok(())
        };
        // Changing CPU features is forbidden.
        refused("Changing CPU features (leaf 0x7 EBX - 1)", 0x7, Reg::Ebx, |ebx| ebx.wrapping_sub(1))?;
        // Changing MAXPHYADDR is forbidden.
        refused("Changing MAXPHYADDR (leaf 0x80000008 EAX[7:0] - 1)", 0x8000_0008, Reg::Eax, |eax| {
            (eax & !0xff) | ((eax & 0xff).wrapping_sub(1) & 0xff)
        })
    }

    /// test_get_cpuid2(): a buffer of nent + 1 entries succeeds and (per
    /// series) reports nent; every smaller nent is E2BIG with nent untouched.
    fn get_cpuid2_nent() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        let nent = vcpu.cpuid()?.entries().len() as u32;
        let capacity = nent as usize + 1;
        let got = vcpu.get_cpuid2_nent(capacity, nent + 1)?;
        ensure!(
            got.errno.is_none(),
            "KVM_GET_CPUID2 with room for {} entries: expected Ok, got errno {:?}",
            nent + 1,
            got.errno
        );
        let series = Series::running()?;
        if series.at_least(X86_GET_CPUID2_NENT_ON_SUCCESS) {
            ensure!(got.nent == nent, "KVM didn't update nent on success, wanted {nent}, got {}", got.nent);
        } else {
            // Linux 6.1: nent stays what the caller passed ({X86_GET_CPUID2_NENT_SOURCE}).
            ensure!(
                got.nent == nent + 1,
                "KVM_GET_CPUID2 on Linux {series} (before {X86_GET_CPUID2_NENT_ON_SUCCESS}) leaves nent on success: \
                 expected {}, got {} ({X86_GET_CPUID2_NENT_SOURCE})",
                nent + 1,
                got.nent
            );
        }
        for i in 0..nent {
            let got = vcpu.get_cpuid2_nent(capacity, i)?;
            ensure!(
                got.errno == Some(E2BIG),
                "KVM_GET_CPUID2 with nent {i} of {nent}: expected E2BIG, got errno {:?}",
                got.errno
            );
            ensure!(got.nent == i, "KVM modified nent on failure: set {i}, got {}", got.nent);
        }
        Ok(())
    }

    pub fn trials() -> Vec<Trial> {
        vec![
            runner::test("cpuid::vcpu_has_supported_cpuid", vcpu_has_supported),
            runner::test("cpuid::guest_sees_set_cpuid", guest_sees_set_cpuid),
            runner::test("cpuid::set_cpuid_after_run", set_cpuid_after_run),
            runner::test("cpuid::get_cpuid2_nent", get_cpuid2_nent),
        ]
    }
}
