//! `cargo xtask build-payloads [--arch ARCH]`: cross-builds the no_std guest
//! payloads (guest-payloads/) into target/guest-payloads and lists them.

use crate::util::{host_arch, root};
use crate::Result;

/// Cross-build the no_std guest payloads.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// x86_64 or aarch64 [default: this host's arch]
    #[arg(long)]
    pub arch: Option<String>,
}

pub fn build_payloads(args: &Args) -> Result {
    let arch = args.arch.as_deref().unwrap_or(host_arch());
    let root = root();
    let built = payload_builder::build(&root.join("guest-payloads"), arch, &root.join("target/guest-payloads"))?;
    for (name, path) in built {
        println!("{name}: {}", path.display());
    }
    Ok(())
}
