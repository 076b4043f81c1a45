//! The options vm-test and vm-run share: as parsed from the command line
//! ([`VmOptions`]) and resolved against the arch and series tables
//! ([`Options`]), with the defaults filled in.

use std::path::PathBuf;
use std::time::Duration;

use super::arch::{Arch, KernelSeries, ARCHES, DEFAULT_SERIES, SERIES};
use super::archive;
use crate::util::host_arch;
use crate::Result;

/// The whole VM's time limit unless --timeout says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The emulated machine: arch, kernel and what to run in it.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct VmOptions {
    /// x86_64 or aarch64 [default: this host's arch]
    #[arg(long)]
    pub arch: Option<String>,
    /// Kernel series [default: 6.12]: 6.1 and 6.12 come through apt; any
    /// other MAJOR.MINOR (7.3, 7.2, ...) and `latest` (the newest) from the
    /// Debian archive's trixie-backports, trixie and bookworm-backports
    /// indexes, without changing apt's sources
    #[arg(long, value_name = "VERSION")]
    pub kernel_version: Option<String>,
    /// Boot this linux-image .deb or kernel image instead
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// With an image --kernel: where to find KVM's modules
    #[arg(long, value_name = "DIR")]
    pub modules: Option<PathBuf>,
    /// More kernel command line (e.g. kvm_amd.npt=0: init passes
    /// `module.param=` words to the modules it loads); repeatable
    #[arg(long, value_name = "ARGS")]
    pub append: Vec<String>,
    /// arm64 KVM's mode [default: nvhe]
    #[arg(long, value_enum, value_name = "MODE")]
    pub kvm_mode: Option<ArmKvmMode>,
    /// Limit for the whole VM in seconds [default: 1200]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Run a minimal KVM smoke binary instead of the suite
    #[arg(long)]
    pub smoke: bool,
    /// Run the kernel CI bundle (cargo xtask dist) with the kernel's
    /// run_kselftest.sh under busybox in the VM and check its KTAP with kunit.py
    #[arg(long)]
    pub kselftest: bool,
    /// Fetch the newest package of the series again
    #[arg(long)]
    pub refresh_kernel: bool,
    /// Pack the test binaries unstripped (slower boot)
    #[arg(long)]
    pub keep_debuginfo: bool,
}

/// arm64 KVM's mode, the arch's `kvm-arm.mode=nvhe` word replaced. The
/// kernel (arch/arm64/kvm/arm.c, early_kvm_mode_cfg) accepts `nvhe`,
/// `protected` and `none` but no `vhe` ("Malformed early option"): VHE is
/// what a VHE-capable CPU gets when the word is left out.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmKvmMode {
    /// KVM at EL2, the host at EL1 (the machines' default).
    Nvhe,
    /// The host kernel at EL2 (no kvm-arm.mode word).
    Vhe,
    /// pKVM: nVHE with the hypervisor protecting itself and guests from the host.
    Protected,
}

impl ArmKvmMode {
    /// The kernel command line word that selects the mode, if any.
    fn cmdline_word(self) -> Option<&'static str> {
        match self {
            ArmKvmMode::Nvhe => Some("kvm-arm.mode=nvhe"),
            ArmKvmMode::Vhe => None,
            ArmKvmMode::Protected => Some("kvm-arm.mode=protected"),
        }
    }
}

/// The word of an arch's command line that --kvm-mode replaces.
const KVM_ARM_MODE: &str = "kvm-arm.mode=";

/// [`VmOptions`] resolved: the arch and series found, defaults filled in.
pub struct Options {
    pub arch: &'static Arch,
    pub series: KernelSeries,
    pub kernel: Option<PathBuf>,
    pub modules: Option<PathBuf>,
    pub append: Vec<String>,
    /// Replaces the arch's own kvm-arm.mode word (arm64 only).
    pub kvm_mode: Option<ArmKvmMode>,
    pub timeout: Duration,
    pub smoke: bool,
    /// Run the dist bundle through run_kselftest.sh (kselftest.rs).
    pub kselftest: bool,
    pub refresh: bool,
    /// Pack the test binaries as built instead of without their DWARF.
    pub keep_debuginfo: bool,
    /// Arguments for the test binaries in the VM.
    pub test_args: Vec<String>,
}

impl Options {
    /// The kernel command line: the arch's (its kvm-arm.mode as
    /// --kvm-mode says), [`super::boot::COMMON_CMDLINE`], then `--append`.
    pub fn kernel_cmdline(&self) -> String {
        let arch_words = self.arch.cmdline.split_whitespace().filter_map(|w| match self.kvm_mode {
            Some(mode) if w.starts_with(KVM_ARM_MODE) => mode.cmdline_word(),
            _ => Some(w),
        });
        arch_words
            .chain([super::boot::COMMON_CMDLINE])
            .map(str::to_string)
            .chain(self.append.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl VmOptions {
    /// Finds the arch and series; `test_args` go to the test binaries.
    pub fn resolve(&self, test_args: Vec<String>) -> Result<Options> {
        let arch = self.arch.as_deref().unwrap_or(host_arch());
        let series = self.kernel_version.as_deref().unwrap_or(DEFAULT_SERIES);
        let arch = ARCHES.iter().find(|a| a.name == arch).ok_or_else(|| {
            format!("--arch {arch}: vm-test knows {}", ARCHES.iter().map(|a| a.name).collect::<Vec<_>>().join(", "))
        })?;
        let series = match SERIES.iter().find(|s| s.name == series) {
            Some(s) => KernelSeries::Apt(s),
            None => KernelSeries::Archive(archive::Wanted::parse(series).ok_or_else(|| {
                format!(
                    "--kernel-version {series}: vm-test knows {}, any other MAJOR.MINOR series Debian's archive carries, and latest",
                    SERIES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                )
            })?),
        };
        if self.kvm_mode.is_some() && !arch.cmdline.contains(KVM_ARM_MODE) {
            return Err(format!(
                "--kvm-mode is arm64 KVM's mode; {} has none (use --append module.param=value)",
                arch.name
            ));
        }
        Ok(Options {
            arch,
            series,
            kernel: self.kernel.clone(),
            modules: self.modules.clone(),
            append: self.append.clone(),
            kvm_mode: self.kvm_mode,
            timeout: self.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            smoke: self.smoke,
            kselftest: self.kselftest,
            refresh: self.refresh_kernel,
            keep_debuginfo: self.keep_debuginfo,
            test_args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_and_series_resolve_with_defaults() {
        let o = VmOptions { arch: Some("aarch64".into()), kernel_version: Some("6.1".into()), ..VmOptions::default() };
        let o = o.resolve(vec!["ucall".into()]).unwrap();
        assert!(matches!(o.series, KernelSeries::Apt(s) if s.name == "6.1"));
        assert_eq!((o.arch.name, o.test_args), ("aarch64", vec!["ucall".to_string()]));
        let o = VmOptions::default().resolve(Vec::new()).unwrap();
        assert!(matches!(o.series, KernelSeries::Apt(s) if s.name == DEFAULT_SERIES));
        assert_eq!((o.arch.name, o.timeout), (host_arch(), DEFAULT_TIMEOUT));
        assert!(VmOptions { arch: Some("riscv64".into()), ..VmOptions::default() }.resolve(Vec::new()).is_err());
        let version =
            |v: &str| VmOptions { kernel_version: Some(v.into()), ..VmOptions::default() }.resolve(Vec::new());
        assert!(
            matches!(version("7.3").unwrap().series, KernelSeries::Archive(archive::Wanted::Series(ref s)) if s == "7.3")
        );
        assert!(matches!(version("latest").unwrap().series, KernelSeries::Archive(archive::Wanted::Latest)));
        assert!(version("7").is_err());
        assert!(version("newest").is_err());
    }

    #[test]
    fn kvm_mode_replaces_the_arch_word() {
        let cmdline = |mode| {
            let o = VmOptions {
                arch: Some("aarch64".into()),
                kvm_mode: mode,
                append: vec!["x.y=1".into()],
                ..VmOptions::default()
            };
            o.resolve(Vec::new()).unwrap().kernel_cmdline()
        };
        let common = super::super::boot::COMMON_CMDLINE;
        assert_eq!(cmdline(None), format!("console=ttyAMA0 kvm-arm.mode=nvhe {common} x.y=1"));
        assert_eq!(cmdline(Some(ArmKvmMode::Nvhe)), cmdline(None));
        assert_eq!(cmdline(Some(ArmKvmMode::Vhe)), format!("console=ttyAMA0 {common} x.y=1"));
        assert_eq!(
            cmdline(Some(ArmKvmMode::Protected)),
            format!("console=ttyAMA0 kvm-arm.mode=protected {common} x.y=1")
        );
        let x86 = VmOptions { arch: Some("x86_64".into()), kvm_mode: Some(ArmKvmMode::Vhe), ..VmOptions::default() };
        assert!(x86.resolve(Vec::new()).is_err());
    }
}
