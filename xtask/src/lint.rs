//! `cargo xtask lint`: rustfmt and clippy -D warnings over the host code
//! (for x86_64 and aarch64) and the guest payloads (for both guest targets);
//! the lint steps of `cargo xtask ci`.

use std::process::Command;

use crate::util::{self, step};
use crate::Result;

/// rustfmt and clippy -D warnings
///
/// Host code for x86_64 and aarch64, guest payloads for both.
#[derive(clap::Args, Debug, Default)]
pub struct Args {}

/// rustfmt and clippy (-D warnings) over the host code, for x86_64 and
/// aarch64 (the arch modules are cfg'd by target_arch, so one target alone
/// leaves the other unlinted), and over the guest payloads' own workspace
/// for both guest targets.
pub fn lint(_: &Args) -> Result {
    let cargo = env!("CARGO");
    let root = util::root();
    step("rustfmt", || util::run(Command::new(cargo).current_dir(&root).args(["fmt", "--all", "--check"])))?;
    step("clippy (host code for x86_64 and aarch64, guest payloads for both)", || {
        for target in [None, Some("aarch64-unknown-linux-musl")] {
            let mut cmd = Command::new(cargo);
            cmd.current_dir(&root).args(["clippy", "--workspace", "--all-targets"]);
            if let Some(t) = target {
                cmd.args(["--target", t]);
            }
            util::run(cmd.args(["--", "-D", "warnings"]))?;
        }
        for arch in ["x86_64", "aarch64"] {
            let target = payload_builder::guest_target(arch)?;
            util::run(payload_builder::guest_cargo(&root.join("guest-payloads")).args([
                "clippy",
                "--release",
                "--locked",
                "--features",
                &format!("kvmtest-payloads/{arch}"),
                "--target",
                target,
                "--target-dir",
                &root.join("target/guest-payloads-clippy").to_string_lossy(),
                "--",
                "-D",
                "warnings",
            ]))?;
        }
        Ok(())
    })?;
    step("rustfmt (guest payloads)", || {
        util::run(payload_builder::guest_cargo(&root.join("guest-payloads")).args(["fmt", "--all", "--check"]))
    })?;
    Ok(())
}
