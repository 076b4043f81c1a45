//! Shared pieces of the scenario tests: the embedded guest payloads.

/// The no_std guest payloads, built by `build.rs` for the target arch.
pub mod payloads {
    include!(concat!(env!("OUT_DIR"), "/payloads.rs"));
}
