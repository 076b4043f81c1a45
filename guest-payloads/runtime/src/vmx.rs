//! A guest's own L1 hypervisor on Intel VMX, as the selftests' lib/x86_64/vmx.c
//! and include/x86_64/vmx.h: VMXON with the CR0/CR4 fixed bits and
//! IA32_FEATURE_CONTROL, VMCLEAR/VMPTRLD/VMPTRST, VMREAD/VMWRITE, the VMCS
//! set-up of prepare_vmcs(), VMLAUNCH/VMRESUME, and L2's VMCALL.
//!
//! Each instruction follows the SDM's conventions (vol. 3C 31.2): success
//! clears CF and ZF; VMfailInvalid sets CF (no current VMCS, or none that
//! can hold the error); VMfailValid sets ZF and stores the error number in
//! the current VMCS's VM-instruction error field, read here with VMREAD.
//! The numbers come from `kvmtest_abi::vmx`.

use core::arch::asm;

use crate::apic::{rdmsr, wrmsr};
use kvmtest_abi::vmx::field::*;
use kvmtest_abi::vmx::msr::*;
use kvmtest_abi::vmx::*;

/// How a VMX instruction failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmFail {
    /// CF set: VMfailInvalid.
    Invalid,
    /// ZF set: VMfailValid, with the VM-instruction error number.
    Valid(u64),
}

/// Success, VMfailInvalid or VMfailValid from RFLAGS after the instruction.
fn vm_result(rflags: u64) -> Result<(), VmFail> {
    match VmInsnStatus::from_rflags(rflags) {
        VmInsnStatus::Succeed => Ok(()),
        VmInsnStatus::FailInvalid => Err(VmFail::Invalid),
        VmInsnStatus::FailValid => Err(VmFail::Valid(vmreadz(VM_INSTRUCTION_ERROR))),
    }
}

/// An instruction whose only operand is a 64-bit physical address in memory.
macro_rules! vmx_pa_insn {
    ($(#[$doc:meta])* $name:ident, $insn:literal) => {
        $(#[$doc])*
        pub fn $name(pa: u64) -> Result<(), VmFail> {
            let rflags: u64;
            // SAFETY: the instruction reads the 8-byte operand on this
            // stack frame and changes only VMX state and RFLAGS; the memory
            // it names is the caller's VMX page, given to it for this use.
            unsafe {
                asm!(concat!($insn, " qword ptr [{pa}]"), "pushfq", "pop {f}",
                     pa = in(reg) &pa, f = out(reg) rflags)
            };
            vm_result(rflags)
        }
    };
}

vmx_pa_insn!(
    /// VMXON: enter VMX root operation with the VMXON region at `pa`.
    vmxon,
    "vmxon"
);
vmx_pa_insn!(
    /// VMCLEAR: flush the VMCS at `pa` and make its launch state "clear".
    vmclear,
    "vmclear"
);
vmx_pa_insn!(
    /// VMPTRLD: make the VMCS at `pa` current.
    vmptrld,
    "vmptrld"
);

/// VMPTRST: the current-VMCS pointer.
pub fn vmptrst() -> Result<u64, VmFail> {
    let mut value = 0u64;
    let rflags: u64;
    // SAFETY: VMPTRST writes 8 bytes to `value`, on this stack frame.
    unsafe { asm!("vmptrst qword ptr [{p}]", "pushfq", "pop {f}", p = in(reg) &mut value, f = out(reg) rflags) };
    vm_result(rflags).map(|()| value)
}

/// `vmptrstz()`: the current-VMCS pointer, 0 if VMPTRST fails.
pub fn vmptrstz() -> u64 {
    vmptrst().unwrap_or(0)
}

/// VMREAD of a field of the current VMCS (or, in L2, of its shadow VMCS).
pub fn vmread(encoding: u32) -> Result<u64, VmFail> {
    let value: u64;
    let rflags: u64;
    // SAFETY: VMREAD writes only its register operand and RFLAGS.
    unsafe {
        asm!("vmread {v}, {e}", "pushfq", "pop {f}",
             v = out(reg) value, e = in(reg) u64::from(encoding), f = out(reg) rflags)
    };
    // Not through vm_result: the error number is read with VMREAD itself.
    match VmInsnStatus::from_rflags(rflags) {
        VmInsnStatus::Succeed => Ok(value),
        VmInsnStatus::FailInvalid => Err(VmFail::Invalid),
        VmInsnStatus::FailValid => {
            let error: u64;
            // SAFETY: as above.
            unsafe {
                asm!("vmread {v}, {e}", v = out(reg) error, e = in(reg) u64::from(VM_INSTRUCTION_ERROR), options(nomem, nostack))
            };
            Err(VmFail::Valid(error))
        }
    }
}

/// `vmreadz()`: VMREAD, 0 if it fails.
pub fn vmreadz(encoding: u32) -> u64 {
    vmread(encoding).unwrap_or(0)
}

/// VMWRITE of a field of the current VMCS (or, in L2, of its shadow VMCS).
pub fn vmwrite(encoding: u32, value: u64) -> Result<(), VmFail> {
    let rflags: u64;
    // SAFETY: VMWRITE changes only VMCS data and RFLAGS.
    unsafe {
        asm!("vmwrite {e}, {v}", "pushfq", "pop {f}",
             e = in(reg) u64::from(encoding), v = in(reg) value, f = out(reg) rflags)
    };
    vm_result(rflags)
}

/// VMWRITE whose failure upstream ignores (`vmwrite()` without a check).
fn set(encoding: u32, value: u64) {
    let _ = vmwrite(encoding, value);
}

/// VMLAUNCH (`launch`) or VMRESUME. As upstream's vmlaunch()/vmresume()
/// no guest state (GPRs) is established: HOST_RSP and HOST_RIP are this
/// call's stack and the label after the instruction, so L2's exit returns
/// here with every register but RSP clobbered. Ok(()) is a VM exit.
fn vm_enter(launch: bool) -> Result<(), VmFail> {
    let rflags: u64;
    // SAFETY: L1 and L2 share memory; a VM exit resumes at `2:` on the
    // stack saved in HOST_RSP with rbx, rbp and the 0 "exit" marker pushed
    // there; every other register is declared clobbered. A failed entry
    // falls through and replaces the marker with RFLAGS (bit 1 is always
    // set, so never 0).
    unsafe {
        asm!(
            "push rbx",
            "push rbp",
            "push 0",
            "mov rcx, {host_rsp}",
            "vmwrite rcx, rsp",
            "lea rax, [rip + 2f]",
            "mov rcx, {host_rip}",
            "vmwrite rcx, rax",
            "test dl, dl",
            "jz 3f",
            "vmlaunch",
            "jmp 4f",
            "3:",
            "vmresume",
            "4:",
            "pushfq",
            "pop rax",
            "mov [rsp], rax",
            "2:",
            "pop rax",
            "pop rbp",
            "pop rbx",
            host_rsp = const HOST_RSP,
            host_rip = const HOST_RIP,
            inout("rdx") u64::from(launch) => _,
            out("rax") rflags,
            out("rcx") _, out("rsi") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
        )
    };
    if rflags == 0 {
        Ok(())
    } else {
        vm_result(rflags)
    }
}

/// VMLAUNCH: run L2 from the current VMCS; Ok(()) once L2 exits.
pub fn vmlaunch() -> Result<(), VmFail> {
    vm_enter(true)
}

/// VMRESUME: resume L2 from the current (launched) VMCS; Ok(()) once L2 exits.
pub fn vmresume() -> Result<(), VmFail> {
    vm_enter(false)
}

/// L2's VMCALL: exit to L1. RAX and RCX hold "safe" values so L0 does not
/// take it for a hypercall of its own (upstream 6.12's vmcall()); L1 does
/// not preserve L2's registers, so all but RSP are clobbered.
#[inline(always)]
pub fn l2_vmcall() {
    // SAFETY: VMCALL in VMX non-root operation exits to L1, which resumes
    // L2 after it (or never); rbx and rbp, which cannot be operands, are
    // saved on the stack around it.
    unsafe {
        asm!(
            "push rbx",
            "push rbp",
            "vmcall",
            "pop rbp",
            "pop rbx",
            inout("rax") 0xdead_beef_u64 => _,
            inout("rcx") 0xbeef_dead_u64 => _,
            out("rdx") _, out("rsi") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
        )
    };
}

macro_rules! read_cr {
    ($name:ident, $cr:literal) => {
        fn $name() -> u64 {
            let v: u64;
            // SAFETY: reading a control register has no side effect at CPL 0.
            unsafe { asm!(concat!("mov {}, ", $cr), out(reg) v, options(nomem, nostack, preserves_flags)) };
            v
        }
    };
}
read_cr!(get_cr0, "cr0");
read_cr!(get_cr3, "cr3");
read_cr!(get_cr4, "cr4");

macro_rules! read_selector {
    ($name:ident, $insn:literal) => {
        fn $name() -> u64 {
            let v: u16;
            // SAFETY: reads a segment selector (or TR) into a register.
            unsafe { asm!($insn, out(reg) v, options(nomem, nostack, preserves_flags)) };
            u64::from(v)
        }
    };
}
read_selector!(get_es, "mov {0:x}, es");
read_selector!(get_cs, "mov {0:x}, cs");
read_selector!(get_ss, "mov {0:x}, ss");
read_selector!(get_ds, "mov {0:x}, ds");
read_selector!(get_fs, "mov {0:x}, fs");
read_selector!(get_gs, "mov {0:x}, gs");
read_selector!(get_tr, "str {0:x}");

/// SGDT or SIDT: (limit, base).
#[repr(C, packed)]
#[derive(Default)]
struct DescriptorTable {
    limit: u16,
    base: u64,
}

fn get_gdt() -> DescriptorTable {
    let mut t = DescriptorTable::default();
    // SAFETY: SGDT stores 10 bytes into `t`.
    unsafe { asm!("sgdt [{}]", in(reg) &mut t, options(nostack, preserves_flags)) };
    t
}

fn get_idt() -> DescriptorTable {
    let mut t = DescriptorTable::default();
    // SAFETY: SIDT stores 10 bytes into `t`.
    unsafe { asm!("sidt [{}]", in(reg) &mut t, options(nostack, preserves_flags)) };
    t
}

/// get_desc64_base(): the base of the 16-byte system descriptor at `gdt + selector`.
fn desc64_base(gdt: u64, selector: u64) -> u64 {
    let at = (gdt + (selector & !7)) as *const u64;
    // SAFETY: the GDT is identity-mapped guest memory and a TSS selector
    // names a 16-byte descriptor inside it.
    let (lo, hi) = unsafe { (core::ptr::read_volatile(at), core::ptr::read_volatile(at.add(1))) };
    system_descriptor_base(lo, hi)
}

/// Writes the VMCS revision identifier (IA32_VMX_BASIC bits 30:0), with
/// `extra` bits, to the first word of the VMX region at `gpa`.
fn write_revision(gpa: u64, extra: u32) {
    let revision = VmxBasic::parse(rdmsr(MSR_IA32_VMX_BASIC)).revision_id;
    // SAFETY: the host gave this page to the L1 hypervisor for this region
    // (identity-mapped: its guest-physical address is its address here).
    unsafe { core::ptr::write_volatile(gpa as *mut u32, revision | extra) };
}

/// prepare_for_vmx_operation(): CR0/CR4 within the VMX fixed bits, CR4.VMXE,
/// IA32_FEATURE_CONTROL locked with VMX outside SMX, VMXON.
pub fn prepare_for_vmx_operation(pages: &VmxPages) -> Result<(), VmFail> {
    // Bit X is 1 in _FIXED0: fixed to 1 in CRx; 0 in _FIXED1: fixed to 0 (SDM A.7, A.8).
    let cr0 = (get_cr0() & rdmsr(MSR_IA32_VMX_CR0_FIXED1)) | rdmsr(MSR_IA32_VMX_CR0_FIXED0);
    // SAFETY: the fixed bits keep paging and protection on (FIXED0 holds PE and PG).
    unsafe { asm!("mov cr0, {}", in(reg) cr0, options(nostack)) };
    let cr4 = (get_cr4() & rdmsr(MSR_IA32_VMX_CR4_FIXED1)) | rdmsr(MSR_IA32_VMX_CR4_FIXED0) | X86_CR4_VMXE;
    // SAFETY: as for CR0; VMXE only allows VMXON.
    unsafe { asm!("mov cr4, {}", in(reg) cr4, options(nostack)) };

    // IA32_FEATURE_CONTROL: bit 0 locks it (VMXON #GPs while clear), bit 2
    // allows VMXON outside SMX operation.
    let required = FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX | FEAT_CTL_LOCKED;
    let feature_control = rdmsr(MSR_IA32_FEAT_CTL);
    if feature_control & required != required {
        wrmsr(MSR_IA32_FEAT_CTL, feature_control | required);
    }

    write_revision(pages.vmxon_gpa, 0);
    vmxon(pages.vmxon_gpa)
}

/// load_vmcs(): VMCLEAR and VMPTRLD the VMCS; the shadow VMCS (indicator
/// set) VMCLEARed, not loaded.
pub fn load_vmcs(pages: &VmxPages) -> Result<(), VmFail> {
    write_revision(pages.vmcs_gpa, 0);
    vmclear(pages.vmcs_gpa)?;
    vmptrld(pages.vmcs_gpa)?;
    write_revision(pages.shadow_vmcs_gpa, SHADOW_VMCS_INDICATOR);
    vmclear(pages.shadow_vmcs_gpa)
}

/// init_vmcs_control_fields(): the most basic settings, every control at
/// its default-1 value (the low half of each capability MSR); no EPT.
fn init_vmcs_control_fields(pages: &VmxPages) {
    set(VIRTUAL_PROCESSOR_ID, 0);
    set(POSTED_INTR_NV, 0);
    set(PIN_BASED_VM_EXEC_CONTROL, rdmsr(MSR_IA32_VMX_TRUE_PINBASED_CTLS));
    let sec_exec_ctl = 0;
    if vmwrite(SECONDARY_VM_EXEC_CONTROL, sec_exec_ctl).is_ok() {
        set(
            CPU_BASED_VM_EXEC_CONTROL,
            rdmsr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) | u64::from(CPU_BASED_ACTIVATE_SECONDARY_CONTROLS),
        );
    } else {
        set(CPU_BASED_VM_EXEC_CONTROL, rdmsr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS));
    }
    set(EXCEPTION_BITMAP, 0);
    set(PAGE_FAULT_ERROR_CODE_MASK, 0);
    set(PAGE_FAULT_ERROR_CODE_MATCH, u64::MAX); // never match
    set(CR3_TARGET_COUNT, 0);
    set(VM_EXIT_CONTROLS, rdmsr(MSR_IA32_VMX_EXIT_CTLS) | u64::from(VM_EXIT_HOST_ADDR_SPACE_SIZE)); // 64-bit host
    set(VM_EXIT_MSR_STORE_COUNT, 0);
    set(VM_EXIT_MSR_LOAD_COUNT, 0);
    set(VM_ENTRY_CONTROLS, rdmsr(MSR_IA32_VMX_ENTRY_CTLS) | u64::from(VM_ENTRY_IA32E_MODE)); // 64-bit guest
    set(VM_ENTRY_MSR_LOAD_COUNT, 0);
    set(VM_ENTRY_INTR_INFO_FIELD, 0);
    set(TPR_THRESHOLD, 0);

    set(CR0_GUEST_HOST_MASK, 0);
    set(CR4_GUEST_HOST_MASK, 0);
    set(CR0_READ_SHADOW, get_cr0());
    set(CR4_READ_SHADOW, get_cr4());

    set(MSR_BITMAP, pages.msr_gpa);
    set(VMREAD_BITMAP, pages.vmread_gpa);
    set(VMWRITE_BITMAP, pages.vmwrite_gpa);
}

/// init_vmcs_host_state(): the host-state fields from L1's own state,
/// except HOST_RSP and HOST_RIP, which VMLAUNCH/VMRESUME set.
fn init_vmcs_host_state() {
    let exit_controls = vmreadz(VM_EXIT_CONTROLS) as u32;
    set(HOST_ES_SELECTOR, get_es());
    set(HOST_CS_SELECTOR, get_cs());
    set(HOST_SS_SELECTOR, get_ss());
    set(HOST_DS_SELECTOR, get_ds());
    set(HOST_FS_SELECTOR, get_fs());
    set(HOST_GS_SELECTOR, get_gs());
    set(HOST_TR_SELECTOR, get_tr());
    if exit_controls & VM_EXIT_LOAD_IA32_PAT != 0 {
        set(HOST_IA32_PAT, rdmsr(MSR_IA32_CR_PAT));
    }
    if exit_controls & VM_EXIT_LOAD_IA32_EFER != 0 {
        set(HOST_IA32_EFER, rdmsr(MSR_EFER));
    }
    if exit_controls & VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL != 0 {
        set(HOST_IA32_PERF_GLOBAL_CTRL, rdmsr(MSR_CORE_PERF_GLOBAL_CTRL));
    }
    set(HOST_IA32_SYSENTER_CS, rdmsr(MSR_IA32_SYSENTER_CS));
    set(HOST_CR0, get_cr0());
    set(HOST_CR3, get_cr3());
    set(HOST_CR4, get_cr4());
    set(HOST_FS_BASE, rdmsr(MSR_FS_BASE));
    set(HOST_GS_BASE, rdmsr(MSR_GS_BASE));
    let gdt = get_gdt();
    set(HOST_TR_BASE, desc64_base(gdt.base, get_tr()));
    set(HOST_GDTR_BASE, gdt.base);
    set(HOST_IDTR_BASE, get_idt().base);
    set(HOST_IA32_SYSENTER_ESP, rdmsr(MSR_IA32_SYSENTER_ESP));
    set(HOST_IA32_SYSENTER_EIP, rdmsr(MSR_IA32_SYSENTER_EIP));
}

/// init_vmcs_guest_state(): L2 as a clone of L1's host state, at `rip` with `rsp`.
fn init_vmcs_guest_state(rip: u64, rsp: u64) {
    set(GUEST_ES_SELECTOR, vmreadz(HOST_ES_SELECTOR));
    set(GUEST_CS_SELECTOR, vmreadz(HOST_CS_SELECTOR));
    set(GUEST_SS_SELECTOR, vmreadz(HOST_SS_SELECTOR));
    set(GUEST_DS_SELECTOR, vmreadz(HOST_DS_SELECTOR));
    set(GUEST_FS_SELECTOR, vmreadz(HOST_FS_SELECTOR));
    set(GUEST_GS_SELECTOR, vmreadz(HOST_GS_SELECTOR));
    set(GUEST_LDTR_SELECTOR, 0);
    set(GUEST_TR_SELECTOR, vmreadz(HOST_TR_SELECTOR));
    set(GUEST_INTR_STATUS, 0);
    set(GUEST_PML_INDEX, 0);

    set(VMCS_LINK_POINTER, u64::MAX);
    set(GUEST_IA32_DEBUGCTL, 0);
    set(GUEST_IA32_PAT, vmreadz(HOST_IA32_PAT));
    set(GUEST_IA32_EFER, vmreadz(HOST_IA32_EFER));
    set(GUEST_IA32_PERF_GLOBAL_CTRL, vmreadz(HOST_IA32_PERF_GLOBAL_CTRL));

    for limit in [GUEST_ES_LIMIT, GUEST_CS_LIMIT, GUEST_SS_LIMIT, GUEST_DS_LIMIT, GUEST_FS_LIMIT, GUEST_GS_LIMIT] {
        set(limit, u64::MAX);
    }
    set(GUEST_LDTR_LIMIT, u64::MAX);
    set(GUEST_TR_LIMIT, 0x67);
    set(GUEST_GDTR_LIMIT, 0xffff);
    set(GUEST_IDTR_LIMIT, 0xffff);
    // Access rights (SDM 25.4.1): 0x10000 is "unusable"; 0xc093 a present
    // read/write data segment, 4 KiB granular, 32-bit; 0xa09b a present
    // 64-bit code segment; 0x8b a busy 64-bit TSS.
    let data_ar = |selector: u32| if vmreadz(selector) == 0 { 0x10000 } else { 0xc093 };
    set(GUEST_ES_AR_BYTES, data_ar(GUEST_ES_SELECTOR));
    set(GUEST_CS_AR_BYTES, 0xa09b);
    set(GUEST_SS_AR_BYTES, 0xc093);
    set(GUEST_DS_AR_BYTES, data_ar(GUEST_DS_SELECTOR));
    set(GUEST_FS_AR_BYTES, data_ar(GUEST_FS_SELECTOR));
    set(GUEST_GS_AR_BYTES, data_ar(GUEST_GS_SELECTOR));
    set(GUEST_LDTR_AR_BYTES, 0x10000);
    set(GUEST_TR_AR_BYTES, 0x8b);
    set(GUEST_INTERRUPTIBILITY_INFO, 0);
    set(GUEST_ACTIVITY_STATE, 0);
    set(GUEST_SYSENTER_CS, vmreadz(HOST_IA32_SYSENTER_CS));
    set(VMX_PREEMPTION_TIMER_VALUE, 0);

    set(GUEST_CR0, vmreadz(HOST_CR0));
    set(GUEST_CR3, vmreadz(HOST_CR3));
    set(GUEST_CR4, vmreadz(HOST_CR4));
    for base in [GUEST_ES_BASE, GUEST_CS_BASE, GUEST_SS_BASE, GUEST_DS_BASE] {
        set(base, 0);
    }
    set(GUEST_FS_BASE, vmreadz(HOST_FS_BASE));
    set(GUEST_GS_BASE, vmreadz(HOST_GS_BASE));
    set(GUEST_LDTR_BASE, 0);
    set(GUEST_TR_BASE, vmreadz(HOST_TR_BASE));
    set(GUEST_GDTR_BASE, vmreadz(HOST_GDTR_BASE));
    set(GUEST_IDTR_BASE, vmreadz(HOST_IDTR_BASE));
    set(GUEST_DR7, 0x400);
    set(GUEST_RSP, rsp);
    set(GUEST_RIP, rip);
    set(GUEST_RFLAGS, 2);
    set(GUEST_PENDING_DBG_EXCEPTIONS, 0);
    set(GUEST_SYSENTER_ESP, vmreadz(HOST_IA32_SYSENTER_ESP));
    set(GUEST_SYSENTER_EIP, vmreadz(HOST_IA32_SYSENTER_EIP));
}

/// prepare_vmcs(): controls, host state and L2's state at `guest_rip` on `guest_rsp`.
pub fn prepare_vmcs(pages: &VmxPages, guest_rip: u64, guest_rsp: u64) {
    init_vmcs_control_fields(pages);
    init_vmcs_host_state();
    init_vmcs_guest_state(guest_rip, guest_rsp);
}
