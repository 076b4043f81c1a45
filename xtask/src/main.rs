//! `cargo xtask <verb>`: every kvmtest workflow as plain Rust.
//!
//! Verbs: setup, build-payloads, test, vm-test, fuzz, soak. Run `cargo xtask help`.

mod fuzz;
mod soak;
mod util;

use std::process::ExitCode;

type Result<T = ()> = std::result::Result<T, String>;

const HELP: &str = "\
cargo xtask <verb> [options]

  setup                 install the rustup targets kvmtest needs
  build-payloads [--arch x86_64|aarch64]
                        cross-build the no_std guest payloads
  test [-- ARGS]        run the whole suite on this host's /dev/kvm
  vm-test --arch x86_64|aarch64 [--kernel PATH]
                        run the suite on real KVM inside an emulated machine
  fuzz [--smoke] [--seconds N] [TARGET...]
                        run the cargo-fuzz targets in fuzz/ (smoke: 30 s each,
                        else 300 s); fails on a finding
  soak [-- ARGS]        the ignored soak trials: 10,000 VMs must leak nothing
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
        "fuzz" => fuzz::fuzz(rest),
        "soak" => soak::soak(rest),
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
