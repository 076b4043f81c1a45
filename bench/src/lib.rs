//! kvmtest's benchmarks, run by `cargo xtask bench`: the harness against a
//! baseline written directly on KVM, measured beside it in the same run.
//! See README.md ("Benchmarks") for what each row compares.
//!
//! The baseline VM is per arch (`raw/x86_64.rs`, `raw/aarch64.rs`, behind
//! `raw::RawArch`); everything else is the same on both.

pub mod exits;
pub mod raw;
pub mod report;
pub mod scenario;
pub mod start;
pub mod stats;
pub mod suite;
pub mod upstream;

use std::path::PathBuf;

/// One line naming the machine: CPU model, kernel, KVM backend.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| l.strip_prefix(name).map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
    };
    // arm64 has no model name, only the MIDR fields.
    let cpu = field("model name")
        .or_else(|| {
            Some(format!(
                "{} CPU implementer {} part {}",
                std::env::consts::ARCH,
                field("CPU implementer")?,
                field("CPU part")?
            ))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let backend = kvmtest::backend().map_or_else(|e| e.to_string(), |b| b.to_string());
    format!("{cpu}, {cores} cores; {backend}")
}

/// Every row of the table, in order. `suite` are the test binaries to time
/// (none: no suite row); `quick` takes fewer samples, for a smoke run.
pub fn run(suite: &[PathBuf], quick: bool) -> Result<Vec<report::Row>, String> {
    use exits::GuestKind;
    use kvmtest::TransportKind;
    use kvmtest_tests::payloads::BENCH;
    use raw::{Host, RawArch};

    let (rounds, batch, starts, suite_runs) = if quick { (20, 25, 9, 1) } else { (300, 25, 81, 5) };
    let mut rows = Vec::new();
    for &t in TransportKind::all() {
        rows.push(exits::measure(t, GuestKind::Dynasm, rounds, batch)?);
        eprintln!("bench: {}", rows.last().map_or("", |r| &r.name));
    }
    rows.push(exits::measure(Host::ELF_TRANSPORT, GuestKind::Elf(BENCH), rounds, batch)?);
    const SMALL: u64 = 64 << 20;
    const BIG: u64 = 4 << 30;
    let (h_small, r_small) = start::measure(BENCH, SMALL, starts)?;
    let (h_big, r_big) = start::measure(BENCH, BIG, starts)?;
    rows.push(start::row(SMALL, &h_small, &r_small));
    rows.push(start::row(BIG, &h_big, &r_big));
    rows.push(start::growth_row(SMALL, BIG, (&h_small, &h_big), (&r_small, &r_big)));
    eprintln!("bench: cold start");
    rows.push(start::memory_row(BENCH, 1 << 30, if quick { 3 } else { 5 })?);
    let (up_rounds, up_creates, up_batches) = if quick { (3, 2, 4) } else { (10, 3, 10) };
    rows.extend(upstream::rows(BENCH, up_rounds, up_creates, up_batches, batch)?);
    eprintln!("bench: upstream selftest lib");
    rows.push(scenario::row(if quick { 2 } else { 5 })?);
    eprintln!("bench: scenario vs upstream");
    if !suite.is_empty() {
        rows.push(suite::row(suite, suite_runs)?);
    }
    Ok(rows)
}
