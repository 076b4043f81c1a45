//! `cargo xtask vm-test` and `cargo xtask vm-run`: the suite on real KVM
//! inside an emulated machine (qemu TCG) that boots a stock Debian kernel,
//! so x86_64 hosts test both arches and kernel series the CI host lacks.
//!
//! One flow for every arch; what differs lives in the [`ARCHES`] table:
//! build static musl test binaries → fetch/cache the kernel (kernel.rs) →
//! pack init + binaries + KVM modules into a cpio (initramfs.rs) → boot and
//! read the console markers (qemu.rs, console.rs) → summary and exit code.

mod archive;
mod console;
mod initramfs;
mod kernel;
mod kselftest;
mod qemu;

/// The plan and console markers shared with the VM's init. Compiled from the
/// init crate's source rather than depended on, because that crate's other
/// dependencies (nix, kvm-ioctls) are for the VM, not for xtask.
#[path = "../../vm-init/src/protocol.rs"]
#[allow(dead_code)] // each side uses its half: xtask renders plans and parses markers
mod protocol;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::util::root;
use crate::Result;
use console::Console;
use initramfs::CpioWriter;
use kernel::Kernel;
use protocol::{Exit, Plan, PLAN_PATH};

/// Everything arch-specific about the emulated machines.
pub struct Arch {
    /// kvmtest's (and Rust's) arch name.
    pub name: &'static str,
    /// Debian's name for it, for apt.
    pub deb_arch: &'static str,
    pub qemu: &'static str,
    /// The Debian package that ships `qemu`.
    pub qemu_package: &'static str,
    /// Machine, CPU and accelerator: the parts that give the guest kernel
    /// hardware virtualization to offer as /dev/kvm.
    pub qemu_args: &'static [&'static str],
    /// Kernel command line: console and arch-specific needs.
    pub cmdline: &'static str,
    /// Modules to load (with their dependencies) before /dev/kvm exists; empty
    /// where Debian builds KVM in.
    pub kvm_modules: &'static [&'static str],
}

impl Arch {
    /// The Rust target of the static test binaries and init.
    pub fn musl_target(&self) -> String {
        format!("{}-unknown-linux-musl", self.name)
    }
}

pub const ARCHES: &[Arch] = &[
    Arch {
        name: "x86_64",
        deb_arch: "amd64",
        qemu: "qemu-system-x86_64",
        qemu_package: "qemu-system-x86",
        // -cpu max offers SVM with nested paging under TCG. MTTCG live-locks
        // the guest kernel after a few VM create/destroy cycles: one thread.
        qemu_args: &["-accel", "tcg,thread=single", "-cpu", "max"],
        // TCG's TSC looks unstable to the guest; without this it falls back
        // to a slow clocksource and KVM complains about TSC scaling.
        cmdline: "console=ttyS0 tsc=reliable",
        kvm_modules: &["kvm_amd"],
    },
    Arch {
        name: "aarch64",
        deb_arch: "arm64",
        qemu: "qemu-system-aarch64",
        qemu_package: "qemu-system-arm",
        // virtualization=on boots the kernel at EL2, so KVM initializes. In
        // nVHE mode by default: in VHE mode, under this qemu's TCG, both
        // Debian kernels (6.1 and 6.12) now and then return to a host thread
        // with a vCPU's TPIDR_EL0 still loaded, and the test process dies by
        // SIGSEGV at its next thread-local access (the crash report names
        // it; 4 suite runs in 58 on 6.1, and once on 6.12; 0 in 30 on 6.1 with
        // nVHE, which switches EL0 registers at every world switch). Append
        // kvm-arm.mode=vhe to run VHE anyway. SME is off: KVM
        // gives guests no SME, and with it on the 6.1 host kernel crashed
        // test binaries with SIGSEGV in about one run in five (suspected
        // FP/SME state handling under TCG; never seen on 6.12).
        qemu_args: &["-M", "virt,virtualization=on,gic-version=3", "-cpu", "max,pauth-impdef=on,sme=off"],
        cmdline: "console=ttyAMA0 kvm-arm.mode=nvhe",
        kvm_modules: &[],
    },
];

/// A Debian kernel series: package names are `<prefix><ABI><infix><arch>-unsigned`.
pub struct Series {
    pub name: &'static str,
    pub prefix: &'static str,
    pub infix: &'static str,
}

impl Series {
    /// The ABI number of `package` if it belongs to this series and `deb_arch`.
    pub fn abi_of(&self, package: &str, deb_arch: &str) -> Option<u32> {
        let rest = package.strip_prefix(self.prefix)?;
        rest.strip_suffix(&format!("{}{deb_arch}-unsigned", self.infix))?.parse().ok()
    }
}

pub const SERIES: &[Series] = &[
    // bookworm's own kernel: linux-image-6.1.0-56-amd64-unsigned
    Series { name: "6.1", prefix: "linux-image-6.1.0-", infix: "-" },
    // bookworm-security's newer one: linux-image-6.12.117+deb12-arm64-unsigned
    Series { name: "6.12", prefix: "linux-image-6.12.", infix: "+deb12-" },
];
const DEFAULT_SERIES: &str = "6.12";

/// The kernel `--kernel-version` names: a [`SERIES`] row (from the host's
/// apt sources), or any other `MAJOR.MINOR` / `latest` from the Debian
/// archive's indexes (archive.rs).
pub enum KernelSeries {
    Apt(&'static Series),
    Archive(archive::Wanted),
}

/// The whole VM's time limit unless --timeout says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Kernel command line for every arch: a panic exits qemu at once
/// (-no-reboot), and only warnings and worse reach the slow serial console
/// (init reads the rest from /dev/kmsg).
const COMMON_CMDLINE: &str = "panic=-1 loglevel=5";

pub const HELP: &str = "\
  vm-test --arch x86_64|aarch64 [OPTIONS] [-- TEST-ARGS]
                        run the suite on real KVM inside an emulated machine
                        booting a Debian kernel (fetched and cached under
                        target/vm-kernels/)
      --kernel-version 6.1|6.12|7.3|...|latest
                        kernel series (default 6.12); 6.1 and 6.12 come
                        through apt, others (and latest: the newest) from
                        the archive's trixie-backports, trixie and
                        bookworm-backports indexes, without apt
      --kernel PATH     boot this linux-image .deb or kernel image instead
      --modules DIR     with an image --kernel: where to find KVM's modules
      --append ARGS     more kernel command line (e.g. kvm-arm.mode=vhe;
                        arm64 boots nVHE by default)
      --timeout SECS    limit for the whole VM (default 1200)
      --smoke           run a minimal KVM smoke binary instead of the suite
      --kselftest       run the kernel CI bundle (cargo xtask dist) with the
                        kernel's run_kselftest.sh under busybox in the VM and
                        check its KTAP with kunit.py
      --refresh-kernel  fetch the newest package of the series again
      --keep-debuginfo  pack the test binaries unstripped (slower boot)
  vm-run --arch ARCH [OPTIONS] BINARY [ARGS...]
                        boot one VM running one static test binary; its exit
                        code is vm-run's. The cargo runner of the musl targets
                        (.cargo/config.toml); needs target/debug/xtask, which
                        any `cargo xtask` command builds.
";

struct Options {
    arch: &'static Arch,
    series: KernelSeries,
    kernel: Option<PathBuf>,
    modules: Option<PathBuf>,
    append: Vec<String>,
    timeout: Duration,
    smoke: bool,
    /// Run the dist bundle through run_kselftest.sh (kselftest.rs).
    kselftest: bool,
    refresh: bool,
    /// Pack the test binaries as built instead of without their DWARF.
    keep_debuginfo: bool,
    /// Arguments after the options: `-- TEST-ARGS` for vm-test, `BINARY ARGS` for vm-run.
    rest: Vec<String>,
}

/// Parses the options; the first argument that is not one (or follows `--`)
/// starts `rest`.
fn parse_options(args: &[String]) -> Result<Options> {
    let mut arch = crate::util::host_arch().to_string();
    let mut series = DEFAULT_SERIES.to_string();
    let mut o = Options {
        arch: &ARCHES[0],
        series: KernelSeries::Apt(&SERIES[0]),
        kernel: None,
        modules: None,
        append: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
        smoke: false,
        kselftest: false,
        refresh: false,
        keep_debuginfo: false,
        rest: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--arch" => arch = value()?,
            "--kernel-version" => series = value()?,
            "--kernel" => o.kernel = Some(PathBuf::from(value()?)),
            "--modules" => o.modules = Some(PathBuf::from(value()?)),
            "--append" => o.append.push(value()?),
            "--timeout" => {
                let v = value()?;
                o.timeout =
                    Duration::from_secs(v.parse().map_err(|_| format!("--timeout {v}: not a number of seconds"))?);
            }
            "--smoke" => o.smoke = true,
            "--kselftest" => o.kselftest = true,
            "--refresh-kernel" => o.refresh = true,
            "--keep-debuginfo" => o.keep_debuginfo = true,
            "--" => {
                o.rest = it.cloned().collect();
                break;
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{HELP}")),
            _ => {
                o.rest = std::iter::once(a).chain(it).cloned().collect();
                break;
            }
        }
    }
    o.arch = ARCHES.iter().find(|a| a.name == arch).ok_or_else(|| {
        format!("--arch {arch}: vm-test knows {}", ARCHES.iter().map(|a| a.name).collect::<Vec<_>>().join(", "))
    })?;
    o.series = match SERIES.iter().find(|s| s.name == series) {
        Some(s) => KernelSeries::Apt(s),
        None => KernelSeries::Archive(archive::Wanted::parse(&series).ok_or_else(|| {
            format!(
                "--kernel-version {series}: vm-test knows {}, any other MAJOR.MINOR series Debian's archive carries, and latest",
                SERIES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            )
        })?),
    };
    Ok(o)
}

/// Fails early, before any build, when the arch's qemu is missing.
fn require_qemu(arch: &Arch) -> Result {
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

/// Debian packages the emulated machines need: both qemus and the tools
/// that fetch (curl: archive.rs) and unpack kernels and strip test binaries. For `cargo xtask setup --vm` (CI machines start bare).
pub const HOST_PACKAGES: &[&str] = &["qemu-system-x86", "qemu-system-arm", "xz-utils", "zstd", "llvm", "curl"];

/// `cargo xtask setup --vm`: installs [`HOST_PACKAGES`] and lets apt fetch
/// every arch's kernels.
pub fn setup_host() -> Result {
    let native = Command::new("dpkg").arg("--print-architecture").output().map_err(|e| format!("running dpkg: {e}"))?;
    for arch in ARCHES.iter().filter(|a| a.deb_arch.as_bytes() != native.stdout.trim_ascii()) {
        crate::util::run(Command::new("dpkg").args(["--add-architecture", arch.deb_arch]))?;
    }
    crate::util::run(Command::new("apt-get").arg("update"))?;
    crate::util::run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends"]).args(HOST_PACKAGES))
}

/// `cargo xtask vm-test`.
pub fn vm_test(args: &[String]) -> Result {
    let o = parse_options(args)?;
    require_qemu(o.arch)?;
    if o.kselftest {
        return kselftest::vm_kselftest(&o);
    }
    let t0 = Instant::now();
    let kernel = kernel_for(&o)?;
    eprintln!("vm-test: kernel ready in {:.1} s", t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    let (init, smoke) = build_init(o.arch)?;
    let tests = if o.smoke { vec![("kvm-smoke".to_string(), smoke)] } else { build_suite(o.arch)? };
    let build_time = t0.elapsed();
    eprintln!(
        "vm-test: test binaries for {} built in {:.1} s: {}",
        o.arch.musl_target(),
        build_time.as_secs_f64(),
        tests.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
    );
    let run = boot(&o, &kernel, &init, &tests, "vm-test")?;
    let failed = summarize(&o, &kernel, &tests, &run);
    match failed {
        None => Ok(()),
        Some(why) => Err(why),
    }
}

/// `cargo xtask vm-run`: one binary, its exit code passed through so cargo's
/// runner protocol sees the test's own result.
pub fn vm_run(args: &[String]) -> ExitCode {
    let run = || -> Result<ExitCode> {
        let o = parse_options(args)?;
        require_qemu(o.arch)?;
        let (binary, _) = o.rest.split_first().ok_or_else(|| format!("vm-run needs a BINARY\n{HELP}"))?;
        let binary = PathBuf::from(binary);
        let name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.replace(char::is_whitespace, "_"))
            .ok_or_else(|| format!("{}: not a file name", binary.display()))?;
        let kernel = kernel_for(&o)?;
        let (init, _) = build_init(o.arch)?;
        let opts = Options { rest: o.rest[1..].to_vec(), ..o };
        let run = boot(&opts, &kernel, &init, &[(name.clone(), binary)], "vm-run")?;
        if let Some(why) = trouble(&run) {
            return Err(why);
        }
        let exit = run.console.results.first().and_then(|r| r.exit).ok_or("the binary never ran")?;
        eprintln!(
            "vm-run: {name} {exit} on {} ({}), VM wall time {:.1} s",
            run.console.kvm.as_deref().unwrap_or("unknown KVM"),
            run.console.kernel_release.as_deref().unwrap_or("unknown kernel"),
            run.wall.as_secs_f64()
        );
        Ok(ExitCode::from(exit.shell_status().clamp(0, 255) as u8))
    };
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask vm-run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn kernel_for(o: &Options) -> Result<Kernel> {
    let root = root();
    let kernel = match &o.kernel {
        Some(path) => kernel::local(&root, o.arch, path, o.modules.as_deref())?,
        None => match &o.series {
            KernelSeries::Apt(series) => kernel::cached(&root, o.arch, series, o.refresh)?,
            KernelSeries::Archive(wanted) => archive::cached(&root, o.arch, wanted, o.refresh)?,
        },
    };
    Ok(kernel)
}

/// A cargo for nested builds: without the outer cargo's variables (vm-run
/// runs under `cargo test`, which sets them for the test).
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        if (k.starts_with("CARGO_") && k != "CARGO_HOME") || matches!(k, "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(root());
    cmd
}

/// Builds init and the smoke binary. Their own target directory matters:
/// vm-run runs while `cargo test` holds the lock of target/, and a nested
/// cargo there would wait for it forever.
fn build_init(arch: &Arch) -> Result<(PathBuf, PathBuf)> {
    let target = arch.musl_target();
    let target_dir = root().join("target/vm-init");
    let out = cargo()
        .args(["build", "--quiet", "--package", "vm-init", "--bins", "--target", &target, "--target-dir"])
        .arg(&target_dir)
        .stdout(Stdio::inherit())
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.success() {
        return Err(format!("building vm-init for {target} failed; is the target installed? (`cargo xtask setup`)"));
    }
    let dir = target_dir.join(&target).join("debug");
    Ok((dir.join("vm-init"), dir.join("kvm-smoke")))
}

/// Packages whose tests are host tooling, not KVM tests.
const HOST_TOOLING: &[&str] = &["xtask", "vm-init", "payload-builder"];

/// Builds the workspace's test binaries for the arch's musl target and
/// returns (name, path) of each, from cargo's JSON messages.
fn build_suite(arch: &Arch) -> Result<Vec<(String, PathBuf)>> {
    let target = arch.musl_target();
    let mut cmd = cargo();
    cmd.args(["test", "--no-run", "--workspace", "--target", &target, "--message-format=json-render-diagnostics"]);
    for p in HOST_TOOLING {
        cmd.args(["--exclude", p]);
    }
    let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the test binaries for {target} failed (see above); `--smoke` checks the emulated machine without them"
        ));
    }
    let tests = test_executables(&String::from_utf8_lossy(&out.stdout))?;
    if tests.is_empty() {
        return Err(format!("cargo built no test binaries for {target}"));
    }
    Ok(tests)
}

/// (name, executable) of each test artifact in cargo's JSON messages; names
/// are the test target's, made unique across packages.
fn test_executables(json_lines: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for line in json_lines.lines().filter(|l| l.starts_with('{')) {
        let msg: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("cargo's JSON: {e}: {line}"))?;
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let target_name = msg["target"]["name"].as_str().unwrap_or("test");
        let kind = msg["target"]["kind"][0].as_str().unwrap_or("test");
        let mut name = match kind {
            "test" => target_name.to_string(),
            other => format!("{target_name}-{other}"),
        };
        if out.iter().any(|(n, _)| *n == name) {
            name = format!("{name}-{}", out.len());
        }
        out.push((name, PathBuf::from(exe)));
    }
    Ok(out)
}

/// Packs init, modules and `tests` into an initramfs and boots it.
fn boot(o: &Options, kernel: &Kernel, init: &Path, tests: &[(String, PathBuf)], who: &str) -> Result<qemu::Run> {
    let work = root().join("target/vm-test").join(o.arch.name);
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    // Per process: cargo may run several vm-run runners of different targets.
    let cpio = work.join(format!("initramfs-{}.cpio", std::process::id()));
    let stripped_dir = work.join(format!("stripped-{}", std::process::id()));
    let stripped;
    let tests = if o.keep_debuginfo {
        tests
    } else {
        stripped = strip_debuginfo(tests, &stripped_dir)?;
        &stripped[..]
    };
    let plan = Plan {
        modules: kernel.modules.iter().map(|m| format!("/kvmtest/modules/{}", file_name(m))).collect(),
        tests: tests.iter().map(|(n, _)| (n.clone(), format!("/kvmtest/bin/{n}"))).collect(),
        args: o.rest.clone(),
        env: guest_env(),
    };
    write_initramfs(&cpio, init, &plan, &kernel.modules, tests)?;
    let append = [o.arch.cmdline, COMMON_CMDLINE]
        .into_iter()
        .map(str::to_string)
        .chain(o.append.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("{who}: booting {} ({}) on {} with `{append}`", kernel.origin, kernel.image.display(), o.arch.qemu);
    let stdout = std::io::stdout();
    let mut echo = |line: &str| {
        let mut out = stdout.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let run = qemu::boot(o.arch, &kernel.image, &cpio, &append, o.timeout, &mut echo);
    let _ = std::fs::remove_file(&cpio);
    let _ = std::fs::remove_dir_all(&stripped_dir);
    run
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

fn file_name(p: &Path) -> String {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
}

/// Writes an initramfs with what every run needs (device nodes, init, the
/// plan, the kernel modules), then lets `add` put in the run's own files.
pub(super) fn write_initramfs_with(
    path: &Path,
    init: &Path,
    plan: &Plan,
    modules: &[PathBuf],
    add: impl FnOnce(&mut CpioWriter<BufWriter<File>>) -> Result,
) -> Result {
    let io = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let file = File::create(path).map_err(io)?;
    let mut w = CpioWriter::new(BufWriter::new(file));
    for dir in ["/dev", "/proc", "/sys", "/tmp", "/kvmtest", "/kvmtest/modules"] {
        w.dir(dir).map_err(io)?;
    }
    // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    w.char_dev("/dev/console", 0o600, 5, 1).map_err(io)?;
    w.file("/init", 0o755, &read_file(init)?).map_err(io)?;
    w.file(PLAN_PATH, 0o644, plan.render()?.as_bytes()).map_err(io)?;
    for m in modules {
        w.file(&format!("/kvmtest/modules/{}", file_name(m)), 0o644, &read_file(m)?).map_err(io)?;
    }
    add(&mut w)?;
    w.finish().map_err(io)?;
    Ok(())
}

pub(super) fn read_file(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()))
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

/// Why a run cannot be trusted as a whole (timeout, panic, qemu error), if so.
fn trouble(run: &qemu::Run) -> Option<String> {
    if let Some(t) = run.timed_out {
        let running = match run.console.results.iter().find(|r| r.exit.is_none()) {
            Some(r) => format!(" while {} was running", r.name),
            None => String::new(),
        };
        return Some(format!("the VM did not finish within {} s (--timeout){running}; killed it", t.as_secs()));
    }
    if let Some(f) = &run.console.fatal {
        return Some(f.clone());
    }
    if let Some(q) = &run.qemu_error {
        return Some(q.clone());
    }
    if !run.console.done {
        return Some("the VM stopped before init reported that every test ran".into());
    }
    None
}

/// Prints the summary; returns why the run failed, if it did.
fn summarize(o: &Options, kernel: &Kernel, tests: &[(String, PathBuf)], run: &qemu::Run) -> Option<String> {
    let c: &Console = &run.console;
    println!();
    println!("vm-test: ---- summary ({}) ----", o.arch.name);
    println!("vm-test: kernel package: {}", kernel.origin);
    println!("vm-test: uname -r: {}", c.kernel_release.as_deref().unwrap_or("(not reported)"));
    println!("vm-test: KVM: {}", c.kvm.as_deref().unwrap_or("(not reported)"));
    let tests_time: Duration = c.results.iter().map(|r| r.elapsed).sum();
    println!(
        "vm-test: boot {}, tests {:.1} s, VM wall time {:.1} s",
        c.boot_time.map_or("?".into(), |b| format!("{:.1} s", b.as_secs_f64())),
        tests_time.as_secs_f64(),
        run.wall.as_secs_f64()
    );
    for t in &c.kernel_trouble {
        println!("vm-test: kernel said: {t}");
    }
    let mut passed = 0;
    for (name, _) in tests {
        let r = c.results.iter().find(|r| r.name == *name);
        let (verdict, detail) = match r.and_then(|r| r.exit.map(|e| (e, r.elapsed))) {
            Some((e, t)) if e.success() => {
                passed += 1;
                ("PASS", format!("{e}, {:.1} s", t.as_secs_f64()))
            }
            Some((e @ Exit::NotStarted, _)) => ("FAIL", format!("{e}")),
            Some((e, t)) => ("FAIL", format!("{e}, {:.1} s", t.as_secs_f64())),
            None if r.is_some() => ("FAIL", "did not finish".into()),
            None => ("FAIL", "not run".into()),
        };
        println!("vm-test: {verdict} {name} ({detail})");
    }
    let failed = tests.len() - passed;
    let why = trouble(run);
    if let Some(w) = &why {
        println!("vm-test: VM FAILED: {w}");
    }
    println!("{passed} passed, {failed} failed");
    match (why, failed) {
        (Some(w), _) => Some(w),
        (None, 0) => None,
        (None, n) => Some(format!("{n} of {} test binaries failed", tests.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_pick_their_own_packages() {
        let [v61, v612] = [&SERIES[0], &SERIES[1]];
        assert_eq!(v61.abi_of("linux-image-6.1.0-56-amd64-unsigned", "amd64"), Some(56));
        assert_eq!(v61.abi_of("linux-image-6.1.0-56-cloud-amd64-unsigned", "amd64"), None);
        assert_eq!(v61.abi_of("linux-image-6.1.0-56-arm64-unsigned", "amd64"), None);
        assert_eq!(v612.abi_of("linux-image-6.12.117+deb12-arm64-unsigned", "arm64"), Some(117));
        assert_eq!(v612.abi_of("linux-image-6.12.117+deb12-rt-arm64-unsigned", "arm64"), None);
        assert_eq!(v612.abi_of("linux-image-6.1.0-56-arm64-unsigned", "arm64"), None);
    }

    #[test]
    fn options_split_at_the_first_argument_or_double_dash() {
        let args = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let o = parse_options(&args("--arch aarch64 --kernel-version 6.1 -- ucall --exact")).unwrap();
        assert!(matches!(o.series, KernelSeries::Apt(s) if s.name == "6.1"));
        assert_eq!((o.arch.name, o.rest.clone()), ("aarch64", args("ucall --exact")));
        let o = parse_options(&args("--arch x86_64 /t/ucall-123 --test-threads 1")).unwrap();
        assert_eq!(o.rest, args("/t/ucall-123 --test-threads 1"));
        assert!(matches!(o.series, KernelSeries::Apt(s) if s.name == DEFAULT_SERIES));
        assert!(parse_options(&args("--arch riscv64")).is_err());
        let o = parse_options(&args("--kernel-version 7.3")).unwrap();
        assert!(matches!(o.series, KernelSeries::Archive(archive::Wanted::Series(ref s)) if s == "7.3"));
        let o = parse_options(&args("--kernel-version latest")).unwrap();
        assert!(matches!(o.series, KernelSeries::Archive(archive::Wanted::Latest)));
        assert!(parse_options(&args("--kernel-version 7")).is_err());
        assert!(parse_options(&args("--kernel-version newest")).is_err());
        assert!(parse_options(&args("--timeout soon")).is_err());
        assert!(parse_options(&args("--arch")).is_err());
    }

    #[test]
    fn test_executables_come_from_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","profile":{"test":false},"target":{"name":"kvmtest","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","profile":{"test":true},"target":{"name":"kvmtest","kind":["lib"]},"executable":"/t/deps/kvmtest-1"}
{"reason":"compiler-artifact","profile":{"test":true},"target":{"name":"ucall","kind":["test"]},"executable":"/t/deps/ucall-2"}
{"reason":"compiler-artifact","profile":{"test":false},"target":{"name":"build-script-build","kind":["custom-build"]},"executable":null}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            test_executables(json).unwrap(),
            [
                ("kvmtest-lib".to_string(), PathBuf::from("/t/deps/kvmtest-1")),
                ("ucall".to_string(), PathBuf::from("/t/deps/ucall-2"))
            ]
        );
    }
}
