//! Host side of the arm64 hypercall scenarios: the SMCCC filter
//! (KVM_ARM_VM_SMCCC_FILTER, set up by `arch/aarch64/smccc_filter.rs` for
//! the hvc doorbell and re-exported here), the call table the `smccc_calls` payload
//! executes, and the vCPU knobs the services need (steal-time IPA, power
//! state, MPIDR). Function ids and return codes are `kvmtest_abi::smccc`'s,
//! the same constants the guest uses.

use kvm_bindings::{kvm_device_attr, kvm_mp_state, KVM_MP_STATE_STOPPED};
use kvm_ioctls::VmFd;
use kvmtest_abi::boot_offsets;
pub use kvmtest_abi::smccc::*;
use vm_memory::{Bytes, GuestAddress};

use crate::arch::aarch64::regs::PC;
pub use crate::arch::aarch64::smccc_filter::*;
use crate::arch::aarch64::Arm64Options;
use crate::{Error, Payload, Result, TransportKind, Vcpu, Vm};

/// `KVM_ARM_VCPU_PVTIME_CTRL` (vCPU device-attribute group) and `KVM_ARM_VCPU_PVTIME_IPA`.
pub const KVM_ARM_VCPU_PVTIME_CTRL: u32 = 2;
/// `KVM_ARM_VCPU_PVTIME_IPA`.
pub const KVM_ARM_VCPU_PVTIME_IPA: u64 = 0;
/// `KVM_HYPERCALL_EXIT_SMC`: kvm_run.hypercall.flags bit for the SMC conduit.
pub const KVM_HYPERCALL_EXIT_SMC: u64 = 1 << 0;
/// `KVM_SYSTEM_EVENT_SHUTDOWN` / `_RESET`: kvm_run.system_event.type.
pub const KVM_SYSTEM_EVENT_SHUTDOWN: u32 = 1;
/// `KVM_SYSTEM_EVENT_RESET`.
pub const KVM_SYSTEM_EVENT_RESET: u32 = 2;
/// `KVM_CAP_ARM_SYSTEM_SUSPEND`: PSCI SYSTEM_SUSPEND exits to userspace.
pub const KVM_CAP_ARM_SYSTEM_SUSPEND: u32 = 216;
/// `MPIDR_HWID_BITMASK`: the affinity fields of MPIDR_EL1, as PSCI takes them.
pub const MPIDR_HWID_BITMASK: u64 = 0xff_00ff_ffff;
/// MPIDR_EL1 (op0 3, op1 0, CRn 0, CRm 0, op2 5).
const MPIDR_EL1_ID: u64 = 0x6030_0000_0013_c005;

/// KVM_ENABLE_CAP(KVM_CAP_ARM_SYSTEM_SUSPEND) on the VM (Linux 5.19+); skips without it.
pub fn enable_system_suspend(vm: &VmFd) -> Result<()> {
    if vm.check_extension_raw(KVM_CAP_ARM_SYSTEM_SUSPEND.into()) == 0 {
        return Err(crate::kvm::skip_missing("KVM_CAP_ARM_SYSTEM_SUSPEND (Linux 5.19+)"));
    }
    let cap = kvm_bindings::kvm_enable_cap { cap: KVM_CAP_ARM_SYSTEM_SUSPEND, ..Default::default() };
    vm.enable_cap(&cap).map_err(Error::kvm("KVM_ENABLE_CAP(KVM_CAP_ARM_SYSTEM_SUSPEND)"))
}

/// A call-table row: `func_id(a1, a2, a3)` through `conduit`.
pub const fn call(func_id: u32, args: [u64; 3], conduit: Conduit) -> SmcccCall {
    SmcccCall { func_id: func_id as u64, args, conduit: conduit as u64 }
}

/// An HVC row with one argument, the common case.
pub const fn hvc(func_id: u32, a1: u64) -> SmcccCall {
    call(func_id, [a1, 0, 0], Conduit::Hvc)
}

/// Writes `rows` into guest memory and points every vCPU's boot arguments
/// at them, for the `smccc_calls` payload. Call before the first run.
pub fn load_calls(vm: &mut Vm, rows: &[SmcccCall]) -> Result<u64> {
    let size = (rows.len().max(1) * SMCCC_CALL_SIZE) as u64;
    let table = vm.shared_alloc(size)?;
    let mem_err = |e: vm_memory::GuestMemoryError| Error::Memory(format!("writing the SMCCC call table: {e}"));
    for (i, row) in rows.iter().enumerate() {
        let at = table + (i * SMCCC_CALL_SIZE) as u64;
        let words = [row.func_id, row.args[0], row.args[1], row.args[2], row.conduit];
        for (j, w) in words.iter().enumerate() {
            vm.mem().write_obj(*w, GuestAddress(at + 8 * j as u64)).map_err(mem_err)?;
        }
    }
    let n = vm.vcpus_mut().len();
    for id in 0..n {
        let args = vm.layout().boot_info_of(id) + boot_offsets::ARGS as u64;
        vm.mem().write_obj(table, GuestAddress(args + 8 * CALLS_ADDR_ARG as u64)).map_err(mem_err)?;
        vm.mem().write_obj(rows.len() as u64, GuestAddress(args + 8 * CALLS_LEN_ARG as u64)).map_err(mem_err)?;
    }
    Ok(table)
}

/// A VM of `vcpus` vCPUs running the `smccc_calls` payload (`payload`, the
/// tests' embedded ELF) through `rows`, over the MMIO transport (the hvc and
/// halt transports would claim SMCCC calls of their own).
pub fn calls_vm(payload: &'static [u8], vcpus: usize, rows: &[SmcccCall]) -> Result<Vm> {
    calls_vm_with(payload, vcpus, rows, Arm64Options::default())
}

/// [`calls_vm`] with vCPUs set up as `options` says (e.g. PSCI 0.1).
pub fn calls_vm_with(payload: &'static [u8], vcpus: usize, rows: &[SmcccCall], options: Arm64Options) -> Result<Vm> {
    let mut vm = Vm::builder()
        .payload(Payload::elf(payload))
        .transport(TransportKind::Mmio)
        .vcpus(vcpus)
        .arch_options(options)
        .build()?;
    load_calls(&mut vm, rows)?;
    Ok(vm)
}

/// `steal_time_init()` of hypercalls.c: gives every vCPU a 64-byte stolen-time
/// record in guest RAM (KVM_ARM_VCPU_PVTIME_IPA); returns their addresses.
/// Without it PV_TIME_ST has nothing to report and answers NOT_SUPPORTED.
pub fn steal_time_init(vm: &mut Vm) -> Result<Vec<u64>> {
    let n = vm.vcpus_mut().len();
    let mut ipas = Vec::with_capacity(n);
    for id in 0..n {
        let ipa = vm.shared_alloc(STEAL_TIME_SIZE)?;
        set_steal_time_ipa(vm.vcpu(id), ipa)?;
        ipas.push(ipa);
    }
    Ok(ipas)
}

/// `STEAL_TIME_SIZE`: `struct pvclock_vcpu_stolen_time` rounded up to 64 bytes.
pub const STEAL_TIME_SIZE: u64 = 64;

/// x0..x3 of each call, in table order: the guest's `GUEST_SYNC(row, a0..a3)`s.
pub type CallResults = Vec<[u64; 4]>;

/// Runs the `smccc_calls` payload on `vcpu` through `rows` calls and DONE.
pub fn run_calls(vcpu: &mut Vcpu, rows: usize) -> Result<CallResults> {
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        out.push(next_result(vcpu, i)?);
    }
    vcpu.expect_done()?;
    Ok(out)
}

/// The result of call `row`, the guest's next SYNC.
pub fn next_result(vcpu: &mut Vcpu, row: usize) -> Result<[u64; 4]> {
    let args = vcpu.expect_sync(row as u64)?;
    match *args {
        [a0, a1, a2, a3] => Ok([a0, a1, a2, a3]),
        _ => Err(Error::Check(format!("SYNC of SMCCC call {row} carries {args:?}, expected x0..x3"))),
    }
}

/// KVM_SET_DEVICE_ATTR(KVM_ARM_VCPU_PVTIME_CTRL, KVM_ARM_VCPU_PVTIME_IPA):
/// where PV_TIME_ST tells the guest its stolen-time record is (64-byte aligned).
pub fn set_steal_time_ipa(vcpu: &Vcpu, ipa: u64) -> Result<()> {
    let attr = kvm_device_attr {
        group: KVM_ARM_VCPU_PVTIME_CTRL,
        attr: KVM_ARM_VCPU_PVTIME_IPA,
        addr: &ipa as *const u64 as u64,
        flags: 0,
    };
    // The series decides (hypercalls.c's steal_time_init() asserts the set
    // succeeds); then KVM must have it: ENXIO here (a host without
    // sched_info) is a failure, named.
    crate::series::Feature::PvTime.require()?;
    vcpu.fd()
        .has_device_attr(&attr)
        .map_err(Error::kvm("KVM_HAS_DEVICE_ATTR(KVM_ARM_VCPU_PVTIME_IPA), which this kernel series has"))?;
    vcpu.fd().set_device_attr(&attr).map_err(Error::kvm("KVM_SET_DEVICE_ATTR(KVM_ARM_VCPU_PVTIME_IPA)"))
}

/// KVM_SET_MP_STATE(KVM_MP_STATE_STOPPED): the vCPU waits for a PSCI CPU_ON.
pub fn power_off(vcpu: &Vcpu) -> Result<()> {
    let state = kvm_mp_state { mp_state: KVM_MP_STATE_STOPPED };
    vcpu.fd().set_mp_state(state).map_err(Error::kvm("KVM_SET_MP_STATE(KVM_MP_STATE_STOPPED)"))
}

/// KVM_GET_MP_STATE: the vCPU's power state (KVM_MP_STATE_STOPPED once
/// powered off, by KVM_SET_MP_STATE or by its own PSCI CPU_OFF).
pub fn mp_state(vcpu: &Vcpu) -> Result<u32> {
    vcpu.fd().get_mp_state().map(|s| s.mp_state).map_err(Error::kvm("KVM_GET_MP_STATE"))
}

/// The vCPU's MPIDR_EL1 affinity, the target PSCI calls name.
pub fn mpidr(vcpu: &Vcpu) -> Result<u64> {
    Ok(read_reg(vcpu, MPIDR_EL1_ID, "KVM_GET_ONE_REG(MPIDR_EL1)")? & MPIDR_HWID_BITMASK)
}

/// KVM_GET_ONE_REG of a 64-bit register id (`regs::PC`, `regs::x(0)`, ...).
pub fn read_reg(vcpu: &Vcpu, id: u64, op: &'static str) -> Result<u64> {
    let mut b = [0u8; 8];
    vcpu.fd().get_one_reg(id, &mut b).map_err(Error::kvm(op))?;
    Ok(u64::from_le_bytes(b))
}

/// KVM_SET_ONE_REG of a 64-bit register id.
pub fn write_reg(vcpu: &Vcpu, id: u64, op: &'static str, value: u64) -> Result<()> {
    vcpu.fd().set_one_reg(id, &value.to_le_bytes()).map(|_| ()).map_err(Error::kvm(op))
}

/// The guest PC.
pub fn pc(vcpu: &Vcpu) -> Result<u64> {
    read_reg(vcpu, PC, "KVM_GET_ONE_REG(pc)")
}

/// `mov x0, #cpu_off; hvc #0; b .`: what a vCPU brought up by CPU_ON runs,
/// `cpu_off` being PSCI_0_2_FN_CPU_OFF or PSCI 0.1's KVM_PSCI_FN_CPU_OFF.
/// It starts from reset (MMU off, no stack), so it is three instructions
/// that touch no memory.
pub const fn cpu_off_stub(cpu_off: u32) -> [u32; 4] {
    const MOVZ_X0: u32 = 0xd280_0000;
    const MOVK_X0_LSL16: u32 = 0xf2a0_0000;
    [
        MOVZ_X0 | ((cpu_off & 0xffff) << 5),
        MOVK_X0_LSL16 | ((cpu_off >> 16) << 5),
        0xd400_0002, // hvc #0
        0x1400_0000, // b .
    ]
}
/// The PSCI 0.2+ stub, [`cpu_off_stub`] of PSCI_0_2_FN_CPU_OFF.
pub const CPU_OFF_STUB: [u32; 4] = cpu_off_stub(PSCI_0_2_FN_CPU_OFF);
/// Offset in a CPU_OFF stub of the instruction after the HVC.
pub const CPU_OFF_STUB_AFTER_HVC: u64 = 12;

/// Writes [`cpu_off_stub`]`(cpu_off)` to guest memory; returns its address
/// (a CPU_ON entry point).
pub fn load_cpu_off_stub(vm: &mut Vm, cpu_off: u32) -> Result<u64> {
    let stub = cpu_off_stub(cpu_off);
    let at = vm.shared_alloc(std::mem::size_of_val(&stub) as u64)?;
    for (i, insn) in stub.iter().enumerate() {
        vm.mem()
            .write_obj(*insn, GuestAddress(at + 4 * i as u64))
            .map_err(|e| Error::Memory(format!("writing the CPU_OFF stub: {e}")))?;
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_off_stub_loads_psci_cpu_off() {
        // The encodings an assembler gives `movz x0, #0x0002` and `movk x0, #0x8400, lsl #16`.
        assert_eq!(CPU_OFF_STUB[..2], [0xd280_0040, 0xf2b0_8000]);
        // movz imm16 at bits 5..20, movk with hw=1 the same.
        for id in [PSCI_0_2_FN_CPU_OFF, KVM_PSCI_FN_CPU_OFF] {
            let stub = cpu_off_stub(id);
            let lo = (stub[0] >> 5) & 0xffff;
            let hi = (stub[1] >> 5) & 0xffff;
            assert_eq!((hi << 16) | lo, id);
        }
    }

    #[test]
    fn uapi_values() {
        assert_eq!(KVM_ARM_VCPU_PVTIME_CTRL, kvm_bindings::KVM_ARM_VCPU_PVTIME_CTRL);
        assert_eq!(KVM_SYSTEM_EVENT_RESET, kvm_bindings::KVM_SYSTEM_EVENT_RESET);
        assert_eq!(KVM_CAP_ARM_SYSTEM_SUSPEND, kvm_bindings::KVM_CAP_ARM_SYSTEM_SUSPEND);
    }
}
