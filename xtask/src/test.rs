//! `cargo xtask test [-- ARGS]`: the README's test command, `cargo test
//! --workspace` on this host's /dev/kvm; extra arguments go to the test
//! binaries. `--without-kvm hidden|unprivileged` runs the built suite the
//! way a new user without KVM access would: every trial must skip, none fail.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::util::{cargo_executables, root, run};
use crate::Result;

/// Run the whole suite on this host's /dev/kvm.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Run the built suite without access to KVM instead (root only):
    /// `hidden` in a mount namespace with no /dev/kvm, `unprivileged` as
    /// user nobody (EACCES on /dev/kvm). Fails if any trial fails.
    #[arg(long, value_enum, value_name = "HOW")]
    pub without_kvm: Option<WithoutKvm>,
    /// Arguments for the test binaries (libtest's: filters, --exact, ...)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub test_args: Vec<String>,
}

/// How `--without-kvm` takes KVM away.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutKvm {
    /// /dev/kvm absent: a private mount namespace whose /dev holds only null, zero, full, random, urandom, tty.
    Hidden,
    /// /dev/kvm present but not openable: the binaries run as nobody:nogroup.
    Unprivileged,
}

pub fn test(args: &Args) -> Result {
    if let Some(how) = args.without_kvm {
        return test_without_kvm(how, &args.test_args);
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["test", "--workspace"]);
    if !args.test_args.is_empty() {
        cmd.arg("--").args(args.test_args.iter().filter(|a| *a != "--"));
    }
    run(&mut cmd)
}

/// nobody:nogroup on Debian.
const NOBODY: libc::uid_t = 65534;
const NOGROUP: libc::gid_t = 65534;

/// Character devices the hidden /dev keeps: (name, major, minor), as
/// Documentation/admin-guide/devices.txt numbers them.
const KEPT_DEVICES: &[(&str, u32, u32)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

fn test_without_kvm(how: WithoutKvm, test_args: &[String]) -> Result {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("--without-kvm needs root (it makes a mount namespace or drops to user nobody)".into());
    }
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["test", "--workspace", "--no-run", "--message-format", "json-render-diagnostics"])
        .output()
        .map_err(|e| format!("running cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let binaries = cargo_executables(&String::from_utf8_lossy(&out.stdout), |a| a.profile_test)?;
    if binaries.is_empty() {
        return Err("cargo built no test binaries".into());
    }
    let mut failed = Vec::new();
    let (mut ran, mut skipped) = (0usize, 0usize);
    for bin in &binaries {
        let mut cmd = Command::new(&bin.executable);
        cmd.args(test_args.iter().filter(|a| *a != "--"))
            .current_dir(std::env::temp_dir())
            // CI sets it; here a missing KVM must skip, which is what is checked.
            .env_remove("KVMTEST_REQUIRE_KVM")
            .env("KVMTEST_FORMAT", "libtest");
        match how {
            WithoutKvm::Hidden => hide_dev_kvm(&mut cmd)?,
            WithoutKvm::Unprivileged => drop_to_nobody(&mut cmd),
        }
        let out = cmd.output().map_err(|e| format!("running {}: {e}", bin.executable.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let name = bin.executable.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let result = text.lines().rev().find(|l| l.starts_with("test result:")).unwrap_or("(no result line)");
        println!("{name}: {result}");
        ran += count(result, " passed");
        skipped += count(result, " ignored");
        if !out.status.success() {
            println!("{text}");
            failed.push(name);
        }
    }
    println!(
        "without KVM ({how:?}): {} binaries, {ran} passed (no KVM needed), {skipped} skipped, {} binaries failed",
        binaries.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("without KVM ({how:?}), these test binaries failed: {}", failed.join(", ")))
    }
}

/// The number before `what` in libtest's result line.
fn count(result: &str, what: &str) -> usize {
    result
        .split(';')
        .find(|part| part.ends_with(what))
        .and_then(|part| part.trim_end_matches(what).rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The child runs in its own mount namespace over a /dev without kvm.
fn hide_dev_kvm(cmd: &mut Command) -> Result {
    let cstr = |s: &str| CString::new(s).map_err(|e| e.to_string());
    let (root_dir, dev, tmpfs, mode) = (cstr("/")?, cstr("/dev")?, cstr("tmpfs")?, cstr("mode=755")?);
    let (fd_link, fd_target) = (cstr("/dev/fd")?, cstr("/proc/self/fd")?);
    let nodes: Vec<(CString, libc::dev_t)> = KEPT_DEVICES
        .iter()
        .map(|&(name, major, minor)| Ok((cstr(&format!("/dev/{name}"))?, libc::makedev(major, minor))))
        .collect::<Result<_>>()?;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // system calls on strings prepared above (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                root_dir.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(tmpfs.as_ptr(), dev.as_ptr(), tmpfs.as_ptr(), 0, mode.as_ptr().cast()))?;
            for (path, devno) in &nodes {
                check(libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, *devno))?;
            }
            check(libc::symlink(fd_target.as_ptr(), fd_link.as_ptr()))
        });
    }
    Ok(())
}

/// The child drops to nobody:nogroup with no supplementary groups.
fn drop_to_nobody(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(|| {
            let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setgid(NOGROUP))?;
            check(libc::setuid(NOBODY))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_counts() {
        let line = "test result: ok. 7 passed; 0 failed; 12 ignored; 0 measured; 0 filtered out; finished in 0.05s";
        assert_eq!(count(line, " passed"), 7);
        assert_eq!(count(line, " ignored"), 12);
        assert_eq!(count("(no result line)", " passed"), 0);
    }
}
