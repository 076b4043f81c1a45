//! The kernel CI bundle that `cargo xtask dist` builds. Static (musl) test binaries with
//! their guest payloads embedded, laid out as an installed kselftest tree
//! (`make -C tools/testing/selftests install`) with one collection, `kvmtest`,
//! packed as `kvmtest-<arch>.tar.gz`. Unpacked on any machine with /dev/kvm
//! it runs with `./run_kselftest.sh` and nothing else installed.
//!
//! ```text
//! kvmtest-x86_64/
//!   run_kselftest.sh, kselftest/     the kernel's runner (from linux-source)
//!   kselftest-list.txt               kvmtest:ucall, kvmtest:selftest, ...
//!   kvmtest/settings                 timeout=<per-binary seconds>
//!   kvmtest/<name>                   sh wrapper: KVMTEST_FORMAT=ktap, exec bin/<name>
//!   kvmtest/bin/<name>               the static test binary
//!   README                           how to run it
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::kselftest::KernelTools;
use crate::util::{cargo_executables, root, run};
use crate::Result;

/// The kselftest collection (directory and `kselftest-list.txt` prefix).
pub const COLLECTION: &str = "kvmtest";

/// Seconds each test binary may run under `run_kselftest.sh` (its `settings`
/// file). A binary is a whole scenario (all its trials); the host suite takes
/// seconds, emulated machines far longer. `run_kselftest.sh -o SECS` overrides.
pub const KSELFTEST_TIMEOUT_S: u32 = 600;

/// Arches a bundle can be built for.
pub const ARCHES: &[&str] = &["x86_64", "aarch64"];

/// A built bundle: its directory and its tarball.
pub struct Bundle {
    pub arch: String,
    pub dir: PathBuf,
    pub tarball: PathBuf,
    /// Test binary names, sorted: the collection's tests.
    pub tests: Vec<String>,
}

/// The default output directory of bundles.
pub fn default_out() -> PathBuf {
    root().join("target/dist")
}

/// Builds the bundle for `arch` under `out`.
pub fn build(arch: &str, out: &Path, tools: &KernelTools) -> Result<Bundle> {
    if !ARCHES.contains(&arch) {
        return Err(format!("no bundle for arch `{arch}` (one of {ARCHES:?})"));
    }
    let binaries = build_test_binaries(arch)?;
    let name = format!("{COLLECTION}-{arch}");
    let dir = out.join(&name);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("removing the old {}: {e}", dir.display()))?;
    }
    let bin = dir.join(COLLECTION).join("bin");
    fs::create_dir_all(&bin).map_err(|e| format!("creating {}: {e}", bin.display()))?;

    tools.install_runner(&dir)?;
    let mut tests = Vec::new();
    for (test, exe) in &binaries {
        copy(exe, &bin.join(test))?;
        write_executable(&dir.join(COLLECTION).join(test), &wrapper(test))?;
        tests.push(test.clone());
    }
    tests.sort();
    let list: String = tests.iter().map(|t| format!("{COLLECTION}:{t}\n")).collect();
    write(&dir.join("kselftest-list.txt"), &list)?;
    write(
        &dir.join(COLLECTION).join("settings"),
        &format!("# Seconds each kvmtest binary may run (all of its trials).\ntimeout={KSELFTEST_TIMEOUT_S}\n"),
    )?;
    write(&dir.join("README"), &readme(arch, &tests))?;

    let tarball = out.join(format!("{name}.tar.gz"));
    run(Command::new("tar").arg("-czf").arg(&tarball).arg("-C").arg(out).arg(&name))?;
    Ok(Bundle { arch: arch.to_string(), dir, tarball, tests })
}

/// `cargo test --no-run` of the workspace for `<arch>-unknown-linux-musl`;
/// returns the scenario binaries of tests/ by name. The payloads are
/// embedded by tests/build.rs, so each binary is self-contained.
fn build_test_binaries(arch: &str) -> Result<Vec<(String, PathBuf)>> {
    let target = format!("{arch}-unknown-linux-musl");
    let tests_manifest = root().join("tests/Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["test", "--no-run", "--workspace", "--release", "--target", &target])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !output.status.success() {
        let hint = if arch == "aarch64" {
            "\n(the aarch64 harness lands with branch `aarch64`; until then aarch64 test binaries do not build)"
        } else {
            ""
        };
        return Err(format!("building the {target} test binaries failed ({}){hint}", output.status));
    }
    let found: Vec<(String, PathBuf)> = cargo_executables(&String::from_utf8_lossy(&output.stdout), |a| {
        a.manifest_path == tests_manifest && a.kinds.iter().any(|k| k == "test")
    })?
    .into_iter()
    .map(|a| (a.target_name, a.executable))
    .collect();
    if found.is_empty() {
        return Err(format!("cargo built no test binaries of tests/ for {target}"));
    }
    Ok(found)
}

/// The collection's entry for test `name`: kselftest runs `./name`, so this
/// sets KTAP output (unless the caller chose a format) and runs the binary.
fn wrapper(name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # kvmtest `{name}` for run_kselftest.sh: the static binary bin/{name},\n\
         # reporting KTAP. Arguments are libtest's: filters, --exact, --list, --skip.\n\
         KVMTEST_FORMAT=\"${{KVMTEST_FORMAT:-ktap}}\"\n\
         export KVMTEST_FORMAT\n\
         exec \"$(dirname \"$0\")/bin/{name}\" \"$@\"\n"
    )
}

fn readme(arch: &str, tests: &[String]) -> String {
    format!(
        "kvmtest {arch} kselftest bundle: the Linux KVM selftests rebuilt in Rust.\n\
         \n\
         Run on a machine with /dev/kvm (static binaries, nothing to install):\n\
         \x20   ./run_kselftest.sh                  # every test, TAP/KTAP on stdout\n\
         \x20   ./run_kselftest.sh -t {COLLECTION}:{first}   # one binary\n\
         \x20   KSELFTEST_UCALL_ARGS=mmio ./run_kselftest.sh -t {COLLECTION}:ucall   # filter its trials\n\
         To keep a log, pipe it (`./run_kselftest.sh | tee log`): the runner appends to\n\
         /dev/stdout, which a plain `> log` redirection overwrites.\n\
         \n\
         Each binary prints KTAP v1 and exits 0 (pass), 1 (a failure) or 4 (all skipped).\n\
         A missing capability is `ok N name # SKIP reason`. A missing /dev/kvm skips\n\
         everything unless KVMTEST_REQUIRE_KVM=1 (then it fails). KVMTEST_TIMEOUT_MS\n\
         sets the per-ucall watchdog; {COLLECTION}/settings the per-binary timeout.\n\
         \n\
         Tests: {list}\n\
         run_kselftest.sh and kselftest/ come from the Linux kernel (GPL-2.0).\n",
        first = tests.first().map(String::as_str).unwrap_or("ucall"),
        list = tests.join(" "),
    )
}

fn copy(from: &Path, to: &Path) -> Result {
    fs::copy(from, to).map(drop).map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

fn write(path: &Path, text: &str) -> Result {
    fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn write_executable(path: &Path, text: &str) -> Result {
    use std::os::unix::fs::PermissionsExt;
    write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|e| format!("chmod {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    /// Every scenario binary goes into the kernel CI bundle, where it must
    /// speak KTAP: only kvmtest's runner (libtest-mimic, `harness = false`)
    /// does; libtest's own harness would print its format to run_kselftest.sh.
    #[test]
    fn every_scenario_binary_uses_the_kvmtest_runner() {
        let manifest = std::fs::read_to_string(super::root().join("tests/Cargo.toml")).expect("tests/Cargo.toml");
        let blocks: Vec<&str> = manifest.split("[[test]]").skip(1).collect();
        assert!(!blocks.is_empty(), "tests/Cargo.toml lists no [[test]]");
        for block in blocks {
            let block = block.split("\n[").next().unwrap_or(block);
            assert!(
                block.lines().any(|l| l.replace(' ', "") == "harness=false"),
                "this [[test]] of tests/Cargo.toml needs `harness = false` and runner::main, \
                 or it will not print KTAP in the kernel CI bundle:{block}"
            );
        }
    }
}
