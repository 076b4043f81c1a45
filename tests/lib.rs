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
