//! `cargo xtask vm-run [OPTIONS] BINARY [ARGS...]`: the cargo runner of the
//! musl targets (.cargo/config.toml). Boots one emulated machine (vm_test)
//! running one static test binary with ARGS untouched; its exit code is
//! vm-run's, so cargo's runner protocol sees the test's own result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::vm_test::{boot, build_init, kernel_for, require_qemu, trouble, VmOptions};
use crate::Result;

/// Boot one VM running one static test binary; its exit code is vm-run's
///
/// The cargo runner of the musl targets (.cargo/config.toml); needs
/// target/debug/xtask, which any `cargo xtask` command builds.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub vm: VmOptions,
    /// The static test binary, then its arguments, passed through untouched
    /// (one list, so that no argument of the binary is read as vm-run's)
    #[arg(required = true, trailing_var_arg = true, value_name = "BINARY [ARGS]")]
    pub command: Vec<String>,
}

impl Args {
    /// The binary and its arguments.
    fn binary_and_args(&self) -> (PathBuf, Vec<String>) {
        match self.command.split_first() {
            Some((binary, args)) => (PathBuf::from(binary), args.to_vec()),
            None => (PathBuf::new(), Vec::new()),
        }
    }
}

/// `cargo xtask vm-run`: one binary, its exit code passed through so cargo's
/// runner protocol sees the test's own result.
pub fn vm_run(args: &Args) -> ExitCode {
    let (binary, test_args) = args.binary_and_args();
    match run_binary(&args.vm, &binary, test_args) {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("xtask vm-run: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Boots one emulated machine running `binary` with `test_args`; returns the
/// binary's exit status there (as a shell reports it, 0-255).
pub fn run_binary(vm: &VmOptions, binary: &Path, test_args: Vec<String>) -> Result<u8> {
    let o = vm.resolve(test_args)?;
    require_qemu(o.arch)?;
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.replace(char::is_whitespace, "_"))
        .ok_or_else(|| format!("{}: not a file name", binary.display()))?;
    let kernel = kernel_for(&o)?;
    let (init, _) = build_init(o.arch)?;
    let run = boot(&o, &kernel, &init, &[(name.clone(), binary.to_path_buf())], "vm-run")?;
    if let Some(why) = trouble(&run) {
        return Err(why);
    }
    let exit = run.console.results.first().and_then(|r| r.exit).ok_or("the binary never ran")?;
    eprintln!(
        "vm-run: {name} {exit} on {} ({}), VM wall time {:.1} s",
        run.console.kvm.as_deref().unwrap_or("unknown KVM"),
        run.console.kernel_release.as_deref().unwrap_or("unknown kernel"),
        run.wall.as_secs_f64()
    );
    Ok(exit.shell_status().clamp(0, 255) as u8)
}
