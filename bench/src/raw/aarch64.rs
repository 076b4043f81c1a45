//! The raw VM on arm64: EL1h with the stage-1 MMU on, configured as the
//! harness does it (harness/src/arch/aarch64/{mod.rs,paging.rs}: the same
//! MAIR_EL1, TCR_EL1, SCTLR_EL1 bits, identity tables of the same depth and
//! attributes), boot info at TPIDR_EL1, and the harness's doorbells
//! (firmware.rs) written out by hand.
//!
//! ```text
//!  0x0000_0000  null page (not mapped, as in the harness)
//!  0x0000_1000  vector table (VBAR_EL1): every slot gives up with PSCI SYSTEM_OFF
//!  0x0000_1800  doorbell routine (ELF payloads call it)
//!  0x0000_3000  boot info (TPIDR_EL1)
//!  0x0000_5000  L1 -> L3 of the low 2 MiB at 0x6000, L2s (one per GiB) from 0x7000
//!  0x0002_0000  message buffer (the harness's vCPU 0 ucall slot)
//!  0x0010_4000  top of the stack (SP_EL1, the harness's vCPU 0 stack top)
//!  0x0020_0000  guest code / ELF payload
//!  mem_size     MMIO doorbells (no memslot; a 2 MiB Device-nGnRE block)
//! ```

use dynasmrt::aarch64::{Aarch64Relocation, RX};
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, VecAssembler};
use kvm_bindings::{kvm_vcpu_init, KVM_ARM_VCPU_PSCI_0_2, KVM_SYSTEM_EVENT_SUSPEND};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use kvmtest::aarch64::smccc::{enable_system_suspend, set_smccc_filter, SmcccFilterAction};
use kvmtest::arch::aarch64::firmware::{load_imm32, load_imm64, PSCI_0_2_FN_SYSTEM_OFF, PSCI_1_0_FN64_SYSTEM_SUSPEND};
use kvmtest::arch::aarch64::paging::{DESC_TABLE_OR_PAGE, DESC_VALID, DEVICE_LEAF, MAIR_EL1, NORMAL_LEAF};
use kvmtest::arch::aarch64::regs::{
    x, MAIR_EL1 as MAIR_REG, PC, PSR_DAIF, PSR_MODE_EL1H, PSTATE, SCTLR_C, SCTLR_EL1, SCTLR_I, SCTLR_M, SP_EL1,
    TCR_EL1, TPIDR_EL1, TTBR0_EL1, VBAR_EL1,
};
use kvmtest::arch::aarch64::TCR;
use kvmtest::ucall::UCALL_HVC_FUNC_ID;
use kvmtest::TransportKind;

use super::{kvm_err, RawArch, RawExit, RawVm, Result};

const VECTORS: u64 = 0x1000;
const L1_TABLE: u64 = 0x5000;
const L3_LOW: u64 = 0x6000;
const L2_BASE: u64 = 0x7000;
const MAX_L2: u64 = 16;
const STACK_TOP: u64 = 0x10_4000;

const PAGE: u64 = 4096;
const MIB2: u64 = 2 << 20;
const GIB: u64 = 1 << 30;
/// Offset of the shared-memory doorbell above the MMIO ucall doorbell.
const SHARED_DOORBELL_OFFSET: u64 = 0x1000;

type Ops = VecAssembler<Aarch64Relocation>;

/// The raw arm64 baseline: its own page tables, vectors and code, no harness.
pub struct Aarch64;

fn assemble(f: impl FnOnce(&mut Ops), at: u64) -> Vec<u8> {
    let mut ops = Ops::new(at as usize);
    f(&mut ops);
    ops.finalize().expect("static guest code assembles")
}

fn mmio_doorbell(t: TransportKind, mem_size: u64) -> u64 {
    if t == TransportKind::Shared {
        mem_size + SHARED_DOORBELL_OFFSET
    } else {
        mem_size
    }
}

fn set_reg(vcpu: &VcpuFd, id: u64, op: &'static str, value: u64) -> Result<()> {
    vcpu.set_one_reg(id, &value.to_le_bytes()).map(|_| ()).map_err(kvm_err(op))
}

impl RawArch for Aarch64 {
    const BOOT_INFO: u64 = 0x3000;
    const MSG: u64 = 0x2_0000;
    const DOORBELL: u64 = 0x1800;
    const CODE: u64 = 0x20_0000;
    const ELF_TRANSPORT: TransportKind = TransportKind::Mmio;

    /// The hvc doorbell needs the SMCCC filter forwarding exactly the
    /// harness's function ID to userspace; the halt doorbell needs PSCI
    /// SYSTEM_SUSPEND to exit: set up with the harness's own helpers (set-up
    /// only; the timed loop calls no kvmtest code).
    fn init_vm(vm: &VmFd, t: TransportKind) -> Result<()> {
        match t {
            TransportKind::Hvc => set_smccc_filter(vm, UCALL_HVC_FUNC_ID, 1, SmcccFilterAction::FwdToUser),
            TransportKind::Halt => enable_system_suspend(vm),
            _ => Ok(()),
        }
        .map_err(|e| e.to_string())
    }

    /// The vector table and the identity map: the low 2 MiB in 4 KiB pages
    /// (but the null page), the rest of RAM in 2 MiB Normal blocks, the
    /// doorbells' 2 MiB as Device. Same levels and attributes as the harness.
    fn init_memory(raw: &RawVm) {
        let vectors = assemble(
            |ops| {
                for _ in 0..16 {
                    let hang = ops.new_dynamic_label();
                    load_imm32(ops, RX::X0, PSCI_0_2_FN_SYSTEM_OFF);
                    dynasm!(ops ; .arch aarch64 ; hvc 0 ; =>hang ; b =>hang ; .align 0x80);
                }
            },
            VECTORS,
        );
        raw.write(VECTORS, &vectors);
        let ram_end = raw.mem_size().next_multiple_of(MIB2);
        let top = (ram_end + MIB2).next_multiple_of(GIB);
        assert!(top / GIB <= MAX_L2, "the raw arm64 VM maps at most {MAX_L2} GiB");
        let l2 = |i: u64| L2_BASE + i * PAGE;
        for i in 0..top / GIB {
            raw.write_u64(L1_TABLE + 8 * i, l2(i) | DESC_VALID | DESC_TABLE_OR_PAGE);
        }
        raw.write_u64(l2(0), L3_LOW | DESC_VALID | DESC_TABLE_OR_PAGE);
        for k in 1..512 {
            raw.write_u64(L3_LOW + 8 * k, (k * PAGE) | NORMAL_LEAF | DESC_VALID | DESC_TABLE_OR_PAGE);
        }
        for j in 1..ram_end / MIB2 {
            raw.write_u64(l2(j / 512) + 8 * (j % 512), (j * MIB2) | NORMAL_LEAF | DESC_VALID);
        }
        let j = ram_end / MIB2;
        raw.write_u64(l2(j / 512) + 8 * (j % 512), ram_end | DEVICE_LEAF | DESC_VALID);
    }

    fn init_vcpu(_: &Kvm, vm: &VmFd, vcpu: &VcpuFd) -> Result<()> {
        let mut init = kvm_vcpu_init::default();
        vm.get_preferred_target(&mut init).map_err(kvm_err("KVM_ARM_PREFERRED_TARGET"))?;
        init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
        vcpu.vcpu_init(&init).map_err(kvm_err("KVM_ARM_VCPU_INIT"))?;
        let mut sctlr = [0u8; 8];
        vcpu.get_one_reg(SCTLR_EL1.kvm_id(), &mut sctlr).map_err(kvm_err("KVM_GET_ONE_REG(SCTLR_EL1)"))?;
        let sctlr = u64::from_le_bytes(sctlr) | SCTLR_M | SCTLR_C | SCTLR_I;
        for (reg, op, value) in [
            (MAIR_REG.kvm_id(), "KVM_SET_ONE_REG(MAIR_EL1)", MAIR_EL1),
            (TCR_EL1.kvm_id(), "KVM_SET_ONE_REG(TCR_EL1)", TCR),
            (TTBR0_EL1.kvm_id(), "KVM_SET_ONE_REG(TTBR0_EL1)", L1_TABLE),
            (SCTLR_EL1.kvm_id(), "KVM_SET_ONE_REG(SCTLR_EL1)", sctlr),
            (VBAR_EL1.kvm_id(), "KVM_SET_ONE_REG(VBAR_EL1)", VECTORS),
            (TPIDR_EL1.kvm_id(), "KVM_SET_ONE_REG(TPIDR_EL1)", Self::BOOT_INFO),
            (PSTATE, "KVM_SET_ONE_REG(pstate)", PSR_MODE_EL1H | PSR_DAIF),
            (PC, "KVM_SET_ONE_REG(pc)", Self::CODE),
            (SP_EL1, "KVM_SET_ONE_REG(sp_el1)", STACK_TOP),
            (x(0), "KVM_SET_ONE_REG(x0)", Self::BOOT_INFO),
        ] {
            set_reg(vcpu, reg, op, value)?;
        }
        Ok(())
    }

    fn set_pc(vcpu: &VcpuFd, pc: u64) -> Result<()> {
        set_reg(vcpu, PC, "KVM_SET_ONE_REG(pc)", pc)
    }

    /// Message address in x0; the instructions of the harness's doorbells.
    fn doorbell(t: TransportKind, mem_size: u64) -> Vec<u8> {
        assemble(
            |ops| match t {
                TransportKind::Mmio | TransportKind::Shared => {
                    load_imm64(ops, RX::X1, mmio_doorbell(t, mem_size));
                    dynasm!(ops ; .arch aarch64 ; str x0, [x1] ; ret);
                }
                TransportKind::Hvc => {
                    dynasm!(ops ; .arch aarch64 ; mov x1, x0);
                    load_imm32(ops, RX::X0, UCALL_HVC_FUNC_ID);
                    dynasm!(ops ; .arch aarch64 ; hvc 0 ; ret);
                }
                TransportKind::Halt => {
                    dynasm!(ops ; .arch aarch64 ; mov x2, x0 ; mov x1, x30);
                    load_imm32(ops, RX::X0, PSCI_1_0_FN64_SYSTEM_SUSPEND);
                    dynasm!(ops ; .arch aarch64 ; hvc 0 ; ret);
                }
                // No I/O ports on arm64: an undefined instruction, which the
                // vector table turns into a SYSTEM_OFF the raw loop rejects.
                TransportKind::Pio => dynasm!(ops ; .arch aarch64 ; udf 0),
            },
            Self::DOORBELL,
        )
    }

    /// KVM changes no register on these exits (the host writes none back),
    /// so the arguments are set once, before the loop.
    fn floor_loop(t: TransportKind, mem_size: u64) -> Vec<u8> {
        assemble(
            |ops| {
                let top = ops.new_dynamic_label();
                match t {
                    TransportKind::Mmio | TransportKind::Shared => {
                        load_imm64(ops, RX::X0, Self::MSG);
                        load_imm64(ops, RX::X1, mmio_doorbell(t, mem_size));
                        dynasm!(ops ; .arch aarch64 ; =>top ; str x0, [x1] ; b =>top);
                    }
                    TransportKind::Hvc => {
                        load_imm64(ops, RX::X1, Self::MSG);
                        load_imm32(ops, RX::X0, UCALL_HVC_FUNC_ID);
                        dynasm!(ops ; .arch aarch64 ; =>top ; hvc 0 ; b =>top);
                    }
                    TransportKind::Halt => {
                        load_imm64(ops, RX::X2, Self::MSG);
                        load_imm32(ops, RX::X0, PSCI_1_0_FN64_SYSTEM_SUSPEND);
                        dynasm!(ops ; .arch aarch64 ; =>top ; hvc 0 ; b =>top);
                    }
                    TransportKind::Pio => dynasm!(ops ; .arch aarch64 ; udf 0),
                }
            },
            Self::CODE,
        )
    }

    fn exit(t: TransportKind) -> RawExit {
        match t {
            TransportKind::Hvc => RawExit::Hypercall,
            TransportKind::Halt => RawExit::SystemEvent,
            _ => RawExit::Mmio,
        }
    }

    fn check_exit(vm: &RawVm, t: TransportKind) -> Result<()> {
        match t {
            TransportKind::Hvc => {
                let (nr, flags) = vm.hypercall();
                if nr != u64::from(UCALL_HVC_FUNC_ID) || flags != 0 {
                    return Err(format!("raw hvc exit: function {nr:#x} flags {flags:#x}"));
                }
            }
            TransportKind::Halt => {
                let kind = vm.system_event();
                if kind != KVM_SYSTEM_EVENT_SUSPEND {
                    return Err(format!("raw halt exit: system event type {kind}, expected SUSPEND"));
                }
            }
            _ => {
                let want = mmio_doorbell(t, vm.mem_size());
                let (addr, len, data, write) = vm.mmio();
                if addr != want || len != 8 || data != Self::MSG || !write {
                    return Err(format!("raw mmio exit: addr {addr:#x} len {len} data {data:#x} write {write}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kvmtest::arch::aarch64::{firmware, layout};
    use kvmtest::ucall::Doorbell;

    use super::*;

    /// The raw doorbells are word for word the harness's, at the addresses
    /// of the harness's layout: the raw loop runs the same guest instructions.
    #[test]
    fn doorbells_are_the_harness_instructions() {
        const MEM: u64 = 64 << 20;
        let mmio = layout::layout(MEM).unwrap().mmio;
        for (t, d) in [
            (TransportKind::Mmio, Doorbell::MmioWrite { addr: mmio.ucall }),
            (TransportKind::Shared, Doorbell::MmioWrite { addr: mmio.shared_doorbell }),
            (TransportKind::Hvc, Doorbell::Hypercall { func_id: UCALL_HVC_FUNC_ID }),
            (TransportKind::Halt, Doorbell::SystemSuspend),
        ] {
            let fw = firmware::assemble(d).unwrap();
            let harness = &fw.code[(fw.doorbell - fw.vectors) as usize..];
            assert_eq!(Aarch64::doorbell(t, MEM), harness, "{t} doorbell");
        }
    }

    /// The harness's translation settings, so both sides walk the same tables.
    #[test]
    fn tables_have_the_harness_depth_and_attributes() {
        assert_eq!(L1_TABLE, layout::L1_TABLE);
        assert_eq!(L3_LOW, layout::L3_LOW);
        assert_eq!(Aarch64::CODE, layout::PAYLOAD_BASE);
        let l = layout::layout(64 << 20).unwrap();
        assert_eq!(Aarch64::MSG, l.ucall_slot_of(0));
        assert_eq!(STACK_TOP, l.stack_top_of(0));
        assert_eq!(Aarch64::BOOT_INFO, l.boot_info_of(0));
    }
}
