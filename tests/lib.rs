//! Shared pieces of the scenario tests: the embedded guest payloads, and
//! the host side of the x86 hypercall probe.

/// The no_std guest payloads, built by `build.rs` for the target arch.
pub mod payloads {
    include!(concat!(env!("OUT_DIR"), "/payloads.rs"));
}

/// Host side of the `hypercall_probe` payload (x86_64 scenarios only).
#[cfg(target_arch = "x86_64")]
#[path = "x86_64/probe.rs"]
pub mod probe;
