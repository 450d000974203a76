//! How many repetitions a claim needs: for a 95% confidence interval as narrow as a share
//! of the mean, and for a Welch test to detect a relative difference, from the spread a
//! run observed; and a simulation that checks those counts against the observed values.

use super::{Describe, t_quantile};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

/// The largest count searched; a claim needing more is reported as beyond it.
pub const MAX_REPETITIONS: u64 = 100_000;

/// CI half-widths (share of the mean) and detectable differences reported by default.
pub const HALF_WIDTHS: [f64; 3] = [0.01, 0.02, 0.05];

/// Repetitions needed for one target.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Needed {
    /// The target, as a share of the mean (0.01 = 1%).
    pub share: f64,
    /// Repetitions needed; `None` beyond [`MAX_REPETITIONS`].
    pub repetitions: Option<u64>,
}

impl Needed {
    /// The count as text: the number, or `> 100000` beyond [`MAX_REPETITIONS`].
    pub fn count(&self) -> String {
        self.repetitions
            .map_or_else(|| format!("> {MAX_REPETITIONS}"), |n| n.to_string())
    }
}

/// Repetitions needed per target, from one configuration's observed spread.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RepetitionsNeeded {
    /// Repetitions the figures came from.
    pub observed: usize,
    /// Their coefficient of variation.
    pub cv: f64,
    /// For a 95% CI half-width of ±1%, ±2% and ±5% of the mean: repetitions needed
    /// (`None` beyond [`MAX_REPETITIONS`]).
    pub ci_half_width: Vec<Needed>,
    /// For `compare` (Welch, two-sided α = 0.05, power 0.8) to detect a relative
    /// difference of 1%, 2%, 5% between two runs of this spread: repetitions per run.
    pub detect_difference: Vec<Needed>,
}

impl RepetitionsNeeded {
    /// The counts for a sample described by `d`; `None` with fewer than 2 repetitions or
    /// a zero mean (no spread or no scale to judge by).
    pub fn of(d: &Describe) -> Option<Self> {
        if d.n < 2 || !(d.mean.is_finite() && d.std.is_finite()) || d.mean == 0.0 {
            return None;
        }
        Some(Self {
            observed: d.n,
            cv: d.cv,
            ci_half_width: HALF_WIDTHS
                .iter()
                .map(|&share| Needed {
                    share,
                    repetitions: for_half_width(d.mean, d.std, share),
                })
                .collect(),
            detect_difference: HALF_WIDTHS
                .iter()
                .map(|&share| Needed {
                    share,
                    repetitions: to_detect(d.std, d.std, d.mean, share),
                })
                .collect(),
        })
    }
}

/// The fewest repetitions n ≥ 2 whose 95% Student-t CI half-width, t(0.975, n−1)·sd/√n,
/// is at most `rel` × |mean|; `None` beyond [`MAX_REPETITIONS`].
pub fn for_half_width(mean: f64, sd: f64, rel: f64) -> Option<u64> {
    let target = rel * mean.abs();
    first_n(|n| t_quantile(0.975, (n - 1) as f64) * sd / (n as f64).sqrt() <= target)
}

/// Repetitions per run for a two-sided Welch test at α = 0.05 to detect, with power 0.8,
/// a difference of `rel` × |mean| between runs of spreads `sd_a` and `sd_b`: the fewest n
/// with (t(0.975, ν) + t(0.8, ν)) · √((sd_a² + sd_b²)/n) ≤ rel·|mean|, ν the
/// Welch–Satterthwaite degrees of freedom at n per run.
pub fn to_detect(sd_a: f64, sd_b: f64, mean: f64, rel: f64) -> Option<u64> {
    let delta = rel * mean.abs();
    let (va, vb) = (sd_a * sd_a, sd_b * sd_b);
    first_n(|n| {
        let nf = n as f64;
        let df = if va + vb == 0.0 {
            2.0 * (nf - 1.0)
        } else {
            (va + vb).powi(2) / ((va * va + vb * vb) / (nf - 1.0))
        };
        (t_quantile(0.975, df) + t_quantile(0.8, df)) * ((va + vb) / nf).sqrt() <= delta
    })
}

/// The first n in 2..=MAX with `ok(n)`, by doubling then bisection (`ok` is monotone).
fn first_n(ok: impl Fn(u64) -> bool) -> Option<u64> {
    let mut hi = 2;
    while !ok(hi) {
        if hi >= MAX_REPETITIONS {
            return None;
        }
        hi = (hi * 2).min(MAX_REPETITIONS);
    }
    let mut lo = hi / 2; // !ok(lo) unless hi == 2
    if hi == 2 {
        return Some(2);
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if ok(mid) { hi = mid } else { lo = mid }
    }
    Some(hi)
}

/// What a simulation of `n` repetitions drawn from observed values gave.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Simulated {
    /// Share of trials whose 95% CI half-width was at most the target.
    pub met_target: f64,
    /// Share of trials whose 95% CI held the observed mean (the "true" one here).
    pub covered_mean: f64,
}

/// Where simulated repetitions are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draw {
    /// The observed values, with replacement (their spread is √((k−1)/k) of the sample
    /// standard deviation of k values).
    Observed,
    /// A normal distribution with the observed mean and sample standard deviation: the
    /// assumption behind the counts.
    Normal,
}

/// Draws `trials` sets of `n` repetitions (from `values`, or a normal fitted to them; see
/// [`Draw`]; seeded) and counts how often the 95% CI's half-width was within `rel` × the
/// mean of `values`, and how often the CI held that mean.
pub fn simulate(
    values: &[f64],
    n: usize,
    rel: f64,
    trials: usize,
    seed: u64,
    draw: Draw,
) -> Option<Simulated> {
    let d = Describe::of(values)?;
    let truth = d.mean;
    if n < 2 || trials == 0 || !d.std.is_finite() {
        return None;
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let (mut met, mut covered) = (0usize, 0usize);
    let mut sample = vec![0.0; n];
    for _ in 0..trials {
        for v in sample.iter_mut() {
            *v = match draw {
                Draw::Observed => values[rng.random_range(0..values.len())],
                Draw::Normal => {
                    let z: f64 = rng.sample(rand_distr::StandardNormal);
                    truth + d.std * z
                }
            };
        }
        let s = Describe::of(&sample)?;
        let half = (s.ci95_high - s.ci95_low) / 2.0;
        met += usize::from(half <= rel * truth.abs());
        covered += usize::from(s.ci95_low <= truth && truth <= s.ci95_high);
    }
    Some(Simulated {
        met_target: met as f64 / trials as f64,
        covered_mean: covered as f64 / trials as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_width_counts_match_the_formula_at_their_edge() {
        // cv 5%: ±2% needs t·0.05/√n ≤ 0.02, i.e. n ≈ (1.96·2.5)² ≈ 24, a little more for t.
        let n = for_half_width(100.0, 5.0, 0.02).expect("found");
        let half = |n: u64| t_quantile(0.975, (n - 1) as f64) * 5.0 / (n as f64).sqrt();
        assert!(half(n) <= 2.0 && half(n - 1) > 2.0, "n = {n}");
        assert_eq!(n, 27);
        assert_eq!(for_half_width(100.0, 0.0, 0.01), Some(2));
        assert_eq!(for_half_width(100.0, 1e9, 0.01), None, "beyond the search");
    }

    #[test]
    fn detecting_a_difference_needs_more_than_the_rule_of_thumb_with_t() {
        // Normal approximation: n = 2(1.96 + 0.8416)² (σ/δ)² = 15.7 for σ/δ = 1; t adds one.
        let n = to_detect(1.0, 1.0, 100.0, 0.01).expect("found");
        assert_eq!(n, 17);
        assert!(to_detect(1.0, 1.0, 100.0, 0.05).expect("found") < n);
    }

    #[test]
    fn at_the_count_a_normal_draw_meets_the_target_about_half_the_time_and_twice_it_nearly_always()
    {
        // A fixed, skewed sample of 10 repetitions with cv ≈ 6%.
        let values = [9.4, 9.8, 10.0, 10.1, 10.2, 10.3, 10.4, 10.9, 11.2, 9.1];
        let d = Describe::of(&values).expect("values");
        let n = for_half_width(d.mean, d.std, 0.02).expect("found") as usize;
        let sim = |k: usize, draw| simulate(&values, k, 0.02, 4000, 7, draw).expect("runs");
        let at = sim(n, Draw::Normal);
        assert!((0.35..0.75).contains(&at.met_target), "{at:?} at n = {n}");
        assert!(sim(n / 2, Draw::Normal).met_target < 0.05);
        assert!(sim(n * 2, Draw::Normal).met_target > 0.95);
        assert!((0.93..0.97).contains(&at.covered_mean), "{at:?}");
        // Drawn from the 10 values themselves, the spread is √0.9 of s: met more often.
        let observed = sim(n, Draw::Observed);
        assert!(
            observed.met_target > at.met_target,
            "{observed:?} vs {at:?}"
        );
        assert!(sim(n / 2, Draw::Observed).met_target < 0.05);
    }
}
