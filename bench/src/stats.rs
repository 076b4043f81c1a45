//! Small statistics over noisy samples. The machine is shared (two cores,
//! other builds running), and noise only ever adds time: so a measurement is
//! many short samples, and the figure compared is the fastest, the cost when
//! nobody else was on the core (the minimum is the estimator of choice for
//! such noise: Chen & Revels, "Robust benchmarking in noisy environments").
//! The median and 90th percentile are printed beside it.

/// Median and spread of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// The fastest sample: the figure compared.
    pub min: f64,
    /// The median sample.
    pub median: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Number of samples.
    pub n: usize,
}

/// The `q`-quantile (0..=1) of sorted samples, by nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// The summary of `samples`; panics if there are none.
pub fn summarize(samples: &[f64]) -> Summary {
    assert!(!samples.is_empty(), "no samples");
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    Summary { min: s[0], median: quantile(&s, 0.5), p10: quantile(&s, 0.1), p90: quantile(&s, 0.9), n: s.len() }
}

/// The ratio of the uncontended costs: fastest over fastest.
pub fn best_ratio(a: &[f64], b: &[f64]) -> f64 {
    summarize(a).min / summarize(b).min
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.min, s.median, s.p10, s.p90, s.n), (1.0, 3.0, 1.0, 5.0, 5));
        assert_eq!(best_ratio(&[2.0, 9.0, 3.0], &[1.0, 3.0, 3.0]), 2.0);
    }
}
