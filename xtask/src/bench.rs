//! `cargo xtask bench`: builds the test suite (to time it), then runs the
//! benchmark target `bench/benches/kvmtest.rs` in the bench profile with the
//! suite's binaries as arguments. Extra arguments (e.g. `--quick`) go to it.
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

mod upstream;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::util::{root, run};
use crate::Result;

/// vm-run's options that take a value, passed through by `bench --arch`.
const VM_OPTIONS: &[&str] = &["--kernel-version", "--kernel", "--modules", "--append", "--timeout"];

/// The test executables `cargo test --workspace` runs, built in its profile.
fn suite_binaries() -> Result<Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err("building the test suite failed".into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let bins: Vec<String> = text
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#) && l.contains(r#""test":true"#))
        .filter_map(|l| {
            let start = l.find(r#""executable":""#)? + r#""executable":""#.len();
            let len = l[start..].find('"')?;
            Some(l[start..start + len].to_string())
        })
        .collect();
    if bins.is_empty() {
        return Err("cargo test --no-run listed no test executable".into());
    }
    Ok(bins)
}

pub fn bench(args: &[String]) -> Result {
    let args: Vec<String> = args.iter().filter(|a| *a != "--").cloned().collect();
    let (vm_args, bench_args) = split_vm_options(&args)?;
    let arch = vm_args.iter().position(|a| a == "--arch").map(|i| vm_args[i + 1].as_str());
    if let Some(arch) = arch {
        return bench_in_vm(arch, &vm_args, &bench_args);
    }
    if !vm_args.is_empty() {
        return Err(format!("{}: only with an emulated machine (--arch ARCH)", vm_args.join(" ")));
    }
    let bins = suite_binaries()?;
    let mut cmd = Command::new(env!("CARGO"));
    with_upstream(&mut cmd, crate::util::host_arch());
    cmd.current_dir(root()).args(["bench", "--quiet", "-p", "kvmtest-bench", "--bench", "kvmtest", "--"]);
    cmd.args(&bench_args).arg("--suite").args(&bins);
    run(&mut cmd)
}

/// Splits `--arch` and [`VM_OPTIONS`] (with their values) from the bench's own arguments.
fn split_vm_options(args: &[String]) -> Result<(Vec<String>, Vec<String>)> {
    let (mut vm, mut bench) = (Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--arch" || VM_OPTIONS.contains(&a.as_str()) {
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            vm.extend([a.clone(), v.clone()]);
        } else {
            bench.push(a.clone());
        }
    }
    Ok((vm, bench))
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

/// Builds the bench target for `arch`'s musl target and runs it in the
/// emulated machine with `target/debug/xtask vm-run` (this very binary).
fn bench_in_vm(arch: &str, vm_args: &[String], bench_args: &[String]) -> Result {
    let target = format!("{arch}-unknown-linux-musl");
    let mut build = Command::new(env!("CARGO"));
    with_upstream(&mut build, arch);
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
    let binary = bench_executable(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("cargo bench --no-run --target {target} listed no bench executable"))?;
    let xtask = std::env::current_exe().map_err(|e| format!("finding the xtask binary: {e}"))?;
    let mut cmd = Command::new(xtask);
    cmd.arg("vm-run").args(vm_args).arg(&binary).args(bench_args);
    run(&mut cmd)
}

/// The `kvmtest` bench executable in cargo's JSON messages.
fn bench_executable(json_lines: &str) -> Option<PathBuf> {
    json_lines.lines().filter(|l| l.starts_with('{')).find_map(|line| {
        let msg: serde_json::Value = serde_json::from_str(line).ok()?;
        let is_bench = msg["reason"] == "compiler-artifact"
            && msg["target"]["name"] == "kvmtest"
            && msg["target"]["kind"][0] == "bench";
        is_bench.then(|| msg["executable"].as_str().map(PathBuf::from)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_options_are_split_from_the_bench_arguments() {
        let args = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let (vm, bench) = split_vm_options(&args("--arch aarch64 --quick --kernel-version 6.1")).unwrap();
        assert_eq!((vm, bench), (args("--arch aarch64 --kernel-version 6.1"), args("--quick")));
        assert!(split_vm_options(&args("--quick --arch")).is_err());
    }

    #[test]
    fn the_bench_executable_comes_from_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","target":{"name":"kvmtest_bench","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"kvmtest","kind":["bench"]},"executable":"/t/deps/kvmtest-1"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(bench_executable(json), Some(PathBuf::from("/t/deps/kvmtest-1")));
    }
}
