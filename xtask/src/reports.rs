//! The kept results in the formats CI systems read: one binary's trials as
//! KTAP v1 (Documentation/dev-tools/ktap.rst, what kernel CI parses) and as
//! a JUnit XML report (what GitLab, Jenkins and nextest speak).

use std::fmt::Write as _;

use quick_xml::escape::escape;

use crate::libtest_output::{BinaryRun, Verdict};

/// The trial's KTAP name: libtest-mimic names already carry the binary
/// (`ucall::pio::sync`); a crate's unit tests do not (`tests::x`).
fn full_name(b: &BinaryRun, trial: &str) -> String {
    if trial.starts_with(&format!("{}::", b.name)) {
        trial.to_string()
    } else {
        format!("{}::{trial}", b.name)
    }
}

/// `b`'s trials as a KTAP v1 document: one result line per trial in the
/// order they finished, skips with their reason, interrupted trials as
/// `not ok … # ERROR interrupted`, and why the binary failed beyond its
/// trials as a diagnostic line.
pub fn ktap(b: &BinaryRun) -> String {
    let mut out = format!("KTAP version 1\n# {}\n1..{}\n", b.name, b.trials.len());
    for (i, (trial, verdict)) in b.trials.iter().enumerate() {
        let n = i + 1;
        let name = full_name(b, trial);
        let _ = match verdict {
            Verdict::Pass => writeln!(out, "ok {n} {name}"),
            Verdict::Fail => writeln!(out, "not ok {n} {name}"),
            Verdict::Skip(why) => {
                let why = why.strip_prefix("SKIP:").unwrap_or(why).trim();
                writeln!(out, "ok {n} {name} # SKIP {}", why.replace('\n', " "))
            }
            Verdict::Interrupted => writeln!(out, "not ok {n} {name} # ERROR interrupted"),
        };
    }
    if let Some(why) = &b.trouble {
        let _ = writeln!(out, "# {}: {}", b.name, why.replace('\n', " "));
    }
    if b.interrupted {
        let _ = writeln!(out, "# {}: interrupted (Ctrl-C) before it finished", b.name);
    }
    out
}

/// The lines printed for a failed trial (libtest-mimic's `---- NAME ----`,
/// libtest's `---- NAME stdout ----`, up to the next `----` header or the
/// `failures:` list), if any.
fn failure_output(b: &BinaryRun, trial: &str) -> String {
    let headers = [format!("---- {trial} ----"), format!("---- {trial} stdout ----")];
    let Some(start) = b.lines.iter().position(|l| headers.iter().any(|h| l.trim() == h)) else {
        return String::new();
    };
    b.lines[start + 1..]
        .iter()
        .take_while(|l| !(l.starts_with("---- ") || l.trim() == "failures:"))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `b`'s trials as a JUnit XML report: one `<testsuite>` named after the
/// binary, a `<testcase>` per trial with `<failure>` (and libtest's report
/// of it), `<skipped message="reason">` or `<error message="interrupted">`.
pub fn junit(b: &BinaryRun) -> String {
    let n = |f: fn(&Verdict) -> bool| b.trials.iter().filter(|(_, v)| f(v)).count();
    let failures = n(|v| *v == Verdict::Fail);
    let skipped = n(|v| matches!(v, Verdict::Skip(_)));
    // A binary that failed with no failed trial (a crash) is one error of its own.
    let crashed = b.failed && failures == 0;
    let errors = n(|v| *v == Verdict::Interrupted) + usize::from(crashed);
    let tests = b.trials.len() + usize::from(crashed);
    let name = escape(b.name.as_str());
    let counts = format!(r#"tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}""#);
    let mut out = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{name}\" {counts}>\n");
    let _ = writeln!(out, "  <testsuite name=\"{name}\" {counts}>");
    for (trial, verdict) in &b.trials {
        let case = format!("    <testcase name=\"{}\" classname=\"{name}\"", escape(full_name(b, trial).as_str()));
        let _ = match verdict {
            Verdict::Pass => writeln!(out, "{case}/>"),
            Verdict::Fail => writeln!(
                out,
                "{case}>\n      <failure message=\"failed\">{}</failure>\n    </testcase>",
                escape(failure_output(b, trial).as_str())
            ),
            Verdict::Skip(why) => {
                writeln!(out, "{case}>\n      <skipped message=\"{}\"/>\n    </testcase>", escape(why.as_str()))
            }
            Verdict::Interrupted => {
                writeln!(
                    out,
                    "{case}>\n      <error message=\"interrupted (Ctrl-C) before it finished\"/>\n    </testcase>"
                )
            }
        };
    }
    if crashed {
        let why = b.trouble.as_deref().unwrap_or("failed without a failed trial");
        let _ = writeln!(
            out,
            "    <testcase name=\"{name}\" classname=\"{name}\">\n      <error message=\"{}\"/>\n    </testcase>",
            escape(why)
        );
    }
    out += "  </testsuite>\n</testsuites>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> BinaryRun {
        let mut b = BinaryRun::new("ucall");
        for line in [
            "running 4 tests",
            "test ucall::a ... ok",
            "test ucall::b<&> ... FAILED",
            "test ucall::c ... ignored (SKIP: requires KVM_CAP_X86_SMM)",
            "",
            "failures:",
            "",
            "---- ucall::b<&> ----",
            "SYNC(1): expected 43, got 42 & <more>",
            "",
            "failures:",
            "    ucall::b<&>",
        ] {
            b.feed(line);
        }
        b.trials.push(("ucall::d".into(), Verdict::Interrupted));
        b
    }

    #[test]
    fn ktap_has_plan_results_skips_and_interruptions() {
        let k = ktap(&run());
        assert_eq!(
            k,
            "KTAP version 1\n# ucall\n1..4\nok 1 ucall::a\nnot ok 2 ucall::b<&>\n\
             ok 3 ucall::c # SKIP requires KVM_CAP_X86_SMM\nnot ok 4 ucall::d # ERROR interrupted\n"
        );
        let mut unit = BinaryRun::new("kvmtest");
        unit.feed("test tests::x ... ok");
        assert!(ktap(&unit).contains("ok 1 kvmtest::tests::x\n"));
    }

    #[test]
    fn junit_counts_escapes_and_carries_the_failure_report() {
        let x = junit(&run());
        assert!(x.contains(r#"<testsuite name="ucall" tests="4" failures="1" errors="1" skipped="1">"#), "{x}");
        assert!(x.contains(r#"<testcase name="ucall::a" classname="ucall"/>"#), "{x}");
        assert!(
            x.contains("<failure message=\"failed\">SYNC(1): expected 43, got 42 &amp; &lt;more&gt;\n</failure>"),
            "{x}"
        );
        assert!(x.contains(r#"<skipped message="SKIP: requires KVM_CAP_X86_SMM"/>"#), "{x}");
        assert!(x.contains(r#"<testcase name="ucall::d" classname="ucall">"#), "{x}");
        // Well-formed: quick-xml reads it to the end.
        let mut reader = quick_xml::Reader::from_str(&x);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed: {e}\n{x}"),
            }
        }
        let mut crashed = BinaryRun::new("hostile");
        crashed.failed = true;
        crashed.trouble = Some("signal 11 (SIGSEGV)".into());
        let x = junit(&crashed);
        assert!(x.contains(r#"tests="1" failures="0" errors="1""#) && x.contains("signal 11 (SIGSEGV)"), "{x}");
    }
}
