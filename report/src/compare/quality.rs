//! The quality half of the gate: per configuration scored in both runs, the change in its
//! headline quality metric in absolute points, with Welch's t-test over the dataset rows.

use super::{CompareOptions, Verdict};
use crate::quality::ConfigQuality;
use crate::stats::Describe;
use crate::stats::welch::Welch;
use serde::Serialize;

/// One configuration's quality compared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QualityComparison {
    /// Configuration id.
    pub config: String,
    /// The metric compared (`accuracy`, `f1`, `rouge_l`...).
    pub metric: String,
    /// Rows scored in the baseline.
    pub baseline_items: u64,
    /// Baseline mean quality (0–1).
    pub baseline: f64,
    /// Rows scored in the candidate.
    pub candidate_items: u64,
    /// Candidate mean quality (0–1).
    pub candidate: f64,
    /// Candidate − baseline, in points (percentage points).
    pub change_points: f64,
    /// Lower bound of the 95% CI of the change (points).
    pub change_ci95_low_points: f64,
    /// Upper bound of the 95% CI of the change (points).
    pub change_ci95_high_points: f64,
    /// Two-sided p-value of Welch's t-test over rows.
    pub p_value: Option<f64>,
    /// The conclusion: a significant drop by more than the threshold is a regression.
    pub verdict: Verdict,
    /// Why it was not tested (only for [`Verdict::NotTested`]).
    pub reason: Option<String>,
}

/// Compares one configuration's quality; `None` when neither run scored it (nothing to gate).
pub fn judge(
    base: &ConfigQuality,
    cand: Option<&ConfigQuality>,
    options: &CompareOptions,
) -> Option<QualityComparison> {
    let b = base.headline();
    let c = cand.and_then(ConfigQuality::headline);
    let untested = |metric: &str, reason: String| QualityComparison {
        config: base.config.clone(),
        metric: metric.to_string(),
        baseline_items: b.map_or(0, |m| m.items),
        baseline: b.map_or(f64::NAN, |m| m.mean),
        candidate_items: c.map_or(0, |m| m.items),
        candidate: c.map_or(f64::NAN, |m| m.mean),
        change_points: f64::NAN,
        change_ci95_low_points: f64::NAN,
        change_ci95_high_points: f64::NAN,
        p_value: None,
        verdict: Verdict::NotTested,
        reason: Some(reason),
    };
    let (b, c) = match (b, c) {
        (None, None) => return None,
        (Some(b), None) => {
            let why = cand
                .and_then(|q| q.unscored.clone())
                .unwrap_or_else(|| "absent from the candidate run".to_string());
            return Some(untested(
                b.metric.as_str(),
                format!("quality not scored in the candidate: {why}"),
            ));
        }
        (None, Some(c)) => {
            let why = base.unscored.clone().unwrap_or_default();
            return Some(untested(
                c.metric.as_str(),
                format!("quality not scored in the baseline: {why}"),
            ));
        }
        (Some(b), Some(c)) => (b, c),
    };
    if b.metric != c.metric {
        return Some(untested(
            b.metric.as_str(),
            format!(
                "the baseline is scored by {} and the candidate by {}",
                b.metric.as_str(),
                c.metric.as_str()
            ),
        ));
    }
    let (Some(db), Some(dc)) = (Describe::of(&b.per_item), Describe::of(&c.per_item)) else {
        return Some(untested(b.metric.as_str(), "no scored row".to_string()));
    };
    let Some(w) = Welch::test(&db, &dc) else {
        return Some(untested(
            b.metric.as_str(),
            format!(
                "fewer than 2 scored rows (baseline {}, candidate {})",
                db.n, dc.n
            ),
        ));
    };
    let change_points = w.difference * 100.0;
    let significant = w.p_value < options.alpha;
    let verdict = if significant && w.difference < 0.0 {
        if -change_points > options.quality_threshold_points {
            Verdict::Regression
        } else {
            Verdict::WorseWithinThreshold
        }
    } else if significant && w.difference > 0.0 {
        Verdict::Improvement
    } else {
        Verdict::NoChange
    };
    Some(QualityComparison {
        config: base.config.clone(),
        metric: b.metric.as_str().to_string(),
        baseline_items: b.items,
        baseline: b.mean,
        candidate_items: c.items,
        candidate: c.mean,
        change_points,
        change_ci95_low_points: w.ci95_low * 100.0,
        change_ci95_high_points: w.ci95_high * 100.0,
        p_value: Some(w.p_value),
        verdict,
        reason: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::MetricSummary;
    use records::scoring::Metric;

    fn scored(per_item: &[f64]) -> ConfigQuality {
        let d = Describe::of(per_item).expect("values");
        ConfigQuality {
            config: "m@d".into(),
            scorer: Some("accuracy".into()),
            metrics: vec![MetricSummary {
                metric: Metric::Accuracy,
                mean: d.mean,
                ci95_low: Some(d.ci95_low),
                ci95_high: Some(d.ci95_high),
                items: per_item.len() as u64,
                repetitions: Vec::new(),
                repetition_std: None,
                per_item: per_item.to_vec(),
            }],
            ..ConfigQuality::default()
        }
    }

    #[test]
    fn a_significant_drop_past_the_threshold_is_a_regression() {
        let o = CompareOptions::default();
        let base = scored(
            &[1.0; 30]
                .iter()
                .chain(&[0.0; 10])
                .copied()
                .collect::<Vec<_>>(),
        );
        let same = judge(&base, Some(&base), &o).expect("compared");
        assert_eq!(same.verdict, Verdict::NoChange);
        assert_eq!(same.change_points, 0.0);
        let worse = scored(
            &[1.0; 10]
                .iter()
                .chain(&[0.0; 30])
                .copied()
                .collect::<Vec<_>>(),
        );
        let r = judge(&base, Some(&worse), &o).expect("compared");
        assert_eq!(r.verdict, Verdict::Regression);
        assert!((r.change_points + 50.0).abs() < 1e-9, "{}", r.change_points);
        assert!(r.change_ci95_high_points < 0.0);
        let lenient = CompareOptions {
            quality_threshold_points: 60.0,
            ..o
        };
        assert_eq!(
            judge(&base, Some(&worse), &lenient)
                .expect("compared")
                .verdict,
            Verdict::WorseWithinThreshold
        );
        assert_eq!(
            judge(&worse, Some(&base), &o).expect("compared").verdict,
            Verdict::Improvement
        );
    }

    #[test]
    fn unscored_on_both_sides_is_not_gated_and_on_one_side_not_tested() {
        let o = CompareOptions::default();
        let unscored = ConfigQuality {
            config: "m@d".into(),
            unscored: Some("no references".into()),
            ..ConfigQuality::default()
        };
        assert_eq!(judge(&unscored, Some(&unscored), &o), None);
        let r = judge(&scored(&[1.0, 0.0]), Some(&unscored), &o).expect("one side");
        assert_eq!(r.verdict, Verdict::NotTested);
        assert!(r.reason.expect("why").contains("no references"));
    }
}
