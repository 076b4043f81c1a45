//! The test runner every test binary uses: libtest-mimic trials whose body
//! returns `kvmtest::Result<()>`, run under the libtest command line
//! (filters, `--exact`, `--list`, `--skip`, `--ignored`, `--test-threads`).
//!
//! Two output formats: libtest's (the default, for `cargo test` and
//! `cargo nextest`), and KTAP v1 for kernel CI when `KVMTEST_FORMAT=ktap`
//! (see [`ktap`]). A skip error (missing capability, missing /dev/kvm without
//! `KVMTEST_REQUIRE_KVM=1`) is reported as *ignored* / `# SKIP` with its
//! reason, never a pass; any other error fails the trial with its message.

mod cmdline;
mod crash;
pub mod ktap;
mod timeout;

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use libtest_mimic::Completion;
pub use libtest_mimic::Trial;

use crate::Result;

pub use cmdline::TESTS_FROM_FLAG;
pub use timeout::{abandoned_trials, DEFAULT_TRIAL_TIMEOUT, TRIAL_TIMEOUT_ENV, TRIAL_TIMEOUT_FLAG};

/// Environment variable choosing the output format: `ktap` (kernel CI) or
/// `libtest` (the default).
pub const FORMAT_ENV: &str = "KVMTEST_FORMAT";

/// A trial's body.
type Body = Box<dyn FnOnce() -> Result<()> + Send>;

/// The bodies of the trials [`test`] made. libtest-mimic keeps a `Trial`'s
/// runner private, so KTAP mode, which prints its own format and so cannot
/// hand trials to libtest-mimic, finds each body here by the trial's name.
/// Scenarios keep building plain `Vec<Trial>`s either way.
#[derive(Default)]
struct Bodies {
    slots: Vec<Option<Body>>,
    by_name: HashMap<String, Vec<usize>>,
}

fn bodies() -> std::sync::MutexGuard<'static, Bodies> {
    static BODIES: OnceLock<Mutex<Bodies>> = OnceLock::new();
    BODIES.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner)
}

impl Bodies {
    fn add(&mut self, name: &str, body: Body) -> usize {
        self.slots.push(Some(body));
        let id = self.slots.len() - 1;
        self.by_name.entry(name.to_string()).or_default().push(id);
        id
    }

    fn take(&mut self, id: usize) -> Option<Body> {
        self.slots.get_mut(id)?.take()
    }

    /// The first body named `name` that has not run yet.
    fn take_by_name(&mut self, name: &str) -> Option<Body> {
        let ids = self.by_name.get(name)?.clone();
        ids.into_iter().find_map(|id| self.take(id))
    }
}

/// A trial named `name` running `body`.
pub fn test(name: impl Into<String>, body: impl FnOnce() -> Result<()> + Send + 'static) -> Trial {
    let name = name.into();
    let id = bodies().add(&name, Box::new(body));
    Trial::ignorable_test(name.clone(), move || {
        let body = bodies().take(id).ok_or("kvmtest: this trial's body has already run")?;
        match timeout::run(&name, body, trial_timeout()) {
            Outcome::Pass => Ok(Completion::Completed),
            Outcome::Skip(why) => Ok(Completion::ignored_with(format!("SKIP: {why}"))),
            Outcome::Fail(why) => Err(why.into()),
        }
    })
}

/// A trial that reports itself skipped with `reason` (e.g. a scenario for
/// another arch), so it is listed and counted, never passed.
pub fn skipped(name: impl Into<String>, reason: impl Into<String>) -> Trial {
    let reason = reason.into();
    test(name, move || Err(crate::Error::Skip(reason)))
}

/// The test threads when the command line names none; 0: libtest's
/// default, one per CPU.
static DEFAULT_TEST_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many test threads [`main`] uses when the command line does not
/// say (`--test-threads`; libtest's default is one per CPU). For a scenario
/// whose trials all report from one shared run (pv_features): its other
/// threads would only wait, and each costs time in an emulated machine.
pub fn set_default_test_threads(threads: usize) {
    DEFAULT_TEST_THREADS.store(threads, Ordering::Relaxed);
}

/// Runs the trials' bodies on one long-lived thread per test thread, in
/// turn, instead of a new thread each (a trial that times out keeps its
/// thread, and the next trial gets a new one). For a scenario whose trials
/// leave nothing on their thread (no pinning, no signal mask, no
/// thread-locals) and are many and quick: pv_features, whose 46 trials
/// read the verdicts of its shared runs, where a thread per trial cost
/// about 1.5 ms each in the emulated machines.
pub fn reuse_trial_threads() {
    timeout::set_reuse_threads();
}

/// The per-trial timeout [`main`] read from the command line and the
/// environment; `None`: no timeout.
static TRIAL_TIMEOUT: OnceLock<Option<std::time::Duration>> = OnceLock::new();

fn trial_timeout() -> Option<std::time::Duration> {
    *TRIAL_TIMEOUT.get_or_init(|| Some(DEFAULT_TRIAL_TIMEOUT))
}

/// Prints a scenario's text (its table of cases before its trials run, or
/// what a trial found), unless the command line only lists the trials
/// (`--list` output stays parseable). In KTAP mode the lines are `# `
/// diagnostics, and text given before the KTAP header is held until it
/// has been printed: nothing may precede `KTAP version 1`.
pub fn announce(text: impl std::fmt::Display) {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if ktap_output() {
        ktap::diagnostic_or_hold(&text.to_string());
    } else {
        println!("{text}");
    }
}

/// A line a guest printed (PRINTF): `[guest vCPU n] line` on stdout, a `# `
/// diagnostic in KTAP mode.
pub(crate) fn guest_output(vcpu: usize, line: &str) {
    let text = format!("[guest vCPU {vcpu}] {line}");
    if ktap_output() {
        ktap::diagnostic_or_hold(&text);
    } else {
        println!("{text}");
    }
}

/// How one trial ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Ran and passed.
    Pass,
    /// Not run, with the reason (a missing capability, an ignored trial).
    Skip(String),
    /// Failed, with the full failure report (may span several lines).
    Fail(String),
}

thread_local! {
    /// Set on threads whose panics are reported as the trial's failure
    /// rather than printed (KTAP mode keeps stdout pure KTAP).
    static CAPTURED_PANIC: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Runs a trial body, turning errors and panics into an [`Outcome`].
fn run_body(body: Body) -> Outcome {
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => Outcome::Pass,
        Ok(Err(e)) if e.is_skip() => Outcome::Skip(e.to_string()),
        Ok(Err(e)) => Outcome::Fail(e.to_string()),
        Err(payload) => {
            let captured = CAPTURED_PANIC.with(|c| c.borrow_mut().as_mut().and_then(Option::take));
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string panic payload)");
            Outcome::Fail(captured.unwrap_or_else(|| format!("test panicked: {message}")))
        }
    }
}

/// Makes panics on the calling thread be captured for [`run_body`] instead
/// of printed; other threads keep the previous panic hook.
fn capture_panics_on_this_thread() {
    CAPTURED_PANIC.with(|c| *c.borrow_mut() = Some(None));
}

fn install_capturing_panic_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let captured = CAPTURED_PANIC.with(|c| match c.borrow_mut().as_mut() {
            Some(slot) => {
                *slot = Some(format!("test {info}"));
                true
            }
            None => false,
        });
        if !captured {
            previous(info);
        }
    }));
}

/// Which output the binary was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Libtest,
    Ktap,
}

fn format_from_env() -> std::result::Result<Format, String> {
    match std::env::var(FORMAT_ENV) {
        Err(_) => Ok(Format::Libtest),
        Ok(v) if v.is_empty() || v == "libtest" => Ok(Format::Libtest),
        Ok(v) if v == "ktap" => Ok(Format::Ktap),
        Ok(v) => Err(format!("kvmtest: {FORMAT_ENV}={v} is not a format (ktap or libtest)")),
    }
}

/// True when this binary prints KTAP (`KVMTEST_FORMAT=ktap`): anything a
/// scenario prints to stdout must then be a `# ` diagnostic line.
pub fn ktap_output() -> bool {
    format_from_env() == Ok(Format::Ktap)
}

/// One line saying which KVM the trials run on, or why they cannot.
fn backend_line() -> String {
    match crate::kvm::backend() {
        Ok(b) => format!("kvmtest: {} guests on {b}", crate::arch_name()),
        Err(e) if crate::kvm::kvm_required() => {
            format!("kvmtest: {e}; KVMTEST_REQUIRE_KVM=1, so every test that needs KVM fails")
        }
        Err(e) => {
            format!("kvmtest: {e}; tests that need KVM are skipped (KVMTEST_REQUIRE_KVM=1 makes this a failure)")
        }
    }
}

/// Runs `trials` under the libtest command line, in the format
/// `KVMTEST_FORMAT` asks for, after saying which KVM they run on.
///
/// Beyond libtest's command line: several name filters (a trial matching
/// any runs), `--tests-from FILE` (exact names, one a line) and
/// `--trial-timeout SECS` (or `KVMTEST_TRIAL_TIMEOUT_S`; default 120 s,
/// `off` for none). A trial over its timeout fails with where its thread was;
/// the binary still runs the others and prints its summary.
pub fn main(trials: Vec<Trial>) -> ExitCode {
    crash::install();
    let setup = || -> std::result::Result<_, String> {
        let cmdline = cmdline::parse(std::env::args_os().collect())?;
        let format = format_from_env()?;
        let timeout = timeout::from_flag_or_env(cmdline.trial_timeout.as_deref())?;
        let trials = cmdline.selection.apply(trials)?;
        Ok((cmdline.args, format, timeout, trials))
    };
    let (mut args, format, timeout, trials) = match setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(ktap::KSFT_FAIL);
        }
    };
    let _ = TRIAL_TIMEOUT.set(timeout);
    let default_threads = DEFAULT_TEST_THREADS.load(Ordering::Relaxed);
    if args.test_threads.is_none() && default_threads > 0 {
        args.test_threads = Some(default_threads);
    }
    // `--list` keeps libtest's format in both modes: nextest and scripts parse it.
    let status = if format == Format::Ktap && !args.list {
        install_capturing_panic_hook();
        ExitCode::from(ktap::run(&args, trials, &backend_line(), std::io::stdout()))
    } else {
        if !args.list {
            eprintln!("{}", backend_line());
        }
        libtest_mimic::run(&args, trials).exit_code()
    };
    let stuck = abandoned_trials();
    if stuck > 0 {
        // Returning from main ends the process, and the stuck threads with it.
        eprintln!("kvmtest: {stuck} trial(s) timed out and their threads are still running: exiting");
    }
    status
}

/// A trial that runs only under `--ignored` or `--include-ignored` (a soak,
/// a long stress run). `reason` says why and how to run it; it is shown as
/// the trial's kind: `test [reason] name ... ignored`.
pub fn ignored(
    name: impl Into<String>,
    reason: &'static str,
    body: impl FnOnce() -> Result<()> + Send + 'static,
) -> Trial {
    test(name, body).with_ignored_flag(true).with_kind(reason)
}
