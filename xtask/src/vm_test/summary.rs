//! What a run of the emulated machine comes to: whether it can be trusted
//! as a whole, and the summary vm-test prints (one line per test binary and
//! the `N passed, N failed` closing line), ending with the failed trials by
//! name; each binary's log, KTAP and JUnit report and the summary are kept
//! in the run's directory under target/kvmtest-results/, one directory per
//! boot (configuration, or arch and kernel).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::console::Console;
use super::kernel::Kernel;
use super::options::Options;
use super::protocol::Exit;
use super::qemu;
use crate::results::{self, BinaryRun};

/// Why a run cannot be trusted as a whole (timeout, panic, qemu error), if so.
pub fn trouble(run: &qemu::Run) -> Option<String> {
    if let Some(t) = run.timed_out {
        let running = match run.console.results.iter().find(|r| r.exit.is_none()) {
            Some(r) => format!(" while {} was running", r.name),
            None => String::new(),
        };
        return Some(format!("the VM did not finish within {} s (--timeout){running}; killed it", t.as_secs()));
    }
    if let Some(f) = &run.console.fatal {
        return Some(f.clone());
    }
    if let Some(q) = &run.qemu_error {
        return Some(q.clone());
    }
    if !run.console.done {
        return Some("the VM stopped before init reported that every test ran".into());
    }
    None
}

/// The directory of the run's results (`target/kvmtest-results/<UTC
/// time>-LABEL`), made once per vm-test run: LABEL is --label's, else `default`.
pub fn run_dir(label: Option<&str>, default: &str) -> crate::Result<PathBuf> {
    results::new_run_dir(&results::results_root(), Some(label.unwrap_or(default)))
}

/// Prints the summary and keeps the results of this boot in `run_dir/boot`
/// (boot: the configuration's name; by default the arch and the kernel's
/// release, `x86_64-6.12.48+deb12-amd64`); returns why the run failed, if it did.
pub fn summarize(
    o: &Options,
    kernel: &Kernel,
    tests: &[(String, PathBuf)],
    run: &qemu::Run,
    run_dir: &Path,
    boot: Option<&str>,
) -> Option<String> {
    let c: &Console = &run.console;
    println!();
    println!("vm-test: ---- summary ({}) ----", o.arch.name);
    println!("vm-test: kernel package: {}", kernel.origin);
    println!("vm-test: uname -r: {}", c.kernel_release.as_deref().unwrap_or("(not reported)"));
    println!("vm-test: KVM: {}", c.kvm.as_deref().unwrap_or("(not reported)"));
    let tests_time: Duration = c.results.iter().map(|r| r.elapsed).sum();
    println!(
        "vm-test: boot {}, tests {:.1} s, VM wall time {:.1} s",
        c.boot_time.map_or("?".into(), |b| format!("{:.1} s", b.as_secs_f64())),
        tests_time.as_secs_f64(),
        run.wall.as_secs_f64()
    );
    for t in &c.kernel_trouble {
        println!("vm-test: kernel said: {t}");
    }
    let mut passed = 0;
    let mut kept = Vec::new();
    for (name, _) in tests {
        let r = c.results.iter().find(|r| r.name == *name);
        let (verdict, detail) = match r.and_then(|r| r.exit.map(|e| (e, r.elapsed))) {
            Some((e, t)) if e.success() => {
                passed += 1;
                ("PASS", format!("{e}, {:.1} s", t.as_secs_f64()))
            }
            Some((e @ Exit::NotStarted, _)) => ("FAIL", format!("{e}")),
            Some((e, t)) => ("FAIL", format!("{e}, {:.1} s", t.as_secs_f64())),
            // Ctrl-C stopped the machine: not a failure of the binary.
            None if crate::interrupt::interrupted() => {
                ("INTERRUPTED", if r.is_some() { "stopped by Ctrl-C" } else { "not run: Ctrl-C" }.into())
            }
            None if r.is_some() => ("FAIL", "did not finish".into()),
            None => ("FAIL", "not run".into()),
        };
        println!("vm-test: {verdict} {name} ({detail})");
        let mut log = c.logs.iter().find(|l| l.name == *name).cloned().unwrap_or_else(|| BinaryRun::new(name.clone()));
        log.failed = verdict == "FAIL";
        log.interrupted = verdict == "INTERRUPTED";
        log.trouble = log.failed.then_some(detail);
        kept.push(log);
    }
    let failed = tests.len() - passed;
    let why = trouble(run);
    if let Some(w) = &why {
        println!("vm-test: VM FAILED: {w}");
    }
    println!("{passed} passed, {failed} failed");
    let release = c.kernel_release.as_deref().unwrap_or("kernel-not-reported");
    let boot = boot.map_or_else(|| format!("{}-{release}", o.arch.name), str::to_string);
    let dir = run_dir.join(boot.replace(|c: char| !(c.is_ascii_alphanumeric() || "-_.+".contains(c)), "_"));
    let title = format!("cargo xtask vm-test: {boot} ({})", kernel.origin);
    let kept = std::fs::create_dir_all(&dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
        .and_then(|()| results::write_run(&dir, &title, &kept).map(|()| (dir, kept)));
    match kept {
        Ok((dir, kept)) => results::closing_lines("vm-test", &dir, &kept).iter().for_each(|l| println!("{l}")),
        Err(e) => println!("vm-test: could not keep the results: {e}"),
    }
    match (why, failed) {
        (Some(w), _) => Some(w),
        (None, 0) => None,
        (None, n) => Some(format!("{n} of {} test binaries failed", tests.len())),
    }
}
