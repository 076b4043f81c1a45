//! One run of the emulated machine: the test binaries stripped of DWARF,
//! packed with init, the plan and the kernel modules into an initramfs, and
//! booted under qemu with the arch's kernel command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::arch::Arch;
use super::initramfs::{file_name, read_file, write_initramfs_with};
use super::kernel::Kernel;
use super::options::Options;
use super::protocol::Plan;
use super::qemu;
use crate::interrupt::TempPath;
use crate::util::root;
use crate::Result;

/// Kernel command line for every arch: a panic exits qemu at once
/// (-no-reboot), and only warnings and worse reach the slow serial console
/// (init reads the rest from /dev/kmsg).
pub const COMMON_CMDLINE: &str = "panic=-1 loglevel=5";

/// Fails early, before any build, when the arch's qemu is missing.
pub fn require_qemu(arch: &Arch) -> Result {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|d| d.join(arch.qemu).is_file()) {
        Ok(())
    } else {
        Err(format!(
            "{} is not installed: `apt-get install {}` (or `cargo xtask setup --vm`)",
            arch.qemu, arch.qemu_package
        ))
    }
}

/// Packs init, modules and `tests` into an initramfs and boots it.
pub fn boot(o: &Options, kernel: &Kernel, init: &Path, tests: &[(String, PathBuf)], who: &str) -> Result<qemu::Run> {
    let work = root().join("target/vm-test").join(o.arch.name);
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    // Per process: cargo may run several vm-run runners of different targets.
    // Removed on every way out, Ctrl-C included (crate::interrupt).
    let cpio = TempPath::new(work.join(format!("initramfs-{}.cpio", std::process::id())));
    let stripped_dir = TempPath::new(work.join(format!("stripped-{}", std::process::id())));
    let stripped;
    let tests = if o.keep_debuginfo {
        tests
    } else {
        stripped = strip_debuginfo(tests, stripped_dir.path())?;
        &stripped[..]
    };
    let plan = Plan {
        modules: kernel.modules.iter().map(|m| format!("/kvmtest/modules/{}", file_name(m))).collect(),
        tests: tests.iter().map(|(n, _)| (n.clone(), format!("/kvmtest/bin/{n}"))).collect(),
        args: o.test_args.clone(),
        env: guest_env(),
    };
    write_initramfs(cpio.path(), init, &plan, &kernel.modules, tests)?;
    let append = o.kernel_cmdline();
    eprintln!("{who}: booting {} ({}) on {} with `{append}`", kernel.origin, kernel.image.display(), o.arch.qemu);
    let stdout = std::io::stdout();
    let mut echo = |line: &str| {
        let mut out = stdout.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    qemu::boot(o.arch, &kernel.image, cpio.path(), &append, o.timeout, &mut echo)
}

/// Copies of `tests` without DWARF, in `dir`: debug builds are ten times
/// their stripped size, and the kernel unpacks the initramfs at TCG speed
/// (about 7 s of an arm64 boot for the suite). Symbols stay, so backtraces
/// still name functions. Without a usable objcopy the binaries go as built.
fn strip_debuginfo(tests: &[(String, PathBuf)], dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for (name, exe) in tests {
        let dst = dir.join(name);
        // llvm-objcopy (Debian's llvm) reads every arch; GNU objcopy only the host's.
        let stripped = ["llvm-objcopy", "objcopy"].iter().any(|tool| {
            Command::new(tool)
                .arg("--strip-debug")
                .arg(exe)
                .arg(&dst)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if stripped {
            out.push((name.clone(), dst));
        } else {
            eprintln!("vm-test: cannot strip {} (install llvm for llvm-objcopy); packing it as built", exe.display());
            out.push((name.clone(), exe.clone()));
        }
    }
    Ok(out)
}

/// Environment of the test binaries. Inside the machine their stdout is the
/// console, a terminal, so they would colour their output even when ours goes
/// to a CI log: follow our own stdout instead.
fn guest_env() -> Vec<(String, String)> {
    use std::io::IsTerminal;
    let mut env = vec![("RUST_BACKTRACE".into(), "1".into())];
    if !std::io::stdout().is_terminal() {
        env.push(("TERM".into(), "dumb".into()));
        env.push(("NO_COLOR".into(), "1".into()));
    }
    env
}

fn write_initramfs(path: &Path, init: &Path, plan: &Plan, modules: &[PathBuf], tests: &[(String, PathBuf)]) -> Result {
    write_initramfs_with(path, init, plan, modules, |w| {
        let io = |e: std::io::Error| format!("writing {}: {e}", path.display());
        w.dir("/kvmtest/bin").map_err(io)?;
        for (name, exe) in tests {
            w.file(&format!("/kvmtest/bin/{name}"), 0o755, &read_file(exe)?).map_err(io)?;
        }
        Ok(())
    })
}
