//! The init of `cargo xtask vm-test`'s emulated machines (src/main.rs), its
//! KVM smoke test (src/bin/kvm-smoke.rs), and the protocol both share with xtask.

pub mod protocol;
