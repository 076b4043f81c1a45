//! Special registers as KVM_GET_SREGS/KVM_SET_SREGS carry them: the control
//! register and EFER bits by their kernel names, the CPUID features that
//! make a CR4 bit legal, for a harness vCPU and for a bare one (no
//! KVM_SET_CPUID2, no set-up: what KVM accepts before the vCPU model is defined).

use kvm_bindings::kvm_sregs;

use super::cpuid::{CpuidBit, Reg};
use crate::bare_vm::BareVcpu;
use crate::{Error, Result, Vcpu};

/// CR0.PE (arch/x86/include/uapi/asm/processor-flags.h).
pub const X86_CR0_PE: u64 = 1 << 0;
/// CR0.NW.
pub const X86_CR0_NW: u64 = 1 << 29;
/// CR0.CD.
pub const X86_CR0_CD: u64 = 1 << 30;
/// CR0.PG.
pub const X86_CR0_PG: u64 = 1 << 31;

/// CR4.VME.
pub const X86_CR4_VME: u64 = 1 << 0;
/// CR4.PVI.
pub const X86_CR4_PVI: u64 = 1 << 1;
/// CR4.TSD.
pub const X86_CR4_TSD: u64 = 1 << 2;
/// CR4.DE.
pub const X86_CR4_DE: u64 = 1 << 3;
/// CR4.PSE.
pub const X86_CR4_PSE: u64 = 1 << 4;
/// CR4.PAE.
pub const X86_CR4_PAE: u64 = 1 << 5;
/// CR4.MCE.
pub const X86_CR4_MCE: u64 = 1 << 6;
/// CR4.PGE.
pub const X86_CR4_PGE: u64 = 1 << 7;
/// CR4.PCE.
pub const X86_CR4_PCE: u64 = 1 << 8;
/// CR4.OSFXSR.
pub const X86_CR4_OSFXSR: u64 = 1 << 9;
/// CR4.OSXMMEXCPT.
pub const X86_CR4_OSXMMEXCPT: u64 = 1 << 10;
/// CR4.UMIP.
pub const X86_CR4_UMIP: u64 = 1 << 11;
/// CR4.LA57.
pub const X86_CR4_LA57: u64 = 1 << 12;
/// CR4.VMXE.
pub const X86_CR4_VMXE: u64 = 1 << 13;
/// CR4.SMXE.
pub const X86_CR4_SMXE: u64 = 1 << 14;
/// CR4.FSGSBASE.
pub const X86_CR4_FSGSBASE: u64 = 1 << 16;
/// CR4.PCIDE.
pub const X86_CR4_PCIDE: u64 = 1 << 17;
/// CR4.OSXSAVE.
pub const X86_CR4_OSXSAVE: u64 = 1 << 18;
/// CR4.SMEP.
pub const X86_CR4_SMEP: u64 = 1 << 20;
/// CR4.SMAP.
pub const X86_CR4_SMAP: u64 = 1 << 21;
/// CR4.PKE.
pub const X86_CR4_PKE: u64 = 1 << 22;

/// EFER.LME (arch/x86/include/asm/msr-index.h `_EFER_LME`).
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA.
pub const EFER_LMA: u64 = 1 << 10;

/// The CR4 bits KVM allows whatever the CPUID (selftests set_sregs_test.c
/// `calc_supported_cr4_feature_bits`'s base; `KVM_ALWAYS_ALLOWED_CR4` in 7.2).
pub const KVM_ALWAYS_ALLOWED_CR4: u64 = X86_CR4_VME
    | X86_CR4_PVI
    | X86_CR4_TSD
    | X86_CR4_DE
    | X86_CR4_PSE
    | X86_CR4_PAE
    | X86_CR4_MCE
    | X86_CR4_PGE
    | X86_CR4_PCE
    | X86_CR4_OSFXSR
    | X86_CR4_OSXMMEXCPT;

/// `X86_FEATURE_UMIP` (tools/testing/selftests/kvm/include/x86_64/processor.h).
pub const X86_FEATURE_UMIP: CpuidBit = CpuidBit::new("X86_FEATURE_UMIP", 7, 0, Reg::Ecx, 2);
/// `X86_FEATURE_LA57`.
pub const X86_FEATURE_LA57: CpuidBit = CpuidBit::new("X86_FEATURE_LA57", 7, 0, Reg::Ecx, 16);
/// `X86_FEATURE_VMX`.
pub const X86_FEATURE_VMX: CpuidBit = CpuidBit::new("X86_FEATURE_VMX", 1, 0, Reg::Ecx, 5);
/// `X86_FEATURE_SMX`.
pub const X86_FEATURE_SMX: CpuidBit = CpuidBit::new("X86_FEATURE_SMX", 1, 0, Reg::Ecx, 6);
/// `X86_FEATURE_FSGSBASE`.
pub const X86_FEATURE_FSGSBASE: CpuidBit = CpuidBit::new("X86_FEATURE_FSGSBASE", 7, 0, Reg::Ebx, 0);
/// `X86_FEATURE_PCID`.
pub const X86_FEATURE_PCID: CpuidBit = CpuidBit::new("X86_FEATURE_PCID", 1, 0, Reg::Ecx, 17);
/// `X86_FEATURE_XSAVE`.
pub const X86_FEATURE_XSAVE: CpuidBit = CpuidBit::new("X86_FEATURE_XSAVE", 1, 0, Reg::Ecx, 26);
/// `X86_FEATURE_SMEP`.
pub const X86_FEATURE_SMEP: CpuidBit = CpuidBit::new("X86_FEATURE_SMEP", 7, 0, Reg::Ebx, 7);
/// `X86_FEATURE_SMAP`.
pub const X86_FEATURE_SMAP: CpuidBit = CpuidBit::new("X86_FEATURE_SMAP", 7, 0, Reg::Ebx, 20);
/// `X86_FEATURE_PKU`.
pub const X86_FEATURE_PKU: CpuidBit = CpuidBit::new("X86_FEATURE_PKU", 7, 0, Reg::Ecx, 3);
/// `X86_FEATURE_OSXSAVE`: KVM mirrors CR4.OSXSAVE here (kvm_update_cpuid_runtime).
pub const X86_FEATURE_OSXSAVE: CpuidBit = CpuidBit::new("X86_FEATURE_OSXSAVE", 1, 0, Reg::Ecx, 27);
/// `X86_FEATURE_OSPKE`: KVM mirrors CR4.PKE here.
pub const X86_FEATURE_OSPKE: CpuidBit = CpuidBit::new("X86_FEATURE_OSPKE", 7, 0, Reg::Ecx, 4);

/// KVM_GET/SET_SREGS of a vCPU on a VM with nothing set up: no memory, no
/// KVM_SET_CPUID2, the registers as KVM resets them (the selftests'
/// `vm_create_barebones()` + `__vm_vcpu_add()`).
impl BareVcpu {
    /// KVM_GET_SREGS.
    pub fn sregs(&self) -> Result<kvm_sregs> {
        self.fd().get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))
    }

    /// KVM_SET_SREGS; the error keeps KVM's errno.
    pub fn set_sregs(&self, sregs: &kvm_sregs) -> Result<()> {
        self.fd().set_sregs(sregs).map_err(Error::kvm("KVM_SET_SREGS"))
    }
}

impl Vcpu {
    /// KVM_GET_SREGS.
    pub fn sregs(&self) -> Result<kvm_sregs> {
        self.fd().get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))
    }

    /// KVM_SET_SREGS; the error keeps KVM's errno.
    pub fn set_sregs(&self, sregs: &kvm_sregs) -> Result<()> {
        self.fd().set_sregs(sregs).map_err(Error::kvm("KVM_SET_SREGS"))
    }
}
