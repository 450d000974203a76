//! The quality half of the gate: per configuration scored in both runs, the change in its
//! headline quality metric in absolute points, with Welch's t-test over the dataset rows.

use super::{CompareOptions, Verdict};
use crate::quality::ConfigQuality;
use crate::stats::Describe;
use crate::stats::welch::Welch;
use records::manifest::DatasetInfo;
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
    /// Rows scored in the candidate.
    pub candidate_items: u64,
    /// Rows scored in both: the rows compared (a row one side failed on is left out).
    pub rows_compared: u64,
    /// Baseline mean quality over the rows compared (0–1).
    pub baseline: f64,
    /// Candidate mean quality over the rows compared (0–1).
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

/// Compares one configuration's quality. `None` when the baseline has no quality figure
/// (scored on neither side, or only in the candidate: nothing to regress from).
/// `scored_differently` says how the two runs' scoring differs (scorer, reference field or
/// dataset file), when it does: such scores are not comparable, and not tested.
pub fn judge(
    base: &ConfigQuality,
    cand: Option<&ConfigQuality>,
    scored_differently: Option<String>,
    options: &CompareOptions,
) -> Option<QualityComparison> {
    let b = base.headline()?;
    let c = cand.and_then(ConfigQuality::headline);
    let untested = |reason: String| QualityComparison {
        config: base.config.clone(),
        metric: b.metric.as_str().to_string(),
        baseline_items: b.items,
        candidate_items: c.map_or(0, |m| m.items),
        rows_compared: 0,
        baseline: b.mean,
        candidate: c.map_or(f64::NAN, |m| m.mean),
        change_points: f64::NAN,
        change_ci95_low_points: f64::NAN,
        change_ci95_high_points: f64::NAN,
        p_value: None,
        verdict: Verdict::NotTested,
        reason: Some(reason),
    };
    let Some(c) = c else {
        let why = cand
            .and_then(|q| q.unscored.clone())
            .unwrap_or_else(|| "absent from the candidate run".to_string());
        return Some(untested(format!(
            "quality not scored in the candidate: {why}"
        )));
    };
    if let Some(why) = scored_differently {
        return Some(untested(format!("scored differently: {why}")));
    }
    if b.metric != c.metric {
        return Some(untested(format!(
            "the baseline is scored by {} and the candidate by {}",
            b.metric.as_str(),
            c.metric.as_str()
        )));
    }
    // The rows both runs scored, so a candidate that failed on hard rows is not judged on
    // the easy ones alone.
    let theirs: std::collections::BTreeMap<u64, f64> = c.per_item.iter().copied().collect();
    let (vb, vc): (Vec<f64>, Vec<f64>) = b
        .per_item
        .iter()
        .filter_map(|(row, v)| theirs.get(row).map(|w| (*v, *w)))
        .unzip();
    let (Some(db), Some(dc)) = (Describe::of(&vb), Describe::of(&vc)) else {
        return Some(untested("no row scored in both runs".to_string()));
    };
    let Some(w) = Welch::test(&db, &dc) else {
        return Some(untested(format!(
            "fewer than 2 rows scored in both runs ({})",
            db.n
        )));
    };
    let change_points = w.difference * 100.0;
    // Less quality is worse.
    let verdict = Verdict::of(
        w.p_value,
        options.alpha,
        -w.difference,
        -change_points > options.quality_threshold_points,
    );
    Some(QualityComparison {
        config: base.config.clone(),
        metric: b.metric.as_str().to_string(),
        baseline_items: b.items,
        candidate_items: c.items,
        rows_compared: db.n as u64,
        baseline: db.mean,
        candidate: dc.mean,
        change_points,
        change_ci95_low_points: w.ci95_low * 100.0,
        change_ci95_high_points: w.ci95_high * 100.0,
        p_value: Some(w.p_value),
        verdict,
        reason: None,
    })
}

/// How two runs scored a dataset differently (scorer and its settings, the reference
/// field, the file), when they did; `None` when alike or unknown on a side.
pub fn scoring_difference(base: &DatasetInfo, cand: &DatasetInfo) -> Option<String> {
    let mut what = Vec::new();
    if base.scorer != cand.scorer {
        what.push("the scorer or its settings (labels, pattern)");
    }
    if base.expected != cand.expected {
        what.push("the reference field (fields.expected)");
    }
    if base.sha256 != cand.sha256 {
        what.push("the dataset file (SHA-256)");
    }
    (!what.is_empty()).then(|| format!("{} differ", what.join(", ")))
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
                ci_method: "wilson",
                per_item: per_item
                    .iter()
                    .copied()
                    .zip(0..)
                    .map(|(v, r)| (r, v))
                    .collect(),
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
        let same = judge(&base, Some(&base), None, &o).expect("compared");
        assert_eq!(same.verdict, Verdict::NoChange);
        assert_eq!(same.change_points, 0.0);
        let worse = scored(
            &[1.0; 10]
                .iter()
                .chain(&[0.0; 30])
                .copied()
                .collect::<Vec<_>>(),
        );
        let r = judge(&base, Some(&worse), None, &o).expect("compared");
        assert_eq!(r.verdict, Verdict::Regression);
        assert!((r.change_points + 50.0).abs() < 1e-9, "{}", r.change_points);
        assert!(r.change_ci95_high_points < 0.0);
        let lenient = CompareOptions {
            quality_threshold_points: 60.0,
            ..o
        };
        assert_eq!(
            judge(&base, Some(&worse), None, &lenient)
                .expect("compared")
                .verdict,
            Verdict::WorseWithinThreshold
        );
        assert_eq!(
            judge(&worse, Some(&base), None, &o)
                .expect("compared")
                .verdict,
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
        assert_eq!(judge(&unscored, Some(&unscored), None, &o), None);
        assert_eq!(
            judge(&unscored, Some(&scored(&[1.0, 0.0])), None, &o),
            None,
            "scored in the candidate only: nothing to regress from"
        );
        let r = judge(&scored(&[1.0, 0.0]), Some(&unscored), None, &o).expect("one side");
        assert_eq!(r.verdict, Verdict::NotTested);
        assert!(r.reason.expect("why").contains("no references"));
    }

    #[test]
    fn only_rows_scored_in_both_runs_are_compared_and_other_scoring_is_not_tested() {
        let o = CompareOptions::default();
        let base = scored(&[1.0, 1.0, 0.0, 0.0]);
        // The candidate failed on rows 2 and 3 (its hard ones): rows 0 and 1 are compared.
        let mut cand = scored(&[1.0, 1.0]);
        cand.metrics[0].per_item = vec![(0, 1.0), (1, 1.0)];
        let r = judge(&base, Some(&cand), None, &o).expect("compared");
        assert_eq!((r.rows_compared, r.baseline, r.candidate), (2, 1.0, 1.0));
        assert_eq!(r.verdict, Verdict::NoChange);
        let r = judge(&base, Some(&base), Some("the scorer differs".into()), &o).expect("one");
        assert_eq!(r.verdict, Verdict::NotTested);
        assert!(
            r.reason
                .expect("why")
                .contains("scored differently: the scorer differs")
        );
        let info = |sha: &str, pattern: &str| DatasetInfo {
            name: "d".into(),
            path: "d.jsonl".into(),
            sha256: sha.into(),
            expected: Some("label".into()),
            scorer: Some(records::scoring::Scorer::Regex {
                pattern: pattern.into(),
            }),
        };
        assert_eq!(scoring_difference(&info("a", "x"), &info("a", "x")), None);
        let d = scoring_difference(&info("a", "x"), &info("b", "y")).expect("differs");
        assert!(
            d.contains("the scorer or its settings") && d.contains("SHA-256"),
            "{d}"
        );
    }
}
