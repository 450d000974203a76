//! Percentile bootstrap confidence interval of the mean, reproducible from a seed.

use super::quantile_sorted;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// A 95% percentile-bootstrap interval of the mean of `values` from `resamples` resamples.
///
/// `None` when there are fewer than 2 values or no resamples. The generator is `Pcg64Mcg`
/// (rand_pcg, a stream documented never to change) seeded with `seed`, so a report is
/// byte-for-byte reproducible.
pub fn mean_ci95(values: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 || resamples == 0 {
        return None;
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let sum: f64 = (0..n).map(|_| values[rng.random_range(0..n)]).sum();
            sum / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    Some((
        quantile_sorted(&means, 0.025),
        quantile_sorted(&means, 0.975),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uneven values, so that other resamples would move the interval's ends.
    const UNEVEN: [f64; 10] = [0.3, 1.7, 2.2, 4.9, 5.1, 6.6, 7.4, 8.8, 9.05, 12.1];

    /// `mean_ci95(&UNEVEN, 1000, 2023)`.
    const PINNED_CI: (f64, f64) = (3.588_000_000_000_001, 7.970_125_000_000_001);

    #[test]
    fn brackets_the_mean_and_is_reproducible() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let (lo, hi) = mean_ci95(&v, 4000, 7).expect("n >= 2");
        // Normal approximation: 5.5 ± 1.96 × 2.872/√10 = [3.72, 7.28]; the bootstrap
        // interval is a little narrower (it uses the n-divisor spread).
        assert!(lo > 3.5 && lo < 4.3, "{lo}");
        assert!(hi > 6.7 && hi < 7.5, "{hi}");
        assert_eq!(mean_ci95(&v, 4000, 7), Some((lo, hi)));
        assert_eq!(mean_ci95(&[3.0, 3.0, 3.0], 100, 1), Some((3.0, 3.0)));
        assert!(mean_ci95(&[1.0], 100, 1).is_none());
    }

    #[test]
    fn the_interval_of_a_seed_is_pinned() {
        assert_eq!(mean_ci95(&UNEVEN, 1000, 2023), Some(PINNED_CI));
    }
}
