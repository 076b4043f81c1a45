//! x86_64 KVM API for the scenarios under tests/x86_64/: guest CPUID
//! (`cpuid`), KVM's PV interface (`kvm_para`), Hyper-V (`hyperv`), Xen
//! (`xen`), the host side of the `hypercall_probe` payload (`probe`), and
//! KVM_SET_SREGS's bits and a bare vCPU (`sregs`), KVM_CAP_SYNC_REGS
//! (`sync_regs`), the whole vCPU state saved and loaded (`state`), steal time
//! (`steal_time`, which the generic steal_time scenario reaches as
//! `kvmtest::steal_time`), the vCPU's TSC offset (`tsc`).

pub mod cpuid;
pub mod hyperv;
pub mod kvm_para;
pub mod msr_params;
pub mod probe;
pub mod sregs;
pub mod state;
pub mod steal_time;
pub mod sync_regs;
pub mod tsc;
pub mod xen;
