//! `cargo xtask test [-- ARGS]`: the README's test command, `cargo test
//! --workspace --no-fail-fast` on this host's /dev/kvm; extra arguments go to
//! the test binaries. The output is shown as it comes and kept per binary in
//! `target/kvmtest-results/` (results.rs); the run ends with the failed
//! trials by name, and off a terminal a progress line every 10 s.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::results::{self, BinaryRun, Verdict};
use crate::util::root;
use crate::Result;

/// How often a progress line is printed when the output is not a terminal.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Run the whole suite on this host's /dev/kvm
///
/// Keeps each binary's log and a summary in target/kvmtest-results/<UTC time>[-label]/.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// A label for the results directory (target/kvmtest-results/<UTC time>-LABEL)
    #[arg(long)]
    pub label: Option<String>,
    /// Arguments for the test binaries (libtest's: filters, --exact, ...)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub test_args: Vec<String>,
}

pub fn test(args: &Args) -> Result {
    let dir = results::new_run_dir(&results::results_root(), args.label.as_deref())?;
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["test", "--workspace", "--no-fail-fast"]);
    if !args.test_args.is_empty() {
        cmd.arg("--").args(args.test_args.iter().filter(|a| *a != "--"));
    }
    let (binaries, success) = run_split(cmd, true)?;
    let title = format!("cargo xtask test {}", args.test_args.join(" "));
    results::write_run(&dir, title.trim_end(), &binaries)?;
    println!();
    for line in results::closing_lines("test", &dir, &binaries) {
        println!("{line}");
    }
    if success {
        Ok(())
    } else {
        Err(format!("cargo test failed; see {}", dir.join("summary.md").display()))
    }
}

/// Progress so far, for the heartbeat.
#[derive(Default)]
struct Progress {
    binary: String,
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// Runs `cmd` (cargo test) with stdout and stderr on one pipe, printing each
/// line as it comes and cutting the output into one [`BinaryRun`] per test
/// binary at cargo's `Running` / `Doc-tests` lines (`echo`: print them, and
/// the heartbeat off a terminal). Returns them and whether
/// cargo succeeded.
fn run_split(mut cmd: Command, echo: bool) -> Result<(Vec<BinaryRun>, bool)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`, which we own from here on.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created by pipe2 and nothing else owns them.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let write_err = write_end.try_clone().map_err(|e| format!("dup: {e}"))?;
    cmd.stdout(Stdio::from(write_end)).stderr(Stdio::from(write_err)).stdin(Stdio::null());
    eprintln!("+ {cmd:?}");
    let mut child = cmd.spawn().map_err(|e| format!("running cargo test: {e}"))?;
    // The pipe's write ends now live in the child only: EOF when it exits.
    drop(cmd);

    let progress = Arc::new(Mutex::new(Progress { binary: "(building)".into(), ..Progress::default() }));
    let (stop, stopped) = mpsc::channel::<()>();
    let heartbeat = (echo && !std::io::stdout().is_terminal()).then(|| {
        let progress = progress.clone();
        let start = Instant::now();
        std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT) {
                let p = progress.lock().unwrap_or_else(PoisonError::into_inner);
                println!(
                    "test: [{:.0} s] running {}; so far {} passed, {} failed, {} skipped",
                    start.elapsed().as_secs_f64(),
                    p.binary,
                    p.passed,
                    p.failed,
                    p.skipped
                );
            }
        })
    });

    let mut binaries = vec![BinaryRun::new("cargo-build")];
    let mut reader = BufReader::new(std::fs::File::from(read_end));
    let mut raw = Vec::new();
    let stdout = std::io::stdout();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("reading cargo test's output: {e}")),
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        if echo {
            let _ = writeln!(stdout.lock(), "{line}");
        }
        if let Some(name) = binary_started(line) {
            progress.lock().unwrap_or_else(PoisonError::into_inner).binary = name.clone();
            binaries.push(BinaryRun::new(name));
        }
        let current = binaries.last_mut().expect("the build log is always there");
        if line.starts_with("error: test failed") {
            current.failed = true;
            current.trouble = Some(line.trim_start_matches("error: ").to_string());
        }
        if let Some((_, verdict)) = current.feed(line) {
            let mut p = progress.lock().unwrap_or_else(PoisonError::into_inner);
            match verdict {
                Verdict::Pass => p.passed += 1,
                Verdict::Fail => p.failed += 1,
                Verdict::Skip(_) => p.skipped += 1,
            }
        }
    }
    let status = child.wait().map_err(|e| format!("waiting for cargo test: {e}"))?;
    drop(stop);
    if let Some(h) = heartbeat {
        let _ = h.join();
    }
    // A build that failed before any binary ran is a failure of its own.
    binaries[0].failed = !status.success() && binaries.len() == 1;
    Ok((binaries, status.success()))
}

/// The binary a cargo line announces: `Running tests/ucall.rs
/// (target/debug/deps/ucall-1a2b)` → `ucall`, `Doc-tests kvmtest` → `doc-tests-kvmtest`.
fn binary_started(line: &str) -> Option<String> {
    let t = line.trim_start();
    if let Some(krate) = t.strip_prefix("Doc-tests ") {
        return Some(format!("doc-tests-{}", krate.trim()));
    }
    let rest = t.strip_prefix("Running ")?;
    let path = rest.rsplit_once('(').map_or(rest, |(_, p)| p.trim_end_matches(')'));
    let file = path.rsplit('/').next()?;
    let name = match file.rsplit_once('-') {
        Some((n, hash)) if hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit()) => n,
        _ => file,
    };
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_lines_name_the_binaries() {
        assert_eq!(
            binary_started("     Running tests/ucall.rs (target/debug/deps/ucall-1a2b3c4d5e6f7a8b)").as_deref(),
            Some("ucall")
        );
        assert_eq!(
            binary_started("     Running unittests src/lib.rs (target/debug/deps/kvmtest-0123456789abcdef)").as_deref(),
            Some("kvmtest")
        );
        assert_eq!(binary_started("   Doc-tests kvmtest_abi").as_deref(), Some("doc-tests-kvmtest_abi"));
        assert_eq!(binary_started("test a ... ok"), None);
    }

    #[test]
    fn output_is_cut_per_binary_with_failed_trials_named() {
        let script = "echo '   Compiling x'; \
                      echo '     Running tests/ucall.rs (target/debug/deps/ucall-0123456789abcdef)'; \
                      echo 'test ucall::a ... ok'; echo 'test ucall::b ... FAILED' >&2; \
                      echo 'error: test failed, to rerun pass `--test ucall`'; \
                      echo '     Running tests/selftest.rs (target/debug/deps/selftest-0123456789abcdef)'; \
                      echo 'test s::c ... ignored (SKIP: no SMM)'; exit 101";
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        let (binaries, success) = run_split(cmd, false).expect("run");
        assert!(!success);
        let names: Vec<&str> = binaries.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["cargo-build", "ucall", "selftest"]);
        assert_eq!(binaries[1].lines.len(), 4, "{:?}", binaries[1].lines);
        assert!(binaries[1].failed && !binaries[2].failed && !binaries[0].failed);
        let failed = results::failures(&binaries);
        assert_eq!(failed, [("ucall::b".to_string(), "ucall.log".to_string())]);
    }
}
