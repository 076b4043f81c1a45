//! PID 1 of the emulated machines `cargo xtask vm-test` boots: mounts the
//! pseudo filesystems, loads the KVM modules the plan names, runs each test
//! binary and reports it with console markers, then powers the machine off.
//!
//! PID 1 must never exit (the kernel would panic), so every error is printed
//! as a marker and followed by a power-off.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use nix::kmod::{finit_module, ModuleInitFlags};
use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};

use vm_init::protocol::{Exit, Marker, Plan, PLAN_PATH};

/// Set for every test: a missing /dev/kvm inside the VM is a failure, not a skip.
const REQUIRE_KVM_ENV: &str = "KVMTEST_REQUIRE_KVM";

fn main() {
    if let Err(e) = run() {
        say(&Marker::Error(e).to_string());
    }
    power_off();
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn run() -> Result<(), String> {
    mount_pseudo_filesystems()?;
    let plan = std::fs::read_to_string(PLAN_PATH).map_err(|e| format!("reading {PLAN_PATH}: {e}"))?;
    let plan = Plan::parse(&plan)?;
    for m in &plan.modules {
        load_module(m)?;
    }
    report_params();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_err(|e| format!("reading the kernel release: {e}"))?;
    say(&Marker::Kernel(release.trim().to_string()).to_string());
    let klog = kernel_log();
    for line in klog.iter().filter(|l| is_kvm_message(l)) {
        say(&format!("kvmtest-init: klog: {line}"));
    }
    say(&Marker::Kvm(kvm_mode(&klog)).to_string());
    for (name, path) in &plan.tests {
        say(&Marker::Begin(name.clone()).to_string());
        let status = Command::new(path)
            .args(&plan.args)
            .envs(plan.env.iter().map(|(k, v)| (k, v)))
            .env(REQUIRE_KVM_ENV, "1")
            .current_dir("/")
            .status();
        let exit = match status {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(c), _) => Exit::Code(c),
                (None, Some(sig)) => Exit::Signal(sig),
                (None, None) => Exit::NotStarted,
            },
            Err(e) => {
                say(&format!("kvmtest-init: cannot run {path}: {e}"));
                Exit::NotStarted
            }
        };
        say(&Marker::End(name.clone(), exit).to_string());
    }
    say(&Marker::Done.to_string());
    Ok(())
}

fn mount_pseudo_filesystems() -> Result<(), String> {
    for (fstype, target) in [("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev"), ("tmpfs", "/tmp")] {
        std::fs::create_dir_all(target).map_err(|e| format!("creating {target}: {e}"))?;
        mount(Some(fstype), target, Some(fstype), MsFlags::empty(), None::<&str>)
            .map_err(|e| format!("mounting {fstype} on {target}: {e}"))?;
    }
    Ok(())
}

fn load_module(path: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("opening module {path}: {e}"))?;
    let name = Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let params = module_params(name);
    let c_params = CString::new(params.clone()).map_err(|_| format!("NUL in parameters of {name}"))?;
    match finit_module(&file, &c_params, ModuleInitFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {
            say(format!("kvmtest-init: loaded {path} {params}").trim_end());
            Ok(())
        }
        Err(e) => Err(format!("loading module {path}: {e} (see the kernel messages above)")),
    }
}

/// `<module>.<param>=<value>` words of the kernel command line, as the
/// module's parameters: the kernel leaves those to whoever loads a module
/// (modprobe does the same), so `--append kvm_amd.npt=0` works as on a host.
fn module_params(module: &str) -> String {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let prefix = format!("{}.", module.replace('-', "_"));
    cmdline
        .split_whitespace()
        .filter_map(|w| w.replace('-', "_").strip_prefix(&prefix).map(|_| w[prefix.len()..].to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Each `module.param=value` of the kernel command line as the module now
/// reports it in sysfs, so a run shows that the parameter took effect
/// (`kvmtest-init: param kvm_amd.npt=0 -> 0`; the value is the module's
/// own rendering, `N` for a bool, `(none)` when the module has no such
/// parameter or is not loaded).
fn report_params() {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    for word in cmdline.split_whitespace() {
        let Some((key, _)) = word.split_once('=') else { continue };
        let Some((module, param)) = key.split_once('.') else { continue };
        // kvm-arm.mode and the like are the kernel's own, not a module's.
        if module.contains('-') {
            continue;
        }
        let sysfs = Path::new("/sys/module").join(module).join("parameters").join(param);
        let value = std::fs::read_to_string(&sysfs).map_or_else(|_| "(none)".to_string(), |v| v.trim().to_string());
        say(&format!("kvmtest-init: param {word} -> {value}"));
    }
}

/// The kernel log so far, one message per entry. Read from /dev/kmsg rather
/// than the console because the command line keeps informational messages
/// (where KVM says which mode it runs in) off the slow serial console.
fn kernel_log() -> Vec<String> {
    let Ok(mut kmsg) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    // Each read returns one record, "prio,seq,time,flags;text"; EAGAIN ends the log.
    while let Ok(n) = kmsg.read(&mut buf) {
        if n == 0 {
            break;
        }
        let record = String::from_utf8_lossy(&buf[..n]);
        let text = record.split_once(';').map_or(&*record, |(_, t)| t);
        out.push(text.lines().next().unwrap_or_default().to_string());
    }
    out
}

fn is_kvm_message(line: &str) -> bool {
    // 6.1 prefixes SVM's news "SVM: kvm:", 6.12 "kvm_amd:", arm64 "kvm [1]:".
    let l = line.to_ascii_lowercase();
    l.contains("kvm") && !l.contains("command line")
}

/// The KVM flavour the tests will run on, in the words the brief of each
/// arch uses: the x86 vendor module, or arm64's VHE/nVHE/protected mode.
fn kvm_mode(klog: &[String]) -> String {
    if !Path::new("/dev/kvm").exists() {
        return "none (/dev/kvm is missing)".into();
    }
    for module in ["kvm_amd", "kvm_intel"] {
        if Path::new("/sys/module").join(module).exists() {
            let paging = if klog.iter().any(|l| l.contains("Nested Paging enabled")) {
                " (nested paging)"
            } else if klog.iter().any(|l| l.contains("Nested Paging disabled")) {
                " (shadow paging)"
            } else {
                ""
            };
            return format!("{module}{paging}");
        }
    }
    // arch/arm64/kvm/arm.c says "{,Hyp ,Protected }{,n}VHE mode initialized
    // successfully" since 6.2; 6.1 says "Hyp mode" for nVHE.
    if let Some(line) = klog.iter().find(|l| l.contains("mode initialized successfully")) {
        // Protected mode runs the hypervisor in hVHE (EL2 with E2H) where the CPU has VHE.
        return if line.contains("Protected hVHE") {
            "protected hVHE (pKVM)".into()
        } else if line.contains("Protected") {
            "protected nVHE (pKVM)".into()
        } else if line.contains("nVHE") || line.contains("Hyp mode") {
            "nVHE".into()
        } else if line.contains("VHE mode") {
            "VHE".into()
        } else {
            format!("unknown ({line})")
        };
    }
    "unknown (/dev/kvm present)".into()
}

fn power_off() -> ! {
    nix::unistd::sync();
    let err = match reboot(RebootMode::RB_POWER_OFF) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    say(&Marker::Error(format!("power off failed: {err}")).to_string());
    // PID 1 must not return; xtask's timeout ends the machine instead.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
