//! Suite wall time: every test binary of `cargo test --workspace` (built
//! beforehand, paths given by `cargo xtask bench`), one after another as
//! cargo runs them, with `--test-threads=1` against the default (one thread
//! per core).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

type Result<T> = std::result::Result<T, String>;
use crate::report::{Row, Target, Unit};
use crate::stats::summarize;

fn run_all(bins: &[PathBuf], serial: bool) -> Result<f64> {
    let t = Instant::now();
    for b in bins {
        let mut cmd = Command::new(b);
        if serial {
            cmd.arg("--test-threads=1");
        }
        let out = cmd
            .env("KVMTEST_REQUIRE_KVM", "1")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", b.display()))?;
        if !out.status.success() {
            let threads = if serial { "--test-threads=1" } else { "default threads" };
            return Err(format!(
                "{} failed ({}, {threads}): the suite must be green to be timed\n{}",
                b.display(),
                out.status,
                failure_report(&out.stdout, &out.stderr)
            ));
        }
        // Sanity: the binary ran tests and none failed.
        let text = String::from_utf8_lossy(&out.stdout);
        if !text.lines().any(|l| l.starts_with("test result: ok.")) {
            return Err(format!("{} printed no `test result: ok.` line", b.display()));
        }
    }
    Ok(t.elapsed().as_secs_f64())
}

/// What a failed test binary said: its FAILED lines and its `failures:`
/// section (libtest's format: each failing trial's message), then the tail
/// of its stderr.
fn failure_report(stdout: &[u8], stderr: &[u8]) -> String {
    const MAX_LINES: usize = 80;
    let stdout = String::from_utf8_lossy(stdout);
    let failed = stdout.lines().filter(|l| l.starts_with("test ") && l.ends_with("FAILED"));
    let section = stdout.lines().skip_while(|l| *l != "failures:");
    let mut report: Vec<&str> = failed.chain(section).collect();
    if report.is_empty() {
        report = stdout.lines().collect();
    }
    let stderr = String::from_utf8_lossy(stderr);
    let stderr: Vec<&str> = stderr.lines().collect();
    let tail = |lines: &[&str]| lines[lines.len().saturating_sub(MAX_LINES)..].join("\n");
    format!("--- stdout ---\n{}\n--- stderr ---\n{}", tail(&report), tail(&stderr))
}

/// `runs` timings of the whole suite in each mode, alternating.
pub fn row(bins: &[PathBuf], runs: usize) -> Result<Row> {
    let (mut par, mut ser) = (Vec::new(), Vec::new());
    for i in 0..runs {
        for serial in if i % 2 == 0 { [false, true] } else { [true, false] } {
            let s = run_all(bins, serial)?;
            if serial {
                ser.push(s)
            } else {
                par.push(s)
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (p, s) = (summarize(&par), summarize(&ser));
    Ok(Row {
        name: format!("test suite wall time ({} binaries), parallel", bins.len()),
        unit: Unit::Seconds,
        harness: p,
        baseline_name: "same binaries, --test-threads=1",
        baseline: s,
        ratio: p.min / s.min,
        // Not 1/cores: the suite's critical path is the self-test that waits
        // out a 300 ms watchdog, and the binaries run one after another.
        target: Target::MaxRatio(0.8),
        skip: None,
        note: format!("{cores} cores; parallel is {:.2}x faster than serial (fastest runs)", s.min / p.min),
    })
}

#[cfg(test)]
mod tests {
    use super::failure_report;

    #[test]
    fn failure_report_names_the_failing_trial_and_its_message() {
        let stdout = b"running 2 tests\ntest a ... ok\ntest b ... FAILED\n\nfailures:\n\n---- b ----\nwatchdog fired after 4s\n\ntest result: FAILED. 1 passed; 1 failed\n";
        let r = failure_report(stdout, b"kvmtest: aarch64 guests\n");
        assert!(r.contains("test b ... FAILED") && r.contains("watchdog fired after 4s"), "{r}");
        assert!(!r.contains("test a ... ok") && r.contains("kvmtest: aarch64 guests"), "{r}");
    }
}
