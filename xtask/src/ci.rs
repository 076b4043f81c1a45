//! `cargo xtask ci`: what `.ci/run` runs, in order. Lints first (cheap),
//! then the suite on real KVM in the emulated machines (x86_64 SVM and arm64,
//! Debian 6.1 and 6.12), the kernel-CI bundles (each arch's under
//! run_kselftest.sh in its emulated machine, x86_64's also on this host), a
//! fuzz smoke run, and last the README's test command on this host's
//! /dev/kvm, so the log ends with cargo test's result lines.

use std::process::Command;

use crate::{fuzz, kernel_ci, util, vm_test, Result};

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn step(name: &str, f: impl FnOnce() -> Result) -> Result {
    println!("\n==== ci: {name}");
    let start = std::time::Instant::now();
    let r = f();
    println!("==== ci: {name}: {} in {:.0?}", if r.is_ok() { "ok" } else { "FAILED" }, start.elapsed());
    r.map_err(|e| format!("{name}: {e}"))
}

pub fn ci(rest: &[String]) -> Result {
    if let Some(extra) = rest.first() {
        return Err(format!("ci takes no arguments (got `{extra}`)"));
    }
    step("setup", || util::setup(&args("--vm")))?;
    lint_steps()?;
    // arm64 machines boot KVM in nVHE mode (vm_test/mod.rs says why).
    for (arch, version) in [("x86_64", "6.12"), ("x86_64", "6.1"), ("aarch64", "6.12"), ("aarch64", "6.1")] {
        step(&format!("vm-test {arch} Linux {version}"), || {
            vm_test::vm_test(&args(&format!("--arch {arch} --kernel-version {version}")))
        })?;
    }
    for arch in ["aarch64", "x86_64"] {
        step(&format!("kselftest bundle {arch} in the emulated machine"), || {
            vm_test::vm_test(&args(&format!("--arch {arch} --kernel-version 6.12 --kselftest")))
        })?;
    }
    step("kernel-ci-check (x86_64 bundle, KTAP parser, nextest JUnit)", || kernel_ci::kernel_ci_check(&[]))?;
    step("fuzz smoke (payload ELF loader, ucall decoding)", || fuzz::fuzz(&args("--smoke")))?;
    // Last, and without a closing line of ours: the log ends with cargo
    // test's own result lines.
    println!("\n==== ci: cargo xtask test (this host's /dev/kvm)");
    util::test(&[]).map_err(|e| format!("cargo xtask test: {e}"))
}

/// `cargo xtask lint`: the lint steps of `ci` alone.
pub fn lint(rest: &[String]) -> Result {
    if let Some(extra) = rest.first() {
        return Err(format!("lint takes no arguments (got `{extra}`)"));
    }
    lint_steps()
}

/// rustfmt and clippy (-D warnings) over the host code, for x86_64 and
/// aarch64 (the arch modules are cfg'd by target_arch, so one target alone
/// leaves the other unlinted), and over the guest payloads' own workspace
/// for both guest targets.
fn lint_steps() -> Result {
    let cargo = env!("CARGO");
    let root = util::root();
    step("rustfmt", || util::run(Command::new(cargo).current_dir(&root).args(["fmt", "--all", "--check"])))?;
    step("clippy (host code for x86_64 and aarch64, guest payloads for both)", || {
        for target in [None, Some("aarch64-unknown-linux-musl")] {
            let mut cmd = Command::new(cargo);
            cmd.current_dir(&root).args(["clippy", "--workspace", "--all-targets"]);
            if let Some(t) = target {
                cmd.args(["--target", t]);
            }
            util::run(cmd.args(["--", "-D", "warnings"]))?;
        }
        for arch in ["x86_64", "aarch64"] {
            let target = payload_builder::guest_target(arch)?;
            util::run(payload_builder::guest_cargo(&root.join("guest-payloads")).args([
                "clippy",
                "--release",
                "--locked",
                "--features",
                &format!("kvmtest-payloads/{arch}"),
                "--target",
                target,
                "--target-dir",
                &root.join("target/guest-payloads-clippy").to_string_lossy(),
                "--",
                "-D",
                "warnings",
            ]))?;
        }
        Ok(())
    })?;
    step("rustfmt (guest payloads)", || {
        util::run(payload_builder::guest_cargo(&root.join("guest-payloads")).args(["fmt", "--all", "--check"]))
    })?;
    Ok(())
}
