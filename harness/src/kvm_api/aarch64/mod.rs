//! arm64 KVM API for the scenarios under tests/aarch64/: the firmware
//! pseudo-registers (`fw_regs`), the SMCCC services and filter (`smccc`),
//! KVM_GET_REG_LIST with the ONE_REG ids and vCPU features, and the arm64
//! ioctls of a `kvmtest::bare_vm` vCPU (`reg_list`), the vGIC as a KVM
//! device on a bare VM (`vgic`), PV stolen time (`steal_time`, reached as
//! `kvmtest::steal_time` by the generic steal_time scenario), and the
//! writable feature ID registers' masks (`id_regs`).

pub mod fw_regs;
pub mod id_regs;
pub mod reg_list;
pub mod smccc;
pub mod steal_time;
pub mod vgic;

pub use self::fw_regs::{FwBit, FwReg, FwRegs};
