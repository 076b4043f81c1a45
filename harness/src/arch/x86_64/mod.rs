//! x86_64: 64-bit long mode with identity paging, a GDT with a TSS (IST1 for
//! #DF/#SS/#PF so a stack overflow is still reported), an IDT whose stubs
//! report through the ucall doorbell, and CPUID from KVM_GET_SUPPORTED_CPUID.

mod asm;
pub mod firmware;
pub mod guest_debug;
pub mod layout;
pub mod paging;

use std::sync::OnceLock;

use kvm_bindings::{kvm_msi, kvm_segment, CpuId, KVM_MAX_CPUID_ENTRIES};

use self::firmware::FIRST_EXTERNAL_VECTOR;
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use self::layout::*;
use super::exception::x86_64 as exception;
use super::{mem_err, Arch};
use crate::error::ExceptionKind;
use crate::layout::{Layout, RegionKind};
use crate::regs::RegisterDump;
use crate::transport::{Doorbell, TransportKind};
use crate::{Error, Result};

const CR0_PE: u64 = 1 << 0;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;

const GDT_CODE64: u64 = 0x00af_9a00_0000_ffff;
const GDT_DATA: u64 = 0x00cf_9200_0000_ffff;
const TSS_LIMIT: u64 = 0x67;
const TSS_IST1_OFFSET: u64 = 0x24;
const TSS_IOMAP_OFFSET: u64 = 0x66;
const GATE_INTERRUPT: u64 = 0x8e;
const IST_VECTORS: [usize; 3] = [8, 12, 14];

/// The x86_64 architecture.
pub struct X86_64;

/// An MSI's address: 0xFEE in bits 31-20, the destination APIC ID in 19-12
/// (Intel SDM vol. 3, 11.11.1).
const MSI_ADDRESS_BASE: u32 = 0xfee0_0000;
const MSI_DEST_ID_SHIFT: u32 = 12;

/// CPUID the vCPUs get: what the kernel supports, unless the test changes it.
pub struct X86VmState {
    /// KVM_GET_SUPPORTED_CPUID, asked once per process (borrowed, not
    /// copied per VM).
    pub supported_cpuid: &'static CpuId,
}

fn tss_descriptor(base: u64) -> [u64; 2] {
    let low = (TSS_LIMIT & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89 << 40)
        | (((TSS_LIMIT >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

fn idt_gate(handler: u64, ist: u64) -> [u64; 2] {
    let low = (handler & 0xffff)
        | ((CODE_SEL as u64) << 16)
        | (ist << 32)
        | (GATE_INTERRUPT << 40)
        | (((handler >> 16) & 0xffff) << 48);
    [low, handler >> 32]
}

fn segment(selector: u16, type_: u8, base: u64, long: bool) -> kvm_segment {
    kvm_segment {
        base,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: u8::from(!long),
        s: 1,
        l: u8::from(long),
        g: 1,
        ..Default::default()
    }
}

/// KVM_GET_SUPPORTED_CPUID, asked once per process: the answer depends only
/// on the kernel and the CPU, and the ioctl costs a third of a millisecond
/// here, a third of a VM's start.
pub(crate) fn supported_cpuid(kvm: &Kvm) -> Result<&'static CpuId> {
    static SUPPORTED: OnceLock<CpuId> = OnceLock::new();
    if let Some(c) = SUPPORTED.get() {
        return Ok(c);
    }
    let c = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(Error::kvm("KVM_GET_SUPPORTED_CPUID"))?;
    Ok(SUPPORTED.get_or_init(|| c))
}

/// The features a bare x86 vCPU may be initialised with: none (KVM_CREATE_VCPU
/// alone makes a vCPU; what it offers is KVM_SET_CPUID2's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuFeature {}

impl Arch for X86_64 {
    const NAME: &'static str = "x86_64";
    const ELF_MACHINE: u16 = goblin::elf::header::EM_X86_64;
    const TRANSPORTS: &'static [TransportKind] =
        &[TransportKind::Pio, TransportKind::Mmio, TransportKind::Halt, TransportKind::Shared];
    const HALT_DOORBELL: Doorbell = Doorbell::Halt;
    const TEST_IRQS: &'static [u32] = &[0x40];
    const GUEST_TIMER_IRQ: u32 = kvmtest_abi::irq_test::X86_APIC_TIMER_VECTOR;
    type VmState = X86VmState;
    type Options = ();
    type HwDebugRegs = guest_debug::HwDebugRegs;
    type DebugExit = guest_debug::DebugExit;
    type VcpuFeature = VcpuFeature;

    fn guest_debug_arch(regs: &guest_debug::HwDebugRegs) -> kvm_bindings::kvm_guest_debug_arch {
        regs.to_kvm()
    }

    fn debug_exit(raw: &kvm_bindings::kvm_debug_exit_arch) -> guest_debug::DebugExit {
        guest_debug::DebugExit::from_kvm(raw)
    }

    fn host_pc(context: &libc::ucontext_t) -> u64 {
        context.uc_mcontext.gregs[libc::REG_RIP as usize] as u64
    }

    fn layout(mem_size: u64) -> Result<Layout> {
        layout::layout(mem_size)
    }

    fn init_vm(
        kvm: &Kvm,
        vm: &VmFd,
        _layout: &Layout,
        irqchip: bool,
        _doorbell: Doorbell,
        _options: &(),
    ) -> Result<X86VmState> {
        if irqchip {
            vm.create_irq_chip().map_err(Error::kvm("KVM_CREATE_IRQCHIP"))?;
        }
        Ok(X86VmState { supported_cpuid: supported_cpuid(kvm)? })
    }

    fn setup_memory(mem: &GuestMemoryMmap, layout: &Layout, doorbell: Doorbell) -> Result<u64> {
        static FIRMWARE_CACHE: std::sync::Mutex<Vec<(Doorbell, std::sync::Arc<firmware::Firmware>)>> =
            std::sync::Mutex::new(Vec::new());
        let fw = super::cached_firmware(&FIRMWARE_CACHE, doorbell, firmware::assemble)?;
        mem.write_slice(&fw.code, GuestAddress(FIRMWARE)).map_err(mem_err("firmware"))?;

        let [tss_lo, tss_hi] = tss_descriptor(TSS);
        let gdt = [0, GDT_CODE64, GDT_DATA, tss_lo, tss_hi];
        for (i, d) in gdt.iter().enumerate() {
            mem.write_obj(*d, GuestAddress(GDT + 8 * i as u64)).map_err(mem_err("GDT"))?;
        }
        mem.write_obj(EXCEPTION_STACK_TOP, GuestAddress(TSS + TSS_IST1_OFFSET)).map_err(mem_err("TSS"))?;
        mem.write_obj(TSS_LIMIT as u16 + 1, GuestAddress(TSS + TSS_IOMAP_OFFSET)).map_err(mem_err("TSS"))?;

        // The IDT in one write (256 gates, 4 KiB), not two per gate: under
        // TCG each bounds-checked guest write costs microseconds.
        let mut idt = [0u8; 256 * 16];
        for ((v, handler), gate) in
            fw.vectors.iter().chain(fw.irq_vectors.iter()).enumerate().zip(idt.chunks_exact_mut(16))
        {
            let ist = u64::from(IST_VECTORS.contains(&v));
            let [lo, hi] = idt_gate(*handler, ist);
            gate[..8].copy_from_slice(&lo.to_le_bytes());
            gate[8..].copy_from_slice(&hi.to_le_bytes());
        }
        let gates = 16 * (fw.vectors.len() + fw.irq_vectors.len()).min(256);
        mem.write_slice(&idt[..gates], GuestAddress(IDT)).map_err(mem_err("IDT"))?;

        super::write_table_pages(mem, layout, paging::build)?;
        Ok(fw.doorbell)
    }

    fn setup_vcpu(state: &X86VmState, _vm: &VmFd, vcpu: &VcpuFd, layout: &Layout, id: usize, entry: u64) -> Result<()> {
        vcpu.set_cpuid2(state.supported_cpuid).map_err(Error::kvm("KVM_SET_CPUID2"))?;

        let mut sregs = vcpu.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?;
        sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        sregs.cr3 = PML4;
        sregs.cr4 = CR4_PAE;
        sregs.efer = EFER_LME | EFER_LMA;
        sregs.cs = segment(CODE_SEL, 0xb, 0, true);
        let data = segment(DATA_SEL, 0x3, 0, false);
        sregs.ds = data;
        sregs.es = data;
        sregs.ss = data;
        sregs.fs = data;
        // GS base points at this vCPU's boot info: the guest's per-CPU pointer.
        sregs.gs = segment(DATA_SEL, 0x3, layout.boot_info_of(id), false);
        sregs.tr = kvm_segment {
            base: TSS,
            limit: TSS_LIMIT as u32,
            selector: TSS_SEL,
            type_: 0xb,
            present: 1,
            ..Default::default()
        };
        sregs.ldt = kvm_segment { unusable: 1, type_: 0x2, present: 1, ..Default::default() };
        sregs.gdt.base = GDT;
        sregs.gdt.limit = 5 * 8 - 1;
        sregs.idt.base = IDT;
        sregs.idt.limit = 256 * 16 - 1;
        vcpu.set_sregs(&sregs).map_err(Error::kvm("KVM_SET_SREGS"))?;

        let mut regs = vcpu.get_regs().map_err(Error::kvm("KVM_GET_REGS"))?;
        regs.rflags = 0x2;
        regs.rip = entry;
        // As if `call`ed: the System V ABI wants rsp + 8 16-byte aligned at entry.
        regs.rsp = layout.stack_top_of(id) - 8;
        regs.rdi = layout.boot_info_of(id);
        vcpu.set_regs(&regs).map_err(Error::kvm("KVM_SET_REGS"))?;
        Ok(())
    }

    fn map_region(mem: &GuestMemoryMmap, layout: &Layout, range: std::ops::Range<u64>, kind: RegionKind) -> Result<()> {
        for (at, entry) in paging::region_entries(layout, range, kind)? {
            mem.write_obj(entry, GuestAddress(at)).map_err(mem_err("page tables"))?;
        }
        Ok(())
    }

    const SLOT_ZAP_ALL_QUIRK: Option<u64> = Some(kvm_bindings::KVM_X86_QUIRK_SLOT_ZAP_ALL as u64);

    const SW_PROTECTED_VM_TYPE: Option<u64> = Some(kvm_bindings::KVM_X86_SW_PROTECTED_VM as u64);

    const DIRTY_LOG_RING: crate::series::Feature = crate::series::Feature::DirtyLogRingX86;

    const NO_EXIT_WITHOUT_MEMORY: Option<&'static str> = None;

    fn init_bare_vcpu(_vm: &VmFd, _vcpu: &VcpuFd, features: &[VcpuFeature]) -> Result<()> {
        // An x86 vCPU runs as KVM_CREATE_VCPU leaves it; there is no feature to name.
        match features.first() {
            None => Ok(()),
            Some(&f) => match f {},
        }
    }

    fn prepare_vm_without_memory(vm: &VmFd) -> Result<()> {
        vmm_sys_util::ioctl_io_nr!(KVM_SET_NR_MMU_PAGES, kvm_bindings::KVMIO, 0x44);
        // SAFETY: KVM_SET_NR_MMU_PAGES takes its argument by value (a page count).
        let ret = unsafe { vmm_sys_util::ioctl::ioctl_with_val(vm, KVM_SET_NR_MMU_PAGES(), 64) };
        if ret != 0 {
            return Err(Error::Kvm { op: "KVM_SET_NR_MMU_PAGES", source: kvm_ioctls::Error::last() });
        }
        Ok(())
    }

    fn finish_vm(_state: &X86VmState, _vm: &VmFd) -> Result<()> {
        Ok(())
    }

    fn irq_line(vm: &VmFd, vcpu: usize, intid: u32, level: bool) -> Result<()> {
        if !level {
            return Ok(());
        }
        if !(FIRST_EXTERNAL_VECTOR..256).contains(&(intid as usize)) || vcpu > 0xff {
            return Err(Error::Config(format!(
                "an MSI carries vectors 32-255 to xAPIC IDs 0-255, not {intid} to {vcpu}"
            )));
        }
        // An MSI in the format of the SDM (vol. 3, 11.11 "Message Signalled
        // Interrupts"): fixed delivery, edge, physical destination = APIC ID,
        // which KVM sets to the vCPU id.
        let msi = kvm_msi {
            address_lo: MSI_ADDRESS_BASE | ((vcpu as u32) << MSI_DEST_ID_SHIFT),
            data: intid,
            ..Default::default()
        };
        match vm.signal_msi(msi).map_err(Error::kvm("KVM_SIGNAL_MSI"))? {
            0 => Err(Error::Check(format!(
                "KVM_SIGNAL_MSI of vector {intid} to vCPU {vcpu}: the APIC did not take it (returned 0)"
            ))),
            _ => Ok(()),
        }
    }

    fn irq_controller_args(_layout: &Layout) -> [u64; 3] {
        [0; 3]
    }

    fn pc(vcpu: &VcpuFd) -> Result<u64> {
        Ok(vcpu.get_regs().map_err(Error::kvm("KVM_GET_REGS"))?.rip)
    }

    fn dump_regs(vcpu: &VcpuFd) -> RegisterDump {
        let (r, s) = match (vcpu.get_regs(), vcpu.get_sregs()) {
            (Ok(r), Ok(s)) => (r, s),
            (Err(e), _) | (_, Err(e)) => return RegisterDump::unavailable(format!("KVM_GET_REGS/SREGS failed: {e}")),
        };
        RegisterDump {
            regs: vec![
                ("rip", r.rip),
                ("rsp", r.rsp),
                ("rflags", r.rflags),
                ("rax", r.rax),
                ("rbx", r.rbx),
                ("rcx", r.rcx),
                ("rdx", r.rdx),
                ("rsi", r.rsi),
                ("rdi", r.rdi),
                ("rbp", r.rbp),
                ("r8", r.r8),
                ("r9", r.r9),
                ("r10", r.r10),
                ("r11", r.r11),
                ("r12", r.r12),
                ("r13", r.r13),
                ("r14", r.r14),
                ("r15", r.r15),
                ("cr0", s.cr0),
                ("cr2", s.cr2),
                ("cr3", s.cr3),
                ("cr4", s.cr4),
                ("efer", s.efer),
                ("gsbase", s.gs.base),
            ],
            note: None,
        }
    }

    fn exception_name(vector: u64, _error_code: u64) -> String {
        exception::vector_name(vector).to_string()
    }

    fn exception_kind(vector: u64, error_code: u64) -> ExceptionKind {
        exception::exception_kind(vector, error_code)
    }
}
