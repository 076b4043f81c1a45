//! `cargo xtask vm-test` (and the machine vm_run.rs boots): the suite on
//! real KVM inside an emulated machine (qemu TCG) that boots a stock Debian kernel,
//! so x86_64 hosts test both arches and kernel series the CI host lacks.
//!
//! One flow for every arch; what differs lives in the [`ARCHES`] table
//! (arch.rs): options (options.rs) → fetch/cache the kernel (kernel.rs) →
//! build static musl test binaries (build.rs) → pack init + binaries + KVM
//! modules into a cpio (initramfs.rs) and boot it (boot.rs), reading the
//! console markers (qemu.rs, console.rs) → summary and exit code (summary.rs).
//! `--kselftest` runs the kernel CI bundle instead (kselftest.rs);
//! `--config` boots the named configurations of xtask/vm-configs.toml one
//! after another and prints a verdict table (config.rs).

mod arch;
mod archive;
mod boot;
mod build;
mod config;
mod console;
mod initramfs;
mod kernel;
mod kselftest;
mod options;
mod qemu;
mod summary;

/// The plan and console markers shared with the VM's init. Compiled from the
/// init crate's source rather than depended on, because that crate's other
/// dependencies (nix, kvm-ioctls) are for the VM, not for xtask.
#[path = "../../vm-init/src/protocol.rs"]
#[allow(dead_code)] // each side uses its half: xtask renders plans and parses markers
mod protocol;

use std::time::Instant;

use crate::Result;
pub use arch::ARCHES;
pub use boot::{boot, require_qemu};
pub use build::build_init;
pub use kernel::kernel_for;
#[cfg(test)]
pub use options::ArmKvmMode;
pub use options::VmOptions;
pub use summary::trouble;

/// Run the suite on real KVM inside an emulated machine
///
/// The machine boots a Debian kernel (fetched and cached under
/// target/vm-kernels/).
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    #[command(flatten)]
    pub vm: VmOptions,
    /// Boot the configurations of xtask/vm-configs.toml instead: one by
    /// name, a matrix (`default`) or `all`; prints configuration × binary
    #[arg(long, value_name = "NAME", conflicts_with_all = ["arch", "kernel_version", "kernel", "modules", "kvm_mode", "smoke", "kselftest"])]
    pub config: Option<String>,
    /// A label for the results directory (target/kvmtest-results/<UTC
    /// time>-LABEL) [default: vm-test-<arch>; with --config vm-test-config-<NAME>]
    #[arg(long)]
    pub label: Option<String>,
    /// Arguments for the test binaries (libtest's), after the options or `--`
    #[arg(trailing_var_arg = true, value_name = "TEST-ARGS")]
    pub test_args: Vec<String>,
}

/// `cargo xtask vm-test`.
pub fn vm_test(args: &Args) -> Result {
    if let Some(name) = &args.config {
        return config::run_configs(name, &args.vm, &args.test_args, args.label.as_deref());
    }
    let o = args.vm.resolve(args.test_args.clone())?;
    require_qemu(o.arch)?;
    if o.kselftest {
        return kselftest::vm_kselftest(&o, args.label.as_deref());
    }
    let t0 = Instant::now();
    let kernel = kernel_for(&o)?;
    eprintln!("vm-test: kernel ready in {:.1} s", t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    let (init, smoke) = build_init(o.arch)?;
    let tests = if o.smoke { vec![("kvm-smoke".to_string(), smoke)] } else { build::build_suite(o.arch)? };
    let build_time = t0.elapsed();
    eprintln!(
        "vm-test: test binaries for {} built in {:.1} s: {}",
        o.arch.musl_target(),
        build_time.as_secs_f64(),
        tests.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
    );
    let dir = summary::run_dir(args.label.as_deref(), &format!("vm-test-{}", o.arch.name))?;
    let run = boot(&o, &kernel, &init, &tests, "vm-test")?;
    let failed = summary::summarize(&o, &kernel, &tests, &run, &dir, None);
    if crate::interrupt::interrupted() {
        println!("vm-test: interrupted (Ctrl-C): the machine was stopped; the verdicts above are what finished");
    }
    match failed {
        None => Ok(()),
        Some(why) => Err(why),
    }
}
