//! The baseline: the smallest VM that runs the same guest code, set up
//! directly with kvm-ioctls and driven by a bare `ioctl(KVM_RUN)` whose exit
//! is read from the mmap'ed `kvm_run`. No kvmtest code is on its path, and it
//! reads guest memory through a raw pointer on purpose (the house rule of
//! going through vm-memory is what the harness pays for; this is the floor).
//!
//! ```text
//!  0x1000  PML4 -> 0x2000 PDPT -> 0x3000 PD: 0..1 GiB in 2 MiB pages,
//!          but the first 2 MiB in 4 KiB pages through the PT at 0x4000
//!  0x5000  boot info (what an ELF payload finds at GS base)
//!  0x6000  message buffer
//!  0x7000  doorbell routine (ELF payloads call it)
//!  0x10_0000  top of the stack
//!  0x20_0000  guest code / ELF payload
//!  mem_size   MMIO doorbells (no memslot), below 1 GiB
//! ```

use std::os::fd::AsRawFd;

use kvm_bindings::{kvm_run, kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use kvmtest_abi::boot_offsets;

pub const PML4: u64 = 0x1000;
pub const PDPT: u64 = 0x2000;
pub const PD: u64 = 0x3000;
pub const PT_LOW: u64 = 0x4000;
pub const BOOT_INFO: u64 = 0x5000;
pub const MSG: u64 = 0x6000;
pub const DOORBELL: u64 = 0x7000;
pub const STACK_TOP: u64 = 0x10_0000;
pub const CODE: u64 = 0x20_0000;
/// The port the raw PIO loops write to (the same as the harness's).
pub const PIO_PORT: u16 = 0x1000;

const PTE_PRESENT_RW: u64 = 0x3;
const PTE_HUGE: u64 = 0x80;
const MIB2: u64 = 2 << 20;
const KVM_RUN: libc::Ioctl = 0xae80;
const PT_LOAD: u32 = 1;

/// The exits a raw loop waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawExit {
    Io,
    Mmio,
    Hlt,
}

impl RawExit {
    fn reason(self) -> u32 {
        match self {
            RawExit::Io => kvm_bindings::KVM_EXIT_IO,
            RawExit::Mmio => kvm_bindings::KVM_EXIT_MMIO,
            RawExit::Hlt => kvm_bindings::KVM_EXIT_HLT,
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

/// A one-vCPU x86_64 long-mode VM with identity-mapped memory.
pub struct RawVm {
    // Drop order: vCPU, VM, then the memory KVM maps.
    vcpu: VcpuFd,
    _vm: VmFd,
    _kvm: Kvm,
    mem: Mapping,
    run: *mut kvm_run,
}

pub type Result<T> = std::result::Result<T, String>;

fn kvm_err(op: &'static str) -> impl Fn(kvm_ioctls::Error) -> String {
    move |e| format!("{op}: {e}")
}

impl RawVm {
    /// Opens /dev/kvm, creates the VM, `mem_size` bytes of lazily mapped
    /// memory, the page tables, one vCPU in long mode at `CODE`.
    pub fn new(mem_size: usize) -> Result<RawVm> {
        let kvm = Kvm::new().map_err(kvm_err("open /dev/kvm"))?;
        let vm = kvm.create_vm().map_err(kvm_err("KVM_CREATE_VM"))?;
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
            _kvm: kvm,
            mem,
            run: std::ptr::null_mut(),
        };
        raw.run = raw.vcpu.get_kvm_run();

        raw.write_u64(PML4, PDPT | PTE_PRESENT_RW);
        raw.write_u64(PDPT, PD | PTE_PRESENT_RW);
        for i in 1..512 {
            raw.write_u64(PD + 8 * i, (i * MIB2) | PTE_PRESENT_RW | PTE_HUGE);
        }
        // The low 2 MiB in 4 KiB pages, as the harness maps them (its null
        // page and stack guards need them): the guest's page walks, which an
        // emulating backend does per instruction, are then the same depth.
        raw.write_u64(PD, PT_LOW | PTE_PRESENT_RW);
        for i in 0..512 {
            raw.write_u64(PT_LOW + 8 * i, (i * 4096) | PTE_PRESENT_RW);
        }
        raw.write_u64(BOOT_INFO + boot_offsets::UCALL_BUF as u64, MSG);
        raw.write_u64(BOOT_INFO + boot_offsets::UCALL_FN as u64, DOORBELL);
        raw.set_long_mode()?;
        Ok(raw)
    }

    fn set_long_mode(&self) -> Result<()> {
        let mut sregs = self.vcpu.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
        let seg = |selector: u16, type_: u8, base: u64, long: bool| kvm_segment {
            base,
            limit: 0xffff_ffff,
            selector,
            type_,
            present: 1,
            db: u8::from(!long),
            s: 1,
            l: u8::from(long),
            g: 1,
            ..Default::default()
        };
        sregs.cr0 = 0x8001_0033; // PG | WP | NE | ET | MP | PE
        sregs.cr3 = PML4;
        sregs.cr4 = 1 << 5; // PAE
        sregs.efer = (1 << 8) | (1 << 10); // LME | LMA
        sregs.cs = seg(0x8, 0xb, 0, true);
        let data = seg(0x10, 0x3, 0, false);
        (sregs.ds, sregs.es, sregs.ss, sregs.fs) = (data, data, data, data);
        sregs.gs = seg(0x10, 0x3, BOOT_INFO, false);
        sregs.tr = kvm_segment { base: 0, limit: 0x67, selector: 0x18, type_: 0xb, present: 1, ..Default::default() };
        self.vcpu.set_sregs(&sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
        let mut regs = self.vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
        regs.rflags = 0x2;
        regs.rip = CODE;
        regs.rsp = STACK_TOP - 8;
        regs.rdi = BOOT_INFO;
        self.vcpu.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))
    }

    fn host(&self, gpa: u64, len: usize) -> *mut u8 {
        assert!(gpa as usize + len <= self.mem.len, "guest address {gpa:#x} out of range");
        // SAFETY: in bounds of the mapping, checked above.
        unsafe { self.mem.ptr.add(gpa as usize) }
    }

    pub fn write(&self, gpa: u64, bytes: &[u8]) {
        // SAFETY: `host` checked the range; the guest is not running.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.host(gpa, bytes.len()), bytes.len()) };
    }

    pub fn write_u64(&self, gpa: u64, v: u64) {
        self.write(gpa, &v.to_le_bytes());
    }

    pub fn read_u64(&self, gpa: u64) -> u64 {
        // SAFETY: `host` checked the range; the vCPU is stopped in this thread.
        unsafe { self.host(gpa, 8).cast::<u64>().read_unaligned() }
    }

    /// Sets boot argument `i` as the harness does (`boot_arg(i)` in the guest).
    pub fn set_arg(&self, i: usize, v: u64) {
        self.write_u64(BOOT_INFO + (boot_offsets::ARGS + 8 * i) as u64, v);
    }

    /// Loads an ELF64's PT_LOAD segments at their addresses and points RIP at
    /// its entry. Minimal on purpose: the bench's own trusted payloads only.
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
        let mut regs = self.vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
        regs.rip = entry;
        self.vcpu.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))
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

    /// The data of a KVM_EXIT_MMIO: (address, len, value as u64).
    pub fn mmio(&self) -> (u64, u32, u64) {
        // SAFETY: exit_reason is KVM_EXIT_MMIO, so `mmio` is the active member.
        let m = unsafe { (*self.run).__bindgen_anon_1.mmio };
        (m.phys_addr, m.len, u64::from_le_bytes(m.data))
    }
}
