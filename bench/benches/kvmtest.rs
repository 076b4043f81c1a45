//! `cargo xtask bench`: exit round trips, cold start, memory and suite time,
//! each as a ratio to a baseline measured right beside it.
//!
//! Arguments: `--suite BIN...` (the test binaries to time; xtask passes
//! them), `--quick` (fewer rounds, for a smoke run).

use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(target_arch = "x86_64")]
fn run(suite: &[PathBuf], quick: bool) -> Result<Vec<kvmtest_bench::report::Row>, String> {
    use kvmtest::TransportKind;
    use kvmtest_bench::exits::{self, GuestKind};
    use kvmtest_bench::{start, suite as suite_time};
    use kvmtest_tests::payloads::BENCH;

    let (rounds, batch, starts, suite_runs) = if quick { (20, 25, 5, 1) } else { (300, 25, 61, 5) };
    let mut rows = Vec::new();
    for &t in TransportKind::all() {
        rows.push(exits::measure(t, GuestKind::Dynasm, rounds, batch)?);
        eprintln!("bench: {}", rows.last().map_or("", |r| &r.name));
    }
    rows.push(exits::measure(TransportKind::Pio, GuestKind::Elf(BENCH), rounds, batch)?);
    const SMALL: u64 = 64 << 20;
    const BIG: u64 = 4 << 30;
    let (h_small, r_small) = start::measure(BENCH, SMALL, starts)?;
    let (h_big, r_big) = start::measure(BENCH, BIG, starts)?;
    rows.push(start::row(SMALL, &h_small, &r_small));
    rows.push(start::row(BIG, &h_big, &r_big));
    rows.push(start::growth_row(SMALL, BIG, (&h_small, &h_big), (&r_small, &r_big)));
    eprintln!("bench: cold start");
    rows.push(start::memory_row(BENCH, 1 << 30, if quick { 3 } else { 5 })?);
    if !suite.is_empty() {
        rows.push(suite_time::row(suite, suite_runs)?);
    }
    Ok(rows)
}

#[cfg(not(target_arch = "x86_64"))]
fn run(_: &[PathBuf], _: bool) -> Result<Vec<kvmtest_bench::report::Row>, String> {
    Err("the raw baseline VM is x86_64 only for now".into())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let suite: Vec<PathBuf> = match args.iter().position(|a| a == "--suite") {
        Some(i) => args[i + 1..].iter().take_while(|a| !a.starts_with("--")).map(PathBuf::from).collect(),
        None => Vec::new(),
    };
    println!("machine: {}", kvmtest_bench::machine());
    match run(&suite, quick) {
        Ok(rows) => {
            print!("{}", kvmtest_bench::report::table(&rows));
            println!("{}", kvmtest_bench::report::worst(&rows));
            if rows.iter().all(|r| r.met()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench: sanity check failed: {e}");
            ExitCode::from(2)
        }
    }
}
