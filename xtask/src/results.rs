//! Kept results of `cargo xtask test` and `vm-test`: each run writes
//! `target/kvmtest-results/<UTC time>[-label]/` (never overwritten; `latest`
//! points to the newest) with each binary's log, KTAP and JUnit report
//! (reports.rs), `summary.md` and `summary.json` (the verdict of every
//! trial), and every summary ends with the failed `binary::trial` names and
//! where their logs are.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::libtest_output::{BinaryRun, Verdict};
use crate::Result;

/// A KTAP result line: `ok N name`, `not ok N name`, `ok N name # SKIP reason`.
pub fn parse_ktap_result(line: &str) -> Option<(String, Verdict)> {
    let (failed, rest) = match line.strip_prefix("not ok ") {
        Some(rest) => (true, rest),
        None => (false, line.strip_prefix("ok ")?),
    };
    let (number, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    number.parse::<u64>().ok()?;
    let (name, directive) = rest.split_once(" # ").unwrap_or((rest, ""));
    let verdict = if failed {
        Verdict::Fail
    } else if let Some(why) = directive.strip_prefix("SKIP") {
        Verdict::Skip(format!("SKIP: {}", why.trim()).trim_end_matches([' ', ':']).to_string())
    } else {
        Verdict::Pass
    };
    Some((name.trim().to_string(), verdict))
}

/// `YYYYMMDDTHHMMSSZ` for `t` in UTC.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The results folder under `target/`.
pub fn results_root() -> PathBuf {
    crate::util::root().join("target/kvmtest-results")
}

/// Makes a new directory `<UTC time>[-label]` under `root` (with `-2`, `-3`…
/// when that name is taken: a run never overwrites another) and points
/// `root/latest` at it.
pub fn new_run_dir(root: &Path, label: Option<&str>) -> Result<PathBuf> {
    fs::create_dir_all(root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    let mut base = utc_stamp(SystemTime::now());
    if let Some(l) = label.filter(|l| !l.is_empty()) {
        base += "-";
        base += &l.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'), "_");
    }
    let mut n = 1;
    let dir = loop {
        let name = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        let dir = root.join(&name);
        match fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(format!("creating {}: {e}", dir.display())),
        }
    };
    // Replace `latest` atomically: a new link under a temporary name, renamed over it.
    let tmp = root.join(format!(".latest-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let target = dir.file_name().map(PathBuf::from).unwrap_or_else(|| dir.clone());
    std::os::unix::fs::symlink(&target, &tmp).map_err(|e| format!("linking {}: {e}", tmp.display()))?;
    fs::rename(&tmp, root.join("latest")).map_err(|e| format!("updating {}/latest: {e}", root.display()))?;
    Ok(dir)
}

/// The failed trials (name, log path) of every run this process kept, by
/// run directory: `ci` lists them all at its end.
static KEPT_FAILURES: Mutex<Vec<KeptRun>> = Mutex::new(Vec::new());

/// A kept run's directory and its failed trials, each with its log's path.
pub type KeptRun = (PathBuf, Vec<(String, PathBuf)>);

/// What [`write_run`] kept so far in this process: each run's directory and
/// its failed trials with their logs.
pub fn kept_failures() -> Vec<KeptRun> {
    KEPT_FAILURES.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Writes each binary's log, `summary.md` and `summary.json` into `dir`.
pub fn write_run(dir: &Path, title: &str, binaries: &[BinaryRun]) -> Result {
    let failed = failures(binaries).into_iter().map(|(name, log)| (name, dir.join(log))).collect();
    KEPT_FAILURES.lock().unwrap_or_else(PoisonError::into_inner).push((dir.to_path_buf(), failed));
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    for b in binaries {
        let mut log = b.lines.join("\n");
        log.push('\n');
        write(&b.log_name(), &log)?;
        write(&format!("{}.ktap", b.file_stem()), &crate::reports::ktap(b))?;
        write(&format!("{}.junit.xml", b.file_stem()), &crate::reports::junit(b))?;
    }
    write("summary.md", &summary_md(title, binaries))?;
    let json = serde_json::json!({
        "title": title,
        "binaries": binaries.iter().map(|b| serde_json::json!({
            "name": b.name,
            "log": b.log_name(),
            "failed": b.failed,
            "interrupted": b.interrupted,
            "trouble": b.trouble,
            "trials": b.trials.iter().map(|(name, v)| {
                let (verdict, reason) = match v {
                    Verdict::Pass => ("pass", None),
                    Verdict::Fail => ("fail", None),
                    Verdict::Skip(r) => ("skip", Some(r.as_str())),
                    Verdict::Interrupted => ("interrupted", None),
                };
                serde_json::json!({ "name": name, "verdict": verdict, "reason": reason })
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "failed": failures(binaries).iter().map(|(name, log)| serde_json::json!({ "name": name, "log": log })).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&json).map_err(|e| format!("summary.json: {e}"))?;
    write("summary.json", &(text + "\n"))
}

/// Pass/fail/skip counts of `trials`.
fn counts(trials: &[(String, Verdict)]) -> (usize, usize, usize) {
    let n = |f: fn(&Verdict) -> bool| trials.iter().filter(|(_, v)| f(v)).count();
    (n(|v| *v == Verdict::Pass), n(|v| *v == Verdict::Fail), n(|v| matches!(v, Verdict::Skip(_))))
}

fn summary_md(title: &str, binaries: &[BinaryRun]) -> String {
    let mut md = format!(
        "# {title}\n\n| binary | verdict | passed | failed | skipped | log |\n| --- | --- | --- | --- | --- | --- |\n"
    );
    for b in binaries {
        let (p, f, s) = counts(&b.trials);
        let verdict = if b.failed {
            "FAIL"
        } else if b.interrupted {
            "INTERRUPTED"
        } else {
            "pass"
        };
        let _ = writeln!(md, "| {} | {verdict} | {p} | {f} | {s} | {} |", b.name, b.log_name());
    }
    let failed = failures(binaries);
    if !failed.is_empty() {
        md += "\n## Failed\n\n";
        for (name, log) in &failed {
            let _ = writeln!(md, "- `{name}` ({log})");
        }
    }
    let skipped: Vec<String> = binaries
        .iter()
        .flat_map(|b| {
            b.trials.iter().filter_map(move |(t, v)| match v {
                Verdict::Skip(r) => Some(format!("- `{}::{t}`: {r}", b.name)),
                _ => None,
            })
        })
        .collect();
    if !skipped.is_empty() {
        md += "\n## Skipped\n\n";
        md += &skipped.join("\n");
        md.push('\n');
    }
    let interrupted: Vec<String> = binaries
        .iter()
        .flat_map(|b| {
            b.trials.iter().filter(|(_, v)| *v == Verdict::Interrupted).map(move |(t, _)| {
                // Scenario trials already start with their binary's name.
                if t.starts_with(&format!("{}::", b.name)) {
                    format!("- `{t}`")
                } else {
                    format!("- `{}::{t}`", b.name)
                }
            })
        })
        .collect();
    if !interrupted.is_empty() {
        md += "\n## Interrupted (not finished)\n\n";
        md += &interrupted.join("\n");
        md.push('\n');
    }
    md
}

/// Every failed `binary::trial` (or a failed binary with no failed trial,
/// e.g. it crashed) with its log's file name.
pub fn failures(binaries: &[BinaryRun]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for b in binaries {
        let failed: Vec<&String> = b.trials.iter().filter(|(_, v)| *v == Verdict::Fail).map(|(t, _)| t).collect();
        for t in &failed {
            // Scenario trials already start with their binary's name (`ucall::pio::…`).
            let name = if t.starts_with(&format!("{}::", b.name)) { t.to_string() } else { format!("{}::{t}", b.name) };
            out.push((name, b.log_name()));
        }
        if b.failed && failed.is_empty() {
            let why = b.trouble.as_deref().unwrap_or("failed without a failed trial");
            out.push((format!("{} ({why})", b.name), b.log_name()));
        }
    }
    out
}

/// The closing lines of a summary: the failed trials and where their logs
/// are, then where the results were kept.
/// The trials of every binary in `binaries`: (passed, failed, skipped).
pub fn trial_counts(binaries: &[BinaryRun]) -> (usize, usize, usize) {
    let trials: Vec<(String, Verdict)> = binaries.iter().flat_map(|b| b.trials.iter().cloned()).collect();
    counts(&trials)
}

pub fn closing_lines(verb: &str, dir: &Path, binaries: &[BinaryRun]) -> Vec<String> {
    let (p, f, s) = trial_counts(binaries);
    let i = binaries.iter().flat_map(|b| &b.trials).filter(|(_, v)| *v == Verdict::Interrupted).count();
    let interrupted = if i > 0 { format!(", {i} interrupted") } else { String::new() };
    let mut lines = vec![format!(
        "{verb}: {} test binaries, trials: {p} passed, {f} failed, {s} skipped{interrupted}; results in {}",
        binaries.len(),
        dir.display()
    )];
    let failed = failures(binaries);
    if !failed.is_empty() {
        lines.push(format!("{verb}: failed:"));
        for (name, log) in failed {
            lines.push(format!("  {name}  (log: {})", dir.join(log).display()));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ktap_result_lines() {
        assert_eq!(parse_ktap_result("ok 1 ucall::a"), Some(("ucall::a".into(), Verdict::Pass)));
        assert_eq!(parse_ktap_result("not ok 12 ucall::b"), Some(("ucall::b".into(), Verdict::Fail)));
        assert_eq!(
            parse_ktap_result("ok 3 x86::smm # SKIP requires SMM"),
            Some(("x86::smm".into(), Verdict::Skip("SKIP: requires SMM".into())))
        );
        assert_eq!(parse_ktap_result("ok 3 x # SKIP"), Some(("x".into(), Verdict::Skip("SKIP".into()))));
        assert_eq!(parse_ktap_result("# ok 1 not a result"), None);
        assert_eq!(parse_ktap_result("ok all good"), None);
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(utc_stamp(UNIX_EPOCH + std::time::Duration::from_secs(1_796_688_324)), "20261208T000524Z");
        assert_eq!(utc_stamp(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)), "20000229T000000Z");
    }

    #[test]
    fn two_runs_leave_two_directories_and_latest_is_the_newest() {
        let root = std::env::temp_dir().join(format!("kvmtest-results-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let first = new_run_dir(&root, Some("my label")).expect("first");
        let second = new_run_dir(&root, Some("my label")).expect("second");
        assert_ne!(first, second);
        assert!(first.is_dir() && second.is_dir());
        assert!(first.file_name().unwrap().to_string_lossy().ends_with("Z-my_label"), "{first:?}");
        assert_eq!(fs::read_link(root.join("latest")).unwrap(), PathBuf::from(second.file_name().unwrap()));

        let mut b = BinaryRun::new("ucall");
        for line in ["running 3 tests", "test a ... ok", "test b ... FAILED", "test c ... ignored (SKIP: no SMM)"] {
            b.feed(line);
        }
        write_run(&second, "cargo xtask test", &[b.clone()]).expect("write");
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(second.join("summary.json")).unwrap()).unwrap();
        assert_eq!(json["binaries"][0]["trials"][2]["verdict"], "skip");
        assert_eq!(json["failed"][0]["name"], "ucall::b");
        let md = fs::read_to_string(second.join("summary.md")).unwrap();
        assert!(
            md.contains("| ucall | FAIL | 1 | 1 | 1 | ucall.log |") && md.contains("- `ucall::b` (ucall.log)"),
            "{md}"
        );
        assert!(fs::read_to_string(second.join("ucall.log")).unwrap().contains("test b ... FAILED"));
        let ktap = fs::read_to_string(second.join("ucall.ktap")).unwrap();
        assert!(ktap.starts_with("KTAP version 1\n") && ktap.contains("not ok 2 ucall::b\n"), "{ktap}");
        let junit = fs::read_to_string(second.join("ucall.junit.xml")).unwrap();
        assert!(junit.contains(r#"<testsuite name="ucall" tests="3" failures="1" errors="0" skipped="1">"#), "{junit}");
        let closing = closing_lines("test", &second, &[b]);
        assert!(closing[0].contains("1 passed, 1 failed, 1 skipped"), "{closing:?}");
        assert_eq!(closing[2], format!("  ucall::b  (log: {})", second.join("ucall.log").display()));
        let _ = fs::remove_dir_all(&root);
    }
}
