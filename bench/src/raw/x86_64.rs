//! The raw VM on x86_64: long mode over identity-mapped tables, boot info at
//! GS base, the harness's doorbells (harness/src/arch/x86_64/firmware.rs).
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
//!
//! The vCPU gets KVM_GET_SUPPORTED_CPUID before its registers, as the
//! harness's do: KVM checks EFER.LME/LMA in KVM_SET_SREGS against the guest's
//! CPUID (`kvm_valid_efer`: no long mode without CPUID.80000001H:EDX.LM), and
//! a vCPU's CPUID is empty until KVM_SET_CPUID2. The segment registers are
//! what VM entry accepts on VMX as on SVM: CS 64-bit (L set, D clear), SS and
//! CS at DPL 0, TR a busy 64-bit TSS, LDTR unusable.

use dynasmrt::{dynasm, x64::X64Relocation, DynasmApi, DynasmLabelApi, VecAssembler};
use std::sync::OnceLock;

use kvm_bindings::{kvm_segment, CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use kvmtest::TransportKind;

use super::{kvm_err, RawArch, RawExit, RawVm, Result};

const PML4: u64 = 0x1000;
const PDPT: u64 = 0x2000;
const PD: u64 = 0x3000;
const PT_LOW: u64 = 0x4000;
const STACK_TOP: u64 = 0x10_0000;
/// The port the raw PIO loops write to (the same as the harness's).
pub const PIO_PORT: u16 = 0x1000;

const PTE_PRESENT_RW: u64 = 0x3;
const PTE_HUGE: u64 = 0x80;
const MIB2: u64 = 2 << 20;

/// The raw x86_64 baseline: its own page tables and code, no harness.
pub struct X86_64;

/// KVM_GET_SUPPORTED_CPUID, asked once per process as the harness does (so
/// that a cold start of either does the same ioctls).
fn supported_cpuid(kvm: &Kvm) -> Result<CpuId> {
    static SUPPORTED: OnceLock<CpuId> = OnceLock::new();
    if let Some(c) = SUPPORTED.get() {
        return Ok(c.clone());
    }
    let c = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(kvm_err("KVM_GET_SUPPORTED_CPUID"))?;
    Ok(SUPPORTED.get_or_init(|| c).clone())
}

fn assemble(f: impl FnOnce(&mut VecAssembler<X64Relocation>), at: u64) -> Vec<u8> {
    let mut ops = VecAssembler::new(at as usize);
    f(&mut ops);
    ops.finalize().expect("static guest code assembles")
}

impl RawArch for X86_64 {
    const BOOT_INFO: u64 = 0x5000;
    const MSG: u64 = 0x6000;
    const DOORBELL: u64 = 0x7000;
    const CODE: u64 = 0x20_0000;
    const ELF_TRANSPORT: TransportKind = TransportKind::Pio;

    fn init_vm(_: &VmFd, _: TransportKind) -> Result<()> {
        Ok(())
    }

    fn init_memory(raw: &RawVm) {
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
    }

    fn init_vcpu(kvm: &Kvm, _: &VmFd, vcpu: &VcpuFd) -> Result<()> {
        vcpu.set_cpuid2(&supported_cpuid(kvm)?).map_err(kvm_err("KVM_SET_CPUID2"))?;
        let mut sregs = vcpu.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
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
        sregs.gs = seg(0x10, 0x3, Self::BOOT_INFO, false);
        sregs.tr = kvm_segment { base: 0, limit: 0x67, selector: 0x18, type_: 0xb, present: 1, ..Default::default() };
        sregs.ldt = kvm_segment { unusable: 1, type_: 0x2, present: 1, ..Default::default() };
        vcpu.set_sregs(&sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
        let mut regs = vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
        regs.rflags = 0x2;
        regs.rip = Self::CODE;
        regs.rsp = STACK_TOP - 8;
        regs.rdi = Self::BOOT_INFO;
        vcpu.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))
    }

    fn set_pc(vcpu: &VcpuFd, pc: u64) -> Result<()> {
        let mut regs = vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
        regs.rip = pc;
        vcpu.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))
    }

    /// Message address in rax, as the harness's doorbells take it.
    fn doorbell(t: TransportKind, mem_size: u64) -> Vec<u8> {
        let movabs = |addr: u64| {
            let mut b = vec![0x48, 0xa3]; // mov [moffs64], rax
            b.extend(addr.to_le_bytes());
            b.push(0xc3); // ret
            b
        };
        match t {
            TransportKind::Pio => {
                assemble(|ops| dynasm!(ops ; .arch x64 ; mov dx, PIO_PORT as i16 ; out dx, eax ; ret), Self::DOORBELL)
            }
            TransportKind::Mmio => movabs(mem_size),
            TransportKind::Shared => movabs(mem_size + 0x1000),
            _ => assemble(|ops| dynasm!(ops ; .arch x64 ; hlt ; ret), Self::DOORBELL),
        }
    }

    fn floor_loop(t: TransportKind, mem_size: u64) -> Vec<u8> {
        assemble(
            |ops| {
                let top = ops.new_dynamic_label();
                dynasm!(ops ; .arch x64 ; mov eax, Self::MSG as i32 ; mov dx, PIO_PORT as i16);
                match t {
                    TransportKind::Pio => dynasm!(ops ; .arch x64 ; =>top ; out dx, eax ; jmp =>top),
                    TransportKind::Mmio | TransportKind::Shared => {
                        let addr = if t == TransportKind::Mmio { mem_size } else { mem_size + 0x1000 };
                        dynasm!(ops ; .arch x64 ; mov rdx, QWORD addr as i64 ; =>top ; mov [rdx], rax ; jmp =>top)
                    }
                    _ => dynasm!(ops ; .arch x64 ; =>top ; hlt ; jmp =>top),
                }
            },
            Self::CODE,
        )
    }

    fn exit(t: TransportKind) -> RawExit {
        match t {
            TransportKind::Pio => RawExit::Io,
            TransportKind::Halt => RawExit::Hlt,
            _ => RawExit::Mmio,
        }
    }

    fn check_exit(vm: &RawVm, t: TransportKind) -> Result<()> {
        match t {
            TransportKind::Pio => {
                let (port, size, data) = vm.io_out();
                if port != PIO_PORT || size != 4 || u64::from(data) != Self::MSG {
                    return Err(format!("raw pio exit: port {port:#x} size {size} data {data:#x}"));
                }
            }
            TransportKind::Mmio | TransportKind::Shared => {
                let want = if t == TransportKind::Mmio { vm.mem_size() } else { vm.mem_size() + 0x1000 };
                let (addr, len, data, write) = vm.mmio();
                if addr != want || len != 8 || data != Self::MSG || !write {
                    return Err(format!("raw mmio exit: addr {addr:#x} len {len} data {data:#x} write {write}"));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kvmtest::arch::x86_64::{firmware, layout};
    use kvmtest::ucall::Doorbell;

    use super::*;

    /// The raw doorbells are byte for byte the harness's, at the addresses of
    /// the harness's layout: the raw loop runs the same guest instructions.
    #[test]
    fn doorbells_are_the_harness_instructions() {
        const MEM: u64 = 64 << 20;
        let mmio = layout::layout(MEM).unwrap().mmio;
        for (t, d) in [
            (TransportKind::Pio, Doorbell::PortOut { port: PIO_PORT }),
            (TransportKind::Mmio, Doorbell::MmioWrite { addr: mmio.ucall }),
            (TransportKind::Shared, Doorbell::MmioWrite { addr: mmio.shared_doorbell }),
            (TransportKind::Halt, Doorbell::Halt),
        ] {
            let fw = firmware::assemble(d).unwrap();
            let harness = &fw.code[(fw.doorbell - layout::FIRMWARE) as usize..];
            assert_eq!(X86_64::doorbell(t, MEM), harness, "{t} doorbell");
        }
    }
}
