//! Booting one emulated machine: the qemu command line of an [`Arch`], the
//! console streamed to stdout and read by [`Console`], and a deadline on the
//! whole run.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::arch::Arch;
use super::console::Console;
use crate::results::Verdict;
use crate::Result;

/// How often a progress line is printed when stdout is not a terminal.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// `running ucall; binaries done 3; trials so far: 10 passed, 0 failed, 2 skipped`.
fn progress(console: &Console) -> String {
    let running = match console.results.last() {
        Some(r) if r.exit.is_none() => format!("running {}", r.name),
        _ if console.kernel_release.is_none() => "booting".to_string(),
        _ => "between test binaries".to_string(),
    };
    let done = console.results.iter().filter(|r| r.exit.is_some()).count();
    let trials = console.logs.iter().flat_map(|l| l.trials.iter());
    let (mut p, mut f, mut s) = (0, 0, 0);
    for (_, v) in trials {
        match v {
            Verdict::Pass => p += 1,
            Verdict::Fail => f += 1,
            Verdict::Skip(_) => s += 1,
            Verdict::Interrupted => {}
        }
    }
    format!("{running}; binaries done {done}; trials so far: {p} passed, {f} failed, {s} skipped")
}

/// How one machine run ended.
pub struct Run {
    pub console: Console,
    /// Wall time from spawning qemu to its exit.
    pub wall: Duration,
    /// Set when the deadline killed the machine.
    pub timed_out: Option<Duration>,
    /// qemu's own failure (bad option, missing file), with its stderr.
    pub qemu_error: Option<String>,
}

/// Boots `kernel` with `initrd` and the kernel command line `append` on
/// `arch`'s machine, streaming the console to `echo` until it powers off or
/// `timeout` passes.
pub fn boot(
    arch: &Arch,
    kernel: &Path,
    initrd: &Path,
    append: &str,
    timeout: Duration,
    echo: &mut dyn FnMut(&str),
) -> Result<Run> {
    let mut cmd = Command::new(arch.qemu);
    cmd.args(arch.qemu_args)
        .args([
            "-m",
            "2048",
            "-smp",
            "2",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(append)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, stopped on Ctrl-C by crate::interrupt.
    crate::interrupt::own_process_group(&mut cmd);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{} is not installed: `apt-get install {}`", arch.qemu, arch.qemu_package)
        } else {
            format!("starting {}: {e}", arch.qemu)
        }
    })?;
    let watched = crate::interrupt::watch(&child, true);

    // Lines arrive from a reader thread so the deadline can interrupt a silent machine.
    let (tx, rx) = mpsc::channel::<(String, Instant)>();
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut buf = Vec::new();
        // A serial console carries raw bytes; a test may print invalid UTF-8.
        while stdout.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
            if tx.send((line, Instant::now())).is_err() {
                break;
            }
            buf.clear();
        }
    });
    let mut stderr = child.stderr.take().expect("piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let mut console = Console::new(started);
    let deadline = started + timeout;
    let mut timed_out = None;
    // Off a terminal (CI logs), a progress line every HEARTBEAT.
    let heartbeat = !std::io::stdout().is_terminal();
    let mut next_beat = started + HEARTBEAT;
    loop {
        let now = Instant::now();
        if heartbeat && now >= next_beat {
            println!("vm-test: [{:.0} s] {}", (now - started).as_secs_f64(), progress(&console));
            next_beat = now + HEARTBEAT;
        }
        let left = deadline.saturating_duration_since(now);
        let wait = if heartbeat { left.min(next_beat.saturating_duration_since(now)) } else { left };
        match rx.recv_timeout(wait) {
            Ok((line, at)) => {
                echo(&line);
                console.feed(&line, at);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = Some(timeout);
                // Only our own child, by its handle.
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait().map_err(|e| format!("waiting for {}: {e}", arch.qemu))?;
    drop(watched);
    let wall = started.elapsed();
    let _ = reader.join();
    // Lines the reader sent after the deadline fired still belong to the log.
    for (line, at) in rx.try_iter() {
        echo(&line);
        console.feed(&line, at);
    }
    let stderr = stderr_reader.join().unwrap_or_default();
    let qemu_error = (timed_out.is_none() && !status.success() && !crate::interrupt::interrupted())
        .then(|| format!("{} exited with {status}: {}", arch.qemu, stderr.trim()));
    if qemu_error.is_none() && !stderr.trim().is_empty() {
        eprintln!("{}: {}", arch.qemu, stderr.trim());
    }
    Ok(Run { console, wall, timed_out, qemu_error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_binaries_and_trials_so_far() {
        let t0 = Instant::now();
        let mut c = Console::new(t0);
        assert_eq!(progress(&c), "booting; binaries done 0; trials so far: 0 passed, 0 failed, 0 skipped");
        for line in [
            "KVMTEST-VM: kernel 6.12.117+deb12-amd64",
            "KVMTEST-VM: begin ucall",
            "test ucall::a ... ok",
            "test ucall::b ... ignored (SKIP: no SMM)",
            "KVMTEST-VM: end ucall exit=0",
            "KVMTEST-VM: begin selftest",
            "test selftest::c ... FAILED",
        ] {
            c.feed(line, t0);
        }
        assert_eq!(progress(&c), "running selftest; binaries done 1; trials so far: 1 passed, 1 failed, 1 skipped");
    }
}
