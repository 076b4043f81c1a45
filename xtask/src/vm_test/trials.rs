//! What each test binary's libtest output in a console log says: the trials
//! that failed (`test X ... FAILED`) and the counts of its `test result:`
//! line, so a verdict can tell a binary whose every trial skipped from one
//! that passed, and name what failed.

use std::collections::BTreeMap;

use super::protocol::Marker;
use crate::util::libtest_count as count;

/// One binary's libtest output, as read from the console.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BinaryOutput {
    /// Trials reported `... FAILED`, in order.
    pub failed: Vec<String>,
    /// From the `test result:` line (0 when there was none).
    pub passed: usize,
    pub ignored: usize,
    /// A `test result:` line was seen.
    pub finished: bool,
}

/// The output of each binary between its begin and end markers in `log`.
pub fn per_binary(log: &[String]) -> BTreeMap<String, BinaryOutput> {
    let mut out: BTreeMap<String, BinaryOutput> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in log {
        match Marker::parse(line) {
            Some(Marker::Begin(name)) => {
                out.entry(name.clone()).or_default();
                current = Some(name);
                continue;
            }
            Some(Marker::End(..)) => {
                current = None;
                continue;
            }
            _ => {}
        }
        let Some(o) = current.as_ref().and_then(|c| out.get_mut(c)) else { continue };
        let line = line.trim_end();
        if let Some(trial) = failed_trial(line) {
            // A binary that re-runs itself (selftest) prints a trial twice.
            if !o.failed.iter().any(|t| t == trial) {
                o.failed.push(trial.to_string());
            }
        } else if let Some(at) = line.find("test result:") {
            let result = &line[at..];
            o.passed = count(result, " passed");
            o.ignored = count(result, " ignored");
            o.finished = true;
        }
    }
    out
}

/// The trial named by libtest's `test NAME ... FAILED` (libtest-mimic pads
/// NAME with spaces; anything the kernel printed into the line before it is
/// skipped).
fn failed_trial(line: &str) -> Option<&str> {
    let rest = line.strip_suffix(" ... FAILED")?;
    let at = rest.find("test ")?;
    Some(rest[at + "test ".len()..].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_counts_belong_to_their_binary() {
        let log: Vec<String> = [
            "KVMTEST-VM: begin ucall",
            "test ucall::pio::sync ... ok",
            "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s",
            "KVMTEST-VM: end ucall exit=0",
            "KVMTEST-VM: begin pv_features",
            "test pv_features::msr::kvm_system_time        ... FAILED",
            "[   12.1] kvm: something test pv_features::cpuid ... FAILED",
            "test pv_features::hypercall ... ignored, SKIP: no",
            "test pv_features::msr::kvm_system_time ... FAILED",
            "test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 2.00s",
            "KVMTEST-VM: end pv_features exit=101",
            "KVMTEST-VM: begin psci",
            "test result: ok. 0 passed; 0 failed; 9 ignored; 0 measured; 0 filtered out; finished in 0.10s",
            "KVMTEST-VM: end psci exit=0",
            "test outside ... FAILED",
        ]
        .map(String::from)
        .into();
        let out = per_binary(&log);
        assert_eq!(out["ucall"], BinaryOutput { failed: vec![], passed: 12, ignored: 0, finished: true });
        assert_eq!(
            out["pv_features"],
            BinaryOutput {
                failed: vec!["pv_features::msr::kvm_system_time".into(), "pv_features::cpuid".into()],
                passed: 3,
                ignored: 1,
                finished: true
            }
        );
        assert_eq!((out["psci"].passed, out["psci"].ignored), (0, 9));
        assert_eq!(out.len(), 3);
    }
}
