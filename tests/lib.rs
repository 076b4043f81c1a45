//! Shared pieces of the scenario tests: the embedded guest payloads, the
//! `main` of scenarios that exist on one arch only, and the case tables
//! several arm64 scenarios share.

/// The no_std guest payloads, built by `build.rs` for the target arch.
pub mod payloads {
    include!(concat!(env!("OUT_DIR"), "/payloads.rs"));
}

/// `main` of a scenario that exists on one arch only: a file under
/// tests/x86_64/ or tests/aarch64/ whose code sits in a
/// `#[cfg(target_arch = "...")]` module. On that arch it runs `$trials()`;
/// elsewhere the binary still builds and reports one ignored trial, named
/// after the binary, skipped as "<arch> only[: why] (this host is <arch>)".
///
/// ```ignore
/// kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's Xen HVM emulation");
/// kvmtest_tests::arch_only_main!("aarch64", scenario::trials);
/// ```
#[macro_export]
macro_rules! arch_only_main {
    ($arch:literal, $trials:path $(,)?) => {
        $crate::arch_only_main!(@main $arch, $trials, concat!($arch, " only"));
    };
    ($arch:literal, $trials:path, $why:literal $(,)?) => {
        $crate::arch_only_main!(@main $arch, $trials, concat!($arch, " only: ", $why));
    };
    (@main $arch:literal, $trials:path, $reason:expr) => {
        fn main() -> std::process::ExitCode {
            #[cfg(target_arch = $arch)]
            let trials = $trials();
            #[cfg(not(target_arch = $arch))]
            let trials = vec![kvmtest::runner::skipped(
                env!("CARGO_CRATE_NAME"),
                format!("{} (this host is {})", $reason, std::env::consts::ARCH),
            )];
            kvmtest::runner::main(trials)
        }
    };
}
/// What the arm64 scenarios (tests/aarch64/) share.
#[cfg(target_arch = "aarch64")]
pub mod aarch64 {
    /// hypercalls.c's `hvc_info[]`, for the hypercalls and migration scenarios.
    pub mod services;
}

/// get_run_delay() of the selftests' test_util.c: the calling thread's time
/// spent waiting on a run queue, field 2 of /proc/<tid>/schedstat, in
/// nanoseconds (steal_time and xen_shinfo measure stolen time against it).
pub fn get_run_delay() -> kvmtest::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .map_err(|e| kvmtest::Error::Config(format!("reading /proc/thread-self/schedstat: {e}")))?;
    text.split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| kvmtest::Error::Config(format!("/proc/thread-self/schedstat: no run delay in {text:?}")))
}

/// The calling thread pinned to one CPU until dropped, which gives it back
/// the CPUs it had (steal_time and xen_shinfo steal time from a vCPU thread
/// with a second thread on its CPU; upstream pins both to CPU 0, here the
/// first CPU the thread may use). Not `Send`: it restores its own thread.
pub struct CpuPin {
    cpu: usize,
    saved: libc::cpu_set_t,
    _this_thread: std::marker::PhantomData<*const ()>,
}

impl CpuPin {
    /// Pins the calling thread to the first CPU it may run on.
    pub fn first_allowed() -> kvmtest::Result<CpuPin> {
        let saved = thread_affinity()?;
        // SAFETY: CPU_ISSET reads the set sched_getaffinity filled in.
        let cpu = (0..libc::CPU_SETSIZE as usize)
            .find(|&c| unsafe { libc::CPU_ISSET(c, &saved) })
            .ok_or_else(|| kvmtest::Error::Config("sched_getaffinity: no CPU allowed".into()))?;
        CpuPin::pin(cpu, saved)
    }

    /// Pins the calling thread to `cpu` (a second thread on a pinned one's CPU).
    pub fn to(cpu: usize) -> kvmtest::Result<CpuPin> {
        CpuPin::pin(cpu, thread_affinity()?)
    }

    fn pin(cpu: usize, saved: libc::cpu_set_t) -> kvmtest::Result<CpuPin> {
        // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes into it.
        let one = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            set
        };
        set_thread_affinity(&one).map_err(|e| kvmtest::Error::Config(format!("sched_setaffinity(CPU {cpu}): {e}")))?;
        Ok(CpuPin { cpu, saved, _this_thread: std::marker::PhantomData })
    }

    /// The CPU the thread is pinned to.
    pub fn cpu(&self) -> usize {
        self.cpu
    }
}

impl Drop for CpuPin {
    fn drop(&mut self) {
        // Nothing to report to: a thread left on one CPU only runs slower.
        let _ = set_thread_affinity(&self.saved);
    }
}

/// sched_getaffinity of the calling thread.
fn thread_affinity() -> kvmtest::Result<libc::cpu_set_t> {
    // SAFETY: sched_getaffinity(0 = this thread) writes at most
    // size_of::<cpu_set_t>() bytes into `set`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(kvmtest::Error::Config(format!("sched_getaffinity: {}", std::io::Error::last_os_error())));
        }
        Ok(set)
    }
}

/// sched_setaffinity of the calling thread.
fn set_thread_affinity(set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: sched_setaffinity(0 = this thread) reads `set`.
    match unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(set: &libc::cpu_set_t) -> Vec<usize> {
        // SAFETY: CPU_ISSET reads the set.
        (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, set) }).collect()
    }

    #[test]
    fn cpu_pin_pins_this_thread_and_restores_it() {
        let before = cpus(&thread_affinity().unwrap());
        {
            let pin = CpuPin::first_allowed().unwrap();
            assert_eq!(pin.cpu(), before[0]);
            assert_eq!(cpus(&thread_affinity().unwrap()), vec![before[0]]);
        }
        assert_eq!(cpus(&thread_affinity().unwrap()), before);
        // A CPU this thread may not use (the last a cpu_set_t holds, on a
        // machine with fewer CPUs).
        let last = libc::CPU_SETSIZE as usize - 1;
        let Err(e) = CpuPin::to(last) else { return };
        assert!(e.to_string().contains(&format!("sched_setaffinity(CPU {last}): ")), "{e}");
        assert_eq!(cpus(&thread_affinity().unwrap()), before);
    }
}
