//! The smallest proof that a machine's /dev/kvm works: open it, create a VM
//! with one vCPU, run four guest instructions and check the exit they cause.
//! `cargo xtask vm-test --smoke` runs it instead of the suite, which proves
//! the emulated machine before the kvmtest harness supports an arch.
//!
//! The arch-specific guest lives in one function per arch; the rest is shared.

use std::process::ExitCode;

use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

/// Guest physical address of the one page of guest memory.
const GUEST_CODE: u64 = 0x10_0000;
/// What the guest writes to its doorbell.
const MAGIC: u8 = 42;

fn main() -> ExitCode {
    match smoke() {
        Ok(()) => {
            println!("kvm-smoke: ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("kvm-smoke: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn smoke() -> Result<(), String> {
    let kvm = Kvm::new().map_err(|e| format!("opening /dev/kvm: {e}"))?;
    println!("kvm-smoke: /dev/kvm API version {}", kvm.get_api_version());
    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    println!("kvm-smoke: KVM_CREATE_VM ok");
    let mem = guest_memory(&vm, &guest::CODE)?;
    let vcpu = vm.create_vcpu(0).map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;
    guest::setup(&vm, &vcpu)?;
    println!("kvm-smoke: KVM_CREATE_VCPU ok, running the guest");
    let mut vcpu = vcpu;
    let result = guest::run(&mut vcpu);
    // SAFETY: `mem` was mapped by guest_memory with this length and nothing
    // refers to it any more (the VM's memory slot dies with `vm` below).
    unsafe { libc::munmap(mem.cast(), PAGE) };
    result
}

const PAGE: usize = 4096;

/// Maps one page holding `code` at GUEST_CODE.
fn guest_memory(vm: &VmFd, code: &[u8]) -> Result<*mut u8, String> {
    // SAFETY: an anonymous private mapping has no preconditions.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()));
    }
    let mem = mem.cast::<u8>();
    // SAFETY: `mem` is a fresh PAGE-long writable mapping and code is shorter.
    unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), mem, code.len()) };
    let region = kvm_bindings::kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: GUEST_CODE,
        memory_size: PAGE as u64,
        userspace_addr: mem as u64,
    };
    // SAFETY: the region points at a live mapping of memory_size bytes that
    // outlives the VM's use of it (smoke() unmaps it only after the run).
    unsafe { vm.set_user_memory_region(region) }.map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;
    Ok(mem)
}

#[cfg(target_arch = "x86_64")]
mod guest {
    use super::*;

    /// The doorbell port.
    const PORT: u16 = 0x10;
    /// Real mode: `mov al, MAGIC; out PORT, al; hlt`.
    pub const CODE: [u8; 5] = [0xb0, MAGIC, 0xe6, PORT as u8, 0xf4];

    pub fn setup(_vm: &VmFd, vcpu: &VcpuFd) -> Result<(), String> {
        let mut sregs = vcpu.get_sregs().map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        vcpu.set_sregs(&sregs).map_err(|e| format!("KVM_SET_SREGS: {e}"))?;
        let regs = kvm_bindings::kvm_regs { rip: GUEST_CODE, rflags: 2, ..Default::default() };
        vcpu.set_regs(&regs).map_err(|e| format!("KVM_SET_REGS: {e}"))
    }

    pub fn run(vcpu: &mut VcpuFd) -> Result<(), String> {
        match vcpu.run().map_err(|e| format!("KVM_RUN: {e}"))? {
            VcpuExit::IoOut(PORT, [MAGIC]) => {
                println!("kvm-smoke: guest wrote {MAGIC} to port {PORT:#x}")
            }
            other => return Err(format!("expected an OUT of {MAGIC} to port {PORT:#x}, got {other:?}")),
        }
        match vcpu.run().map_err(|e| format!("KVM_RUN: {e}"))? {
            VcpuExit::Hlt => {
                println!("kvm-smoke: guest halted");
                Ok(())
            }
            other => Err(format!("expected HLT, got {other:?}")),
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod guest {
    use super::*;

    /// The doorbell: an address no memory slot covers, so a store exits as MMIO.
    const DOORBELL: u64 = 0x2000_0000;
    /// `mov x0, #MAGIC; movz x1, #0x2000, lsl #16; strb w0, [x1]; b .`
    pub const CODE: [u8; 16] = words([0xd280_0000 | ((MAGIC as u32) << 5), 0xd2a4_0001, 0x3900_0020, 0x1400_0000]);

    const fn words(w: [u32; 4]) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            out[i] = (w[i / 4] >> (8 * (i % 4))) as u8;
            i += 1;
        }
        out
    }

    /// KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | offsetof(kvm_regs, regs.pc) / 4.
    const REG_PC: u64 = 0x6030_0000_0010_0040;

    pub fn setup(vm: &VmFd, vcpu: &VcpuFd) -> Result<(), String> {
        let mut init = kvm_bindings::kvm_vcpu_init::default();
        vm.get_preferred_target(&mut init).map_err(|e| format!("KVM_ARM_PREFERRED_TARGET: {e}"))?;
        vcpu.vcpu_init(&init).map_err(|e| format!("KVM_ARM_VCPU_INIT: {e}"))?;
        vcpu.set_one_reg(REG_PC, &GUEST_CODE.to_le_bytes()).map_err(|e| format!("KVM_SET_ONE_REG(PC): {e}"))?;
        Ok(())
    }

    pub fn run(vcpu: &mut VcpuFd) -> Result<(), String> {
        match vcpu.run().map_err(|e| format!("KVM_RUN: {e}"))? {
            VcpuExit::MmioWrite(DOORBELL, [MAGIC]) => {
                println!("kvm-smoke: guest wrote {MAGIC} to MMIO {DOORBELL:#x}");
                Ok(())
            }
            other => Err(format!("expected an MMIO write of {MAGIC} to {DOORBELL:#x}, got {other:?}")),
        }
    }
}
