//! The one reader of libtest's output, for cargo's pipe (`cargo xtask
//! test`) and the emulated machine's console (`vm-test`) alike: a test
//! binary's lines cut into trials with their verdicts and its `test result:`
//! counts ([`BinaryRun`]).

use std::path::PathBuf;

use crate::util::libtest_count as count;

/// A trial's verdict, read from libtest's `test NAME ... VERDICT` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Skipped or ignored, with libtest's reason (`SKIP: …`) if it gave one.
    Skip(String),
    /// Started, or listed to run, but not finished: the run was interrupted (Ctrl-C).
    Interrupted,
}

/// One test binary's run: its output and what it said of each trial.
#[derive(Debug, Clone, Default)]
pub struct BinaryRun {
    /// `ucall`, `kvmtest` (a crate's unit tests), `doc-tests-kvmtest`.
    pub name: String,
    pub lines: Vec<String>,
    pub trials: Vec<(String, Verdict)>,
    /// Whether the binary as a whole failed (its exit status, or a failed
    /// trial when the status is unknown).
    pub failed: bool,
    /// Why the binary failed beyond its trials (a crash, a timeout), if known.
    pub trouble: Option<String>,
    /// Its `test result:` line: (passed, ignored), when it printed one.
    pub result: Option<(usize, usize)>,
    /// The run was interrupted (Ctrl-C) while this binary was running.
    pub interrupted: bool,
    /// Where the test binary is, when cargo said so (`Running … (target/debug/deps/ucall-…)`).
    pub executable: Option<PathBuf>,
    /// A trial whose `test NAME ... ` line ended without its verdict.
    pending: Option<String>,
}

impl BinaryRun {
    pub fn new(name: impl Into<String>) -> Self {
        BinaryRun { name: name.into(), ..BinaryRun::default() }
    }

    /// Takes one line of the binary's output, noting a trial's verdict and
    /// the `test result:` counts; returns the verdict when the line carried
    /// a new one. A line the kernel's console output ran into is read from
    /// its `test ` on; the same verdict twice (a binary that re-runs one of
    /// its trials, as selftest does) counts once.
    pub fn feed(&mut self, line: &str) -> Option<&(String, Verdict)> {
        self.lines.push(line.to_string());
        if let Some(at) = line.find("test result:") {
            let result = &line[at..];
            self.result = Some((count(result, " passed"), count(result, " ignored")));
            return None;
        }
        let (name, verdict) = match find_verdict(line) {
            Some(found) => {
                self.pending = None;
                found
            }
            None => self.split_verdict(line)?,
        };
        if verdict == Verdict::Fail {
            self.failed = true;
        }
        if self.trials.iter().any(|(n, v)| *n == name && *v == verdict) {
            return None;
        }
        self.trials.push((name, verdict));
        self.trials.last()
    }

    /// A verdict another thread's output cut in two: libtest writes
    /// `test NAME ... ` and the verdict separately, so a trial printing in
    /// parallel can land between them (`test a ... Iteration 8: …` then
    /// `okTotal bits …`). The name is held until a line starts with a verdict.
    fn split_verdict(&mut self, line: &str) -> Option<(String, Verdict)> {
        if let Some((name, _)) = line.strip_prefix("test ").and_then(|rest| rest.split_once(" ... ")) {
            let name = name.trim_end();
            if !name.contains(' ') {
                self.pending = Some(name.to_string());
                return None;
            }
        }
        let verdict = if line.starts_with("ok") {
            Verdict::Pass
        } else if line.starts_with("FAILED") {
            Verdict::Fail
        } else if let Some(why) = line.strip_prefix("ignored") {
            // The reason, when it is still whole: `ignored (SKIP: …)`.
            let why = why.trim_start_matches(',').trim();
            Verdict::Skip(why.strip_prefix('(').and_then(|w| w.strip_suffix(')')).unwrap_or("").to_string())
        } else {
            return None;
        };
        Some((self.pending.take()?, verdict))
    }

    /// Exited well with every trial that ran skipped (its `test result:`
    /// says 0 passed and some ignored).
    pub fn skip_only(&self) -> bool {
        matches!(self.result, Some((0, ignored)) if ignored > 0)
    }

    /// The trials that failed, in order.
    pub fn failed_trials(&self) -> Vec<String> {
        self.trials.iter().filter(|(_, v)| *v == Verdict::Fail).map(|(t, _)| t.clone()).collect()
    }

    /// The log file's name in the results directory.
    pub fn log_name(&self) -> String {
        format!("{}.log", self.file_stem())
    }

    /// The binary's name as a file name (without extension).
    pub fn file_stem(&self) -> String {
        self.name.replace(['/', ' '], "_")
    }
}

/// What libtest printed for a failed trial (its `---- NAME stdout ----`
/// block under `failures:`), at most `max` lines, from a binary's log.
/// `trial` may carry the binary's name in front (`xen_shinfo::shinfo_gfn`
/// or `kvmtest::vm::tests::x` for the block of `vm::tests::x`).
pub fn failure_excerpt(log: &str, trial: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in log.lines() {
        // libtest says `---- NAME stdout ----`, libtest-mimic `---- NAME ----`.
        let header = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" ----"));
        if let Some(name) = header.map(|h| h.strip_suffix(" stdout").unwrap_or(h)) {
            if inside {
                break;
            }
            inside = name == trial || trial.ends_with(&format!("::{name}"));
            continue;
        }
        if inside {
            if line == "failures:" || line.starts_with("test result:") {
                break;
            }
            if out.len() == max {
                out.push("…".to_string());
                break;
            }
            out.push(line.to_string());
        }
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out
}

/// A verdict line anywhere in `line`: at its start, or after what the
/// kernel printed into the same console line (`[ 12.1] kvm: … test X ... FAILED`).
fn find_verdict(line: &str) -> Option<(String, Verdict)> {
    if let Some(v) = parse_verdict(line) {
        return Some(v);
    }
    let at = line.find(" test ")?;
    parse_verdict(&line[at + 1..])
}

/// `test NAME ... ok|FAILED|ignored[, reason| (reason)]` as libtest prints it.
pub fn parse_verdict(line: &str) -> Option<(String, Verdict)> {
    let rest = line.strip_prefix("test ")?;
    let (name, verdict) = rest.rsplit_once(" ... ")?;
    let verdict = verdict.trim();
    let verdict = if verdict == "ok" {
        Verdict::Pass
    } else if verdict == "FAILED" {
        Verdict::Fail
    } else if let Some(why) = verdict.strip_prefix("ignored") {
        let why = why.trim_start_matches(',').trim();
        let why = why.strip_prefix('(').and_then(|w| w.strip_suffix(')')).unwrap_or(why);
        Verdict::Skip(why.to_string())
    } else {
        return None;
    };
    Some((name.trim().to_string(), verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines_of_libtest() {
        assert_eq!(
            parse_verdict("test ucall::pio::sync::elf   ... ok"),
            Some(("ucall::pio::sync::elf".into(), Verdict::Pass))
        );
        assert_eq!(parse_verdict("test a::b ... FAILED"), Some(("a::b".into(), Verdict::Fail)));
        assert_eq!(
            parse_verdict("test x86::smm ... ignored (SKIP: requires KVM_CAP_X86_SMM)"),
            Some(("x86::smm".into(), Verdict::Skip("SKIP: requires KVM_CAP_X86_SMM".into())))
        );
        assert_eq!(
            parse_verdict("test soak::vms ... ignored, slow"),
            Some(("soak::vms".into(), Verdict::Skip("slow".into())))
        );
        assert_eq!(parse_verdict("test result: ok. 3 passed"), None);
        assert_eq!(parse_verdict("running 3 tests"), None);
    }

    #[test]
    fn a_failed_trials_output_is_cut_from_the_failures_block() {
        let log = "running 2 tests\ntest x::a ... FAILED\ntest x::b ... FAILED\n\nfailures:\n\n\
                   ---- x::a stdout ----\nError: stage 3: expected 1, got 2\n  at tests/x.rs:10\n\n\
                   ---- x::b stdout ----\nother\n\nfailures:\n    x::a\n    x::b\n\ntest result: FAILED.";
        assert_eq!(failure_excerpt(log, "x::a", 10), ["Error: stage 3: expected 1, got 2", "  at tests/x.rs:10"]);
        assert_eq!(failure_excerpt(log, "bin::x::b", 10), ["other"]);
        let mimic = "failures:\n\n---- xen_shinfo::shinfo_hva ----\ntests/x86_64/xen_shinfo.rs:638: Unexpected IRQ\n\n\nfailures:";
        assert_eq!(
            failure_excerpt(mimic, "xen_shinfo::shinfo_hva", 10),
            ["tests/x86_64/xen_shinfo.rs:638: Unexpected IRQ"]
        );
        assert_eq!(failure_excerpt(log, "x::a", 1), ["Error: stage 3: expected 1, got 2", "…"]);
        assert!(failure_excerpt(log, "x::c", 10).is_empty());
        assert!(failure_excerpt(log, "y::x::", 10).is_empty(), "a suffix must be a whole name");
    }

    /// Two trials printing at once (dirty_log on arm64 7.3 in CI): the
    /// verdict comes a line later, glued to the other trial's text.
    #[test]
    fn a_verdict_cut_off_by_another_trials_output_is_found() {
        let mut b = BinaryRun::new("dirty_log");
        for line in [
            "Iteration  8: dirty: 218    clean: 809    writes: 258    reaped after 5 ms",
            "test dirty_log::dirty-log  ... Iteration  8: dirty: 250    clean: 777",
            "okTotal bits checked: dirty (2653), clear (5563)",
            "",
            "test dirty_log::clear-log  ... ok",
            "test dirty_log::dirty-ring ... [guest vCPU 0] hello",
            "ignored (SKIP: no ring)",
            "ok, an unrelated line after no pending trial",
        ] {
            b.feed(line);
        }
        assert_eq!(
            b.trials,
            [
                ("dirty_log::dirty-log".to_string(), Verdict::Pass),
                ("dirty_log::clear-log".to_string(), Verdict::Pass),
                ("dirty_log::dirty-ring".to_string(), Verdict::Skip("SKIP: no ring".into())),
            ]
        );
    }

    /// The console's case (vm-test): kernel text run
    /// into a verdict line, a trial printed twice, the `test result:` counts.
    #[test]
    fn console_lines_of_one_binary() {
        let mut b = BinaryRun::new("pv_features");
        for line in [
            "test pv_features::msr::kvm_system_time        ... FAILED",
            "[   12.1] kvm: something test pv_features::cpuid ... FAILED",
            "test pv_features::hypercall ... ignored, SKIP: no",
            "test pv_features::msr::kvm_system_time ... FAILED",
            "test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 2.00s",
        ] {
            b.feed(line);
        }
        assert_eq!(b.failed_trials(), ["pv_features::msr::kvm_system_time", "pv_features::cpuid"]);
        assert_eq!((b.result, b.failed, b.skip_only()), (Some((3, 1)), true, false));
        assert_eq!(b.trials.len(), 3);
        let mut psci = BinaryRun::new("psci");
        psci.feed("test result: ok. 0 passed; 0 failed; 9 ignored; 0 measured; 0 filtered out; finished in 0.10s");
        assert!(psci.skip_only() && !psci.failed);
        assert!(!BinaryRun::new("ucall").skip_only(), "no result line: not skip-only");
    }
}
