//! Open-loop arrival times: a seeded Poisson process, so a suite's seed always means the
//! same arrivals.

use rand::{RngExt, SeedableRng};
use rand_distr::Exp;
use rand_pcg::Pcg64Mcg;

/// The offsets (ns from the batch's start) at which `count` Poisson arrivals at
/// `rate_per_s` are due: the first at 0, then exponential gaps of mean 1/rate, the same
/// for the same `seed` on every machine.
pub fn poisson_offsets_ns(rate_per_s: f64, count: u32, seed: u64) -> Vec<u64> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut out = Vec::with_capacity(count as usize);
    let Ok(gap) = Exp::new(rate_per_s) else {
        // A rate that is not positive and finite cannot be checked in at load; send at
        // once rather than never.
        return vec![0; count as usize];
    };
    let mut t = 0.0f64;
    for i in 0..count {
        if i > 0 {
            t += rng.sample(gap);
        }
        out.push((t * 1e9).min(u64::MAX as f64) as u64);
    }
    out
}

/// The seed of one batch's arrivals: the suite's seed mixed with the configuration and
/// repetition, so levels and repetitions get different but reproducible arrivals.
pub fn batch_seed(suite_seed: u64, config: &str, repetition: u32) -> u64 {
    // FNV-1a over the id: stable across Rust versions, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in config.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    suite_seed ^ h ^ u64::from(repetition).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_seeded_and_have_the_asked_rate() {
        let a = poisson_offsets_ns(50.0, 20_000, 7);
        assert_eq!(a, poisson_offsets_ns(50.0, 20_000, 7));
        assert_ne!(a, poisson_offsets_ns(50.0, 20_000, 8));
        assert_eq!(a[0], 0);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // 19,999 gaps of mean 20 ms: the mean is within 3% (σ/√n ≈ 0.7%).
        let mean_gap_s = *a.last().expect("arrivals") as f64 / 1e9 / 19_999.0;
        assert!((mean_gap_s - 0.02).abs() < 0.02 * 0.03, "{mean_gap_s}");
        // Exponential gaps: the coefficient of variation is 1.
        let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((sd / m - 1.0).abs() < 0.05, "cv {}", sd / m);
    }

    #[test]
    fn seeds_differ_by_configuration_and_repetition() {
        let s = batch_seed(1, "m@d~p2", 1);
        assert_eq!(s, batch_seed(1, "m@d~p2", 1));
        assert_ne!(s, batch_seed(1, "m@d~p5", 1));
        assert_ne!(s, batch_seed(1, "m@d~p2", 2));
        assert_ne!(s, batch_seed(2, "m@d~p2", 1));
    }
}
