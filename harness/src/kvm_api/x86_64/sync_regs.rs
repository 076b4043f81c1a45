//! KVM_CAP_SYNC_REGS on x86: the register sets KVM copies into kvm_run's
//! `s.regs` after an exit (`kvm_valid_regs`) and takes from it before
//! entering the guest (`kvm_dirty_regs`), Documentation/virt/kvm/api.rst
//! "kvm_valid_regs".

use kvm_bindings::{kvm_run, kvm_sync_regs};

pub use kvm_bindings::{KVM_SYNC_X86_EVENTS, KVM_SYNC_X86_REGS, KVM_SYNC_X86_SREGS, KVM_SYNC_X86_VALID_FIELDS};

use crate::Vcpu;

/// A vCPU's kvm_run seen through KVM_CAP_SYNC_REGS, borrowed between KVM_RUNs.
pub struct SyncRegs<'a> {
    run: &'a mut kvm_run,
}

impl SyncRegs<'_> {
    /// `kvm_valid_regs`: the sets KVM writes to `s.regs` at the next exit.
    pub fn valid(&self) -> u64 {
        self.run.kvm_valid_regs
    }

    /// Sets `kvm_valid_regs`.
    pub fn set_valid(&mut self, sets: u64) {
        self.run.kvm_valid_regs = sets;
    }

    /// `kvm_dirty_regs`: the sets KVM loads from `s.regs` at the next KVM_RUN.
    pub fn dirty(&self) -> u64 {
        self.run.kvm_dirty_regs
    }

    /// Sets `kvm_dirty_regs`.
    pub fn set_dirty(&mut self, sets: u64) {
        self.run.kvm_dirty_regs = sets;
    }

    /// `s.regs`.
    pub fn regs(&self) -> &kvm_sync_regs {
        // SAFETY: kvm_sync_regs is plain integers, valid for any bytes, and
        // it is the union member KVM reads and writes on x86.
        unsafe { &self.run.s.regs }
    }

    /// `s.regs`, to be written (and marked in `kvm_dirty_regs`).
    pub fn regs_mut(&mut self) -> &mut kvm_sync_regs {
        // SAFETY: as in `regs`.
        unsafe { &mut self.run.s.regs }
    }
}

impl Vcpu {
    /// The KVM_CAP_SYNC_REGS fields of this vCPU's kvm_run.
    pub fn sync_regs(&mut self) -> SyncRegs<'_> {
        SyncRegs { run: self.kvm_run() }
    }
}
