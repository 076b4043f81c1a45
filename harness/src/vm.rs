//! A VM: guest memory, the arch's tables and firmware, a payload, vCPUs and
//! the ucall transport, built in one call.
//!
//! ```no_run
//! # use kvmtest::{Vm, Payload, TransportKind};
//! # fn f(elf: &'static [u8]) -> kvmtest::Result<()> {
//! let mut vm = Vm::builder().payload(Payload::elf(elf)).transport(TransportKind::Mmio).build()?;
//! vm.vcpu(0).expect_sync(1)?;
//! vm.vcpu(0).expect_done()?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use kvmtest_abi::{TransportId, VcpuBootInfo, BOOT_ARGS};
use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap};

use crate::arch::{Arch, ArchOptions, HostArch};
use crate::kvm::process_kvm;
use crate::layout::{Layout, RegionKind};
use crate::memslot::{MemslotTable, Memslots};
use crate::payload::Payload;
use crate::ucall::{SharedArena, TransportKind};
use crate::vcpu::{enable_cap_arg, Vcpu, VmShared};
use crate::{Error, Result};

/// Default guest RAM.
pub const DEFAULT_MEM_SIZE: u64 = 64 << 20;
/// Default watchdog timeout; `KVMTEST_TIMEOUT_MS` overrides it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Environment variable overriding [`DEFAULT_TIMEOUT`]: milliseconds, or
/// `off` for no watchdog at all (a debugger session, where a breakpoint
/// would otherwise trip it).
pub const TIMEOUT_ENV: &str = "KVMTEST_TIMEOUT_MS";

/// The watchdog timeout `KVMTEST_TIMEOUT_MS` asks for ([`DEFAULT_TIMEOUT`]
/// when unset); anything but a positive number of milliseconds or `off` is
/// an error, not silently the default.
pub fn timeout_from_env() -> Result<Duration> {
    match std::env::var(TIMEOUT_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_TIMEOUT),
        Err(std::env::VarError::NotUnicode(v)) => parse_timeout(&v.to_string_lossy()),
        Ok(v) => parse_timeout(&v),
    }
}

fn parse_timeout(value: &str) -> Result<Duration> {
    if value == "off" {
        // The watchdog compares elapsed time against this: never reached.
        return Ok(Duration::MAX);
    }
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(Error::Config(format!(
            "{TIMEOUT_ENV}={value:?}: expected the watchdog timeout as a positive number of milliseconds, \
             or `off` to disable the watchdog (e.g. under a debugger)"
        ))),
    }
}

/// Builds a [`Vm`].
pub struct VmBuilder {
    mem_size: u64,
    vcpus: usize,
    transport: TransportKind,
    payload: Option<Payload>,
    irqchip: bool,
    /// `None`: [`DEFAULT_TIMEOUT`], or what `KVMTEST_TIMEOUT_MS` says.
    timeout: Option<Duration>,
    args: [u64; BOOT_ARGS],
    arch_options: ArchOptions,
    /// VM capabilities to enable before the vCPUs exist (KVM_ENABLE_CAP).
    vm_caps: Vec<(u32, Vec<u64>)>,
}

impl Default for VmBuilder {
    fn default() -> Self {
        VmBuilder {
            mem_size: DEFAULT_MEM_SIZE,
            vcpus: 1,
            transport: TransportKind::all()[0],
            payload: None,
            irqchip: false,
            timeout: None,
            args: [0; BOOT_ARGS],
            arch_options: ArchOptions::default(),
            vm_caps: Vec::new(),
        }
    }
}

impl VmBuilder {
    /// Guest RAM in bytes (mapped lazily: untouched pages cost nothing).
    pub fn mem_size(mut self, bytes: u64) -> Self {
        self.mem_size = bytes;
        self
    }
    /// Number of vCPUs.
    pub fn vcpus(mut self, n: usize) -> Self {
        self.vcpus = n;
        self
    }
    /// The ucall transport.
    pub fn transport(mut self, t: TransportKind) -> Self {
        self.transport = t;
        self
    }
    /// The code the vCPUs run.
    pub fn payload(mut self, p: Payload) -> Self {
        self.payload = Some(p);
        self
    }
    /// Creates the in-kernel irqchip (costly at teardown: only when needed).
    pub fn irqchip(mut self, on: bool) -> Self {
        self.irqchip = on;
        self
    }
    /// Watchdog timeout for each `run_until_ucall` (overrides `KVMTEST_TIMEOUT_MS`).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    /// Test-defined boot argument `i`, read by the guest with `boot_arg(i)`.
    pub fn arg(mut self, i: usize, value: u64) -> Self {
        if let Some(a) = self.args.get_mut(i) {
            *a = value;
        }
        self
    }

    /// Arch-specific vCPU choices (see [`crate::arch::Arch::Options`]).
    pub fn arch_options(mut self, options: ArchOptions) -> Self {
        self.arch_options = options;
        self
    }

    /// Enables a VM capability before any vCPU is created, for the ones KVM
    /// refuses once vCPUs exist (e.g. KVM_CAP_X86_DISABLE_EXITS on newer kernels).
    pub fn vm_cap(mut self, cap: u32, args: &[u64]) -> Self {
        self.vm_caps.push((cap, args.to_vec()));
        self
    }

    /// Creates the VM, loads the payload and creates the vCPUs.
    pub fn build(self) -> Result<Vm> {
        let payload = self.payload.as_ref().ok_or_else(|| Error::Config("no payload given".into()))?;
        let timeout = match self.timeout {
            Some(t) => t,
            None => timeout_from_env()?,
        };
        let layout = HostArch::layout(self.mem_size)?;
        if self.vcpus == 0 || self.vcpus > layout.max_vcpus {
            return Err(Error::Config(format!(
                "{} vCPUs: between 1 and {} are possible",
                self.vcpus, layout.max_vcpus
            )));
        }
        let transport = self.transport.instantiate(&layout)?;
        if transport.forbids_irqchip() && self.irqchip {
            return Err(Error::Config(format!(
                "the {} transport needs HLT to exit to userspace, which an in-kernel irqchip prevents",
                self.transport
            )));
        }

        let kvm = process_kvm()?;
        // Type 0, KVM's default machine (on arm64 the selftests' 40-bit IPA).
        let fd = crate::kvm::create_default_vm(kvm)?;
        let mem = create_memory(self.mem_size)?;
        register_memory(&fd, &mem)?;
        let arch = HostArch::init_vm(kvm, &fd, &layout, self.irqchip, transport.doorbell(), &self.arch_options)?;
        for (cap, args) in &self.vm_caps {
            fd.enable_cap(&enable_cap_arg(*cap, args)?).map_err(Error::kvm("KVM_ENABLE_CAP (VM, before vCPUs)"))?;
        }
        let doorbell = HostArch::setup_memory(&mem, &layout, transport.doorbell())?;
        let entry = payload.load(&mem, layout.payload.clone(), HostArch::ELF_MACHINE)?;

        let mut arena = SharedArena::new(&layout);
        let mut buffers = Vec::with_capacity(self.vcpus);
        for id in 0..self.vcpus {
            let buf = transport.message_buffer(&layout, id, &mut arena)?;
            let info = VcpuBootInfo {
                ucall_fn: doorbell,
                ucall_buf: buf,
                vcpu_id: id as u64,
                transport: transport_id(self.transport) as u64,
                args: self.args,
                ..Default::default()
            };
            write_boot_info(&mem, layout.boot_info_of(id), &info)?;
            buffers.push(buf);
        }

        let shared = Arc::new(VmShared {
            mem,
            transport,
            firmware: layout.firmware.clone(),
            firmware_fault_flag: layout.firmware_fault_flag,
        });
        let mut vcpus = Vec::with_capacity(self.vcpus);
        for (id, buf) in buffers.into_iter().enumerate() {
            let vfd = fd.create_vcpu(id as u64).map_err(Error::kvm("KVM_CREATE_VCPU"))?;
            HostArch::setup_vcpu(&arch, &fd, &vfd, &layout, id, entry)?;
            vcpus.push(Vcpu::new(vfd, id, Arc::clone(&shared), buf, timeout));
        }
        HostArch::finish_vm(&arch, &fd)?;
        Ok(Vm {
            vcpus,
            fd,
            shared,
            memslots: MemslotTable::default(),
            layout,
            arena,
            transport: self.transport,
            entry,
            irqchip: self.irqchip,
        })
    }
}

fn transport_id(t: TransportKind) -> TransportId {
    match t {
        TransportKind::Pio => TransportId::Pio,
        TransportKind::Mmio => TransportId::Mmio,
        TransportKind::Halt => TransportId::Halt,
        TransportKind::Shared => TransportId::Shared,
        TransportKind::Hvc => TransportId::Hvc,
    }
}

fn create_memory(size: u64) -> Result<GuestMemoryMmap> {
    let region = MmapRegionBuilder::new(size as usize)
        .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
        .with_mmap_flags(libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE)
        .build()
        .map_err(|e| Error::Memory(format!("mapping {size:#x} bytes: {e}")))?;
    no_huge_pages(region.as_ptr(), region.size())?;
    let region = GuestRegionMmap::new(region, GuestAddress(0))
        .ok_or_else(|| Error::Memory(format!("{size:#x} bytes at guest address 0 overflow the address space")))?;
    GuestMemoryMmap::from_regions(vec![region]).map_err(|e| Error::Memory(e.to_string()))
}

/// Asks for guest RAM in 4 KiB pages (MADV_NOHUGEPAGE). Under transparent
/// huge pages `always` (Debian's default) the first write to each 2 MiB of
/// the mapping would make the kernel allocate and zero all of it: the
/// harness writes its tables in the low 2 MiB and the payload at 2 MiB, so
/// every VM zeroed 4 MiB before its first KVM_RUN (most of a VM's creation
/// in the emulated SVM machine: 17.7 ms with the zeroing, 2.8 ms without).
/// What the guest sees is the same zeroed RAM; only the host's page size
/// behind it differs.
fn no_huge_pages(addr: *mut u8, len: usize) -> Result<()> {
    // SAFETY: advice on a mapping of exactly `len` bytes at `addr` that this
    // module just created; MADV_NOHUGEPAGE changes no content or permission.
    let rc = unsafe { libc::madvise(addr.cast(), len, libc::MADV_NOHUGEPAGE) };
    let err = std::io::Error::last_os_error();
    // EINVAL: a kernel without transparent huge pages, nothing to turn off.
    if rc != 0 && err.raw_os_error() != Some(libc::EINVAL) {
        return Err(Error::Memory(format!("madvise(MADV_NOHUGEPAGE) on guest RAM: {err}")));
    }
    Ok(())
}

fn register_memory(vm: &VmFd, mem: &GuestMemoryMmap) -> Result<()> {
    for (slot, region) in mem.iter().enumerate() {
        let host = region.as_ptr() as u64;
        let r = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host,
        };
        // SAFETY: the region is a live mapping of exactly `memory_size` bytes
        // owned by `mem`, which the VM keeps (in VmShared) until after the VM fd
        // is closed; KVM only accesses it on the guest's behalf.
        unsafe { vm.set_user_memory_region(r) }.map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION"))?;
    }
    Ok(())
}

fn write_boot_info(mem: &GuestMemoryMmap, at: u64, info: &VcpuBootInfo) -> Result<()> {
    let words = [info.ucall_fn, info.ucall_buf, info.vcpu_id, info.exc_fixup, info.exc_vector, info.transport];
    let all = words.iter().chain(info.args.iter()).chain(std::iter::once(&info.exc_handler));
    for (i, w) in all.enumerate() {
        mem.write_obj(*w, GuestAddress(at + 8 * i as u64))
            .map_err(|e| Error::Memory(format!("writing boot info: {e}")))?;
    }
    Ok(())
}

/// A running VM.
pub struct Vm {
    // Field order is drop order: vCPUs go before the VM fd, the VM fd before
    // the memory it maps (held by `shared`).
    vcpus: Vec<Vcpu>,
    fd: VmFd,
    shared: Arc<VmShared>,
    /// Slots a test added; after `fd`, so KVM lets go of them first.
    memslots: MemslotTable,
    layout: Layout,
    arena: SharedArena,
    transport: TransportKind,
    entry: u64,
    irqchip: bool,
}

impl Vm {
    /// Interrupt numbers free for tests to drive with [`Vm::irq_line`] at
    /// vCPU 0 (arm64 PPI 20 and SPI 40, x86_64 vector 0x40).
    pub const TEST_IRQS: &'static [u32] = <HostArch as Arch>::TEST_IRQS;
    /// The interrupt of the guest runtime's one-shot timer (arm64 virtual
    /// timer PPI 27, x86_64 APIC timer vector 0xef).
    pub const GUEST_TIMER_IRQ: u32 = <HostArch as Arch>::GUEST_TIMER_IRQ;

    /// A builder with the defaults: one vCPU, the default transport and memory size.
    pub fn builder() -> VmBuilder {
        VmBuilder::default()
    }

    /// vCPU `id`. Panics if there is no such vCPU (a bug in the test).
    pub fn vcpu(&mut self, id: usize) -> &mut Vcpu {
        let n = self.vcpus.len();
        self.vcpus.get_mut(id).unwrap_or_else(|| panic!("vCPU {id} does not exist: the VM has {n}"))
    }

    /// All vCPUs, e.g. to run each on its own thread.
    pub fn vcpus_mut(&mut self) -> &mut [Vcpu] {
        &mut self.vcpus
    }

    /// The kvm-ioctls VM, for ioctls the harness does not wrap.
    pub fn fd(&self) -> &VmFd {
        &self.fd
    }

    /// The VM's binary stats file (KVM_GET_STATS_FD on the VM fd).
    pub fn stats_fd(&self) -> Result<crate::stats::StatsFd> {
        crate::stats::get_stats_fd(&self.fd, "KVM_GET_STATS_FD (VM)")
    }

    /// The VM's memslots beyond its RAM: add, move, delete, dirty logs.
    pub fn memslots(&self) -> Memslots<'_> {
        Memslots::new(&self.fd, &self.memslots)
    }

    /// The vCPUs, the memslots and guest RAM at once: to run vCPUs on
    /// threads while the host changes slots or reads dirty logs.
    pub fn vcpus_and_memslots(&mut self) -> (&mut [Vcpu], Memslots<'_>, &GuestMemoryMmap) {
        (&mut self.vcpus, Memslots::new(&self.fd, &self.memslots), &self.shared.mem)
    }

    /// Maps `range` of guest-physical addresses (2 MiB-aligned, inside
    /// `layout().spare`) identity in the guest's page tables as `kind`,
    /// before the guest touches it: for a memslot added there, or for
    /// addresses the test wants as MMIO.
    pub fn map_region(&self, range: std::ops::Range<u64>, kind: RegionKind) -> Result<()> {
        HostArch::map_region(&self.shared.mem, &self.layout, range, kind)
    }

    /// Guest memory (bounds-checked access through vm-memory).
    pub fn mem(&self) -> &GuestMemoryMmap {
        &self.shared.mem
    }

    /// The VM's guest memory map.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The ucall transport the VM uses.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// The payload's entry point.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// KVM_ENABLE_CAP on the VM: `vm.enable_cap(KVM_CAP_X, &[mask])?`.
    pub fn enable_cap(&self, cap: u32, args: &[u64]) -> Result<()> {
        self.fd.enable_cap(&enable_cap_arg(cap, args)?).map_err(Error::kvm("KVM_ENABLE_CAP (VM)"))
    }

    /// Drives interrupt `intid` of vCPU `vcpu` from the host (needs
    /// `irqchip(true)`): on arm64 KVM_IRQ_LINE of the vCPU's PPI (`intid` <
    /// 32) or of SPI `intid` at `level`; on x86_64 KVM_SIGNAL_MSI of vector
    /// `intid` to the vCPU's APIC when `level` rises (MSIs are edges). A
    /// guest that must see one interrupt per rise reports from its handler
    /// (a ucall) before the host lowers the line.
    pub fn irq_line(&self, vcpu: usize, intid: u32, level: bool) -> Result<()> {
        if !self.irqchip {
            return Err(Error::Config("Vm::irq_line needs the in-kernel irqchip (irqchip(true))".into()));
        }
        if vcpu >= self.vcpus.len() {
            return Err(Error::Config(format!("Vm::irq_line: no vCPU {vcpu} (the VM has {})", self.vcpus.len())));
        }
        HostArch::irq_line(&self.fd, vcpu, intid, level)
    }

    /// What the guest runtime's `irq::Controller::init` needs to find the
    /// interrupt controller, to pass as three boot arguments (arm64: the
    /// GICv3 frames; x86_64: nothing, the x2APIC is MSRs).
    pub fn irq_controller_args(&self) -> [u64; 3] {
        HostArch::irq_controller_args(&self.layout)
    }

    /// Changes boot argument `i` of every vCPU (e.g. to pass an address
    /// from [`Vm::shared_alloc`]); the guest reads it with `boot_arg(i)`.
    pub fn set_arg(&self, i: usize, value: u64) -> Result<()> {
        if i >= BOOT_ARGS {
            return Err(Error::Config(format!("boot argument {i}: there are {BOOT_ARGS}")));
        }
        for id in 0..self.vcpus.len() {
            let at = self.layout.boot_info_of(id) + (kvmtest_abi::boot_offsets::ARGS + 8 * i) as u64;
            self.shared
                .mem
                .write_obj(value, GuestAddress(at))
                .map_err(|e| Error::Memory(format!("writing boot arg {i}: {e}")))?;
        }
        Ok(())
    }

    /// Copies every page of `source`'s guest RAM that is not all zero into
    /// this VM's (whose RAM starts zeroed), as a migration moves memory; both
    /// VMs must have the same memory size. With the vCPU state
    /// (`x86_64::state`) this is selftests' vm_recreate_with_one_vcpu().
    pub fn copy_memory_from(&self, source: &Vm) -> Result<()> {
        const PAGE: usize = 4096;
        let (from, to) = (&source.shared.mem, &self.shared.mem);
        let size = |m: &GuestMemoryMmap| m.iter().map(|r| r.len()).sum::<u64>();
        if size(from) != size(to) {
            return Err(Error::Config(format!(
                "copying {} bytes of guest RAM into a VM of {} bytes",
                size(from),
                size(to)
            )));
        }
        let mut page = vec![0u8; PAGE];
        for region in from.iter() {
            let start = region.start_addr().0;
            for offset in (0..region.len()).step_by(PAGE) {
                let at = GuestAddress(start + offset);
                let n = PAGE.min((region.len() - offset) as usize);
                from.read_slice(&mut page[..n], at).map_err(|e| Error::Memory(format!("reading {at:?}: {e}")))?;
                if page[..n].iter().any(|&b| b != 0) {
                    to.write_slice(&page[..n], at).map_err(|e| Error::Memory(format!("writing {at:?}: {e}")))?;
                }
            }
        }
        Ok(())
    }

    /// Allocates `size` bytes of guest memory shared with the host
    /// (`ucall_shared_alloc`); returns its guest address.
    pub fn shared_alloc(&mut self, size: u64) -> Result<u64> {
        self.arena.alloc(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VmFlags line of the /proc/self/smaps entry starting at `addr`.
    fn vm_flags_of_mapping_at(addr: u64) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let start = format!("{addr:x}-");
        let entry = smaps.split_inclusive('\n').skip_while(|l| !l.starts_with(&start)).skip(1);
        let flags = entry.take_while(|l| l.contains(':')).find(|l| l.starts_with("VmFlags:"));
        flags.unwrap_or_else(|| panic!("no smaps entry with VmFlags at {addr:#x}")).to_string()
    }

    #[test]
    fn guest_ram_asks_for_4k_pages() {
        let mem = create_memory(8 << 20).unwrap();
        let region = mem.iter().next().unwrap();
        let flags = vm_flags_of_mapping_at(region.as_ptr() as u64);
        // "nh": MADV_NOHUGEPAGE (Documentation/filesystems/proc.rst).
        assert!(flags.split_whitespace().any(|f| f == "nh"), "guest RAM without MADV_NOHUGEPAGE: {flags}");
    }

    #[test]
    fn watchdog_timeout_is_milliseconds_or_off() {
        assert_eq!(parse_timeout("1").unwrap(), Duration::from_millis(1));
        assert_eq!(parse_timeout("2500").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_timeout("off").unwrap(), Duration::MAX);
        for bad in ["", "abc", "-5", "0", "1.5", " 10", "OFF"] {
            let e = parse_timeout(bad).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad:?}: {e:?}");
            assert!(e.to_string().contains("KVMTEST_TIMEOUT_MS"), "{bad:?}: {e}");
        }
    }
}
