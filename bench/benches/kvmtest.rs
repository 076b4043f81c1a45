//! `cargo xtask bench`: exit round trips, cold start, memory and suite time,
//! each as a ratio to a baseline measured right beside it.
//!
//! Arguments: `--suite BIN...` (the test binaries to time; xtask passes
//! them), `--quick` (fewer rounds, for a smoke run), `--report-only` (a
//! missed target is printed, not a failure; sanity checks still fail).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let report_only = args.iter().any(|a| a == "--report-only");
    let suite: Vec<PathBuf> = match args.iter().position(|a| a == "--suite") {
        Some(i) => args[i + 1..].iter().take_while(|a| !a.starts_with("--")).map(PathBuf::from).collect(),
        None => Vec::new(),
    };
    println!("machine: {}", kvmtest_bench::machine());
    match kvmtest_bench::run(&suite, quick) {
        Ok(rows) => {
            print!("{}", kvmtest_bench::report::table(&rows));
            println!("{}", kvmtest_bench::report::worst(&rows));
            if rows.iter().all(|r| r.met()) {
                ExitCode::SUCCESS
            } else if report_only {
                println!("bench: --report-only: the missed targets above are reported, not judged");
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::from(2)
        }
    }
}
