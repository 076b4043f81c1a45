//! SMCCC calls from the guest (arm64 only): the function ids and return codes
//! of `kvmtest_abi::smccc` (the host uses the same ones), and one wrapper per
//! conduit over the arch module's `smccc_hvc` / `smccc_smc`.

pub use kvmtest_abi::smccc::*;

pub use crate::arch::SmcccRet;

/// `smccc_hvc(func_id, a1, a2, a3, 0, 0, 0, 0)`: the call with HVC, x0..x3 back.
#[inline(always)]
pub fn hvc(func_id: u32, a1: u64, a2: u64, a3: u64) -> SmcccRet {
    crate::arch::smccc_hvc(func_id, a1, a2, a3, 0, 0, 0, 0)
}

/// The same call with SMC.
#[inline(always)]
pub fn smc(func_id: u32, a1: u64, a2: u64, a3: u64) -> SmcccRet {
    crate::arch::smccc_smc(func_id, a1, a2, a3, 0, 0, 0, 0)
}

/// Makes the call `row` describes with its conduit.
pub fn call(row: &SmcccCall) -> SmcccRet {
    let [a1, a2, a3] = row.args;
    if row.conduit == Conduit::Smc as u64 {
        smc(row.func_id as u32, a1, a2, a3)
    } else {
        hvc(row.func_id as u32, a1, a2, a3)
    }
}
