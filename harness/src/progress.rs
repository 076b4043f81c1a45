//! Where a trial's thread is: in KVM_RUN or on the host, and the last ucall
//! it received. The runner reads it when a trial exceeds its timeout, to say
//! whether the guest or the host hung (no portable backtrace of another
//! thread exists). Atomics only: the vCPU run loop writes it at each ucall.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::ucall::Ucall;

/// The last thing a trial's thread did, as the timeout report names it.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// [`IDLE`], [`IN_KVM_RUN`] or [`ON_HOST`].
    state: AtomicU8,
    vcpu: AtomicU64,
    /// Nanoseconds since [`epoch`] at the last change of `state`.
    since_ns: AtomicU64,
    /// What `last_stage` is: one of the `LAST_*` kinds.
    last_kind: AtomicU8,
    last_stage: AtomicU64,
    ucalls: AtomicU64,
}

const IDLE: u8 = 0;
const IN_KVM_RUN: u8 = 1;
const ON_HOST: u8 = 2;

const LAST_NONE: u8 = 0;
const LAST_SYNC: u8 = 1;
const LAST_DONE: u8 = 2;
const LAST_ABORT: u8 = 3;
const LAST_PRINTF: u8 = 4;
const LAST_ERROR: u8 = 5;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Progress>>> = const { RefCell::new(None) };
}

/// Makes `progress` the record of the calling thread (a trial's thread).
pub(crate) fn track_this_thread(progress: Arc<Progress>) {
    epoch();
    CURRENT.with(|c| *c.borrow_mut() = Some(progress));
}

fn with_current(f: impl FnOnce(&Progress)) {
    CURRENT.with(|c| {
        if let Some(p) = c.borrow().as_ref() {
            f(p)
        }
    });
}

/// The calling thread enters KVM_RUN for vCPU `vcpu`.
pub(crate) fn entering_kvm_run(vcpu: usize) {
    with_current(|p| {
        p.vcpu.store(vcpu as u64, Relaxed);
        p.since_ns.store(now_ns(), Relaxed);
        p.state.store(IN_KVM_RUN, Relaxed);
    });
}

/// The calling thread is back on the host with `result` from vCPU `vcpu`.
pub(crate) fn left_kvm_run(vcpu: usize, result: &crate::Result<Ucall>) {
    with_current(|p| {
        let (kind, stage) = match result {
            Ok(Ucall::Sync { stage, .. }) => (LAST_SYNC, *stage),
            Ok(Ucall::Done) => (LAST_DONE, 0),
            Ok(Ucall::Abort(_)) => (LAST_ABORT, 0),
            Ok(Ucall::Printf(_)) => (LAST_PRINTF, 0),
            Err(_) => (LAST_ERROR, 0),
        };
        p.vcpu.store(vcpu as u64, Relaxed);
        p.last_kind.store(kind, Relaxed);
        p.last_stage.store(stage, Relaxed);
        if result.is_ok() {
            p.ucalls.fetch_add(1, Relaxed);
        }
        p.since_ns.store(now_ns(), Relaxed);
        p.state.store(ON_HOST, Relaxed);
    });
}

impl Progress {
    /// One sentence: where the thread is and what it last saw, e.g.
    /// "on the host (not in KVM_RUN) for 0.9 s, since vCPU 0 returned SYNC(1); 1 ucall so far".
    pub(crate) fn describe(&self) -> String {
        let since = (now_ns().saturating_sub(self.since_ns.load(Relaxed))) as f64 / 1e9;
        let vcpu = self.vcpu.load(Relaxed);
        let ucalls = self.ucalls.load(Relaxed);
        let last = match self.last_kind.load(Relaxed) {
            LAST_SYNC => format!("SYNC({})", self.last_stage.load(Relaxed)),
            LAST_DONE => "DONE".to_string(),
            LAST_ABORT => "ABORT".to_string(),
            LAST_PRINTF => "PRINTF".to_string(),
            LAST_ERROR => "an error".to_string(),
            _ => "no ucall".to_string(),
        };
        let count = format!("{ucalls} ucall{} so far", if ucalls == 1 { "" } else { "s" });
        match (self.state.load(Relaxed), self.last_kind.load(Relaxed)) {
            (IDLE, _) => "on the host and had not run a vCPU (on this thread)".to_string(),
            (IN_KVM_RUN, LAST_NONE) => {
                format!("in KVM_RUN of vCPU {vcpu} for {since:.1} s (the guest), before its first ucall")
            }
            (IN_KVM_RUN, _) => format!("in KVM_RUN of vCPU {vcpu} for {since:.1} s (the guest), after {last}; {count}"),
            _ => format!("on the host (not in KVM_RUN) for {since:.1} s, since vCPU {vcpu} returned {last}; {count}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_each_state() {
        let p = Arc::new(Progress::default());
        track_this_thread(p.clone());
        assert!(p.describe().starts_with("on the host and had not run a vCPU"), "{}", p.describe());
        entering_kvm_run(2);
        assert!(p.describe().starts_with("in KVM_RUN of vCPU 2 for "), "{}", p.describe());
        assert!(p.describe().ends_with("before its first ucall"), "{}", p.describe());
        left_kvm_run(2, &Ok(Ucall::Sync { stage: 7, args: Default::default() }));
        let text = p.describe();
        assert!(text.starts_with("on the host (not in KVM_RUN) for "), "{text}");
        assert!(text.ends_with("since vCPU 2 returned SYNC(7); 1 ucall so far"), "{text}");
        entering_kvm_run(2);
        assert!(p.describe().ends_with("after SYNC(7); 1 ucall so far"), "{}", p.describe());
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}
