//! `cargo xtask vm-run [OPTIONS] BINARY [ARGS...]`: the cargo runner of the
//! musl targets (.cargo/config.toml). Boots one emulated machine (vm_test)
//! running one static test binary with ARGS untouched; its exit code is
//! vm-run's, so cargo's runner protocol sees the test's own result.

use std::path::PathBuf;
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
    /// The static test binary
    pub binary: PathBuf,
    /// Its arguments, passed through untouched
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub test_args: Vec<String>,
}

/// `cargo xtask vm-run`: one binary, its exit code passed through so cargo's
/// runner protocol sees the test's own result.
pub fn vm_run(args: &Args) -> ExitCode {
    let run = || -> Result<ExitCode> {
        let o = args.vm.resolve(args.test_args.clone())?;
        require_qemu(o.arch)?;
        let binary = &args.binary;
        let name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.replace(char::is_whitespace, "_"))
            .ok_or_else(|| format!("{}: not a file name", binary.display()))?;
        let kernel = kernel_for(&o)?;
        let (init, _) = build_init(o.arch)?;
        let run = boot(&o, &kernel, &init, &[(name.clone(), binary.clone())], "vm-run")?;
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
        Ok(ExitCode::from(exit.shell_status().clamp(0, 255) as u8))
    };
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask vm-run: {e}");
            ExitCode::FAILURE
        }
    }
}
