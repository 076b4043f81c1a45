//! A vCPU's whole state as a VMM migrates it: selftests' vcpu_save_state()
//! and vcpu_load_state() (lib/x86_64/processor.c), the same ioctls in the
//! same order: events, MP state, regs, XSAVE, XCRs, sregs, nested state,
//! every MSR of KVM_GET_MSR_INDEX_LIST, debug registers; and one MSR read
//! or written as the VMM (vcpu_get_msr(), vcpu_set_msr()).

use kvm_bindings::{
    kvm_debugregs, kvm_mp_state, kvm_msr_entry, kvm_regs, kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave, Msrs, Xsave,
    KVM_CAP_NESTED_STATE, KVM_CAP_XCRS, KVM_CAP_XSAVE2,
};

use kvm_ioctls::{KvmNestedStateBuffer, VcpuFd};

use crate::{Error, Result, Vcpu};

/// Everything vcpu_save_state() saves. `xcrs` is `None` without
/// KVM_CAP_XCRS, `nested` without KVM_CAP_NESTED_STATE.
#[derive(Clone)]
pub struct VcpuState {
    /// KVM_GET_VCPU_EVENTS.
    pub events: kvm_vcpu_events,
    /// KVM_GET_MP_STATE.
    pub mp_state: kvm_mp_state,
    /// KVM_GET_REGS.
    pub regs: kvm_regs,
    /// KVM_GET_XSAVE2 into a buffer of KVM_CAP_XSAVE2's size (KVM_GET_XSAVE's
    /// 4096 bytes where the capability is missing).
    pub xsave: Xsave,
    /// KVM_GET_XCRS.
    pub xcrs: Option<kvm_xcrs>,
    /// KVM_GET_SREGS.
    pub sregs: kvm_sregs,
    /// KVM_GET_NESTED_STATE.
    pub nested: Option<KvmNestedStateBuffer>,
    /// KVM_GET_MSRS of every index KVM_GET_MSR_INDEX_LIST names.
    pub msrs: Vec<kvm_msr_entry>,
    /// KVM_GET_DEBUGREGS.
    pub debugregs: kvm_debugregs,
}

impl std::fmt::Debug for VcpuState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuState")
            .field("regs", &self.regs)
            .field("sregs", &self.sregs)
            .field("events", &self.events)
            .field("mp_state", &self.mp_state.mp_state)
            .field("xcrs", &self.xcrs)
            .field("msrs", &self.msrs.len())
            .field("debugregs", &self.debugregs)
            .field("nested", &self.nested.as_ref().map(|n| (n.flags, n.format, n.size)))
            .finish_non_exhaustive()
    }
}

/// Bytes KVM_GET_XSAVE2/KVM_SET_XSAVE move: KVM_CAP_XSAVE2's answer, at least
/// the legacy struct (x86.c: "if (r < sizeof(struct kvm_xsave)) r = sizeof(...)").
fn xsave_size() -> Result<usize> {
    let size = crate::kvm::check_cap_raw(KVM_CAP_XSAVE2.into())?;
    Ok((size.max(0) as usize).max(std::mem::size_of::<kvm_xsave>()))
}

fn xsave_buffer(size: usize) -> Result<Xsave> {
    let entry = std::mem::size_of::<u32>();
    let fam = (size - std::mem::size_of::<kvm_xsave>()).div_ceil(entry);
    Xsave::new(fam).map_err(|e| Error::Config(format!("an XSAVE buffer of {size} bytes: {e:?}")))
}

/// KVM_SET_XSAVE of `xsave` on any vCPU fd (vcpu_xsave_set()), e.g. a
/// second vCPU that never had KVM_SET_CPUID2.
pub fn set_xsave(fd: &VcpuFd, xsave: &Xsave) -> Result<()> {
    let size = xsave_size()?;
    let have = std::mem::size_of::<kvm_xsave>() + std::mem::size_of_val(xsave.as_slice());
    if have < size {
        return Err(Error::Config(format!("an XSAVE buffer of {have} bytes, KVM_SET_XSAVE reads {size}")));
    }
    // SAFETY: the buffer holds at least KVM_CAP_XSAVE2's size (checked
    // above), all KVM_SET_XSAVE reads while no dynamic XSTATE feature is enabled.
    unsafe { fd.set_xsave2(xsave) }.map_err(Error::kvm("KVM_SET_XSAVE"))
}

/// Byte offset of XSTATE_BV in the XSAVE area: the XSAVE header follows the
/// 512-byte legacy region (SDM vol. 1, 13.4.2).
const XSTATE_BV_WORD: usize = 512 / 4;

impl VcpuState {
    /// XSTATE_BV of the saved XSAVE area: which state components are out of
    /// their init state.
    pub fn xstate_bv(&self) -> u64 {
        let region = &self.xsave.as_fam_struct_ref().xsave.region;
        u64::from(region[XSTATE_BV_WORD]) | u64::from(region[XSTATE_BV_WORD + 1]) << 32
    }

    /// Rewrites XSTATE_BV of the saved XSAVE area.
    pub fn set_xstate_bv(&mut self, bv: u64) {
        // SAFETY: only the fixed-size legacy part of the struct is written,
        // not its length.
        let region = unsafe { &mut self.xsave.as_mut_fam_struct().xsave.region };
        region[XSTATE_BV_WORD] = bv as u32;
        region[XSTATE_BV_WORD + 1] = (bv >> 32) as u32;
    }
}

/// The indices KVM_GET_MSR_INDEX_LIST returns (kvm_get_msr_index_list()).
pub fn msr_index_list() -> Result<Vec<u32>> {
    let kvm = crate::kvm::open_kvm()?;
    let list = kvm.get_msr_index_list().map_err(Error::kvm("KVM_GET_MSR_INDEX_LIST"))?;
    Ok(list.as_slice().to_vec())
}

impl Vcpu {
    /// vcpu_save_state(): completes a pending I/O exit first (KVM's state is
    /// consistent only after re-entering KVM_RUN), then reads every part.
    /// Every MSR of the index list must read back, as upstream asserts.
    pub fn save_state(&mut self) -> Result<VcpuState> {
        let nested_size = crate::kvm::check_cap_raw(KVM_CAP_NESTED_STATE.into())?;
        let nested_max = std::mem::size_of::<KvmNestedStateBuffer>();
        if nested_size as usize > nested_max {
            return Err(Error::Check(format!("Nested state size too big, {nested_size} > {nested_max}")));
        }
        self.complete_io()?;
        let fd = self.fd();
        let events = fd.get_vcpu_events().map_err(Error::kvm("KVM_GET_VCPU_EVENTS"))?;
        let mp_state = fd.get_mp_state().map_err(Error::kvm("KVM_GET_MP_STATE"))?;
        let regs = fd.get_regs().map_err(Error::kvm("KVM_GET_REGS"))?;
        let mut xsave = xsave_buffer(xsave_size()?)?;
        // SAFETY: `xsave` holds KVM_CAP_XSAVE2's size, what KVM_GET_XSAVE2
        // writes while this process enables no dynamic XSTATE features
        // (the harness never calls arch_prctl(ARCH_REQ_XCOMP_PERM)).
        unsafe { fd.get_xsave2(&mut xsave) }.map_err(Error::kvm("KVM_GET_XSAVE2"))?;
        let xcrs = match crate::kvm::check_cap_raw(KVM_CAP_XCRS.into())? {
            0 => None,
            _ => Some(fd.get_xcrs().map_err(Error::kvm("KVM_GET_XCRS"))?),
        };
        let sregs = fd.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?;
        let nested = if nested_size > 0 {
            let mut buffer = KvmNestedStateBuffer::empty();
            fd.nested_state(&mut buffer).map_err(Error::kvm("KVM_GET_NESTED_STATE"))?;
            if buffer.size as i32 > nested_size {
                return Err(Error::Check(format!(
                    "Nested state size too big, {} (KVM_CHECK_CAP gave {nested_size})",
                    buffer.size
                )));
            }
            Some(buffer)
        } else {
            None
        };
        let indices = msr_index_list()?;
        let entries: Vec<kvm_msr_entry> =
            indices.iter().map(|&index| kvm_msr_entry { index, ..Default::default() }).collect();
        let mut msrs =
            Msrs::from_entries(&entries).map_err(|e| Error::Config(format!("{} MSRs: {e:?}", entries.len())))?;
        let n = fd.get_msrs(&mut msrs).map_err(Error::kvm("KVM_GET_MSRS"))?;
        if n != entries.len() {
            let failed = msrs.as_slice().get(n).map(|m| m.index).unwrap_or_default();
            return Err(Error::Check(format!(
                "KVM_GET_MSRS of the {} MSRs of KVM_GET_MSR_INDEX_LIST read {n}: MSR {failed:#x} failed",
                entries.len()
            )));
        }
        let debugregs = fd.get_debug_regs().map_err(Error::kvm("KVM_GET_DEBUGREGS"))?;
        Ok(VcpuState { events, mp_state, regs, xsave, xcrs, sregs, nested, msrs: msrs.as_slice().to_vec(), debugregs })
    }

    /// vcpu_load_state(): sregs, MSRs, XCRs, XSAVE, events, MP state, debug
    /// registers, regs, nested state, in upstream's order. The VM needs an
    /// in-kernel irqchip, as every selftests VM has (`VmBuilder::irqchip`):
    /// KVM refuses the saved MSR_KVM_ASYNC_PF_INT without one.
    pub fn load_state(&self, state: &VcpuState) -> Result<()> {
        let fd = self.fd();
        fd.set_sregs(&state.sregs).map_err(Error::kvm("KVM_SET_SREGS"))?;
        let msrs =
            Msrs::from_entries(&state.msrs).map_err(|e| Error::Config(format!("{} MSRs: {e:?}", state.msrs.len())))?;
        let n = fd.set_msrs(&msrs).map_err(Error::kvm("KVM_SET_MSRS"))?;
        if n != state.msrs.len() {
            let failed = state.msrs.get(n).map(|m| (m.index, m.data)).unwrap_or_default();
            return Err(Error::Check(format!(
                "KVM_SET_MSRS of {} saved MSRs wrote {n}: MSR {:#x} = {:#x} failed",
                state.msrs.len(),
                failed.0,
                failed.1
            )));
        }
        if let Some(xcrs) = &state.xcrs {
            fd.set_xcrs(xcrs).map_err(Error::kvm("KVM_SET_XCRS"))?;
        }
        set_xsave(fd, &state.xsave)?;
        fd.set_vcpu_events(&state.events).map_err(Error::kvm("KVM_SET_VCPU_EVENTS"))?;
        fd.set_mp_state(state.mp_state).map_err(Error::kvm("KVM_SET_MP_STATE"))?;
        fd.set_debug_regs(&state.debugregs).map_err(Error::kvm("KVM_SET_DEBUGREGS"))?;
        fd.set_regs(&state.regs).map_err(Error::kvm("KVM_SET_REGS"))?;
        if let Some(nested) = &state.nested {
            fd.set_nested_state(nested).map_err(Error::kvm("KVM_SET_NESTED_STATE"))?;
        }
        Ok(())
    }
}

impl Vcpu {
    /// vcpu_get_msr(): KVM_GET_MSRS of one MSR, host-initiated; an MSR KVM
    /// does not read is an error naming it.
    pub fn get_msr(&self, index: u32) -> Result<u64> {
        let mut msrs = Msrs::from_entries(&[kvm_msr_entry { index, ..Default::default() }])
            .map_err(|e| Error::Config(format!("one MSR: {e:?}")))?;
        let n = self.fd().get_msrs(&mut msrs).map_err(Error::kvm("KVM_GET_MSRS"))?;
        if n != 1 {
            return Err(Error::Check(format!("KVM_GET_MSRS of MSR {index:#x}: KVM read {n} of 1")));
        }
        Ok(msrs.as_slice()[0].data)
    }

    /// vcpu_set_msr(): KVM_SET_MSRS of one MSR, host-initiated; a value KVM
    /// refuses is an error naming it.
    pub fn set_msr(&self, index: u32, data: u64) -> Result<()> {
        let msrs = Msrs::from_entries(&[kvm_msr_entry { index, data, ..Default::default() }])
            .map_err(|e| Error::Config(format!("one MSR: {e:?}")))?;
        let n = self.fd().set_msrs(&msrs).map_err(Error::kvm("KVM_SET_MSRS"))?;
        if n != 1 {
            return Err(Error::Check(format!("KVM_SET_MSRS of MSR {index:#x} = {data:#x}: KVM wrote {n} of 1")));
        }
        Ok(())
    }
}
