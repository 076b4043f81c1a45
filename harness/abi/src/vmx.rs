//! Intel VMX numbers the guest's L1 hypervisor (the runtime's `vmx` module)
//! and the host share: VMCS field encodings, control bits, VMX MSRs, exit
//! reasons, VM-instruction error numbers, and the `VmxPages` record the host
//! fills as upstream's vcpu_alloc_vmx() (selftests lib/x86_64/vmx.c) does.
//!
//! Encodings and bits are the selftests' include/x86_64/vmx.h and the
//! kernel's arch/x86/include/asm/vmx.h, which follow the Intel SDM vol. 3C
//! (Appendix A: VMX capability MSRs; Appendix B: field encodings; 31.4:
//! VM-instruction error numbers; Appendix C: exit reasons).

/// A VMCS field's width, bits 14:13 of its encoding (SDM 25.11.2, Table 25-21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FieldWidth {
    /// 16-bit.
    Bits16 = 0,
    /// 64-bit (bit 0 of the encoding selects the full or the high half).
    Bits64 = 1,
    /// 32-bit.
    Bits32 = 2,
    /// Natural width (64 bits on a 64-bit CPU).
    Natural = 3,
}

/// A VMCS field's type, bits 11:10 of its encoding (SDM 25.11.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FieldType {
    /// Control.
    Control = 0,
    /// VM-exit information (read-only data).
    ExitInfo = 1,
    /// Guest state.
    Guest = 2,
    /// Host state.
    Host = 3,
}

/// A field's encoding from its width, type and index (bits 9:1), access
/// type "full" (bit 0 clear), as SDM 25.11.2 builds it.
pub const fn field_encoding(width: FieldWidth, kind: FieldType, index: u32) -> u32 {
    ((width as u32) << 13) | ((kind as u32) << 10) | (index << 1)
}

/// The width a field's encoding names.
pub const fn field_width(encoding: u32) -> FieldWidth {
    match (encoding >> 13) & 3 {
        0 => FieldWidth::Bits16,
        1 => FieldWidth::Bits64,
        2 => FieldWidth::Bits32,
        _ => FieldWidth::Natural,
    }
}

/// VMCS field encodings (selftests include/x86_64/vmx.h `enum vmcs_field`,
/// SDM Appendix B), the ones upstream's prepare_vmcs() and state_test use.
pub mod field {
    // Each constant is named as the kernel and the SDM name the field.
    #![allow(missing_docs)]
    pub const VIRTUAL_PROCESSOR_ID: u32 = 0x0000;
    pub const POSTED_INTR_NV: u32 = 0x0002;
    pub const GUEST_ES_SELECTOR: u32 = 0x0800;
    pub const GUEST_CS_SELECTOR: u32 = 0x0802;
    pub const GUEST_SS_SELECTOR: u32 = 0x0804;
    pub const GUEST_DS_SELECTOR: u32 = 0x0806;
    pub const GUEST_FS_SELECTOR: u32 = 0x0808;
    pub const GUEST_GS_SELECTOR: u32 = 0x080a;
    pub const GUEST_LDTR_SELECTOR: u32 = 0x080c;
    pub const GUEST_TR_SELECTOR: u32 = 0x080e;
    pub const GUEST_INTR_STATUS: u32 = 0x0810;
    pub const GUEST_PML_INDEX: u32 = 0x0812;
    pub const HOST_ES_SELECTOR: u32 = 0x0c00;
    pub const HOST_CS_SELECTOR: u32 = 0x0c02;
    pub const HOST_SS_SELECTOR: u32 = 0x0c04;
    pub const HOST_DS_SELECTOR: u32 = 0x0c06;
    pub const HOST_FS_SELECTOR: u32 = 0x0c08;
    pub const HOST_GS_SELECTOR: u32 = 0x0c0a;
    pub const HOST_TR_SELECTOR: u32 = 0x0c0c;
    pub const MSR_BITMAP: u32 = 0x2004;
    pub const EPT_POINTER: u32 = 0x201a;
    pub const VMREAD_BITMAP: u32 = 0x2026;
    pub const VMWRITE_BITMAP: u32 = 0x2028;
    pub const VMCS_LINK_POINTER: u32 = 0x2800;
    pub const GUEST_IA32_DEBUGCTL: u32 = 0x2802;
    pub const GUEST_IA32_PAT: u32 = 0x2804;
    pub const GUEST_IA32_EFER: u32 = 0x2806;
    pub const GUEST_IA32_PERF_GLOBAL_CTRL: u32 = 0x2808;
    pub const HOST_IA32_PAT: u32 = 0x2c00;
    pub const HOST_IA32_EFER: u32 = 0x2c02;
    pub const HOST_IA32_PERF_GLOBAL_CTRL: u32 = 0x2c04;
    pub const PIN_BASED_VM_EXEC_CONTROL: u32 = 0x4000;
    pub const CPU_BASED_VM_EXEC_CONTROL: u32 = 0x4002;
    pub const EXCEPTION_BITMAP: u32 = 0x4004;
    pub const PAGE_FAULT_ERROR_CODE_MASK: u32 = 0x4006;
    pub const PAGE_FAULT_ERROR_CODE_MATCH: u32 = 0x4008;
    pub const CR3_TARGET_COUNT: u32 = 0x400a;
    pub const VM_EXIT_CONTROLS: u32 = 0x400c;
    pub const VM_EXIT_MSR_STORE_COUNT: u32 = 0x400e;
    pub const VM_EXIT_MSR_LOAD_COUNT: u32 = 0x4010;
    pub const VM_ENTRY_CONTROLS: u32 = 0x4012;
    pub const VM_ENTRY_MSR_LOAD_COUNT: u32 = 0x4014;
    pub const VM_ENTRY_INTR_INFO_FIELD: u32 = 0x4016;
    pub const TPR_THRESHOLD: u32 = 0x401c;
    pub const SECONDARY_VM_EXEC_CONTROL: u32 = 0x401e;
    pub const VM_INSTRUCTION_ERROR: u32 = 0x4400;
    pub const VM_EXIT_REASON: u32 = 0x4402;
    pub const GUEST_ES_LIMIT: u32 = 0x4800;
    pub const GUEST_CS_LIMIT: u32 = 0x4802;
    pub const GUEST_SS_LIMIT: u32 = 0x4804;
    pub const GUEST_DS_LIMIT: u32 = 0x4806;
    pub const GUEST_FS_LIMIT: u32 = 0x4808;
    pub const GUEST_GS_LIMIT: u32 = 0x480a;
    pub const GUEST_LDTR_LIMIT: u32 = 0x480c;
    pub const GUEST_TR_LIMIT: u32 = 0x480e;
    pub const GUEST_GDTR_LIMIT: u32 = 0x4810;
    pub const GUEST_IDTR_LIMIT: u32 = 0x4812;
    pub const GUEST_ES_AR_BYTES: u32 = 0x4814;
    pub const GUEST_CS_AR_BYTES: u32 = 0x4816;
    pub const GUEST_SS_AR_BYTES: u32 = 0x4818;
    pub const GUEST_DS_AR_BYTES: u32 = 0x481a;
    pub const GUEST_FS_AR_BYTES: u32 = 0x481c;
    pub const GUEST_GS_AR_BYTES: u32 = 0x481e;
    pub const GUEST_LDTR_AR_BYTES: u32 = 0x4820;
    pub const GUEST_TR_AR_BYTES: u32 = 0x4822;
    pub const GUEST_INTERRUPTIBILITY_INFO: u32 = 0x4824;
    pub const GUEST_ACTIVITY_STATE: u32 = 0x4826;
    pub const GUEST_SYSENTER_CS: u32 = 0x482a;
    pub const VMX_PREEMPTION_TIMER_VALUE: u32 = 0x482e;
    pub const HOST_IA32_SYSENTER_CS: u32 = 0x4c00;
    pub const CR0_GUEST_HOST_MASK: u32 = 0x6000;
    pub const CR4_GUEST_HOST_MASK: u32 = 0x6002;
    pub const CR0_READ_SHADOW: u32 = 0x6004;
    pub const CR4_READ_SHADOW: u32 = 0x6006;
    pub const GUEST_CR0: u32 = 0x6800;
    pub const GUEST_CR3: u32 = 0x6802;
    pub const GUEST_CR4: u32 = 0x6804;
    pub const GUEST_ES_BASE: u32 = 0x6806;
    pub const GUEST_CS_BASE: u32 = 0x6808;
    pub const GUEST_SS_BASE: u32 = 0x680a;
    pub const GUEST_DS_BASE: u32 = 0x680c;
    pub const GUEST_FS_BASE: u32 = 0x680e;
    pub const GUEST_GS_BASE: u32 = 0x6810;
    pub const GUEST_LDTR_BASE: u32 = 0x6812;
    pub const GUEST_TR_BASE: u32 = 0x6814;
    pub const GUEST_GDTR_BASE: u32 = 0x6816;
    pub const GUEST_IDTR_BASE: u32 = 0x6818;
    pub const GUEST_DR7: u32 = 0x681a;
    pub const GUEST_RSP: u32 = 0x681c;
    pub const GUEST_RIP: u32 = 0x681e;
    pub const GUEST_RFLAGS: u32 = 0x6820;
    pub const GUEST_PENDING_DBG_EXCEPTIONS: u32 = 0x6822;
    pub const GUEST_SYSENTER_ESP: u32 = 0x6824;
    pub const GUEST_SYSENTER_EIP: u32 = 0x6826;
    pub const HOST_CR0: u32 = 0x6c00;
    pub const HOST_CR3: u32 = 0x6c02;
    pub const HOST_CR4: u32 = 0x6c04;
    pub const HOST_FS_BASE: u32 = 0x6c06;
    pub const HOST_GS_BASE: u32 = 0x6c08;
    pub const HOST_TR_BASE: u32 = 0x6c0a;
    pub const HOST_GDTR_BASE: u32 = 0x6c0c;
    pub const HOST_IDTR_BASE: u32 = 0x6c0e;
    pub const HOST_IA32_SYSENTER_ESP: u32 = 0x6c10;
    pub const HOST_IA32_SYSENTER_EIP: u32 = 0x6c12;
    pub const HOST_RSP: u32 = 0x6c14;
    pub const HOST_RIP: u32 = 0x6c16;
}

/// VMX capability MSRs and IA32_FEATURE_CONTROL (SDM Appendix A; msr-index.h).
pub mod msr {
    // The MSR names of arch/x86/include/asm/msr-index.h.
    #![allow(missing_docs)]
    pub const MSR_IA32_FEAT_CTL: u32 = 0x3a;
    pub const MSR_IA32_VMX_BASIC: u32 = 0x480;
    pub const MSR_IA32_VMX_CR0_FIXED0: u32 = 0x486;
    pub const MSR_IA32_VMX_CR0_FIXED1: u32 = 0x487;
    pub const MSR_IA32_VMX_CR4_FIXED0: u32 = 0x488;
    pub const MSR_IA32_VMX_CR4_FIXED1: u32 = 0x489;
    pub const MSR_IA32_VMX_TRUE_PINBASED_CTLS: u32 = 0x48d;
    pub const MSR_IA32_VMX_TRUE_PROCBASED_CTLS: u32 = 0x48e;
    /// Upstream's init_vmcs_control_fields() reads the non-TRUE exit and entry MSRs.
    pub const MSR_IA32_VMX_EXIT_CTLS: u32 = 0x483;
    pub const MSR_IA32_VMX_ENTRY_CTLS: u32 = 0x484;
    pub const MSR_IA32_CR_PAT: u32 = 0x277;
    pub const MSR_EFER: u32 = 0xc000_0080;
    pub const MSR_CORE_PERF_GLOBAL_CTRL: u32 = 0x38f;
    pub const MSR_IA32_SYSENTER_CS: u32 = 0x174;
    pub const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
    pub const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
    pub const MSR_FS_BASE: u32 = 0xc000_0100;
    pub const MSR_GS_BASE: u32 = 0xc000_0101;
    /// IA32_FEATURE_CONTROL bit 0: lock; VMXON #GPs while it is clear (SDM 24.7).
    pub const FEAT_CTL_LOCKED: u64 = 1 << 0;
    /// IA32_FEATURE_CONTROL bit 2: VMXON outside SMX operation.
    pub const FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX: u64 = 1 << 2;
}

/// CR4.VMXE (SDM 2.5): VMXON #UDs while it is clear.
pub const X86_CR4_VMXE: u64 = 1 << 13;

/// Primary processor-based control: the secondary controls are used.
pub const CPU_BASED_ACTIVATE_SECONDARY_CONTROLS: u32 = 0x8000_0000;
/// Secondary control: VMREAD/VMWRITE in VMX non-root operation may use a shadow VMCS.
pub const SECONDARY_EXEC_SHADOW_VMCS: u32 = 0x0000_4000;
/// VM-exit control: the host is 64-bit.
pub const VM_EXIT_HOST_ADDR_SPACE_SIZE: u32 = 0x0000_0200;
/// VM-exit control: load IA32_PERF_GLOBAL_CTRL.
pub const VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL: u32 = 0x0000_1000;
/// VM-exit control: load IA32_PAT.
pub const VM_EXIT_LOAD_IA32_PAT: u32 = 0x0008_0000;
/// VM-exit control: load IA32_EFER.
pub const VM_EXIT_LOAD_IA32_EFER: u32 = 0x0020_0000;
/// VM-entry control: the guest is in IA-32e mode.
pub const VM_ENTRY_IA32E_MODE: u32 = 0x0000_0200;

/// Basic exit reason of VMCALL (SDM Appendix C).
pub const EXIT_REASON_VMCALL: u64 = 18;

/// VM-instruction error numbers (SDM 31.4; the kernel's `enum vm_instruction_error_number`).
pub mod vmxerr {
    // The kernel's names, VMXERR_ dropped.
    #![allow(missing_docs)]
    pub const VMLAUNCH_NONCLEAR_VMCS: u64 = 4;
    pub const VMRESUME_NONLAUNCHED_VMCS: u64 = 5;
    pub const ENTRY_INVALID_CONTROL_FIELD: u64 = 7;
    pub const ENTRY_INVALID_HOST_STATE_FIELD: u64 = 8;
}

/// The shadow-VMCS indicator, bit 31 of a VMCS region's first word (SDM 25.2).
pub const SHADOW_VMCS_INDICATOR: u32 = 0x8000_0000;

/// IA32_VMX_BASIC (SDM A.1), the fields a VMM needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmxBasic {
    /// Bits 30:0: the VMCS revision identifier written to VMXON and VMCS regions.
    pub revision_id: u32,
    /// Bits 44:32: bytes to allocate for the VMXON region and any VMCS region.
    pub region_size: u32,
    /// Bit 48: region addresses limited to 32 bits.
    pub phys_addr_32bit: bool,
    /// Bits 53:50: memory type the processor uses for the VMCS (6: write-back).
    pub memory_type: u8,
    /// Bit 55: the IA32_VMX_TRUE_*_CTLS MSRs exist.
    pub true_ctls: bool,
}

impl VmxBasic {
    /// Decodes the MSR's value.
    pub const fn parse(value: u64) -> Self {
        VmxBasic {
            revision_id: (value & 0x7fff_ffff) as u32,
            region_size: ((value >> 32) & 0x1fff) as u32,
            phys_addr_32bit: value & (1 << 48) != 0,
            memory_type: ((value >> 50) & 0xf) as u8,
            true_ctls: value & (1 << 55) != 0,
        }
    }
}

/// How a VMX instruction ended, from RFLAGS right after it (SDM 31.2,
/// "Conventions"): VMsucceed clears CF, PF, AF, ZF, SF and OF; VMfailInvalid
/// sets CF; VMfailValid sets ZF (and stores an error number in the current
/// VMCS's VM-instruction error field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmInsnStatus {
    /// VMsucceed.
    Succeed,
    /// VMfailInvalid (CF).
    FailInvalid,
    /// VMfailValid (ZF).
    FailValid,
}

impl VmInsnStatus {
    /// RFLAGS.CF.
    pub const RFLAGS_CF: u64 = 1 << 0;
    /// RFLAGS.ZF.
    pub const RFLAGS_ZF: u64 = 1 << 6;

    /// Decodes RFLAGS after the instruction.
    pub const fn from_rflags(rflags: u64) -> Self {
        if rflags & Self::RFLAGS_CF != 0 {
            VmInsnStatus::FailInvalid
        } else if rflags & Self::RFLAGS_ZF != 0 {
            VmInsnStatus::FailValid
        } else {
            VmInsnStatus::Succeed
        }
    }
}

/// The base of a 16-byte system-segment descriptor (a TSS's, for
/// HOST_TR_BASE; the selftests' get_desc64_base(), SDM 8.2.3 Figure 8-4):
/// base 23:0 in bits 39:16 of the low quadword, 31:24 in its bits 63:56,
/// 63:32 in the high quadword's bits 31:0.
pub const fn system_descriptor_base(low: u64, high: u64) -> u64 {
    ((low >> 16) & 0xff_ffff) | ((low >> 56) << 24) | ((high & 0xffff_ffff) << 32)
}

/// Where the host put the L1 hypervisor's pages (upstream's `struct
/// vmx_pages`, the guest-physical addresses; kvmtest identity-maps, so they
/// are the guest-virtual ones too). Each page is 4 KiB aligned; the MSR,
/// VMREAD and VMWRITE bitmaps are zeroed by the host.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmxPages {
    /// The VMXON region.
    pub vmxon_gpa: u64,
    /// The VMCS L1 runs L2 with.
    pub vmcs_gpa: u64,
    /// The MSR bitmap.
    pub msr_gpa: u64,
    /// The shadow VMCS.
    pub shadow_vmcs_gpa: u64,
    /// The VMREAD bitmap.
    pub vmread_gpa: u64,
    /// The VMWRITE bitmap.
    pub vmwrite_gpa: u64,
}

#[cfg(test)]
mod tests {
    use super::field::*;
    use super::FieldType::*;
    use super::FieldWidth::*;
    use super::*;

    /// Each encoding against SDM Appendix B's tables: (encoding, width, type, index).
    #[test]
    fn field_encodings_match_the_sdm_tables() {
        let rows: &[(u32, FieldWidth, FieldType, u32)] = &[
            // B.1.1 16-bit control fields.
            (VIRTUAL_PROCESSOR_ID, Bits16, Control, 0),
            (POSTED_INTR_NV, Bits16, Control, 1),
            // B.1.2 16-bit guest-state fields: ES, CS, SS, DS, FS, GS, LDTR, TR, interrupt status, PML index.
            (GUEST_ES_SELECTOR, Bits16, Guest, 0),
            (GUEST_CS_SELECTOR, Bits16, Guest, 1),
            (GUEST_SS_SELECTOR, Bits16, Guest, 2),
            (GUEST_DS_SELECTOR, Bits16, Guest, 3),
            (GUEST_FS_SELECTOR, Bits16, Guest, 4),
            (GUEST_GS_SELECTOR, Bits16, Guest, 5),
            (GUEST_LDTR_SELECTOR, Bits16, Guest, 6),
            (GUEST_TR_SELECTOR, Bits16, Guest, 7),
            (GUEST_INTR_STATUS, Bits16, Guest, 8),
            (GUEST_PML_INDEX, Bits16, Guest, 9),
            // B.1.3 16-bit host-state fields.
            (HOST_ES_SELECTOR, Bits16, Host, 0),
            (HOST_CS_SELECTOR, Bits16, Host, 1),
            (HOST_SS_SELECTOR, Bits16, Host, 2),
            (HOST_DS_SELECTOR, Bits16, Host, 3),
            (HOST_FS_SELECTOR, Bits16, Host, 4),
            (HOST_GS_SELECTOR, Bits16, Host, 5),
            (HOST_TR_SELECTOR, Bits16, Host, 6),
            // B.2.1 64-bit control fields.
            (MSR_BITMAP, Bits64, Control, 2),
            (EPT_POINTER, Bits64, Control, 13),
            (VMREAD_BITMAP, Bits64, Control, 19),
            (VMWRITE_BITMAP, Bits64, Control, 20),
            // B.2.3 64-bit guest-state fields.
            (VMCS_LINK_POINTER, Bits64, Guest, 0),
            (GUEST_IA32_DEBUGCTL, Bits64, Guest, 1),
            (GUEST_IA32_PAT, Bits64, Guest, 2),
            (GUEST_IA32_EFER, Bits64, Guest, 3),
            (GUEST_IA32_PERF_GLOBAL_CTRL, Bits64, Guest, 4),
            // B.2.4 64-bit host-state fields.
            (HOST_IA32_PAT, Bits64, Host, 0),
            (HOST_IA32_EFER, Bits64, Host, 1),
            (HOST_IA32_PERF_GLOBAL_CTRL, Bits64, Host, 2),
            // B.3.1 32-bit control fields.
            (PIN_BASED_VM_EXEC_CONTROL, Bits32, Control, 0),
            (CPU_BASED_VM_EXEC_CONTROL, Bits32, Control, 1),
            (EXCEPTION_BITMAP, Bits32, Control, 2),
            (PAGE_FAULT_ERROR_CODE_MASK, Bits32, Control, 3),
            (PAGE_FAULT_ERROR_CODE_MATCH, Bits32, Control, 4),
            (CR3_TARGET_COUNT, Bits32, Control, 5),
            (VM_EXIT_CONTROLS, Bits32, Control, 6),
            (VM_EXIT_MSR_STORE_COUNT, Bits32, Control, 7),
            (VM_EXIT_MSR_LOAD_COUNT, Bits32, Control, 8),
            (VM_ENTRY_CONTROLS, Bits32, Control, 9),
            (VM_ENTRY_MSR_LOAD_COUNT, Bits32, Control, 10),
            (VM_ENTRY_INTR_INFO_FIELD, Bits32, Control, 11),
            (TPR_THRESHOLD, Bits32, Control, 14),
            (SECONDARY_VM_EXEC_CONTROL, Bits32, Control, 15),
            // B.3.2 32-bit read-only data fields.
            (VM_INSTRUCTION_ERROR, Bits32, ExitInfo, 0),
            (VM_EXIT_REASON, Bits32, ExitInfo, 1),
            // B.3.3 32-bit guest-state fields.
            (GUEST_ES_LIMIT, Bits32, Guest, 0),
            (GUEST_CS_LIMIT, Bits32, Guest, 1),
            (GUEST_SS_LIMIT, Bits32, Guest, 2),
            (GUEST_DS_LIMIT, Bits32, Guest, 3),
            (GUEST_FS_LIMIT, Bits32, Guest, 4),
            (GUEST_GS_LIMIT, Bits32, Guest, 5),
            (GUEST_LDTR_LIMIT, Bits32, Guest, 6),
            (GUEST_TR_LIMIT, Bits32, Guest, 7),
            (GUEST_GDTR_LIMIT, Bits32, Guest, 8),
            (GUEST_IDTR_LIMIT, Bits32, Guest, 9),
            (GUEST_ES_AR_BYTES, Bits32, Guest, 10),
            (GUEST_CS_AR_BYTES, Bits32, Guest, 11),
            (GUEST_SS_AR_BYTES, Bits32, Guest, 12),
            (GUEST_DS_AR_BYTES, Bits32, Guest, 13),
            (GUEST_FS_AR_BYTES, Bits32, Guest, 14),
            (GUEST_GS_AR_BYTES, Bits32, Guest, 15),
            (GUEST_LDTR_AR_BYTES, Bits32, Guest, 16),
            (GUEST_TR_AR_BYTES, Bits32, Guest, 17),
            (GUEST_INTERRUPTIBILITY_INFO, Bits32, Guest, 18),
            (GUEST_ACTIVITY_STATE, Bits32, Guest, 19),
            (GUEST_SYSENTER_CS, Bits32, Guest, 21),
            (VMX_PREEMPTION_TIMER_VALUE, Bits32, Guest, 23),
            // B.3.4 32-bit host-state field.
            (HOST_IA32_SYSENTER_CS, Bits32, Host, 0),
            // B.4.1 natural-width control fields.
            (CR0_GUEST_HOST_MASK, Natural, Control, 0),
            (CR4_GUEST_HOST_MASK, Natural, Control, 1),
            (CR0_READ_SHADOW, Natural, Control, 2),
            (CR4_READ_SHADOW, Natural, Control, 3),
            // B.4.3 natural-width guest-state fields.
            (GUEST_CR0, Natural, Guest, 0),
            (GUEST_CR3, Natural, Guest, 1),
            (GUEST_CR4, Natural, Guest, 2),
            (GUEST_ES_BASE, Natural, Guest, 3),
            (GUEST_CS_BASE, Natural, Guest, 4),
            (GUEST_SS_BASE, Natural, Guest, 5),
            (GUEST_DS_BASE, Natural, Guest, 6),
            (GUEST_FS_BASE, Natural, Guest, 7),
            (GUEST_GS_BASE, Natural, Guest, 8),
            (GUEST_LDTR_BASE, Natural, Guest, 9),
            (GUEST_TR_BASE, Natural, Guest, 10),
            (GUEST_GDTR_BASE, Natural, Guest, 11),
            (GUEST_IDTR_BASE, Natural, Guest, 12),
            (GUEST_DR7, Natural, Guest, 13),
            (GUEST_RSP, Natural, Guest, 14),
            (GUEST_RIP, Natural, Guest, 15),
            (GUEST_RFLAGS, Natural, Guest, 16),
            (GUEST_PENDING_DBG_EXCEPTIONS, Natural, Guest, 17),
            (GUEST_SYSENTER_ESP, Natural, Guest, 18),
            (GUEST_SYSENTER_EIP, Natural, Guest, 19),
            // B.4.4 natural-width host-state fields.
            (HOST_CR0, Natural, Host, 0),
            (HOST_CR3, Natural, Host, 1),
            (HOST_CR4, Natural, Host, 2),
            (HOST_FS_BASE, Natural, Host, 3),
            (HOST_GS_BASE, Natural, Host, 4),
            (HOST_TR_BASE, Natural, Host, 5),
            (HOST_GDTR_BASE, Natural, Host, 6),
            (HOST_IDTR_BASE, Natural, Host, 7),
            (HOST_IA32_SYSENTER_ESP, Natural, Host, 8),
            (HOST_IA32_SYSENTER_EIP, Natural, Host, 9),
            (HOST_RSP, Natural, Host, 10),
            (HOST_RIP, Natural, Host, 11),
        ];
        for &(encoding, width, kind, index) in rows {
            assert_eq!(encoding, field_encoding(width, kind, index), "{encoding:#x}: {width:?} {kind:?} index {index}");
            assert_eq!(field_width(encoding), width, "{encoding:#x}");
        }
    }

    /// KVM's nested IA32_VMX_BASIC (vmx/nested.c nested_vmx_setup_basic():
    /// VMCS12_REVISION 0x11e57ed0, VMCS12_SIZE 0x1000, write-back, TRUE
    /// controls, INS/OUTS information) and a 32-bit-limited variant.
    #[test]
    fn vmx_basic_layout() {
        let kvm = 0x11e5_7ed0 | (0x1000u64 << 32) | (6u64 << 50) | (1u64 << 54) | (1u64 << 55);
        assert_eq!(
            VmxBasic::parse(kvm),
            VmxBasic {
                revision_id: 0x11e5_7ed0,
                region_size: 0x1000,
                phys_addr_32bit: false,
                memory_type: 6,
                true_ctls: true
            }
        );
        // Bit 31 is not part of the revision id (always 0 in the MSR, the
        // shadow-VMCS indicator in a VMCS region).
        let odd = 0x8000_0001 | (0x400u64 << 32) | (1u64 << 48);
        assert_eq!(
            VmxBasic::parse(odd),
            VmxBasic { revision_id: 1, region_size: 0x400, phys_addr_32bit: true, memory_type: 0, true_ctls: false }
        );
    }

    /// A TSS descriptor as the harness's GDT holds one (base 0x1800, limit
    /// 0x67, type 9) and one with every base byte distinct.
    #[test]
    fn system_descriptor_base_decodes_every_base_field() {
        assert_eq!(system_descriptor_base(0x0000_8900_1800_0067, 0), 0x1800);
        let base = 0xfedc_ba98_7654_3210u64;
        let low = 0x67 | ((base & 0xff_ffff) << 16) | (0x89 << 40) | (((base >> 24) & 0xff) << 56);
        assert_eq!(system_descriptor_base(low, base >> 32), base);
        // The high quadword's upper half is reserved, not base.
        assert_eq!(system_descriptor_base(low, (base >> 32) | (0xffff_ffff << 32)), base);
    }

    /// SDM 31.2: CF alone is VMfailInvalid, ZF alone VMfailValid, neither
    /// success; RFLAGS bit 1 (always 1) and other flags do not matter.
    #[test]
    fn vm_instruction_status_from_rflags() {
        assert_eq!(VmInsnStatus::from_rflags(0x2), VmInsnStatus::Succeed);
        assert_eq!(VmInsnStatus::from_rflags(0x2 | 0x200 | 0x4), VmInsnStatus::Succeed);
        assert_eq!(VmInsnStatus::from_rflags(0x3), VmInsnStatus::FailInvalid);
        assert_eq!(VmInsnStatus::from_rflags(0x42), VmInsnStatus::FailValid);
    }

    /// The host writes `VmxPages` and the guest reads it: six u64, no padding.
    #[test]
    fn vmx_pages_layout() {
        assert_eq!(core::mem::size_of::<VmxPages>(), 48);
        assert_eq!(core::mem::offset_of!(VmxPages, vmwrite_gpa), 40);
    }
}
