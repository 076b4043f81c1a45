//! The scenario row: one kvmtest scenario binary against the upstream
//! selftest it replaces, whole runs timed in alternation in the same machine
//! (x86_64: `pv_features` against kvm_pv_test; aarch64: `psci` against
//! psci_test). Both are embedded by build.rs when `cargo xtask bench --arch`
//! built them; otherwise the row is skipped with the reason.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::raw::Result;
use crate::report::{Row, Target, Unit};
use crate::stats::{best_ratio, summarize};

static KVMTEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/scenario_kvmtest"));
static UPSTREAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/scenario_upstream"));
const KVMTEST_NAME: &str = env!("KVMTEST_BENCH_SCENARIO_NAME");
const UPSTREAM_NAME: &str = env!("KVMTEST_BENCH_SCENARIO_UPSTREAM_NAME");
/// Why the pair is missing (empty when it is embedded).
const NOT_BUILT: &str = env!("KVMTEST_BENCH_SCENARIO_SKIP");
/// kselftest's exit status for a skipped test.
const KSFT_SKIP: i32 = 4;
/// The row's target: a scenario binary no slower than its upstream original.
const TARGET: f64 = 1.0;

/// A program written out to a temporary file, removed on drop.
struct Installed(PathBuf);

impl Installed {
    fn new(name: &str, bytes: &[u8]) -> Result<Installed> {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("kvmtest-bench-{name}-{}", std::process::id()));
        std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        Ok(Installed(path))
    }

    /// One whole run in seconds; `Ok(Err(why))` when it skipped itself
    /// (kselftest's exit status 4), an error when it failed.
    fn run(&self, name: &str) -> Result<std::result::Result<f64, String>> {
        let t = Instant::now();
        let out = Command::new(&self.0).output().map_err(|e| format!("running {name}: {e}"))?;
        let seconds = t.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(KSFT_SKIP) {
            return Ok(Err(format!("{name} skipped: {}", text.trim().replace('\n', " / "))));
        }
        if !out.status.success() {
            return Err(format!("{name} failed ({}): the scenario must pass to be timed:\n{text}", out.status));
        }
        Ok(Ok(seconds))
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `runs` whole runs of each, alternating which goes first; the row is the
/// fastest kvmtest run over the fastest upstream run (target <= 1.0x).
pub fn row(runs: usize) -> Result<Row> {
    let name = if KVMTEST_NAME.is_empty() {
        "scenario wall time vs its upstream selftest".to_string()
    } else {
        format!("scenario wall time: {KVMTEST_NAME} vs upstream {UPSTREAM_NAME}")
    };
    let skipped = |why: String| Ok(Row { target: Target::MaxRatio(TARGET), ..Row::skipped(name.clone(), why) });
    if !NOT_BUILT.is_empty() || KVMTEST.is_empty() || UPSTREAM.is_empty() {
        return skipped(NOT_BUILT.to_string());
    }
    let kvmtest = Installed::new(KVMTEST_NAME, KVMTEST)?;
    let upstream = Installed::new(UPSTREAM_NAME, UPSTREAM)?;
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for i in 0..runs {
        for side in if i % 2 == 0 { [0, 1] } else { [1, 0] } {
            let (program, name, samples) =
                if side == 0 { (&kvmtest, KVMTEST_NAME, &mut k) } else { (&upstream, UPSTREAM_NAME, &mut u) };
            match program.run(name)? {
                Ok(s) => samples.push(s),
                Err(why) => return skipped(why),
            }
        }
    }
    Ok(Row {
        name,
        unit: Unit::Seconds,
        harness: summarize(&k),
        baseline_name: "upstream selftest, same machine",
        baseline: summarize(&u),
        ratio: best_ratio(&k, &u),
        target: Target::MaxRatio(TARGET),
        skip: None,
        note: format!(
            "{runs} whole runs each, alternating; kvmtest: every trial, default test threads; \
             upstream: {UPSTREAM_NAME} as built from the kernel tree"
        ),
    })
}
