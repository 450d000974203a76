//! Welch's unequal-variance t-test between a baseline and a candidate sample.

use super::{Describe, t_cdf, t_quantile};

/// The result of comparing a candidate's mean with a baseline's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Welch {
    /// Candidate mean − baseline mean.
    pub difference: f64,
    /// Standard error of the difference.
    pub std_error: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// The t statistic (difference / standard error).
    pub t: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Lower bound of the 95% CI of the difference.
    pub ci95_low: f64,
    /// Upper bound of the 95% CI of the difference.
    pub ci95_high: f64,
}

impl Welch {
    /// Tests `candidate` against `baseline`; `None` when either has fewer than 2 values.
    ///
    /// When both samples have zero variance the test is degenerate: equal means give
    /// p = 1, different means p = 0 (the difference is certain at the precision stored).
    pub fn test(baseline: &Describe, candidate: &Describe) -> Option<Self> {
        if baseline.n < 2 || candidate.n < 2 {
            return None;
        }
        let (n1, n2) = (baseline.n as f64, candidate.n as f64);
        let (v1, v2) = (baseline.std.powi(2) / n1, candidate.std.powi(2) / n2);
        let difference = candidate.mean - baseline.mean;
        let se2 = v1 + v2;
        if se2 == 0.0 {
            let p_value = if difference == 0.0 { 1.0 } else { 0.0 };
            return Some(Self {
                difference,
                std_error: 0.0,
                df: n1 + n2 - 2.0,
                t: if difference == 0.0 {
                    0.0
                } else {
                    difference.signum() * f64::INFINITY
                },
                p_value,
                ci95_low: difference,
                ci95_high: difference,
            });
        }
        let std_error = se2.sqrt();
        let df = se2.powi(2) / (v1.powi(2) / (n1 - 1.0) + v2.powi(2) / (n2 - 1.0));
        let t = difference / std_error;
        let p_value = (2.0 * (1.0 - t_cdf(t.abs(), df))).clamp(0.0, 1.0);
        let half = t_quantile(0.975, df) * std_error;
        Some(Self {
            difference,
            std_error,
            df,
            t,
            p_value,
            ci95_low: difference - half,
            ci95_high: difference + half,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_values_computed_by_hand() {
        let a = Describe::of(&[1.0, 2.0, 3.0, 4.0]).expect("sample");
        let b = Describe::of(&[2.0, 4.0, 6.0, 8.0, 10.0]).expect("sample");
        let w = Welch::test(&a, &b).expect("n >= 2");
        // By hand: v1 = (5/3)/4 = 0.41667, v2 = 10/5 = 2, se = sqrt(2.41667) = 1.55456,
        // t = 3.5 / 1.55456 = 2.25144; df = 2.41667^2 / (0.41667^2/3 + 2^2/4) = 5.52079.
        assert!((w.t - 2.251_44).abs() < 1e-4, "{w:?}");
        assert!((w.df - 5.520_79).abs() < 1e-4, "{w:?}");
        // Two-sided p: the t(5.52079) density integrated numerically beyond 2.25144
        // (Python, midpoint rule, 2e5 steps) = 0.069134.
        assert!((w.p_value - 0.069_134).abs() < 1e-5, "{w:?}");
        assert!(w.ci95_low < 0.0 && w.ci95_high > 3.5);
    }

    #[test]
    fn n_two_and_zero_variance() {
        let a = Describe::of(&[5.0, 5.0]).expect("sample");
        let b = Describe::of(&[5.0, 5.0]).expect("sample");
        assert_eq!(Welch::test(&a, &b).expect("n = 2").p_value, 1.0);
        let c = Describe::of(&[6.0, 6.0]).expect("sample");
        let w = Welch::test(&a, &c).expect("n = 2");
        assert_eq!((w.p_value, w.difference), (0.0, 1.0));
        // n = 2 each: [1,3] vs [4,6]: v1 = v2 = 1, se = sqrt 2, t = 3/sqrt 2 = 2.12132,
        // df = 4 / (1/1 + 1/1) = 2; two-sided p = 2*pt(-2.12132, 2) = 0.16795.
        let d = Describe::of(&[1.0, 3.0]).expect("sample");
        let e = Describe::of(&[4.0, 6.0]).expect("sample");
        let w = Welch::test(&d, &e).expect("n = 2");
        assert!((w.df - 2.0).abs() < 1e-12);
        assert!((w.t - 2.121_32).abs() < 1e-5);
        assert!((w.p_value - 0.167_95).abs() < 1e-4, "{w:?}");
        assert!(Welch::test(&Describe::of(&[1.0]).expect("one"), &e).is_none());
    }
}
