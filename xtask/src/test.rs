//! `cargo xtask test [-- ARGS]`: the README's test command, `cargo test
//! --workspace` on this host's /dev/kvm; extra arguments go to the test binaries.

use std::process::Command;

use crate::util::{root, run};
use crate::Result;

/// Run the whole suite on this host's /dev/kvm.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Arguments for the test binaries (libtest's: filters, --exact, ...)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub test_args: Vec<String>,
}

pub fn test(args: &Args) -> Result {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["test", "--workspace"]);
    if !args.test_args.is_empty() {
        cmd.arg("--").args(args.test_args.iter().filter(|a| *a != "--"));
    }
    run(&mut cmd)
}
