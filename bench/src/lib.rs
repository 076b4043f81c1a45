//! kvmtest's benchmarks, run by `cargo xtask bench`: the harness against a
//! baseline written directly on KVM, measured beside it in the same run.
//! See README.md ("Benchmarks") for what each row compares.
//!
//! x86_64 only for now: the raw baseline VM is an x86_64 long-mode guest.

#[cfg(target_arch = "x86_64")]
pub mod exits;
#[cfg(target_arch = "x86_64")]
pub mod raw;
pub mod report;
#[cfg(target_arch = "x86_64")]
pub mod start;
pub mod stats;
#[cfg(target_arch = "x86_64")]
pub mod suite;

/// One line naming the machine: CPU model, kernel, KVM backend.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let backend = kvmtest::backend().map_or_else(|e| e.to_string(), |b| b.to_string());
    format!("{cpu}, {cores} cores; {backend}")
}
