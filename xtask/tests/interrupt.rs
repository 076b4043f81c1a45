//! Ctrl-C in xtask: `cargo xtask interrupt-drill` runs the mechanism that
//! stops qemu and cargo (a registered child in its own process group, a
//! registered temporary file) with `sleep` as the child; SIGINT must leave
//! exit 130, the child gone, the file removed and a summary printed.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether process `pid` still exists (a zombie counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn sigint_stops_the_child_removes_temporary_files_and_exits_130() {
    let mut xtask = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("interrupt-drill")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting xtask");
    let mut stdout = BufReader::new(xtask.stdout.take().expect("piped"));
    let mut ready = String::new();
    stdout.read_line(&mut ready).expect("reading xtask's stdout");
    let mut words = ready.split_whitespace();
    assert_eq!(words.next(), Some("ready"), "{ready:?}");
    let temp = PathBuf::from(words.next().expect("a temporary file"));
    let child: i32 = words.next().and_then(|p| p.parse().ok()).expect("the child's pid");
    assert!(temp.exists() && alive(child), "{ready:?}");

    // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
    assert_eq!(unsafe { libc::kill(xtask.id() as i32, libc::SIGINT) }, 0);
    let started = Instant::now();
    let status = xtask.wait().expect("waiting for xtask");
    let mut out = String::new();
    stdout.read_to_string(&mut out).expect("reading xtask's stdout");
    let mut err = String::new();
    xtask.stderr.take().expect("piped").read_to_string(&mut err).expect("reading xtask's stderr");

    assert_eq!(status.code(), Some(130), "stdout: {out}\nstderr: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the verb wound down itself, before the handler's grace ran out"
    );
    assert!(out.contains("interrupt-drill: summary:"), "no summary: {out}");
    assert!(err.contains("xtask: interrupted"), "{err}");
    assert!(!temp.exists(), "{} left behind", temp.display());
    assert!(!alive(child), "the child {child} is still running");
}
