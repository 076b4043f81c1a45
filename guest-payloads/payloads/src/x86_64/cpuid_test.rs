//! The cpuid_test payload (x86_64), upstream cpuid_test.c's guest_main:
//! GUEST_SYNC(1), CPUID of every row the host wrote equals the row (all four
//! registers), GUEST_SYNC(2), KVM_CPUID_SIGNATURE.EAX is KVM_CPUID_FEATURES.
#![no_std]
#![no_main]

use kvmtest_guest::abi::cpuid_test::{
    CpuidRow, KVM_CPUID_FEATURES, KVM_CPUID_SIGNATURE, STAGE_COMPARED, STAGE_START, TABLE_ADDR_ARG, TABLE_LEN_ARG,
};
use kvmtest_guest::{arch, boot_arg, guest_assert, guest_assert_eq, guest_sync};

fn main() {
    guest_sync!(STAGE_START);

    let table = boot_arg(TABLE_ADDR_ARG) as *const CpuidRow;
    for i in 0..boot_arg(TABLE_LEN_ARG) as usize {
        // SAFETY: the host wrote TABLE_LEN_ARG rows at TABLE_ADDR_ARG in
        // identity-mapped guest RAM.
        let row = unsafe { core::ptr::read_volatile(table.add(i)) };
        let (eax, ebx, ecx, edx) = arch::cpuid(row.function, row.index);
        let got = [eax, ebx, ecx, edx];
        for (r, name) in ["eax", "ebx", "ecx", "edx"].iter().enumerate() {
            guest_assert!(
                got[r] == row.regs[r],
                "CPUID {:#x}.{:#x} {name}: expected {:#x}, got {:#x}",
                row.function,
                row.index,
                row.regs[r],
                got[r]
            );
        }
    }

    guest_sync!(STAGE_COMPARED);

    guest_assert_eq!(arch::cpuid(KVM_CPUID_SIGNATURE, 0).0, KVM_CPUID_FEATURES);
}

kvmtest_guest::entry!(main);
