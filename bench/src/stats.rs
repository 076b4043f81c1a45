//! Small statistics over noisy samples. The machine is shared, so every
//! measurement is a set of short batches and we report medians: a batch hit
//! by another process's burst lands in the tail, not in the result.

/// Median and spread of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: f64,
    /// 10th and 90th percentile.
    pub p10: f64,
    pub p90: f64,
    pub n: usize,
}

/// The `q`-quantile (0..=1) of sorted samples, by nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

pub fn summarize(samples: &[f64]) -> Summary {
    assert!(!samples.is_empty(), "no samples");
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    Summary { median: quantile(&s, 0.5), p10: quantile(&s, 0.1), p90: quantile(&s, 0.9), n: s.len() }
}

/// Median of the ratios of paired samples `a[i] / b[i]`, each pair taken
/// back to back, so slow phases of the machine cancel out.
pub fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    summarize(&r).median
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.median, s.p10, s.p90, s.n), (3.0, 1.0, 5.0, 5));
        assert_eq!(paired_ratio(&[2.0, 9.0, 3.0], &[1.0, 3.0, 3.0]), 2.0);
    }
}
