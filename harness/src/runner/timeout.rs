//! The per-trial timeout: each trial body runs on a thread of its own, and a
//! trial that has not finished after the timeout (default 120 s,
//! `KVMTEST_TRIAL_TIMEOUT_S` or `--trial-timeout`) fails with its name, the
//! time and where its thread was (in KVM_RUN or on the host, its last ucall).
//! Its thread cannot be stopped: it is left behind, and the process ends
//! when the runner returns from `main`, after the other trials and the summary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::{capture_panics_on_this_thread, run_body, Body, Outcome};
use crate::progress::{self, Progress};

/// Environment variable with the per-trial timeout in seconds, or `off`.
pub const TRIAL_TIMEOUT_ENV: &str = "KVMTEST_TRIAL_TIMEOUT_S";

/// The command-line flag with the same meaning; it wins over the variable.
pub const TRIAL_TIMEOUT_FLAG: &str = "--trial-timeout";

/// The per-trial timeout when neither the variable nor the flag sets one.
pub const DEFAULT_TRIAL_TIMEOUT: Duration = Duration::from_secs(120);

/// How many trials timed out and left their thread running.
static ABANDONED: AtomicUsize = AtomicUsize::new(0);

/// The number of trials whose thread is still running after their timeout.
pub fn abandoned_trials() -> usize {
    ABANDONED.load(Ordering::Relaxed)
}

/// The timeout `value` asks for, from `source` (the variable or the flag):
/// a positive number of seconds, or `off` (`None`: no timeout). Anything
/// else is an error naming `source`, never silently the default.
pub(super) fn parse(source: &str, value: &str) -> Result<Option<Duration>, String> {
    if value == "off" {
        return Ok(None);
    }
    match value.parse::<u64>() {
        Ok(s) if s > 0 => Ok(Some(Duration::from_secs(s))),
        _ => Err(format!(
            "kvmtest: {source}={value:?}: expected the per-trial timeout as a positive number of seconds, \
             or `off` for none (e.g. under a debugger)"
        )),
    }
}

/// The timeout from `flag` (the command line's value, if given), else the
/// environment, else [`DEFAULT_TRIAL_TIMEOUT`].
pub(super) fn from_flag_or_env(flag: Option<&str>) -> Result<Option<Duration>, String> {
    if let Some(v) = flag {
        return parse(TRIAL_TIMEOUT_FLAG, v);
    }
    match std::env::var(TRIAL_TIMEOUT_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(Some(DEFAULT_TRIAL_TIMEOUT)),
        Err(std::env::VarError::NotUnicode(v)) => parse(TRIAL_TIMEOUT_ENV, &v.to_string_lossy()),
        Ok(v) => parse(TRIAL_TIMEOUT_ENV, &v),
    }
}

/// Runs `body` of trial `name` on a thread of its own and waits at most
/// `timeout` for it.
pub(super) fn run(name: &str, body: Body, timeout: Option<Duration>) -> Outcome {
    let record = Arc::new(Progress::default());
    let (tx, rx) = mpsc::sync_channel(1);
    let thread_record = record.clone();
    let start = Instant::now();
    let spawned = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        capture_panics_on_this_thread();
        progress::track_this_thread(thread_record);
        // The receiver is gone only after a timeout: nobody wants the result.
        let _ = tx.send(run_body(body));
    });
    if let Err(e) = spawned {
        return Outcome::Fail(format!("kvmtest: could not start a thread for trial `{name}`: {e}"));
    }
    let received = match timeout {
        None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        Some(t) => rx.recv_timeout(t),
    };
    match received {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Outcome::Fail(format!("kvmtest: trial `{name}`'s thread ended without a result"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            ABANDONED.fetch_add(1, Ordering::Relaxed);
            let limit = timeout.unwrap_or_default().as_secs();
            Outcome::Fail(format!(
                "kvmtest: trial `{name}` timed out: still running after {:.1} s (the per-trial timeout is {limit} s: \
                 {TRIAL_TIMEOUT_ENV} or {TRIAL_TIMEOUT_FLAG} SECS, `off` for none)\n\
                 its thread was {}\n\
                 (a guest that spins is stopped by the per-ucall watchdog, KVMTEST_TIMEOUT_MS; on the host, look for a \
                 deadlock or a blocking call after that point). The thread is left running; the binary ends after the \
                 other trials.",
                start.elapsed().as_secs_f64(),
                record.describe(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_or_off_and_names_the_source() {
        assert_eq!(parse("X", "5"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(parse("X", "off"), Ok(None));
        for bad in ["", "0", "-1", "1.5", "abc"] {
            let e = parse(TRIAL_TIMEOUT_ENV, bad).expect_err(bad);
            assert!(e.contains(&format!("{TRIAL_TIMEOUT_ENV}={bad:?}: expected")), "{e}");
        }
        assert_eq!(from_flag_or_env(Some("7")), Ok(Some(Duration::from_secs(7))));
    }

    #[test]
    fn a_stuck_trial_fails_with_its_name_and_the_others_finish() {
        let stuck: Body = Box::new(|| loop {
            std::thread::sleep(Duration::from_secs(3600));
        });
        let start = Instant::now();
        let Outcome::Fail(why) = run("unit::stuck", stuck, Some(Duration::from_millis(200))) else {
            panic!("a stuck trial must fail")
        };
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(why.contains("trial `unit::stuck` timed out: still running after 0."), "{why}");
        assert!(why.contains("its thread was on the host and had not run a vCPU"), "{why}");
        assert!(abandoned_trials() >= 1);
        assert_eq!(run("unit::quick", Box::new(|| Ok(())), Some(Duration::from_secs(5))), Outcome::Pass);
    }
}
