//! Everything that differs between x86_64 and aarch64, behind two traits:
//! [`Arch`] (VM and vCPU set-up) and [`AsmArch`] (the instructions of
//! run-time assembled guests). The generic harness (`vm.rs`, `vcpu.rs`,
//! `ucall/`, `asm.rs`) only talks to [`HostArch`]; nothing outside this
//! folder tests `target_arch` but `kvm_api/mod.rs` (which arch's KVM API
//! vocabulary to build) and lib.rs's re-exports of it.

use dynasmrt::relocations::Relocation;
use dynasmrt::{AssemblyOffset, DynamicLabel, VecAssembler};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use kvmtest_abi::UcallCmd;
use vm_memory::GuestMemoryMmap;

use std::ops::Range;

use crate::layout::{Layout, RegionKind};
use crate::regs::RegisterDump;
use crate::transport::{Doorbell, MessageAt, RawUcall, TransportKind};
use crate::Result;

pub(crate) mod exception;

/// The firmware of `doorbell`, assembled once per process: its code depends
/// on nothing else, and every VM of a test binary would otherwise assemble
/// the same hundreds of instructions again (under TCG, a noticeable part of
/// a VM's creation). `cache` is the arch's own (a static per firmware type).
fn cached_firmware<F>(
    cache: &std::sync::Mutex<Vec<(Doorbell, std::sync::Arc<F>)>>,
    doorbell: Doorbell,
    assemble: impl FnOnce(Doorbell) -> Result<F>,
) -> Result<std::sync::Arc<F>> {
    let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, firmware)) = cache.iter().find(|(d, _)| *d == doorbell) {
        return Ok(std::sync::Arc::clone(firmware));
    }
    let firmware = std::sync::Arc::new(assemble(doorbell)?);
    cache.push((doorbell, std::sync::Arc::clone(&firmware)));
    Ok(firmware)
}
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(all(test, target_arch = "x86_64"))]
use self::x86_64::paging as host_paging;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::X86_64 as HostArch;

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(all(test, target_arch = "aarch64"))]
use self::aarch64::paging as host_paging;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::Aarch64 as HostArch;

/// An error writing `what` into guest memory, for `map_err`.
fn mem_err(what: &str) -> impl FnOnce(vm_memory::GuestMemoryError) -> crate::Error + '_ {
    move |e| crate::Error::Memory(format!("writing {what}: {e}"))
}

/// A page-table page as an arch's `paging::build` makes it: its guest
/// address and its 512 entries.
type TablePage = (u64, Box<[u64; 512]>);

/// A page-table page as written to guest memory: its guest address and bytes.
type TableBytes = (u64, Box<[u8; 4096]>);

/// Layouts whose tables [`write_table_pages`] keeps; a test binary uses a few.
const TABLE_CACHE_LAYOUTS: usize = 8;

/// Writes an arch's page-table pages (`build`, the arch's `paging::build`)
/// into guest memory: one 4 KiB write per table page, not one per entry (at
/// 4 GiB that was 2,500 writes, the only start-up step that grew with
/// memory). The pages depend on the layout alone, so they are built once
/// per layout and process and kept as bytes (the last
/// [`TABLE_CACHE_LAYOUTS`] layouts): building them again for every VM
/// (allocating and filling the pages, then serialising them) was a sixth of
/// kvmtest's own part of a VM's creation in the emulated SVM machine.
fn write_table_pages(mem: &GuestMemoryMmap, layout: &Layout, build: fn(&Layout) -> Vec<TablePage>) -> Result<()> {
    use std::sync::{Arc, Mutex, PoisonError};
    use vm_memory::{Bytes, GuestAddress};
    static CACHE: Mutex<Vec<(Layout, Arc<[TableBytes]>)>> = Mutex::new(Vec::new());
    let pages = {
        let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        match cache.iter().find(|(l, _)| l == layout) {
            Some((_, pages)) => Arc::clone(pages),
            None => {
                let pages: Arc<[TableBytes]> = build(layout).into_iter().map(table_bytes).collect();
                if cache.len() == TABLE_CACHE_LAYOUTS {
                    cache.remove(0);
                }
                cache.push((layout.clone(), Arc::clone(&pages)));
                pages
            }
        }
    };
    for (addr, bytes) in pages.iter() {
        mem.write_slice(&bytes[..], GuestAddress(*addr)).map_err(mem_err("page tables"))?;
    }
    Ok(())
}

/// A table page's entries in guest (little-endian) byte order.
fn table_bytes((addr, entries): TablePage) -> TableBytes {
    let mut page = Box::new([0u8; 4096]);
    for (bytes, e) in page.chunks_exact_mut(8).zip(entries.iter()) {
        bytes.copy_from_slice(&e.to_le_bytes());
    }
    (addr, page)
}

/// The checks every arch's page tables must pass, run on `host_paging`.
#[cfg(test)]
mod paging_tests;

/// What the generic harness needs from an architecture.
pub trait Arch {
    /// `x86_64` or `aarch64`.
    const NAME: &'static str;
    /// ELF `e_machine` of this arch's payloads.
    const ELF_MACHINE: u16;
    /// The transports this arch implements, in order of preference.
    const TRANSPORTS: &'static [TransportKind];
    /// What the `halt` transport's doorbell is here: HLT on x86_64, PSCI
    /// SYSTEM_SUSPEND on arm64 (where WFI never leaves the kernel).
    const HALT_DOORBELL: Doorbell;
    /// Per-VM state kept between VM and vCPU set-up (e.g. supported CPUID).
    type VmState: Send + Sync;
    /// What a test may choose about this arch's vCPUs beyond the generic
    /// builder (arm64: PSCI 0.1 instead of 0.2+; x86_64: nothing).
    type Options: Default + Clone + std::fmt::Debug + Send + Sync;
    /// The host's hardware breakpoint/watchpoint registers of
    /// KVM_SET_GUEST_DEBUG (arm64: DBG{B,W}{C,V}Rn; x86_64: DR0-DR7).
    type HwDebugRegs: Default + Clone + std::fmt::Debug + Send + Sync;
    /// A decoded KVM_EXIT_DEBUG (arm64: ESR and FAR; x86_64: vector, RIP, DR6, DR7).
    type DebugExit: Clone + Copy + std::fmt::Debug + PartialEq + Eq;
    /// A feature a bare vCPU may be initialised with (arm64: a
    /// `kvm_vcpu_init.features` bit; x86_64: none, its vCPUs need no init).
    type VcpuFeature: Clone + Copy + std::fmt::Debug + PartialEq + Eq;

    /// The guest memory map for `mem_size` bytes of RAM.
    fn layout(mem_size: u64) -> Result<Layout>;
    /// `struct kvm_guest_debug_arch` of `regs`.
    fn guest_debug_arch(regs: &Self::HwDebugRegs) -> kvm_bindings::kvm_guest_debug_arch;
    /// Decodes `struct kvm_debug_exit_arch`.
    fn debug_exit(raw: &kvm_bindings::kvm_debug_exit_arch) -> Self::DebugExit;
    /// Arch set-up of a fresh VM (before any vCPU exists), including whatever
    /// makes `doorbell` exit to userspace (arm64: SMCCC filter, SYSTEM_SUSPEND).
    fn init_vm(
        kvm: &Kvm,
        vm: &VmFd,
        layout: &Layout,
        irqchip: bool,
        doorbell: Doorbell,
        options: &Self::Options,
    ) -> Result<Self::VmState>;
    /// Writes descriptor/page tables and the firmware; returns the doorbell routine's address.
    fn setup_memory(mem: &GuestMemoryMmap, layout: &Layout, doorbell: Doorbell) -> Result<u64>;
    /// Puts a new vCPU at `entry` with its stack and boot info (first argument register).
    fn setup_vcpu(
        state: &Self::VmState,
        vm: &VmFd,
        vcpu: &VcpuFd,
        layout: &Layout,
        id: usize,
        entry: u64,
    ) -> Result<()>;
    /// Arch work after all vCPUs exist (e.g. arm64 irqchip finalisation).
    fn finish_vm(state: &Self::VmState, vm: &VmFd) -> Result<()>;
    /// Maps `range` (2 MiB-aligned, inside `layout.spare`) identity in the
    /// guest's page tables as `kind`, for a memslot or MMIO a test adds.
    fn map_region(mem: &GuestMemoryMmap, layout: &Layout, range: Range<u64>, kind: RegionKind) -> Result<()>;
    /// Why this arch's KVM gives userspace no exit to check when a vCPU runs
    /// with no memory behind its code (a VM without memslots, or slot 0
    /// deleted under a running guest); `None` where KVM exits (x86:
    /// KVM_EXIT_INTERNAL_ERROR or KVM_EXIT_SHUTDOWN).
    const NO_EXIT_WITHOUT_MEMORY: Option<&'static str>;
    /// KVM_X86_QUIRK_SLOT_ZAP_ALL, the quirk upstream's set_memory_region
    /// test also runs with disabled (KVM_CAP_DISABLE_QUIRKS2); `None` off x86.
    const SLOT_ZAP_ALL_QUIRK: Option<u64>;
    /// KVM_X86_SW_PROTECTED_VM, the VM type with guest_memfd-backed private
    /// memory upstream's private-memslot checks create; `None` off x86.
    const SW_PROTECTED_VM_TYPE: Option<u64>;
    /// Which series row says this arch's KVM has the dirty ring.
    const DIRTY_LOG_RING: crate::series::Feature;
    /// The per-arch initialisation of a vCPU of a [`crate::bare_vm::BareVm`]
    /// right after KVM_CREATE_VCPU (the selftests' `vm_vcpu_add()` without
    /// memory or registers): arm64 KVM_ARM_PREFERRED_TARGET with exactly
    /// `features` set, then KVM_ARM_VCPU_INIT; x86_64 nothing.
    fn init_bare_vcpu(vm: &VmFd, vcpu: &VcpuFd, features: &[Self::VcpuFeature]) -> Result<()>;
    /// Arch set-up a VM without memslots needs before its vCPU runs (x86:
    /// KVM_SET_NR_MMU_PAGES, as upstream's test_zero_memory_regions does).
    fn prepare_vm_without_memory(_vm: &VmFd) -> Result<()> {
        Ok(())
    }
    /// Drives interrupt `intid` of vCPU `vcpu` from the host, with the
    /// in-kernel irqchip: arm64 KVM_IRQ_LINE of that vCPU's PPI (`intid` <
    /// 32) or of SPI `intid` (routed by the guest's GICD_IROUTER) at `level`;
    /// x86_64 KVM_SIGNAL_MSI of vector `intid` to the vCPU's APIC ID when
    /// `level` rises (an MSI is an edge: lowering does nothing).
    fn irq_line(vm: &VmFd, vcpu: usize, intid: u32, level: bool) -> Result<()>;
    /// Interrupt numbers no device of KVM's uses, for tests to drive with
    /// `irq_line`, one of each kind: arm64 PPI 20 (KVM's timers are PPIs
    /// 26-30, the PMU 23, the GIC maintenance interrupt 25) and SPI 40
    /// (routed to vCPU 0 by GICD_IROUTER's reset value); x86_64 vector 0x40.
    const TEST_IRQS: &'static [u32];
    /// The interrupt of the guest runtime's one-shot timer
    /// (`irq::oneshot_timer_us`): arm64 the virtual timer's PPI, x86_64 the
    /// APIC timer's vector (kvmtest-abi `irq_test`).
    const GUEST_TIMER_IRQ: u32;
    /// The boot arguments the runtime's `irq::Controller::init` takes to
    /// find the interrupt controller (arm64: GICD, first GICR, GICR stride;
    /// x86_64: none, the x2APIC is MSRs).
    fn irq_controller_args(layout: &Layout) -> [u64; 3];
    /// Guest program counter.
    fn pc(vcpu: &VcpuFd) -> Result<u64>;
    /// All general and control registers, for failure reports.
    fn dump_regs(vcpu: &VcpuFd) -> RegisterDump;
    /// Human name of an exception reported by the firmware.
    fn exception_name(vector: u64, error_code: u64) -> String;
    /// What an exception reported by the firmware means.
    fn exception_kind(vector: u64, error_code: u64) -> crate::error::ExceptionKind;
    /// What the harness's exception handler met when it faulted itself, if
    /// the arch's registers still say (arm64: ESR/ELR/FAR_EL1 of the nested
    /// fault; x86 resets them on the triple fault).
    fn handler_fault(_vcpu: &VcpuFd) -> Option<String> {
        None
    }
    /// Why a vCPU the watchdog stopped at `pc` cannot make progress, when
    /// its registers say (arm64: an exception whose vector it cannot fetch).
    fn stuck_hint(_vcpu: &VcpuFd, _pc: u64) -> Option<String> {
        None
    }
    /// The host (not guest) PC of a signal's interrupted context, for the
    /// test process's crash report.
    fn host_pc(context: &libc::ucontext_t) -> u64;
    /// What the crashed host thread's own state says about the crash, read
    /// in the signal handler (async-signal-safe): arm64 recognises a thread
    /// pointer holding a guest's value.
    fn host_crash_note() -> Option<&'static str> {
        None
    }
}

impl Layout {
    /// The memory map a VM of `mem_size` bytes gets on this host's arch, as
    /// `Vm::builder().mem_size(mem_size)` will lay it out: for guests that
    /// must know addresses before the VM exists.
    pub fn of_host(mem_size: u64) -> Result<Layout> {
        HostArch::layout(mem_size)
    }
}

/// The host arch's [`Arch::Options`], for `Vm::builder().arch_options(..)`.
pub type ArchOptions = <HostArch as Arch>::Options;

/// The instruction sequences behind `kvmtest::asm::AsmGuest` (in each
/// arch's `asm.rs`); the arch-neutral part, argument checks included, is in
/// `crate::asm`. Each one appends to `ops`, whose sizes were checked.
pub trait AsmArch {
    /// dynasm's relocation type for this arch.
    type Relocation: Relocation;
    /// Guest address of a run-time assembled payload's first instruction.
    const PAYLOAD_BASE: u64;

    /// A ucall: writes the message into the vCPU's buffer and calls the doorbell.
    fn ucall(ops: &mut VecAssembler<Self::Relocation>, cmd: UcallCmd, line: u32, file: &str, msg: &str, args: &[u64]);
    /// A ucall whose `line` and text the host does not read (SYNC, DONE):
    /// an arch may write less of the message than [`AsmArch::ucall`] does.
    fn short_ucall(ops: &mut VecAssembler<Self::Relocation>, cmd: UcallCmd, args: &[u64]) {
        Self::ucall(ops, cmd, 0, "", "", args);
    }
    /// Writes `msg` at `at` exactly as given, without ringing the doorbell.
    fn write_message(ops: &mut VecAssembler<Self::Relocation>, at: MessageAt, msg: &RawUcall<'_>);
    /// Calls the doorbell routine with the message address `at`.
    fn ring_doorbell(ops: &mut VecAssembler<Self::Relocation>, at: MessageAt);
    /// An unconditional jump to `to`.
    fn jump(ops: &mut VecAssembler<Self::Relocation>, to: DynamicLabel);
    /// Jumps to `skip` unless the running vCPU's id is `id`.
    fn jump_unless_vcpu(ops: &mut VecAssembler<Self::Relocation>, id: u32, skip: DynamicLabel);

    // The rest return the offset of the instruction the caller reports.
    /// An undefined instruction; its offset.
    fn undefined_instruction(ops: &mut VecAssembler<Self::Relocation>) -> AssemblyOffset;
    /// A 64-bit load from `addr`; the load's offset.
    fn load_from(ops: &mut VecAssembler<Self::Relocation>, addr: u64) -> AssemblyOffset;
    /// A 64-bit store of `value` to `addr`; the store's offset.
    fn store_u64(ops: &mut VecAssembler<Self::Relocation>, addr: u64, value: u64) -> AssemblyOffset;
    /// A 32-bit store of `value` to `addr`; the store's offset.
    fn store_u32(ops: &mut VecAssembler<Self::Relocation>, addr: u64, value: u32) -> AssemblyOffset;
    /// Masks interrupts and waits for one in an endless loop; the wait's offset.
    fn halt_forever(ops: &mut VecAssembler<Self::Relocation>) -> AssemblyOffset;
}

#[cfg(test)]
mod firmware_cache_tests {
    use super::*;

    #[test]
    fn each_doorbell_is_assembled_once() {
        let cache = std::sync::Mutex::new(Vec::new());
        let assembled = std::cell::Cell::new(0);
        let assemble = |d: Doorbell| {
            assembled.set(assembled.get() + 1);
            Ok(format!("{d:?}"))
        };
        let pio = Doorbell::PortOut { port: 0x1000 };
        let first = cached_firmware(&cache, pio, assemble).unwrap();
        let again = cached_firmware(&cache, pio, assemble).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again));
        assert_eq!(assembled.get(), 1);
        let mmio = cached_firmware(&cache, Doorbell::MmioWrite { addr: 0x1000 }, assemble).unwrap();
        assert_eq!(*mmio, "MmioWrite { addr: 4096 }");
        assert_eq!(assembled.get(), 2);
        let failing = cached_firmware(&cache, Doorbell::Halt, |_| Err(crate::Error::Config("no".into())));
        assert!(failing.is_err());
        assert_eq!(cache.lock().unwrap().len(), 2, "a failed assembly is not cached");
    }
}
