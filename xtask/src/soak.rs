//! `cargo xtask soak`: the long-running trials of tests/soak.rs, which the
//! default run ignores (10,000 VMs created, run and dropped without leaking).

use std::process::Command;

use crate::util::{root, run};
use crate::Result;

pub fn soak(args: &[String]) -> Result {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["test", "-p", "kvmtest-tests", "--test", "soak", "--", "--ignored"]);
    cmd.args(args.iter().filter(|a| *a != "--"));
    run(&mut cmd)
}
