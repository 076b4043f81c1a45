//! Ctrl-C (SIGINT, and SIGTERM/SIGHUP) for every verb: the child processes
//! registered here (qemu, cargo) are stopped, the verb's own code then
//! unwinds normally (its temporary files go with their [`TempPath`] guards,
//! it prints what finished) and xtask exits with 130, as a shell does.
//!
//! The handler runs on ctrlc's own thread, not in signal context, so it may
//! lock and print. If the verb has not returned within [`GRACE`] (it was busy
//! in something that is not a registered child), the handler removes the
//! registered temporary files itself and exits 130.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// xtask's result (util.rs's `Result`, spelt out: this module is a leaf
/// that util.rs itself uses).
type Result<T = ()> = std::result::Result<T, String>;

/// The exit code after an interrupt: 128 + SIGINT, what shells report.
pub const EXIT_INTERRUPTED: u8 = 130;

/// How long the verb has to wind down after its children were stopped.
const GRACE: Duration = Duration::from_secs(10);
/// Between SIGTERM and SIGKILL of a registered child.
const KILL_AFTER: Duration = Duration::from_secs(2);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Registered children: (pid, whether it leads its own process group).
static CHILDREN: Mutex<Vec<(u32, bool)>> = Mutex::new(Vec::new());
static TEMP_PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the handler; once per process, before any child starts.
pub fn install() -> Result {
    ctrlc::set_handler(on_interrupt).map_err(|e| format!("installing the Ctrl-C handler: {e}"))
}

/// Whether an interrupt arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

fn on_interrupt() {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        return; // a second Ctrl-C: the first one's clean-up is under way
    }
    eprintln!("\nxtask: interrupted: stopping child processes and cleaning up");
    signal_children(libc::SIGTERM);
    std::thread::sleep(KILL_AFTER);
    signal_children(libc::SIGKILL);
    std::thread::sleep(GRACE.saturating_sub(KILL_AFTER));
    // The verb did not return in time: clean up for it.
    for p in lock(&TEMP_PATHS).drain(..) {
        remove(&p);
    }
    eprintln!("xtask: interrupted; exiting without the verb's summary (it did not wind down within {GRACE:?})");
    std::process::exit(EXIT_INTERRUPTED.into());
}

fn signal_children(signal: libc::c_int) {
    let children = lock(&CHILDREN).clone();
    for (pid, own_group) in children {
        let Ok(pid) = libc::pid_t::try_from(pid) else { continue };
        // Only our own registered children and what they started (their
        // process group when they lead one, else their descendants as
        // /proc tells them), never a broad name.
        let targets = if own_group { vec![-pid] } else { descendants(pid) };
        for target in targets {
            // SAFETY: kill has no memory-safety preconditions; a pid that
            // has already exited gives ESRCH, which is ignored.
            unsafe { libc::kill(target, signal) };
        }
    }
}

/// `pid` and every process below it, children before their parents are
/// signalled so none is reparented unseen.
fn descendants(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let parents: Vec<(libc::pid_t, libc::pid_t)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let child: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let ppid = stat.rsplit_once(") ")?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((child, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|&&(_, p)| p == parent).map(|&(c, _)| c));
        i += 1;
    }
    found.reverse();
    found
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes the child that `cmd` spawns lead its own process group, so that
/// [`watch`] stops everything it starts in turn. Only for children that do
/// not read the terminal (a background process group cannot).
pub fn own_process_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
}

/// A registered child; unregistered when dropped (after it was waited for).
#[must_use = "the child is unregistered when this is dropped"]
pub struct Watched {
    pid: u32,
}

/// Registers `child` to be stopped on an interrupt; `own_group` says it was
/// spawned with [`own_process_group`]. If the interrupt already arrived, the
/// child is stopped at once.
pub fn watch(child: &Child, own_group: bool) -> Watched {
    let pid = child.id();
    lock(&CHILDREN).push((pid, own_group));
    if interrupted() {
        signal_children(libc::SIGKILL);
    }
    Watched { pid }
}

impl Drop for Watched {
    fn drop(&mut self) {
        lock(&CHILDREN).retain(|&(p, _)| p != self.pid);
    }
}

/// A temporary file or directory, removed when dropped (on every path out
/// of the function that made it, an interrupt's included).
#[must_use = "the path is removed when this is dropped"]
pub struct TempPath {
    path: PathBuf,
}

impl TempPath {
    /// Registers `path` (not created here) for removal.
    pub fn new(path: PathBuf) -> Self {
        lock(&TEMP_PATHS).push(path.clone());
        TempPath { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        remove(&self.path);
        lock(&TEMP_PATHS).retain(|p| *p != self.path);
    }
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// `cargo xtask interrupt-drill` (hidden): the mechanism under test, with a
/// dummy child instead of qemu. Makes a temporary file, starts `sleep` in
/// its own process group, prints `ready <temp file> <child pid>` and waits;
/// the integration test (xtask/tests/interrupt.rs) sends SIGINT.
pub fn drill() -> Result {
    let temp = TempPath::new(std::env::temp_dir().join(format!("xtask-drill-{}.tmp", std::process::id())));
    std::fs::write(temp.path(), b"temporary").map_err(|e| format!("writing {}: {e}", temp.path().display()))?;
    let mut cmd = Command::new("sleep");
    cmd.arg("600");
    own_process_group(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("starting sleep: {e}"))?;
    let watched = watch(&child, true);
    println!("ready {} {}", temp.path().display(), child.id());
    let status = child.wait().map_err(|e| format!("waiting for sleep: {e}"))?;
    drop(watched);
    println!("interrupt-drill: summary: the child ended with {status}; 0 of 1 steps finished");
    Err(format!("the child ended with {status}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_include_grandchildren() {
        let mut sh = Command::new("sh").args(["-c", "sleep 30 & wait"]).spawn().unwrap();
        let me = libc::pid_t::try_from(sh.id()).unwrap();
        let mut found = Vec::new();
        for _ in 0..100 {
            found = descendants(me);
            if found.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1], me, "the parent comes last");
        for p in &found {
            // SAFETY: kill has no memory-safety preconditions; these are our own children.
            unsafe { libc::kill(*p, libc::SIGKILL) };
        }
        let _ = sh.wait();
    }
}
