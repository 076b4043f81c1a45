//! The watchdog: a guest that runs too long without a ucall is kicked out of
//! KVM_RUN and its test fails with the guest's PC, instead of hanging the run.
//!
//! One process-wide thread scans the armed vCPUs every 25 ms. Arming and
//! disarming cost an uncontended mutex and a vDSO clock read, no syscall, so
//! the exit path stays a bare KVM_RUN. To kick a vCPU the watchdog sets
//! kvm_run.immediate_exit and signals the vCPU's thread (SIGUSR2, whose
//! handler does nothing), so KVM_RUN returns EINTR now or at its next entry.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// The signal used to kick a vCPU thread out of KVM_RUN.
pub const KICK_SIGNAL: libc::c_int = libc::SIGUSR2;
const TICK: Duration = Duration::from_millis(25);

struct State {
    deadline: Option<Instant>,
    thread: libc::pthread_t,
    fired: bool,
}

/// A vCPU as the watchdog sees it.
pub(crate) struct WatchEntry {
    state: Mutex<State>,
    immediate_exit: *mut u8,
}

// SAFETY: `immediate_exit` points into the vCPU's kvm_run mapping, which lives
// as long as the VcpuFd that owns this entry (the Vcpu drops the entry first);
// it is only accessed through AtomicU8 while the state lock is held.
unsafe impl Send for WatchEntry {}
// SAFETY: as above.
unsafe impl Sync for WatchEntry {}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl WatchEntry {
    fn set_immediate_exit(&self, v: u8) {
        // SAFETY: see the Send impl: the pointer is valid for the entry's life
        // and KVM reads this byte only at KVM_RUN entry.
        unsafe { AtomicU8::from_ptr(self.immediate_exit) }.store(v, Ordering::SeqCst);
    }

    /// Starts watching: the calling thread is in (or about to enter) KVM_RUN.
    pub fn arm(&self, timeout: Duration) {
        let mut s = lock(&self.state);
        s.deadline = Some(Instant::now() + timeout);
        // SAFETY: pthread_self has no preconditions.
        s.thread = unsafe { libc::pthread_self() };
    }

    /// Stops watching. Returns true if the watchdog fired meanwhile.
    pub fn disarm(&self) -> bool {
        let mut s = lock(&self.state);
        s.deadline = None;
        let fired = std::mem::take(&mut s.fired);
        if fired {
            self.set_immediate_exit(0);
        }
        fired
    }

    /// Whether the watchdog has fired for the current arming.
    pub fn fired(&self) -> bool {
        lock(&self.state).fired
    }

    fn check(&self, now: Instant) {
        let mut s = lock(&self.state);
        if s.deadline.is_some_and(|d| now >= d) && !s.fired {
            s.fired = true;
            self.set_immediate_exit(1);
            // SAFETY: the thread is armed, so it is inside run_until_ucall and
            // alive; it cannot disarm (and return) while we hold the lock.
            unsafe { libc::pthread_kill(s.thread, KICK_SIGNAL) };
        }
    }
}

struct Watchdog {
    entries: Mutex<Vec<Weak<WatchEntry>>>,
}

fn watchdog() -> &'static Watchdog {
    static W: OnceLock<Watchdog> = OnceLock::new();
    W.get_or_init(|| {
        install_kick_handler();
        std::thread::Builder::new()
            .name("kvmtest-watchdog".into())
            .spawn(|| loop {
                std::thread::sleep(TICK);
                let now = Instant::now();
                let mut entries = watchdog().entries.lock().unwrap_or_else(|e| e.into_inner());
                entries.retain(|w| match w.upgrade() {
                    Some(e) => {
                        e.check(now);
                        true
                    }
                    None => false,
                });
            })
            .ok();
        Watchdog { entries: Mutex::new(Vec::new()) }
    })
}

extern "C" fn on_kick(_: libc::c_int) {}

fn install_kick_handler() {
    // SAFETY: a zeroed sigaction with a handler that does nothing is valid;
    // SA_RESTART is deliberately absent so KVM_RUN returns EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_kick as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(KICK_SIGNAL, &sa, std::ptr::null_mut());
    }
}

/// Registers a vCPU whose kvm_run.immediate_exit byte is at `immediate_exit`.
pub(crate) fn register(immediate_exit: *mut u8) -> Arc<WatchEntry> {
    // SAFETY: pthread_t is an integer (glibc) or a pointer (musl); all-zero is
    // a valid value of either, and arm() stores the real thread before any use.
    let no_thread: libc::pthread_t = unsafe { std::mem::zeroed() };
    let entry = Arc::new(WatchEntry {
        state: Mutex::new(State { deadline: None, thread: no_thread, fired: false }),
        immediate_exit,
    });
    watchdog().entries.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&entry));
    entry
}
