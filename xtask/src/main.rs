//! `cargo xtask <verb>`: every kvmtest workflow as plain Rust.
//!
//! Verbs: setup, build-payloads, test, bench, vm-test, vm-run, dist, ktap-check,
//! kernel-ci-check, fuzz, soak. Run `cargo xtask help`.

mod bench;
mod ci;
mod dist;
mod fuzz;
mod kernel_ci;
mod kselftest;
mod soak;
mod util;
mod vm_test;

use std::process::ExitCode;

type Result<T = ()> = std::result::Result<T, String>;

const HELP: &str = "\
cargo xtask <verb> [options]

  setup [--vm]          install the rustup targets kvmtest needs; --vm also
                        installs qemu and lets apt fetch arm64 kernels (root)
  build-payloads [--arch x86_64|aarch64]
                        cross-build the no_std guest payloads
  test [-- ARGS]        run the whole suite on this host's /dev/kvm
  lint                  rustfmt and clippy -D warnings: host code for x86_64
                        and aarch64, guest payloads for both
  ci                    everything .ci/run checks (lints, emulated machines,
                        kernel CI bundle, then the suite on this host)
  bench [--quick] [--arch ARCH [VM-RUN OPTIONS]]
                        harness vs raw KVM: exit round trips, cold start,
                        memory, suite time (a table; fails on a missed target);
                        --arch aarch64 on x86_64: in the emulated machine of
                        vm-run (--kernel-version 6.1|6.12 ...), no suite row
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
    if verb == "vm-run" {
        // The exit code is the test binary's, so cargo's runner protocol holds.
        return vm_test::vm_run(rest);
    }
    let result = match verb {
        "setup" => util::setup(rest),
        "build-payloads" => util::build_payloads(rest),
        "test" => util::test(rest),
        "bench" => bench::bench(rest),
        "ci" => ci::ci(rest),
        "lint" => ci::lint(rest),
        "vm-test" => vm_test::vm_test(rest),
        "dist" => dist::dist(rest),
        "ktap-check" => kernel_ci::ktap_check(rest),
        "kernel-ci-check" => kernel_ci::kernel_ci_check(rest),
        "fuzz" => fuzz::fuzz(rest),
        "soak" => soak::soak(rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}{}{}{}", vm_test::HELP, dist::HELP, kernel_ci::HELP);
            Ok(())
        }
        other => Err(format!("unknown verb `{other}`\n{HELP}{}{}{}", vm_test::HELP, dist::HELP, kernel_ci::HELP)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
