//! Embeds the upstream peer program (bench/upstream/ucall_bench.c, built on
//! the kernel's KVM selftest library by `cargo xtask bench`) into the bench,
//! so that it travels with the bench binary into the emulated machines.
//!
//! `KVMTEST_BENCH_UPSTREAM=PATH`: the static program to embed.
//! `KVMTEST_BENCH_UPSTREAM_SKIP=REASON`: why it could not be built; the
//! upstream rows are then skipped with this reason. Neither (plain
//! `cargo bench`): skipped, saying how to get them.
//!
//! The scenario row the same way: `KVMTEST_BENCH_SCENARIO=PATH` (a kvmtest
//! scenario binary) with `KVMTEST_BENCH_SCENARIO_UPSTREAM=PATH` (the upstream
//! selftest it is timed against), or `KVMTEST_BENCH_SCENARIO_SKIP=REASON`.

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
    scenario();
}

/// Embeds the scenario row's pair as OUT_DIR/scenario_kvmtest and
/// OUT_DIR/scenario_upstream, and names them (file stems) or the reason
/// there are none.
fn scenario() {
    for var in ["KVMTEST_BENCH_SCENARIO", "KVMTEST_BENCH_SCENARIO_UPSTREAM", "KVMTEST_BENCH_SCENARIO_SKIP"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let paths = (env::var_os("KVMTEST_BENCH_SCENARIO"), env::var_os("KVMTEST_BENCH_SCENARIO_UPSTREAM"));
    let mut skip = env::var("KVMTEST_BENCH_SCENARIO_SKIP")
        .unwrap_or_else(|_| "the scenario pair is built by `cargo xtask bench --arch ARCH` only".into());
    let mut names = [String::new(), String::new()];
    let mut contents = [Vec::new(), Vec::new()];
    if let (Some(kvmtest), Some(upstream)) = paths {
        let read = |p: &std::ffi::OsString| {
            let p = PathBuf::from(p);
            println!("cargo:rerun-if-changed={}", p.display());
            let name = p.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            std::fs::read(&p).map(|b| (name, b)).map_err(|e| format!("reading {}: {e}", p.display()))
        };
        match (read(&kvmtest), read(&upstream)) {
            (Ok(k), Ok(u)) => {
                skip.clear();
                [names[0], names[1]] = [k.0, u.0];
                [contents[0], contents[1]] = [k.1, u.1];
            }
            (Err(e), _) | (_, Err(e)) => skip = e,
        }
    }
    for (file, bytes) in ["scenario_kvmtest", "scenario_upstream"].iter().zip(&contents) {
        std::fs::write(out_dir.join(file), bytes).expect("writing the scenario pair to OUT_DIR");
    }
    println!("cargo:rustc-env=KVMTEST_BENCH_SCENARIO_NAME={}", names[0]);
    println!("cargo:rustc-env=KVMTEST_BENCH_SCENARIO_UPSTREAM_NAME={}", names[1]);
    println!("cargo:rustc-env=KVMTEST_BENCH_SCENARIO_SKIP={}", skip.replace('\n', " "));
}
