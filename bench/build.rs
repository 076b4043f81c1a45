//! Embeds the upstream peer program (bench/upstream/ucall_bench.c, built on
//! the kernel's KVM selftest library by `cargo xtask bench`) into the bench,
//! so that it travels with the bench binary into the emulated machines.
//!
//! `KVMTEST_BENCH_UPSTREAM=PATH`: the static program to embed.
//! `KVMTEST_BENCH_UPSTREAM_SKIP=REASON`: why it could not be built; the
//! upstream rows are then skipped with this reason. Neither (plain
//! `cargo bench`): skipped, saying how to get them.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=KVMTEST_BENCH_UPSTREAM");
    println!("cargo:rerun-if-env-changed=KVMTEST_BENCH_UPSTREAM_SKIP");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("ucall_bench");
    let (bytes, skip) = match env::var_os("KVMTEST_BENCH_UPSTREAM") {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
            match std::fs::read(&path) {
                Ok(b) => (b, String::new()),
                Err(e) => (Vec::new(), format!("reading {}: {e}", PathBuf::from(&path).display())),
            }
        }
        None => (
            Vec::new(),
            env::var("KVMTEST_BENCH_UPSTREAM_SKIP")
                .unwrap_or_else(|_| "the upstream program is built by `cargo xtask bench` only".into()),
        ),
    };
    std::fs::write(&out, bytes).expect("writing OUT_DIR/ucall_bench");
    println!("cargo:rustc-env=KVMTEST_BENCH_UPSTREAM_SKIP={}", skip.replace('\n', " "));
}
