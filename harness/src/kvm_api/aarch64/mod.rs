//! arm64 KVM API for the scenarios under tests/aarch64/: the firmware
//! pseudo-registers (`fw_regs`) and the SMCCC services and filter (`smccc`).

pub mod fw_regs;
pub mod smccc;

pub use self::fw_regs::{FwBit, FwReg, FwRegs};
