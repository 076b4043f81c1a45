//! `cargo xtask fuzz [--smoke] [--seconds N] [TARGET...]`: runs each
//! cargo-fuzz target in fuzz/ for a while and fails on any finding.
//!
//! Needs the nightly toolchain and cargo-fuzz; both are installed if
//! missing. The seed corpus in fuzz/corpus/<target> is never written to:
//! new inputs go to target/fuzz/corpus/<target>, findings to
//! target/fuzz/artifacts/<target>.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{root, run};
use crate::Result;

/// Run the cargo-fuzz targets in fuzz/; fails on a finding.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// 30 s per target (CI) instead of 300 s
    #[arg(long)]
    pub smoke: bool,
    /// Seconds per target (overrides --smoke)
    #[arg(long, value_name = "N")]
    pub seconds: Option<u64>,
    /// The targets to run [default: every one in fuzz/fuzz_targets/]
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
}

/// Seconds per target with `--smoke` (CI: both targets and the build stay
/// under three minutes).
const SMOKE_SECONDS: u64 = 30;
/// Seconds per target otherwise.
const DEFAULT_SECONDS: u64 = 300;
/// An input that takes longer than this is a finding (a hang).
const INPUT_TIMEOUT_SECONDS: u64 = 10;

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn ensure_tools() -> Result {
    if !succeeds(Command::new("rustup").args(["run", "nightly", "cargo", "--version"])) {
        eprintln!("xtask: installing the nightly toolchain (cargo-fuzz needs it)");
        run(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))?;
    }
    if !succeeds(Command::new(env!("CARGO")).args(["fuzz", "--version"])) {
        eprintln!("xtask: installing cargo-fuzz");
        run(Command::new(env!("CARGO")).args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// The targets: one file each in fuzz/fuzz_targets/.
fn all_targets(fuzz: &Path) -> Result<Vec<String>> {
    let dir = fuzz.join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

pub fn fuzz(args: &Args) -> Result {
    let seconds = match args.seconds {
        Some(s) => s,
        None if args.smoke => SMOKE_SECONDS,
        None => DEFAULT_SECONDS,
    };
    let root = root();
    let fuzz = root.join("fuzz");
    let known = all_targets(&fuzz)?;
    let chosen = args.targets.clone();
    if let Some(bad) = chosen.iter().find(|t| !known.contains(t)) {
        return Err(format!("no fuzz target `{bad}`; the targets are: {}", known.join(", ")));
    }
    let targets = if chosen.is_empty() { known } else { chosen };

    ensure_tools()?;
    run(Command::new("rustup").current_dir(&root).args(["run", "nightly", "cargo", "fuzz", "build"]))?;
    let mut report = Vec::new();
    for t in &targets {
        let corpus = root.join("target/fuzz/corpus").join(t);
        let artifacts = root.join("target/fuzz/artifacts").join(t);
        for d in [&corpus, &artifacts] {
            std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        eprintln!("xtask: fuzzing {t} for {seconds} s");
        let mut cmd = Command::new("rustup");
        cmd.current_dir(&root)
            .args(["run", "nightly", "cargo", "fuzz", "run", t])
            .arg(&corpus)
            .arg(fuzz.join("corpus").join(t))
            .args([
                "--".to_string(),
                format!("-max_total_time={seconds}"),
                format!("-timeout={INPUT_TIMEOUT_SECONDS}"),
                format!("-artifact_prefix={}/", artifacts.display()),
                "-print_final_stats=1".to_string(),
            ]);
        if let Err(e) = run(&mut cmd) {
            return Err(format!(
                "fuzz target {t} found a problem ({e}).\nThe input is in {}; reproduce with\n  cargo +nightly fuzz run {t} <that file>",
                artifacts.display()
            ));
        }
        report.push(format!("{t}: {seconds} s without a finding"));
    }
    for line in report {
        println!("{line}");
    }
    Ok(())
}
