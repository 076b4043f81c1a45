//! Builds what runs in the emulated machine: init and the smoke binary
//! (vm-init), and the workspace's test binaries, all static for the arch's
//! musl target.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::arch::Arch;
use crate::util::{cargo_executables, root};
use crate::Result;

/// A cargo for nested builds: without the outer cargo's variables (vm-run
/// runs under `cargo test`, which sets them for the test).
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        if (k.starts_with("CARGO_") && k != "CARGO_HOME") || matches!(k, "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(root());
    cmd
}

/// Builds init and the smoke binary. Their own target directory matters:
/// vm-run runs while `cargo test` holds the lock of target/, and a nested
/// cargo there would wait for it forever.
pub fn build_init(arch: &Arch) -> Result<(PathBuf, PathBuf)> {
    let target = arch.musl_target();
    let target_dir = root().join("target/vm-init");
    let out = cargo()
        .args(["build", "--quiet", "--package", "vm-init", "--bins", "--target", &target, "--target-dir"])
        .arg(&target_dir)
        .stdout(Stdio::inherit())
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.success() {
        return Err(format!("building vm-init for {target} failed; is the target installed? (`cargo xtask setup`)"));
    }
    let dir = target_dir.join(&target).join("debug");
    Ok((dir.join("vm-init"), dir.join("kvm-smoke")))
}

/// Packages whose tests are host tooling, not KVM tests.
const HOST_TOOLING: &[&str] = &["xtask", "vm-init", "payload-builder"];

/// Builds the workspace's test binaries for the arch's musl target and
/// returns (name, path) of each, from cargo's JSON messages.
pub fn build_suite(arch: &Arch) -> Result<Vec<(String, PathBuf)>> {
    let target = arch.musl_target();
    let mut cmd = cargo();
    cmd.args(["test", "--no-run", "--workspace", "--target", &target, "--message-format=json-render-diagnostics"]);
    for p in HOST_TOOLING {
        cmd.args(["--exclude", p]);
    }
    let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the test binaries for {target} failed (see above); `--smoke` checks the emulated machine without them"
        ));
    }
    let tests = test_executables(&String::from_utf8_lossy(&out.stdout))?;
    if tests.is_empty() {
        return Err(format!("cargo built no test binaries for {target}"));
    }
    Ok(tests)
}

/// (name, executable) of each test artifact in cargo's JSON messages; names
/// are the test target's, made unique across packages.
fn test_executables(json_lines: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for a in cargo_executables(json_lines, |a| a.profile_test)? {
        let target_name = if a.target_name.is_empty() { "test" } else { &a.target_name };
        let mut name = match a.kind() {
            "test" => target_name.to_string(),
            other => format!("{target_name}-{other}"),
        };
        if out.iter().any(|(n, _)| *n == name) {
            name = format!("{name}-{}", out.len());
        }
        out.push((name, a.executable));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_executables_come_from_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","profile":{"test":false},"target":{"name":"kvmtest","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","profile":{"test":true},"target":{"name":"kvmtest","kind":["lib"]},"executable":"/t/deps/kvmtest-1"}
{"reason":"compiler-artifact","profile":{"test":true},"target":{"name":"ucall","kind":["test"]},"executable":"/t/deps/ucall-2"}
{"reason":"compiler-artifact","profile":{"test":false},"target":{"name":"build-script-build","kind":["custom-build"]},"executable":null}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            test_executables(json).unwrap(),
            [
                ("kvmtest-lib".to_string(), PathBuf::from("/t/deps/kvmtest-1")),
                ("ucall".to_string(), PathBuf::from("/t/deps/ucall-2"))
            ]
        );
    }
}
