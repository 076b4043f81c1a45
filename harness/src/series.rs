//! What each Linux kernel series' KVM is known to have, from that series'
//! sources and Documentation/virt/kvm: the expectations of a trial belong to
//! the series of the running kernel, never to what the KVM under test says
//! of itself. A feature the running series has must work (a trial that finds
//! it missing fails); a feature it lacks is a skip naming the series
//! ("requires KVM_ARM_VM_SMCCC_FILTER, Linux 6.4+").
//!
//! A new kernel series is new rows in [`FEATURES`] (and new arms in the few
//! functions below that return a value rather than a yes/no), each citing
//! where the kernel says so.

use std::fmt;
use std::sync::OnceLock;

use crate::{Error, Result};

/// A kernel series, `MAJOR.MINOR` (6.1, 6.12, 7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    /// The major version.
    pub major: u32,
    /// The minor version.
    pub minor: u32,
}

impl Series {
    /// `Series::new(6, 12)`.
    pub const fn new(major: u32, minor: u32) -> Series {
        Series { major, minor }
    }

    /// The series of a kernel release string (`uname -r`: `6.12.48+deb12-amd64`, `7.3.4`, `6.1.0-40-arm64`).
    pub fn of_release(release: &str) -> Option<Series> {
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Series { major, minor })
    }

    /// The series of the running kernel (`/proc/sys/kernel/osrelease`).
    pub fn running() -> Result<Series> {
        static RUNNING: OnceLock<std::result::Result<Series, String>> = OnceLock::new();
        RUNNING
            .get_or_init(|| {
                let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map_err(|e| format!("reading /proc/sys/kernel/osrelease: {e}"))?;
                Series::of_release(release.trim())
                    .ok_or_else(|| format!("kernel release {:?} does not start with MAJOR.MINOR", release.trim()))
            })
            .clone()
            .map_err(Error::Config)
    }

    /// Whether this series is `since` or newer.
    pub fn at_least(self, since: Series) -> bool {
        self >= since
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A KVM feature whose presence depends on the kernel series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// KVM_ARM_VM_SMCCC_CTRL / KVM_ARM_VM_SMCCC_FILTER (arm64).
    SmcccFilter,
    /// The KVM_REG_ARM_VENDOR_HYP_BMAP_2 firmware pseudo-register (arm64).
    VendorHypBmap2,
}

/// One row of [`FEATURES`]: `feature` is in every series from `since` on.
#[derive(Debug, Clone, Copy)]
pub struct FeatureRow {
    /// The feature.
    pub feature: Feature,
    /// The kernel's name for it, as skip messages show it.
    pub name: &'static str,
    /// The first series that has it.
    pub since: Series,
    /// Where the kernel says so (commit, file, documentation).
    pub source: &'static str,
}

/// Which series has which feature.
pub const FEATURES: &[FeatureRow] = &[
    FeatureRow {
        feature: Feature::SmcccFilter,
        name: "KVM_ARM_VM_SMCCC_FILTER",
        since: Series::new(6, 4),
        source: "Documentation/virt/kvm/devices/vm.rst, KVM_ARM_VM_SMCCC_CTRL (821d935c87bc, v6.4)",
    },
    FeatureRow {
        feature: Feature::VendorHypBmap2,
        name: "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
        since: Series::new(6, 16),
        source: "Documentation/virt/kvm/arm/fw-pseudo-registers.rst (c0000e58c74e)",
    },
];

impl Feature {
    /// This feature's row.
    pub fn row(self) -> &'static FeatureRow {
        FEATURES.iter().find(|r| r.feature == self).expect("every Feature has a row in FEATURES")
    }

    /// Whether `series` has this feature.
    pub fn in_series(self, series: Series) -> bool {
        series.at_least(self.row().since)
    }

    /// Ok if the running kernel's series has this feature (then the trial
    /// must find it working); a skip naming the series otherwise.
    pub fn require(self) -> Result<()> {
        let series = Series::running()?;
        let row = self.row();
        if self.in_series(series) {
            Ok(())
        } else {
            Err(Error::Skip(format!("requires {}, Linux {}+ (this kernel is Linux {series})", row.name, row.since)))
        }
    }
}

// get-reg-list (arm64): which upstream revision of the selftest states a series' rules.

/// The revision of the kernel's get-reg-list selftest whose blessed register
/// lists and GET/SET rules hold for a series (`Series::get_reg_list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GetRegList {
    /// Linux 6.1's tools/testing/selftests/kvm/aarch64/get-reg-list.c: lists
    /// "up to date with kernel version v5.13-rc3" plus the firmware bitmap
    /// registers (v5.19); GET and SET of every listed register (run_test(),
    /// `for_each_reg`).
    Linux6_1,
    /// Linux 6.12's tools/testing/selftests/kvm/get-reg-list.c (shared) and
    /// aarch64/get-reg-list.c: lists "up to date with kernel version v6.4"
    /// plus CNTPCT_EL0/CNTP_CTL_EL0/CNTP_CVAL_EL0 and the TCR2_EL1, PIRE0/PIR,
    /// POR registers gated by ID_AA64MMFR3_EL1 (`feat_id_regs[]`); GET and SET
    /// of the listed blessed registers only (`for_each_present_blessed_reg`).
    Linux6_12,
}

impl Series {
    /// Which get-reg-list revision holds for this series: a series lists at
    /// least what the newest revision not newer than it blesses (a register
    /// never leaves the list, get-reg-list.c's header comment), so 6.1..6.11
    /// take 6.1's and 6.12 on take 6.12's; before 6.1 kvmtest has none.
    pub fn get_reg_list(self) -> Option<GetRegList> {
        if self.at_least(Series::new(6, 12)) {
            Some(GetRegList::Linux6_12)
        } else if self.at_least(Series::new(6, 1)) {
            Some(GetRegList::Linux6_1)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_strings_give_their_series() {
        assert_eq!(Series::of_release("6.12.48+deb12-amd64"), Some(Series::new(6, 12)));
        assert_eq!(Series::of_release("6.1.0-40-arm64"), Some(Series::new(6, 1)));
        assert_eq!(Series::of_release("7.3.4+deb13-arm64"), Some(Series::new(7, 3)));
        assert_eq!(Series::of_release("6.18.44"), Some(Series::new(6, 18)));
        assert_eq!(Series::of_release("garbage"), None);
        assert_eq!(Series::of_release("6"), None);
    }

    #[test]
    fn series_order_is_numeric_not_textual() {
        assert!(Series::new(6, 12) > Series::new(6, 4));
        assert!(Series::new(7, 0) > Series::new(6, 18));
        assert!(Feature::SmcccFilter.in_series(Series::new(6, 12)));
        assert!(!Feature::SmcccFilter.in_series(Series::new(6, 1)));
    }

    #[test]
    fn every_feature_has_one_row() {
        for f in [Feature::SmcccFilter, Feature::VendorHypBmap2] {
            assert_eq!(FEATURES.iter().filter(|r| r.feature == f).count(), 1, "{f:?}");
        }
    }

    #[test]
    fn get_reg_list_revision_follows_the_series() {
        assert_eq!(Series::new(5, 15).get_reg_list(), None);
        assert_eq!(Series::new(6, 1).get_reg_list(), Some(GetRegList::Linux6_1));
        assert_eq!(Series::new(6, 11).get_reg_list(), Some(GetRegList::Linux6_1));
        assert_eq!(Series::new(6, 12).get_reg_list(), Some(GetRegList::Linux6_12));
        assert_eq!(Series::new(7, 3).get_reg_list(), Some(GetRegList::Linux6_12));
    }
}
