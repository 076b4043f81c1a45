//! KTAP v1 output (Documentation/dev-tools/ktap.rst) for kernel CI, chosen
//! with `KVMTEST_FORMAT=ktap`: the version line, the plan, one result line per
//! trial in plan order (trials still run in parallel), a failure's report as
//! `# ` diagnostic lines just before its `not ok`, and kselftest's exit
//! status, so `run_kselftest.sh` and the kernel's KTAP parser read it as
//! they read a C selftest.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{mpsc, Mutex, PoisonError};

use libtest_mimic::{Arguments, Trial};

use super::{bodies, timeout, trial_timeout, Outcome};

/// Diagnostics given before the header was printed, and whether it has been.
static HELD: Mutex<(bool, Vec<String>)> = Mutex::new((false, Vec::new()));

/// Prints `text` as `# ` lines on stdout, or holds it until the header is
/// printed when that has not happened yet (scenarios announce their case
/// tables before calling `runner::main`).
pub(super) fn diagnostic_or_hold(text: &str) {
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    if held.0 {
        // One write per text, under the lock, so lines of two texts do not interleave.
        let mut buf = Vec::new();
        let _ = Printer::new(&mut buf).diagnostic(text);
        let _ = io::stdout().lock().write_all(&buf);
    } else {
        held.1.push(text.to_string());
    }
}

/// Marks the header printed and returns the diagnostics held until then.
fn release_held() -> Vec<String> {
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    held.0 = true;
    std::mem::take(&mut held.1)
}

/// Exit status when every trial that ran passed (tools/testing/selftests/kselftest.h).
pub const KSFT_PASS: u8 = 0;
/// Exit status when a trial failed.
pub const KSFT_FAIL: u8 = 1;
/// Exit status when every trial was skipped (nothing ran).
pub const KSFT_SKIP: u8 = 4;

/// Writes KTAP lines to `W`.
pub struct Printer<W: Write> {
    out: W,
}

impl<W: Write> Printer<W> {
    /// A printer writing KTAP to `out`.
    pub fn new(out: W) -> Self {
        Printer { out }
    }

    /// The version line and the plan: `KTAP version 1`, `1..N`; with no
    /// trial to run, kselftest's skip-all plan `1..0 # SKIP reason`.
    pub fn header(&mut self, planned: usize, why_none: &str) -> io::Result<()> {
        writeln!(self.out, "KTAP version 1")?;
        if planned == 0 {
            writeln!(self.out, "1..0 # SKIP {why_none}")?;
        } else {
            writeln!(self.out, "1..{planned}")?;
        }
        self.out.flush()
    }

    /// `text` as diagnostic lines, `# ` before each of its lines.
    pub fn diagnostic(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            if line.is_empty() {
                writeln!(self.out, "#")?;
            } else {
                writeln!(self.out, "# {line}")?;
            }
        }
        Ok(())
    }

    /// The result line of trial `number` (from 1), preceded by a failure's
    /// report as diagnostic lines.
    pub fn result(&mut self, number: usize, name: &str, outcome: &Outcome) -> io::Result<()> {
        let name = description(name);
        match outcome {
            Outcome::Pass => writeln!(self.out, "ok {number} {name}")?,
            Outcome::Skip(why) => {
                let mut lines = why.lines();
                let first = lines.next().unwrap_or("").trim();
                let rest: Vec<&str> = lines.collect();
                self.diagnostic(&rest.join("\n"))?;
                if first.is_empty() {
                    writeln!(self.out, "ok {number} {name} # SKIP")?;
                } else {
                    writeln!(self.out, "ok {number} {name} # SKIP {first}")?;
                }
            }
            Outcome::Fail(why) => {
                self.diagnostic(why)?;
                writeln!(self.out, "not ok {number} {name}")?;
            }
        }
        self.out.flush()
    }

    /// kselftest's closing count line, e.g. `# Totals: pass:3 fail:0 xfail:0 xpass:0 skip:1 error:0`.
    pub fn totals(&mut self, outcomes: &[Outcome]) -> io::Result<()> {
        let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        let pass = count(|o| matches!(o, Outcome::Pass));
        let fail = count(|o| matches!(o, Outcome::Fail(_)));
        let skip = count(|o| matches!(o, Outcome::Skip(_)));
        writeln!(self.out, "# Totals: pass:{pass} fail:{fail} xfail:0 xpass:0 skip:{skip} error:0")?;
        self.out.flush()
    }
}

/// A trial name as a KTAP description, which may hold anything but `#` and newlines.
fn description(name: &str) -> String {
    name.chars().map(|c| if c == '#' || c == '\n' || c == '\r' { '_' } else { c }).collect()
}

/// kselftest's exit status for these outcomes: [`KSFT_FAIL`] if any failed,
/// [`KSFT_SKIP`] if none ran (all skipped, or none selected), else [`KSFT_PASS`].
pub fn exit_status(outcomes: &[Outcome]) -> u8 {
    if outcomes.iter().any(|o| matches!(o, Outcome::Fail(_))) {
        KSFT_FAIL
    } else if outcomes.iter().all(|o| matches!(o, Outcome::Skip(_))) {
        KSFT_SKIP
    } else {
        KSFT_PASS
    }
}

/// Releases outcomes in plan order as they arrive in any order.
struct InOrder {
    next: usize,
    waiting: BTreeMap<usize, Outcome>,
}

impl InOrder {
    fn new() -> Self {
        InOrder { next: 0, waiting: BTreeMap::new() }
    }

    /// Records outcome `index` and returns every outcome now printable, in order.
    fn arrive(&mut self, index: usize, outcome: Outcome) -> Vec<(usize, Outcome)> {
        self.waiting.insert(index, outcome);
        let mut ready = Vec::new();
        while let Some(o) = self.waiting.remove(&self.next) {
            ready.push((self.next, o));
            self.next += 1;
        }
        ready
    }
}

/// Runs the trials `args` selects, printing KTAP to `out`; returns the exit status.
pub(super) fn run(args: &Arguments, trials: Vec<Trial>, preamble: &str, out: impl Write) -> u8 {
    // A scenario for another arch builds no trials (tests/aarch64 on x86_64).
    let why_none = if trials.is_empty() {
        format!("no trials for {} in this binary", crate::arch_name())
    } else {
        "no trial matches the filter".to_string()
    };
    let selected: Vec<Trial> = trials.into_iter().filter(|t| !args.is_filtered_out(t)).collect();
    let names: Vec<String> = selected.iter().map(|t| t.name().to_string()).collect();
    let mut known = Vec::new();
    let mut to_run = Vec::new();
    for (i, t) in selected.iter().enumerate() {
        if args.is_ignored(t) {
            // An ignored trial's kind says why (runner::ignored puts its reason there).
            let why = if t.kind().is_empty() { "ignored".to_string() } else { format!("ignored: {}", t.kind()) };
            known.push((i, Outcome::Skip(why)));
        } else {
            match bodies().take_by_name(t.name()) {
                Some(body) => to_run.push((i, body)),
                None => known.push((
                    i,
                    Outcome::Fail(format!(
                        "`{}` was not made by kvmtest::runner::test, so KTAP mode cannot run it",
                        t.name()
                    )),
                )),
            }
        }
    }

    let mut printer = Printer::new(out);
    // A closed stdout still lets every trial run; the status then says fail.
    let mut printed = printer.header(names.len(), &why_none).and_then(|()| printer.diagnostic(preamble)).is_ok();
    for text in release_held() {
        printed &= printer.diagnostic(&text).is_ok();
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; names.len()];
    let mut order = InOrder::new();
    let mut print_ready = |ready: Vec<(usize, Outcome)>, printer: &mut Printer<_>| {
        for (i, o) in ready {
            printed &= printer.result(i + 1, &names[i], &o).is_ok();
            outcomes[i] = Some(o);
        }
    };
    for (i, o) in known {
        print_ready(order.arrive(i, o), &mut printer);
    }

    let threads = args
        .test_threads
        .or_else(|| std::thread::available_parallelism().ok().map(Into::into))
        .unwrap_or(1)
        .clamp(1, to_run.len().max(1));
    let queue = Mutex::new(to_run.into_iter());
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let queue = &queue;
            let names = &names;
            s.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                let Some((i, body)) = next else { break };
                if tx.send((i, timeout::run(&names[i], body, trial_timeout()))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, o) in rx {
            print_ready(order.arrive(i, o), &mut printer);
        }
    });

    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    printed &= printer.totals(&outcomes).is_ok();
    if printed {
        exit_status(&outcomes)
    } else {
        KSFT_FAIL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(f: impl FnOnce(&mut Printer<&mut Vec<u8>>) -> io::Result<()>) -> String {
        let mut buf = Vec::new();
        f(&mut Printer::new(&mut buf)).expect("writing to a Vec");
        String::from_utf8(buf).expect("KTAP is UTF-8")
    }

    fn args(cmdline: &[&str]) -> Arguments {
        Arguments::from_iter(std::iter::once("test").chain(cmdline.iter().copied()))
    }

    fn run_to_string(cmdline: &[&str], tests: Vec<Trial>) -> (String, u8) {
        let mut buf = Vec::new();
        let status = run(&args(cmdline), tests, "kvmtest: unit test", &mut buf);
        (String::from_utf8(buf).expect("KTAP is UTF-8"), status)
    }

    fn sample() -> Vec<Trial> {
        vec![
            super::super::test("a::pass", || Ok(())),
            super::super::test("a::skip", || Err(crate::Error::Skip("requires KVM_CAP_X86_SMM".into()))),
            super::super::test("b::fail", || {
                Err(crate::Error::Check(
                    "guest assertion failed on vCPU 0 at payloads/src/bin/x.rs:12: a == b\nrip 0x200010".into(),
                ))
            }),
            super::super::test("b::later", || Ok(())).with_ignored_flag(true).with_kind("slow"),
        ]
    }

    #[test]
    fn header_is_version_then_plan() {
        assert_eq!(printed(|p| p.header(3, "unused")), "KTAP version 1\n1..3\n");
    }

    #[test]
    fn pass_and_skip_lines() {
        let text = printed(|p| {
            p.result(1, "ucall::pio::sync::elf", &Outcome::Pass)?;
            p.result(2, "x86::smm", &Outcome::Skip("requires KVM_CAP_X86_SMM".into()))
        });
        assert_eq!(text, "ok 1 ucall::pio::sync::elf\nok 2 x86::smm # SKIP requires KVM_CAP_X86_SMM\n");
    }

    #[test]
    fn failure_report_precedes_not_ok_as_diagnostics() {
        let report =
            "guest assertion failed on vCPU 0 at payloads/src/bin/ucall.rs:31: boot_arg(1) == 42u64\n\nrip 0x200010";
        let text = printed(|p| p.result(4, "ucall::mmio::abort::elf", &Outcome::Fail(report.into())));
        assert_eq!(
            text,
            "# guest assertion failed on vCPU 0 at payloads/src/bin/ucall.rs:31: boot_arg(1) == 42u64\n\
             #\n\
             # rip 0x200010\n\
             not ok 4 ucall::mmio::abort::elf\n"
        );
    }

    #[test]
    fn multiline_skip_reason_keeps_first_line_in_directive() {
        let text = printed(|p| p.result(1, "t", &Outcome::Skip("no /dev/kvm\nset KVMTEST_REQUIRE_KVM=1".into())));
        assert_eq!(text, "# set KVMTEST_REQUIRE_KVM=1\nok 1 t # SKIP no /dev/kvm\n");
    }

    #[test]
    fn hash_in_name_cannot_forge_a_directive() {
        let text = printed(|p| p.result(1, "weird # SKIP name", &Outcome::Fail("boom".into())));
        assert_eq!(text, "# boom\nnot ok 1 weird _ SKIP name\n");
    }

    #[test]
    fn exit_status_follows_kselftest() {
        use Outcome::*;
        assert_eq!(exit_status(&[Pass, Pass]), KSFT_PASS);
        assert_eq!(exit_status(&[Pass, Skip("x".into())]), KSFT_PASS);
        assert_eq!(exit_status(&[Pass, Fail("x".into()), Skip("y".into())]), KSFT_FAIL);
        assert_eq!(exit_status(&[Skip("x".into()), Skip("y".into())]), KSFT_SKIP);
        assert_eq!(exit_status(&[]), KSFT_SKIP);
    }

    #[test]
    fn in_order_releases_only_consecutive_outcomes() {
        let mut o = InOrder::new();
        assert!(o.arrive(1, Outcome::Pass).is_empty());
        assert!(o.arrive(2, Outcome::Pass).is_empty());
        assert_eq!(o.arrive(0, Outcome::Pass).iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(o.arrive(3, Outcome::Pass).len(), 1);
    }

    #[test]
    fn full_run_prints_plan_results_in_order_and_totals() {
        let (text, status) = run_to_string(&["--test-threads", "3"], sample());
        assert_eq!(
            text,
            "KTAP version 1\n\
             1..4\n\
             # kvmtest: unit test\n\
             ok 1 a::pass\n\
             ok 2 a::skip # SKIP requires KVM_CAP_X86_SMM\n\
             # guest assertion failed on vCPU 0 at payloads/src/bin/x.rs:12: a == b\n\
             # rip 0x200010\n\
             not ok 3 b::fail\n\
             ok 4 b::later # SKIP ignored: slow\n\
             # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:2 error:0\n"
        );
        assert_eq!(status, KSFT_FAIL);
    }

    #[test]
    fn filters_and_exact_select_like_libtest() {
        let (text, status) = run_to_string(&["a::"], sample());
        assert!(text.starts_with("KTAP version 1\n1..2\n"), "{text}");
        assert_eq!(status, KSFT_PASS);

        let (text, status) = run_to_string(&["--exact", "a::skip"], sample());
        assert!(text.contains("1..1\n") && text.contains("ok 1 a::skip # SKIP"), "{text}");
        assert_eq!(status, KSFT_SKIP);

        let (text, _) = run_to_string(&["--skip", "b::", "--skip", "a::skip"], sample());
        assert!(text.contains("1..1\n# kvmtest: unit test\nok 1 a::pass\n"), "{text}");
    }

    #[test]
    fn ignored_trials_run_when_asked() {
        let (text, status) = run_to_string(&["--ignored"], sample());
        assert!(text.contains("1..1\n") && text.contains("ok 1 b::later\n"), "{text}");
        assert_eq!(status, KSFT_PASS);
        let (text, _) = run_to_string(&["--include-ignored", "later"], sample());
        assert!(text.contains("ok 1 b::later\n"), "{text}");
    }

    #[test]
    fn panics_become_failures_with_their_location() {
        super::super::install_capturing_panic_hook();
        let tests = vec![super::super::test("p", || panic!("index out of bounds"))];
        let (text, status) = run_to_string(&[], tests);
        assert!(text.contains("# test panicked at harness/src/runner/ktap.rs:"), "{text}");
        assert!(text.contains("index out of bounds\nnot ok 1 p\n"), "{text}");
        assert_eq!(status, KSFT_FAIL);
    }

    #[test]
    fn a_trial_not_made_by_runner_test_fails_loudly() {
        let (text, status) = run_to_string(&[], vec![Trial::test("raw::trial", || Ok(()))]);
        assert!(text.contains("# `raw::trial` was not made by kvmtest::runner::test"), "{text}");
        assert!(text.contains("not ok 1 raw::trial\n"), "{text}");
        assert_eq!(status, KSFT_FAIL);
    }

    #[test]
    fn nothing_selected_is_a_skip() {
        let (text, status) = run_to_string(&["no-such-test"], sample());
        assert!(text.starts_with("KTAP version 1\n1..0 # SKIP no trial matches the filter\n"), "{text}");
        assert_eq!(status, KSFT_SKIP);
        let (text, status) = run_to_string(&[], Vec::new());
        let plan = format!("KTAP version 1\n1..0 # SKIP no trials for {} in this binary\n", crate::arch_name());
        assert!(text.starts_with(&plan), "{text}");
        assert_eq!(status, KSFT_SKIP);
    }
}
