//! The kernel's own tools for kernel CI checks, taken from a Linux source
//! tree: the kselftest runner (`tools/testing/selftests/run_kselftest.sh`,
//! `kselftest/`) that the bundle ships, and the KTAP parser
//! (`tools/testing/kunit/kunit.py parse`) that validates what it prints.
//!
//! Found in `KVMTEST_LINUX_SRC` (a kernel tree) or in Debian's linux-source
//! tarball under /usr/src, extracted once into target/kernel-tools/.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{root, run};
use crate::Result;

/// Environment variable naming a kernel source tree to take the tools from.
pub const LINUX_SRC_ENV: &str = "KVMTEST_LINUX_SRC";

/// The Debian package holding the kernel tree whose tools kvmtest uses.
pub const LINUX_SOURCE_PACKAGE: &str = "linux-source-6.12";

/// Paths inside a kernel tree that kvmtest needs.
const SELFTESTS: &str = "tools/testing/selftests";
const KUNIT: &str = "tools/testing/kunit";

/// The kselftest runner and the KTAP parser of one kernel tree.
pub struct KernelTools {
    /// `tools/testing/selftests` (run_kselftest.sh, kselftest/).
    pub selftests: PathBuf,
    /// `tools/testing/kunit` (kunit.py, kunit_parser.py).
    pub kunit: PathBuf,
}

impl KernelTools {
    /// Finds the tools; with `install`, apt-installs the linux-source package
    /// when neither a tree nor a tarball is there.
    pub fn find(install: bool) -> Result<KernelTools> {
        if let Some(tree) = std::env::var_os(LINUX_SRC_ENV) {
            return KernelTools::in_tree(Path::new(&tree));
        }
        let tarball = match source_tarball() {
            Some(t) => t,
            None if install => {
                eprintln!("kernel tools: installing {LINUX_SOURCE_PACKAGE} for run_kselftest.sh and kunit.py");
                run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends", LINUX_SOURCE_PACKAGE]))
                    .or_else(|_| {
                    run(Command::new("apt-get").arg("update"))?;
                    run(Command::new("apt-get").args([
                        "install",
                        "-y",
                        "--no-install-recommends",
                        LINUX_SOURCE_PACKAGE,
                    ]))
                })?;
                source_tarball().ok_or("apt-get installed no /usr/src/linux-source-*.tar.*")?
            }
            None => {
                return Err(format!(
                    "the kernel's kselftest runner and KTAP parser are needed and no kernel source was found:\n\
                     `apt-get install {LINUX_SOURCE_PACKAGE}` (or run `cargo xtask kernel-ci-check`, which does),\n\
                     or set {LINUX_SRC_ENV}=<a Linux source tree>"
                ))
            }
        };
        KernelTools::in_tree(&extract(&tarball)?)
    }

    fn in_tree(tree: &Path) -> Result<KernelTools> {
        let tools = KernelTools { selftests: tree.join(SELFTESTS), kunit: tree.join(KUNIT) };
        for needed in
            [tools.selftests.join("run_kselftest.sh"), tools.selftests.join("kselftest/runner.sh"), tools.kunit_py()]
        {
            if !needed.is_file() {
                return Err(format!("{} is missing from the kernel tree {}", needed.display(), tree.display()));
            }
        }
        Ok(tools)
    }

    /// `kunit.py`, whose `parse` verb is the kernel's KTAP parser.
    pub fn kunit_py(&self) -> PathBuf {
        self.kunit.join("kunit.py")
    }

    /// Copies run_kselftest.sh and kselftest/ into the bundle at `dest`, as
    /// `make -C tools/testing/selftests install` lays them out.
    pub fn install_runner(&self, dest: &Path) -> Result {
        let runner_dir = dest.join("kselftest");
        fs::create_dir_all(&runner_dir).map_err(|e| format!("creating {}: {e}", runner_dir.display()))?;
        install_file(&self.selftests.join("run_kselftest.sh"), &dest.join("run_kselftest.sh"), 0o755)?;
        let src = self.selftests.join("kselftest");
        for entry in fs::read_dir(&src).map_err(|e| format!("reading {}: {e}", src.display()))? {
            let path = entry.map_err(|e| format!("reading {}: {e}", src.display()))?.path();
            if let Some(name) = path.file_name() {
                let mode = if path.extension().is_some_and(|e| e == "pl" || e == "sh") { 0o755 } else { 0o644 };
                install_file(&path, &runner_dir.join(name), mode)?;
            }
        }
        Ok(())
    }

    /// Parses the (K)TAP in `log` with `kunit.py parse`, writing its JSON
    /// report to `json`.
    pub fn parse(&self, log: &Path, json: &Path) -> Result<Parsed> {
        // kunit.py changes to the kernel tree's root before reading.
        let log = std::path::absolute(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let json = std::path::absolute(json).map_err(|e| format!("{}: {e}", json.display()))?;
        let out = Command::new("python3")
            .arg(self.kunit_py())
            .arg("parse")
            .arg(format!("--json={}", json.display()))
            .arg(&log)
            .output()
            .map_err(|e| format!("running python3 {}: {e}", self.kunit_py().display()))?;
        let output = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let report =
            fs::read_to_string(&json).map_err(|e| format!("kunit.py wrote no JSON report ({e}):\n{output}"))?;
        let report: serde_json::Value =
            serde_json::from_str(&report).map_err(|e| format!("kunit.py's JSON report: {e}"))?;
        let mut cases = Vec::new();
        collect_cases(&report, &mut cases);
        Ok(Parsed { success: out.status.success(), counts: Counts::from_summary(&output), output, cases })
    }
}

/// What `kunit.py parse` made of a log.
pub struct Parsed {
    /// kunit.py's verdict: exit 0 means the run as a whole passed.
    pub success: bool,
    pub counts: Counts,
    /// kunit.py's own report (stdout and stderr).
    pub output: String,
    /// Every leaf test case as (name, status) from the JSON report:
    /// PASS, FAIL, SKIP or ERROR.
    pub cases: Vec<(String, String)>,
}

/// kunit.py's closing line: `Testing complete. Ran 5 tests: passed: 4, skipped: 1`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ran: usize,
    pub passed: usize,
    pub failed: usize,
    pub crashed: usize,
    pub skipped: usize,
    /// Parse errors (plan mismatches, missing results, bad numbering).
    pub errors: usize,
}

impl Counts {
    fn from_summary(output: &str) -> Counts {
        let mut c = Counts::default();
        let Some(summary) = output.lines().rev().find_map(|l| l.split_once("Testing complete. ").map(|s| s.1)) else {
            return c;
        };
        let number = |s: &str| s.trim().trim_end_matches(|ch: char| !ch.is_ascii_digit()).parse().unwrap_or(0);
        if let Some((ran, rest)) = summary.strip_prefix("Ran ").and_then(|s| s.split_once(" tests:")) {
            c.ran = number(ran);
            for item in rest.split(',') {
                let Some((key, n)) = item.split_once(':') else { continue };
                let slot = match key.trim() {
                    "passed" => &mut c.passed,
                    "failed" => &mut c.failed,
                    "crashed" => &mut c.crashed,
                    "skipped" => &mut c.skipped,
                    "errors" => &mut c.errors,
                    _ => continue,
                };
                *slot = number(n);
            }
        }
        c
    }
}

fn collect_cases(group: &serde_json::Value, cases: &mut Vec<(String, String)>) {
    for case in group["test_cases"].as_array().into_iter().flatten() {
        let name = case["name"].as_str().unwrap_or("").to_string();
        cases.push((name, case["status"].as_str().unwrap_or("").to_string()));
    }
    for sub in group["sub_groups"].as_array().into_iter().flatten() {
        collect_cases(sub, cases);
    }
}

/// The newest /usr/src/linux-source-*.tar.* (Debian's linux-source packages).
pub(crate) fn source_tarball() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/src")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("linux-source-") && n.contains(".tar"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// Extracts the tools of `tarball` into target/kernel-tools/<its name>/
/// (once) and returns the kernel tree there.
fn extract(tarball: &Path) -> Result<PathBuf> {
    let stem = tarball.file_name().and_then(|n| n.to_str()).and_then(|n| n.split(".tar").next()).unwrap_or("linux");
    let patterns =
        [format!("*/{SELFTESTS}/run_kselftest.sh"), format!("*/{SELFTESTS}/kselftest/*"), format!("*/{KUNIT}/*")];
    extract_once(
        tarball,
        &root().join("target/kernel-tools").join(stem),
        &patterns.iter().map(String::as_str).collect::<Vec<_>>(),
        "kernel tools: extracting run_kselftest.sh and kunit.py",
    )
}

/// Extracts the members of `tarball` matching `patterns` into `dest`, unless
/// `dest` already holds them from this same tarball, and returns the kernel
/// tree there (the tarball's one top directory, e.g. linux-source-6.12/).
pub(crate) fn extract_once(tarball: &Path, dest: &Path, patterns: &[&str], what: &str) -> Result<PathBuf> {
    let done = dest.join(".extracted");
    if fs::read_to_string(&done).ok().as_deref() != Some(&tarball.display().to_string()) {
        eprintln!("{what} from {}", tarball.display());
        if dest.exists() {
            fs::remove_dir_all(dest).map_err(|e| format!("removing {}: {e}", dest.display()))?;
        }
        fs::create_dir_all(dest).map_err(|e| format!("creating {}: {e}", dest.display()))?;
        run(Command::new("tar")
            .arg("-xf")
            .arg(tarball)
            .arg("-C")
            .arg(dest)
            .args(["--wildcards", "--no-same-owner"])
            .args(patterns))?;
        fs::write(&done, tarball.display().to_string()).map_err(|e| format!("writing {}: {e}", done.display()))?;
    }
    fs::read_dir(dest)
        .map_err(|e| format!("reading {}: {e}", dest.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
        .ok_or_else(|| format!("{} holds no kernel tree", tarball.display()))
}

fn install_file(from: &Path, to: &Path, mode: u32) -> Result {
    use std::os::unix::fs::PermissionsExt;
    fs::copy(from, to).map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).map_err(|e| format!("chmod {}: {e}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn summary_line_counts() {
        let out = "[16:01:02] ====\n[16:01:02] Testing complete. Ran 47 tests: passed: 45, skipped: 1, errors: 2\n";
        assert_eq!(
            Counts::from_summary(out),
            Counts { ran: 47, passed: 45, skipped: 1, errors: 2, ..Counts::default() }
        );
        assert_eq!(Counts::from_summary("no summary"), Counts::default());
    }
}
