//! A figure of a load level: the mean over repetitions with its 95% Student-t CI, or the
//! reason it is unknown (never 0 or NaN in its place).

use crate::stats::Describe;
use crate::stats::welch::Welch;
use serde::Serialize;

/// A mean over repetitions with its 95% CI, or why it is empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figure {
    /// Mean over the repetitions where it is known.
    pub mean: Option<f64>,
    /// Lower bound of the 95% CI (Student's t, n − 1 df); empty below two repetitions.
    pub ci95_low: Option<f64>,
    /// Upper bound of the 95% CI.
    pub ci95_high: Option<f64>,
    /// Repetitions it is the mean of.
    pub n: usize,
    /// Why it (or its CI) is empty, or the repetitions it leaves out; empty otherwise.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
}

impl Figure {
    /// An empty figure with its reason.
    pub fn unknown(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            ..Self::default()
        }
    }

    /// The mean and CI of the repetitions' values; those that are `Err` are left out and
    /// their reasons kept.
    pub fn of(values: &[Result<f64, String>]) -> Self {
        let known: Vec<f64> = values
            .iter()
            .filter_map(|v| v.as_ref().ok().copied())
            .filter(|v| v.is_finite())
            .collect();
        let mut reasons: Vec<&str> = values
            .iter()
            .filter_map(|v| v.as_ref().err().map(String::as_str))
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        let reasons = reasons.join("; ");
        let Some(d) = Describe::of(&known) else {
            return Self::unknown(if reasons.is_empty() {
                "no repetition with a steady-state window".to_string()
            } else {
                reasons
            });
        };
        let mut why = Vec::new();
        if known.len() < values.len() {
            why.push(format!(
                "from {} of {} repetitions (the others: {reasons})",
                known.len(),
                values.len()
            ));
        }
        if d.n < 2 {
            why.push("one repetition: no CI".to_string());
        }
        Self {
            mean: Some(d.mean),
            ci95_low: d.ci95_low.is_finite().then_some(d.ci95_low),
            ci95_high: d.ci95_high.is_finite().then_some(d.ci95_high),
            n: d.n,
            why: why.join("; "),
        }
    }

    /// The difference of two levels' means (`self` − `base`) with Welch's 95% CI, from the
    /// repetitions' values of each.
    pub fn difference(values: &[f64], base: &[f64]) -> Self {
        let (Some(a), Some(b)) = (Describe::of(values), Describe::of(base)) else {
            return Self::unknown("a level without repetitions");
        };
        match Welch::test(&b, &a) {
            Some(w) => Self {
                mean: Some(w.difference),
                ci95_low: Some(w.ci95_low),
                ci95_high: Some(w.ci95_high),
                n: a.n,
                why: String::new(),
            },
            None => Self {
                mean: Some(a.mean - b.mean),
                n: a.n,
                why: "fewer than two repetitions on a side: no CI".to_string(),
                ..Self::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_repetitions_are_left_out_with_their_reason() {
        let f = Figure::of(&[Ok(2.0), Err("no window".into()), Ok(4.0)]);
        assert_eq!(f.mean, Some(3.0));
        assert_eq!(f.n, 2);
        assert!(f.ci95_low.is_some());
        assert!(
            f.why.contains("from 2 of 3") && f.why.contains("no window"),
            "{}",
            f.why
        );
        let f = Figure::of(&[Err("b".into()), Err("a".into()), Err("a".into())]);
        assert_eq!((f.mean, f.why.as_str()), (None, "a; b"));
        let f = Figure::of(&[Ok(1.0)]);
        assert_eq!((f.mean, f.ci95_low), (Some(1.0), None));
        assert!(f.why.contains("no CI"));
    }
}
