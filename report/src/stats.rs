//! Descriptive statistics over repetitions: mean, spread, Student's t interval.
//!
//! Pure functions over slices of numbers: no I/O here, so every figure can be tested
//! against values computed by hand.

pub mod bootstrap;
pub mod fieller;
pub mod mad;
pub mod power;
pub mod welch;

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Mean, spread and 95% confidence interval of a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Describe {
    /// Sample size.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); NaN when n < 2.
    pub std: f64,
    /// Coefficient of variation, std / mean; NaN when undefined.
    pub cv: f64,
    /// Lower bound of the 95% CI from Student's t with n − 1 df; NaN when n < 2.
    pub ci95_low: f64,
    /// Upper bound of the 95% CI; NaN when n < 2.
    pub ci95_high: f64,
}

impl Describe {
    /// Describes `values`; `None` for an empty sample.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Some(Self {
                n,
                mean,
                std: f64::NAN,
                cv: f64::NAN,
                ci95_low: f64::NAN,
                ci95_high: f64::NAN,
            });
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let std = var.sqrt();
        let half = t_quantile_975(n - 1) * std / (n as f64).sqrt();
        Some(Self {
            n,
            mean,
            std,
            cv: if mean != 0.0 { std / mean } else { f64::NAN },
            ci95_low: mean - half,
            ci95_high: mean + half,
        })
    }
}

/// The 95% Wilson score interval of a proportion `p` observed over `n` trials: inside
/// 0–1, and of non-zero width at 0 and 1 (where a normal or t interval collapses).
pub fn wilson_ci95(p: f64, n: usize) -> (f64, f64) {
    if n == 0 || !p.is_finite() {
        return (f64::NAN, f64::NAN);
    }
    let z = Normal::new(0.0, 1.0).map_or(f64::NAN, |d| d.inverse_cdf(0.975));
    let n = n as f64;
    let z2n = z * z / n;
    let centre = (p + z2n / 2.0) / (1.0 + z2n);
    let half = z / (1.0 + z2n) * (p * (1.0 - p) / n + z2n / (4.0 * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile_975(df: usize) -> f64 {
    t_quantile(0.975, df as f64)
}

/// The `p`-quantile of Student's t with `df` (possibly fractional) degrees of freedom.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df)
        .map(|t| t.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

/// The cumulative probability of Student's t with `df` degrees of freedom at `x`.
pub fn t_cdf(x: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df)
        .map(|t| t.cdf(x))
        .unwrap_or(f64::NAN)
}

/// The median of `values` (any order); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile_sorted(&sorted, 0.5)
}

/// The arithmetic mean of `values`; NaN when empty.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The `q`-quantile (0–1) of `sorted` by linear interpolation; NaN when empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        // Published two-sided 95% critical values.
        assert!((t_quantile_975(1) - 12.7062).abs() < 1e-3);
        assert!((t_quantile_975(9) - 2.2622).abs() < 1e-3);
        assert!((t_quantile_975(29) - 2.0452).abs() < 1e-3);
    }

    #[test]
    fn describe_matches_hand_computation() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample var 32/7.
        let d = Describe::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).expect("non-empty");
        assert_eq!(d.mean, 5.0);
        assert!((d.std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        let half = 2.364_624 * d.std / 8f64.sqrt();
        assert!((d.ci95_low - (5.0 - half)).abs() < 1e-4);
        assert!((d.ci95_high - (5.0 + half)).abs() < 1e-4);
    }

    #[test]
    fn wilson_matches_its_formula_and_keeps_width_at_the_edges() {
        // p = 0.5, n = 4, z = 1.959964: centre 0.5, half-width
        // z / (1 + z²/4) × sqrt(0.25/4 + z²/64).
        let z = 1.959_963_984_540_054_f64;
        let half = z / (1.0 + z * z / 4.0) * (0.0625 + z * z / 64.0).sqrt();
        let (lo, hi) = super::wilson_ci95(0.5, 4);
        assert!((lo - (0.5 - half)).abs() < 1e-12 && (hi - (0.5 + half)).abs() < 1e-12);
        // All wrong over 40 rows: not [0, 0] but [0, z²/(n + z²)].
        let (lo, hi) = super::wilson_ci95(0.0, 40);
        assert_eq!(lo, 0.0);
        assert!((hi - z * z / (40.0 + z * z)).abs() < 1e-12, "{hi}");
        let (lo, hi) = super::wilson_ci95(1.0, 40);
        assert!(
            (lo - 40.0 / (40.0 + z * z)).abs() < 1e-12 && hi == 1.0,
            "{lo}"
        );
        assert!(super::wilson_ci95(0.5, 0).0.is_nan());
    }

    #[test]
    fn n_two_and_zero_variance() {
        let d = Describe::of(&[1.0, 3.0]).expect("non-empty");
        assert_eq!(d.mean, 2.0);
        assert!((d.std - 2f64.sqrt()).abs() < 1e-12);
        assert!((d.ci95_high - (2.0 + 12.7062 * 1.0)).abs() < 1e-3);
        let z = Describe::of(&[4.0, 4.0, 4.0]).expect("non-empty");
        assert_eq!((z.std, z.cv, z.ci95_low, z.ci95_high), (0.0, 0.0, 4.0, 4.0));
        assert!(Describe::of(&[]).is_none());
        assert!(Describe::of(&[1.0]).expect("one").std.is_nan());
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
        assert!((quantile_sorted(&v, 0.99) - 3.97).abs() < 1e-12);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }
}
