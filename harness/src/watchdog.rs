//! The watchdog: a guest that runs too long without a ucall is kicked out of
//! KVM_RUN and its test fails with the guest's PC, instead of hanging the run.
//!
//! One process-wide thread scans the vCPUs every 25 ms. Arming and disarming
//! are one atomic store and one compare-exchange on the vCPU's own word: no
//! lock, no clock read, no syscall, so a ucall round trip stays a bare
//! KVM_RUN. The word holds a generation (bumped at each arming) and a state;
//! the watchdog fires when it sees the same armed generation for longer than
//! the timeout (so it fires between 0 and one tick late). To kick a vCPU it
//! sets kvm_run.immediate_exit and signals the vCPU's thread (SIGUSR2, whose
//! handler does nothing), so KVM_RUN returns EINTR now or at its next entry.
//! The host may kick a vCPU the same way at once ([`WatchEntry::kick`]).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// The signal used to kick a vCPU thread out of KVM_RUN.
pub const KICK_SIGNAL: libc::c_int = libc::SIGUSR2;
const TICK: Duration = Duration::from_millis(25);

/// States in the low bits of [`WatchEntry::word`]; the generation is above.
const IDLE: u64 = 0;
const ARMED: u64 = 1;
/// The watchdog won the race against disarm and is kicking the thread.
const FIRING: u64 = 2;
/// The kick is done; the vCPU thread resets it when it disarms.
const FIRED: u64 = 3;
const STATE_BITS: u32 = 2;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

/// A vCPU as the watchdog sees it.
pub(crate) struct WatchEntry {
    /// `generation << STATE_BITS | state`. The vCPU thread arms and disarms;
    /// the watchdog only moves ARMED to FIRING (same generation) and FIRING
    /// to FIRED.
    word: AtomicU64,
    /// Timeout of the current arming, in nanoseconds.
    timeout_ns: AtomicU64,
    /// pthread_t of the armed thread.
    thread: AtomicU64,
    /// The last firing was the host's [`WatchEntry::kick`], not a timeout.
    kicked: AtomicBool,
    immediate_exit: *mut u8,
}

// SAFETY: `immediate_exit` points into the vCPU's kvm_run mapping, which lives
// as long as the VcpuFd that owns this entry (the Vcpu disarms before the fd
// goes); the watchdog writes it only in FIRING state, which disarm waits out.
unsafe impl Send for WatchEntry {}
// SAFETY: as above; everything else is atomics.
unsafe impl Sync for WatchEntry {}

impl WatchEntry {
    fn set_immediate_exit(&self, v: u8) {
        // SAFETY: see the Send impl: the pointer is valid for the entry's life
        // and KVM reads this byte only at KVM_RUN entry.
        unsafe { AtomicU8::from_ptr(self.immediate_exit) }.store(v, Ordering::SeqCst);
    }

    /// Starts watching: the calling thread is about to enter KVM_RUN.
    #[inline]
    pub fn arm(&self, timeout: Duration) {
        let generation = (self.word.load(Ordering::Relaxed) >> STATE_BITS).wrapping_add(1);
        self.timeout_ns.store(timeout.as_nanos().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
        // SAFETY: pthread_self has no preconditions.
        self.thread.store(unsafe { libc::pthread_self() } as u64, Ordering::Relaxed);
        // Release: the watchdog that sees ARMED also sees the timeout and thread.
        self.word.store(generation << STATE_BITS | ARMED, Ordering::Release);
    }

    /// Stops watching. Returns true if the watchdog fired for this arming.
    #[inline]
    pub fn disarm(&self) -> bool {
        let word = self.word.load(Ordering::Relaxed);
        let idle = word & !STATE_MASK | IDLE;
        if word & STATE_MASK == ARMED
            && self.word.compare_exchange(word, idle, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            return false;
        }
        if word & STATE_MASK == IDLE {
            return false;
        }
        // The watchdog fired: wait until its kick is complete (the thread must
        // stay alive and the kvm_run mapping valid until then).
        while self.word.load(Ordering::Acquire) & STATE_MASK == FIRING {
            std::thread::yield_now();
        }
        self.set_immediate_exit(0);
        self.word.store(idle, Ordering::Release);
        true
    }

    /// Whether the watchdog has fired for the current arming.
    pub fn fired(&self) -> bool {
        matches!(self.word.load(Ordering::Acquire) & STATE_MASK, FIRING | FIRED)
    }

    /// Kicks the vCPU out of KVM_RUN now, as a firing would, if its thread
    /// is in its run loop (armed); returns whether it was. Its run then ends
    /// as a timed-out one does, and [`WatchEntry::take_kicked`] tells the two apart.
    pub fn kick(&self) -> bool {
        let word = self.word.load(Ordering::Acquire);
        word & STATE_MASK == ARMED && self.fire(word, true)
    }

    /// Whether the last firing was a [`WatchEntry::kick`]; clears it.
    pub fn take_kicked(&self) -> bool {
        self.kicked.swap(false, Ordering::AcqRel)
    }

    /// Moves the armed `word` to FIRING and kicks its thread; false if the
    /// vCPU thread disarmed (or re-armed) first.
    fn fire(&self, word: u64, by_host: bool) -> bool {
        let firing = word & !STATE_MASK | FIRING;
        if self.word.compare_exchange(word, firing, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return false;
        }
        self.kicked.store(by_host, Ordering::Release);
        self.set_immediate_exit(1);
        // SAFETY: the thread armed this generation and cannot return from
        // disarm (nor exit) while the state is FIRING.
        unsafe { libc::pthread_kill(self.thread.load(Ordering::Relaxed) as libc::pthread_t, KICK_SIGNAL) };
        self.word.store(word & !STATE_MASK | FIRED, Ordering::Release);
        true
    }

    /// One scan. `seen` is the armed word this entry had at the last scan
    /// and when it was first seen.
    fn check(&self, now: Instant, seen: &mut Option<(u64, Instant)>) {
        let word = self.word.load(Ordering::Acquire);
        if word & STATE_MASK != ARMED {
            *seen = None;
            return;
        }
        let since = match *seen {
            Some((w, since)) if w == word => since,
            _ => {
                *seen = Some((word, now));
                return;
            }
        };
        let timeout = Duration::from_nanos(self.timeout_ns.load(Ordering::Relaxed));
        if now.duration_since(since) < timeout {
            return;
        }
        self.fire(word, false);
        *seen = None;
    }
}

struct Watched {
    entry: Weak<WatchEntry>,
    seen: Option<(u64, Instant)>,
}

struct Watchdog {
    entries: Mutex<Vec<Watched>>,
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
                entries.retain_mut(|w| match w.entry.upgrade() {
                    Some(e) => {
                        e.check(now, &mut w.seen);
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
    let entry = Arc::new(WatchEntry {
        word: AtomicU64::new(IDLE),
        timeout_ns: AtomicU64::new(0),
        thread: AtomicU64::new(0),
        kicked: AtomicBool::new(false),
        immediate_exit,
    });
    let watched = Watched { entry: Arc::downgrade(&entry), seen: None };
    watchdog().entries.lock().unwrap_or_else(|e| e.into_inner()).push(watched);
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disarmed_in_time_never_fires() {
        let mut byte = 0u8;
        let e = register(&mut byte);
        for _ in 0..1000 {
            e.arm(Duration::from_secs(10));
            assert!(!e.disarm());
        }
        assert!(!e.fired());
        drop(e);
        assert_eq!(byte, 0);
    }

    #[test]
    fn a_kick_fires_at_once_only_while_armed() {
        let mut byte = 0u8;
        let e = register(&mut byte);
        assert!(!e.kick(), "an idle vCPU is not kicked");
        assert!(!e.fired());
        e.arm(Duration::from_secs(10));
        let start = Instant::now();
        // The kick signals this very thread; its handler does nothing.
        assert!(e.kick(), "an armed vCPU is kicked");
        assert!(e.fired());
        assert!(start.elapsed() < Duration::from_secs(1), "the kick waited for the watchdog");
        assert!(!e.kick(), "a fired vCPU is not kicked twice");
        assert!(e.disarm(), "disarm must report the kick");
        assert!(e.take_kicked(), "the firing was a kick");
        assert!(!e.take_kicked());
        drop(e);
        assert_eq!(byte, 0, "immediate_exit must be cleared after a kick");
    }

    #[test]
    fn fires_after_the_timeout_and_resets_on_disarm() {
        let mut byte = 0u8;
        let e = register(&mut byte);
        let start = Instant::now();
        e.arm(Duration::from_millis(50));
        // The kick interrupts the sleep; std's sleep resumes it.
        while !e.fired() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(TICK);
        }
        assert!(e.fired(), "watchdog did not fire within 5 s");
        assert!(start.elapsed() >= Duration::from_millis(50), "fired early: {:?}", start.elapsed());
        assert!(e.disarm(), "disarm must report the firing");
        assert!(!e.take_kicked(), "a timeout is no kick");
        assert!(!e.fired());
        drop(e);
        assert_eq!(byte, 0, "immediate_exit must be cleared after a firing");
    }
}
