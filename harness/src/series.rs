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
    /// The firmware pseudo-registers KVM_REG_ARM_PSCI_VERSION and
    /// KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1/2/3 (arm64).
    FwRegsPsciWorkarounds,
    /// The hypercall-service bitmaps KVM_REG_ARM_STD_BMAP, _STD_HYP_BMAP,
    /// _VENDOR_HYP_BMAP (arm64).
    HypercallBitmaps,
    /// KVM_ARM_VCPU_PVTIME_CTRL / KVM_ARM_VCPU_PVTIME_IPA, the stolen-time
    /// record of SMCCC PV_TIME_ST (arm64; KVM also needs the host's sched_info,
    /// which Debian's kernels have).
    PvTime,
    // x86 hypercall services (pv_features, hyperv_features).
    /// KVM_SET_CPUID2 finds KVM's PV leaves in the table being set when it
    /// clears KVM_FEATURE_PV_UNHALT for KVM_CAP_X86_DISABLE_EXITS(HLT).
    PvUnhaltClearedFromNewCpuid,
    /// HV_X64_MSR_TSC_INVARIANT_CONTROL behind HV_ACCESS_TSC_INVARIANT (x86 Hyper-V).
    HvTscInvariantControl,
    /// HV_EXT_CALL_QUERY_CAPABILITIES behind HV_ENABLE_EXTENDED_HYPERCALLS (x86 Hyper-V).
    HvExtendedHypercalls,
    // Generic KVM API (kvm_binary_stats).
    /// KVM_GET_STATS_FD on VM and vCPU fds, KVM_CAP_BINARY_STATS_FD.
    BinaryStatsFd,
    // Memory slots (set_memory_region, dirty_log, coalesced_io).
    /// KVM_SET_USER_MEMORY_REGION2 (KVM_CAP_USER_MEMORY2).
    UserMemory2,
    /// KVM_X86_QUIRK_SLOT_ZAP_ALL, disabled through KVM_CAP_DISABLE_QUIRKS2 (x86).
    SlotZapAllQuirk,
    /// The dirty ring, KVM_CAP_DIRTY_LOG_RING (x86).
    DirtyLogRingX86,
    /// The dirty ring, KVM_CAP_DIRTY_LOG_RING_ACQ_REL (arm64).
    DirtyLogRingArm64,
    // In-kernel irqchip (irqchip).
    /// A vGIC whose first-run set-up (kvm_vgic_map_resources) fails kills the
    /// VM: every later VM ioctl is EIO (arm64).
    VgicInitFailureKillsVm,
    /// The coalesced MMIO ring fills up to one free entry before a write exits.
    CoalescedRingFillsUp,
    // Clocks and steal time (clocks).
    /// MSR_KVM_STEAL_TIME and KVM_FEATURE_STEAL_TIME (x86; KVM also needs the
    /// host's sched_info, which Debian's kernels have).
    StealTime,
    /// The vCPU attribute KVM_VCPU_TSC_CTRL / KVM_VCPU_TSC_OFFSET (x86).
    VcpuTscOffset,
    /// KVM_CLOCK_REALTIME and KVM_CLOCK_HOST_TSC of KVM_GET/SET_CLOCK (x86).
    KvmClockRealtime,
    /// KVM_GET_SUPPORTED_HV_CPUID as a system ioctl, KVM_CAP_SYS_HYPERV_CPUID (x86).
    SysHypervCpuid,
    // arm64 ID registers (arm64-regs: set_id_regs).
    /// Writable feature ID registers and KVM_ARM_GET_REG_WRITABLE_MASKS (arm64).
    WritableIdRegs,
    // Xen HVM emulation (xen-shinfo).
    /// KVM_XEN_HVM_CONFIG_SHARED_INFO, _RUNSTATE, _EVTCHN_2LEVEL and
    /// _EVTCHN_SEND in KVM_CAP_XEN_HVM (x86; RUNSTATE also needs the host's
    /// sched_info, which Debian's kernels have).
    XenShinfoEvtchnSend,
    /// KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG (x86).
    XenRunstateUpdateFlag,
    /// KVM_XEN_HVM_CONFIG_SHARED_INFO_HVA: KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA
    /// and KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO_HVA (x86).
    XenSharedInfoHva,
    /// set_id_aa64pfr0_el1() refuses ID_AA64PFR0_EL1.EL0 or .EL1 = 0 (arm64).
    IdAa64Pfr0El0El1Required,
    /// The first KVM_RUN sets ID_AA64PFR0_EL1.GIC from the VM's irqchip, over
    /// what userspace wrote (arm64, kvm_vgic_finalize_idregs()).
    IdAa64Pfr0GicSetAtFirstRun,
    /// KVM_CAP_ARM_WRITABLE_IMP_ID_REGS: MIDR_EL1, REVIDR_EL1, AIDR_EL1 writable (arm64).
    WritableImpIdRegs,
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
        since: Series::new(6, 15),
        source: "Documentation/virt/kvm/arm/fw-pseudo-registers.rst (c0000e58c74e, \"KVM/arm64 updates for 6.15\": \
                 the paravirtual interface for discovering CPU implementations)",
    },
    // arm64 firmware pseudo-registers and PV time (power-arm64).
    FeatureRow {
        feature: Feature::FwRegsPsciWorkarounds,
        name: "KVM_REG_ARM_PSCI_VERSION and KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1/2/3",
        since: Series::new(5, 17),
        source: "Documentation/virt/kvm/arm/hypercalls.rst (6.1), fw-pseudo-registers.rst (6.12); \
                 WORKAROUND_3 is the newest (Spectre-BHB, v5.17)",
    },
    FeatureRow {
        feature: Feature::HypercallBitmaps,
        name: "KVM_REG_ARM_STD_BMAP, KVM_REG_ARM_STD_HYP_BMAP, KVM_REG_ARM_VENDOR_HYP_BMAP",
        since: Series::new(5, 19),
        source: "Documentation/virt/kvm/arm/hypercalls.rst (6.1) \"Bitmap Feature Firmware Registers\"; \
                 arch/arm64/kvm/hypercalls.c kvm_arm_init_hypercalls() (v5.19)",
    },
    FeatureRow {
        feature: Feature::PvTime,
        name: "KVM_ARM_VCPU_PVTIME_IPA",
        since: Series::new(5, 10),
        source: "Documentation/virt/kvm/devices/vcpu.rst, KVM_ARM_VCPU_PVTIME_CTRL; arch/arm64/kvm/pvtime.c",
    },
    // x86 hypercall services. Read from the 6.1 and 6.12 sources (6.1
    // lacks each, 6.12 has it); `since` is the merge release of the commit
    // named as remembered, not yet checked against the releases between.
    FeatureRow {
        feature: Feature::PvUnhaltClearedFromNewCpuid,
        name: "KVM_FEATURE_PV_UNHALT cleared by KVM_SET_CPUID2 from the table being set",
        since: Series::new(6, 11),
        source: "arch/x86/kvm/cpuid.c: 6.12 __kvm_update_cpuid_runtime looks the KVM base up in the new entries \
                 (__kvm_get_hypervisor_cpuid, cpuid.c:324-329); 6.1 uses vcpu->arch.kvm_cpuid_base of the previous \
                 table (cpuid.c:300, kvm_update_kvm_cpuid_base runs after it, cpuid.c:450); \
                 selftests kvm_pv_test.c test_pv_unhalt (6.12:136-171, absent in 6.1)",
    },
    FeatureRow {
        feature: Feature::HvTscInvariantControl,
        name: "HV_X64_MSR_TSC_INVARIANT_CONTROL",
        since: Series::new(6, 2),
        source: "arch/x86/kvm/hyperv.c (6.12:1036,1320,1500,1684; not in 6.1), hyperv.h:153-170 \
                 (\"KVM: x86: Hyper-V invariant TSC control\"); hyperv_features.c stages 44-47 (6.12:451-485)",
    },
    FeatureRow {
        feature: Feature::HvExtendedHypercalls,
        name: "HV_EXT_CALL_QUERY_CAPABILITIES",
        since: Series::new(6, 3),
        source: "arch/x86/kvm/hyperv.c (6.12:61-63,2535,2691; not in 6.1) \
                 (\"KVM: x86: hyper-v: Add extended hypercall support in Hyper-v\"); \
                 hyperv_features.c hcall stages 19-20 (6.12:647-655)",
    },
    // Generic KVM API (kvm_binary_stats).
    FeatureRow {
        feature: Feature::BinaryStatsFd,
        name: "KVM_GET_STATS_FD",
        since: Series::new(5, 14),
        source: "Documentation/virt/kvm/api.rst 4.133 KVM_GET_STATS_FD (6.12:5845, 6.1:5603); \
                 virt/kvm/kvm_main.c kvm_vm_ioctl_get_stats_fd (6.12:5183, 6.1:4692), \
                 kvm_vcpu_ioctl_get_stats_fd (6.12:4428, 6.1:4051) (\"KVM: stats: Support binary stats retrieval for a VM\")",
    },
    // Memory slots (memslots).
    FeatureRow {
        feature: Feature::UserMemory2,
        name: "KVM_SET_USER_MEMORY_REGION2",
        since: Series::new(6, 8),
        source: "Documentation/virt/kvm/api.rst 4.140 KVM_SET_USER_MEMORY_REGION2 (6.12:6255; absent from 6.1), \
                 added with guest_memfd in v6.8",
    },
    FeatureRow {
        feature: Feature::SlotZapAllQuirk,
        name: "KVM_X86_QUIRK_SLOT_ZAP_ALL",
        since: Series::new(6, 12),
        source: "Documentation/virt/kvm/api.rst, KVM_CAP_DISABLE_QUIRKS2 quirk table (6.12:8101); \
                 arch/x86/include/uapi/asm/kvm.h (6.12:442; absent from 6.1), new in v6.12",
    },
    FeatureRow {
        feature: Feature::DirtyLogRingX86,
        name: "KVM_CAP_DIRTY_LOG_RING (x86)",
        since: Series::new(5, 11),
        source: "arch/x86/kvm/Kconfig selects HAVE_KVM_DIRTY_RING_TSO and _ACQ_REL (6.1:31-32, 6.12:26-27); \
                 Documentation/virt/kvm/api.rst 8.29 KVM_CAP_DIRTY_LOG_RING/KVM_CAP_DIRTY_LOG_RING_ACQ_REL (6.1:7932)",
    },
    FeatureRow {
        feature: Feature::DirtyLogRingArm64,
        name: "KVM_CAP_DIRTY_LOG_RING_ACQ_REL (arm64)",
        since: Series::new(6, 2),
        source: "arch/arm64/kvm/Kconfig selects HAVE_KVM_DIRTY_RING_ACQ_REL (6.12:31; absent from 6.1's), \
                 \"KVM: arm64: Enable ring-based dirty memory tracking\" (v6.2)",
    },
    // In-kernel irqchip (irqchip).
    FeatureRow {
        feature: Feature::VgicInitFailureKillsVm,
        name: "kvm_vm_dead() on a failed vGIC set-up",
        since: Series::new(6, 12),
        source: "arch/arm64/kvm/vgic/vgic-init.c kvm_vgic_map_resources(): kvm_vm_dead(kvm) when the set-up fails \
                 (6.12:568-569) (df5fd75ee305 \"KVM: arm64: Don't eagerly teardown the vgic on init error\", v6.12; \
                 in 6.1.y from 6.1.115: see BACKPORTS)",
    },
    FeatureRow {
        feature: Feature::CoalescedRingFillsUp,
        name: "a coalesced MMIO ring that fills up to one free entry",
        since: Series::new(6, 11),
        source: "virt/kvm/coalesced_mmio.c coalesced_mmio_write (6.12:62-67: full when (insert + 1) % MAX == first); \
                 6.1's coalesced_mmio_has_room (6.1:43-62) computes the room as an unsigned (first - last - 1) % MAX, \
                 which wraps wrong and exits early; fixed by \"KVM: Fix coalesced_mmio_has_room() to avoid premature \
                 userspace exit\" (v6.11, with tools/testing/selftests/kvm/coalesced_io_test.c)",
    },
    // Clocks and steal time (clocks).
    FeatureRow {
        feature: Feature::StealTime,
        name: "MSR_KVM_STEAL_TIME",
        since: Series::new(3, 1),
        source: "Documentation/virt/kvm/x86/msr.rst MSR_KVM_STEAL_TIME; arch/x86/kvm/cpuid.c offers \
                 KVM_FEATURE_STEAL_TIME if sched_info_on() (6.12:1256, 6.1:1159), x86.c kvm_set_msr_common \
                 (6.12:3595, 6.1:3780) (c9aaa8957f20 \"KVM: Steal time implementation\", v3.1)",
    },
    FeatureRow {
        feature: Feature::VcpuTscOffset,
        name: "KVM_VCPU_TSC_OFFSET",
        since: Series::new(5, 16),
        source: "Documentation/virt/kvm/devices/vcpu.rst 4. GROUP: KVM_VCPU_TSC_CTRL; arch/x86/kvm/x86.c \
                 kvm_arch_tsc_has_attr/get/set (6.12:5251-5325, 6.1:5414-5493) (828ca89628bf \"KVM: x86: Expose TSC \
                 offset controls to userspace\", v5.16)",
    },
    FeatureRow {
        feature: Feature::KvmClockRealtime,
        name: "KVM_CLOCK_REALTIME",
        since: Series::new(5, 16),
        source: "Documentation/virt/kvm/api.rst KVM_GET_CLOCK / KVM_SET_CLOCK; arch/x86/kvm/x86.c \
                 KVM_CAP_ADJUST_CLOCK = KVM_CLOCK_VALID_FLAGS (6.12:4294, 6.1:4468), __get_kvmclock \
                 (6.12:2688, 6.1:3016) (c68dc1b577ea \"KVM: x86: Report host tsc and realtime values in \
                 KVM_GET_CLOCK\", v5.16)",
    },
    FeatureRow {
        feature: Feature::SysHypervCpuid,
        name: "KVM_CAP_SYS_HYPERV_CPUID",
        since: Series::new(5, 11),
        source: "Documentation/virt/kvm/api.rst 4.118 KVM_GET_SUPPORTED_HV_CPUID (\"Type: system ioctl, vcpu ioctl\"); \
                 x86.c kvm_arch_dev_ioctl (c21d54f0307f \"KVM: x86: hyper-v: allow KVM_GET_SUPPORTED_HV_CPUID as a \
                 system ioctl\", v5.11, as remembered: 6.1 and 6.12 have it)",
    },
    // arm64 ID registers (arm64-regs: set_id_regs).
    FeatureRow {
        feature: Feature::WritableIdRegs,
        name: "KVM_ARM_GET_REG_WRITABLE_MASKS (writable ID registers, KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES)",
        since: Series::new(6, 7),
        source: "Documentation/virt/kvm/api.rst 4.139 KVM_ARM_GET_REG_WRITABLE_MASKS (6.12:6207; absent in 6.1); \
                 arch/arm64/kvm/sys_regs.c kvm_vm_ioctl_get_reg_writable_masks (6.12:4685) and set_id_reg \
                 through arm64_check_features (6.12:1910), where 6.1's set_id_reg refuses any change \
                 (6.1:1262, \"This is what we mean by invariant\") (3f9cd0ca8484, v6.7)",
    },
    FeatureRow {
        feature: Feature::IdAa64Pfr0El0El1Required,
        name: "ID_AA64PFR0_EL1.EL0/EL1 = 0 refused",
        since: Series::new(7, 2),
        source: "arch/arm64/kvm/sys_regs.c set_id_aa64pfr0_el1(): \"Fail the guest's request to disable the AA64 \
                 ISA at EL{0,1,2}\" (7.2:2272-2276), absent from 6.12's (6.12.118:1848-1869); 7.2's set_id_regs.c \
                 raises ftr_id_aa64pfr0_el1[]'s EL3..EL0 safe values to 1 (7.2:148-151). Read from 6.12 and 7.2 \
                 only: which of 6.13-7.2 added it is not pinned, so the rule starts at 7.2",
    },
    FeatureRow {
        feature: Feature::IdAa64Pfr0GicSetAtFirstRun,
        name: "ID_AA64PFR0_EL1.GIC set at the first KVM_RUN",
        since: Series::new(7, 2),
        source: "arch/arm64/kvm/vgic/vgic-init.c kvm_vgic_finalize_idregs() (7.2:680-700) and sys_regs.c \
                 kvm_finalize_sys_regs() (7.2:5790-5800, no irqchip: GIC cleared) rewrite the field at the first \
                 run; 6.12 has neither (only the reset value, sys_regs.c:1724-1727). 7.2's set_id_regs.c marks the \
                 row REG_FTR_BITS_MUTABLE (7.2:145-146). Which of 6.13-7.2 added it is not pinned: starts at 7.2",
    },
    FeatureRow {
        feature: Feature::WritableImpIdRegs,
        name: "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS",
        since: Series::new(7, 2),
        source: "Documentation/virt/kvm/api.rst 7.42 KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (7.2:8876-8892); \
                 include/uapi/linux/kvm.h 239 (7.2:989), absent from 6.12's. Which of 6.13-7.2 added it is not \
                 pinned (6.15 as remembered, not verified): the rule starts at 7.2",
    },
    // Xen HVM emulation (xen-shinfo).
    FeatureRow {
        feature: Feature::XenShinfoEvtchnSend,
        name: "KVM_XEN_HVM_CONFIG_SHARED_INFO/RUNSTATE/EVTCHN_2LEVEL/EVTCHN_SEND",
        since: Series::new(5, 18),
        source: "include/uapi/linux/kvm.h KVM_XEN_HVM_CONFIG_* (6.1:1265-1270); arch/x86/kvm/x86.c \
                 KVM_CAP_XEN_HVM (6.12:4279-4288; RUNSTATE if sched_info_on()); EVTCHN_SEND last of the four \
                 (35025735a79e \"KVM: x86/xen: Support direct injection of event channel events\", v5.18, as remembered)",
    },
    FeatureRow {
        feature: Feature::XenRunstateUpdateFlag,
        name: "KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG",
        since: Series::new(6, 2),
        source: "arch/x86/kvm/x86.c KVM_CAP_XEN_HVM (6.12:4287-4288), absent from 6.1's uapi kvm.h (6.1:1265-1270) \
                 (d8ba8ba4c801 \"KVM: x86/xen: Allow XEN_RUNSTATE_UPDATE flag behaviour to be configured\", v6.2, \
                 as remembered)",
    },
    FeatureRow {
        feature: Feature::XenSharedInfoHva,
        name: "KVM_XEN_HVM_CONFIG_SHARED_INFO_HVA",
        since: Series::new(6, 9),
        source: "arch/x86/kvm/x86.c KVM_CAP_XEN_HVM (6.12:4285), xen.c KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA; \
                 absent from 6.1's uapi kvm.h (6.1:1265-1270) (615451d8cb3f \"KVM: x86/xen: allow shared_info to \
                 be mapped by fixed HVA\", v6.9)",
    },
];

/// What KVM_GET_SUPPORTED_HV_CPUID answers in a series (x86 Hyper-V).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HvCpuidRow {
    /// The first series this row holds for.
    pub since: Series,
    /// How many leaves (kvm_get_hv_cpuid's `cpuid_entries[]`).
    pub nent: usize,
    /// The highest leaf, HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS.EAX.
    pub max_leaf: u32,
    /// Where the kernel says so.
    pub source: &'static str,
}

/// KVM_GET_SUPPORTED_HV_CPUID per series. Read from the 6.1 and 6.12
/// sources; older series have no row.
pub const HV_CPUID: &[HvCpuidRow] = &[HvCpuidRow {
    since: Series::new(6, 1),
    nent: 10,
    max_leaf: 0x4000_0082,
    source: "arch/x86/kvm/hyperv.c kvm_get_hv_cpuid: cpuid_entries[] of 10 leaves 0x40000000-0x4000000A and \
             0x40000080-0x40000082, max leaf HYPERV_CPUID_SYNDBG_PLATFORM_CAPABILITIES (6.12:2786-2801, \
             6.1:2442-2458); selftests x86_64/hyperv_cpuid.c nent_expected = 10, 0x40000082 (6.12:47-80)",
}];

/// KVM_GET_SUPPORTED_HV_CPUID as `series` has it; `None` before 6.1.
pub fn hv_cpuid(series: Series) -> Option<&'static HvCpuidRow> {
    HV_CPUID.iter().filter(|r| series.at_least(r.since)).max_by_key(|r| r.since)
}

/// What a hypercall-service bitmap register is in a series: the bits KVM
/// knows (a write with any other bit is EINVAL) and the value a new VM reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FwBitmapRow {
    /// N of `KVM_REG_ARM_FW_FEAT_BMAP_REG(N)`: 0 STD_BMAP, 1 STD_HYP_BMAP,
    /// 2 VENDOR_HYP_BMAP, 3 VENDOR_HYP_BMAP_2.
    pub index: u64,
    /// The first series this row holds for (until the next row of the same index).
    pub since: Series,
    /// `GENMASK(<reg>_BIT_COUNT - 1, 0)`: the features KVM implements.
    pub supported: u64,
    /// The value at VM creation (`kvm_arm_init_hypercalls()`).
    pub reset: u64,
    /// Where the kernel says so.
    pub source: &'static str,
}

/// The hypercall-service bitmaps per series (arm64).
pub const FW_BITMAPS: &[FwBitmapRow] = &[
    FwBitmapRow {
        index: 0,
        since: Series::new(5, 19),
        supported: 0b1,
        reset: 0b1,
        source:
            "uapi asm/kvm.h KVM_REG_ARM_STD_BIT_TRNG_V1_0; hypercalls.c KVM_ARM_SMCCC_STD_FEATURES (6.1, 6.12, 7.2)",
    },
    FwBitmapRow {
        index: 1,
        since: Series::new(5, 19),
        supported: 0b1,
        reset: 0b1,
        source: "uapi asm/kvm.h KVM_REG_ARM_STD_HYP_BIT_PV_TIME; hypercalls.c KVM_ARM_SMCCC_STD_HYP_FEATURES",
    },
    FwBitmapRow {
        index: 2,
        since: Series::new(5, 19),
        supported: 0b11,
        reset: 0b11,
        source:
            "uapi asm/kvm.h KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT/_PTP; hypercalls.c KVM_ARM_SMCCC_VENDOR_HYP_FEATURES",
    },
    FwBitmapRow {
        index: 3,
        since: Series::new(6, 15),
        supported: 0b11,
        reset: 0,
        source: "uapi asm/kvm.h KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_VER/_CPUS; kvm_arm_init_hypercalls() leaves \
                 vendor_hyp_bmap_2 at 0 (7.2); selftests arm64/hypercalls.c KVM_REG_ARM_VENDOR_HYP_BMAP_2_RESET_VAL 0",
    },
];

/// Bitmap register `index` as `series` has it; `None` if the series lacks it.
pub fn fw_bitmap(series: Series, index: u64) -> Option<&'static FwBitmapRow> {
    FW_BITMAPS.iter().filter(|r| r.index == index && series.at_least(r.since)).max_by_key(|r| r.since)
}

/// KVM's PSCI on a vCPU with KVM_ARM_VCPU_PSCI_0_2 in one series.
#[derive(Debug, Clone, Copy)]
pub struct PsciRow {
    /// The first series this row holds for.
    pub since: Series,
    /// `KVM_ARM_PSCI_LATEST`: the PSCI_VERSION register's default, and so
    /// what the guest's PSCI_VERSION call answers when the VMM leaves it.
    pub default: u64,
    /// The PSCI_VERSION values `kvm_arm_set_fw_reg()` accepts (name, value).
    pub writable: &'static [(&'static str, u64)],
    /// Where the kernel says so.
    pub source: &'static str,
}

const PSCI_0_2: u64 = 2;
const PSCI_1_0: u64 = 0x1_0000;
const PSCI_1_1: u64 = 0x1_0001;
const PSCI_1_2: u64 = 0x1_0002;
const PSCI_1_3: u64 = 0x1_0003;

/// KVM's PSCI versions per series (arm64).
pub const PSCI: &[PsciRow] = &[
    PsciRow {
        since: Series::new(5, 18),
        default: PSCI_1_1,
        writable: &[("KVM_ARM_PSCI_0_2", PSCI_0_2), ("KVM_ARM_PSCI_1_0", PSCI_1_0), ("KVM_ARM_PSCI_1_1", PSCI_1_1)],
        source: "include/kvm/arm_psci.h KVM_ARM_PSCI_LATEST = KVM_ARM_PSCI_1_1; hypercalls.c kvm_arm_set_fw_reg() \
                 (6.1:406, 6.12:564)",
    },
    PsciRow {
        since: Series::new(6, 13),
        default: PSCI_1_3,
        writable: &[
            ("KVM_ARM_PSCI_0_2", PSCI_0_2),
            ("KVM_ARM_PSCI_1_0", PSCI_1_0),
            ("KVM_ARM_PSCI_1_1", PSCI_1_1),
            ("KVM_ARM_PSCI_1_2", PSCI_1_2),
            ("KVM_ARM_PSCI_1_3", PSCI_1_3),
        ],
        source: "include/kvm/arm_psci.h KVM_ARM_PSCI_LATEST = KVM_ARM_PSCI_1_3; hypercalls.c kvm_arm_set_fw_reg() \
                 (7.2:578); PSCI 1.3 SYSTEM_OFF2, \"KVM/arm64 changes for 6.13\"",
    },
];

/// KVM's PSCI as `series` has it (every series this table runs on has a row).
pub fn psci(series: Series) -> Result<&'static PsciRow> {
    PSCI.iter()
        .filter(|r| series.at_least(r.since))
        .max_by_key(|r| r.since)
        .ok_or_else(|| Error::Config(format!("Linux {series} is older than every PSCI row of series.rs")))
}
// End of the arm64 firmware-register rows (power-arm64).

// arm64 ID register fields per series (set_id_regs).
/// A field of upstream's set_id_regs.c `ftr_*[]` tables whose writability
/// (the register's KVM_ARM_GET_REG_WRITABLE_MASKS mask, the `ID_WRITABLE`
/// / `ID_FILTERED` mask of sys_regs.c) is not "writable since 6.7"
/// ([`Feature::WritableIdRegs`]), the default for every other field.
#[derive(Debug, Clone, Copy)]
pub struct IdRegFieldRow {
    /// The register, as sys_regs.c names it: `"ID_AA64ISAR0_EL1"`.
    pub reg: &'static str,
    /// The field, as arch/arm64/tools/sysreg names it: `"TME"`.
    pub field: &'static str,
    /// The first series whose KVM lets userspace write the field.
    pub writable_since: Series,
    /// The first series whose KVM keeps it read-only again (None: still writable).
    pub read_only_since: Option<Series>,
    /// Where the kernel says so.
    pub source: &'static str,
}

const S6_7: Series = Series::new(6, 7);
const S6_12: Series = Series::new(6, 12);
const S7_2: Series = Series::new(7, 2);

/// ID register fields whose writability changed: read from the 6.12 and 7.2
/// trees only, so a change first seen in 7.2 is dated 7.2 (which of 6.13-7.2
/// made it is not pinned) and one first seen in 6.12 is dated 6.12 (6.7-6.11
/// not checked).
pub const ID_REG_FIELDS: &[IdRegFieldRow] = &[
    IdRegFieldRow {
        reg: "ID_AA64ISAR0_EL1",
        field: "TME",
        writable_since: S6_7,
        read_only_since: Some(S7_2),
        source: "ID_WRITABLE(ID_AA64ISAR0_EL1, ~ID_AA64ISAR0_EL1_RES0) in both trees (6.12.118:2494, 7.2:3337), \
                 so the field's writability follows arch/arm64/tools/sysreg's RES0 (not in the 7.2 extract): \
                 FEAT_TME left the architecture and 7.2's arm64/set_id_regs.c drops the TME row the 6.12 tree's \
                 has (6.12:94). Not pinned in 6.13-7.2",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR0_EL1",
        field: "ASIDBITS",
        writable_since: S6_7,
        read_only_since: Some(S6_12),
        source: "ID_WRITABLE(ID_AA64MMFR0_EL1, ~(... | ID_AA64MMFR0_EL1_ASIDBITS)) (6.12.118:2509-2513, \
                 7.2:3355-3357 ID_FILTERED): arm64_check_features() refuses a change (-E2BIG, EINVAL); the 6.12 \
                 tree's set_id_regs.c:155 still lists it (and fails on its own kernel), 7.2's drops it. \
                 6.7-6.11 not checked",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR0_EL1",
        field: "TGRAN4_2",
        writable_since: S7_2,
        read_only_since: None,
        source: "excluded from ID_AA64MMFR0_EL1's mask in 6.12.118:2510-2512, not in 7.2:3355-3357; 7.2's \
                 set_id_regs.c:166 adds the FTR_EXACT row",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR0_EL1",
        field: "TGRAN64_2",
        writable_since: S7_2,
        read_only_since: None,
        source: "as TGRAN4_2: 6.12.118:2511 excludes it, 7.2:3355-3357 does not; 7.2 set_id_regs.c:167",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR0_EL1",
        field: "TGRAN16_2",
        writable_since: S7_2,
        read_only_since: None,
        source: "as TGRAN4_2: 6.12.118:2512 excludes it, 7.2:3355-3357 does not; 7.2 set_id_regs.c:168",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR1_EL1",
        field: "HCX",
        writable_since: S7_2,
        read_only_since: None,
        source: "excluded from ID_AA64MMFR1_EL1's mask in 6.12.118:2515, not in 7.2:3358-3361; 7.2 \
                 set_id_regs.c:182",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR1_EL1",
        field: "TWED",
        writable_since: S7_2,
        read_only_since: None,
        source: "excluded in 6.12.118:2516, not in 7.2:3358-3361; 7.2 set_id_regs.c:184",
    },
    IdRegFieldRow {
        reg: "ID_AA64PFR1_EL1",
        field: "DF2",
        writable_since: S7_2,
        read_only_since: None,
        source: "excluded from ID_AA64PFR1_EL1's mask in 6.12.118:2444, not in 7.2:3287-3298; 7.2 \
                 set_id_regs.c:156",
    },
    IdRegFieldRow {
        reg: "ID_AA64ISAR3_EL1",
        field: "FPRCVT",
        writable_since: S7_2,
        read_only_since: None,
        source: "ID_UNALLOCATED(6,3) in 6.12.118:2502 (RAZ, mask 0); ID_WRITABLE(ID_AA64ISAR3_EL1, FPRCVT | LSFE | \
                 LSUI | FAMINMAX) in 7.2:3345-3348; 7.2 set_id_regs.c:133-138",
    },
    IdRegFieldRow {
        reg: "ID_AA64ISAR3_EL1",
        field: "LSUI",
        writable_since: S7_2,
        read_only_since: None,
        source: "as FPRCVT: 6.12.118:2502, 7.2:3345-3348",
    },
    IdRegFieldRow {
        reg: "ID_AA64ISAR3_EL1",
        field: "LSFE",
        writable_since: S7_2,
        read_only_since: None,
        source: "as FPRCVT: 6.12.118:2502, 7.2:3345-3348",
    },
    IdRegFieldRow {
        reg: "ID_AA64ISAR3_EL1",
        field: "FAMINMAX",
        writable_since: S7_2,
        read_only_since: None,
        source: "as FPRCVT: 6.12.118:2502, 7.2:3345-3348",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR3_EL1",
        field: "S1POE",
        writable_since: S6_12,
        read_only_since: None,
        source: "ID_WRITABLE(ID_AA64MMFR3_EL1, TCRX | S1PIE | S1POE) (6.12.118:2526-2528, 7.2:3369-3372); \
                 only 7.2's set_id_regs.c:207-212 tests it. 6.7-6.11 not checked",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR3_EL1",
        field: "S1PIE",
        writable_since: S6_12,
        read_only_since: None,
        source: "as S1POE: 6.12.118:2526-2528, 7.2:3369-3372",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR3_EL1",
        field: "SCTLRX",
        writable_since: S7_2,
        read_only_since: None,
        source: "not in ID_AA64MMFR3_EL1's mask in 6.12.118:2526-2528, in 7.2:3369-3372",
    },
    IdRegFieldRow {
        reg: "ID_AA64MMFR3_EL1",
        field: "TCRX",
        writable_since: S6_12,
        read_only_since: None,
        source: "as S1POE: 6.12.118:2526-2528, 7.2:3369-3372",
    },
];

/// Whether `series`' KVM lets userspace write `reg`.`field` (a field of
/// upstream's tables without a row in [`ID_REG_FIELDS`]: writable since 6.7).
pub fn id_reg_field_writable(reg: &str, field: &str, series: Series) -> bool {
    match ID_REG_FIELDS.iter().find(|r| r.reg == reg && r.field == field) {
        Some(r) => series.at_least(r.writable_since) && r.read_only_since.is_none_or(|s| !series.at_least(s)),
        None => series.at_least(S6_7),
    }
}

/// Where [`id_reg_field_writable`]'s answer for `reg`.`field` comes from.
pub fn id_reg_field_source(reg: &str, field: &str) -> &'static str {
    match ID_REG_FIELDS.iter().find(|r| r.reg == reg && r.field == field) {
        Some(r) => r.source,
        None => Feature::WritableIdRegs.row().source,
    }
}
// End of the arm64 ID register field rows (set_id_regs).

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
        let release = Release::running()?;
        if self.in_release(release) {
            return Ok(());
        }
        // The stable release matters only for a feature with backports.
        let this = match BACKPORTS.iter().any(|b| b.feature == self) {
            true => release.to_string(),
            false => release.series.to_string(),
        };
        Err(Error::Skip(format!("requires {}, {} (this kernel is Linux {this})", self.row().name, self.since_text())))
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

// x86 KVM_SET_SREGS (breadth-x86, set_sregs).

/// Which CR4 bits KVM_SET_SREGS accepts on a vCPU whose CPUID userspace never set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareVcpuCr4 {
    /// Every bit the host supports (KVM_GET_SUPPORTED_CPUID): the guest CPUID
    /// is not enforced until KVM_SET_CPUID2. Selftests set_sregs_test.c
    /// (6.1:93-106, 6.12:88-102: a barebones vCPU takes
    /// `calc_supported_cr4_feature_bits()`).
    HostSupported,
    /// Only `KVM_ALWAYS_ALLOWED_CR4`: KVM enforces the empty guest CPUID.
    /// Selftests x86/set_sregs_test.c (7.2:128-135, `test_cr_bits(vcpu,
    /// KVM_ALWAYS_ALLOWED_CR4)` on a barebones vCPU).
    AlwaysAllowedOnly,
}

impl Series {
    /// The CR4 rule of a bare vCPU in this series; `None` for 6.13..7.1,
    /// whose sources kvmtest has not read (the change is between 6.12 and 7.2).
    pub fn bare_vcpu_cr4(self) -> Option<BareVcpuCr4> {
        if self.at_least(Series::new(7, 2)) {
            Some(BareVcpuCr4::AlwaysAllowedOnly)
        } else if !self.at_least(Series::new(6, 13)) {
            Some(BareVcpuCr4::HostSupported)
        } else {
            None
        }
    }
}
// End of the x86 KVM_SET_SREGS rows (breadth-x86).

// x86 vCPU state (x86-state): KVM_CAP_SYNC_REGS (sync_regs).

/// What x86's KVM_CAP_SYNC_REGS offers an ordinary VM in one series.
#[derive(Debug, Clone, Copy)]
pub struct X86SyncRegsRow {
    /// The first series this row holds for.
    pub since: Series,
    /// KVM_SYNC_X86_VALID_FIELDS: the capability's value, and every bit
    /// `kvm_valid_regs`/`kvm_dirty_regs` may hold (any other is EINVAL).
    pub valid_fields: u64,
    /// Where the kernel says so.
    pub source: &'static str,
}

/// x86 KVM_CAP_SYNC_REGS per series.
pub const X86_SYNC_REGS: &[X86SyncRegsRow] = &[X86SyncRegsRow {
    since: Series::new(4, 17),
    valid_fields: 0b111,
    source: "uapi asm/kvm.h KVM_SYNC_X86_VALID_FIELDS = KVM_SYNC_X86_REGS|_SREGS|_EVENTS; x86.c \
             kvm_vm_ioctl_check_extension(KVM_CAP_SYNC_REGS) (6.1:4466; 6.12:4181 kvm_sync_valid_fields(), 0 only \
             for VMs with protected state), kvm_arch_vcpu_ioctl_run()'s EINVAL for other bits (6.1:11293, 6.12:11145)",
}];

/// The first series whose KVM copies `s.regs` out of kvm_run before using
/// it, so a VMM thread rewriting kvm_run during KVM_RUN cannot change what
/// KVM validated (sync_regs_test.c's race_* cases, which came with the fix).
pub const X86_SYNC_REGS_COPIED: Series = Series::new(6, 6);
/// Where the kernel says so.
pub const X86_SYNC_REGS_COPIED_SOURCE: &str = "0d033770d43a (\"KVM: x86: Fix KVM_CAP_SYNC_REGS's sync_regs() TOCTOU \
     issues\"); 6.1 x86.c:11959-11975 hands run->s.regs to __set_sregs()/set_vcpu_events() in place, 6.12 \
     regs.c:729 and x86.c:11504 copy it first";

/// KVM_CAP_SYNC_REGS on x86 as `series` has it; `None` before Linux 4.17.
pub fn x86_sync_regs(series: Series) -> Option<&'static X86SyncRegsRow> {
    X86_SYNC_REGS.iter().filter(|r| series.at_least(r.since)).max_by_key(|r| r.since)
}

// x86 CPUID ioctls (cpuid).

/// The first series whose KVM_SET_CPUID2 after KVM_RUN accepts the identical
/// table and refuses (EINVAL) any other; 5.16 refused every call after KVM_RUN.
pub const X86_SET_CPUID_AFTER_RUN_IDENTICAL: Series = Series::new(5, 17);
/// Where the kernel says so.
pub const X86_SET_CPUID_AFTER_RUN_SOURCE: &str = "c6617c61e8fe (\"KVM: x86: Partially allow KVM_SET_CPUID{,2} after \
     KVM_RUN\"); cpuid.c kvm_set_cpuid() -> kvm_cpuid_check_equal(), -EINVAL on any difference (6.1:427 and 176-195, \
     6.12:475 and 191-207)";

/// The first series whose KVM_GET_CPUID2 writes the table's size to `nent`
/// on success (and leaves the caller's struct alone on E2BIG, as before).
pub const X86_GET_CPUID2_NENT_ON_SUCCESS: Series = Series::new(6, 5);
/// Where the kernel says so.
pub const X86_GET_CPUID2_NENT_SOURCE: &str = "\"KVM: x86: Update number of entries for KVM_GET_CPUID2 on success, not \
     failure\" (Sean Christopherson, v3 2023-05-26, with selftests' test_get_cpuid2(), merged for 6.5); 6.1 \
     cpuid.c:525-541 sets nent only on the E2BIG path, which x86.c:5672 does not copy back; 6.12 cpuid.c:589";

// x86 MSR_PLATFORM_INFO (platform_info).

/// The first series with KVM_CAP_MSR_PLATFORM_INFO (guest reads of
/// MSR_PLATFORM_INFO allowed by default, refused with #GP when disabled).
pub const X86_MSR_PLATFORM_INFO_CAP: Series = Series::new(4, 19);
/// Where the kernel says so.
pub const X86_MSR_PLATFORM_INFO_SOURCE: &str =
    "6fbbde9a1969 (\"KVM: x86: Control guest reads of MSR_PLATFORM_INFO\"); \
     api.rst KVM_CAP_MSR_PLATFORM_INFO; x86.c kvm_get_msr_common() MSR_PLATFORM_INFO (6.12:4047-4052), \
     kvm_arch_init_vm() guest_can_read_msr_platform_info = true (6.1:12569, 6.12:12022)";
/// The first series whose selftest no longer writes MSR_PLATFORM_INFO back
/// after KVM_RUN: it became a feature MSR, immutable once the vCPU ran.
/// 6.1 and 6.12 take the write (their tests assert it); newer series are
/// not pinned further, so the write is not attempted there.
pub const X86_PLATFORM_INFO_IMMUTABLE_AFTER_RUN: Series = Series::new(6, 13);
/// Where the kernel says so.
pub const X86_PLATFORM_INFO_IMMUTABLE_SOURCE: &str = "platform_info_test.c's closing vcpu_set_msr() (6.1:87, \
     6.12:75; gone in 7.2); 7.2 api.rst KVM_X86_QUIRK_STUFF_FEATURE_MSRS lists MSR_PLATFORM_INFO among the feature \
     MSRs; 6.12 x86.c:1821 refuses changing an immutable feature MSR after KVM_RUN";
// End of the x86 vCPU state rows (x86-state).

// arm64 protected KVM (pKVM): the VM's IPA size (fix-vgic-pkvm).

/// The first series read here whose protected mode (`kvm-arm.mode=protected`)
/// gives every VM the host's IPA limit (`get_kvm_ipa_limit()`, what
/// KVM_CAP_ARM_VM_IPA_SIZE reports), ignoring the IPA size KVM_CREATE_VM's
/// machine type asks for. Before it, protected mode honours the type as the
/// other modes do. 6.2-6.11 are not read: the change lies somewhere between.
pub const ARM64_PROTECTED_VM_HOST_IPA_SIZE: Series = Series::new(6, 12);
/// Where the kernel says so.
pub const ARM64_PROTECTED_VM_HOST_IPA_SIZE_SOURCE: &str = "arch/arm64/kvm/mmu.c kvm_init_ipa_range():      `if (is_protected_kvm_enabled()) phys_shift = kvm_ipa_limit;` before the type's IPA size is looked at      (6.12:884-886, 7.2:920-922); 6.1's reset.c kvm_arm_setup_stage2() has no such branch (6.1:425-441);      arm.c KVM_CAP_ARM_VM_IPA_SIZE returns get_kvm_ipa_limit() (6.12:405-406); the vGIC frames' range check      vgic-kvm-device.c vgic_check_iorange() is against kvm_phys_size() of that stage-2 (6.12:30-32)";
// End of the arm64 protected-KVM rows (fix-vgic-pkvm).

// Stable backports and per-series ring rules (series61).

/// A running kernel's release: its series and its stable sublevel
/// (`6.1.158` is series 6.1, sublevel 158). Debian's release strings carry
/// an ABI number where the sublevel would be (`6.1.0-40-arm64`); the
/// sublevel is then in the version string (`uname -v`, /proc/sys/kernel/version:
/// `#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    /// The series (`MAJOR.MINOR`).
    pub series: Series,
    /// The stable sublevel; 0 for a mainline release or one that does not say.
    pub sublevel: u32,
}

impl Release {
    /// The release of `uname -r` (`osrelease`) and `uname -v` (`version`).
    /// A version naming the same series as `Debian X.Y.Z[-N]` gives the
    /// sublevel Z; otherwise the release's third number does (`6.12.48+deb12-amd64`:
    /// 48; `7.3-rc2`: 0). Distributions that do neither (Ubuntu's
    /// `6.8.0-45-generic`) read as sublevel 0, which can only make a
    /// backported feature skip, never expect one the kernel lacks.
    pub fn parse(osrelease: &str, version: &str) -> Option<Release> {
        let series = Series::of_release(osrelease)?;
        let numbers = |s: &str| -> Vec<u32> {
            s.split(|c: char| !c.is_ascii_digit()).take(3).map(|n| n.parse().unwrap_or(0)).collect()
        };
        let debian = version.split_whitespace().skip_while(|w| *w != "Debian").nth(1).map(numbers);
        let sublevel = match debian {
            Some(n) if n.len() == 3 && Series::new(n[0], n[1]) == series => n[2],
            _ => {
                let n = numbers(osrelease);
                // "7.3-rc2": the third number is the rc, not a sublevel.
                let third_is_sublevel = osrelease.splitn(3, '.').count() == 3;
                if third_is_sublevel {
                    n.get(2).copied().unwrap_or(0)
                } else {
                    0
                }
            }
        };
        Some(Release { series, sublevel })
    }

    /// The running kernel's release (/proc/sys/kernel/osrelease and version).
    pub fn running() -> Result<Release> {
        static RUNNING: OnceLock<std::result::Result<Release, String>> = OnceLock::new();
        RUNNING
            .get_or_init(|| {
                let read = |f: &str| {
                    std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
                        .map_err(|e| format!("reading /proc/sys/kernel/{f}: {e}"))
                };
                let (osrelease, version) = (read("osrelease")?, read("version")?);
                Release::parse(osrelease.trim(), version.trim())
                    .ok_or_else(|| format!("kernel release {:?} does not start with MAJOR.MINOR", osrelease.trim()))
            })
            .clone()
            .map_err(Error::Config)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.series, self.sublevel)
    }
}

/// A feature an older series gained in a stable release: `feature` is in
/// every release of `series` from sublevel `sublevel` on.
#[derive(Debug, Clone, Copy)]
pub struct BackportRow {
    /// The feature (its [`FEATURES`] row says the mainline series).
    pub feature: Feature,
    /// The stable series that took the backport.
    pub series: Series,
    /// The first stable release of that series with it.
    pub sublevel: u32,
    /// Where it is recorded (stable changelog, the series' source).
    pub source: &'static str,
}

/// Which stable series took which feature, from which release on.
pub const BACKPORTS: &[BackportRow] = &[BackportRow {
    feature: Feature::VgicInitFailureKillsVm,
    series: Series::new(6, 1),
    sublevel: 115,
    source:
        "df5fd75ee305 \"KVM: arm64: Don't eagerly teardown the vgic on init error\" is in ChangeLog-6.1.115 \
             (Debian's linux 6.1.115-1 changelog lists it under that upstream stable update); Debian's 6.1.192 source \
             has it: arch/arm64/kvm/vgic/vgic-init.c kvm_vgic_map_resources() out_slots: kvm_vm_dead(kvm) (6.1:497-498)",
}];

impl Feature {
    /// Whether the kernel `release` has this feature: its series has it, or
    /// a stable backport of its series from the release's sublevel on.
    pub fn in_release(self, release: Release) -> bool {
        self.in_series(release.series)
            || BACKPORTS
                .iter()
                .any(|b| b.feature == self && b.series == release.series && release.sublevel >= b.sublevel)
    }

    /// Where a release has this feature, for skip messages: `Linux 6.12+ / 6.1.115+`.
    pub fn since_text(self) -> String {
        let mut text = format!("Linux {}+", self.row().since);
        for b in BACKPORTS.iter().filter(|b| b.feature == self) {
            text.push_str(&format!(" / {}.{}+", b.series, b.sublevel));
        }
        text
    }
}

/// How a series' coalesced_mmio_write() (virt/kvm/coalesced_mmio.c) decides
/// the coalesced ring has room for one more write at index `last`, the
/// consumer being at `first`, in a ring of `max` (KVM_COALESCED_MMIO_MAX)
/// entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoalescedRingRoom {
    /// 6.1's coalesced_mmio_has_room() (6.1:43-62): `avail = (ring->first -
    /// last - 1) % KVM_COALESCED_MMIO_MAX` with u32 operands, so when
    /// `first <= last` the subtraction wraps at 2^32 and the ring is "full"
    /// where `last - first == (2^32 - 1) % max` (85 of 170 entries with 4 KiB
    /// pages); coalesced_mmio_write() (6.1:77-82) also refuses `last >= max`.
    WrappingU32,
    /// 6.11+ (6.12:62-67): refused only when `last >= max` or
    /// `(last + 1) % max == first`, one entry always left free.
    OneFree,
}

impl CoalescedRingRoom {
    /// The rule of `series` (the fix is [`Feature::CoalescedRingFillsUp`]'s row).
    pub fn of(series: Series) -> CoalescedRingRoom {
        if Feature::CoalescedRingFillsUp.in_series(series) {
            CoalescedRingRoom::OneFree
        } else {
            CoalescedRingRoom::WrappingU32
        }
    }

    /// Whether KVM coalesces a write at `last` (else it exits to userspace).
    pub fn has_room(self, first: u32, last: u32, max: u32) -> bool {
        if max == 0 || last >= max {
            return false;
        }
        match self {
            CoalescedRingRoom::WrappingU32 => u64::from(first.wrapping_sub(last).wrapping_sub(1)) % u64::from(max) != 0,
            CoalescedRingRoom::OneFree => (last + 1) % max != first,
        }
    }

    /// How many writes KVM coalesces into an empty ring whose consumer and
    /// producer both stand at `start` before the next write exits.
    pub fn fill_from(self, start: u32, max: u32) -> u32 {
        let (mut last, mut taken) = (start, 0);
        while taken < max && self.has_room(start, last, max) {
            taken += 1;
            last = (last + 1) % max;
        }
        taken
    }
}

/// Where the kernel says so.
pub const COALESCED_RING_ROOM_SOURCE: &str = "virt/kvm/coalesced_mmio.c: 6.1 coalesced_mmio_has_room() (6.1:43-62) and \
     coalesced_mmio_write() (6.1:77-82); 6.12 coalesced_mmio_write() (6.12:62-67), \"KVM: Fix coalesced_mmio_has_room() \
     to avoid premature userspace exit\" (v6.11; in no 6.1.y: Debian's 6.1.192 source keeps the old function)";
// End of the stable-backport and ring rows (series61).

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
        for f in [
            Feature::SmcccFilter,
            Feature::VendorHypBmap2,
            Feature::FwRegsPsciWorkarounds,
            Feature::HypercallBitmaps,
            Feature::PvTime,
            Feature::PvUnhaltClearedFromNewCpuid,
            Feature::HvTscInvariantControl,
            Feature::HvExtendedHypercalls,
            Feature::BinaryStatsFd,
            Feature::UserMemory2,
            Feature::SlotZapAllQuirk,
            Feature::DirtyLogRingX86,
            Feature::DirtyLogRingArm64,
            Feature::CoalescedRingFillsUp,
            Feature::StealTime,
            Feature::VcpuTscOffset,
            Feature::KvmClockRealtime,
            Feature::SysHypervCpuid,
            Feature::WritableIdRegs,
            Feature::XenShinfoEvtchnSend,
            Feature::XenRunstateUpdateFlag,
            Feature::XenSharedInfoHva,
            Feature::IdAa64Pfr0El0El1Required,
            Feature::IdAa64Pfr0GicSetAtFirstRun,
            Feature::WritableImpIdRegs,
        ] {
            assert_eq!(FEATURES.iter().filter(|r| r.feature == f).count(), 1, "{f:?}");
        }
    }

    #[test]
    fn arm64_firmware_rows_per_series() {
        let (s61, s612, s72) = (Series::new(6, 1), Series::new(6, 12), Series::new(7, 2));
        for s in [s61, s612, s72] {
            assert_eq!(fw_bitmap(s, 0).map(|r| (r.supported, r.reset)), Some((1, 1)));
            assert_eq!(fw_bitmap(s, 2).map(|r| (r.supported, r.reset)), Some((3, 3)));
        }
        assert_eq!(fw_bitmap(s612, 3), None);
        assert_eq!(fw_bitmap(s72, 3).map(|r| (r.supported, r.reset)), Some((3, 0)));
        assert_eq!(psci(s61).unwrap().default, PSCI_1_1);
        assert_eq!(psci(s612).unwrap().writable.len(), 3);
        assert_eq!(psci(s72).unwrap().default, PSCI_1_3);
        assert!(psci(Series::new(5, 4)).is_err());
        assert!(!Feature::VendorHypBmap2.in_series(Series::new(6, 14)));
        assert!(Feature::VendorHypBmap2.in_series(Series::new(6, 15)));
    }

    #[test]
    fn id_reg_field_writability_per_series() {
        let (s61, s612, s72, s73) = (Series::new(6, 1), Series::new(6, 12), Series::new(7, 2), Series::new(7, 3));
        assert!(!id_reg_field_writable("ID_AA64ISAR0_EL1", "AES", s61));
        assert!(id_reg_field_writable("ID_AA64ISAR0_EL1", "AES", s73));
        assert!(id_reg_field_writable("ID_AA64ISAR0_EL1", "TME", s612));
        assert!(!id_reg_field_writable("ID_AA64ISAR0_EL1", "TME", s72));
        assert!(!id_reg_field_writable("ID_AA64ISAR0_EL1", "TME", s73));
        assert!(id_reg_field_writable("ID_AA64MMFR0_EL1", "ASIDBITS", Series::new(6, 11)));
        assert!(!id_reg_field_writable("ID_AA64MMFR0_EL1", "ASIDBITS", s612));
        assert!(!id_reg_field_writable("ID_AA64PFR1_EL1", "DF2", s612));
        assert!(id_reg_field_writable("ID_AA64PFR1_EL1", "DF2", s73));
        assert!(id_reg_field_writable("ID_AA64MMFR3_EL1", "TCRX", s612));
        assert!(!id_reg_field_writable("ID_AA64MMFR3_EL1", "SCTLRX", s612));
        for r in ID_REG_FIELDS {
            assert_eq!(ID_REG_FIELDS.iter().filter(|o| o.reg == r.reg && o.field == r.field).count(), 1, "{r:?}");
            assert!(r.read_only_since.is_none_or(|s| s > r.writable_since), "{r:?}");
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

    #[test]
    fn x86_sync_regs_rows_per_series() {
        for s in [Series::new(6, 1), Series::new(6, 12), Series::new(7, 2)] {
            assert_eq!(x86_sync_regs(s).map(|r| r.valid_fields), Some(0b111));
        }
        assert!(x86_sync_regs(Series::new(4, 16)).is_none());
    }

    #[test]
    fn arm64_protected_vm_ipa_size_per_series() {
        assert!(!Series::new(6, 1).at_least(ARM64_PROTECTED_VM_HOST_IPA_SIZE));
        assert!(Series::new(6, 12).at_least(ARM64_PROTECTED_VM_HOST_IPA_SIZE));
        assert!(Series::new(7, 3).at_least(ARM64_PROTECTED_VM_HOST_IPA_SIZE));
    }

    #[test]
    fn x86_cpuid_rows_per_series() {
        assert!(Series::new(6, 1).at_least(X86_SET_CPUID_AFTER_RUN_IDENTICAL));
        assert!(!Series::new(6, 1).at_least(X86_GET_CPUID2_NENT_ON_SUCCESS));
        assert!(Series::new(6, 12).at_least(X86_GET_CPUID2_NENT_ON_SUCCESS));
        assert!(!Series::new(6, 1).at_least(X86_SYNC_REGS_COPIED));
        assert!(Series::new(6, 12).at_least(X86_SYNC_REGS_COPIED));
    }
    // Stable backports and per-series ring rules (series61).

    #[test]
    fn release_sublevel_from_debian_version_or_release() {
        let debian61 = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)";
        assert_eq!(
            Release::parse("6.1.0-40-arm64", debian61),
            Some(Release { series: Series::new(6, 1), sublevel: 158 })
        );
        let bpo = "#1 SMP PREEMPT_DYNAMIC Debian 6.12.48-1~bpo12+1 (2025-09-25)";
        assert_eq!(Release::parse("6.12.48+deb12-amd64", bpo).map(|r| r.sublevel), Some(48));
        assert_eq!(Release::parse("6.1.115", "#1 SMP Tue Oct 1 2024").map(|r| r.sublevel), Some(115));
        assert_eq!(Release::parse("7.3-rc2", "#1 SMP").map(|r| r.sublevel), Some(0));
        // An ABI number with no Debian version to say the sublevel: 0, never a guess.
        assert_eq!(Release::parse("6.1.0-40-arm64", "#1 SMP").map(|r| r.sublevel), Some(0));
        // A Debian version of another series does not lend its sublevel.
        assert_eq!(Release::parse("6.12.5", debian61).map(|r| r.sublevel), Some(5));
        assert_eq!(Release::parse("garbage", debian61), None);
        assert_eq!(Release::parse("6.1.0-40-arm64", debian61).unwrap().to_string(), "6.1.158");
    }

    #[test]
    fn backports_count_from_their_stable_release() {
        let release = |major, minor, sublevel| Release { series: Series::new(major, minor), sublevel };
        let f = Feature::VgicInitFailureKillsVm;
        assert!(!f.in_release(release(6, 1, 114)));
        assert!(f.in_release(release(6, 1, 115)));
        assert!(f.in_release(release(6, 1, 192)));
        assert!(f.in_release(release(6, 12, 0)));
        assert!(!f.in_release(release(6, 6, 200)), "only the backports listed count");
        assert_eq!(f.since_text(), "Linux 6.12+ / 6.1.115+");
        assert_eq!(Feature::SmcccFilter.since_text(), "Linux 6.4+");
        for b in BACKPORTS {
            assert!(b.series < b.feature.row().since, "{:?}: a backport is to an older series", b.feature);
        }
    }

    #[test]
    fn coalesced_ring_room_per_series() {
        // 4 KiB pages: (4096 - 8) / 24 = 170 entries; 2^32 % 170 = 86.
        let (old, new) = (CoalescedRingRoom::of(Series::new(6, 1)), CoalescedRingRoom::of(Series::new(6, 12)));
        assert_eq!((old, new), (CoalescedRingRoom::WrappingU32, CoalescedRingRoom::OneFree));
        for start in 0..170 {
            assert_eq!(new.fill_from(start, 170), 169, "start {start}");
            // first <= last wraps: "full" at last - first == (2^32 - 1) % 170 == 85.
            let want = if start + 85 < 170 { 85 } else { 169 };
            assert_eq!(old.fill_from(start, 170), want, "start {start}");
        }
        assert!(!new.has_room(0, 170, 170) && !old.has_room(0, 170, 170), "last >= max is refused");
        assert!(!old.has_room(5, 4, 170) && !new.has_room(5, 4, 170), "one entry stays free");
        assert_eq!(CoalescedRingRoom::of(Series::new(6, 11)), CoalescedRingRoom::OneFree);
        assert_eq!(CoalescedRingRoom::of(Series::new(6, 10)), CoalescedRingRoom::WrappingU32);
    }
    // End of the stable-backport and ring tests (series61).
}
