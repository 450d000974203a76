//! Fieller's 95% confidence interval for the ratio of two independent means.
//!
//! With means x̄ (denominator, the baseline) and ȳ (numerator, the variant), squared
//! standard errors v_x = s_x²/n_x and v_y = s_y²/n_y, and t the Student-t 0.975 quantile at
//! the Welch–Satterthwaite degrees of freedom of the linearised variance of R = ȳ/x̄
//! ((v_y + R² v_x) / x̄²), the bounds are the roots of
//! (x̄² − t² v_x) R² − 2 x̄ ȳ R + (ȳ² − t² v_y) = 0. When x̄² − t² v_x ≤ 0 the baseline
//! mean is not distinguishable from 0 and the interval is unbounded.

use super::{mean, t_quantile};
use statrs::distribution::{ContinuousCDF, Normal};

/// A ratio of two means with its Fieller 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioCi {
    /// ȳ / x̄.
    pub ratio: f64,
    /// The interval.
    pub ci: Interval,
    /// Welch–Satterthwaite degrees of freedom of the linearised ratio variance (infinite
    /// when both samples have no spread).
    pub df: f64,
}

/// Fieller's interval: bounded, or not (the baseline mean cannot be told from 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Interval {
    /// Finite bounds, low ≤ high.
    Bounded {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// No finite interval: x̄² − t² v_x ≤ 0.
    Unbounded,
}

impl Interval {
    /// The bounds, when finite.
    pub fn bounds(self) -> Option<(f64, f64)> {
        match self {
            Self::Bounded { low, high } => Some((low, high)),
            Self::Unbounded => None,
        }
    }
}

/// Why a ratio has no interval at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRatio {
    /// A side has fewer than two values: no spread, no interval.
    TooFewValues,
    /// The baseline mean is 0 (or a value is not finite).
    NotFinite,
}

/// The ratio of `variant`'s mean to `baseline`'s with Fieller's 95% interval.
pub fn fieller(baseline: &[f64], variant: &[f64]) -> Result<RatioCi, NoRatio> {
    let (nx, ny) = (baseline.len(), variant.len());
    if nx < 2 || ny < 2 {
        return Err(NoRatio::TooFewValues);
    }
    let (mx, my) = (mean(baseline), mean(variant));
    let vx = var(baseline, mx) / nx as f64;
    let vy = var(variant, my) / ny as f64;
    let ratio = my / mx;
    if !ratio.is_finite() || !vx.is_finite() || !vy.is_finite() {
        return Err(NoRatio::NotFinite);
    }
    let linear = vy + ratio * ratio * vx;
    let denominator = vy * vy / (ny - 1) as f64 + ratio.powi(4) * vx * vx / (nx - 1) as f64;
    let df = if denominator > 0.0 {
        linear * linear / denominator
    } else {
        f64::INFINITY
    };
    let t = if df.is_finite() {
        t_quantile(0.975, df)
    } else {
        Normal::standard().inverse_cdf(0.975)
    };
    let t2 = t * t;
    let a = mx * mx - t2 * vx;
    if a <= 0.0 {
        return Ok(RatioCi {
            ratio,
            ci: Interval::Unbounded,
            df,
        });
    }
    let b = -2.0 * mx * my;
    let c = my * my - t2 * vy;
    // With a > 0 the discriminant is 4t²(a v_y + ȳ² v_x) ≥ 0; clamp rounding below 0.
    let root = (b * b - 4.0 * a * c).max(0.0).sqrt();
    let (r1, r2) = ((-b - root) / (2.0 * a), (-b + root) / (2.0 * a));
    Ok(RatioCi {
        ratio,
        ci: Interval::Bounded {
            low: r1.min(r2),
            high: r1.max(r2),
        },
        df,
    })
}

/// Sample variance (n − 1) about `m`.
fn var(values: &[f64], m: f64) -> f64 {
    values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal as NormalDist};
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn a_hand_worked_ratio_has_its_fieller_bounds() {
        // x̄ = 11, s_x² = 2.5, v_x = 0.5; ȳ = 5.5, s_y² = 0.625, v_y = 0.125; R = 0.5.
        // df = (0.125 + 0.25·0.5)² / (0.125²/4 + 0.0625·0.5²/4) = 8, t = 2.306004.
        // a = 121 − t²·0.5, b = −121, c = 30.25 − t²·0.125, roots 0.404651 and 0.617817.
        let r =
            fieller(&[10.0, 12.0, 11.0, 9.0, 13.0], &[5.0, 6.0, 5.5, 4.5, 6.5]).expect("a ratio");
        assert!((r.ratio - 0.5).abs() < 1e-12);
        assert!((r.df - 8.0).abs() < 1e-9, "{}", r.df);
        let (low, high) = r.ci.bounds().expect("bounded");
        assert!((low - 0.404_650_741).abs() < 1e-6, "{low}");
        assert!((high - 0.617_816_735).abs() < 1e-6, "{high}");
    }

    #[test]
    fn a_baseline_indistinguishable_from_zero_gives_an_unbounded_interval() {
        let r = fieller(&[-1.0, 0.5, 1.5, -0.5], &[1.0, 1.1, 0.9, 1.0]).expect("a ratio");
        assert_eq!(r.ci, Interval::Unbounded);
        assert!(r.ratio.is_finite());
    }

    #[test]
    fn too_few_values_or_a_zero_baseline_give_no_ratio() {
        assert_eq!(fieller(&[1.0], &[1.0, 2.0]), Err(NoRatio::TooFewValues));
        assert_eq!(fieller(&[0.0, 0.0], &[1.0, 2.0]), Err(NoRatio::NotFinite));
        let exact = fieller(&[2.0, 2.0], &[1.0, 1.0]).expect("no spread");
        assert_eq!(
            exact.ci,
            Interval::Bounded {
                low: 0.5,
                high: 0.5
            }
        );
    }

    #[test]
    fn fieller_intervals_cover_the_true_ratio_about_95_percent_of_the_time() {
        // Seeded and deterministic: 4,000 pairs of samples (n = 6 and 5) of normal
        // repetitions with true means 10 and 4 (ratio 0.4), spreads 1.5 and 0.6.
        let mut rng = Pcg64Mcg::seed_from_u64(15);
        let x = NormalDist::new(10.0, 1.5).expect("normal");
        let y = NormalDist::new(4.0, 0.6).expect("normal");
        let trials = 4000;
        let mut covered = 0;
        for _ in 0..trials {
            let xs: Vec<f64> = (0..6).map(|_| x.sample(&mut rng)).collect();
            let ys: Vec<f64> = (0..5).map(|_| y.sample(&mut rng)).collect();
            let r = fieller(&xs, &ys).expect("a ratio");
            if let Some((low, high)) = r.ci.bounds()
                && (low..=high).contains(&0.4)
            {
                covered += 1;
            }
        }
        let coverage = f64::from(covered) / f64::from(trials);
        assert!((0.93..=0.97).contains(&coverage), "coverage {coverage}");
    }
}
