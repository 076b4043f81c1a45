//! `cargo xtask ci`: what `.ci/run` runs, in order. Lints first (cheap),
//! then the suite on real KVM in the emulated machines (x86_64 SVM and arm64,
//! Debian 6.1, 6.12 and the newest series of Debian's archive), a quick
//! bench in the emulated SVM machine, the default matrix of KVM module
//! parameters and modes (vm-test --config default), the
//! kernel-CI bundles (each arch's under
//! run_kselftest.sh in its emulated machine, x86_64's also on this host), the
//! suite with /dev/kvm hidden and as an unprivileged user (all skips), a
//! fuzz smoke run, mutation testing of the guest-facing lines the last
//! commits changed, and last the README's test command on this host's
//! /dev/kvm. After lint a failed step does not stop the others; the log
//! ends with every failed step and every failed trial by name, with its log.

use crate::util::step;
use crate::vm_test::VmOptions;
use crate::{bench, fuzz, kernel_ci, lint, mutants, results, setup, test, vm_test, Result};

/// Everything .ci/run checks
///
/// Lints, the suite in the emulated machines, a quick bench in the emulated
/// SVM machine, the kernel CI bundles, a fuzz smoke run, then the suite on
/// this host.
#[derive(clap::Args, Debug, Default)]
pub struct Args {}

pub fn ci(_: &Args) -> Result {
    // Setup and lint first and alone: nothing after them means much if they fail.
    step("setup", || setup::setup(&setup::Args { vm: true }))?;
    lint::lint(&lint::Args {})?;
    let vm_test = |arch: &str, version: &str, kselftest: bool| {
        vm_test::vm_test(&vm_test::Args {
            vm: VmOptions {
                arch: Some(arch.to_string()),
                kernel_version: Some(version.to_string()),
                kselftest,
                ..VmOptions::default()
            },
            test_args: Vec::new(),
            config: None,
            label: None,
        })
    };
    // From here every step runs, whatever the one before it did, and the
    // log ends with every failure at once.
    let mut failed: Vec<String> = Vec::new();
    let mut keep_going = |r: Result| {
        if let Err(e) = r {
            failed.push(e);
        }
    };
    // arm64 machines boot KVM in nVHE mode (vm_test/arch.rs says why).
    // Three series per arch: the two long-term ones and the newest Debian's
    // archive carries (vm_test/archive.rs), so a change in KVM's behaviour
    // on new kernels shows up as a red run with the trial named.
    for (arch, version) in [
        ("x86_64", "6.12"),
        ("x86_64", "6.1"),
        ("x86_64", "latest"),
        ("aarch64", "6.12"),
        ("aarch64", "6.1"),
        ("aarch64", "latest"),
    ] {
        keep_going(step(&format!("vm-test {arch} Linux {version}"), || vm_test(arch, version, false)));
    }
    // The bench on real x86 KVM, beside upstream's peer where it builds: a
    // quick run proves it runs there and its sanity checks hold (every exit
    // counted, every message right); its ratios, taken on a loaded CI
    // machine in a few rounds, are printed, not judged (`--report-only`):
    // targets are judged on full runs (README, Benchmarks).
    keep_going(step("bench --arch x86_64 --quick --report-only (the emulated SVM machine)", || {
        bench::bench(&bench::Args {
            quick: true,
            report_only: true,
            vm: VmOptions { arch: Some("x86_64".into()), ..VmOptions::default() },
        })
    }));
    // Beyond the default settings: the configurations of
    // xtask/vm-configs.toml's `default` matrix (module parameters, KVM modes),
    // one boot each, with the configuration x binary table.
    keep_going(step("vm-test --config default (KVM module parameters and modes)", || {
        vm_test::vm_test(&vm_test::Args {
            vm: VmOptions::default(),
            test_args: Vec::new(),
            config: Some("default".into()),
            label: None,
        })
    }));
    for arch in ["aarch64", "x86_64"] {
        keep_going(step(&format!("kselftest bundle {arch} in the emulated machine"), || vm_test(arch, "6.12", true)));
    }
    keep_going(step("kernel-ci-check (x86_64 bundle, KTAP parser, nextest JUnit)", || {
        kernel_ci::kernel_ci_check(&kernel_ci::KernelCiCheckArgs {})
    }));
    for how in [test::WithoutKvm::Hidden, test::WithoutKvm::Unprivileged] {
        keep_going(step(&format!("the suite without KVM ({how:?}): every trial skips or passes, none fails"), || {
            test::test(&test::Args { without_kvm: Some(how), ..test::Args::default() })
        }));
    }
    keep_going(step("fuzz smoke (payload ELF loader, ucall decoding)", || {
        fuzz::fuzz(&fuzz::Args { smoke: true, ..fuzz::Args::default() })
    }));
    // Only the mutants on lines this branch changed (in a clone of main: the
    // last commit), judged by the unit tests: minutes, not the full run's hour.
    let base = mutants::ci_base();
    keep_going(step(&format!("mutants of the guest-facing code changed since {base}"), || {
        mutants::mutants(&mutants::Args { in_diff: Some(base.clone()), lib_only: true, ..mutants::Args::default() })
    }));
    keep_going(step("cargo xtask test (this host's /dev/kvm)", || test::test(&test::Args::default())));
    // The closing summary: every failed step, then every failed trial of
    // the runs kept in target/kvmtest-results/ and where its log is.
    println!("\n==== ci: summary");
    for (dir, trials) in results::kept_failures() {
        for (name, log) in trials {
            println!("ci: FAILED {name}  (log: {}; run {})", log.display(), dir.display());
            // The failure's own words, so a CI log cut to its tail still says why.
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            for line in crate::libtest_output::failure_excerpt(&text, &name, 12) {
                println!("ci:     {line}");
            }
        }
    }
    // The plain closing line: the README's test command on this host.
    let last_line = || {
        if let Some((p, f, s)) = *test::LAST_TRIAL_COUNTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
            println!("ci: {p} passed, {f} failed, {s} skipped");
        }
    };
    if failed.is_empty() {
        println!("ci: every step passed");
        last_line();
        return Ok(());
    }
    for e in &failed {
        println!("ci: FAILED step: {e}");
    }
    last_line();
    Err(format!("{} step(s) failed: {}", failed.len(), failed.join("; ")))
}
