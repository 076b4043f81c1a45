//! The steal_time guest (upstream steal_time.c guest_code): vCPU `i` checks
//! the stolen-time record KVM keeps at boot argument 0 + `i * STEAL_TIME_SIZE`
//! and reports its stolen time at each stage, or, with the service switched
//! off by the VMM, reports what the interface's calls answer. The arch part
//! is the interface: MSR_KVM_STEAL_TIME and `struct kvm_steal_time` on x86,
//! SMCCC PV_TIME_FEATURES/PV_TIME_ST and `struct st_time` on arm64.
#![no_std]
#![no_main]

use kvmtest_guest::abi::steal_time::{MODE_ARG, MODE_DISABLED, RECORDS_ARG, STEAL_TIME_SIZE};
use kvmtest_guest::{boot_arg, vcpu_id};

#[cfg(target_arch = "x86_64")]
mod pv {
    use core::ptr::{addr_of, addr_of_mut};

    use kvmtest_guest::abi::probe::NO_EXCEPTION;
    use kvmtest_guest::abi::steal_time::{KvmStealTime, KVM_MSR_ENABLED, MSR_KVM_STEAL_TIME};
    use kvmtest_guest::arch::{rdmsr_safe, wrmsr_safe};
    use kvmtest_guest::{guest_assert, guest_assert_eq, guest_sync};

    fn check_status(st: *const KvmStealTime) {
        // SAFETY (all three): `st` is this vCPU's record in identity-mapped
        // guest RAM, which KVM writes concurrently: volatile reads (READ_ONCE).
        let version = unsafe { addr_of!((*st).version).read_volatile() };
        guest_assert!(version & 1 == 0, "version {} is odd", version);
        guest_assert_eq!(unsafe { addr_of!((*st).flags).read_volatile() }, 0u32);
        guest_assert_eq!(unsafe { addr_of!((*st).preempted).read_volatile() }, 0u8);
    }

    fn steal(st: *const KvmStealTime) -> u64 {
        // SAFETY: as in check_status.
        unsafe { addr_of!((*st).steal).read_volatile() }
    }

    fn version(st: *const KvmStealTime) -> u32 {
        // SAFETY: as in check_status.
        unsafe { addr_of!((*st).version).read_volatile() }
    }

    pub fn guest_code(record: u64) {
        let st = record as *mut KvmStealTime;
        let msr = rdmsr_safe(MSR_KVM_STEAL_TIME);
        guest_assert!(msr.is_ok(), "RDMSR(MSR_KVM_STEAL_TIME) faulted");
        guest_assert_eq!(msr.unwrap_or(0), record | KVM_MSR_ENABLED);

        // memset(st, 0, sizeof(*st))
        // SAFETY: the record is 64 bytes of identity-mapped guest RAM of this vCPU.
        unsafe { addr_of_mut!(*st).write_volatile(KvmStealTime::default()) };
        guest_sync!(0u64);

        check_status(st);
        let stolen = steal(st);
        let v = version(st);
        check_status(st);
        guest_sync!(1u64, stolen);

        check_status(st);
        let now = version(st);
        guest_assert!(v < now, "version {} not advanced past {}", now, v);
        let stolen = steal(st);
        check_status(st);
        guest_sync!(2u64, stolen);
    }

    fn vector<T>(r: &Result<T, u8>) -> u64 {
        match r {
            Ok(_) => NO_EXCEPTION,
            Err(v) => u64::from(*v),
        }
    }

    /// RDMSR and WRMSR of MSR_KVM_STEAL_TIME with the service off.
    pub fn disabled(record: u64) {
        let rd = rdmsr_safe(MSR_KVM_STEAL_TIME);
        let wr = wrmsr_safe(MSR_KVM_STEAL_TIME, record | KVM_MSR_ENABLED);
        guest_sync!(0u64, vector(&rd), vector(&wr));
    }
}

#[cfg(target_arch = "aarch64")]
mod pv {
    use core::ptr::addr_of;

    use kvmtest_guest::abi::steal_time::PvclockVcpuStolenTime;
    use kvmtest_guest::smccc::{
        hvc, ARM_SMCCC_ARCH_FEATURES_FUNC_ID, ARM_SMCCC_HV_PV_TIME_FEATURES, ARM_SMCCC_HV_PV_TIME_ST,
        SMCCC_RET_NOT_SUPPORTED,
    };
    use kvmtest_guest::{guest_assert, guest_assert_eq, guest_sync};

    fn smccc(func: u32, arg: u64) -> u64 {
        hvc(func, arg, 0, 0)[0]
    }

    fn check_status(st: *const PvclockVcpuStolenTime) {
        // SAFETY (both): `st` is this vCPU's record in identity-mapped guest
        // RAM, which KVM writes: volatile reads (READ_ONCE).
        guest_assert_eq!(unsafe { addr_of!((*st).revision).read_volatile() }, 0u32);
        guest_assert_eq!(unsafe { addr_of!((*st).attributes).read_volatile() }, 0u32);
    }

    fn stolen_time(st: *const PvclockVcpuStolenTime) -> u64 {
        // SAFETY: as in check_status.
        unsafe { addr_of!((*st).stolen_time).read_volatile() }
    }

    pub fn guest_code(record: u64) {
        guest_assert_eq!(smccc(ARM_SMCCC_ARCH_FEATURES_FUNC_ID, ARM_SMCCC_HV_PV_TIME_FEATURES.into()), 0u64);
        guest_assert_eq!(smccc(ARM_SMCCC_HV_PV_TIME_FEATURES, ARM_SMCCC_HV_PV_TIME_FEATURES.into()), 0u64);
        guest_assert_eq!(smccc(ARM_SMCCC_HV_PV_TIME_FEATURES, ARM_SMCCC_HV_PV_TIME_ST.into()), 0u64);

        let status = smccc(ARM_SMCCC_HV_PV_TIME_ST, 0);
        guest_assert!(status != SMCCC_RET_NOT_SUPPORTED, "PV_TIME_ST answered NOT_SUPPORTED");
        guest_assert_eq!(status, record);

        let st = status as *const PvclockVcpuStolenTime;
        guest_sync!(0u64);

        check_status(st);
        guest_sync!(1u64, stolen_time(st));

        check_status(st);
        guest_sync!(2u64, stolen_time(st));
    }

    /// The PV time calls with the service off.
    pub fn disabled(_record: u64) {
        guest_sync!(
            0u64,
            smccc(ARM_SMCCC_ARCH_FEATURES_FUNC_ID, ARM_SMCCC_HV_PV_TIME_FEATURES.into()),
            smccc(ARM_SMCCC_HV_PV_TIME_FEATURES, ARM_SMCCC_HV_PV_TIME_FEATURES.into()),
            smccc(ARM_SMCCC_HV_PV_TIME_FEATURES, ARM_SMCCC_HV_PV_TIME_ST.into()),
            smccc(ARM_SMCCC_HV_PV_TIME_ST, 0)
        );
    }
}

fn main() {
    let record = boot_arg(RECORDS_ARG) + vcpu_id() * STEAL_TIME_SIZE;
    if boot_arg(MODE_ARG) == MODE_DISABLED {
        pv::disabled(record);
    } else {
        pv::guest_code(record);
    }
}

kvmtest_guest::entry!(main);
