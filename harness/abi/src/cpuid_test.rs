//! The `cpuid_test` payload's contract (upstream cpuid_test.c): the host
//! writes the vCPU's CPUID table as [`CpuidRow`]s and passes its address and
//! length as boot arguments; the guest executes CPUID for each row and
//! compares all four registers.

/// One CPUID entry as the guest reads it: `kvm_cpuid_entry2` without flags.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuidRow {
    /// The leaf (EAX in).
    pub function: u32,
    /// The subleaf (ECX in).
    pub index: u32,
    /// EAX, EBX, ECX, EDX out.
    pub regs: [u32; 4],
}

/// Bytes of one [`CpuidRow`] in guest memory.
pub const CPUID_ROW_SIZE: usize = 24;
/// Boot argument holding the guest address of the table.
pub const TABLE_ADDR_ARG: usize = 0;
/// Boot argument holding the number of rows.
pub const TABLE_LEN_ARG: usize = 1;
/// KVM_CPUID_SIGNATURE, whose EAX is the largest KVM leaf (X86_PROPERTY_MAX_KVM_LEAF).
pub const KVM_CPUID_SIGNATURE: u32 = 0x4000_0000;
/// KVM_CPUID_FEATURES: what KVM_CPUID_SIGNATURE.EAX must be (cpuid_test.c).
pub const KVM_CPUID_FEATURES: u32 = 0x4000_0001;
/// GUEST_SYNC stage before the comparison.
pub const STAGE_START: u64 = 1;
/// GUEST_SYNC stage after the comparison.
pub const STAGE_COMPARED: u64 = 2;

const _: () = assert!(core::mem::size_of::<CpuidRow>() == CPUID_ROW_SIZE);
