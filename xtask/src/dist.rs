//! `cargo xtask dist`: builds the kernel CI bundle (bundle.rs) for an arch
//! and, with `--check`, runs it under run_kselftest.sh and validates its
//! KTAP (kernel_ci.rs).

use std::path::PathBuf;

use crate::bundle;
use crate::kernel_ci;
use crate::kselftest::KernelTools;
use crate::util::host_arch;
use crate::Result;

/// Build the kernel CI bundle
///
/// Static test binaries in the layout of an installed kselftest tree
/// (collection `kvmtest`), packed as DIR/kvmtest-ARCH.tar.gz.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// x86_64 or aarch64 [default: this host's arch]
    #[arg(long)]
    pub arch: Option<String>,
    /// Where the bundle goes [default: target/dist]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run it with run_kselftest.sh and validate the KTAP with the kernel's parser (host arch only)
    #[arg(long)]
    pub check: bool,
}

pub fn dist(args: &Args) -> Result {
    let arch = args.arch.as_deref().unwrap_or(host_arch());
    let out = args.out.clone().unwrap_or_else(bundle::default_out);
    let tools = KernelTools::find(false)?;
    let bundle = bundle::build(arch, &out, &tools)?;
    println!(
        "dist: {} ({} test binaries; unpacked in {})",
        bundle.tarball.display(),
        bundle.tests.len(),
        bundle.dir.display()
    );
    if args.check {
        kernel_ci::check_bundle(&bundle, &tools)?;
    }
    Ok(())
}
