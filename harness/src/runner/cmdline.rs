//! The test binary's command line: libtest's, read by libtest-mimic, plus
//! what libtest-mimic lacks, taken out before it parses the rest: several
//! name filters (`binary a b`, as libtest takes them), `--tests-from FILE`
//! (exact trial names, one a line) and `--trial-timeout SECS`.

use std::ffi::OsString;

use libtest_mimic::{Arguments, Trial};

use super::timeout::TRIAL_TIMEOUT_FLAG;

/// The flag naming a file of trial names to run, one a line.
pub const TESTS_FROM_FLAG: &str = "--tests-from";

/// libtest flags that take a value as the next argument (`--skip NAME`).
const LIBTEST_VALUE_FLAGS: [&str; 6] = ["--test-threads", "--logfile", "--skip", "--color", "--format", "-Z"];

/// The parsed command line.
pub(super) struct CommandLine {
    /// Everything libtest-mimic understands, with no name filter: the
    /// filters are in `selection`.
    pub args: Arguments,
    pub selection: Selection,
    /// The value of `--trial-timeout`, checked later with the environment's.
    pub trial_timeout: Option<String>,
}

/// Which trials the names on the command line select.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Selection {
    /// Substrings (exact names with `--exact`); a trial matching any runs.
    filters: Vec<String>,
    /// Exact names from `--tests-from` files, and the file each came from.
    listed: Vec<(String, String)>,
    exact: bool,
}

impl Selection {
    fn is_everything(&self) -> bool {
        self.filters.is_empty() && self.listed.is_empty()
    }

    fn selects(&self, name: &str) -> bool {
        self.is_everything()
            || self.filters.iter().any(|f| if self.exact { name == f } else { name.contains(f.as_str()) })
            || self.listed.iter().any(|(n, _)| n == name)
    }

    /// The trials selected, in their order; a listed name that is no
    /// trial's is an error (a typo in a list must not shrink a run silently).
    pub fn apply(&self, trials: Vec<Trial>) -> Result<Vec<Trial>, String> {
        let missing: Vec<String> = self
            .listed
            .iter()
            .filter(|(n, _)| !trials.iter().any(|t| t.name() == n))
            .map(|(n, file)| format!("`{n}` (from {file})"))
            .collect();
        if !missing.is_empty() {
            return Err(format!("kvmtest: {TESTS_FROM_FLAG}: no trial named {}", missing.join(", ")));
        }
        Ok(trials.into_iter().filter(|t| self.selects(t.name())).collect())
    }
}

/// Splits `argv` (program name first) into libtest-mimic's arguments and ours.
pub(super) fn parse(argv: Vec<OsString>) -> Result<CommandLine, String> {
    let mut argv = argv.into_iter();
    let mut rest: Vec<OsString> = argv.next().into_iter().collect();
    let mut selection = Selection::default();
    let mut trial_timeout = None;
    let mut tests_from = Vec::new();
    let mut only_names = false;
    while let Some(arg) = argv.next() {
        let text = arg.to_string_lossy().into_owned();
        if only_names || !text.starts_with('-') {
            selection.filters.push(text);
            continue;
        }
        if text == "--" {
            only_names = true;
            continue;
        }
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (text.clone(), None),
        };
        if flag == TESTS_FROM_FLAG || flag == TRIAL_TIMEOUT_FLAG {
            let value = match inline {
                Some(v) => v,
                None => argv
                    .next()
                    .map(|v| v.to_string_lossy().into_owned())
                    .ok_or_else(|| format!("kvmtest: {flag} needs a value"))?,
            };
            if flag == TESTS_FROM_FLAG {
                tests_from.push(value);
            } else {
                trial_timeout = Some(value);
            }
            continue;
        }
        if flag == "--exact" {
            selection.exact = true;
        }
        rest.push(arg);
        if inline.is_none() && LIBTEST_VALUE_FLAGS.contains(&flag.as_str()) {
            rest.extend(argv.next());
        }
    }
    for file in tests_from {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("kvmtest: {TESTS_FROM_FLAG} {file}: {e}"))?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            selection.listed.push((line.to_string(), file.clone()));
        }
    }
    // libtest-mimic prints its own usage error and exits, as it always did.
    let args = Arguments::from_iter(rest);
    Ok(CommandLine { args, selection, trial_timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(cmdline: &[&str]) -> CommandLine {
        let argv = std::iter::once("test").chain(cmdline.iter().copied()).map(OsString::from).collect();
        parse(argv).unwrap_or_else(|e| panic!("{cmdline:?}: {e}"))
    }

    fn selected(cmdline: &[&str], names: &[&str]) -> Vec<String> {
        let trials = names.iter().map(|n| Trial::test(*n, || Ok(()))).collect();
        let c = parsed(cmdline);
        let kept = c.selection.apply(trials).expect("selection");
        kept.iter().filter(|t| !c.args.is_filtered_out(t)).map(|t| t.name().to_string()).collect()
    }

    const NAMES: [&str; 4] = ["a::pass", "a::skip", "b::fail", "b::later"];

    #[test]
    fn several_filters_select_any_match() {
        assert_eq!(selected(&["a::pass", "fail"], &NAMES), ["a::pass", "b::fail"]);
        assert_eq!(selected(&[], &NAMES), NAMES);
        assert_eq!(selected(&["--exact", "a::", "b::later"], &NAMES), ["b::later"]);
        assert_eq!(selected(&["--skip", "a::", "--skip=fail"], &NAMES), ["b::later"]);
        assert_eq!(selected(&["--test-threads", "1", "a::", "--", "--odd"], &NAMES), ["a::pass", "a::skip"]);
    }

    #[test]
    fn our_flags_are_taken_out() {
        let c = parsed(&["--trial-timeout", "5", "--list", "x"]);
        assert_eq!(c.trial_timeout.as_deref(), Some("5"));
        assert!(c.args.list && c.args.filter.is_none());
        assert_eq!(parsed(&["--trial-timeout=off"]).trial_timeout.as_deref(), Some("off"));
    }

    #[test]
    fn tests_from_a_file_selects_exact_names_and_refuses_unknown_ones() {
        let dir = std::env::temp_dir().join(format!("kvmtest-cmdline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let list = dir.join("list");
        std::fs::write(&list, "# comment\na::pass\n\n  b::later  \n").expect("write list");
        let list = list.to_string_lossy().into_owned();
        assert_eq!(selected(&["--tests-from", &list], &NAMES), ["a::pass", "b::later"]);
        assert_eq!(selected(&["--tests-from", &list, "fail"], &NAMES), ["a::pass", "b::fail", "b::later"]);
        std::fs::write(dir.join("bad"), "a::pass\nno::such\n").expect("write list");
        let bad = dir.join("bad").to_string_lossy().into_owned();
        let c = parsed(&["--tests-from", &bad]);
        let e = c.selection.apply(NAMES.iter().map(|n| Trial::test(*n, || Ok(()))).collect()).expect_err("unknown");
        assert!(e.contains("no trial named `no::such` (from ") && e.contains("/bad)"), "{e}");
        let missing = parse(vec!["t".into(), "--tests-from".into(), dir.join("none").into()]);
        assert!(missing.is_err_and(|e| e.contains("--tests-from ") && e.contains("none")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
