//! Reading the machine's serial console: the markers init prints around each
//! test binary, and the kernel's own news (a panic ends the run; oopses and
//! warnings are reported in the summary).

use std::time::{Duration, Instant};

use super::protocol::{Exit, Marker};

/// One test binary as the console told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryResult {
    pub name: String,
    /// None: it began but never ended (the machine died or timed out).
    pub exit: Option<Exit>,
    pub elapsed: Duration,
}

/// Everything learnt from one console session.
#[derive(Debug, Default)]
pub struct Console {
    /// `uname -r` inside the machine.
    pub kernel_release: Option<String>,
    /// Which KVM the tests ran on.
    pub kvm: Option<String>,
    /// Time from power-on until init started reporting.
    pub boot_time: Option<Duration>,
    pub results: Vec<BinaryResult>,
    /// Init said every test ran.
    pub done: bool,
    /// Why the run cannot be trusted: a kernel panic or an init error.
    pub fatal: Option<String>,
    /// Oops, BUG and WARNING lines of the kernel.
    pub kernel_trouble: Vec<String>,
    /// Each binary's console lines between its begin and end markers, with
    /// the verdicts of its trials.
    pub logs: Vec<crate::results::BinaryRun>,
    /// Whether the last binary of `logs` is still running.
    log_open: bool,
    /// Every line (config.rs reads the parameters init saw).
    pub log: Vec<String>,
    started: Option<Instant>,
    current: Option<Instant>,
}

/// Kernel messages that make the run fail: the machine is gone after them.
const PANIC: &str = "Kernel panic - not syncing";
/// Kernel messages worth repeating in the summary.
const TROUBLE: &[&str] = &["Oops", "BUG:", "WARNING:"];

impl Console {
    /// A session whose machine powered on at `started`.
    pub fn new(started: Instant) -> Self {
        Console { started: Some(started), ..Console::default() }
    }

    /// Takes one console line (without its newline) seen at `now`.
    pub fn feed(&mut self, line: &str, now: Instant) {
        let line = line.trim_end_matches('\r');
        self.log.push(line.to_string());
        if let Some(at) = line.find(PANIC) {
            self.fatal.get_or_insert_with(|| format!("kernel panic: {}", &line[at..]));
            return;
        }
        if TROUBLE.iter().any(|t| line.contains(t)) && !line.contains(super::protocol::MARK) {
            self.kernel_trouble.push(line.trim().to_string());
        }
        let Some(marker) = Marker::parse(line) else {
            if let (true, Some(log)) = (self.log_open, self.logs.last_mut()) {
                log.feed(line);
            }
            return;
        };
        match marker {
            Marker::Kernel(r) => {
                self.kernel_release = Some(r);
                self.boot_time = self.started.map(|s| now - s);
            }
            Marker::Kvm(m) => self.kvm = Some(m),
            Marker::Begin(name) => {
                self.current = Some(now);
                self.logs.push(crate::results::BinaryRun::new(name.clone()));
                self.log_open = true;
                self.results.push(BinaryResult { name, exit: None, elapsed: Duration::ZERO });
            }
            Marker::End(name, exit) => {
                self.log_open = false;
                let elapsed = self.current.take().map_or(Duration::ZERO, |t| now - t);
                match self.results.last_mut() {
                    Some(r) if r.name == name && r.exit.is_none() => {
                        r.exit = Some(exit);
                        r.elapsed = elapsed;
                    }
                    _ => self.results.push(BinaryResult { name, exit: Some(exit), elapsed }),
                }
            }
            Marker::Done => self.done = true,
            Marker::Error(e) => {
                self.fatal.get_or_insert_with(|| format!("the VM's init failed: {e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(lines: &[&str]) -> Console {
        let t0 = Instant::now();
        let mut c = Console::new(t0);
        for (i, l) in lines.iter().enumerate() {
            c.feed(l, t0 + Duration::from_secs(i as u64 + 1));
        }
        c
    }

    #[test]
    fn a_clean_run_reports_every_binary() {
        let c = session(&[
            "[    0.000000] Linux version 6.12.117+deb12-amd64",
            "kvmtest-init: loaded /kvmtest/modules/kvm.ko\r",
            "KVMTEST-VM: kernel 6.12.117+deb12-amd64\r",
            "KVMTEST-VM: kvm kvm_amd (nested paging)",
            "KVMTEST-VM: begin ucall",
            "test ucall::a ... ok\r",
            "test result: ok. 4 passed; 0 failed",
            "KVMTEST-VM: end ucall exit=0",
            "KVMTEST-VM: begin selftest",
            "KVMTEST-VM: end selftest exit=101",
            "KVMTEST-VM: done",
        ]);
        assert_eq!(c.kernel_release.as_deref(), Some("6.12.117+deb12-amd64"));
        assert_eq!(c.kvm.as_deref(), Some("kvm_amd (nested paging)"));
        assert_eq!(c.boot_time, Some(Duration::from_secs(3)));
        assert!(c.done && c.fatal.is_none());
        assert_eq!(c.logs.len(), 2);
        assert_eq!(c.logs[0].lines, ["test ucall::a ... ok", "test result: ok. 4 passed; 0 failed"]);
        assert_eq!(c.logs[0].trials.len(), 1);
        assert!(c.logs[1].lines.is_empty());
        assert_eq!(
            c.results,
            [
                BinaryResult { name: "ucall".into(), exit: Some(Exit::Code(0)), elapsed: Duration::from_secs(3) },
                BinaryResult { name: "selftest".into(), exit: Some(Exit::Code(101)), elapsed: Duration::from_secs(1) },
            ]
        );
    }

    #[test]
    fn a_panic_is_fatal_and_leaves_the_binary_unfinished() {
        let c = session(&[
            "KVMTEST-VM: begin ucall",
            "[   12.5] BUG: kernel NULL pointer dereference, address: 0000000000000008",
            "[   12.6] Kernel panic - not syncing: Fatal exception\r",
        ]);
        assert!(!c.done);
        assert_eq!(c.fatal.as_deref(), Some("kernel panic: Kernel panic - not syncing: Fatal exception"));
        assert_eq!(c.results[0].exit, None);
        assert_eq!(c.kernel_trouble, ["[   12.5] BUG: kernel NULL pointer dereference, address: 0000000000000008"]);
    }

    #[test]
    fn an_init_error_is_fatal() {
        let c = session(&["KVMTEST-VM: error loading module /kvmtest/modules/kvm_amd.ko: ENODEV"]);
        assert_eq!(
            c.fatal.as_deref(),
            Some("the VM's init failed: loading module /kvmtest/modules/kvm_amd.ko: ENODEV")
        );
    }
}
