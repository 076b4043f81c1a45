//! The state_test_vmx payload (x86_64): upstream x86_64/state_test.c's
//! guest_code with vmx_l1_guest_code() and vmx_l2_guest_code(), stages 1-13.
//! An L1 hypervisor enters VMX operation, runs L2, and syncs with the host
//! at every step (VMXON done, VMCS loaded, L2 running, shadow VMCS current,
//! L2 reading and writing the shadow VMCS), so the host saves and restores
//! the vCPU's nested state at each. Boot argument 0: the `VmxPages` record
//! (vcpu_alloc_vmx()). The XSAVE stage is the `stages_xsave` trial's.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use kvmtest_guest::abi::vmx::field::{GUEST_RIP, SECONDARY_VM_EXEC_CONTROL, VMCS_LINK_POINTER, VM_EXIT_REASON};
use kvmtest_guest::abi::vmx::{vmxerr, VmxPages, EXIT_REASON_VMCALL, SECONDARY_EXEC_SHADOW_VMCS};
use kvmtest_guest::vmx::{
    l2_vmcall, load_vmcs, prepare_for_vmx_operation, prepare_vmcs, vmlaunch, vmptrld, vmptrstz, vmreadz, vmresume,
    vmwrite, VmFail,
};
use kvmtest_guest::{arch, boot_arg, guest_assert, guest_assert_eq, guest_sync};

/// L2's stack (upstream: `unsigned long l2_guest_stack[L2_GUEST_STACK_SIZE]`
/// on L1's stack; here room for a failed assertion's formatting too).
#[repr(C, align(16))]
struct L2Stack([u8; 8192]);
static mut L2_GUEST_STACK: L2Stack = L2Stack([0; 8192]);

/// `GUEST_ASSERT(!insn)` / `GUEST_ASSERT(insn)` with the SDM's outcome
/// named: success, VMfailInvalid, or VMfailValid with its error number.
macro_rules! expect_vmx {
    ($call:expr, $expected:expr) => {{
        let got: Result<(), VmFail> = $call;
        let expected: Result<(), VmFail> = $expected;
        guest_assert!(got == expected, "{}: expected {:?}, got {:?}", stringify!($call), expected, got);
    }};
}

extern "C" fn vmx_l2_guest_code() -> ! {
    guest_sync!(6);

    // Exit to L1.
    l2_vmcall();

    // L1 has now set up a shadow VMCS for us.
    guest_assert_eq!(vmreadz(GUEST_RIP), 0xc0ffee);
    guest_sync!(10);
    guest_assert_eq!(vmreadz(GUEST_RIP), 0xc0ffee);
    expect_vmx!(vmwrite(GUEST_RIP, 0xc0fffee), Ok(()));
    guest_sync!(11);
    guest_assert_eq!(vmreadz(GUEST_RIP), 0xc0fffee);
    expect_vmx!(vmwrite(GUEST_RIP, 0xc0ffffee), Ok(()));
    guest_sync!(12);

    // Done, exit to L1 and never come back.
    l2_vmcall();
    arch::undefined_instruction()
}

fn vmx_l1_guest_code(vmx_pages: &VmxPages) {
    guest_assert!(vmx_pages.vmcs_gpa != 0);
    expect_vmx!(prepare_for_vmx_operation(vmx_pages), Ok(()));
    guest_sync!(3);
    expect_vmx!(load_vmcs(vmx_pages), Ok(()));
    guest_assert_eq!(vmptrstz(), vmx_pages.vmcs_gpa);

    guest_sync!(4);
    guest_assert_eq!(vmptrstz(), vmx_pages.vmcs_gpa);

    // As if called: the return-address slot below the top keeps the ABI's alignment.
    let l2_stack_top = addr_of_mut!(L2_GUEST_STACK) as u64 + core::mem::size_of::<L2Stack>() as u64 - 8;
    prepare_vmcs(vmx_pages, vmx_l2_guest_code as *const () as u64, l2_stack_top);

    guest_sync!(5);
    guest_assert_eq!(vmptrstz(), vmx_pages.vmcs_gpa);
    expect_vmx!(vmlaunch(), Ok(()));
    guest_assert_eq!(vmptrstz(), vmx_pages.vmcs_gpa);
    guest_assert_eq!(vmreadz(VM_EXIT_REASON), EXIT_REASON_VMCALL);

    // Check that the launched state is preserved (SDM: VMLAUNCH of a
    // launched VMCS is VMfailValid, "VMLAUNCH with non-clear VMCS").
    expect_vmx!(vmlaunch(), Err(VmFail::Valid(vmxerr::VMLAUNCH_NONCLEAR_VMCS)));

    expect_vmx!(vmresume(), Ok(()));
    guest_assert_eq!(vmreadz(VM_EXIT_REASON), EXIT_REASON_VMCALL);

    guest_sync!(7);
    guest_assert_eq!(vmreadz(VM_EXIT_REASON), EXIT_REASON_VMCALL);

    expect_vmx!(vmresume(), Ok(()));
    guest_assert_eq!(vmreadz(VM_EXIT_REASON), EXIT_REASON_VMCALL);

    let _ = vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + 3);

    let _ = vmwrite(SECONDARY_VM_EXEC_CONTROL, u64::from(SECONDARY_EXEC_SHADOW_VMCS));
    let _ = vmwrite(VMCS_LINK_POINTER, vmx_pages.shadow_vmcs_gpa);

    // A shadow VMCS cannot be entered: VMfailInvalid, no error number
    // (SDM 25.10; KVM's nested_vmx_run()).
    expect_vmx!(vmptrld(vmx_pages.shadow_vmcs_gpa), Ok(()));
    expect_vmx!(vmlaunch(), Err(VmFail::Invalid));
    guest_sync!(8);
    expect_vmx!(vmlaunch(), Err(VmFail::Invalid));
    expect_vmx!(vmresume(), Err(VmFail::Invalid));

    let _ = vmwrite(GUEST_RIP, 0xc0ffee);
    guest_sync!(9);
    guest_assert_eq!(vmreadz(GUEST_RIP), 0xc0ffee);

    expect_vmx!(vmptrld(vmx_pages.vmcs_gpa), Ok(()));
    expect_vmx!(vmresume(), Ok(()));
    guest_assert_eq!(vmreadz(VM_EXIT_REASON), EXIT_REASON_VMCALL);

    expect_vmx!(vmptrld(vmx_pages.shadow_vmcs_gpa), Ok(()));
    guest_assert_eq!(vmreadz(GUEST_RIP), 0xc0ffffee);
    expect_vmx!(vmlaunch(), Err(VmFail::Invalid));
    expect_vmx!(vmresume(), Err(VmFail::Invalid));
    guest_sync!(13);
    guest_assert_eq!(vmreadz(GUEST_RIP), 0xc0ffffee);
    expect_vmx!(vmlaunch(), Err(VmFail::Invalid));
    expect_vmx!(vmresume(), Err(VmFail::Invalid));
}

fn main() {
    guest_sync!(1);
    guest_sync!(2);
    let pages_gva = boot_arg(0);
    guest_assert!(pages_gva != 0, "no VmxPages: the host skips nested VMX where it cannot run");
    // SAFETY: the host wrote a `VmxPages` record at this identity-mapped,
    // 8-byte-aligned address (vcpu_alloc_vmx()).
    let vmx_pages = unsafe { core::ptr::read_volatile(pages_gva as *const VmxPages) };
    vmx_l1_guest_code(&vmx_pages);
}

kvmtest_guest::entry!(main);
