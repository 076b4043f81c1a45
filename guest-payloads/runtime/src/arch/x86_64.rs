//! x86_64: the boot info is at GS base; the doorbell is `call gs:[0]`.

use core::arch::{asm, global_asm};

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

/// This vCPU's message buffer (`VcpuBootInfo::ucall_buf`), in one load.
#[inline(always)]
pub fn ucall_buffer() -> *mut UcallMsg {
    let v: *mut UcallMsg;
    // SAFETY: as in `boot_field`, with the offset as an immediate.
    unsafe {
        asm!("mov {v}, qword ptr gs:[{off}]", v = out(reg) v, off = const boot_offsets::UCALL_BUF,
             options(nostack, readonly, preserves_flags))
    };
    v
}

/// Rings the VM's ucall doorbell for the message at `msg`.
#[inline(always)]
pub fn doorbell(msg: *mut UcallMsg) {
    // SAFETY: the harness put a routine at gs:[UCALL_FN] that takes the
    // message address in rax and clobbers no more than the C ABI allows.
    unsafe { asm!("call qword ptr gs:[{off}]", off = const boot_offsets::UCALL_FN, in("rax") msg, clobber_abi("C")) };
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

/// RDTSC: the guest's time-stamp counter (the selftests' rdtsc()).
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC only reads the time-stamp counter into edx:eax.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
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

/// The two hypercall instructions: Intel's VMCALL and AMD's VMMCALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HypercallInsn {
    Vmcall,
    Vmmcall,
}

impl HypercallInsn {
    /// The CPU's own instruction.
    pub fn native() -> Self {
        if is_amd() {
            HypercallInsn::Vmmcall
        } else {
            HypercallInsn::Vmcall
        }
    }
    /// The other vendor's instruction (what KVM's FIX_HYPERCALL_INSN quirk patches).
    pub fn foreign() -> Self {
        match Self::native() {
            HypercallInsn::Vmcall => HypercallInsn::Vmmcall,
            HypercallInsn::Vmmcall => HypercallInsn::Vmcall,
        }
    }
}

/// What a guarded hypercall did: where its instruction is, and RAX or the
/// vector of the exception (#UD) it raised instead.
#[derive(Debug, Clone, Copy)]
pub struct GuardedHypercall {
    /// Guest address of the 3-byte hypercall instruction that ran.
    pub insn_addr: u64,
    pub result: Result<u64, u8>,
}

/// A KVM hypercall (nr in RAX, args in RBX, RCX, RDX, RSI) with `insn`,
/// returning the exception vector instead of dying if the instruction
/// faults (the selftests' KVM_ASM_SAFE around a hypercall, e.g.
/// fix_hypercall_test's #UD handler). `#[inline(never)]` so each
/// instruction has one address, which KVM may patch in place.
#[inline(never)]
pub fn kvm_hypercall_safe(insn: HypercallInsn, nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> GuardedHypercall {
    let (ret, at): (u64, u64);
    match insn {
        // SAFETY: the fixup makes the harness's exception handler resume at
        // `2:` (with RAX restored) if the instruction faults; rbx is swapped
        // in and out around it because LLVM reserves it.
        HypercallInsn::Vmcall => unsafe {
            asm!("lea {t}, [rip + 2f]", "mov gs:[{fix}], {t}", "lea {at}, [rip + 3f]",
                 "xchg rbx, {a0}", "3:", "vmcall", "2:", "xchg rbx, {a0}",
                 t = out(reg) _, at = out(reg) at, fix = const boot_offsets::EXC_FIXUP,
                 a0 = inout(reg) a0 => _, inlateout("rax") nr => ret,
                 in("rcx") a1, in("rdx") a2, in("rsi") a3, options(nostack))
        },
        // SAFETY: as above.
        HypercallInsn::Vmmcall => unsafe {
            asm!("lea {t}, [rip + 2f]", "mov gs:[{fix}], {t}", "lea {at}, [rip + 3f]",
                 "xchg rbx, {a0}", "3:", "vmmcall", "2:", "xchg rbx, {a0}",
                 t = out(reg) _, at = out(reg) at, fix = const boot_offsets::EXC_FIXUP,
                 a0 = inout(reg) a0 => _, inlateout("rax") nr => ret,
                 in("rcx") a1, in("rdx") a2, in("rsi") a3, options(nostack))
        },
    }
    GuardedHypercall { insn_addr: at, result: fault_or(ret) }
}

/// A Hyper-V hypercall with the native instruction (TLFS convention, as the
/// selftests' `__hyperv_hypercall`): control in RCX, input GPA in RDX,
/// output GPA in R8; HV_STATUS in RAX, or the exception vector (#UD for
/// a fast hypercall KVM does not grant, #GP...).
pub fn hyperv_hypercall_safe(control: u64, input: u64, output: u64) -> Result<u64, u8> {
    let status: u64;
    if is_amd() {
        // SAFETY: the fixup resumes at `2:` if VMMCALL faults; KVM's Hyper-V
        // emulation writes RAX and may clobber RCX, RDX, R8 (declared).
        unsafe {
            asm!("lea {t}, [rip + 2f]", "mov gs:[{fix}], {t}", "vmmcall", "2:",
                 t = out(reg) _, fix = const boot_offsets::EXC_FIXUP,
                 inlateout("rax") 0u64 => status, inout("rcx") control => _, inout("rdx") input => _,
                 inout("r8") output => _, options(nostack))
        }
    } else {
        // SAFETY: as above, with VMCALL.
        unsafe {
            asm!("lea {t}, [rip + 2f]", "mov gs:[{fix}], {t}", "vmcall", "2:",
                 t = out(reg) _, fix = const boot_offsets::EXC_FIXUP,
                 inlateout("rax") 0u64 => status, inout("rcx") control => _, inout("rdx") input => _,
                 inout("r8") output => _, options(nostack))
        }
    }
    fault_or(status)
}

/// A Xen hypercall with the native instruction (64-bit Xen ABI): number
/// in RAX, arguments in RDI, RSI, RDX, R10, R8, R9; result in RAX.
pub fn xen_hypercall(nr: u64, p: [u64; 6]) -> u64 {
    xen_hypercall_insn(HypercallInsn::native(), nr, p)
}

/// A Xen hypercall with `insn`: xen_vmcall_test issues a literal VMCALL,
/// which on AMD takes KVM's cross-vendor path (#UD, emulated, patched).
pub fn xen_hypercall_insn(insn: HypercallInsn, nr: u64, p: [u64; 6]) -> u64 {
    let ret: u64;
    if insn == HypercallInsn::Vmmcall {
        // SAFETY: a hypercall exits to the hypervisor, which writes RAX only.
        unsafe {
            asm!("vmmcall", inlateout("rax") nr => ret, in("rdi") p[0], in("rsi") p[1], in("rdx") p[2],
                 in("r10") p[3], in("r8") p[4], in("r9") p[5], options(nostack))
        }
    } else {
        // SAFETY: as above.
        unsafe {
            asm!("vmcall", inlateout("rax") nr => ret, in("rdi") p[0], in("rsi") p[1], in("rdx") p[2],
                 in("r10") p[3], in("r8") p[4], in("r9") p[5], options(nostack))
        }
    }
    ret
}

/// A Hyper-V hypercall through the Hyper-V hypercall page KVM filled in
/// at `page` (a `call` to its first byte; TLFS convention: control in RCX,
/// input GPA in RDX, output GPA in R8, HV_STATUS in RAX).
pub fn hyperv_hypercall_page(page: u64, control: u64, input: u64, output: u64) -> u64 {
    let status: u64;
    // SAFETY: KVM's Hyper-V hypercall page holds `(or eax, 0x80000000;)
    // vmcall/vmmcall; ret`: it returns here with the status in RAX; the
    // registers a hypercall may change are declared clobbered, and `call`
    // only pushes below RSP (no red zone in this target).
    unsafe {
        asm!("call {page}", page = in(reg) page, inlateout("rax") 0u64 => status,
             inout("rcx") control => _, inout("rdx") input => _, inout("r8") output => _,
             clobber_abi("C"))
    }
    status
}

/// A Xen hypercall through the hypercall page KVM filled in: a `call` to
/// the 32-byte stub of `nr` (`mov eax, nr; vmcall/vmmcall; ret`).
pub fn xen_hypercall_page(page: u64, nr: u64, p: [u64; 6]) -> u64 {
    let ret: u64;
    let stub = page + nr * 32;
    // SAFETY: the stub is KVM's `mov eax, imm32; (vm)mcall; ret`: it
    // returns here with the result in RAX and touches nothing else but the
    // return address slot below RSP (no red zone in this target: the kernel
    // code model with SysV stack; `call` pushes below the current RSP).
    unsafe {
        asm!("call {stub}", stub = in(reg) stub, inlateout("rax") nr => ret,
             in("rdi") p[0], in("rsi") p[1], in("rdx") p[2], in("r10") p[3], in("r8") p[4], in("r9") p[5],
             clobber_abi("C"))
    }
    ret
}

/// Whether this arch has port I/O ([`outl`]).
pub const HAS_PIO: bool = true;

/// `outl(port, value)`: a 4-byte OUT.
#[inline(always)]
pub fn outl(port: u16, value: u32) {
    // SAFETY: an OUT exits to the hypervisor (or is coalesced); no memory is touched.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") value, options(nostack, nomem, preserves_flags)) };
}

// The spin loop of `spin_while_eq`, with global labels around it so the
// host can be told where it is (inline asm may not define named labels).
global_asm!(
    ".pushsection .text.kvmtest_spin, \"ax\"",
    ".global kvmtest_spin_while_eq",
    ".global kvmtest_spin_start",
    ".global kvmtest_spin_end",
    "kvmtest_spin_while_eq:",
    "kvmtest_spin_start:",
    "mov rax, qword ptr [rdi]",
    "cmp rax, rsi",
    "je kvmtest_spin_start",
    "kvmtest_spin_end:",
    "ret",
    ".popsection",
);

extern "C" {
    fn kvmtest_spin_while_eq(addr: u64, val: u64) -> u64;
    static kvmtest_spin_start: u8;
    static kvmtest_spin_end: u8;
}

/// Spins while the u64 at `addr` equals `val`, one load and compare per pass
/// (`mov rax, [rdi]`);
/// returns the value that ended the spin. The loop's code is
/// [`spin_loop_range`], for a host that checks where a vCPU stopped.
pub fn spin_while_eq(addr: u64, val: u64) -> u64 {
    // SAFETY: the routine reads one u64 at `addr`, which the caller has mapped
    // (or which exits to the host as MMIO), and follows the C ABI.
    unsafe { kvmtest_spin_while_eq(addr, val) }
}

/// The code addresses `[start, end)` of [`spin_while_eq`]'s loop.
pub fn spin_loop_range() -> (u64, u64) {
    // Only the labels' addresses are taken, never their bytes.
    (core::ptr::addr_of!(kvmtest_spin_start) as u64, core::ptr::addr_of!(kvmtest_spin_end) as u64)
}

/// Loads an empty IDT (`lidt` of limit 0, base 0), so that any exception
/// escalates to a triple fault (KVM_EXIT_SHUTDOWN) instead of reaching the
/// harness's stubs: upstream's guest_code_delete_memory_region does so.
pub fn clobber_exception_table() {
    let idt = [0u64; 2];
    // SAFETY: `idt` is a 10-byte descriptor of limit 0 (only the first 10 bytes are read).
    unsafe { asm!("lidt [{p}]", p = in(reg) idt.as_ptr(), options(nostack, readonly, preserves_flags)) };
}
