//! Helpers every verb shares: the workspace root, running a command, the
//! host arch, and the executables cargo reports in `--message-format json`.
//! No verb lives here; this module depends on no other of xtask's but
//! interrupt.rs (which stops the commands it runs on Ctrl-C).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What every xtask function returns: the error is the message shown.
pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (the parent of xtask/).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ is inside the workspace").to_path_buf()
}

/// Runs a command, failing with its name if it fails. On Ctrl-C the
/// command is stopped (crate::interrupt).
pub fn run(cmd: &mut Command) -> Result {
    let mut child = cmd.spawn().map_err(|e| format!("running {cmd:?}: {e}"))?;
    let watched = crate::interrupt::watch(&child, false);
    let status = child.wait().map_err(|e| format!("running {cmd:?}: {e}"))?;
    drop(watched);
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// The host arch name as kvmtest uses it.
pub fn host_arch() -> &'static str {
    std::env::consts::ARCH
}

/// One step of `ci` (and `lint`): its name, then how it went and how long
/// it took; its error is prefixed with its name.
pub fn step(name: &str, f: impl FnOnce() -> Result) -> Result {
    println!("\n==== ci: {name}");
    let start = std::time::Instant::now();
    let r = f();
    println!("==== ci: {name}: {} in {:.0?}", if r.is_ok() { "ok" } else { "FAILED" }, start.elapsed());
    r.map_err(|e| format!("{name}: {e}"))
}

/// One `compiler-artifact` message of cargo's that has an executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The target's name (`ucall`, `kvmtest`).
    pub target_name: String,
    /// The target's kinds (`test`, `lib`, `bench`, `bin`, ...).
    pub kinds: Vec<String>,
    /// The manifest of the package the target belongs to.
    pub manifest_path: PathBuf,
    /// Built with the test harness (`profile.test`).
    pub profile_test: bool,
    /// `cargo test` tests this target by default (`target.test`).
    pub target_test: bool,
    pub executable: PathBuf,
}

impl Artifact {
    /// The first of the target's kinds (`test` if cargo named none).
    pub fn kind(&self) -> &str {
        self.kinds.first().map_or("test", String::as_str)
    }
}

/// The executables in cargo's JSON messages (`--message-format json...`
/// output, one message a line) that `keep` keeps, in cargo's order. Lines
/// that are not JSON objects are skipped; a malformed one is an error.
pub fn cargo_executables(json_lines: &str, keep: impl Fn(&Artifact) -> bool) -> Result<Vec<Artifact>> {
    let mut out = Vec::new();
    for line in json_lines.lines().filter(|l| l.starts_with('{')) {
        let msg: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("cargo's JSON: {e}: {line}"))?;
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let artifact = Artifact {
            target_name: msg["target"]["name"].as_str().unwrap_or_default().to_string(),
            kinds: msg["target"]["kind"]
                .as_array()
                .map(|k| k.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            manifest_path: PathBuf::from(msg["manifest_path"].as_str().unwrap_or_default()),
            profile_test: msg["profile"]["test"] == true,
            target_test: msg["target"]["test"] == true,
            executable: PathBuf::from(exe),
        };
        if keep(&artifact) {
            out.push(artifact);
        }
    }
    Ok(out)
}

/// The number before `what` (`" passed"`, `" ignored"`, ...) in libtest's
/// `test result:` line; 0 when it is not there.
pub fn libtest_count(result: &str, what: &str) -> usize {
    result
        .split(';')
        .find(|part| part.ends_with(what))
        .and_then(|part| part.trim_end_matches(what).rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"reason":"compiler-artifact","manifest_path":"/w/harness/Cargo.toml","profile":{"test":false},"target":{"name":"kvmtest","kind":["lib"],"test":true},"executable":null}
{"reason":"compiler-artifact","manifest_path":"/w/harness/Cargo.toml","profile":{"test":true},"target":{"name":"kvmtest","kind":["lib"],"test":true},"executable":"/t/deps/kvmtest-1"}
{"reason":"compiler-artifact","manifest_path":"/w/tests/Cargo.toml","profile":{"test":true},"target":{"name":"ucall","kind":["test"],"test":true},"executable":"/t/deps/ucall-2"}
{"reason":"build-script-executed","package_id":"x"}
{"reason":"build-finished","success":true}"#;

    #[test]
    fn executables_come_from_compiler_artifacts() {
        let all = cargo_executables(JSON, |_| true).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].target_name, "ucall");
        assert_eq!(all[1].kind(), "test");
        assert_eq!(all[1].manifest_path, Path::new("/w/tests/Cargo.toml"));
        assert!(all[1].profile_test && all[1].target_test);
        assert_eq!(all[1].executable, Path::new("/t/deps/ucall-2"));
        let libs = cargo_executables(JSON, |a| a.kind() == "lib").unwrap();
        assert_eq!(libs.iter().map(|a| &a.executable).collect::<Vec<_>>(), [Path::new("/t/deps/kvmtest-1")]);
    }

    #[test]
    fn malformed_json_is_an_error_and_other_lines_are_skipped() {
        assert!(cargo_executables("{not json", |_| true).is_err());
        assert_eq!(cargo_executables("Compiling x\n", |_| true).unwrap(), []);
    }
}
