//! The smccc_calls payload (arm64): makes the SMCCC calls of the table the
//! host wrote (`kvmtest_abi::smccc::SmcccCall` rows at boot argument
//! `CALLS_ADDR_ARG`, `CALLS_LEN_ARG` of them) and reports each result as
//! `GUEST_SYNC(row, a0, a1, a2, a3)`. The host owns the tables and the
//! expectations, so the hypercalls, migration, psci and smccc_filter
//! scenarios share this one guest and name every row in their failures.
#![no_std]
#![no_main]

use kvmtest_guest::smccc::{self, SmcccCall, CALLS_ADDR_ARG, CALLS_LEN_ARG};
use kvmtest_guest::{boot_arg, guest_sync};

fn main() {
    let table = boot_arg(CALLS_ADDR_ARG) as *const SmcccCall;
    for i in 0..boot_arg(CALLS_LEN_ARG) as usize {
        // SAFETY: the host wrote `CALLS_LEN_ARG` rows at `CALLS_ADDR_ARG`, in
        // identity-mapped guest RAM; a volatile read because the host may
        // rewrite the table between runs.
        let row = unsafe { core::ptr::read_volatile(table.add(i)) };
        let [a0, a1, a2, a3] = smccc::call(&row);
        guest_sync!(i as u64, a0, a1, a2, a3);
    }
}

kvmtest_guest::entry!(main);
