//! The hypercall-service probe (KVM PV, Hyper-V and Xen conventions): runs the probe the host put in boot
//! arguments, reports what happened with SYNC(1, ...), and repeats until
//! the host sets probe kind 0. The host judges the results (it knows the
//! service's name and the documented rule), so one VM can probe many
//! services, as kvm_pv_test's guest_main walks its tables.
//!
//! Boot arguments: 0 = kind, then per kind
//! - MSR: 1 = index, 2 = value to write, 3 = which accesses (1 read, 2 write, 0 both);
//! - HCALL (KVM): 1 = nr, 2..=5 = a0..a3, 6 = instruction (0 the CPU's own,
//!   1 the other vendor's: fix_hypercall_test); reports the instruction's address too;
//! - CPUID: 1 = leaf, 2 = subleaf;
//! - HV_HCALL (Hyper-V): 1 = control, 2 = input GPA, 3 = output GPA;
//! - XEN_HCALL / XEN_PAGE_HCALL: 1 = nr, 2 = hypercall page GPA (XEN_PAGE_HCALL)
//!   or instruction (XEN_HCALL: 0 the CPU's own, 1 the other vendor's); the six
//!   parameters are `XEN_ARG_BASE + 1..=6`, as in xen_vmcall_test.c;
//! - HV_PAGE_HCALL (Hyper-V through its hypercall page): 1 = control, 2 = input GPA,
//!   3 = output GPA, 4 = hypercall page GPA (xen_vmcall_test's coexistence call).
//!
//! x86_64 only: on other arches this payload is an empty guest, which no
//! test runs (the tests that use it live in tests/x86_64/).
#![no_std]
#![no_main]

#[cfg(target_arch = "x86_64")]
mod probe {
    use kvmtest_guest::abi::probe::{ProbeKind, FOREIGN_INSN, MSR_READ, MSR_WRITE, NO_EXCEPTION, XEN_ARG_BASE};
    use kvmtest_guest::arch::{
        cpuid, hyperv_hypercall_page, hyperv_hypercall_safe, kvm_hypercall_safe, rdmsr_safe, wrmsr_safe,
        xen_hypercall_insn, xen_hypercall_page, HypercallInsn,
    };
    use kvmtest_guest::{boot_arg, guest_sync};

    /// The kinds of [`ProbeKind`] as match patterns (a match on the raw
    /// boot argument, as this payload has always compiled it; an unknown
    /// kind is reported as SYNC(0xbad, kind)).
    const DONE: u64 = ProbeKind::Done as u64;
    const MSR: u64 = ProbeKind::Msr as u64;
    const HCALL: u64 = ProbeKind::Hcall as u64;
    const CPUID: u64 = ProbeKind::Cpuid as u64;
    const HV_HCALL: u64 = ProbeKind::HvHcall as u64;
    const XEN_HCALL: u64 = ProbeKind::XenHcall as u64;
    const XEN_PAGE_HCALL: u64 = ProbeKind::XenPageHcall as u64;
    const HV_PAGE_HCALL: u64 = ProbeKind::HvPageHcall as u64;

    // Each kind's operands (boot arguments 1..) are documented on
    // `ProbeKind`, in the kvmtest-abi crate the host reads them from too.

    /// MSR accesses (boot argument 3).
    const READ: u64 = MSR_READ;
    const WRITE: u64 = MSR_WRITE;

    /// The six Xen hypercall parameters, `XEN_ARG_BASE + 1..=6`
    /// (xen_vmcall_test's ARGVALUE).
    const XEN_ARGS: [u64; 6] =
        [XEN_ARG_BASE + 1, XEN_ARG_BASE + 2, XEN_ARG_BASE + 3, XEN_ARG_BASE + 4, XEN_ARG_BASE + 5, XEN_ARG_BASE + 6];

    fn vector<T>(r: &Result<T, u8>) -> u64 {
        match r {
            Ok(_) => NO_EXCEPTION,
            Err(v) => u64::from(*v),
        }
    }

    fn insn(arg: u64) -> HypercallInsn {
        if arg == FOREIGN_INSN {
            HypercallInsn::foreign()
        } else {
            HypercallInsn::native()
        }
    }

    pub fn main() {
        loop {
            match boot_arg(0) {
                DONE => return,
                MSR => {
                    // kvm_pv_test's test_msr: RDMSR, then WRMSR of the given value.
                    let msr = boot_arg(1) as u32;
                    let ops = match boot_arg(3) {
                        0 => READ | WRITE,
                        o => o,
                    };
                    let rd = if ops & READ != 0 { rdmsr_safe(msr) } else { Ok(0) };
                    let wr = if ops & WRITE != 0 { wrmsr_safe(msr, boot_arg(2)) } else { Ok(()) };
                    guest_sync!(1, vector(&rd), rd.unwrap_or(0), vector(&wr));
                }
                HCALL => {
                    let insn = insn(boot_arg(6));
                    let r = kvm_hypercall_safe(insn, boot_arg(1), boot_arg(2), boot_arg(3), boot_arg(4), boot_arg(5));
                    guest_sync!(1, vector(&r.result), r.result.unwrap_or(0), r.insn_addr);
                }
                CPUID => {
                    let (a, b, c, d) = cpuid(boot_arg(1) as u32, boot_arg(2) as u32);
                    guest_sync!(1, a, b, c, d);
                }
                HV_HCALL => {
                    let r = hyperv_hypercall_safe(boot_arg(1), boot_arg(2), boot_arg(3));
                    guest_sync!(1, vector(&r), r.unwrap_or(0));
                }
                XEN_HCALL => guest_sync!(1, xen_hypercall_insn(insn(boot_arg(2)), boot_arg(1), XEN_ARGS)),
                XEN_PAGE_HCALL => guest_sync!(1, xen_hypercall_page(boot_arg(2), boot_arg(1), XEN_ARGS)),
                HV_PAGE_HCALL => {
                    guest_sync!(1, hyperv_hypercall_page(boot_arg(4), boot_arg(1), boot_arg(2), boot_arg(3)))
                }
                other => guest_sync!(0xbad, other),
            }
        }
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    probe::main();
}

kvmtest_guest::entry!(main);
