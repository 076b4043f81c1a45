//! `cargo xtask test [-- ARGS]`: the README's test command, `cargo test
//! --workspace --no-fail-fast` on this host's /dev/kvm; extra arguments go to
//! the test binaries. The output is shown as it comes and kept per binary in
//! `target/kvmtest-results/` (results.rs); the run ends with the failed
//! trials by name, and off a terminal a progress line every 10 s.
//! `--without-kvm hidden|unprivileged` runs the built suite the way a new
//! user without KVM access would: every trial must skip, none fail.
//! Ctrl-C stops cargo and the test binaries (their process group), keeps
//! what finished with the running binary's other trials marked interrupted,
//! and exits 130 (xtask/tests/interrupt.rs).

use std::ffi::CString;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::interrupt;
use crate::results::{self, BinaryRun, Verdict};
use crate::util::libtest_count as count;
use crate::util::{cargo_executables, root};
use crate::Result;

/// The trial counts of this process's last `cargo xtask test` (passed,
/// failed, skipped), for `ci`'s closing line.
pub static LAST_TRIAL_COUNTS: Mutex<Option<(usize, usize, usize)>> = Mutex::new(None);

/// How often a progress line is printed when the output is not a terminal.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Run the whole suite on this host's /dev/kvm
///
/// Keeps each binary's log and a summary in target/kvmtest-results/<UTC time>[-label]/.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Run the built suite without access to KVM instead (root only):
    /// `hidden` in a mount namespace with no /dev/kvm, `unprivileged` as
    /// user nobody (EACCES on /dev/kvm). Fails if any trial fails.
    #[arg(long, value_enum, value_name = "HOW")]
    pub without_kvm: Option<WithoutKvm>,
    /// A label for the results directory (target/kvmtest-results/<UTC time>-LABEL)
    #[arg(long)]
    pub label: Option<String>,
    /// Run this program instead of cargo (xtask's own tests: a fake cargo)
    #[arg(long, hide = true, value_name = "PATH")]
    pub cargo: Option<PathBuf>,
    /// Keep the results under DIR instead of target/kvmtest-results (xtask's own tests)
    #[arg(long, hide = true, value_name = "DIR")]
    pub results_root: Option<PathBuf>,
    /// Arguments for the test binaries (libtest's: filters, --exact, ...)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub test_args: Vec<String>,
}

/// How `--without-kvm` takes KVM away.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutKvm {
    /// /dev/kvm absent: a private mount namespace whose /dev holds only null, zero, full, random, urandom, tty.
    Hidden,
    /// /dev/kvm present but not openable: the binaries run as nobody:nogroup.
    Unprivileged,
}

pub fn test(args: &Args) -> Result {
    if let Some(how) = args.without_kvm {
        return test_without_kvm(how, &args.test_args);
    }
    let results_root = args.results_root.clone().unwrap_or_else(results::results_root);
    let dir = results::new_run_dir(&results_root, args.label.as_deref())?;
    let mut cmd = Command::new(args.cargo.as_deref().unwrap_or(Path::new(env!("CARGO"))));
    cmd.current_dir(root()).args(["test", "--workspace", "--no-fail-fast"]);
    let test_args: Vec<&String> = args.test_args.iter().filter(|a| *a != "--").collect();
    if !test_args.is_empty() {
        cmd.arg("--").args(&test_args);
    }
    let (mut binaries, success) = run_split(cmd, true)?;
    let unfinished = if interrupt::interrupted() { mark_interrupted(&mut binaries, &test_args) } else { None };
    let title = format!("cargo xtask test {}", args.test_args.join(" "));
    results::write_run(&dir, title.trim_end(), &binaries)?;
    println!();
    for line in results::closing_lines("test", &dir, &binaries) {
        println!("{line}");
    }
    if let Some(line) = unfinished {
        println!("{line}");
    }
    let (passed, failed, skipped) = results::trial_counts(&binaries);
    *LAST_TRIAL_COUNTS.lock().unwrap_or_else(PoisonError::into_inner) = Some((passed, failed, skipped));
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
    // Cargo and the test binaries it starts in a process group of their
    // own, so Ctrl-C (crate::interrupt) stops all of them.
    interrupt::own_process_group(&mut cmd);
    let base = cmd.get_current_dir().map(Path::to_path_buf).unwrap_or_default();
    let mut child = cmd.spawn().map_err(|e| format!("running cargo test: {e}"))?;
    let watched = interrupt::watch(&child, true);
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
        if let Some((name, exe)) = binary_started(line) {
            progress.lock().unwrap_or_else(PoisonError::into_inner).binary = name.clone();
            let mut b = BinaryRun::new(name);
            b.executable = exe.map(|e| base.join(e));
            binaries.push(b);
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
                Verdict::Interrupted => {}
            }
        }
    }
    let status = child.wait().map_err(|e| format!("waiting for cargo test: {e}"))?;
    drop(watched);
    drop(stop);
    if let Some(h) = heartbeat {
        let _ = h.join();
    }
    // A build that failed before any binary ran is a failure of its own.
    binaries[0].failed = !status.success() && binaries.len() == 1;
    Ok((binaries, status.success()))
}

/// The binary a cargo line announces and its executable (relative to
/// cargo's directory): `Running tests/ucall.rs (target/debug/deps/ucall-1a2b)`
/// → `ucall`, `Doc-tests kvmtest` → `doc-tests-kvmtest` (no executable).
fn binary_started(line: &str) -> Option<(String, Option<PathBuf>)> {
    let t = line.trim_start();
    if let Some(krate) = t.strip_prefix("Doc-tests ") {
        return Some((format!("doc-tests-{}", krate.trim()), None));
    }
    let rest = t.strip_prefix("Running ")?;
    let path = rest.rsplit_once('(').map_or(rest, |(_, p)| p.trim_end_matches(')'));
    let file = path.rsplit('/').next()?;
    let name = match file.rsplit_once('-') {
        Some((n, hash)) if hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit()) => n,
        _ => file,
    };
    Some((name.to_string(), Some(PathBuf::from(path))))
}

/// How long listing the interrupted binary's trials may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(4);

/// After Ctrl-C: the binary that was running (no `test result:` line yet)
/// is marked interrupted and its trials that had not finished are added as
/// [`Verdict::Interrupted`], named by its own `--list` (with the same
/// filters). Returns the line that says so.
fn mark_interrupted(binaries: &mut [BinaryRun], test_args: &[&String]) -> Option<String> {
    let b = match binaries.last_mut() {
        Some(b) if b.result.is_none() => b,
        Some(b) => {
            return Some(format!(
                "test: interrupted (Ctrl-C) after {} finished; cargo had not started the test binaries after it",
                b.name
            ))
        }
        None => return None,
    };
    b.interrupted = true;
    if b.name == "cargo-build" {
        return Some("test: interrupted (Ctrl-C) while cargo was building; no test binary ran".into());
    }
    let listed = b.executable.as_deref().map(|exe| list_trials(exe, test_args));
    let finished = b.trials.len();
    let not_finished: Vec<String> = match listed {
        Some(Ok(names)) => names.into_iter().filter(|n| !b.trials.iter().any(|(t, _)| t == n)).collect(),
        Some(Err(why)) => {
            b.trouble = Some(format!("interrupted; its other trials could not be listed: {why}"));
            Vec::new()
        }
        None => Vec::new(),
    };
    b.trials.extend(not_finished.iter().map(|n| (n.clone(), Verdict::Interrupted)));
    Some(format!(
        "test: interrupted (Ctrl-C) in {}: {finished} of its trials finished, {} did not ({}); \
         cargo had not started the test binaries after it",
        b.name,
        not_finished.len(),
        if not_finished.is_empty() { "none listed".to_string() } else { not_finished.join(", ") }
    ))
}

/// The trials `exe --list ARGS` names (libtest's `NAME: test` lines).
fn list_trials(exe: &Path, test_args: &[&String]) -> Result<Vec<String>> {
    let mut child = Command::new(exe)
        .arg("--list")
        .args(test_args)
        .env("KVMTEST_FORMAT", "libtest")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{} --list: {e}", exe.display()))?;
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| format!("{} --list: {e}", exe.display()))? {
            Some(_) => break,
            None if started.elapsed() > LIST_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} --list took over {LIST_TIMEOUT:?}", exe.display()));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        use std::io::Read;
        out.read_to_string(&mut text).map_err(|e| format!("{} --list: {e}", exe.display()))?;
    }
    Ok(text.lines().filter_map(|l| l.strip_suffix(": test")).map(str::to_string).collect())
}

/// nobody:nogroup on Debian.
const NOBODY: libc::uid_t = 65534;
const NOGROUP: libc::gid_t = 65534;

/// Character devices the hidden /dev keeps: (name, major, minor), as
/// Documentation/admin-guide/devices.txt numbers them.
const KEPT_DEVICES: &[(&str, u32, u32)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

fn test_without_kvm(how: WithoutKvm, test_args: &[String]) -> Result {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("--without-kvm needs root (it makes a mount namespace or drops to user nobody)".into());
    }
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["test", "--workspace", "--no-run", "--message-format", "json-render-diagnostics"])
        .output()
        .map_err(|e| format!("running cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let binaries = cargo_executables(&String::from_utf8_lossy(&out.stdout), |a| a.profile_test)?;
    if binaries.is_empty() {
        return Err("cargo built no test binaries".into());
    }
    let mut failed = Vec::new();
    let (mut ran, mut skipped) = (0usize, 0usize);
    for bin in &binaries {
        let mut cmd = Command::new(&bin.executable);
        cmd.args(test_args.iter().filter(|a| *a != "--"))
            .current_dir(std::env::temp_dir())
            // CI sets it; here a missing KVM must skip, which is what is checked.
            .env_remove("KVMTEST_REQUIRE_KVM")
            .env("KVMTEST_FORMAT", "libtest");
        match how {
            WithoutKvm::Hidden => hide_dev_kvm(&mut cmd)?,
            WithoutKvm::Unprivileged => drop_to_nobody(&mut cmd),
        }
        let out = cmd.output().map_err(|e| format!("running {}: {e}", bin.executable.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let name = bin.executable.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let result = text.lines().rev().find(|l| l.starts_with("test result:")).unwrap_or("(no result line)");
        println!("{name}: {result}");
        ran += count(result, " passed");
        skipped += count(result, " ignored");
        if !out.status.success() {
            println!("{text}");
            failed.push(name);
        }
    }
    println!(
        "without KVM ({how:?}): {} binaries, {ran} passed (no KVM needed), {skipped} skipped, {} binaries failed",
        binaries.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("without KVM ({how:?}), these test binaries failed: {}", failed.join(", ")))
    }
}

/// The child runs in its own mount namespace over a /dev without kvm.
fn hide_dev_kvm(cmd: &mut Command) -> Result {
    let cstr = |s: &str| CString::new(s).map_err(|e| e.to_string());
    let (root_dir, dev, tmpfs, mode) = (cstr("/")?, cstr("/dev")?, cstr("tmpfs")?, cstr("mode=755")?);
    let (fd_link, fd_target) = (cstr("/dev/fd")?, cstr("/proc/self/fd")?);
    let nodes: Vec<(CString, libc::dev_t)> = KEPT_DEVICES
        .iter()
        .map(|&(name, major, minor)| Ok((cstr(&format!("/dev/{name}"))?, libc::makedev(major, minor))))
        .collect::<Result<_>>()?;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // system calls on strings prepared above (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                root_dir.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(tmpfs.as_ptr(), dev.as_ptr(), tmpfs.as_ptr(), 0, mode.as_ptr().cast()))?;
            for (path, devno) in &nodes {
                check(libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, *devno))?;
            }
            check(libc::symlink(fd_target.as_ptr(), fd_link.as_ptr()))
        });
    }
    Ok(())
}

/// The child drops to nobody:nogroup with no supplementary groups.
fn drop_to_nobody(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(|| {
            let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setgid(NOGROUP))?;
            check(libc::setuid(NOBODY))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_lines_name_the_binaries() {
        let name = |line: &str| binary_started(line).map(|(n, _)| n);
        assert_eq!(
            binary_started("     Running tests/ucall.rs (target/debug/deps/ucall-1a2b3c4d5e6f7a8b)"),
            Some(("ucall".into(), Some(PathBuf::from("target/debug/deps/ucall-1a2b3c4d5e6f7a8b"))))
        );
        assert_eq!(
            name("     Running unittests src/lib.rs (target/debug/deps/kvmtest-0123456789abcdef)").as_deref(),
            Some("kvmtest")
        );
        assert_eq!(binary_started("   Doc-tests kvmtest_abi"), Some(("doc-tests-kvmtest_abi".into(), None)));
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

    #[test]
    fn result_line_counts() {
        let line = "test result: ok. 7 passed; 0 failed; 12 ignored; 0 measured; 0 filtered out; finished in 0.05s";
        assert_eq!(count(line, " passed"), 7);
        assert_eq!(count(line, " ignored"), 12);
        assert_eq!(count("(no result line)", " passed"), 0);
    }
}
