//! Booting one emulated machine: the qemu command line of an [`Arch`], the
//! console streamed to stdout and read by [`Console`], and a deadline on the
//! whole run.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::arch::Arch;
use super::console::Console;
use crate::Result;

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
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((line, at)) => {
                echo(&line);
                console.feed(&line, at);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
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
