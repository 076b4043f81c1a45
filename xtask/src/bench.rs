//! `cargo xtask bench`: builds the test suite (to time it), then runs the
//! benchmark target `bench/benches/kvmtest.rs` in the bench profile with the
//! suite's binaries as arguments. Extra arguments (e.g. `--quick`) go to it.

use std::process::Command;

use crate::util::{root, run};
use crate::Result;

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
    let bins = suite_binaries()?;
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["bench", "--quiet", "-p", "kvmtest-bench", "--bench", "kvmtest", "--"]);
    cmd.args(args.iter().filter(|a| *a != "--")).arg("--suite").args(&bins);
    run(&mut cmd)
}
