//! The baseline: the smallest VM that runs the same guest code, set up
//! directly with kvm-ioctls and driven by a bare `ioctl(KVM_RUN)` whose exit
//! is read from the mmap'ed `kvm_run`. No kvmtest code is on its path, and it
//! reads guest memory through a raw pointer on purpose (the house rule of
//! going through vm-memory is what the harness pays for; this is the floor).
//!
//! This file is the arch-neutral part (memory, the run loop, the exit data);
//! what a guest of each arch needs to boot (page tables, registers, the
//! doorbell and its exit) is behind [`RawArch`], in `x86_64.rs` and
//! `aarch64.rs`. Both put RAM at guest address 0 and the MMIO doorbells at
//! the end of RAM, as the harness does: ucall, then the shared-memory
//! doorbell one page above.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub use self::aarch64::Aarch64 as Host;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::X86_64 as Host;

use std::os::fd::AsRawFd;

use kvm_bindings::{kvm_run, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use kvmtest::TransportKind;
use kvmtest_abi::boot_offsets;

const KVM_RUN: libc::Ioctl = 0xae80;
const PT_LOAD: u32 = 1;

/// A raw loop's result: its errors are messages.
pub type Result<T> = std::result::Result<T, String>;

pub(crate) fn kvm_err(op: &'static str) -> impl Fn(kvm_ioctls::Error) -> String {
    move |e| format!("{op}: {e}")
}

/// What one arch needs for a raw VM to run the harness's guest bytes.
pub trait RawArch {
    /// Where the guest finds its boot info (what an ELF payload reads at GS
    /// base / TPIDR_EL1).
    const BOOT_INFO: u64;
    /// The message buffer the boot info points at.
    const MSG: u64;
    /// The doorbell routine the boot info points at.
    const DOORBELL: u64;
    /// Where run-time assembled guest code goes (the harness's payload base).
    const CODE: u64;
    /// The transport of the Rust-guest row and of the cold starts (a doorbell
    /// every kernel has).
    const ELF_TRANSPORT: TransportKind;

    /// VM-wide set-up the transport needs before any vCPU exists.
    fn init_vm(vm: &VmFd, t: TransportKind) -> Result<()>;
    /// Page tables and anything else in guest memory, before the vCPU runs.
    fn init_memory(raw: &RawVm);
    /// The vCPU's registers: translation on, entry at `CODE`.
    fn init_vcpu(kvm: &Kvm, vm: &VmFd, vcpu: &VcpuFd) -> Result<()>;
    /// Points the vCPU at `pc`.
    fn set_pc(vcpu: &VcpuFd, pc: u64) -> Result<()>;
    /// The doorbell routine for `t`: the same instructions as the harness's.
    fn doorbell(t: TransportKind, mem_size: u64) -> Vec<u8>;
    /// The floor: the transport's exit instruction and a branch back, at `CODE`.
    fn floor_loop(t: TransportKind, mem_size: u64) -> Vec<u8>;
    /// The exit `t`'s doorbell makes.
    fn exit(t: TransportKind) -> RawExit;
    /// Checks the exit is `t`'s doorbell with our message (address, size,
    /// data or function ID), not just an exit of the right reason.
    fn check_exit(vm: &RawVm, t: TransportKind) -> Result<()>;
}

/// The exits a raw loop waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawExit {
    /// KVM_EXIT_IO.
    Io,
    /// KVM_EXIT_MMIO.
    Mmio,
    /// KVM_EXIT_HLT.
    Hlt,
    /// KVM_EXIT_HYPERCALL.
    Hypercall,
    /// KVM_EXIT_SYSTEM_EVENT.
    SystemEvent,
}

impl RawExit {
    fn reason(self) -> u32 {
        match self {
            RawExit::Io => kvm_bindings::KVM_EXIT_IO,
            RawExit::Mmio => kvm_bindings::KVM_EXIT_MMIO,
            RawExit::Hlt => kvm_bindings::KVM_EXIT_HLT,
            RawExit::Hypercall => kvm_bindings::KVM_EXIT_HYPERCALL,
            RawExit::SystemEvent => kvm_bindings::KVM_EXIT_SYSTEM_EVENT,
        }
    }
}

/// Anonymous memory, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are the mapping this struct created and owns.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A one-vCPU VM with identity-mapped memory, running at `CODE`.
pub struct RawVm {
    // Drop order: vCPU, VM, then the memory KVM maps.
    vcpu: VcpuFd,
    _vm: VmFd,
    kvm: Kvm,
    mem: Mapping,
    run: *mut kvm_run,
}

impl RawVm {
    /// Opens /dev/kvm, creates the VM (set up for transport `t`), `mem_size`
    /// bytes of lazily mapped memory, the page tables, the boot info, `t`'s
    /// doorbell, and one vCPU at `CODE` with translation on.
    pub fn new(mem_size: usize, t: TransportKind) -> Result<RawVm> {
        let kvm = Kvm::new().map_err(kvm_err("open /dev/kvm"))?;
        // Type 0, KVM's default machine: on arm64 a 40-bit IPA, what the C
        // selftests create (VM_MODE_P40V48_4K). kvm-ioctls' create_vm() asks for
        // the host's largest IPA instead (52 bits under qemu's -cpu max), whose
        // stage-2 teardown took Linux 7.3 25-30 s per VM under TCG (7-20 ms at 40).
        let vm = kvm.create_vm_with_type(0).map_err(kvm_err("KVM_CREATE_VM"))?;
        Host::init_vm(&vm, t)?;
        // SAFETY: a fresh anonymous private mapping; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mem_size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap of {mem_size} bytes: {}", std::io::Error::last_os_error()));
        }
        let mem = Mapping { ptr: ptr.cast(), len: mem_size };
        // 4 KiB pages behind guest RAM, as the harness asks (vm.rs,
        // `no_huge_pages`): the same backing on both sides, so the rows
        // compare host code, not the host's page size (under THP `always`
        // a 2 MiB backing costs 2 MiB of zeroing per first touch and
        // shortens the nested page walk of every exit).
        // SAFETY: advice on the mapping just created, of exactly `mem_size` bytes.
        let rc = unsafe { libc::madvise(ptr, mem_size, libc::MADV_NOHUGEPAGE) };
        let err = std::io::Error::last_os_error();
        if rc != 0 && err.raw_os_error() != Some(libc::EINVAL) {
            return Err(format!("madvise(MADV_NOHUGEPAGE) of {mem_size} bytes: {err}"));
        }
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: mem_size as u64,
            userspace_addr: ptr as u64,
        };
        // SAFETY: the mapping outlives the VM fd (field order of RawVm).
        unsafe { vm.set_user_memory_region(region) }.map_err(kvm_err("KVM_SET_USER_MEMORY_REGION"))?;
        let mut raw = RawVm {
            vcpu: vm.create_vcpu(0).map_err(kvm_err("KVM_CREATE_VCPU"))?,
            _vm: vm,
            kvm,
            mem,
            run: std::ptr::null_mut(),
        };
        raw.run = raw.vcpu.get_kvm_run();
        Host::init_memory(&raw);
        raw.write_u64(Host::BOOT_INFO + boot_offsets::UCALL_BUF as u64, Host::MSG);
        raw.write_u64(Host::BOOT_INFO + boot_offsets::UCALL_FN as u64, Host::DOORBELL);
        raw.write(Host::DOORBELL, &Host::doorbell(t, mem_size as u64));
        Host::init_vcpu(&raw.kvm, &raw._vm, &raw.vcpu)?;
        Ok(raw)
    }

    /// Bytes of guest RAM (the MMIO doorbells sit right above).
    pub fn mem_size(&self) -> u64 {
        self.mem.len as u64
    }

    fn host(&self, gpa: u64, len: usize) -> *mut u8 {
        assert!(gpa as usize + len <= self.mem.len, "guest address {gpa:#x} out of range");
        // SAFETY: in bounds of the mapping, checked above.
        unsafe { self.mem.ptr.add(gpa as usize) }
    }

    /// Copies `bytes` to guest address `gpa`; panics if out of range.
    pub fn write(&self, gpa: u64, bytes: &[u8]) {
        // SAFETY: `host` checked the range; the guest is not running.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.host(gpa, bytes.len()), bytes.len()) };
    }

    /// Writes `v` little-endian at `gpa`; panics if out of range.
    pub fn write_u64(&self, gpa: u64, v: u64) {
        self.write(gpa, &v.to_le_bytes());
    }

    /// Reads a little-endian u64 at `gpa`; panics if out of range.
    pub fn read_u64(&self, gpa: u64) -> u64 {
        // SAFETY: `host` checked the range; the vCPU is stopped in this thread.
        unsafe { self.host(gpa, 8).cast::<u64>().read_unaligned() }
    }

    /// Sets boot argument `i` as the harness does (`boot_arg(i)` in the guest).
    pub fn set_arg(&self, i: usize, v: u64) {
        self.write_u64(Host::BOOT_INFO + (boot_offsets::ARGS + 8 * i) as u64, v);
    }

    /// Loads an ELF64's PT_LOAD segments at their addresses and points the
    /// vCPU at its entry. Minimal on purpose: the bench's own trusted payloads only.
    pub fn load_elf(&self, elf: &[u8]) -> Result<()> {
        let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
        let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap_or_default());
        let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap_or_default());
        if elf.len() < 64 || &elf[..4] != b"\x7fELF" {
            return Err("not an ELF file".into());
        }
        let (entry, phoff, phentsize, phnum) = (u64_at(24), u64_at(32) as usize, u16_at(54), u16_at(56));
        for i in 0..phnum {
            let p = phoff + i * phentsize;
            if u32_at(p) != PT_LOAD {
                continue;
            }
            let (off, vaddr, filesz) = (u64_at(p + 8) as usize, u64_at(p + 16), u64_at(p + 32) as usize);
            self.write(vaddr, &elf[off..off + filesz]);
        }
        Host::set_pc(&self.vcpu, entry)
    }

    /// One KVM_RUN; returns the exit reason.
    #[inline]
    pub fn run_once(&mut self) -> Result<u32> {
        // SAFETY: KVM_RUN on our vCPU fd takes no argument.
        let rc = unsafe { libc::ioctl(self.vcpu.as_raw_fd(), KVM_RUN, 0) };
        if rc < 0 {
            return Err(format!("KVM_RUN: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: `run` is the vCPU's kvm_run mapping, alive as long as `vcpu`.
        Ok(unsafe { (*self.run).exit_reason })
    }

    /// Runs until `n` exits of kind `want`, failing on any other exit.
    /// After each exit `check(self, i)` validates what the guest sent.
    #[inline]
    pub fn run_exits(
        &mut self,
        want: RawExit,
        n: u64,
        mut check: impl FnMut(&RawVm, u64) -> Result<()>,
    ) -> Result<u64> {
        let reason = want.reason();
        for i in 0..n {
            let got = self.run_once()?;
            if got != reason {
                return Err(format!("raw loop: exit {i}: reason {got}, expected {reason}"));
            }
            check(self, i)?;
        }
        Ok(n)
    }

    /// The data of a KVM_EXIT_IO out: (port, size, value as u32).
    pub fn io_out(&self) -> (u16, u8, u32) {
        // SAFETY: exit_reason is KVM_EXIT_IO, so `io` is the active member;
        // data_offset points into the kvm_run mapping (one page, at least).
        unsafe {
            let io = (*self.run).__bindgen_anon_1.io;
            let data = self.run.cast::<u8>().add(io.data_offset as usize).cast::<u32>().read_unaligned();
            (io.port, io.size, data)
        }
    }

    /// The data of a KVM_EXIT_MMIO: (address, len, value as u64, is_write).
    pub fn mmio(&self) -> (u64, u32, u64, bool) {
        // SAFETY: exit_reason is KVM_EXIT_MMIO, so `mmio` is the active member.
        let m = unsafe { (*self.run).__bindgen_anon_1.mmio };
        (m.phys_addr, m.len, u64::from_le_bytes(m.data), m.is_write != 0)
    }

    /// The data of a KVM_EXIT_HYPERCALL: (function ID, flags).
    pub fn hypercall(&self) -> (u64, u64) {
        // SAFETY: exit_reason is KVM_EXIT_HYPERCALL, so `hypercall` is the
        // active member; `flags` is the whole 64-bit union.
        unsafe {
            let h = (*self.run).__bindgen_anon_1.hypercall;
            (h.nr, h.__bindgen_anon_1.flags)
        }
    }

    /// The type of a KVM_EXIT_SYSTEM_EVENT.
    pub fn system_event(&self) -> u32 {
        // SAFETY: exit_reason is KVM_EXIT_SYSTEM_EVENT, so `system_event` is the active member.
        unsafe { (*self.run).__bindgen_anon_1.system_event.type_ }
    }
}
