//! What an EXCEPTION report from either arch's firmware means: pure functions
//! of the values the guest reported (vector, ESR, ELR, FAR, PC), compiled on
//! every host so that an x86_64 host's unit tests pin the arm64 decoder too.
//! The `Arch` impls read registers and call these; nothing here touches KVM.

// Each host's build calls only its own arch's decoder; the other's is kept
// (and tested) on every host, so its items are dead code outside tests.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
pub mod aarch64;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub mod x86_64;
