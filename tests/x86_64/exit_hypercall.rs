//! exit_hypercall: KVM_CAP_EXIT_HYPERCALL (api.rst 8.34, hypercalls.rst
//! KVM_HC_MAP_GPA_RANGE). With the capability enabled for
//! KVM_HC_MAP_GPA_RANGE the guest's call reaches the VMM as
//! KVM_EXIT_HYPERCALL with its number and arguments, and the VMM's return
//! value reaches the guest; without it the call returns -KVM_ENOSYS.
//!
//! What the kernel needs: any VM type; only the capability. KVM does not
//! check KVM_FEATURE_HC_MAP_GPA_RANGE in the guest's CPUID: advertising it
//! is the VMM's promise, made here after enabling the capability as the
//! implementation note in hypercalls.rst asks.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM_CAP_EXIT_HYPERCALL is an x86 capability");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::kvm_bindings::KVM_CAP_EXIT_HYPERCALL;
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::x86_64::kvm_para::{
        self, neg, KVM_ENOSYS, KVM_EXIT_HYPERCALL_LONG_MODE, KVM_EXIT_HYPERCALL_VALID_MASK, KVM_HC_MAP_GPA_RANGE,
        KVM_MAP_GPA_RANGE_ENCRYPTED,
    };
    use kvmtest::x86_64::probe::{self, Probe};
    use kvmtest::{bail, ensure, kvm_feature, runner, ExitAction, Result, Vm};
    use kvmtest_tests::payloads::HYPERCALL_PROBE;
    use libtest_mimic::Trial;

    const GPA: u64 = 0x30_0000;
    const NPAGES: u64 = 2;
    /// Distinct values the VMM answers with, so the guest's RAX proves which came back.
    const VMM_RETURNS: [u64; 2] = [0, 0x5eed_0001];

    /// The calls each case makes, as rows: name, arguments, what the guest should get.
    struct Case {
        name: &'static str,
        args: [u64; 4],
        /// Whether KVM forwards it to the VMM (else KVM answers itself).
        exits: bool,
        /// RAX the guest gets when KVM answers itself.
        kvm_answer: u64,
    }

    const CASES: &[Case] = &[
        Case { name: "map_gpa_range", args: [GPA, NPAGES, KVM_MAP_GPA_RANGE_ENCRYPTED, 0], exits: true, kvm_answer: 0 },
        // KVM checks the range before exiting (x86.c): -KVM_EINVAL, no exit.
        Case { name: "unaligned_gpa", args: [GPA + 8, 1, 0, 0], exits: false, kvm_answer: neg(kvm_para::KVM_EINVAL) },
        Case { name: "zero_pages", args: [GPA, 0, 0, 0], exits: false, kvm_answer: neg(kvm_para::KVM_EINVAL) },
    ];

    fn require() -> Result<u64> {
        let mask = kvmtest::require_cap_raw("KVM_CAP_EXIT_HYPERCALL", KVM_CAP_EXIT_HYPERCALL.into())? as u64;
        if mask & KVM_EXIT_HYPERCALL_VALID_MASK == 0 {
            return Err(kvmtest::kvm::skip_missing("KVM_CAP_EXIT_HYPERCALL with bit KVM_HC_MAP_GPA_RANGE"));
        }
        Ok(mask)
    }

    fn vm(enable: bool) -> Result<Vm> {
        let mut vm = probe::vm_builder(HYPERCALL_PROBE).build()?;
        if enable {
            vm.enable_cap(KVM_CAP_EXIT_HYPERCALL, &[KVM_EXIT_HYPERCALL_VALID_MASK])?;
            vm.vcpu(0).update_cpuid(|c| c.set(kvm_feature!(KVM_FEATURE_HC_MAP_GPA_RANGE), true))?;
        }
        Ok(vm)
    }

    /// Enabled: each call reaches the VMM with nr and args, and RAX is the VMM's answer.
    fn enabled(case: &Case) -> Result<()> {
        require()?;
        let mut vm = vm(true)?;
        for answer in VMM_RETURNS {
            let mut exits = Vec::new();
            let got =
                probe::run_probe_with(&mut vm, &Probe::hcall(KVM_HC_MAP_GPA_RANGE, case.args), |exit| match exit {
                    VcpuExit::Hypercall(h) => {
                        exits.push((h.nr, h.args, h.longmode));
                        *h.ret = answer;
                        ExitAction::Resume
                    }
                    _ => ExitAction::Unhandled,
                })?;
            let ret = got.hcall_ret(case.name)?;
            if !case.exits {
                ensure!(exits.is_empty(), "{}: KVM should answer itself, but the VMM saw {exits:x?}", case.name);
                ensure!(
                    ret == case.kvm_answer,
                    "{}: expected {:#x} from KVM, got {ret:#x}",
                    case.name,
                    case.kvm_answer
                );
                break;
            }
            let [(nr, args, flags)] = exits[..] else {
                bail!("{}: expected one KVM_EXIT_HYPERCALL, the VMM saw {exits:x?}", case.name)
            };
            ensure!(nr == KVM_HC_MAP_GPA_RANGE, "{}: exit nr: expected {KVM_HC_MAP_GPA_RANGE}, got {nr}", case.name);
            ensure!(
                args[..3] == case.args[..3],
                "{}: exit args: expected {:#x?}, got {:#x?}",
                case.name,
                &case.args[..3],
                &args[..3]
            );
            ensure!(
                u64::from(flags) & KVM_EXIT_HYPERCALL_LONG_MODE != 0,
                "{}: exit flags {flags:#x} lack KVM_EXIT_HYPERCALL_LONG_MODE for a 64-bit guest",
                case.name
            );
            ensure!(ret == answer, "{}: the VMM returned {answer:#x}, the guest got {ret:#x}", case.name);
        }
        probe::finish(&mut vm)
    }

    /// Not enabled: KVM answers -KVM_ENOSYS and never exits.
    fn disabled() -> Result<()> {
        let mut vm = vm(false)?;
        let got = probe::run_probe(&mut vm, &Probe::hcall(KVM_HC_MAP_GPA_RANGE, CASES[0].args))?;
        let ret = got.hcall_ret("MAP_GPA_RANGE without KVM_CAP_EXIT_HYPERCALL")?;
        ensure!(
            ret == neg(KVM_ENOSYS),
            "MAP_GPA_RANGE without KVM_CAP_EXIT_HYPERCALL: expected -KVM_ENOSYS, got {ret:#x}"
        );
        probe::finish(&mut vm)
    }

    /// KVM_ENABLE_CAP takes a subset of KVM_CHECK_EXTENSION's mask; more is EINVAL.
    fn mask_is_checked() -> Result<()> {
        let mask = require()?;
        let vm = probe::vm_builder(HYPERCALL_PROBE).build()?;
        let bogus = (1u64 << 63) & !mask;
        match vm.enable_cap(KVM_CAP_EXIT_HYPERCALL, &[mask | bogus]) {
            Err(e) if e.errno() == Some(EINVAL) => Ok(()),
            other => {
                bail!("KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL, {:#x}): expected EINVAL, got {other:?}", mask | bogus)
            }
        }
    }

    /// errno of an argument KVM refuses.
    use libc::EINVAL;

    pub fn trials() -> Vec<Trial> {
        let mut table = String::from("exit_hypercall: KVM_HC_MAP_GPA_RANGE calls (a0 gpa, a1 npages, a2 attrs)\n");
        for c in CASES {
            let who = if c.exits { "the VMM (KVM_EXIT_HYPERCALL)".into() } else { format!("KVM: {:#x}", c.kvm_answer) };
            table += &format!("  {:<16} {:x?} -> answered by {who}\n", c.name, c.args);
        }
        runner::announce(table);
        let mut t: Vec<Trial> = CASES
            .iter()
            .enumerate()
            .map(|(i, c)| runner::test(format!("exit_hypercall::enabled::{}", c.name), move || enabled(&CASES[i])))
            .collect();
        t.push(runner::test("exit_hypercall::disabled::map_gpa_range", disabled));
        t.push(runner::test("exit_hypercall::enable_cap_rejects_unknown_bits", mask_is_checked));
        t
    }
}
