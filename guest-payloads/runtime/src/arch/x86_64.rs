//! x86_64: the boot info is at GS base; the doorbell is `call gs:[0]`.

use core::arch::asm;

use kvmtest_abi::{boot_offsets, UcallMsg};

/// Reads a field of this vCPU's boot info.
#[inline(always)]
pub fn boot_field(offset: usize) -> u64 {
    let v: u64;
    // SAFETY: GS base is this vCPU's boot info, set up by the harness; the
    // offset is one of `boot_offsets` inside the 128-byte record.
    unsafe {
        asm!("mov {v}, gs:[{off}]", v = out(reg) v, off = in(reg) offset, options(nostack, readonly, preserves_flags))
    };
    v
}

/// Writes a field of this vCPU's boot info.
#[inline(always)]
pub fn set_boot_field(offset: usize, value: u64) {
    // SAFETY: as in `boot_field`; the record is this vCPU's own.
    unsafe { asm!("mov gs:[{off}], {v}", v = in(reg) value, off = in(reg) offset, options(nostack, preserves_flags)) };
}

/// Rings the VM's ucall doorbell for the message at `msg`.
#[inline(always)]
pub fn doorbell(msg: *mut UcallMsg) {
    // SAFETY: the harness put a routine at gs:[UCALL_FN] that takes the
    // message address in rdi and follows the C ABI.
    unsafe { asm!("call qword ptr gs:[{off}]", off = const boot_offsets::UCALL_FN, in("rdi") msg, clobber_abi("C")) };
}

/// Stops the CPU in a loop the host can only end (used after a final ucall).
pub fn halt_forever() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A KVM hypercall with VMCALL (Intel's instruction): nr in rax, args in
/// rbx, rcx, rdx, rsi; the result comes back in rax.
#[inline(always)]
pub fn vmcall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    let ret: u64;
    // SAFETY: VMCALL exits to the hypervisor; rbx is reserved by LLVM, so it is
    // swapped in and out around the instruction.
    unsafe {
        asm!("xchg rbx, {a0}", "vmcall", "xchg rbx, {a0}",
             a0 = inout(reg) a0 => _, inlateout("rax") nr => ret,
             in("rcx") a1, in("rdx") a2, in("rsi") a3, options(nostack))
    };
    ret
}

/// A KVM hypercall with VMMCALL (AMD's instruction).
#[inline(always)]
pub fn vmmcall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    let ret: u64;
    // SAFETY: as in `vmcall`.
    unsafe {
        asm!("xchg rbx, {a0}", "vmmcall", "xchg rbx, {a0}",
             a0 = inout(reg) a0 => _, inlateout("rax") nr => ret,
             in("rcx") a1, in("rdx") a2, in("rsi") a3, options(nostack))
    };
    ret
}

/// CPUID leaf/subleaf as (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// True on an AMD (or Hygon) CPU, whose native hypercall is VMMCALL.
pub fn is_amd() -> bool {
    let (_, b, c, d) = cpuid(0, 0);
    matches!((b, d, c), (0x6874_7541, 0x6974_6e65, 0x444d_4163) | (0x6f67_7948, 0x6e65_476e, 0x656e_6975))
}

/// A KVM hypercall with the CPU's native instruction.
pub fn kvm_hypercall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    if is_amd() {
        vmmcall(nr, a0, a1, a2, a3)
    } else {
        vmcall(nr, a0, a1, a2, a3)
    }
}

/// RDMSR that returns the exception vector instead of dying (the selftests' rdmsr_safe).
pub fn rdmsr_safe(msr: u32) -> Result<u64, u8> {
    let (lo, hi): (u32, u32);
    // SAFETY: the fixup makes the harness's exception handler resume at `2:`
    // if RDMSR faults; the handler clears the fixup when it uses it.
    unsafe {
        asm!("lea {t}, [rip + 2f]", "mov gs:[{fix}], {t}", "rdmsr", "2:",
             t = out(reg) _, fix = const boot_offsets::EXC_FIXUP,
             in("ecx") msr, out("eax") lo, out("edx") hi, options(nostack))
    };
    fault_or(((hi as u64) << 32) | lo as u64)
}

/// WRMSR that returns the exception vector instead of dying.
pub fn wrmsr_safe(msr: u32, value: u64) -> Result<(), u8> {
    // SAFETY: as in `rdmsr_safe`.
    unsafe {
        asm!("lea {t}, [rip + 2f]", "mov gs:[{fix}], {t}", "wrmsr", "2:",
             t = out(reg) _, fix = const boot_offsets::EXC_FIXUP,
             in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack))
    };
    fault_or(())
}

/// After a guarded instruction: a fixup still set means no exception came.
fn fault_or<T>(ok: T) -> Result<T, u8> {
    if boot_field(boot_offsets::EXC_FIXUP) != 0 {
        set_boot_field(boot_offsets::EXC_FIXUP, 0);
        Ok(ok)
    } else {
        Err(boot_field(boot_offsets::EXC_VECTOR) as u8)
    }
}

/// Reads CR2 (the last page-fault address).
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 at CPL0 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nostack, nomem, preserves_flags)) };
    v
}

/// The vector [`probe_undefined_register`] should fail with: #GP.
pub const PROBE_FAULT_VECTOR: u8 = 13;

/// Reads an MSR no CPU has, through the fixup: the framework's probe test.
pub fn probe_undefined_register() -> Result<u64, u8> {
    rdmsr_safe(0xdead_beef)
}

core::arch::global_asm!(
    ".pushsection .text.kvmtest_undefined, \"ax\"",
    ".global kvmtest_undefined_instruction",
    "kvmtest_undefined_instruction:",
    "ud2",
    ".popsection",
);

extern "C" {
    fn kvmtest_undefined_instruction() -> !;
}

/// Address of the undefined instruction [`undefined_instruction`] executes.
pub fn undefined_instruction_addr() -> u64 {
    kvmtest_undefined_instruction as *const () as usize as u64
}

/// Executes an undefined instruction (`ud2`, #UD) at [`undefined_instruction_addr`].
pub fn undefined_instruction() -> ! {
    // SAFETY: deliberately executes UD2; the harness reports the #UD.
    unsafe { kvmtest_undefined_instruction() }
}
