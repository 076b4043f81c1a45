//! `cargo xtask <verb>`: every kvmtest workflow as plain Rust.
//!
//! Verbs: setup, build-payloads, test, bench, vm-test. Run `cargo xtask help`.

mod bench;
mod util;

use std::process::ExitCode;

type Result<T = ()> = std::result::Result<T, String>;

const HELP: &str = "\
cargo xtask <verb> [options]

  setup                 install the rustup targets kvmtest needs
  build-payloads [--arch x86_64|aarch64]
                        cross-build the no_std guest payloads
  test [-- ARGS]        run the whole suite on this host's /dev/kvm
  bench [--quick]       harness vs raw KVM: exit round trips, cold start,
                        memory, suite time (a table; fails on a missed target)
  vm-test --arch x86_64|aarch64 [--kernel PATH]
                        run the suite on real KVM inside an emulated machine
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (verb, rest) = match args.split_first() {
        Some((v, r)) => (v.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match verb {
        "setup" => util::setup(),
        "build-payloads" => util::build_payloads(rest),
        "test" => util::test(rest),
        "bench" => bench::bench(rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown verb `{other}`\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
