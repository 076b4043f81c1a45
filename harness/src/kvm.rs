//! The host's KVM: opening /dev/kvm, capabilities, and which backend this is.
//!
//! A missing /dev/kvm or capability becomes a skip with its reason, except
//! that `KVMTEST_REQUIRE_KVM=1` turns a missing /dev/kvm into a failure (CI).

use std::sync::OnceLock;

use kvm_ioctls::{Cap, Kvm};

pub use crate::error::{kvm_required, REQUIRE_KVM_ENV};
use crate::{Error, Result};

/// Environment variable naming another KVM device node than /dev/kvm
/// (the self-tests use it to prove a missing device is handled).
pub const KVM_DEVICE_ENV: &str = "KVMTEST_KVM_DEVICE";

/// The only KVM API version there has ever been (`KVM_API_VERSION` in
/// include/uapi/linux/kvm.h); KVM_GET_API_VERSION must answer it.
pub const KVM_API_VERSION: i32 = 12;

/// KVM_CREATE_VM of type 0, KVM's default machine, as the C selftests'
/// VM_MODE_DEFAULT: on arm64 a 40-bit IPA. kvm-ioctls' `create_vm()` asks
/// for the host's largest IPA instead (52 bits under qemu's -cpu max), whose
/// stage-2 teardown took Linux 7.3 about a second per VM under TCG. Every
/// VM kvmtest creates goes through here.
pub fn create_default_vm(kvm: &Kvm) -> Result<kvm_ioctls::VmFd> {
    kvm.create_vm_with_type(0).map_err(Error::kvm("KVM_CREATE_VM"))
}

/// Opens /dev/kvm. A missing or inaccessible device, or a device node that is
/// not KVM (say /dev/kvm bound to /dev/null), is `Error::KvmUnavailable`.
pub fn open_kvm() -> Result<Kvm> {
    let unavailable = |e: kvm_ioctls::Error| Error::KvmUnavailable(std::io::Error::from_raw_os_error(e.errno()));
    let (kvm, path) = match std::env::var_os(KVM_DEVICE_ENV) {
        Some(path) => {
            let shown = path.to_string_lossy().into_owned();
            let path = std::ffi::CString::new(path.into_encoded_bytes())
                .map_err(|_| Error::Config(format!("{KVM_DEVICE_ENV} contains a NUL byte")))?;
            (Kvm::new_with_path(path.as_c_str()).map_err(unavailable)?, shown)
        }
        None => (Kvm::new().map_err(unavailable)?, "/dev/kvm".to_string()),
    };
    check_is_kvm(&path, kvm.get_api_version())?;
    Ok(kvm)
}

/// /dev/kvm opened once per process, for the VMs the harness builds: the
/// open (and its KVM_GET_API_VERSION check) is a step of every VM's start
/// that needs doing only once, as the supported CPUID. A failed open is not
/// kept: the next call tries again and returns its own error.
pub fn process_kvm() -> Result<&'static Kvm> {
    static KVM: OnceLock<Kvm> = OnceLock::new();
    if let Some(kvm) = KVM.get() {
        return Ok(kvm);
    }
    let kvm = open_kvm()?;
    Ok(KVM.get_or_init(|| kvm))
}

/// `api_version` is what KVM_GET_API_VERSION returned on the device at
/// `path` (kvm-ioctls passes the ioctl's -1 through on failure).
fn check_is_kvm(path: &str, api_version: i32) -> Result<()> {
    match api_version {
        KVM_API_VERSION => Ok(()),
        v if v < 0 => {
            let errno = std::io::Error::last_os_error();
            Err(Error::KvmUnavailable(std::io::Error::other(format!(
                "{path} is not a KVM device: KVM_GET_API_VERSION failed ({errno})"
            ))))
        }
        v => Err(Error::KvmUnavailable(std::io::Error::other(format!(
            "{path} is not a KVM device this harness speaks to: KVM_GET_API_VERSION answered {v}, expected {KVM_API_VERSION}"
        )))),
    }
}

/// Which KVM implementation and kernel the tests run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Vendor module: `kvm_intel`, `kvm_amd`, `kvm_pvm`, or `kvm-arm64`.
    pub module: String,
    /// `uname -r` of the running kernel.
    pub kernel: String,
    /// KVM_GET_API_VERSION.
    pub api_version: i32,
}

impl Backend {
    /// True on the PVM backend, whose emulator cannot run SSE or INT3 after an exit.
    pub fn is_pvm(&self) -> bool {
        self.module == "kvm_pvm"
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on Linux {} (KVM API {})", self.module, self.kernel, self.api_version)
    }
}

/// Whether a kernel command line puts arm64 KVM in protected mode (pKVM, arm64 only):
/// its last `kvm-arm.mode=` before `--` says `protected` (the kernel's
/// parameq() takes `kvm_arm.mode` alike). arch/arm64/kvm/arm.c
/// early_kvm_mode_cfg() takes it when the kernel is not at EL2 (6.12:2891-2896),
/// and arch/arm64/kernel/pi/idreg-override.c aliases it to `arm64_sw.hvhe=1`
/// (6.12:223), which keeps the kernel at EL1.
pub fn cmdline_asks_protected_kvm(cmdline: &str) -> bool {
    cmdline
        .split_ascii_whitespace()
        .take_while(|word| *word != "--")
        .filter_map(|word| word.split_once('='))
        .filter(|(name, _)| name.replace('_', "-") == "kvm-arm.mode")
        .last()
        .is_some_and(|(_, mode)| mode == "protected")
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn vendor_module() -> String {
    if cfg!(target_arch = "aarch64") {
        let mode = std::fs::read_to_string("/proc/cmdline")
            .ok()
            .and_then(|c| c.split_whitespace().find_map(|w| w.strip_prefix("kvm-arm.mode=").map(str::to_string)));
        return match mode {
            Some(m) => format!("kvm-arm64 (kvm-arm.mode={m})"),
            None => "kvm-arm64".into(),
        };
    }
    ["kvm_intel", "kvm_amd", "kvm_pvm"]
        .iter()
        .find(|m| std::path::Path::new("/sys/module").join(m).exists())
        .map(|m| m.to_string())
        .unwrap_or_else(|| "kvm (unknown vendor module)".into())
}

/// Detects the backend once per process.
pub fn backend() -> Result<&'static Backend> {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    if let Some(b) = BACKEND.get() {
        return Ok(b);
    }
    let kvm = open_kvm()?;
    Ok(BACKEND.get_or_init(|| Backend {
        module: vendor_module(),
        kernel: kernel_release(),
        api_version: kvm.get_api_version(),
    }))
}

/// The value KVM_CHECK_EXTENSION returns for a capability (0 = absent).
pub fn check_cap(cap: Cap) -> Result<i32> {
    Ok(open_kvm()?.check_extension_int(cap))
}

/// The value KVM_CHECK_EXTENSION returns for a capability number kvm-ioctls does not name.
pub fn check_cap_raw(cap: u64) -> Result<i32> {
    Ok(open_kvm()?.check_extension_raw(cap))
}

/// Skips the test unless the kernel has `cap`: `require_cap(Cap::ImmediateExit)?`.
pub fn require_cap(cap: Cap) -> Result<i32> {
    let v = check_cap(cap)?;
    if v == 0 {
        return Err(skip_missing(&format!("KVM_CAP_{}", cap_name(cap))));
    }
    Ok(v)
}

/// Like [`require_cap`] for a raw capability number, named as the kernel header names it.
pub fn require_cap_raw(name: &str, cap: u64) -> Result<i32> {
    let v = check_cap_raw(cap)?;
    if v == 0 {
        return Err(skip_missing(name));
    }
    Ok(v)
}

/// A skip naming the missing requirement and the backend that lacks it.
pub fn skip_missing(what: &str) -> Error {
    match backend() {
        Ok(b) => Error::Skip(format!("requires {what}, which {b} does not provide")),
        Err(e) => Error::Skip(format!("requires {what} ({e})")),
    }
}

fn cap_name(cap: Cap) -> String {
    // kvm-ioctls names are CamelCase; the kernel's are SHOUTY_SNAKE.
    let debug = format!("{cap:?}");
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i != 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_kvm_is_the_last_kvm_arm_mode_before_init_args() {
        assert!(cmdline_asks_protected_kvm("console=ttyAMA0 kvm-arm.mode=protected quiet\n"));
        assert!(cmdline_asks_protected_kvm("kvm_arm.mode=protected"));
        assert!(!cmdline_asks_protected_kvm("console=ttyAMA0 kvm-arm.mode=nvhe"));
        assert!(!cmdline_asks_protected_kvm("kvm-arm.mode=protected kvm-arm.mode=nvhe"));
        assert!(!cmdline_asks_protected_kvm("root=/dev/vda -- kvm-arm.mode=protected"));
        assert!(!cmdline_asks_protected_kvm("console=ttyS0"));
    }

    #[test]
    fn a_device_that_is_not_kvm_is_named() {
        assert!(check_is_kvm("/dev/kvm", KVM_API_VERSION).is_ok());
        let e = check_is_kvm("/dev/null", -1).unwrap_err();
        assert!(matches!(e, Error::KvmUnavailable(_)), "{e:?}");
        assert!(e.to_string().contains("/dev/null is not a KVM device: KVM_GET_API_VERSION failed"), "{e}");
        let e = check_is_kvm("/dev/kvm", 11).unwrap_err();
        assert!(e.to_string().contains("answered 11, expected 12"), "{e}");
    }

    #[test]
    fn the_process_opens_kvm_once() {
        use std::os::fd::AsRawFd;
        // Without a usable /dev/kvm both calls fail alike and nothing is kept.
        match (process_kvm(), process_kvm()) {
            (Ok(a), Ok(b)) => assert_eq!(a.as_raw_fd(), b.as_raw_fd(), "a second open of /dev/kvm"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("the same device answered {:?} then {:?}", a.is_ok(), b.is_ok()),
        }
    }

    #[test]
    fn cap_names_follow_the_kernel_header() {
        assert_eq!(cap_name(Cap::ImmediateExit), "IMMEDIATE_EXIT");
        assert_eq!(cap_name(Cap::UserMemory), "USER_MEMORY");
    }
}
