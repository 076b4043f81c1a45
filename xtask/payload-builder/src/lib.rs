//! Builds the `#![no_std]` guest payloads of `guest-payloads/` for one arch,
//! with a nested cargo in its own target directory. Used by the tests' build
//! script (so a plain `cargo test` has fresh payloads) and by
//! `cargo xtask build-payloads`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The rustc target guest payloads of `arch` are built for. Both are
/// soft-float: guests never touch FP/SIMD state.
pub fn guest_target(arch: &str) -> Result<&'static str, String> {
    match arch {
        "x86_64" => Ok("x86_64-unknown-none"),
        "aarch64" => Ok("aarch64-unknown-none-softfloat"),
        other => Err(format!("kvmtest has no guest payloads for arch `{other}` (x86_64 and aarch64 only)")),
    }
}

/// Names of the payload binaries for `arch`, sorted: every arch's
/// (`guest-payloads/payloads/src/bin/*.rs`) and that arch's own
/// (`src/<arch>/*.rs`, `[[bin]]`s gated by the feature named after the arch).
pub fn payload_names(guest_dir: &Path, arch: &str) -> Result<Vec<String>, String> {
    let mut names = rs_stems(&guest_dir.join("payloads/src/bin"))?;
    let own = guest_dir.join("payloads/src").join(arch);
    if own.is_dir() {
        names.extend(rs_stems(&own)?);
    }
    names.sort();
    Ok(names)
}

fn rs_stems(dir: &Path) -> Result<Vec<String>, String> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .collect())
}

fn target_installed(target: &str) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else { return true };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot).join("lib/rustlib").join(target).exists()
}

/// A `cargo` command in the guest workspace, without the outer cargo's
/// environment: its settings (host RUSTFLAGS, its target, jobserver, build
/// script variables) must not leak into the guest build.
pub fn guest_cargo(guest_dir: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(guest_dir);
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        let outer = (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || matches!(
                k,
                "RUSTFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTDOCFLAGS"
                    | "MAKEFLAGS"
                    | "MFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
            );
        if outer {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Builds every payload for `arch` into `target_dir`; returns (name, ELF path).
pub fn build(guest_dir: &Path, arch: &str, target_dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let target = guest_target(arch)?;
    if !target_installed(target) {
        return Err(format!(
            "the Rust target `{target}` is not installed, so the {arch} guest payloads cannot be built.\n\
             Run `cargo xtask setup` (or `rustup target add {target}`)."
        ));
    }
    let mut cmd = guest_cargo(guest_dir);
    cmd.args(["build", "--release", "--locked", "--features", &format!("kvmtest-payloads/{arch}"), "--target", target])
        .arg("--target-dir")
        .arg(target_dir);
    let out = cmd.output().map_err(|e| format!("running cargo for the guest payloads: {e}"))?;
    if !out.status.success() {
        return Err(format!("building the {arch} guest payloads failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let dir = target_dir.join(target).join("release");
    payload_names(guest_dir, arch)?
        .into_iter()
        .map(|n| {
            let p = dir.join(&n);
            if p.exists() {
                Ok((n, p))
            } else {
                Err(format!("payload {} was not built", p.display()))
            }
        })
        .collect()
}

/// Where a build script builds the payloads: `guest-payloads/` in the
/// outer cargo's build directory (by default `<workspace>/target`, the same
/// place `cargo xtask build-payloads` uses, honouring `CARGO_TARGET_DIR` and
/// `--target`), so every profile, target and `cargo clippy` of the outer
/// build shares one incremental guest build. `out_dir` is the script's
/// `OUT_DIR` (`<build dir>[/<target>]/<profile>/build/<pkg>-<hash>/out`) and
/// `target` its `TARGET`; an `OUT_DIR` of another shape keeps the payloads
/// under `out_dir` itself.
pub fn target_dir_for_build_script(out_dir: &Path, target: &str) -> PathBuf {
    let build = out_dir.parent().and_then(Path::parent).filter(|b| b.file_name().is_some_and(|n| n == "build"));
    let Some(profile_parent) = build.and_then(Path::parent).and_then(Path::parent) else {
        return out_dir.join("guest-payloads");
    };
    let root = if profile_parent.file_name().is_some_and(|n| n == target) {
        profile_parent.parent().unwrap_or(profile_parent)
    } else {
        profile_parent
    };
    root.join("guest-payloads")
}

/// The files a change to which must rebuild the payloads.
pub fn inputs(guest_dir: &Path) -> Vec<PathBuf> {
    ["runtime", "payloads", "link.ld", "Cargo.toml", "Cargo.lock", ".cargo", "../harness/abi"]
        .iter()
        .map(|p| guest_dir.join(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_script_target_dir_is_the_outer_build_dir() {
        let host = Path::new("/w/target/debug/build/kvmtest-tests-0123/out");
        assert_eq!(
            target_dir_for_build_script(host, "x86_64-unknown-linux-gnu"),
            Path::new("/w/target/guest-payloads")
        );
        let cross = Path::new("/t/aarch64-unknown-linux-musl/release/build/kvmtest-tests-0123/out");
        assert_eq!(target_dir_for_build_script(cross, "aarch64-unknown-linux-musl"), Path::new("/t/guest-payloads"));
        let odd = Path::new("/somewhere/out");
        assert_eq!(
            target_dir_for_build_script(odd, "x86_64-unknown-linux-gnu"),
            Path::new("/somewhere/out/guest-payloads")
        );
    }
}
