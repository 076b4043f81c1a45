//! hvc (arm64): the guest makes an SMCCC call with HVC, which the VM's SMCCC
//! filter (KVM_ARM_VM_SMCCC_FILTER, FWD_TO_USER; Linux 6.4+) forwards to
//! userspace as KVM_EXIT_HYPERCALL. The message sits in the vCPU's
//! pre-arranged slot, so the exit carries all the host needs: no register is
//! read, and none written (KVM leaves x0 as the function ID; the doorbell
//! ignores it).

use kvm_ioctls::VcpuExit;

use super::{Doorbell, SharedArena, Transport};
use crate::layout::Layout;
use crate::Result;

pub use kvmtest_abi::UCALL_HVC_FUNC_ID;

/// `KVM_HYPERCALL_EXIT_SMC` in kvm_run.hypercall.flags: the SMC conduit.
/// The kernel's BIT(0), written as 1: `1 << 0` has an equivalent mutant
/// (`1 >> 0`) that no test can kill.
const KVM_HYPERCALL_EXIT_SMC: u32 = 1;
/// `KVM_HYPERCALL_EXIT_16BIT`: a 16-bit (T32) instruction.
const KVM_HYPERCALL_EXIT_16BIT: u32 = 1 << 1;

pub struct Hvc {
    func_id: u32,
}

impl Hvc {
    pub fn new() -> Self {
        Hvc { func_id: UCALL_HVC_FUNC_ID }
    }
}

impl Transport for Hvc {
    fn doorbell(&self) -> Doorbell {
        Doorbell::Hypercall { func_id: self.func_id }
    }
    fn message_buffer(&self, layout: &Layout, id: usize, _: &mut SharedArena) -> Result<u64> {
        Ok(layout.ucall_slot_of(id))
    }
    fn decode(&self, exit: &VcpuExit<'_>, buffer: u64) -> Option<Result<u64, String>> {
        match exit {
            // On arm64 kvm-ioctls' `longmode` is the union's `flags` member.
            VcpuExit::Hypercall(h) if h.nr == u64::from(self.func_id) => Some(match h.longmode {
                0 => Ok(buffer),
                f if f & KVM_HYPERCALL_EXIT_SMC != 0 => {
                    Err(format!("ucall function {:#x} made with SMC, expected HVC", self.func_id))
                }
                f if f & KVM_HYPERCALL_EXIT_16BIT != 0 => {
                    Err(format!("ucall function {:#x} made from T32 code", self.func_id))
                }
                f => Err(format!("ucall HVC with unknown exit flags {f:#x}")),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use kvm_ioctls::HypercallExit;

    use super::*;

    fn exit(nr: u64, flags: u32, ret: &mut u64) -> VcpuExit<'_> {
        VcpuExit::Hypercall(HypercallExit { nr, args: [0; 6], ret, longmode: flags })
    }

    const SLOT: u64 = 0x2_0000;

    #[test]
    fn claims_only_its_function_over_hvc() {
        let t = Hvc::new();
        let mut ret = 0;
        assert_eq!(t.doorbell(), Doorbell::Hypercall { func_id: UCALL_HVC_FUNC_ID });
        assert_eq!(t.decode(&exit(UCALL_HVC_FUNC_ID.into(), 0, &mut ret), SLOT), Some(Ok(SLOT)));
        assert_eq!(t.decode(&exit(0x8400_0000, 0, &mut ret), SLOT), None, "PSCI_VERSION is not a ucall");
        assert_eq!(t.decode(&exit(u64::from(UCALL_HVC_FUNC_ID) + 1, 0, &mut ret), SLOT), None);
        assert_eq!(t.decode(&exit(u64::from(UCALL_HVC_FUNC_ID) | 1 << 32, 0, &mut ret), SLOT), None, "all 64 bits");
        assert_eq!(t.decode(&VcpuExit::Hlt, SLOT), None);
        assert_eq!(ret, 0, "the host writes nothing back");
    }

    #[test]
    fn any_other_conduit_is_a_bad_doorbell() {
        let t = Hvc::new();
        let mut ret = 0;
        let mut decode = |flags| t.decode(&exit(UCALL_HVC_FUNC_ID.into(), flags, &mut ret), SLOT);
        assert_eq!(
            decode(KVM_HYPERCALL_EXIT_SMC),
            Some(Err("ucall function 0xc6005543 made with SMC, expected HVC".into()))
        );
        assert_eq!(
            decode(KVM_HYPERCALL_EXIT_SMC | KVM_HYPERCALL_EXIT_16BIT),
            Some(Err("ucall function 0xc6005543 made with SMC, expected HVC".into())),
            "SMC is named first"
        );
        assert_eq!(decode(KVM_HYPERCALL_EXIT_16BIT), Some(Err("ucall function 0xc6005543 made from T32 code".into())));
        assert_eq!(decode(1 << 2), Some(Err("ucall HVC with unknown exit flags 0x4".into())));
        assert_eq!(decode(1 << 31), Some(Err("ucall HVC with unknown exit flags 0x80000000".into())));
    }

    #[test]
    fn the_message_sits_in_the_vcpu_slot() {
        let layout = Layout::of_host(64 << 20).unwrap();
        let mut arena = super::super::SharedArena::new(&layout);
        assert_eq!(Hvc::new().message_buffer(&layout, 5, &mut arena).unwrap(), layout.ucall_slot_of(5));
        assert!(!Hvc::new().forbids_irqchip());
    }
}
