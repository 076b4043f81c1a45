//! The bench's peer programs: bench/upstream/ucall_bench.c, and for the
//! scenario row one of the tree's own selftests, built statically on the
//! kernel's own KVM selftest library (tools/testing/selftests/kvm/lib),
//! compiled from a Linux source tree as its Makefile does, over the uapi
//! headers of that tree (`make headers_install` into target/upstream-bench/).
//!
//! The tree: `KVMTEST_LINUX_SRC`, or Debian's linux-source tarball under
//! /usr/src, whose needed parts are extracted once into target/upstream-bench/.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::kselftest::{source_tarball, LINUX_SOURCE_PACKAGE, LINUX_SRC_ENV};
use crate::util::{host_arch, root, run};
use crate::Result;

const SELFTEST: &str = "tools/testing/selftests/kvm";
/// The selftest library as its Makefile lists it (LIBKVM, LIBKVM_<arch>).
const LIBKVM: &[&str] = &[
    "assert.c",
    "elf.c",
    "guest_modes.c",
    "io.c",
    "kvm_util.c",
    "memstress.c",
    "guest_sprintf.c",
    "rbtree.c",
    "sparsebit.c",
    "test_util.c",
    "ucall_common.c",
    "userfaultfd_util.c",
];
const LIBKVM_X86_64: &[&str] =
    &["apic.c", "handlers.S", "hyperv.c", "memstress.c", "pmu.c", "processor.c", "sev.c", "svm.c", "ucall.c", "vmx.c"];
const LIBKVM_AARCH64: &[&str] =
    &["gic.c", "gic_v3.c", "gic_v3_its.c", "handlers.S", "processor.c", "spinlock.c", "ucall.c", "vgic.c"];

/// The selftests' CFLAGS (tools/testing/selftests/kvm/Makefile, lib.mk).
const CFLAGS: &[&str] = &[
    "-O2",
    "-std=gnu99",
    "-D_GNU_SOURCE=",
    "-DCONFIG_64BIT",
    "-U_FORTIFY_SOURCE",
    "-fno-builtin-memcmp",
    "-fno-builtin-memcpy",
    "-fno-builtin-memset",
    "-fno-builtin-strnlen",
    "-fno-stack-protector",
    "-fno-PIE",
    "-fno-strict-aliasing",
    "-w",
];

/// Builds the program for `arch`; the error is the reason the peer rows are skipped.
pub fn build(arch: &str) -> Result<PathBuf> {
    build_on_selftest_lib(arch, Source::Bench)
}

/// A kvmtest scenario binary and the upstream selftest it is timed against
/// (the bench's scenario row), per arch: the pairs the issue names.
pub fn scenario_peer(arch: &str) -> Option<(&'static str, &'static str)> {
    match arch {
        "x86_64" => Some(("pv_features", "x86_64/kvm_pv_test.c")),
        "aarch64" => Some(("psci", "aarch64/psci_test.c")),
        _ => None,
    }
}

/// Builds upstream's selftest `file` (relative to tools/testing/selftests/kvm)
/// for `arch`, as its Makefile would, on the same library.
pub fn build_selftest(arch: &str, file: &'static str) -> Result<PathBuf> {
    build_on_selftest_lib(arch, Source::Selftest(file))
}

/// What to build on the selftest library.
enum Source {
    /// bench/upstream/ucall_bench.c.
    Bench,
    /// A selftest of the tree, relative to tools/testing/selftests/kvm.
    Selftest(&'static str),
}

fn build_on_selftest_lib(arch: &str, what: Source) -> Result<PathBuf> {
    let (kernel_arch, libkvm_arch) = match arch {
        "x86_64" => ("x86", LIBKVM_X86_64),
        "aarch64" => ("arm64", LIBKVM_AARCH64),
        _ => return Err(format!("no upstream selftest build for {arch}")),
    };
    let cc = if arch == host_arch() { "gcc".to_string() } else { format!("{arch}-linux-gnu-gcc") };
    if Command::new(&cc).arg("--version").output().map_or(true, |o| !o.status.success()) {
        return Err(format!(
            "no C compiler {cc} for {arch} (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross for arm64)"
        ));
    }
    let tree = match std::env::var_os(LINUX_SRC_ENV) {
        Some(t) => PathBuf::from(t),
        None => extract(&source_tarball().ok_or_else(|| {
            format!("no Linux source tree: apt-get install {LINUX_SOURCE_PACKAGE}, or set {LINUX_SRC_ENV}")
        })?)?,
    };
    let out = root().join("target/upstream-bench").join(arch);
    let headers = out.join("usr");
    if !headers.join("include/linux/kvm.h").is_file() {
        eprintln!("bench: installing the uapi headers of {} for {arch}", tree.display());
        run(Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&tree)
            .arg(format!("ARCH={kernel_arch}"))
            .arg(format!("INSTALL_HDR_PATH={}", headers.display()))
            .arg("headers_install"))?;
    }
    let selftest = tree.join(SELFTEST);
    let mut includes = vec![
        tree.join("tools/include"),
        tree.join("tools/arch").join(kernel_arch).join("include"),
        headers.join("include"),
        selftest.join("include"),
        selftest.join("include").join(arch),
        selftest.join("lib"),
        tree.join("tools/testing/selftests/rseq"),
        tree.join("tools/testing/selftests"),
    ];
    if arch == "aarch64" {
        // sysreg-defs.h, generated as the selftests' Makefile does (tools'
        // Makefile.include refuses an OUTPUT directory that does not exist).
        let tools = out.join("tools/");
        std::fs::create_dir_all(&tools).map_err(|e| format!("creating {}: {e}", tools.display()))?;
        run(Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(tree.join("tools/arch/arm64/tools"))
            .arg(format!("OUTPUT={}", tools.display())))?;
        includes.push(tools.join("arch/arm64/include/generated"));
    }
    let (source, program) = match what {
        Source::Bench => (root().join("bench/upstream/ucall_bench.c"), out.join("ucall_bench")),
        Source::Selftest(file) => {
            let name = Path::new(file).file_stem().and_then(|n| n.to_str()).unwrap_or(file);
            (selftest.join(file), out.join(name))
        }
    };
    let cc_cmd = || {
        let mut c = Command::new(&cc);
        c.args(CFLAGS).args(includes.iter().map(|i| format!("-I{}", i.display())));
        c
    };
    eprintln!("bench: building {} on the selftest lib of {}", source.display(), tree.display());
    // The string overrides are freestanding, as in the Makefile (no self-calls).
    let string_override = out.join("string_override.o");
    run(cc_cmd()
        .arg("-ffreestanding")
        .arg("-c")
        .arg(selftest.join("lib/string_override.c"))
        .arg("-o")
        .arg(&string_override))?;
    let lib = LIBKVM.iter().map(|f| selftest.join("lib").join(f));
    let lib_arch = libkvm_arch.iter().map(|f| selftest.join("lib").join(arch).join(f));
    run(cc_cmd()
        .args(["-static", "-no-pie", "-pthread", "-o"])
        .arg(&program)
        .arg(&source)
        .args(lib)
        .args(lib_arch)
        .arg(&string_override)
        .arg("-ldl"))?;
    Ok(program)
}

/// Extracts what the build needs from `tarball` into target/upstream-bench/src/
/// (once) and returns the kernel tree there. headers_install needs the top
/// Makefile, scripts/ and the uapi trees.
fn extract(tarball: &Path) -> Result<PathBuf> {
    crate::kselftest::extract_once(
        tarball,
        &root().join("target/upstream-bench/src"),
        &[
            "*/Makefile",
            "*/Kbuild",
            "*/Kconfig*",
            "*/scripts/*",
            "*/include/*",
            "*/tools/*",
            "*/arch/x86/*",
            "*/arch/arm64/*",
        ],
        "bench: extracting the selftest lib and the uapi headers",
    )
}
