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

/// Makes `path` an executable shell script.
fn script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("writing a script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `cargo xtask test` interrupted while a test binary runs: a fake cargo
/// announces one binary (a script that reports three trials, then hangs in
/// a grandchild `sleep`; `--list` names four). SIGINT must end cargo, the
/// binary and its grandchild, keep the finished trials with the fourth
/// marked interrupted (summary, KTAP, JUnit), leave no temporary file and
/// exit 130.
#[test]
fn sigint_during_test_keeps_what_finished_and_marks_the_rest_interrupted() {
    let work = std::env::temp_dir().join(format!("xtask-test-interrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let (bin_dir, tmp, results) = (work.join("bin"), work.join("tmp"), work.join("results"));
    for d in [&bin_dir, &tmp, &results] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let binary = bin_dir.join("fake-0123456789abcdef");
    let grandchild_pid = work.join("grandchild.pid");
    script(
        &binary,
        &format!(
            "#!/bin/sh\n\
             if [ \"$1\" = --list ]; then printf 'fake::a: test\\nfake::b: test\\nfake::c: test\\nfake::d: test\\n'; exit 0; fi\n\
             echo 'running 4 tests'\n\
             echo 'test fake::a ... ok'\n\
             echo 'test fake::b ... FAILED'\n\
             sleep 600 &\n\
             echo $! > {pid}\n\
             echo 'test fake::c ... ignored, SKIP: no SMM'\n\
             wait\n",
            pid = grandchild_pid.display()
        ),
    );
    let cargo = bin_dir.join("cargo");
    script(
        &cargo,
        &format!(
            "#!/bin/sh\necho '     Running tests/fake.rs ({})'\nexec {} \"$@\"\n",
            binary.display(),
            binary.display()
        ),
    );

    let mut xtask = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["test", "--label", "drill", "--cargo"])
        .arg(&cargo)
        .arg("--results-root")
        .arg(&results)
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting xtask");
    let mut stdout = BufReader::new(xtask.stdout.take().expect("piped"));
    let mut out = String::new();
    while !out.contains("test fake::c ... ignored") {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).expect("reading xtask's stdout") > 0, "xtask ended early: {out}");
        out += &line;
    }
    let grandchild: i32 = std::fs::read_to_string(&grandchild_pid).expect("pid").trim().parse().expect("a pid");
    assert!(alive(grandchild));

    // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
    assert_eq!(unsafe { libc::kill(xtask.id() as i32, libc::SIGINT) }, 0);
    let status = xtask.wait().expect("waiting for xtask");
    stdout.read_to_string(&mut out).expect("reading xtask's stdout");
    let mut err = String::new();
    xtask.stderr.take().expect("piped").read_to_string(&mut err).expect("reading xtask's stderr");

    assert_eq!(status.code(), Some(130), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("trials: 1 passed, 1 failed, 1 skipped, 1 interrupted"), "{out}");
    assert!(out.contains("interrupted (Ctrl-C) in fake: 3 of its trials finished, 1 did not (fake::d)"), "{out}");
    assert!(!alive(grandchild), "the test binary's child {grandchild} is still running");
    let run = std::fs::read_dir(&results)
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("a run directory");
    let summary = std::fs::read_to_string(run.join("summary.md")).expect("summary.md");
    assert!(summary.contains("| fake | FAIL | 1 | 1 | 1 | fake.log |"), "{summary}");
    assert!(summary.contains("## Interrupted (not finished)\n\n- `fake::d`\n"), "{summary}");
    let ktap = std::fs::read_to_string(run.join("fake.ktap")).expect("fake.ktap");
    assert!(ktap.contains("1..4\n") && ktap.contains("not ok 4 fake::d # ERROR interrupted"), "{ktap}");
    let junit = std::fs::read_to_string(run.join("fake.junit.xml")).expect("fake.junit.xml");
    assert!(junit.contains(r#"tests="4" failures="1" errors="1" skipped="1""#), "{junit}");
    // No temporary file left: none in TMPDIR, no half-made `latest` link.
    let left: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    let names: Vec<String> = std::fs::read_dir(&results)
        .expect("results")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "temporary files in the results: {names:?}");
    let _ = std::fs::remove_dir_all(&work);
}
