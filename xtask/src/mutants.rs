//! `cargo xtask mutants [--in-diff [BASE]] [--lib-only]`: mutation testing
//! (cargo-mutants) of the code that reads what a guest or a payload file
//! hands the host, where an unpinned bound becomes a host bug.
//!
//! Which files are examined and which mutants are excluded (each with its
//! reason) is `.cargo/mutants.toml`; the test selection is here: the harness's
//! unit tests and the scenario binaries that drive that code. cargo-mutants is
//! installed if missing. Mutants are built and tested one at a time (`-j 1`)
//! in a copy of the tree that starts from this tree's `target/`.

use std::process::{Command, Stdio};

use crate::util::{root, run};
use crate::Result;

/// Mutation testing of ucall/, payload/ and the arch exception decoders
///
/// Fails if a mutant survives (cargo-mutants' own report is in
/// target/mutants/mutants.out/).
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Only the mutants on lines `git diff BASE` changes (CI) [default BASE: HEAD~1]
    #[arg(long, value_name = "BASE", num_args = 0..=1, default_missing_value = "HEAD~1")]
    pub in_diff: Option<String>,
    /// Only the harness's unit tests (`cargo test -p kvmtest --lib`): a few
    /// seconds a mutant instead of the scenario binaries' minute
    #[arg(long)]
    pub lib_only: bool,
    /// Arguments for cargo-mutants itself (after `--`); to narrow the run to
    /// one file, `-- --re payload/elf.rs` (a `--file` adds to the config's
    /// files instead)
    #[arg(last = true, value_name = "ARGS")]
    pub mutants_args: Vec<String>,
}

/// The files `.cargo/mutants.toml` examines; a diff is cut down to them.
const EXAMINED: [&str; 3] = ["harness/src/ucall/", "harness/src/payload/", "harness/src/arch/exception/"];

/// The scenario binaries (package kvmtest-tests) whose guests exercise the
/// examined code on real KVM: every transport's decode, hostile messages,
/// the self-test's exception reports, malformed payloads, many vCPUs at once.
const SCENARIOS: [&str; 5] = ["ucall", "hostile", "selftest", "payload", "soak"];

/// The least time a mutant's scenario run gets before it counts as a hang.
const MIN_TEST_TIMEOUT_SECONDS: u64 = 120;

/// cargo test's arguments after cargo-mutants' own: which tests judge a mutant.
fn test_selection(lib_only: bool) -> Vec<String> {
    let mut args = vec!["--lib".to_string()];
    if !lib_only {
        args.extend(SCENARIOS.iter().flat_map(|t| ["--test".to_string(), t.to_string()]));
    }
    args
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn ensure_cargo_mutants() -> Result {
    if !succeeds(Command::new(env!("CARGO")).args(["mutants", "--version"])) {
        eprintln!("xtask: installing cargo-mutants");
        run(Command::new(env!("CARGO")).args(["install", "cargo-mutants", "--locked"]))?;
    }
    Ok(())
}

fn git(args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(root())
        .args(args)
        .output()
        .map_err(|e| format!("running git {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!("git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("git {}: {e}", args.join(" ")))
}

/// What CI compares against: the merge base with origin's main when this
/// branch has commits of its own, else (a clone of main itself) the parent
/// of the last commit.
pub fn ci_base() -> String {
    let head = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    match git(&["merge-base", "HEAD", "origin/main"]) {
        Ok(base) if base.trim() != head.trim() => base.trim().to_string(),
        _ => "HEAD~1".to_string(),
    }
}

pub fn mutants(args: &Args) -> Result {
    let root = root();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&root).args(["mutants", "--jobs", "1", "--copy-target", "true"]);
    cmd.arg("--output").arg(root.join("target/mutants"));
    // The scenario binaries are another package's (kvmtest-tests), and
    // cargo-mutants passes the test selection to each named package alike:
    // only `--workspace` lets `--lib` and `--test ucall` each find theirs.
    cmd.args(if args.lib_only { ["--test-package", "kvmtest"] } else { ["--test-workspace", "true"] });
    if let Some(base) = &args.in_diff {
        if git(&["rev-parse", "--verify", "--quiet", &format!("{base}^{{commit}}")]).is_err() {
            println!(
                "xtask mutants: no commit {base} to compare with (a shallow or one-commit clone): nothing to test"
            );
            return Ok(());
        }
        let mut diff_args = vec!["diff", base.as_str(), "--"];
        diff_args.extend(EXAMINED);
        let diff = git(&diff_args)?;
        if diff.trim().is_empty() {
            println!("xtask mutants: {base} changes none of {}: nothing to test", EXAMINED.join(", "));
            return Ok(());
        }
        let file = root.join("target/mutants-in-diff.patch");
        std::fs::create_dir_all(root.join("target")).map_err(|e| format!("creating target/: {e}"))?;
        std::fs::write(&file, diff).map_err(|e| format!("writing {}: {e}", file.display()))?;
        cmd.arg("--in-diff").arg(&file);
    }
    ensure_cargo_mutants()?;
    if !args.lib_only {
        // cargo-mutants' baseline tests only the mutated package (kvmtest),
        // which has no `--test ucall`: the unmutated tree is tested here
        // instead (which also leaves target/ built for the copy), and the
        // per-mutant timeout follows from it.
        let start = std::time::Instant::now();
        run(Command::new(env!("CARGO")).current_dir(&root).args(["test", "--workspace"]).args(test_selection(false)))
            .map_err(|e| format!("the unmutated tree fails its tests: {e}"))?;
        let timeout = (3 * start.elapsed().as_secs()).max(MIN_TEST_TIMEOUT_SECONDS);
        cmd.args(["--baseline", "skip", "--timeout", &timeout.to_string()]);
    }
    cmd.args(&args.mutants_args);
    cmd.arg("--").args(test_selection(args.lib_only));
    let start = std::time::Instant::now();
    let result = run(&mut cmd);
    println!(
        "xtask mutants: {} in {:.0?}",
        if result.is_ok() { "no surviving mutant" } else { "FAILED" },
        start.elapsed()
    );
    result.map_err(|e| format!("{e} (missed mutants are listed in target/mutants/mutants.out/missed.txt)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selection_is_the_unit_tests_and_the_scenarios() {
        assert_eq!(test_selection(true), ["--lib"]);
        assert_eq!(
            test_selection(false).join(" "),
            "--lib --test ucall --test hostile --test selftest --test payload --test soak"
        );
    }
}
