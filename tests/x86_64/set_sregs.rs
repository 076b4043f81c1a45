//! set_sregs: KVM_SET_SREGS (upstream x86_64/set_sregs_test.c). On a bare
//! vCPU (no KVM_SET_CPUID2) the CR4 bits of the running series' rule are
//! accepted and read back; every CR4 feature bit outside them, CR0 bits
//! 32-63, CR0.NW without CD and CR0.PG without PE are refused with EINVAL and
//! leave the sregs as they were. On a set-up vCPU: IA32_APIC_BASE x2APIC
//! without xAPIC is refused and xAPIC accepted; kvmtest adds every supported
//! CR4 bit with the full CPUID (7.2's test), KVM mirroring OSXSAVE/OSPKE into
//! CPUID, the long-mode EFER/CR0/CR4/CS.L rules of kvm_is_valid_sregs(), and
//! the get/set round trip.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM_SET_SREGS's registers are x86's");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::asm::AsmGuest;
    use kvmtest::bare_vm::BareVm;
    use kvmtest::kvm_bindings::kvm_sregs;
    use kvmtest::series::{BareVcpuCr4, Series};
    use kvmtest::x86_64::cpuid::{Cpuid, CpuidBit};
    use kvmtest::x86_64::sregs::*;
    use kvmtest::{bail, ensure, runner, Error, Result, Vm};
    use libc::EINVAL;
    use libtest_mimic::Trial;

    /// A CR4 bit and the CPUID feature that makes it legal (calc_supported_cr4_feature_bits).
    struct Cr4Feature {
        name: &'static str,
        bit: u64,
        feature: CpuidBit,
    }

    macro_rules! cr4 {
        ($bit:ident, $feature:ident) => {
            Cr4Feature { name: stringify!($bit), bit: $bit, feature: $feature }
        };
    }

    /// The bits upstream checks, in its order (TEST_INVALID_CR_BIT(vcpu, cr4, ...)).
    const CR4_FEATURES: &[Cr4Feature] = &[
        cr4!(X86_CR4_UMIP, X86_FEATURE_UMIP),
        cr4!(X86_CR4_LA57, X86_FEATURE_LA57),
        cr4!(X86_CR4_VMXE, X86_FEATURE_VMX),
        cr4!(X86_CR4_SMXE, X86_FEATURE_SMX),
        cr4!(X86_CR4_FSGSBASE, X86_FEATURE_FSGSBASE),
        cr4!(X86_CR4_PCIDE, X86_FEATURE_PCID),
        cr4!(X86_CR4_OSXSAVE, X86_FEATURE_XSAVE),
        cr4!(X86_CR4_SMEP, X86_FEATURE_SMEP),
        cr4!(X86_CR4_SMAP, X86_FEATURE_SMAP),
        cr4!(X86_CR4_PKE, X86_FEATURE_PKU),
    ];

    /// calc_supported_cr4_feature_bits(): the always-allowed bits plus each
    /// feature bit KVM_GET_SUPPORTED_CPUID has.
    fn supported_cr4() -> Result<u64> {
        let supported = Cpuid::supported()?;
        Ok(CR4_FEATURES.iter().filter(|f| supported.has(f.feature)).fold(KVM_ALWAYS_ALLOWED_CR4, |cr4, f| cr4 | f.bit))
    }

    /// The CR4 bits a bare vCPU takes in the running series.
    fn bare_cr4() -> Result<u64> {
        let series = Series::running()?;
        match series.bare_vcpu_cr4() {
            Some(BareVcpuCr4::HostSupported) => supported_cr4(),
            Some(BareVcpuCr4::AlwaysAllowedOnly) => Ok(KVM_ALWAYS_ALLOWED_CR4),
            None => Err(Error::Skip(format!(
                "the CR4 rule of a vCPU without KVM_SET_CPUID2 is pinned for Linux 6.1-6.12 and 7.2+ \
                 (this kernel is Linux {series})"
            ))),
        }
    }

    /// The CR4 the CR0 checks start from: the series' rule, or where it is
    /// not pinned the bits legal in every series (CR0's rules do not depend on CR4's).
    fn bare_cr4_for_cr0_checks() -> Result<u64> {
        match bare_cr4() {
            Err(Error::Skip(_)) => Ok(KVM_ALWAYS_ALLOWED_CR4),
            other => other,
        }
    }

    /// A VM with a bare vCPU 0 with CR0 = 0 (so CD/NW/PG/PE are clear) and
    /// `cr4` set; returns it and the sregs KVM reads back, which must hold `cr4`.
    fn bare_with_cr4(cr4: u64) -> Result<(BareVm, kvm_sregs)> {
        let vm = BareVm::with_vcpu(&[])?;
        let vcpu = vm.vcpu(0)?;
        let mut sregs = vcpu.sregs()?;
        sregs.cr0 = 0;
        sregs.cr4 |= cr4;
        let cr4 = sregs.cr4;
        if let Err(e) = vcpu.set_sregs(&sregs) {
            bail!("Failed to set supported CR4 bits ({cr4:#x}): {e}");
        }
        let sregs = vcpu.sregs()?;
        ensure!(sregs.cr4 == cr4, "sregs.CR4 ({:#x}) != CR4 ({cr4:#x})", sregs.cr4);
        Ok((vm, sregs))
    }

    /// TEST_INVALID_CR_BIT: `orig` with `edit` applied is refused with EINVAL
    /// and KVM_GET_SREGS still returns `orig`.
    fn expect_refused(
        what: &str,
        orig: &kvm_sregs,
        set: impl Fn(&kvm_sregs) -> Result<()>,
        get: impl Fn() -> Result<kvm_sregs>,
        edit: impl FnOnce(&mut kvm_sregs),
    ) -> Result<()> {
        let mut new = *orig;
        edit(&mut new);
        match set(&new) {
            Err(e) if e.errno() == Some(EINVAL) => {}
            Ok(()) => bail!("KVM allowed invalid {what}: expected EINVAL, got Ok"),
            Err(e) => bail!("KVM_SET_SREGS with invalid {what}: expected EINVAL, got {e}"),
        }
        let now = get()?;
        ensure!(now == *orig, "KVM modified sregs on refusing {what}: before {orig:x?}, after {now:x?}");
        Ok(())
    }

    fn bare_refuses(what: &str, edit: impl FnOnce(&mut kvm_sregs)) -> Result<()> {
        let (vm, orig) = bare_with_cr4(bare_cr4_for_cr0_checks()?)?;
        let vcpu = vm.vcpu(0)?;
        expect_refused(what, &orig, |s| vcpu.set_sregs(s), || vcpu.sregs(), edit)
    }

    fn bare_supported_cr4() -> Result<()> {
        bare_with_cr4(bare_cr4()?).map(drop)
    }

    fn bare_invalid_cr4(f: &Cr4Feature) -> Result<()> {
        let (vm, orig) = bare_with_cr4(bare_cr4()?)?;
        let vcpu = vm.vcpu(0)?;
        // "Skip the sub-test, the feature/bit is supported."
        if orig.cr4 & f.bit != 0 {
            return Err(Error::Skip(format!("{} is legal here: this host has {}", f.name, f.feature)));
        }
        let what = format!("CR4 bit {} ({:#x})", f.name, f.bit);
        expect_refused(&what, &orig, |s| vcpu.set_sregs(s), || vcpu.sregs(), |s| s.cr4 |= f.bit)
    }

    fn bare_cr0_high_bits() -> Result<()> {
        let (vm, orig) = bare_with_cr4(bare_cr4_for_cr0_checks()?)?;
        let vcpu = vm.vcpu(0)?;
        for i in 32..64 {
            let bit = 1u64 << i;
            let what = format!("CR0 bit {i} ({bit:#x})");
            expect_refused(&what, &orig, |s| vcpu.set_sregs(s), || vcpu.sregs(), |s| s.cr0 |= bit)?;
        }
        Ok(())
    }

    /// A set-up VM (KVM_SET_CPUID2 with the supported CPUID, long mode), never run.
    fn vm() -> Result<Vm> {
        let mut g = AsmGuest::new();
        g.done();
        Vm::builder().payload(g.finish()?).build()
    }

    fn apic_base_invalid() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        let mut sregs = vcpu.sregs()?;
        sregs.apic_base = 1 << 10;
        match vcpu.set_sregs(&sregs) {
            Err(e) if e.errno() == Some(EINVAL) => Ok(()),
            other => bail!("Set IA32_APIC_BASE to {:#x} (invalid): expected EINVAL, got {other:?}", sregs.apic_base),
        }
    }

    fn apic_base_valid() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        let mut sregs = vcpu.sregs()?;
        sregs.apic_base = 1 << 11;
        if let Err(e) = vcpu.set_sregs(&sregs) {
            bail!("Couldn't set IA32_APIC_BASE to {:#x} (valid): {e}", sregs.apic_base);
        }
        let got = vcpu.sregs()?.apic_base;
        ensure!(got == sregs.apic_base, "IA32_APIC_BASE: set {:#x}, read back {got:#x}", sregs.apic_base);
        Ok(())
    }

    /// 7.2's test_cr_bits() on the set-up vCPU: every supported CR4 bit is
    /// taken, and KVM mirrors CR4.OSXSAVE and CR4.PKE into the guest CPUID.
    fn full_cpuid_supported_cr4() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        let mut sregs = vcpu.sregs()?;
        sregs.cr0 &= !(X86_CR0_CD | X86_CR0_NW);
        sregs.cr4 |= supported_cr4()?;
        let cr4 = sregs.cr4;
        if let Err(e) = vcpu.set_sregs(&sregs) {
            bail!("Failed to set supported CR4 bits ({cr4:#x}) with the full CPUID: {e}");
        }
        let cpuid = vcpu.cpuid()?;
        for (bit, name, mirror) in
            [(X86_CR4_OSXSAVE, "OSXSAVE", X86_FEATURE_OSXSAVE), (X86_CR4_PKE, "PKE", X86_FEATURE_OSPKE)]
        {
            let set = cr4 & bit != 0;
            ensure!(
                cpuid.has(mirror) == set,
                "CR4.{name} is {}: KVM didn't {} {mirror} in CPUID as expected",
                u8::from(set),
                if set { "set" } else { "clear" }
            );
        }
        let got = vcpu.sregs()?.cr4;
        ensure!(got == cr4, "sregs.CR4 ({got:#x}) != CR4 ({cr4:#x})");
        Ok(())
    }

    /// kvm_is_valid_sregs()'s mode rules, from the long-mode sregs the harness sets.
    struct ModeCase {
        name: &'static str,
        edit: fn(&mut kvm_sregs),
    }

    const MODE_CASES: &[ModeCase] = &[
        // EFER.LME and CR0.PG: 64-bit mode needs CR4.PAE ...
        ModeCase { name: "long_mode_without_cr4_pae", edit: |s| s.cr4 &= !X86_CR4_PAE },
        // ... and EFER.LMA.
        ModeCase { name: "long_mode_without_efer_lma", edit: |s| s.efer &= !EFER_LMA },
        // Paging off: EFER.LMA must be clear ...
        ModeCase { name: "efer_lma_without_paging", edit: |s| s.cr0 &= !X86_CR0_PG },
        // ... and the code segment cannot be 64-bit.
        ModeCase {
            name: "cs_l_without_long_mode",
            edit: |s| {
                s.cr0 &= !X86_CR0_PG;
                s.efer &= !EFER_LMA;
            },
        },
    ];

    fn mode_refused(case: &ModeCase) -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        let orig = vcpu.sregs()?;
        ensure!(
            orig.efer & (EFER_LME | EFER_LMA) == EFER_LME | EFER_LMA && orig.cr0 & X86_CR0_PG != 0 && orig.cs.l == 1,
            "the harness's vCPU is not in 64-bit mode: {orig:x?}"
        );
        expect_refused(case.name, &orig, |s| vcpu.set_sregs(s), || vcpu.sregs(), case.edit)
    }

    /// KVM_GET_SREGS, KVM_SET_SREGS of the same, KVM_GET_SREGS: nothing changes.
    fn round_trip() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        let before = vcpu.sregs()?;
        vcpu.set_sregs(&before)?;
        let after = vcpu.sregs()?;
        ensure!(after == before, "KVM_SET_SREGS of KVM_GET_SREGS changed them: before {before:x?}, after {after:x?}");
        Ok(())
    }

    pub fn trials() -> Vec<Trial> {
        let mut t = vec![runner::test("set_sregs::bare::supported_cr4", bare_supported_cr4)];
        t.extend(
            CR4_FEATURES.iter().map(|f| {
                runner::test(format!("set_sregs::bare::invalid_cr4::{}", f.name), move || bare_invalid_cr4(f))
            }),
        );
        t.push(runner::test("set_sregs::bare::invalid_cr0::bits_32_63", bare_cr0_high_bits));
        t.push(runner::test("set_sregs::bare::invalid_cr0::nw_without_cd", || {
            bare_refuses("CR0.NW without CD", |s| s.cr0 |= X86_CR0_NW)
        }));
        t.push(runner::test("set_sregs::bare::invalid_cr0::pg_without_pe", || {
            bare_refuses("CR0.PG without PE", |s| s.cr0 |= X86_CR0_PG)
        }));
        t.push(runner::test("set_sregs::apic_base::x2apic_without_xapic_refused", apic_base_invalid));
        t.push(runner::test("set_sregs::apic_base::xapic_accepted", apic_base_valid));
        t.push(runner::test("set_sregs::full_cpuid::supported_cr4", full_cpuid_supported_cr4));
        t.extend(
            MODE_CASES.iter().map(|c| runner::test(format!("set_sregs::mode::{}", c.name), move || mode_refused(c))),
        );
        t.push(runner::test("set_sregs::round_trip", round_trip));
        t
    }
}
