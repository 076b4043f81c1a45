//! The emulated machines' table: what differs between arches (qemu, its
//! machine and CPU options, kernel command line, KVM modules) and the Debian
//! kernel series vm-test boots.

/// Everything arch-specific about the emulated machines.
pub struct Arch {
    /// kvmtest's (and Rust's) arch name.
    pub name: &'static str,
    /// Debian's name for it, for apt.
    pub deb_arch: &'static str,
    pub qemu: &'static str,
    /// The Debian package that ships `qemu`.
    pub qemu_package: &'static str,
    /// Machine, CPU and accelerator: the parts that give the guest kernel
    /// hardware virtualization to offer as /dev/kvm.
    pub qemu_args: &'static [&'static str],
    /// Kernel command line: console and arch-specific needs.
    pub cmdline: &'static str,
    /// Modules to load (with their dependencies) before /dev/kvm exists; empty
    /// where Debian builds KVM in.
    pub kvm_modules: &'static [&'static str],
}

impl Arch {
    /// The Rust target of the static test binaries and init.
    pub fn musl_target(&self) -> String {
        format!("{}-unknown-linux-musl", self.name)
    }
}

pub const ARCHES: &[Arch] = &[
    Arch {
        name: "x86_64",
        deb_arch: "amd64",
        qemu: "qemu-system-x86_64",
        qemu_package: "qemu-system-x86",
        // -cpu max offers SVM with nested paging under TCG. MTTCG live-locks
        // the guest kernel after a few VM create/destroy cycles: one thread.
        qemu_args: &["-accel", "tcg,thread=single", "-cpu", "max"],
        // TCG's TSC looks unstable to the guest; without this it falls back
        // to a slow clocksource and KVM complains about TSC scaling.
        cmdline: "console=ttyS0 tsc=reliable",
        kvm_modules: &["kvm_amd"],
    },
    Arch {
        name: "aarch64",
        deb_arch: "arm64",
        qemu: "qemu-system-aarch64",
        qemu_package: "qemu-system-arm",
        // virtualization=on boots the kernel at EL2, so KVM initializes. In
        // nVHE mode by default: in VHE mode, under this qemu's TCG, both
        // Debian kernels (6.1 and 6.12) now and then return to a host thread
        // with a vCPU's TPIDR_EL0 still loaded, and the test process dies by
        // SIGSEGV at its next thread-local access (the crash report names
        // it; 4 suite runs in 58 on 6.1, and once on 6.12; 0 in 30 on 6.1 with
        // nVHE, which switches EL0 registers at every world switch).
        // `--kvm-mode vhe` leaves the word out to run VHE anyway (the kernel
        // takes no kvm-arm.mode=vhe). SME is off: KVM gives guests no SME,
        // and with it on the 6.1 host kernel crashed
        // test binaries with SIGSEGV in about one run in five (suspected
        // FP/SME state handling under TCG; never seen on 6.12).
        qemu_args: &["-M", "virt,virtualization=on,gic-version=3", "-cpu", "max,pauth-impdef=on,sme=off"],
        cmdline: "console=ttyAMA0 kvm-arm.mode=nvhe",
        kvm_modules: &[],
    },
];

/// A Debian kernel series: package names are `<prefix><ABI><infix><arch>-unsigned`.
pub struct Series {
    pub name: &'static str,
    pub prefix: &'static str,
    pub infix: &'static str,
}

impl Series {
    /// The ABI number of `package` if it belongs to this series and `deb_arch`.
    pub fn abi_of(&self, package: &str, deb_arch: &str) -> Option<u32> {
        let rest = package.strip_prefix(self.prefix)?;
        rest.strip_suffix(&format!("{}{deb_arch}-unsigned", self.infix))?.parse().ok()
    }
}

pub const SERIES: &[Series] = &[
    // bookworm's own kernel: linux-image-6.1.0-56-amd64-unsigned
    Series { name: "6.1", prefix: "linux-image-6.1.0-", infix: "-" },
    // bookworm-security's newer one: linux-image-6.12.117+deb12-arm64-unsigned
    Series { name: "6.12", prefix: "linux-image-6.12.", infix: "+deb12-" },
];

/// The series booted unless --kernel-version says otherwise.
pub const DEFAULT_SERIES: &str = "6.12";

/// The kernel `--kernel-version` names: a [`SERIES`] row (from the host's
/// apt sources), or any other `MAJOR.MINOR` / `latest` from the Debian
/// archive's indexes (archive.rs).
pub enum KernelSeries {
    /// A series apt fetches.
    Apt(&'static Series),
    /// A series read from the archive's indexes.
    Archive(super::archive::Wanted),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_pick_their_own_packages() {
        let [v61, v612] = [&SERIES[0], &SERIES[1]];
        assert_eq!(v61.abi_of("linux-image-6.1.0-56-amd64-unsigned", "amd64"), Some(56));
        assert_eq!(v61.abi_of("linux-image-6.1.0-56-cloud-amd64-unsigned", "amd64"), None);
        assert_eq!(v61.abi_of("linux-image-6.1.0-56-arm64-unsigned", "amd64"), None);
        assert_eq!(v612.abi_of("linux-image-6.12.117+deb12-arm64-unsigned", "arm64"), Some(117));
        assert_eq!(v612.abi_of("linux-image-6.12.117+deb12-rt-arm64-unsigned", "arm64"), None);
        assert_eq!(v612.abi_of("linux-image-6.1.0-56-arm64-unsigned", "arm64"), None);
    }
}
