//! `cargo xtask ci`: what `.ci/run` runs, in order. Lints first (cheap),
//! then the suite on real KVM in the emulated machines (x86_64 SVM and arm64,
//! Debian 6.1 and 6.12), the kernel-CI bundles (each arch's under
//! run_kselftest.sh in its emulated machine, x86_64's also on this host), a
//! fuzz smoke run, mutation testing of the guest-facing lines the last
//! commits changed, and last the README's test command on this host's
//! /dev/kvm, so the log ends with cargo test's result lines.

use crate::util::step;
use crate::vm_test::VmOptions;
use crate::{fuzz, kernel_ci, lint, mutants, setup, test, vm_test, Result};

/// Everything .ci/run checks
///
/// Lints, the suite in the emulated machines, the kernel CI bundles, a fuzz
/// smoke run, then the suite on this host.
#[derive(clap::Args, Debug, Default)]
pub struct Args {}

pub fn ci(_: &Args) -> Result {
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
        })
    };
    // arm64 machines boot KVM in nVHE mode (vm_test/arch.rs says why).
    for (arch, version) in [("x86_64", "6.12"), ("x86_64", "6.1"), ("aarch64", "6.12"), ("aarch64", "6.1")] {
        step(&format!("vm-test {arch} Linux {version}"), || vm_test(arch, version, false))?;
    }
    for arch in ["aarch64", "x86_64"] {
        step(&format!("kselftest bundle {arch} in the emulated machine"), || vm_test(arch, "6.12", true))?;
    }
    step("kernel-ci-check (x86_64 bundle, KTAP parser, nextest JUnit)", || {
        kernel_ci::kernel_ci_check(&kernel_ci::KernelCiCheckArgs {})
    })?;
    step("fuzz smoke (payload ELF loader, ucall decoding)", || {
        fuzz::fuzz(&fuzz::Args { smoke: true, ..fuzz::Args::default() })
    })?;
    // Only the mutants on lines this branch changed (in a clone of main: the
    // last commit), judged by the unit tests: minutes, not the full run's hour.
    let base = mutants::ci_base();
    step(&format!("mutants of the guest-facing code changed since {base}"), || {
        mutants::mutants(&mutants::Args { in_diff: Some(base.clone()), lib_only: true, ..mutants::Args::default() })
    })?;
    // Last, and without a closing line of ours: the log ends with cargo
    // test's own result lines.
    println!("\n==== ci: cargo xtask test (this host's /dev/kvm)");
    test::test(&test::Args::default()).map_err(|e| format!("cargo xtask test: {e}"))
}
