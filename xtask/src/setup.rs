//! `cargo xtask setup [--vm]`: the rustup targets kvmtest builds for; with
//! `--vm` also what the emulated machines of `vm-test` need from Debian.

use std::process::Command;

use crate::util::run;
use crate::vm_test::ARCHES;
use crate::Result;

/// Install the rustup targets kvmtest needs.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Also install qemu and let apt fetch arm64 kernels (root)
    #[arg(long)]
    pub vm: bool,
}

/// Targets kvmtest builds for: guest payloads of both arches, and static
/// musl test binaries for kernel CI bundles and the emulated machines.
pub const RUST_TARGETS: &[&str] = &[
    "x86_64-unknown-none",
    "aarch64-unknown-none-softfloat",
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
];

/// Debian packages the emulated machines need: both qemus and the tools
/// that fetch (curl: vm_test/archive.rs) and unpack kernels and strip test binaries. For `cargo xtask setup --vm` (CI machines start bare).
pub const HOST_PACKAGES: &[&str] = &["qemu-system-x86", "qemu-system-arm", "xz-utils", "zstd", "llvm", "curl"];

pub fn setup(args: &Args) -> Result {
    run(Command::new("rustup").arg("target").arg("add").args(RUST_TARGETS))?;
    println!("setup: rustup targets installed: {}", RUST_TARGETS.join(", "));
    if args.vm {
        setup_host()?;
        println!("setup: Debian packages installed: {}", HOST_PACKAGES.join(", "));
    }
    println!(
        "setup: done. Next: `cargo xtask test` runs the suite on this host's /dev/kvm{}",
        if args.vm {
            "; `cargo xtask vm-test --arch aarch64` (or x86_64) runs it on real KVM in an emulated machine"
        } else {
            "; `cargo xtask setup --vm` (root) prepares the emulated machines of `cargo xtask vm-test`"
        }
    );
    Ok(())
}

/// `--vm`: installs [`HOST_PACKAGES`] and lets apt fetch every arch's kernels.
fn setup_host() -> Result {
    let native = Command::new("dpkg").arg("--print-architecture").output().map_err(|e| format!("running dpkg: {e}"))?;
    for arch in ARCHES.iter().filter(|a| a.deb_arch.as_bytes() != native.stdout.trim_ascii()) {
        run(Command::new("dpkg").args(["--add-architecture", arch.deb_arch]))?;
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends"]).args(HOST_PACKAGES))
}
