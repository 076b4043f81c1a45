//! Kernel CI checks: run a dist bundle with the kernel's `run_kselftest.sh`
//! and validate its output with the kernel's KTAP parser (`ktap-check`), and
//! the whole CI gate (`kernel-ci-check`): bundle, kselftest run, parser,
//! then `cargo nextest` with a JUnit report.
//!
//! Emulated machines: `cargo xtask vm-test --kselftest` (vm_test/kselftest.rs)
//! boots the bundle with a static busybox, runs `./run_kselftest.sh` there and
//! hands the console's TAP to [`check_log`]; `cargo xtask ktap-check --log
//! CONSOLE --bundle DIR` does the same for a log from any other machine.
//! Console noise around the TAP is ignored. What a minimal userland needs
//! (found in a busybox-only chroot and the VM):
//! - a shell and the applets run_kselftest.sh uses (busybox: sh, cut, grep,
//!   sed, tr, wc, sort, uniq, basename, dirname, realpath, cat);
//! - /dev/stdout -> /proc/self/fd/1 (the runner's log file), /dev/null;
//! - no busybox `timeout` at /usr/bin/timeout: it lacks `--foreground`, so
//!   the runner's `timeout --foreground` fails every test with exit=1
//!   (without /usr/bin/timeout the runner runs tests unbounded; the VM's own
//!   time limit covers that, or install coreutils' timeout);
//! - output read from a pipe or console: with `> file` the runner's
//!   `>> /dev/stdout` writes clobber each other.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer, XmlVersion};

use crate::bundle::{self, Bundle, COLLECTION};
use crate::kselftest::KernelTools;
use crate::util::{host_arch, root, run};
use crate::Result;

/// Run a dist bundle under run_kselftest.sh and validate its KTAP
///
/// The bundle (default: one built for this host) runs under
/// run_kselftest.sh; every line of its KTAP is validated with the kernel's
/// kunit.py parser.
///
/// With --log, only validate that run_kselftest.sh log (e.g. a VM's
/// console), expecting --bundle's tests if given.
#[derive(clap::Args, Debug, Default)]
pub struct KtapCheckArgs {
    /// The bundle: its directory or its tarball
    #[arg(long, value_name = "DIR|TARBALL")]
    pub bundle: Option<PathBuf>,
    /// A run_kselftest.sh log to validate instead of running a bundle
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

/// What CI runs for kernel CI
///
/// dist for this host, run_kselftest.sh on /dev/kvm, kunit.py validation, then `cargo nextest run --workspace --profile ci` with its
/// JUnit report (installs linux-source if missing).
#[derive(clap::Args, Debug, Default)]
pub struct KernelCiCheckArgs {}

/// Where kernel CI checks keep logs and parser reports.
fn work_dir() -> PathBuf {
    root().join("target/kernel-ci")
}

pub fn ktap_check(args: &KtapCheckArgs) -> Result {
    let tools = KernelTools::find(false)?;
    if let Some(log) = &args.log {
        let expected = match &args.bundle {
            Some(path) => {
                let dir = unpack(path)?;
                let tests = list_tests(&dir)?;
                remove_scratch(&dir);
                Some(tests)
            }
            None => None,
        };
        let summary = validate_log(&tools, log, expected.as_deref(), &work_dir().join("log-check"))?;
        println!("ktap-check: {}: {summary}", log.display());
        return Ok(());
    }
    let (dir, tests) = match &args.bundle {
        Some(path) => {
            let dir = unpack(path)?;
            let tests = list_tests(&dir)?;
            (dir, tests)
        }
        None => {
            let bundle = bundle::build(host_arch(), &bundle::default_out(), &tools)?;
            (unpack(&bundle.tarball)?, bundle.tests)
        }
    };
    run_and_validate(&tools, &dir, &tests, host_arch())
}

/// `dist --check`: unpack the bundle's tarball in a scratch directory, run
/// it, validate it.
pub fn check_bundle(bundle: &Bundle, tools: &KernelTools) -> Result {
    if bundle.arch != host_arch() {
        return Err(format!(
            "a {} bundle cannot run on this {} host; run it in an emulated machine (cargo xtask vm-test)",
            bundle.arch,
            host_arch()
        ));
    }
    let dir = unpack(&bundle.tarball)?;
    run_and_validate(tools, &dir, &bundle.tests, &bundle.arch)
}

pub fn kernel_ci_check(_: &KernelCiCheckArgs) -> Result {
    let tools = KernelTools::find(true)?;
    let arch = host_arch();
    let bundle = bundle::build(arch, &bundle::default_out(), &tools)?;
    println!("kernel-ci-check: bundle {} ({} test binaries)", bundle.tarball.display(), bundle.tests.len());
    check_bundle(&bundle, &tools)?;
    nextest()?;
    println!("kernel-ci-check: ok");
    Ok(())
}

/// Validates `log`, the output of `bundle` run by run_kselftest.sh
/// elsewhere (an emulated machine): every test of the bundle must have
/// reported KTAP that kunit.py parses with no error and no failure.
pub fn check_log(bundle: &Bundle, log: &Path) -> Result {
    let tools = KernelTools::find(true)?;
    let summary =
        validate_log(&tools, log, Some(&bundle.tests), &work_dir().join(format!("log-check-{}", bundle.arch)))?;
    println!("ktap-check: {}: {summary}", log.display());
    Ok(())
}

/// Runs the bundle in `dir` under run_kselftest.sh and validates the log.
fn run_and_validate(tools: &KernelTools, dir: &Path, tests: &[String], arch: &str) -> Result {
    let work = work_dir();
    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let log = work.join(format!("kselftest-{arch}.log"));
    run_kselftest(dir, &log)?;
    let summary = validate_log(tools, &log, Some(tests), &work.join(format!("parse-{arch}")))
        .map_err(|e| format!("{e}\n(the bundle that ran is in {})", dir.display()))?;
    println!("ktap-check: {}: {summary}", log.display());
    // A scratch copy made by unpack() goes once it passed; a failed one stays.
    remove_scratch(dir);
    Ok(())
}

/// Name prefix of the scratch directories bundles are unpacked in.
const SCRATCH: &str = "kvmtest-kselftest-";

/// Removes the scratch directory holding `dir` if unpack() made it.
fn remove_scratch(dir: &Path) {
    let scratch = dir.parent().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(SCRATCH)));
    if let Some(scratch) = scratch {
        let _ = fs::remove_dir_all(scratch);
    }
}

/// Unpacks a bundle tarball into a fresh scratch directory (a directory is
/// used as it is); returns the bundle's top directory.
fn unpack(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let scratch = std::env::temp_dir().join(format!("{SCRATCH}{}", std::process::id()));
    if scratch.exists() {
        fs::remove_dir_all(&scratch).map_err(|e| format!("removing {}: {e}", scratch.display()))?;
    }
    fs::create_dir_all(&scratch).map_err(|e| format!("creating {}: {e}", scratch.display()))?;
    run(Command::new("tar").arg("-xzf").arg(path).arg("-C").arg(&scratch))?;
    fs::read_dir(&scratch)
        .map_err(|e| format!("reading {}: {e}", scratch.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("run_kselftest.sh").is_file())
        .ok_or_else(|| format!("{} holds no run_kselftest.sh", path.display()))
}

/// The collection's tests, from the bundle's kselftest-list.txt.
fn list_tests(dir: &Path) -> Result<Vec<String>> {
    let list = dir.join("kselftest-list.txt");
    let text = fs::read_to_string(&list).map_err(|e| format!("reading {}: {e}", list.display()))?;
    Ok(text.lines().filter_map(|l| l.strip_prefix(&format!("{COLLECTION}:")).map(str::to_string)).collect())
}

/// Runs `./run_kselftest.sh` in `dir` with only a minimal environment (as
/// on a bare CI machine) and KVMTEST_REQUIRE_KVM=1, so a missing /dev/kvm
/// fails rather than skips; its output goes to the terminal and to `log`.
fn run_kselftest(dir: &Path, log: &Path) -> Result {
    if let Err(why) = check_dev_stdout(Path::new("/dev/stdout")) {
        repair_dev_stdout().map_err(|e| format!("{why}\n(repairing it failed: {e})"))?;
        eprintln!(
            "kernel-ci-check: {why}\nkernel-ci-check: repaired: /dev/stdout is the link to /proc/self/fd/1 again"
        );
    }
    println!("ktap-check: running {}/run_kselftest.sh", dir.display());
    let mut child = Command::new("sh")
        .arg("./run_kselftest.sh")
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("KVMTEST_REQUIRE_KVM", "1")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running run_kselftest.sh: {e}"))?;
    let mut file = fs::File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading run_kselftest.sh's output: {e}"))?;
            println!("{line}");
            writeln!(file, "{line}").map_err(|e| format!("writing {}: {e}", log.display()))?;
        }
    }
    // run_kselftest.sh's status says little (results are in the TAP); a
    // runner that could not start is caught by the parse of an empty log.
    child.wait().map_err(|e| format!("waiting for run_kselftest.sh: {e}"))?;
    Ok(())
}

/// run_kselftest.sh appends each test's output to `/dev/stdout` (its
/// `logfile`): where that is not the link to /proc/self/fd/1 (a regular file
/// left there, as was once seen on a development machine), every test's
/// KTAP goes into that file and the log holds none. Say so instead of
/// reporting 19 binaries with no results.
fn check_dev_stdout(path: &Path) -> Result {
    let meta = fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.file_type().is_symlink() || meta.file_type().is_char_device() {
        return Ok(());
    }
    Err(format!(
        "{} is not a link to /proc/self/fd/1 but a {}: run_kselftest.sh writes each test's output there, \
         so none would reach its log. Restore it (as root): `rm {0} && ln -s /proc/self/fd/1 {0}`",
        path.display(),
        if meta.is_file() { "regular file" } else { "directory" }
    ))
}

/// Puts the standard link back (root only): what devtmpfs and udev make
/// /dev/stdout on every Linux system.
fn repair_dev_stdout() -> Result {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    let path = Path::new("/dev/stdout");
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        fs::remove_file(path).map_err(|e| format!("removing {}: {e}", path.display()))?;
    }
    std::os::unix::fs::symlink("/proc/self/fd/1", path).map_err(|e| format!("linking {}: {e}", path.display()))?;
    check_dev_stdout(path)
}

/// One test binary's KTAP, cut out of a run_kselftest.sh log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Nested {
    pub test: String,
    pub ktap: Vec<String>,
    /// The runner's result line for it says `# SKIP` (exit status 4).
    skipped: bool,
}

/// Cuts each binary's own output out of a run_kselftest.sh log: the lines
/// between `# selftests: kvmtest: NAME` and its `ok|not ok N selftests:
/// kvmtest: NAME`, with the `# ` the runner put before each line removed.
pub(crate) fn nested_ktap(log: &str) -> Vec<Nested> {
    let header = format!("# selftests: {COLLECTION}: ");
    let mut found = Vec::new();
    let mut current: Option<Nested> = None;
    for line in log.lines() {
        if let Some(test) = line.strip_prefix(&header) {
            current = Some(Nested { test: test.trim().to_string(), ktap: Vec::new(), skipped: false });
            continue;
        }
        let Some(nested) = current.as_mut() else { continue };
        let result_of_nested = line
            .strip_prefix("not ok ")
            .or_else(|| line.strip_prefix("ok "))
            .and_then(|rest| rest.split_once(' '))
            .is_some_and(|(_, rest)| {
                rest.strip_prefix(&format!("selftests: {COLLECTION}: "))
                    .is_some_and(|r| r.split(" # ").next() == Some(nested.test.as_str()))
            });
        if result_of_nested {
            nested.skipped = line.contains(" # SKIP");
            found.extend(current.take());
        } else if let Some(inner) = line.strip_prefix("# ") {
            nested.ktap.push(inner.to_string());
        } else if line == "#" {
            nested.ktap.push(String::new());
        }
    }
    found
}

/// Validates a run_kselftest.sh log with kunit.py: the top-level TAP (one
/// result per test binary) and each binary's own KTAP must parse with no
/// error, no failure and no crash; with `expected`, every expected binary
/// must have run and reported as many results as it has trials.
fn validate_log(tools: &KernelTools, log: &Path, expected: Option<&[String]>, work: &Path) -> Result<String> {
    fs::create_dir_all(work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let text = fs::read_to_string(log).map_err(|e| format!("reading {}: {e}", log.display()))?;
    let mut problems = Vec::new();

    let top = tools.parse(log, &work.join("kselftest.json"))?;
    print!("{}", top.output);
    let c = &top.counts;
    if !top.success || c.failed + c.crashed + c.errors > 0 || c.ran == 0 {
        problems.push(format!("run_kselftest.sh's TAP: kunit.py says {c:?} (exit ok: {})", top.success));
    }

    let nested = nested_ktap(&text);
    let (mut passed, mut skipped) = (0, 0);
    let mut skipped_binaries = 0;
    for n in &nested {
        let planned = n
            .ktap
            .iter()
            .find_map(|l| l.strip_prefix("1.."))
            .and_then(|p| p.split_whitespace().next().and_then(|n| n.parse::<usize>().ok()));
        // kselftest's skip-all (`1..0 # SKIP reason`, exit 4): kunit.py calls
        // a plan of nothing "0 tests run!", which here is the intent.
        if planned == Some(0) && n.skipped {
            skipped_binaries += 1;
            continue;
        }
        let file = work.join(format!("{}.ktap", n.test));
        fs::write(&file, n.ktap.join("\n") + "\n").map_err(|e| format!("writing {}: {e}", file.display()))?;
        let parsed = tools.parse(&file, &work.join(format!("{}.json", n.test)))?;
        let c = &parsed.counts;
        // A binary whose trials all skipped is SKIPPED, which kunit.py's exit
        // status calls a failure; the counts tell skips from failures.
        if c.failed + c.crashed + c.errors > 0 || c.ran == 0 {
            problems.push(format!("{}: kunit.py says {c:?}:\n{}", n.test, parsed.output));
        }
        if planned != Some(parsed.cases.len()) {
            problems.push(format!("{}: plan {planned:?} but kunit.py found {} results", n.test, parsed.cases.len()));
        }
        passed += c.passed;
        skipped += c.skipped;
    }
    if let Some(expected) = expected {
        for test in expected {
            if !nested.iter().any(|n| &n.test == test) {
                problems.push(format!("{test}: no KTAP of its own in the log (did it run?)"));
            }
        }
    }
    if !problems.is_empty() {
        return Err(format!("KTAP check of {} failed:\n  {}", log.display(), problems.join("\n  ")));
    }
    Ok(format!(
        "kunit.py: run_kselftest.sh's TAP {} binaries passed, {} skipped; their KTAP {passed} trials passed, \
         {skipped} skipped ({skipped_binaries} binaries with no trials here); no parse errors, no failures",
        top.counts.passed, top.counts.skipped
    ))
}

/// `cargo nextest run --workspace --profile ci`: every trial as its own
/// process, JUnit report from .config/nextest.toml.
fn nextest() -> Result {
    let has_nextest = Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_nextest {
        run(Command::new(env!("CARGO")).args(["install", "--locked", "cargo-nextest"]))?;
    }
    run(Command::new(env!("CARGO")).current_dir(root()).env("KVMTEST_REQUIRE_KVM", "1").args([
        "nextest",
        "run",
        "--workspace",
        "--profile",
        "ci",
    ]))?;
    let junit = root().join("target/nextest/ci/junit.xml");
    let xml =
        fs::read_to_string(&junit).map_err(|e| format!("nextest wrote no JUnit report at {}: {e}", junit.display()))?;
    let (xml, skipped) = mark_runtime_skips(&xml)?;
    fs::write(&junit, &xml).map_err(|e| format!("writing {}: {e}", junit.display()))?;
    for name in &skipped {
        println!("kernel-ci-check: {name} skipped at run time: marked <skipped> in the JUnit report");
    }
    let head = xml.lines().find(|l| l.contains("<testsuites")).unwrap_or("");
    println!("kernel-ci-check: JUnit report {}: {}", junit.display(), head.trim());
    Ok(())
}

/// libtest's line for a trial that skipped at run time, as kvmtest's runner
/// reports it: `test NAME ... ignored (SKIP: reason)`.
const RUNTIME_SKIP: &str = " ... ignored (SKIP: ";

/// nextest has no run-time skip: a trial that found a capability missing
/// exits 0 and is reported as passed. This gives each such `<testcase>` of
/// nextest's JUnit report a `<skipped message="SKIP: reason"/>` and fixes
/// the `skipped` counts, so the report never shows a skip as a pass.
/// The report is read and written with quick-xml, event by event: what
/// nextest wrote is kept as it was (attributes, output, layout), only the
/// `<skipped>` elements and the counts change. Returns the rewritten report
/// and the skipped trials' names.
fn mark_runtime_skips(xml: &str) -> Result<(String, Vec<String>)> {
    let skips = find_runtime_skips(xml)?;
    let bad = |e: &dyn std::fmt::Display| format!("rewriting nextest's JUnit report: {e}");
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new(Vec::with_capacity(xml.len() + skips.len() * 100));
    let (mut suite, mut case) = (0usize, 0usize);
    let mut indent = String::new();
    loop {
        let event = reader.read_event().map_err(|e| bad(&e))?;
        match &event {
            Event::Eof => break,
            Event::Text(t) => {
                let text = t.xml10_content();
                if let Some(nl) = text.rfind('\n') {
                    indent = text[nl..].to_string();
                }
            }
            Event::Start(tag) | Event::Empty(tag) if tag.name().as_ref() == "testsuites" && !skips.is_empty() => {
                writer.write_event(Event::Start(bump_attribute(tag, "skipped", skips.len())?)).map_err(|e| bad(&e))?;
                continue;
            }
            Event::Start(tag) if tag.name().as_ref() == "testsuite" => {
                suite += 1;
                let here = skips.iter().filter(|s| s.suite == suite).count();
                if here > 0 {
                    writer.write_event(Event::Start(bump_attribute(tag, "skipped", here)?)).map_err(|e| bad(&e))?;
                    continue;
                }
            }
            Event::Start(tag) | Event::Empty(tag) if tag.name().as_ref() == "testcase" => {
                case += 1;
                if let Some(s) = skips.iter().find(|s| s.case == case) {
                    writer.write_event(event.borrow()).map_err(|e| bad(&e))?;
                    let inner = format!("{indent}    ");
                    writer.write_event(Event::Text(BytesText::from_escaped(inner))).map_err(|e| bad(&e))?;
                    let skipped = BytesStart::new("skipped").with_attributes([("message", s.message.as_str())]);
                    writer.write_event(Event::Empty(skipped)).map_err(|e| bad(&e))?;
                    continue;
                }
            }
            _ => {}
        }
        writer.write_event(event).map_err(|e| bad(&e))?;
    }
    let out = String::from_utf8(writer.into_inner()).map_err(|e| bad(&e))?;
    Ok((out, skips.into_iter().map(|s| s.name).collect()))
}

/// A `<testcase>` of the JUnit report that passed but skipped at run time.
struct RuntimeSkip {
    /// Which `<testsuite>` and which `<testcase>` (from 1, in document order).
    suite: usize,
    case: usize,
    name: String,
    /// `SKIP: reason`.
    message: String,
}

/// The passing test cases whose captured output says they skipped.
fn find_runtime_skips(xml: &str) -> Result<Vec<RuntimeSkip>> {
    let mut reader = Reader::from_str(xml);
    let mut skips = Vec::new();
    let (mut suite, mut case) = (0usize, 0usize);
    // The open test case: its name, whether it already has a verdict, its stdout.
    let mut open: Option<(String, bool, String)> = None;
    let mut in_stdout = false;
    loop {
        match reader.read_event().map_err(|e| format!("reading nextest's JUnit report: {e}"))? {
            Event::Eof => break,
            Event::Start(tag) if tag.name().as_ref() == "testsuite" => suite += 1,
            Event::Empty(tag) if tag.name().as_ref() == "testcase" => case += 1,
            Event::Start(tag) if tag.name().as_ref() == "testcase" => {
                case += 1;
                let name = tag
                    .try_get_attribute("name")
                    .ok()
                    .flatten()
                    .and_then(|a| a.normalized_value(XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
                    .unwrap_or_default();
                open = Some((name, false, String::new()));
            }
            Event::Start(tag) | Event::Empty(tag)
                if matches!(tag.name().as_ref(), "failure" | "error" | "skipped" | "flakyFailure") =>
            {
                if let Some(o) = open.as_mut() {
                    o.1 = true;
                }
            }
            Event::Start(tag) if tag.name().as_ref() == "system-out" => in_stdout = true,
            Event::End(tag) if tag.name().as_ref() == "system-out" => in_stdout = false,
            Event::Text(t) if in_stdout => {
                if let Some(o) = open.as_mut() {
                    o.2.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) if in_stdout => {
                if let Some(o) = open.as_mut() {
                    o.2.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if in_stdout => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).unwrap_or("").to_string(),
                };
                if let Some(o) = open.as_mut() {
                    o.2.push_str(&resolved);
                }
            }
            Event::End(tag) if tag.name().as_ref() == "testcase" => {
                if let Some((name, false, stdout)) = open.take() {
                    if let Some(line) = stdout.lines().find(|l| l.contains(RUNTIME_SKIP)) {
                        let at = line.find(RUNTIME_SKIP).unwrap_or(0) + RUNTIME_SKIP.len();
                        let reason = line[at..].trim_end().strip_suffix(')').unwrap_or(&line[at..]);
                        skips.push(RuntimeSkip { suite, case, name, message: format!("SKIP: {reason}") });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(skips)
}

/// `tag` with its numeric attribute `name` increased by `by` (added when missing).
fn bump_attribute(tag: &BytesStart<'_>, name: &str, by: usize) -> Result<BytesStart<'static>> {
    let tag_name = tag.name().as_ref().to_string();
    let mut out = BytesStart::new(tag_name);
    let mut found = false;
    for a in tag.attributes() {
        let a = a.map_err(|e| format!("an attribute of <{}>: {e}", tag.name().as_ref()))?;
        let key = a.key.as_ref().to_string();
        let value =
            a.normalized_value(XmlVersion::Implicit1_0).map_err(|e| format!("attribute {key}: {e}"))?.into_owned();
        if key == name {
            found = true;
            let n: usize = value.parse().unwrap_or(0);
            out.push_attribute((key.as_str(), (n + by).to_string().as_str()));
        } else {
            out.push_attribute((key.as_str(), value.as_str()));
        }
    }
    if !found {
        out.push_attribute((name, by.to_string().as_str()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_stdout_that_is_a_file_is_named() {
        assert!(check_dev_stdout(Path::new("/proc/self/fd/1")).is_ok() || cfg!(not(target_os = "linux")));
        let dir = std::env::temp_dir().join(format!("kci-stdout-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("stdout");
        fs::write(&file, "").unwrap();
        let e = check_dev_stdout(&file).unwrap_err();
        assert!(e.contains("is not a link to /proc/self/fd/1 but a regular file"), "{e}");
        let link = dir.join("stdout-link");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
        assert!(check_dev_stdout(&link).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    const LOG: &str = "\
TAP version 13
1..2
# timeout set to 600
# selftests: kvmtest: selftest
# KTAP version 1
# 1..2
# # kvmtest: x86_64 guests on kvm_pvm
# ok 1 selftest::a
# # guest assertion failed
#
# not ok 2 selftest::b
not ok 1 selftests: kvmtest: selftest # exit=1
# timeout set to 600
# selftests: kvmtest: ucall
# KTAP version 1
# 1..1
# ok 1 ucall::pio::sync::elf # SKIP requires X
ok 2 selftests: kvmtest: ucall # SKIP
";

    #[test]
    fn nested_ktap_is_cut_per_binary_without_the_runner_prefix() {
        let nested = nested_ktap(LOG);
        assert_eq!(nested.len(), 2);
        assert_eq!(nested[0].test, "selftest");
        assert_eq!(
            nested[0].ktap,
            [
                "KTAP version 1",
                "1..2",
                "# kvmtest: x86_64 guests on kvm_pvm",
                "ok 1 selftest::a",
                "# guest assertion failed",
                "",
                "not ok 2 selftest::b"
            ]
        );
        assert_eq!(nested[1].test, "ucall");
        assert_eq!(nested[1].ktap, ["KTAP version 1", "1..1", "ok 1 ucall::pio::sync::elf # SKIP requires X"]);
        assert_eq!((nested[0].skipped, nested[1].skipped), (false, true));
    }

    const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" skipped="1" failures="0" errors="0">
    <testsuite name="kvmtest-tests::x86" tests="3" skipped="1" errors="0" failures="0">
        <testcase name="x86::smm::entry" classname="kvmtest-tests::x86" time="0.01">
            <system-out>
running 1 test
test x86::smm::entry ... ignored (SKIP: requires KVM_CAP_X86_SMM, which kvm_pvm does not provide)

test result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 3 filtered out
</system-out>
        </testcase>
        <testcase name="x86::cpuid" classname="kvmtest-tests::x86" time="0.01">
            <system-out>
test x86::cpuid ... ok
</system-out>
        </testcase>
    </testsuite>
</testsuites>
"#;

    #[test]
    fn runtime_skips_become_junit_skipped() {
        let (xml, names) = mark_runtime_skips(JUNIT).expect("a valid report");
        assert_eq!(names, ["x86::smm::entry"]);
        assert!(xml.contains(r#"<testsuites name="nextest-run" tests="3" skipped="2" failures="0""#), "{xml}");
        assert!(xml.contains(r#"<testsuite name="kvmtest-tests::x86" tests="3" skipped="2" errors="0""#), "{xml}");
        let marked = r#"time="0.01">
            <skipped message="SKIP: requires KVM_CAP_X86_SMM, which kvm_pvm does not provide"/>
            <system-out>"#;
        assert!(xml.contains(marked), "{xml}");
        assert_eq!(xml.matches("<skipped").count(), 1, "only the skipped trial is marked:\n{xml}");
        assert!(mark_runtime_skips(&JUNIT.replace("(SKIP:", "(other:")).expect("valid").1.is_empty());
    }

    #[test]
    fn escaped_reasons_and_failed_cases_are_read_as_xml() {
        let junit = JUNIT
            .replace("requires KVM_CAP_X86_SMM,", "requires &quot;SMM&quot; &amp; &lt;more&gt;,")
            .replace("test x86::cpuid ... ok", "test x86::cpuid ... ignored (SKIP: but it failed)")
            .replace(
                r#"time="0.01">
            <system-out>
test x86::cpuid"#,
                r#"time="0.01">
            <failure message="boom"/>
            <system-out>
test x86::cpuid"#,
            );
        let (xml, names) = mark_runtime_skips(&junit).expect("a valid report");
        assert_eq!(names, ["x86::smm::entry"], "a failed case stays failed:\n{xml}");
        assert!(xml.contains(r#"<skipped message="SKIP: requires &quot;SMM&quot; &amp; &lt;more&gt;, which"#), "{xml}");
        assert!(mark_runtime_skips("<testsuites><testsuite></testsuites>").is_err());
    }

    #[test]
    fn a_binary_that_never_reports_is_not_cut() {
        let log = "TAP version 13\n1..1\n# selftests: kvmtest: ucall\n# KTAP version 1\n# 1..3\n";
        assert!(nested_ktap(log).is_empty());
    }
}
