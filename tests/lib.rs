//! Shared pieces of the scenario tests: the embedded guest payloads, the
//! `main` of scenarios that exist on one arch only, and the case tables
//! several arm64 scenarios share.

/// The no_std guest payloads, built by `build.rs` for the target arch.
pub mod payloads {
    include!(concat!(env!("OUT_DIR"), "/payloads.rs"));
}

/// `main` of a scenario that exists on aarch64 only (a file under
/// tests/aarch64/ whose code sits in a `#[cfg(target_arch = "aarch64")]`
/// module): there it runs `$trials()`; on other hosts the binary still builds
/// and reports one ignored trial, "SKIP: aarch64 only".
#[macro_export]
macro_rules! aarch64_main {
    ($trials:path) => {
        fn main() -> std::process::ExitCode {
            #[cfg(target_arch = "aarch64")]
            let trials = $trials();
            #[cfg(not(target_arch = "aarch64"))]
            let trials = vec![kvmtest::runner::test("aarch64_only", || {
                Err(kvmtest::Error::Skip(format!("aarch64 only (this host is {})", std::env::consts::ARCH)))
            })];
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
