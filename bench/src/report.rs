//! The bench's table: one row per measurement, each against the baseline
//! measured beside it, and a last line with the worst ratio.

use crate::stats::Summary;

/// Unit a row's numbers are printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds.
    Micros,
    /// Milliseconds.
    Millis,
    /// Mebibytes.
    MiB,
    /// Seconds.
    Seconds,
}

impl Unit {
    fn fmt(self, v: f64) -> String {
        let unit = match self {
            Unit::Micros => "µs",
            Unit::Millis => "ms",
            Unit::MiB => "MiB",
            Unit::Seconds => "s",
        };
        format!("{v:.2} {unit}")
    }
}

/// What a row must achieve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// ratio <= this.
    MaxRatio(f64),
    /// harness 90th percentile <= this (in the row's unit); the ratio is shown for context.
    MaxValue(f64),
    /// No target: the ratio is reported for context (always met).
    None,
}

#[derive(Debug, Clone)]
/// One measurement: the harness against its baseline.
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Unit of the summaries.
    pub unit: Unit,
    /// The harness's samples.
    pub harness: Summary,
    /// What the baseline is.
    pub baseline_name: &'static str,
    /// The baseline's samples.
    pub baseline: Summary,
    /// Harness over baseline (lower is better).
    pub ratio: f64,
    /// What the row must achieve.
    pub target: Target,
    /// Extra context printed after the row (e.g. the bare-exit floor).
    pub note: String,
    /// Why the row was not measured (a kernel without the feature), if so.
    pub skip: Option<String>,
}

impl Row {
    /// A row that could not be measured here, saying why.
    pub fn skipped(name: String, why: String) -> Row {
        let none = Summary { min: 0.0, median: 0.0, p10: 0.0, p90: 0.0, n: 0 };
        Row {
            name,
            unit: Unit::Micros,
            harness: none,
            baseline_name: "-",
            baseline: none,
            ratio: 0.0,
            target: Target::MaxRatio(1.10),
            note: String::new(),
            skip: Some(why),
        }
    }

    /// Met, or skipped (which the table and the last line say).
    pub fn met(&self) -> bool {
        if self.skip.is_some() {
            return true;
        }
        match self.target {
            Target::MaxRatio(m) => self.ratio <= m,
            Target::MaxValue(m) => self.harness.p90 <= m,
            Target::None => true,
        }
    }

    /// How close to its target the row is: <= 1 is met.
    pub fn severity(&self) -> f64 {
        if self.skip.is_some() {
            return 0.0;
        }
        match self.target {
            Target::MaxRatio(m) => self.ratio / m,
            Target::MaxValue(m) => self.harness.p90 / m,
            Target::None => 0.0,
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::MaxRatio(m) => format!("<= {m:.2}x"),
            Target::MaxValue(m) => format!("<= {}", self.unit.fmt(m)),
            Target::None => "none".into(),
        }
    }
}

fn cell(unit: Unit, s: &Summary) -> String {
    format!("{} (median {:.2}, p90 {:.2})", unit.fmt(s.min), s.median, s.p90)
}

/// The table as markdown (it goes into the README as printed).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| bench | kvmtest best (median, p90) | baseline | baseline best (median, p90) | ratio | target | |\n",
    );
    out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        if let Some(why) = &r.skip {
            out.push_str(&format!("| {} | - | - | - | - | {} | SKIP: {why} |\n", r.name, r.target_text()));
            continue;
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.3}x | {} | {} |\n",
            r.name,
            cell(r.unit, &r.harness),
            r.baseline_name,
            cell(r.unit, &r.baseline),
            r.ratio,
            r.target_text(),
            match (r.target, r.met()) {
                (Target::None, _) => "reported",
                (_, true) => "ok",
                (_, false) => "MISSED",
            }
        ));
    }
    let notes: Vec<&Row> = rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !notes.is_empty() {
        out.push('\n');
        for r in notes {
            out.push_str(&format!("- {}: {}\n", r.name, r.note));
        }
    }
    out
}

/// The last line: the row closest to (or furthest past) its target.
pub fn worst(rows: &[Row]) -> String {
    let Some(w) = rows.iter().max_by(|a, b| a.severity().total_cmp(&b.severity())) else {
        return "worst ratio: no rows".into();
    };
    let verdict = if rows.iter().all(Row::met) { "every target met" } else { "TARGET MISSED" };
    let skipped: Vec<&str> = rows.iter().filter(|r| r.skip.is_some()).map(|r| r.name.as_str()).collect();
    let skipped =
        if skipped.is_empty() { String::new() } else { format!("; {} skipped: {}", skipped.len(), skipped.join(", ")) };
    format!("worst ratio: {:.3}x ({}, target {}) - {verdict}{skipped}", w.ratio, w.name, w.target_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_row_says_why_and_is_counted() {
        let s = Summary { min: 1.0, median: 1.0, p10: 1.0, p90: 1.0, n: 1 };
        let ok = Row {
            name: "exit round trip: mmio".into(),
            unit: Unit::Micros,
            harness: s,
            baseline_name: "raw",
            baseline: s,
            ratio: 1.02,
            target: Target::MaxRatio(1.10),
            note: String::new(),
            skip: None,
        };
        let skipped = Row::skipped("exit round trip: hvc".into(), "requires KVM_ARM_VM_SMCCC_FILTER".into());
        let rows = [ok, skipped];
        assert!(table(&rows).contains("| SKIP: requires KVM_ARM_VM_SMCCC_FILTER |"));
        let last = worst(&rows);
        assert!(last.starts_with("worst ratio: 1.020x (exit round trip: mmio"), "{last}");
        assert!(last.ends_with("every target met; 1 skipped: exit round trip: hvc"), "{last}");
    }
}
