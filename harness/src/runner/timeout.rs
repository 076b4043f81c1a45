//! The per-trial timeout: each trial body runs on a thread of its own, and a
//! trial that has not finished after the timeout (default 120 s,
//! `KVMTEST_TRIAL_TIMEOUT_S` or `--trial-timeout`) fails with its name, the
//! time and where its thread was (in KVM_RUN or on the host, its last ucall).
//! Its thread cannot be stopped: it is left behind, and the process ends
//! when the runner returns from `main`, after the other trials and the summary.
//!
//! A scenario may ask for its trials' threads to be reused
//! ([`super::reuse_trial_threads`]): one long-lived thread per test thread
//! runs the bodies in turn, and is replaced when a trial times out on it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// Whether trial bodies run on reused threads (see the module doc).
static REUSE_THREADS: AtomicBool = AtomicBool::new(false);

pub(super) fn set_reuse_threads() {
    REUSE_THREADS.store(true, Ordering::Relaxed);
}

/// One trial body for a reused thread, and where its outcome goes.
struct Job {
    name: String,
    body: Body,
    record: Arc<Progress>,
    outcome: mpsc::SyncSender<Outcome>,
}

thread_local! {
    /// This test thread's reused trial thread, if it has one.
    static TRIAL_THREAD: RefCell<Option<mpsc::Sender<Job>>> = const { RefCell::new(None) };
}

/// A thread that runs the jobs it is sent, one after the other, until the
/// sender is dropped.
fn spawn_trial_thread() -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new().name("kvmtest-trials".into()).spawn(move || {
        capture_panics_on_this_thread();
        for job in rx {
            name_this_thread(&job.name);
            progress::track_this_thread(job.record);
            // The receiver is gone only after a timeout: nobody wants the result.
            let _ = job.outcome.send(run_body(job.body));
        }
    })?;
    Ok(tx)
}

/// The kernel's name of the calling thread (what the crash report prints),
/// as a trial's own thread would have it: the trial's name, cut to 15 bytes.
fn name_this_thread(name: &str) {
    let mut comm = [0u8; 16];
    let cut = name.len().min(15);
    comm[..cut].copy_from_slice(&name.as_bytes()[..cut]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes,
    // which `comm` is (its last byte stays 0).
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
}

/// Hands `job` to this test thread's reused trial thread, starting one if it
/// has none (or if its thread is gone).
fn send_to_trial_thread(job: Job) -> std::io::Result<()> {
    TRIAL_THREAD.with(|slot| {
        let mut slot = slot.borrow_mut();
        let job = match slot.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let tx = spawn_trial_thread()?;
        let sent = tx.send(job).map_err(|_| std::io::Error::other("the new trial thread ended at once"));
        *slot = Some(tx);
        sent
    })
}

/// Runs `body` of trial `name` on a thread of its own (or this test thread's
/// reused one) and waits at most `timeout` for it.
pub(super) fn run(name: &str, body: Body, timeout: Option<Duration>) -> Outcome {
    run_on(name, body, timeout, REUSE_THREADS.load(Ordering::Relaxed))
}

/// [`run`], on this test thread's reused trial thread if `reuse`.
fn run_on(name: &str, body: Body, timeout: Option<Duration>, reuse: bool) -> Outcome {
    let record = Arc::new(Progress::default());
    let (tx, rx) = mpsc::sync_channel(1);
    let thread_record = record.clone();
    let start = Instant::now();
    if reuse {
        let job = Job { name: name.to_string(), body, record: thread_record, outcome: tx };
        if let Err(e) = send_to_trial_thread(job) {
            return Outcome::Fail(format!("kvmtest: could not start a thread for trial `{name}`: {e}"));
        }
        return wait(name, rx, timeout, start, &record);
    }
    let spawned = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        capture_panics_on_this_thread();
        progress::track_this_thread(thread_record);
        // The receiver is gone only after a timeout: nobody wants the result.
        let _ = tx.send(run_body(body));
    });
    if let Err(e) = spawned {
        return Outcome::Fail(format!("kvmtest: could not start a thread for trial `{name}`: {e}"));
    }
    wait(name, rx, timeout, start, &record)
}

/// Waits at most `timeout` for trial `name`'s outcome on `rx`.
fn wait(
    name: &str,
    rx: mpsc::Receiver<Outcome>,
    timeout: Option<Duration>,
    start: Instant,
    record: &Progress,
) -> Outcome {
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
            // A reused thread stuck in this trial runs no other: the next
            // trial gets a new one.
            TRIAL_THREAD.with(|slot| slot.borrow_mut().take());
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
    fn a_reused_thread_runs_trials_in_turn_and_a_stuck_one_is_replaced() {
        let thread_of = |name: &str| {
            let (tx, rx) = mpsc::channel();
            let body: Body = Box::new(move || {
                let _ = tx.send(std::thread::current().id());
                Ok(())
            });
            assert_eq!(run_on(name, body, Some(Duration::from_secs(5)), true), Outcome::Pass);
            rx.recv().expect("the body ran")
        };
        let first = thread_of("unit::reused_a");
        assert_ne!(first, std::thread::current().id(), "a body runs on a trial thread");
        assert_eq!(thread_of("unit::reused_b"), first, "the next trial reuses the thread");
        let failing: Body = Box::new(|| Err(crate::Error::Check("expected 1, got 2".into())));
        assert_eq!(
            run_on("unit::reused_fail", failing, Some(Duration::from_secs(5)), true),
            Outcome::Fail("expected 1, got 2".into())
        );
        let stuck: Body = Box::new(|| loop {
            std::thread::sleep(Duration::from_secs(3600));
        });
        let Outcome::Fail(why) = run_on("unit::reused_stuck", stuck, Some(Duration::from_millis(200)), true) else {
            panic!("a stuck trial must fail")
        };
        assert!(why.contains("trial `unit::reused_stuck` timed out"), "{why}");
        let after = thread_of("unit::reused_c");
        assert_ne!(after, first, "the stuck thread is left behind, a new one runs the next trial");
        assert_eq!(thread_of("unit::reused_d"), after);
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
