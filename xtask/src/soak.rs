//! `cargo xtask soak`: the long-running trials of tests/soak.rs, which the
//! default run ignores (10,000 VMs created, run and dropped without leaking).

use std::process::Command;

use crate::util::{root, run};
use crate::Result;

/// The ignored soak trials: 10,000 VMs must leak nothing.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Arguments for the soak test binary (libtest's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub test_args: Vec<String>,
}

pub fn soak(args: &Args) -> Result {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["test", "-p", "kvmtest-tests", "--test", "soak", "--", "--ignored"]);
    cmd.args(args.test_args.iter().filter(|a| *a != "--"));
    run(&mut cmd)
}
