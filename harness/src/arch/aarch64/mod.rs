//! aarch64: EL1h with the stage-1 MMU on over identity tables, an EL1
//! vector table whose handler reports through the ucall doorbell, PSCI 0.2+
//! vCPUs, and the doorbells that reach userspace on arm64 (MMIO store, HVC
//! through the SMCCC filter, PSCI SYSTEM_SUSPEND). Mirrors the kernel
//! selftests' lib/aarch64/processor.c.

mod asm;
pub mod firmware;
pub mod guest_debug;
pub mod layout;
pub mod paging;
pub mod regs;
pub mod smccc_filter;
pub mod vcpu_feature;

use kvm_bindings::{
    kvm_create_device, kvm_device_attr, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3, kvm_enable_cap, kvm_vcpu_init,
    KVM_ARM_IRQ_NUM_SHIFT, KVM_ARM_IRQ_TYPE_PPI, KVM_ARM_IRQ_TYPE_SHIFT, KVM_ARM_IRQ_TYPE_SPI, KVM_ARM_IRQ_VCPU_MASK,
    KVM_ARM_IRQ_VCPU_SHIFT, KVM_ARM_VCPU_PSCI_0_2, KVM_CAP_ARM_SYSTEM_SUSPEND, KVM_DEV_ARM_VGIC_CTRL_INIT,
    KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_VGIC_V3_ADDR_TYPE_DIST, KVM_VGIC_V3_ADDR_TYPE_REDIST,
};
use kvm_ioctls::{DeviceFd, Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use self::layout::*;
use self::regs::*;
use super::exception::aarch64 as exception;
use super::{mem_err, Arch};
use crate::error::ExceptionKind;
use crate::layout::{Layout, RegionKind};
use crate::regs::RegisterDump;
use crate::transport::{Doorbell, TransportKind};
use crate::{Error, Result};

/// The aarch64 architecture.
pub struct Aarch64;

/// What every vCPU of a VM is initialised with.
/// The first SPI's INTID (SGIs 0-15 and PPIs 16-31 are per vCPU).
const FIRST_SPI: u32 = 32;

/// KVM's `reset_unknown()` value for guest system registers
/// (arch/arm64/kvm/sys_regs.h), TPIDR_EL0 among them.
const KVM_RESET_UNKNOWN: u64 = 0x1de7_ec7e_dbad_c0de;

/// The PSCI a vCPU is initialised with (KVM_ARM_VCPU_INIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Psci {
    /// `KVM_ARM_VCPU_PSCI_0_2`: PSCI 0.2 or later (the PSCI_VERSION
    /// firmware register picks which; 1.1 by default on recent kernels).
    #[default]
    V0_2,
    /// No `KVM_ARM_VCPU_PSCI_0_2`: KVM's pre-standard PSCI 0.1, with its own
    /// function IDs (`KVM_PSCI_FN_*`) and no PSCI_VERSION call.
    V0_1,
}

/// arm64 choices of `Vm::builder().arch_options(..)`.
#[derive(Debug, Clone, Default)]
pub struct Arm64Options {
    /// Which PSCI the vCPUs get (default: 0.2 and later).
    pub psci: Psci,
}

/// Per-VM arm64 state: how vCPUs are initialised, and the vGIC.
pub struct Arm64VmState {
    /// KVM_ARM_PREFERRED_TARGET plus the features the harness wants.
    pub init: kvm_vcpu_init,
    /// The in-kernel GICv3, initialised once all vCPUs exist.
    pub vgic: Option<DeviceFd>,
}

/// KVM_SET_ONE_REG of a 64-bit register; `op` names the register in errors.
fn set_reg(vcpu: &VcpuFd, id: u64, op: &'static str, value: u64) -> Result<()> {
    vcpu.set_one_reg(id, &value.to_le_bytes()).map(|_| ()).map_err(Error::kvm(op))
}

fn get_reg(vcpu: &VcpuFd, id: u64) -> Result<u64> {
    let mut b = [0u8; 8];
    vcpu.get_one_reg(id, &mut b).map_err(Error::kvm("KVM_GET_ONE_REG"))?;
    Ok(u64::from_le_bytes(b))
}

/// Creates an in-kernel GICv3 with its frames in the MMIO window
/// (the selftests' `vgic_v3_setup`); KVM_DEV_ARM_VGIC_CTRL_INIT follows in
/// `finish_vm`, once every vCPU exists.
fn create_vgic_v3(vm: &VmFd, layout: &Layout) -> Result<DeviceFd> {
    let mut dev = kvm_create_device { type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3, fd: 0, flags: 0 };
    let gic = vm.create_device(&mut dev).map_err(|e| {
        if e.errno() == libc::ENODEV {
            crate::kvm::skip_missing("an in-kernel GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3)")
        } else {
            Error::Kvm { op: "KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_V3)", source: e }
        }
    })?;
    for (kind, addr, op) in [
        (KVM_VGIC_V3_ADDR_TYPE_DIST, gicd_base(layout), "KVM_SET_DEVICE_ATTR(KVM_VGIC_V3_ADDR_TYPE_DIST)"),
        (KVM_VGIC_V3_ADDR_TYPE_REDIST, gicr_base(layout), "KVM_SET_DEVICE_ATTR(KVM_VGIC_V3_ADDR_TYPE_REDIST)"),
    ] {
        let attr = kvm_device_attr {
            group: KVM_DEV_ARM_VGIC_GRP_ADDR,
            attr: kind.into(),
            addr: &addr as *const u64 as u64,
            flags: 0,
        };
        gic.set_device_attr(&attr).map_err(Error::kvm(op))?;
    }
    Ok(gic)
}

/// Makes HVCs with `func_id` exit to userspace (KVM_ARM_VM_SMCCC_FILTER, Linux 6.4+).
fn forward_smccc_call(vm: &VmFd, func_id: u32) -> Result<()> {
    smccc_filter::require_smccc_filter(vm, "the hvc ucall transport")?;
    smccc_filter::set_smccc_filter(vm, func_id, 1, smccc_filter::SmcccFilterAction::FwdToUser)
}

/// Makes PSCI SYSTEM_SUSPEND exit to userspace (KVM_CAP_ARM_SYSTEM_SUSPEND, Linux 5.19+).
fn enable_system_suspend(vm: &VmFd) -> Result<()> {
    if vm.check_extension_raw(KVM_CAP_ARM_SYSTEM_SUSPEND.into()) == 0 {
        return Err(crate::kvm::skip_missing("KVM_CAP_ARM_SYSTEM_SUSPEND (Linux 5.19+) for the halt ucall transport"));
    }
    let cap = kvm_enable_cap { cap: KVM_CAP_ARM_SYSTEM_SUSPEND, ..Default::default() };
    vm.enable_cap(&cap).map_err(Error::kvm("KVM_ENABLE_CAP(KVM_CAP_ARM_SYSTEM_SUSPEND)"))
}

/// TCR_EL1 for the harness's tables: 39-bit VA, 4 KiB granule, write-back
/// inner-shareable walks, no TTBR1 walks, 40-bit IPA.
pub const TCR: u64 = ((64 - VA_BITS as u64) << TCR_T0SZ_SHIFT)
    | TCR_IRGN0_WBWA
    | TCR_ORGN0_WBWA
    | TCR_SH0_INNER
    | TCR_TG0_4K
    | TCR_EPD1
    | (TCR_IPS_40_BITS << TCR_IPS_SHIFT);

/// Names of x0..x30 for register dumps.
const X_NAMES: [&str; 31] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17",
    "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29", "x30",
];

impl Arch for Aarch64 {
    const NAME: &'static str = "aarch64";
    const ELF_MACHINE: u16 = goblin::elf::header::EM_AARCH64;
    const TRANSPORTS: &'static [TransportKind] =
        &[TransportKind::Mmio, TransportKind::Shared, TransportKind::Hvc, TransportKind::Halt];
    const HALT_DOORBELL: Doorbell = Doorbell::SystemSuspend;
    const TEST_IRQS: &'static [u32] = &[20, 40];
    const GUEST_TIMER_IRQ: u32 = kvmtest_abi::irq_test::ARM64_VTIMER_INTID;
    type VmState = Arm64VmState;
    type Options = Arm64Options;
    type HwDebugRegs = guest_debug::HwDebugRegs;
    type DebugExit = guest_debug::DebugExit;
    type VcpuFeature = vcpu_feature::VcpuFeature;

    fn guest_debug_arch(regs: &guest_debug::HwDebugRegs) -> kvm_bindings::kvm_guest_debug_arch {
        regs.to_kvm()
    }

    fn debug_exit(raw: &kvm_bindings::kvm_debug_exit_arch) -> guest_debug::DebugExit {
        guest_debug::DebugExit::from_kvm(raw)
    }

    fn host_pc(context: &libc::ucontext_t) -> u64 {
        context.uc_mcontext.pc
    }

    fn host_crash_note() -> Option<&'static str> {
        let tpidr_el0: u64;
        // SAFETY: reading this thread's own EL0 thread pointer has no side effect.
        unsafe { std::arch::asm!("mrs {}, tpidr_el0", out(reg) tpidr_el0, options(nomem, nostack, preserves_flags)) };
        (tpidr_el0 == KVM_RESET_UNKNOWN).then_some(
            "this host thread's TPIDR_EL0 is KVM's reset value for a guest's (0x1de7ec7edbadc0de): a vCPU's \
             thread pointer reached the host thread, a kernel bug or the emulator's (seen with Debian's 6.1 and 6.12 \
             arm64 kernels in VHE mode under qemu TCG), not a harness fault",
        )
    }

    fn layout(mem_size: u64) -> Result<Layout> {
        layout::layout(mem_size)
    }

    fn init_vm(
        _kvm: &Kvm,
        vm: &VmFd,
        layout: &Layout,
        irqchip: bool,
        doorbell: Doorbell,
        options: &Arm64Options,
    ) -> Result<Arm64VmState> {
        if options.psci == Psci::V0_1 && doorbell == Doorbell::SystemSuspend {
            return Err(Error::Config(
                "the halt transport rings PSCI SYSTEM_SUSPEND (PSCI 1.0), which a PSCI 0.1 vCPU does not have".into(),
            ));
        }
        let vgic = if irqchip { Some(create_vgic_v3(vm, layout)?) } else { None };
        match doorbell {
            Doorbell::Hypercall { func_id } => forward_smccc_call(vm, func_id)?,
            Doorbell::SystemSuspend => enable_system_suspend(vm)?,
            _ => {}
        }
        let mut init = kvm_vcpu_init::default();
        vm.get_preferred_target(&mut init).map_err(Error::kvm("KVM_ARM_PREFERRED_TARGET"))?;
        match options.psci {
            Psci::V0_2 => init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2,
            Psci::V0_1 => init.features[0] &= !(1 << KVM_ARM_VCPU_PSCI_0_2),
        }
        Ok(Arm64VmState { init, vgic })
    }

    fn init_bare_vcpu(vm: &VmFd, vcpu: &VcpuFd, features: &[vcpu_feature::VcpuFeature]) -> Result<()> {
        let mut init = kvm_vcpu_init::default();
        vm.get_preferred_target(&mut init).map_err(Error::kvm("KVM_ARM_PREFERRED_TARGET"))?;
        init.features = vcpu_feature::features_word(features);
        vcpu.vcpu_init(&init).map_err(Error::kvm("KVM_ARM_VCPU_INIT"))
    }

    fn setup_memory(mem: &GuestMemoryMmap, layout: &Layout, doorbell: Doorbell) -> Result<u64> {
        static FIRMWARE_CACHE: std::sync::Mutex<Vec<(Doorbell, std::sync::Arc<firmware::Firmware>)>> =
            std::sync::Mutex::new(Vec::new());
        let fw = super::cached_firmware(&FIRMWARE_CACHE, doorbell, firmware::assemble)?;
        mem.write_slice(&fw.code, GuestAddress(fw.vectors)).map_err(mem_err("firmware"))?;
        super::write_table_pages(mem, layout, paging::build)?;
        Ok(fw.doorbell)
    }

    fn setup_vcpu(
        state: &Arm64VmState,
        _vm: &VmFd,
        vcpu: &VcpuFd,
        layout: &Layout,
        id: usize,
        entry: u64,
    ) -> Result<()> {
        vcpu.vcpu_init(&state.init).map_err(Error::kvm("KVM_ARM_VCPU_INIT"))?;
        let sctlr = get_reg(vcpu, SCTLR_EL1.kvm_id())? | SCTLR_M | SCTLR_C | SCTLR_I;
        let boot_info = layout.boot_info_of(id);
        let settings: [(u64, &'static str, u64); 11] = [
            (MAIR_EL1.kvm_id(), "KVM_SET_ONE_REG(MAIR_EL1)", paging::MAIR_EL1),
            (TCR_EL1.kvm_id(), "KVM_SET_ONE_REG(TCR_EL1)", TCR),
            (TTBR0_EL1.kvm_id(), "KVM_SET_ONE_REG(TTBR0_EL1)", L1_TABLE),
            (SCTLR_EL1.kvm_id(), "KVM_SET_ONE_REG(SCTLR_EL1)", sctlr),
            (VBAR_EL1.kvm_id(), "KVM_SET_ONE_REG(VBAR_EL1)", FIRMWARE),
            // TPIDR_EL1 is the guest's per-CPU pointer, like GS base on x86.
            (TPIDR_EL1.kvm_id(), "KVM_SET_ONE_REG(TPIDR_EL1)", boot_info),
            (PSTATE, "KVM_SET_ONE_REG(pstate)", PSR_MODE_EL1H | PSR_DAIF),
            (PC, "KVM_SET_ONE_REG(pc)", entry),
            (SP_EL1, "KVM_SET_ONE_REG(sp_el1)", layout.stack_top_of(id)),
            // The exception stack: the vector table switches to SP_EL0.
            (SP_EL0, "KVM_SET_ONE_REG(sp_el0)", exception_stack_top(id)),
            (x(0), "KVM_SET_ONE_REG(x0)", boot_info),
        ];
        for (reg, op, value) in settings {
            set_reg(vcpu, reg, op, value)?;
        }
        Ok(())
    }

    fn map_region(mem: &GuestMemoryMmap, layout: &Layout, range: std::ops::Range<u64>, kind: RegionKind) -> Result<()> {
        for (at, entry) in paging::region_entries(layout, range, kind)? {
            mem.write_obj(entry, GuestAddress(at)).map_err(mem_err("page tables"))?;
        }
        Ok(())
    }

    const SLOT_ZAP_ALL_QUIRK: Option<u64> = None;

    const SW_PROTECTED_VM_TYPE: Option<u64> = None;

    const DIRTY_LOG_RING: crate::series::Feature = crate::series::Feature::DirtyLogRingArm64;

    const NO_EXIT_WITHOUT_MEMORY: Option<&'static str> = Some(
        "arm64 KVM gives no exit to check: an instruction fetch outside every memslot is an abort injected into \
         the guest (arch/arm64/kvm/mmu.c kvm_handle_guest_abort), and KVM_RUN of a vCPU never initialised fails \
         with ENOEXEC; upstream runs this on x86 only",
    );

    fn finish_vm(state: &Arm64VmState, _vm: &VmFd) -> Result<()> {
        if let Some(gic) = &state.vgic {
            let init = kvm_device_attr {
                group: KVM_DEV_ARM_VGIC_GRP_CTRL,
                attr: KVM_DEV_ARM_VGIC_CTRL_INIT.into(),
                addr: 0,
                flags: 0,
            };
            gic.set_device_attr(&init).map_err(Error::kvm("KVM_SET_DEVICE_ATTR(KVM_DEV_ARM_VGIC_CTRL_INIT)"))?;
        }
        Ok(())
    }

    fn irq_line(vm: &VmFd, vcpu: usize, intid: u32, level: bool) -> Result<()> {
        // Documentation/virt/kvm/api.rst, KVM_IRQ_LINE (arm64): irq_type,
        // vcpu_index (PPIs only) and irq_id fields.
        let (kind, index) =
            if intid < FIRST_SPI { (KVM_ARM_IRQ_TYPE_PPI, vcpu as u32) } else { (KVM_ARM_IRQ_TYPE_SPI, 0) };
        if index > KVM_ARM_IRQ_VCPU_MASK {
            return Err(Error::Config(format!("KVM_IRQ_LINE names vCPUs 0-255 here, not {vcpu}")));
        }
        let irq =
            (kind << KVM_ARM_IRQ_TYPE_SHIFT) | (index << KVM_ARM_IRQ_VCPU_SHIFT) | (intid << KVM_ARM_IRQ_NUM_SHIFT);
        vm.set_irq_line(irq, level).map_err(Error::kvm("KVM_IRQ_LINE"))
    }

    fn irq_controller_args(layout: &Layout) -> [u64; 3] {
        [gicd_base(layout), gicr_base(layout), GICR_STRIDE]
    }

    fn pc(vcpu: &VcpuFd) -> Result<u64> {
        get_reg(vcpu, PC)
    }

    fn dump_regs(vcpu: &VcpuFd) -> RegisterDump {
        let mut regs: Vec<(&'static str, u64)> = Vec::with_capacity(48);
        let mut failed = None;
        let mut read = |name: &'static str, id: u64| match get_reg(vcpu, id) {
            Ok(v) => regs.push((name, v)),
            Err(e) => {
                failed.get_or_insert_with(|| format!("reading {name}: {e}"));
            }
        };
        for (name, id) in [("pc", PC), ("pstate", PSTATE), ("sp_el1", SP_EL1), ("sp_el0", SP_EL0)] {
            read(name, id);
        }
        for (n, name) in X_NAMES.iter().enumerate() {
            read(name, x(n as u64));
        }
        read("elr_el1", ELR_EL1);
        read("spsr_el1", SPSR_EL1);
        for r in [ESR_EL1, FAR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1, MAIR_EL1, VBAR_EL1, TPIDR_EL1] {
            read(r.name, r.kvm_id());
        }
        RegisterDump { regs, note: failed }
    }

    fn exception_name(vector: u64, error_code: u64) -> String {
        exception::exception_name(vector, error_code)
    }

    fn exception_kind(vector: u64, error_code: u64) -> ExceptionKind {
        exception::exception_kind(vector, error_code)
    }

    fn handler_fault(vcpu: &VcpuFd) -> Option<String> {
        let esr = get_reg(vcpu, ESR_EL1.kvm_id()).ok()?;
        let elr = get_reg(vcpu, ELR_EL1).ok()?;
        let far = get_reg(vcpu, FAR_EL1.kvm_id()).ok()?;
        Some(exception::handler_fault(esr, elr, far))
    }

    fn stuck_hint(vcpu: &VcpuFd, pc: u64) -> Option<String> {
        let vbar = get_reg(vcpu, VBAR_EL1.kvm_id()).ok()?;
        let esr = get_reg(vcpu, ESR_EL1.kvm_id()).ok()?;
        let far = get_reg(vcpu, FAR_EL1.kvm_id()).ok()?;
        exception::stuck_on_vector_fetch(vbar, esr, far, pc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_crash_note_recognises_a_guest_thread_pointer() {
        assert_eq!(Aarch64::host_crash_note(), None);
        let saved: u64;
        // SAFETY: this thread's TPIDR_EL0 holds KVM's poison only between
        // these two blocks, where nothing touches thread-local storage.
        unsafe {
            std::arch::asm!("mrs {0}, tpidr_el0", "msr tpidr_el0, {1}", out(reg) saved, in(reg) KVM_RESET_UNKNOWN)
        };
        let note = Aarch64::host_crash_note();
        // SAFETY: puts the thread pointer back.
        unsafe { std::arch::asm!("msr tpidr_el0, {}", in(reg) saved) };
        assert!(note.is_some_and(|n| n.contains("TPIDR_EL0") && n.contains("kernel bug")), "{note:?}");
    }
}
