//! KVM's module parameters that decide what a guest's access to an MSR KVM
//! does not support does: `kvm.ignore_msrs`, read from sysfs as a fact of
//! the configuration (like the kernel version), never probed from KVM.

use crate::{Error, Result};

/// Where the kvm module publishes `ignore_msrs` (x86.c: `module_param(ignore_msrs, bool, 0644)`).
pub const IGNORE_MSRS_PARAM: &str = "/sys/module/kvm/parameters/ignore_msrs";

/// What a guest's RDMSR/WRMSR of an MSR KVM does not support
/// (`KVM_MSR_RET_UNSUPPORTED`, e.g. a PV MSR whose feature bit is clear
/// under KVM_CAP_ENFORCE_PV_FEATURE_CPUID) does, as kvm.ignore_msrs says:
/// 6.12 arch/x86/kvm/x86.c `kvm_do_msr_access` (line 519), 6.1
/// `kvm_msr_ignored_check` (line 318) and its callers `kvm_get_msr_ignored_check`
/// / `kvm_set_msr_ignored_check` (lines 1959, 1912). The access is settled
/// there, before any KVM_EXIT_X86_RDMSR/WRMSR to user space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsupportedMsrAccess {
    /// `ignore_msrs=N` (the default): #GP.
    Fault,
    /// `ignore_msrs=Y`: RDMSR reads 0, WRMSR is dropped, both complete.
    Ignored,
}

impl UnsupportedMsrAccess {
    /// What the running kvm module is configured to do.
    pub fn configured() -> Result<Self> {
        let text = std::fs::read_to_string(IGNORE_MSRS_PARAM)
            .map_err(|e| Error::Config(format!("reading {IGNORE_MSRS_PARAM}: {e}")))?;
        Self::from_param(&text)
    }

    /// From the parameter's sysfs text (`Y`/`N`; `param_get_bool` prints those).
    pub fn from_param(text: &str) -> Result<Self> {
        match text.trim() {
            "Y" | "y" | "1" => Ok(UnsupportedMsrAccess::Ignored),
            "N" | "n" | "0" => Ok(UnsupportedMsrAccess::Fault),
            other => Err(Error::Config(format!("{IGNORE_MSRS_PARAM}: expected Y or N, got {other:?}"))),
        }
    }
}

impl std::fmt::Display for UnsupportedMsrAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnsupportedMsrAccess::Fault => "kvm.ignore_msrs=N",
            UnsupportedMsrAccess::Ignored => "kvm.ignore_msrs=Y",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_text_of_the_parameter() {
        assert_eq!(UnsupportedMsrAccess::from_param("N\n").unwrap(), UnsupportedMsrAccess::Fault);
        assert_eq!(UnsupportedMsrAccess::from_param("Y\n").unwrap(), UnsupportedMsrAccess::Ignored);
        assert_eq!(UnsupportedMsrAccess::from_param("1").unwrap(), UnsupportedMsrAccess::Ignored);
        let e = UnsupportedMsrAccess::from_param("maybe\n").unwrap_err().to_string();
        assert!(e.contains("ignore_msrs") && e.contains("\"maybe\""), "{e}");
    }

    #[test]
    fn this_host_has_an_answer_or_a_typed_error() {
        match UnsupportedMsrAccess::configured() {
            Ok(_) => {}
            Err(Error::Config(why)) => assert!(why.contains(IGNORE_MSRS_PARAM), "{why}"),
            Err(other) => panic!("expected a configuration error, got {other:?}"),
        }
    }
}
