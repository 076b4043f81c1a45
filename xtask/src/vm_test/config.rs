//! Named configurations of the emulated machine (`cargo xtask vm-test
//! --config NAME|MATRIX|all`), read from xtask/vm-configs.toml: arch, kernel
//! series, arm64 KVM mode, KVM module parameters and test arguments. Each
//! runs as its own boot; a verdict table (test binary × configuration)
//! names the failing trials, so a failure that shows only with, say,
//! kvm_amd.npt=0 stands out beside the default configuration's PASS.
//! Each configuration's results are kept in a directory of its own inside
//! the run's (summary.rs).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::arch::Arch;
use super::kernel::{kernel_for, Kernel};
use super::options::{ArmKvmMode, VmOptions};
use super::{boot, build, build_init, qemu, summary};
use crate::results::BinaryRun;
use crate::util::root;
use crate::Result;

/// The configuration file, relative to the workspace root.
pub const CONFIG_FILE: &str = "xtask/vm-configs.toml";
/// `--config all`: every configuration of the file.
const ALL: &str = "all";

/// What one arch boots: init and the test binaries (name, path).
type Suite = (PathBuf, Vec<(String, PathBuf)>);

/// The file: configurations and named groups of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Named groups (`default = [...]`, what CI runs).
    #[serde(default)]
    pub matrix: BTreeMap<String, Vec<String>>,
    #[serde(rename = "config")]
    pub configs: Vec<Config>,
}

/// One configuration: one boot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub name: String,
    /// What it is for, printed in the table's legend.
    #[serde(default)]
    pub about: String,
    pub arch: String,
    /// Kernel series, as --kernel-version takes it.
    pub kernel: String,
    /// arm64 KVM's mode (nvhe, vhe, protected), as --kvm-mode takes it.
    #[serde(default)]
    pub mode: Option<String>,
    /// `module.param=value` words for the kernel command line; init passes
    /// them to the modules it loads and reports what sysfs then says.
    #[serde(default)]
    pub params: Vec<String>,
    /// Arguments for every test binary (filters, --skip ...).
    #[serde(default)]
    pub args: Vec<String>,
}

impl ConfigFile {
    /// Parses and checks the file's text.
    pub fn parse(text: &str) -> Result<ConfigFile> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| format!("{CONFIG_FILE}: {e}"))?;
        file.check()?;
        Ok(file)
    }

    /// Reads [`CONFIG_FILE`].
    pub fn load() -> Result<ConfigFile> {
        let path = root().join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        ConfigFile::parse(&text)
    }

    fn check(&self) -> Result {
        let mut seen = Vec::new();
        for c in &self.configs {
            let bad = |why: String| format!("{CONFIG_FILE}: configuration {}: {why}", c.name);
            if c.name == ALL || self.matrix.contains_key(&c.name) || seen.contains(&&c.name) {
                return Err(bad("the name is taken (by another configuration, a matrix or `all`)".into()));
            }
            seen.push(&c.name);
            if let Some(p) = c.params.iter().find(|p| !is_module_param(p)) {
                return Err(bad(format!("params: {p:?} is not one `module.param=value` word")));
            }
            c.vm_options(&VmOptions::default())?.resolve(Vec::new()).map_err(bad)?;
        }
        for (name, members) in &self.matrix {
            if let Some(m) = members.iter().find(|m| !self.configs.iter().any(|c| c.name == **m)) {
                return Err(format!("{CONFIG_FILE}: matrix {name}: no configuration {m}"));
            }
        }
        Ok(())
    }

    /// The configurations `name` selects: one configuration, a matrix or `all`.
    pub fn select(&self, name: &str) -> Result<Vec<&Config>> {
        if name == ALL {
            return Ok(self.configs.iter().collect());
        }
        if let Some(members) = self.matrix.get(name) {
            return Ok(self.configs.iter().filter(|c| members.contains(&c.name)).collect());
        }
        match self.configs.iter().find(|c| c.name == name) {
            Some(c) => Ok(vec![c]),
            None => Err(format!(
                "--config {name}: {CONFIG_FILE} has configurations {}, matrices {}, and `all`",
                self.configs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                self.matrix.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// A `module.param=value` word (`kvm_amd.npt=0`, `kvm.enable_pmu=0`).
fn is_module_param(word: &str) -> bool {
    let Some((key, _)) = word.split_once('=') else { return false };
    !word.contains(char::is_whitespace) && key.split_once('.').is_some_and(|(m, p)| !m.is_empty() && !p.is_empty())
}

impl Config {
    /// The command line's options with this configuration's arch, series,
    /// mode and parameters (the parameters after any --append).
    fn vm_options(&self, cli: &VmOptions) -> Result<VmOptions> {
        use clap::ValueEnum;
        let kvm_mode = match &self.mode {
            Some(m) => Some(ArmKvmMode::from_str(m, true).map_err(|_| {
                format!(
                    "{CONFIG_FILE}: configuration {}: mode {m}: arm64 KVM's modes are nvhe, vhe, protected",
                    self.name
                )
            })?),
            None => None,
        };
        let mut append = cli.append.clone();
        append.extend(self.params.iter().cloned());
        Ok(VmOptions {
            arch: Some(self.arch.clone()),
            kernel_version: Some(self.kernel.clone()),
            kvm_mode,
            append,
            ..cli.clone()
        })
    }

    /// The mode and parameters in a few words, for the table.
    fn settings(&self) -> String {
        let mut words: Vec<String> = self.mode.iter().map(|m| format!("mode {m}")).collect();
        words.extend(self.params.iter().cloned());
        words.extend(self.args.iter().map(|a| format!("args {a}")));
        if words.is_empty() {
            "defaults".into()
        } else {
            words.join(" ")
        }
    }
}

/// How one binary did in one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Exit 0 with every trial that ran skipped.
    SkipOnly,
    /// With the failing trials, or why none is named.
    Fail(Vec<String>),
    /// Not run or not finished because of Ctrl-C.
    Interrupted,
}

impl Verdict {
    fn cell(&self) -> String {
        match self {
            Verdict::Pass => "PASS".into(),
            Verdict::SkipOnly => "SKIP-only".into(),
            Verdict::Fail(trials) => format!("FAIL ({})", trials.len()),
            Verdict::Interrupted => "interrupted".into(),
        }
    }
}

/// One configuration's boot as the table reports it.
struct Outcome {
    config: Config,
    /// Per test binary, in run order.
    verdicts: Vec<(String, Verdict)>,
    /// KVM as init saw it, and the parameters it read back from sysfs.
    kvm: String,
    params_seen: Vec<String>,
    /// Why the boot as a whole failed (timeout, panic, interrupt ...).
    trouble: Option<String>,
    wall: Duration,
}

/// The verdicts of `tests` in a run, from the console's reading of each
/// binary's output (console.rs, results.rs's `BinaryRun`).
fn verdicts(tests: &[(String, PathBuf)], run: &qemu::Run) -> Vec<(String, Verdict)> {
    tests
        .iter()
        .map(|(name, _)| {
            let output = run.console.logs.iter().rev().find(|l| l.name == *name).cloned().unwrap_or_default();
            let result = run.console.results.iter().find(|r| r.name == *name);
            let verdict = match result.and_then(|r| r.exit) {
                Some(e) if e.success() && output.skip_only() => Verdict::SkipOnly,
                Some(e) if e.success() => Verdict::Pass,
                None if crate::interrupt::interrupted() => Verdict::Interrupted,
                Some(e) => fail(output, format!("{e}")),
                None if result.is_some() => fail(output, "did not finish".into()),
                None => Verdict::Fail(vec!["(not run)".into()]),
            };
            (name.clone(), verdict)
        })
        .collect()
}

fn fail(output: BinaryRun, otherwise: String) -> Verdict {
    let failed = output.failed_trials();
    if failed.is_empty() {
        Verdict::Fail(vec![format!("(no trial named: {otherwise})")])
    } else {
        Verdict::Fail(failed)
    }
}

/// `module.param = value` lines init printed (`kvmtest-init: param ...`).
fn params_seen(log: &[String]) -> Vec<String> {
    log.iter().filter_map(|l| l.split_once("kvmtest-init: param ").map(|(_, p)| p.trim().to_string())).collect()
}

/// `cargo xtask vm-test --config NAME`: each selected configuration's boot,
/// then the verdict table.
pub fn run_configs(name: &str, cli: &VmOptions, test_args: &[String], label: Option<&str>) -> Result {
    let file = ConfigFile::load()?;
    let selected = file.select(name)?;
    let dir = summary::run_dir(label, &format!("vm-test-config-{name}"))?;
    let started = Instant::now();
    let mut suites: BTreeMap<&str, Suite> = BTreeMap::new();
    let mut outcomes = Vec::new();
    for (i, c) in selected.iter().enumerate() {
        if crate::interrupt::interrupted() {
            break;
        }
        println!("\nvm-test: ==== configuration {} ({}/{}): {}", c.name, i + 1, selected.len(), c.settings());
        let args: Vec<String> = c.args.iter().chain(test_args).cloned().collect();
        let o = c.vm_options(cli)?.resolve(args)?;
        super::require_qemu(o.arch)?;
        let kernel: Kernel = kernel_for(&o)?;
        let (init, tests) = match suites.get(o.arch.name) {
            Some(s) => s.clone(),
            None => {
                let s = build_for(o.arch)?;
                suites.insert(o.arch.name, s.clone());
                s
            }
        };
        let run = boot(&o, &kernel, &init, &tests, "vm-test")?;
        // The usual per-boot summary (binary exit codes, kernel trouble).
        let _ = summary::summarize(&o, &kernel, &tests, &run, &dir, Some(&c.name));
        outcomes.push(Outcome {
            config: (*c).clone(),
            verdicts: verdicts(&tests, &run),
            kvm: run.console.kvm.clone().unwrap_or_else(|| "(not reported)".into()),
            params_seen: params_seen(&run.console.log),
            trouble: summary::trouble(&run).filter(|_| !crate::interrupt::interrupted()),
            wall: run.wall,
        });
    }
    let table = table(&outcomes, started.elapsed());
    print!("{table}");
    let kept = dir.join("configurations.md");
    if let Err(e) = std::fs::write(&kept, &table) {
        println!("vm-test: could not keep {}: {e}", kept.display());
    }
    println!("vm-test: results of every configuration in {}", dir.display());
    if crate::interrupt::interrupted() {
        println!(
            "vm-test: interrupted: {} of {} configurations finished (the last one's verdicts are partial)",
            outcomes.len().saturating_sub(1),
            selected.len()
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.trouble.is_some() || o.verdicts.iter().any(|(_, v)| matches!(v, Verdict::Fail(_))))
        .map(|o| o.config.name.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("configurations with failures: {}", failed.join(", ")))
    }
}

fn build_for(arch: &Arch) -> Result<Suite> {
    let (init, _smoke) = build_init(arch)?;
    Ok((init, build::build_suite(arch)?))
}

/// The verdict table and the failing trials, as printed at the end.
fn table(outcomes: &[Outcome], total: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nvm-test: ---- configurations ----");
    for o in outcomes {
        let c = &o.config;
        let seen =
            if o.params_seen.is_empty() { String::new() } else { format!("; sysfs: {}", o.params_seen.join(", ")) };
        let _ = writeln!(
            out,
            "vm-test: {} ({}): {} {}, {}; KVM {}{seen}; VM wall time {:.0} s{}",
            c.name,
            c.about,
            c.arch,
            c.kernel,
            c.settings(),
            o.kvm,
            o.wall.as_secs_f64(),
            o.trouble.as_ref().map_or(String::new(), |t| format!("; VM FAILED: {t}"))
        );
    }
    let mut binaries: Vec<&str> = Vec::new();
    for o in outcomes {
        for (b, _) in &o.verdicts {
            if !binaries.contains(&b.as_str()) {
                binaries.push(b);
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| test binary | {} |",
        outcomes.iter().map(|o| o.config.name.as_str()).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(out, "| --- |{}", " --- |".repeat(outcomes.len()));
    for b in &binaries {
        let cells: Vec<String> = outcomes
            .iter()
            .map(|o| o.verdicts.iter().find(|(n, _)| n == b).map_or("-".into(), |(_, v)| v.cell()))
            .collect();
        let _ = writeln!(out, "| {b} | {} |", cells.join(" | "));
    }
    let mut any = false;
    for o in outcomes {
        for (b, v) in &o.verdicts {
            if let Verdict::Fail(trials) = v {
                if !any {
                    let _ = writeln!(out, "\nvm-test: failing trials:");
                    any = true;
                }
                let _ = writeln!(out, "vm-test: {} / {b}: {}", o.config.name, trials.join(", "));
            }
        }
    }
    let _ = writeln!(out, "\nvm-test: {} configurations in {:.0} s", outcomes.len(), total.as_secs_f64());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_file_parses_and_its_default_matrix_exists() {
        let file = ConfigFile::load().unwrap();
        let default = file.select("default").unwrap();
        assert!(!default.is_empty() && default.len() <= 4, "the default matrix must fit CI's budget of 4 boots");
        assert_eq!(file.select(ALL).unwrap().len(), file.configs.len());
        assert!(file.select("no-such-configuration").is_err());
    }

    #[test]
    fn bad_files_are_refused_with_the_configuration_named() {
        let one = |extra: &str| format!("[[config]]\nname = \"a\"\narch = \"x86_64\"\nkernel = \"6.12\"\n{extra}");
        assert!(ConfigFile::parse(&one("")).is_ok());
        for (extra, why) in [
            ("params = [\"npt=0\"]", "not one `module.param=value`"),
            ("params = [\"kvm_amd.npt=0 kvm.x=1\"]", "not one"),
            ("mode = \"protected\"", "arm64 KVM's mode"),
            ("colour = \"red\"", "unknown field"),
            ("[matrix]\ndefault = [\"b\"]", "no configuration b"),
        ] {
            let e = ConfigFile::parse(&one(extra)).unwrap_err();
            assert!(e.contains(why), "{extra}: {e}");
        }
        let e = ConfigFile::parse(&format!("{}\n{}", one(""), one(""))).unwrap_err();
        assert!(e.contains("configuration a: the name is taken"), "{e}");
        let arm = "[[config]]\nname = \"p\"\narch = \"aarch64\"\nkernel = \"6.12\"\nmode = \"pkvm\"\n";
        assert!(ConfigFile::parse(arm).unwrap_err().contains("mode pkvm"));
    }

    #[test]
    fn skip_only_and_named_failures() {
        use super::super::console::Console;
        let t0 = Instant::now();
        let mut console = Console::new(t0);
        for l in [
            "KVMTEST-VM: begin psci",
            "test result: ok. 0 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.10s",
            "KVMTEST-VM: end psci exit=0",
            "KVMTEST-VM: begin ucall",
            "test ucall::mmio::sync ... FAILED",
            "KVMTEST-VM: end ucall exit=101",
            "KVMTEST-VM: begin hostile",
        ] {
            console.feed(l, t0);
        }
        let run = qemu::Run { console, wall: Duration::ZERO, timed_out: None, qemu_error: None };
        let tests: Vec<(String, PathBuf)> =
            ["psci", "ucall", "hostile", "soak"].iter().map(|n| (n.to_string(), PathBuf::new())).collect();
        let v = verdicts(&tests, &run);
        assert_eq!(v[0].1, Verdict::SkipOnly);
        assert_eq!(v[1].1, Verdict::Fail(vec!["ucall::mmio::sync".into()]));
        assert_eq!(v[2].1, Verdict::Fail(vec!["(no trial named: did not finish)".into()]));
        assert_eq!(v[3].1, Verdict::Fail(vec!["(not run)".into()]));
    }
}
