//! The basic verbs: setup, build-payloads, test.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;

/// The workspace root (the parent of xtask/).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ is inside the workspace").to_path_buf()
}

/// Runs a command, failing with its name if it fails.
pub fn run(cmd: &mut Command) -> Result {
    let status = cmd.status().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// The host arch name as kvmtest uses it.
pub fn host_arch() -> &'static str {
    std::env::consts::ARCH
}

/// Value of `--name VALUE` in `args`.
pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// Targets kvmtest builds for: guest payloads of both arches, and static
/// musl test binaries for kernel CI bundles and the emulated machines.
pub const RUST_TARGETS: &[&str] = &[
    "x86_64-unknown-none",
    "aarch64-unknown-none-softfloat",
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
];

/// `--vm` also installs what `cargo xtask vm-test` needs from Debian.
pub fn setup(args: &[String]) -> Result {
    run(Command::new("rustup").arg("target").arg("add").args(RUST_TARGETS))?;
    if args.iter().any(|a| a == "--vm") {
        crate::vm_test::setup_host()?;
    }
    Ok(())
}

pub fn build_payloads(args: &[String]) -> Result {
    let arch = flag(args, "--arch").unwrap_or(host_arch());
    let root = root();
    let built = payload_builder::build(&root.join("guest-payloads"), arch, &root.join("target/guest-payloads"))?;
    for (name, path) in built {
        println!("{name}: {}", path.display());
    }
    Ok(())
}

/// `cargo test` of the whole workspace; extra arguments go to the test binaries.
pub fn test(args: &[String]) -> Result {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["test", "--workspace"]);
    if !args.is_empty() {
        cmd.arg("--").args(args.iter().filter(|a| *a != "--"));
    }
    run(&mut cmd)
}
