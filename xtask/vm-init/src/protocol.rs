//! What `cargo xtask vm-test` and the VM's init say to each other: the plan
//! file xtask packs into the initramfs, and the markers init prints on the
//! console. xtask compiles this same file (`#[path]`), so both sides agree.
//!
//! Both are line-based text so that a person reading a console log or an
//! unpacked initramfs understands them without tools.

use std::fmt;

/// Where xtask puts the plan inside the initramfs.
pub const PLAN_PATH: &str = "/kvmtest/plan";

/// Every console marker starts with this; it may appear anywhere in a line,
/// because kernel messages or a test's unterminated output can precede it.
pub const MARK: &str = "KVMTEST-VM:";

/// What init does: load `modules` in order, then run each test with `args`
/// and `env`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Kernel modules (paths in the initramfs), dependencies first.
    pub modules: Vec<String>,
    /// (name, path in the initramfs) of each test binary, in run order.
    pub tests: Vec<(String, String)>,
    /// Arguments passed to every test binary (a filter, `--nocapture`, ...).
    pub args: Vec<String>,
    /// Environment variables set for every test binary.
    pub env: Vec<(String, String)>,
}

impl Plan {
    /// The plan as text: one `keyword value` per line.
    pub fn render(&self) -> Result<String, String> {
        let mut out = String::new();
        let mut line = |kw: &str, value: &str| -> Result<(), String> {
            if value.contains('\n') {
                return Err(format!("{kw} {value:?}: a newline cannot pass into the VM"));
            }
            out.push_str(kw);
            out.push(' ');
            out.push_str(value);
            out.push('\n');
            Ok(())
        };
        for m in &self.modules {
            line("module", m)?;
        }
        for (name, path) in &self.tests {
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("test name {name:?} must be one word"));
            }
            line("test", &format!("{name} {path}"))?;
        }
        for a in &self.args {
            line("arg", a)?;
        }
        for (k, v) in &self.env {
            line("env", &format!("{k}={v}"))?;
        }
        Ok(out)
    }

    /// Parses [`Plan::render`]'s output.
    pub fn parse(text: &str) -> Result<Plan, String> {
        let mut plan = Plan::default();
        for (i, line) in text.lines().enumerate() {
            let bad = || format!("plan line {}: {line:?}", i + 1);
            let (kw, value) = line.split_once(' ').ok_or_else(bad)?;
            match kw {
                "module" => plan.modules.push(value.to_string()),
                "test" => {
                    let (name, path) = value.split_once(' ').ok_or_else(bad)?;
                    plan.tests.push((name.to_string(), path.to_string()));
                }
                "arg" => plan.args.push(value.to_string()),
                "env" => {
                    let (k, v) = value.split_once('=').ok_or_else(bad)?;
                    plan.env.push((k.to_string(), v.to_string()));
                }
                _ => return Err(bad()),
            }
        }
        Ok(plan)
    }
}

/// How a test binary ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// It could not be started at all (exec failed).
    NotStarted,
}

impl Exit {
    /// True for exit code 0 only.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// The exit status a shell would report: the code, or 128 + signal.
    pub fn shell_status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
            Exit::NotStarted => 127,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit={c}"),
            Exit::Signal(s) => write!(f, "signal={s}"),
            Exit::NotStarted => write!(f, "not-started"),
        }
    }
}

/// One console marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// `uname -r` of the running kernel.
    Kernel(String),
    /// Which KVM the tests run on: `kvm_amd (nested paging)`, `VHE`, `nVHE`, ...
    Kvm(String),
    /// A test binary starts.
    Begin(String),
    /// A test binary ended.
    End(String, Exit),
    /// Every test ran; init powers off next.
    Done,
    /// Init failed before or between tests; it powers off next.
    Error(String),
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Marker::Kernel(r) => write!(f, "{MARK} kernel {r}"),
            Marker::Kvm(m) => write!(f, "{MARK} kvm {m}"),
            Marker::Begin(n) => write!(f, "{MARK} begin {n}"),
            Marker::End(n, e) => write!(f, "{MARK} end {n} {e}"),
            Marker::Done => write!(f, "{MARK} done"),
            Marker::Error(e) => write!(f, "{MARK} error {e}"),
        }
    }
}

impl Marker {
    /// The marker in a console line, if there is one. Carriage returns from
    /// the serial console are ignored.
    pub fn parse(line: &str) -> Option<Marker> {
        let rest = line[line.find(MARK)? + MARK.len()..].trim();
        let (kw, value) = rest.split_once(' ').unwrap_or((rest, ""));
        let value = value.trim();
        Some(match kw {
            "kernel" => Marker::Kernel(value.to_string()),
            "kvm" => Marker::Kvm(value.to_string()),
            "begin" if !value.is_empty() => Marker::Begin(value.to_string()),
            "end" => {
                let (name, exit) = value.split_once(' ')?;
                let exit = if exit == "not-started" {
                    Exit::NotStarted
                } else if let Some(c) = exit.strip_prefix("exit=") {
                    Exit::Code(c.parse().ok()?)
                } else {
                    Exit::Signal(exit.strip_prefix("signal=")?.parse().ok()?)
                };
                Marker::End(name.to_string(), exit)
            }
            "done" => Marker::Done,
            "error" => Marker::Error(value.to_string()),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for m in [
            Marker::Kernel("6.12.117+deb12-amd64".into()),
            Marker::Kvm("kvm_amd (nested paging)".into()),
            Marker::Begin("ucall".into()),
            Marker::End("ucall".into(), Exit::Code(0)),
            Marker::End("selftest".into(), Exit::Code(101)),
            Marker::End("faults".into(), Exit::Signal(11)),
            Marker::End("gone".into(), Exit::NotStarted),
            Marker::Done,
            Marker::Error("loading module /kvmtest/modules/kvm.ko: EINVAL".into()),
        ] {
            assert_eq!(Marker::parse(&m.to_string()), Some(m.clone()), "{m}");
        }
    }

    #[test]
    fn markers_are_found_inside_noisy_console_lines() {
        let line = "test result: ok. 3 passed[    7.123456] random: crng init\rKVMTEST-VM: end ucall exit=0\r";
        assert_eq!(Marker::parse(line), Some(Marker::End("ucall".into(), Exit::Code(0))));
    }

    #[test]
    fn ordinary_and_malformed_lines_are_not_markers() {
        for line in [
            "",
            "running 3 tests",
            "KVMTEST-VM:",
            "KVMTEST-VM: begin",
            "KVMTEST-VM: end ucall",
            "KVMTEST-VM: end ucall exit=zero",
            "KVMTEST-VM: end ucall status=1",
            "KVMTEST-VM: frobnicate",
        ] {
            assert_eq!(Marker::parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn exit_statuses_follow_the_shell() {
        assert!(Exit::Code(0).success());
        assert!(!Exit::Code(1).success());
        assert!(!Exit::Signal(9).success());
        assert_eq!(Exit::Signal(11).shell_status(), 139);
        assert_eq!(Exit::Code(101).shell_status(), 101);
    }

    #[test]
    fn plans_round_trip() {
        let plan = Plan {
            modules: vec!["/kvmtest/modules/irqbypass.ko".into(), "/kvmtest/modules/kvm.ko".into()],
            tests: vec![("ucall".into(), "/kvmtest/bin/ucall".into())],
            args: vec!["--exact".into(), "ucall::pio sync".into()],
            env: vec![("RUST_BACKTRACE".into(), "1".into())],
        };
        assert_eq!(Plan::parse(&plan.render().unwrap()), Ok(plan));
    }

    #[test]
    fn plans_reject_what_cannot_cross_a_line() {
        let plan = Plan { args: vec!["a\nb".into()], ..Plan::default() };
        assert!(plan.render().is_err());
        let plan = Plan { tests: vec![("two words".into(), "/x".into())], ..Plan::default() };
        assert!(plan.render().is_err());
        assert!(Plan::parse("launch /x\n").is_err());
    }
}
