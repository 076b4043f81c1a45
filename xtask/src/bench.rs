//! `cargo xtask bench`: builds the test suite (to time it), then runs the
//! benchmark target `bench/benches/kvmtest.rs` in the bench profile with the
//! suite's binaries as arguments, and `--quick` if given.
//!
//! `--arch ARCH` (either arch, the host's too): the bench target is built
//! for ARCH's musl target and run in the emulated machine of `vm-run` (real
//! KVM of a Debian kernel under qemu TCG: kvm_amd for x86_64, arm64 KVM at
//! EL2 for aarch64), without the suite row (no cargo there). `--kernel-version`, `--kernel`, `--modules`, `--append` and
//! `--timeout` go to vm-run.
//!
//! Before the bench target is built, the upstream peer program
//! (bench/upstream/, see [`upstream`]) is built for the arch and handed to
//! the bench's build script, which embeds it; when it cannot be built, the
//! reason goes there instead and the peer rows are skipped with it.
//!
//! With `--arch`, the scenario row's pair is built too (see
//! [`upstream::scenario_peer`]: kvmtest's `pv_features` and upstream's
//! kvm_pv_test on x86_64, `psci` and psci_test on aarch64), the kvmtest
//! binary for the musl target and stripped, and both are embedded the same
//! way; on this host the row is skipped with the reason.

mod upstream;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::util::{cargo_executables, host_arch, root, run};
use crate::vm_test::VmOptions;
use crate::Result;

/// Harness vs raw KVM (a table; fails on a missed target)
///
/// Exit round trips, cold start, memory, suite time.
/// With --arch: in the emulated machine of vm-run, no suite row.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Fewer rounds, for a smoke run
    #[arg(long)]
    pub quick: bool,
    /// Print the ratios and targets but fail only on a sanity check (wrong
    /// exits, lost messages, a red suite), not on a missed target: for a
    /// quick run on a loaded machine, which is no measurement
    #[arg(long)]
    pub report_only: bool,
    /// The emulated machine (vm-run's options): with --arch, the bench runs
    /// there (either arch, the host's too) instead of on this host
    #[command(flatten)]
    pub vm: VmOptions,
}

/// The test executables `cargo test --workspace` runs, built in its profile.
fn suite_binaries() -> Result<Vec<PathBuf>> {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err("building the test suite failed".into());
    }
    let bins = suite_executables(&String::from_utf8_lossy(&out.stdout))?;
    if bins.is_empty() {
        return Err("cargo test --no-run listed no test executable".into());
    }
    Ok(bins)
}

/// The executables of `cargo test --no-run`'s JSON that are tests: built
/// with the test harness (profile.test), or test targets without it
/// (`harness = false`: kind `test`, profile.test false). Not a binary
/// target built for the tests beside it (xtask's own `target/debug/xtask`,
/// whose target has `test: true` but which prints no libtest summary).
fn suite_executables(json_lines: &str) -> Result<Vec<PathBuf>> {
    let bins = cargo_executables(json_lines, |a| a.profile_test || a.kind() == "test")?;
    Ok(bins.into_iter().map(|a| a.executable).collect())
}

pub fn bench(args: &Args) -> Result {
    let mut bench_args: Vec<String> = Vec::new();
    if args.quick {
        bench_args.push("--quick".into());
    }
    if args.report_only {
        bench_args.push("--report-only".into());
    }
    if let Some(arch) = args.vm.arch.as_deref() {
        if args.vm.smoke || args.vm.kselftest {
            return Err("bench --arch: --smoke and --kselftest are vm-test's, not the bench's".into());
        }
        return bench_in_vm(arch, &args.vm, bench_args);
    }
    let vm = VmOptions { arch: None, ..args.vm.clone() };
    if vm.kernel_version.is_some()
        || vm.kernel.is_some()
        || vm.modules.is_some()
        || !vm.append.is_empty()
        || vm.kvm_mode.is_some()
    {
        return Err(
            "--kernel-version, --kernel, --modules, --append and --kvm-mode: only with an emulated machine (--arch ARCH)"
                .into(),
        );
    }
    let bins = suite_binaries()?;
    let mut cmd = Command::new(env!("CARGO"));
    with_upstream(&mut cmd, host_arch());
    cmd.env_remove(SCENARIO_ENV).env_remove(SCENARIO_UPSTREAM_ENV).env(
        SCENARIO_SKIP_ENV,
        "run in the emulated machines (--arch): on this host the suite row times every binary, and a backend \
         whose hypercalls never complete (PVM) would hang upstream's programs",
    );
    cmd.current_dir(root()).args(["bench", "--quiet", "-p", "kvmtest-bench", "--bench", "kvmtest", "--"]);
    cmd.args(&bench_args).arg("--suite").args(&bins);
    run(&mut cmd)
}

/// Builds the upstream peer program for `arch` and points the bench's build
/// script at it, or at the reason it could not be built.
fn with_upstream(cmd: &mut Command, arch: &str) {
    cmd.env_remove("KVMTEST_BENCH_UPSTREAM").env_remove("KVMTEST_BENCH_UPSTREAM_SKIP");
    match upstream::build(arch) {
        Ok(program) => cmd.env("KVMTEST_BENCH_UPSTREAM", program),
        Err(why) => {
            eprintln!("bench: the upstream peer rows will be skipped: {why}");
            cmd.env("KVMTEST_BENCH_UPSTREAM_SKIP", why)
        }
    };
}

/// The scenario row's kvmtest binary, its upstream peer program, or why the
/// row is skipped (the bench's build script reads them).
const SCENARIO_ENV: &str = "KVMTEST_BENCH_SCENARIO";
const SCENARIO_UPSTREAM_ENV: &str = "KVMTEST_BENCH_SCENARIO_UPSTREAM";
const SCENARIO_SKIP_ENV: &str = "KVMTEST_BENCH_SCENARIO_SKIP";

/// Builds the scenario row's pair for `arch` and points the bench's build
/// script at them, or at the reason they could not be built.
fn with_scenario_peer(cmd: &mut Command, arch: &str, target: &str) {
    cmd.env_remove(SCENARIO_ENV).env_remove(SCENARIO_UPSTREAM_ENV).env_remove(SCENARIO_SKIP_ENV);
    let built = || -> Result<(PathBuf, PathBuf)> {
        let (test, upstream_file) = upstream::scenario_peer(arch).ok_or(format!("no scenario pair for {arch}"))?;
        let upstream_program = upstream::build_selftest(arch, upstream_file)?;
        let out = Command::new(env!("CARGO"))
            .current_dir(root())
            .args(["test", "--no-run", "-p", "kvmtest-tests", "--test", test, "--target", target])
            .arg("--message-format=json-render-diagnostics")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("running cargo test --no-run: {e}"))?;
        if !out.status.success() {
            return Err(format!("building the {test} scenario for {target} failed"));
        }
        let exe = suite_executables(&String::from_utf8_lossy(&out.stdout))?
            .into_iter()
            .next()
            .ok_or(format!("cargo test --no-run --test {test} listed no executable"))?;
        // Debug info would make it most of the bench binary it is embedded in.
        let stripped = root().join("target/upstream-bench").join(arch).join(format!("{test}.stripped"));
        // llvm-objcopy reads every arch; GNU objcopy only the host's.
        run(Command::new("llvm-objcopy").arg("--strip-debug").arg(&exe).arg(&stripped))
            .or_else(|_| run(Command::new("objcopy").arg("--strip-debug").arg(&exe).arg(&stripped)))?;
        Ok((stripped, upstream_program))
    };
    match built() {
        Ok((kvmtest, upstream)) => cmd.env(SCENARIO_ENV, kvmtest).env(SCENARIO_UPSTREAM_ENV, upstream),
        Err(why) => {
            eprintln!("bench: the scenario row will be skipped: {why}");
            cmd.env(SCENARIO_SKIP_ENV, why)
        }
    };
}

/// Builds the bench target for `arch`'s musl target and runs it in the
/// emulated machine with `target/debug/xtask vm-run` (this very binary).
fn bench_in_vm(arch: &str, vm: &VmOptions, bench_args: Vec<String>) -> Result {
    let target = format!("{arch}-unknown-linux-musl");
    let mut build = Command::new(env!("CARGO"));
    with_upstream(&mut build, arch);
    with_scenario_peer(&mut build, arch, &target);
    let out = build
        .current_dir(root())
        .args(["bench", "--no-run", "-p", "kvmtest-bench", "--bench", "kvmtest", "--target", &target])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo bench --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("building the bench for {target} failed; is the target installed? (`cargo xtask setup`)"));
    }
    let binary = bench_executable(&String::from_utf8_lossy(&out.stdout))?
        .ok_or_else(|| format!("cargo bench --no-run --target {target} listed no bench executable"))?;
    match crate::vm_run::run_binary(vm, &binary, bench_args)? {
        0 => Ok(()),
        status => Err(format!("the bench exited with status {status} in the emulated machine")),
    }
}

/// The `kvmtest` bench executable in cargo's JSON messages.
fn bench_executable(json_lines: &str) -> Result<Option<PathBuf>> {
    let found = cargo_executables(json_lines, |a| a.target_name == "kvmtest" && a.kind() == "bench")?;
    Ok(found.into_iter().next().map(|a| a.executable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suite_is_the_test_executables_not_the_bins_built_beside_them() {
        let json = r#"{"reason":"compiler-artifact","target":{"name":"xtask","kind":["bin"],"test":true},"profile":{"test":true},"executable":"/t/deps/xtask-1"}
{"reason":"compiler-artifact","target":{"name":"xtask","kind":["bin"],"test":true},"profile":{"test":false},"executable":"/t/xtask"}
{"reason":"compiler-artifact","target":{"name":"psci","kind":["test"],"test":true},"profile":{"test":false},"executable":"/t/deps/psci-2"}
{"reason":"compiler-artifact","target":{"name":"kvmtest","kind":["lib"],"test":true},"profile":{"test":false},"executable":null}"#;
        let want: Vec<PathBuf> = ["/t/deps/xtask-1", "/t/deps/psci-2"].iter().map(PathBuf::from).collect();
        assert_eq!(suite_executables(json).unwrap(), want);
    }

    #[test]
    fn the_bench_executable_comes_from_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","target":{"name":"kvmtest_bench","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"kvmtest","kind":["bench"]},"executable":"/t/deps/kvmtest-1"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(bench_executable(json).unwrap(), Some(PathBuf::from("/t/deps/kvmtest-1")));
    }
}
