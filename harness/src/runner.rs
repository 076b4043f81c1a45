//! The test runner every test binary uses: libtest-mimic trials whose body
//! returns `kvmtest::Result<()>`. A skip error (missing capability, missing
//! /dev/kvm without `KVMTEST_REQUIRE_KVM=1`) becomes an *ignored* trial with
//! its reason, never a pass; any other error fails the trial with its message.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Trial};

use crate::Result;

/// A trial named `name` running `body`.
pub fn test(name: impl Into<String>, body: impl FnOnce() -> Result<()> + Send + 'static) -> Trial {
    Trial::ignorable_test(name, move || match body() {
        Ok(()) => Ok(Completion::Completed),
        Err(e) if e.is_skip() => Ok(Completion::ignored_with(format!("SKIP: {e}"))),
        Err(e) => Err(e.to_string().into()),
    })
}

/// Runs `trials` under the libtest command line (filters, `--list`,
/// `--exact`, `--test-threads`), after saying which KVM they run on.
pub fn main(trials: Vec<Trial>) -> ExitCode {
    let args = Arguments::from_args();
    if !args.list {
        match crate::kvm::backend() {
            Ok(b) => eprintln!("kvmtest: {} guests on {b}", crate::arch_name()),
            Err(e) if crate::kvm::kvm_required() => {
                eprintln!("kvmtest: {e}; KVMTEST_REQUIRE_KVM=1, so every test that needs KVM fails")
            }
            Err(e) => {
                eprintln!("kvmtest: {e}; tests that need KVM are skipped (KVMTEST_REQUIRE_KVM=1 makes this a failure)")
            }
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
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
