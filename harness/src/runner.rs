//! The test runner every test binary uses: trials whose body returns
//! `kvmtest::Result<()>`, run under the libtest command line (filters,
//! `--exact`, `--list`, `--skip`, `--ignored`, `--test-threads`).
//!
//! Two output formats: libtest's (the default, for `cargo test` and
//! `cargo nextest`), and KTAP v1 for kernel CI when `KVMTEST_FORMAT=ktap`
//! (see [`ktap`]). A skip error (missing capability, missing /dev/kvm without
//! `KVMTEST_REQUIRE_KVM=1`) is reported as *ignored* / `# SKIP` with its
//! reason, never a pass; any other error fails the trial with its message.

pub mod ktap;

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Trial};

use crate::Result;

/// Environment variable choosing the output format: `ktap` (kernel CI) or
/// `libtest` (the default).
pub const FORMAT_ENV: &str = "KVMTEST_FORMAT";

/// One trial: a name, a body, and whether it is ignored unless asked for.
pub struct Test {
    name: String,
    ignored: Option<String>,
    body: Box<dyn FnOnce() -> Result<()> + Send>,
}

/// A trial named `name` running `body`.
pub fn test(name: impl Into<String>, body: impl FnOnce() -> Result<()> + Send + 'static) -> Test {
    Test { name: name.into(), ignored: None, body: Box::new(body) }
}

impl Test {
    /// The trial's name, as filters and `--exact` see it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Marks the trial as not run by default (like `#[ignore = "reason"]`):
    /// it runs with `--ignored` or `--include-ignored`, and is otherwise
    /// reported as ignored / `# SKIP reason`.
    pub fn ignored(mut self, reason: impl Into<String>) -> Self {
        self.ignored = Some(reason.into());
        self
    }

    /// The libtest-mimic trial (used for libtest output and for matching
    /// filters exactly as libtest-mimic does).
    fn into_trial(self) -> Trial {
        let ignored = self.ignored.is_some();
        let body = self.body;
        Trial::ignorable_test(self.name, move || match run_body(body) {
            Outcome::Pass => Ok(Completion::Completed),
            Outcome::Skip(why) => Ok(Completion::ignored_with(format!("SKIP: {why}"))),
            Outcome::Fail(why) => Err(why.into()),
        })
        .with_ignored_flag(ignored)
    }

    /// A body-less trial with the same name and ignored flag, for asking
    /// [`Arguments`] whether this trial is filtered out or ignored.
    fn probe(&self) -> Trial {
        Trial::test(self.name.clone(), || Ok(())).with_ignored_flag(self.ignored.is_some())
    }
}

/// How one trial ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
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
fn run_body(body: Box<dyn FnOnce() -> Result<()> + Send>) -> Outcome {
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

/// Runs `tests` under the libtest command line, in the format
/// `KVMTEST_FORMAT` asks for, after saying which KVM they run on.
pub fn main(tests: Vec<Test>) -> ExitCode {
    let args = Arguments::from_args();
    let format = match format_from_env() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(ktap::KSFT_FAIL);
        }
    };
    // `--list` keeps libtest's format in both modes: nextest and scripts parse it.
    if format == Format::Ktap && !args.list {
        install_capturing_panic_hook();
        return ExitCode::from(ktap::run(&args, tests, &backend_line(), std::io::stdout()));
    }
    if !args.list {
        eprintln!("{}", backend_line());
    }
    libtest_mimic::run(&args, tests.into_iter().map(Test::into_trial).collect()).exit_code()
}
