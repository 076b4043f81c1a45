//! `cargo xtask vm-test --kselftest`: the kernel CI bundle (`cargo xtask
//! dist`) run by the kernel's `run_kselftest.sh` inside the emulated machine,
//! as a CI lab runs it on a board, and its output checked by the kernel's
//! KTAP parser (kernel_ci::check_log).
//!
//! The machine's userland is init, a static busybox (sh and the applets the
//! runner uses) and the bundle under `/kvmtest-<arch>/`. busybox's `timeout`
//! is left out on purpose: it lacks the `--foreground` that runner.sh passes
//! to /usr/bin/timeout, which would fail every test; without it the runner
//! runs tests unbounded and vm-test's own --timeout bounds the machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::arch::Arch;
use super::build::build_init;
use super::initramfs::{file_name, read_file, write_initramfs_with, CpioWriter};
use super::kernel::kernel_for;
use super::options::Options;
use super::protocol::{Marker, Plan};
use super::qemu;
use super::summary::trouble;
use crate::bundle::{self, Bundle};
use crate::kselftest::KernelTools;
use crate::results::{self, BinaryRun, Verdict};
use crate::util::root;
use crate::Result;

/// The one "test" init runs: the shell running run_kselftest.sh.
const NAME: &str = "run_kselftest";

/// busybox applets run_kselftest.sh and kselftest/runner.sh call (and `ln`
/// for the /dev links below). Not `timeout`: see the module doc.
const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "cut", "grep", "sed", "tr", "wc", "sort", "uniq", "basename", "dirname", "realpath", "ln",
    "echo", "printf", "test", "[", "true", "false", "head", "tail", "tee", "env", "ls", "mkdir", "rm", "readlink",
];

pub fn vm_kselftest(o: &Options, label: Option<&str>) -> Result {
    let t0 = Instant::now();
    let kernel = kernel_for(o)?;
    let (init, _) = build_init(o.arch)?;
    let tools = KernelTools::find(true)?;
    let bundle = bundle::build(o.arch.name, &bundle::default_out(), &tools)?;
    let busybox = busybox(o.arch)?;
    eprintln!("vm-test: kernel, init, bundle and busybox ready in {:.1} s", t0.elapsed().as_secs_f64());

    let work = root().join("target/vm-test").join(o.arch.name);
    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    // Removed on every way out, Ctrl-C included (crate::interrupt).
    let cpio = crate::interrupt::TempPath::new(work.join(format!("initramfs-kselftest-{}.cpio", std::process::id())));
    let top = format!("/{}", file_name(&bundle.dir));
    // run_kselftest.sh writes its log to /dev/stdout, which devtmpfs lacks.
    let script = format!(
        "ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; \
         ln -sf /proc/self/fd/2 /dev/stderr; cd {top} && ./run_kselftest.sh"
    );
    let plan = Plan {
        modules: kernel.modules.iter().map(|m| format!("/kvmtest/modules/{}", file_name(m))).collect(),
        tests: vec![(NAME.to_string(), "/bin/sh".to_string())],
        args: vec!["-c".to_string(), script],
        env: vec![("PATH".into(), "/bin".into())],
    };
    write_initramfs(cpio.path(), &init, &plan, &kernel.modules, &busybox, &bundle, &top)?;
    let append = o.kernel_cmdline();
    eprintln!("vm-test: booting {} on {} to run {top}/run_kselftest.sh", kernel.origin, o.arch.qemu);
    let mut console = Vec::new();
    let mut echo = |line: &str| {
        println!("{line}");
        console.push(line.to_string());
    };
    let run = qemu::boot(o.arch, &kernel.image, cpio.path(), &append, o.timeout, &mut echo);
    drop(cpio);
    let run = run?;
    if let Some(why) = trouble(&run) {
        return Err(why);
    }
    let log = work.join("kselftest.log");
    fs::write(&log, kselftest_output(&console).join("\n") + "\n")
        .map_err(|e| format!("writing {}: {e}", log.display()))?;
    println!(
        "vm-test: run_kselftest.sh on {} ({}), VM wall time {:.1} s; its output: {}",
        run.console.kvm.as_deref().unwrap_or("unknown KVM"),
        run.console.kernel_release.as_deref().unwrap_or("unknown kernel"),
        run.wall.as_secs_f64(),
        log.display()
    );
    keep_results(o, &log, label)?;
    crate::kernel_ci::check_log(&bundle, &log)
}

/// Keeps the run in target/kvmtest-results/<UTC>-LABEL/ (--label, default
/// vm-kselftest-<arch>): the
/// whole run_kselftest.sh log, each binary's KTAP as its log, the summaries;
/// prints the failed trials and where their KTAP is.
fn keep_results(o: &Options, log: &Path, label: Option<&str>) -> Result {
    let text = fs::read_to_string(log).map_err(|e| format!("reading {}: {e}", log.display()))?;
    let mut binaries = Vec::new();
    for nested in crate::kernel_ci::nested_ktap(&text) {
        let mut run = BinaryRun::new(nested.test);
        for line in &nested.ktap {
            run.lines.push(line.clone());
            if let Some(trial) = results::parse_ktap_result(line) {
                run.failed |= trial.1 == Verdict::Fail;
                run.trials.push(trial);
            }
        }
        binaries.push(run);
    }
    let default = format!("vm-kselftest-{}", o.arch.name);
    let dir = results::new_run_dir(&results::results_root(), Some(label.unwrap_or(&default)))?;
    fs::copy(log, dir.join("kselftest.log")).map_err(|e| format!("keeping {}: {e}", log.display()))?;
    results::write_run(&dir, &format!("cargo xtask vm-test --kselftest --arch {}", o.arch.name), &binaries)?;
    for line in results::closing_lines("vm-test", &dir, &binaries) {
        println!("{line}");
    }
    Ok(())
}

/// The console lines between init's markers around the runner.
fn kselftest_output(console: &[String]) -> Vec<String> {
    let begin = Marker::Begin(NAME.to_string()).to_string();
    console
        .iter()
        .skip_while(|l| **l != begin)
        .skip(1)
        .take_while(|l| !matches!(Marker::parse(l), Some(Marker::End(..))))
        .cloned()
        .collect()
}

/// A static busybox for `arch`, from Debian's busybox-static package
/// (fetched once into target/vm-test/busybox/).
fn busybox(arch: &Arch) -> Result<PathBuf> {
    let dir = root().join("target/vm-test/busybox").join(arch.deb_arch);
    // bookworm's package has bin/busybox; usr-merged releases usr/bin/busybox.
    let unpacked = || ["bin/busybox", "usr/bin/busybox"].into_iter().map(|b| dir.join(b)).find(|b| b.is_file());
    if let Some(bin) = unpacked() {
        return Ok(bin);
    }
    let download = dir.join("deb");
    fs::create_dir_all(&download).map_err(|e| format!("creating {}: {e}", download.display()))?;
    let package = format!("busybox-static:{}", arch.deb_arch);
    crate::util::run(Command::new("apt-get").arg("download").arg(&package).current_dir(&download)).map_err(|e| {
        format!("{e}\nfetching {package} failed; `cargo xtask setup --vm` adds the {} packages to apt", arch.deb_arch)
    })?;
    let deb = fs::read_dir(&download)
        .map_err(|e| format!("reading {}: {e}", download.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download {package} left no .deb"))?;
    crate::util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir))?;
    unpacked().ok_or_else(|| format!("{} holds no busybox binary", deb.display()))
}

fn write_initramfs(
    path: &Path,
    init: &Path,
    plan: &Plan,
    modules: &[PathBuf],
    busybox: &Path,
    bundle: &Bundle,
    top: &str,
) -> Result {
    write_initramfs_with(path, init, plan, modules, |w| {
        let io = |e: std::io::Error| format!("writing {}: {e}", path.display());
        w.dir("/bin").map_err(io)?;
        w.file("/bin/busybox", 0o755, &read_file(busybox)?).map_err(io)?;
        for applet in APPLETS {
            w.symlink(&format!("/bin/{applet}"), "busybox").map_err(io)?;
        }
        add_tree(w, &bundle.dir, top).map_err(io)
    })
}

/// Adds the directory `from` at `to` in the archive, modes kept.
fn add_tree<W: std::io::Write>(w: &mut CpioWriter<W>, from: &Path, to: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    w.dir(to)?;
    let mut entries: Vec<_> = fs::read_dir(from)?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let inside = format!("{to}/{}", e.file_name().to_string_lossy());
        if path.is_dir() {
            add_tree(w, &path, &inside)?;
        } else {
            let mode = fs::metadata(&path)?.permissions().mode();
            w.file(&inside, mode & 0o777, &fs::read(&path)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_output_is_cut_between_init_markers() {
        let console: Vec<String> = [
            "[    1.0] booting".to_string(),
            Marker::Begin(NAME.into()).to_string(),
            "TAP version 13".into(),
            "ok 1 selftests: kvmtest: ucall".into(),
            Marker::End(NAME.into(), super::super::protocol::Exit::Code(0)).to_string(),
            Marker::Done.to_string(),
        ]
        .into();
        assert_eq!(kselftest_output(&console), ["TAP version 13", "ok 1 selftests: kvmtest: ucall"]);
    }
}
