//! The regression gate: per configuration, the change in energy per inference between a
//! baseline run and a candidate run, with its CI and Welch's t-test.

use crate::ReportError;
use crate::export::format::sig;
use crate::options::ReportOptions;
use crate::render::{Report, analyse};
use crate::stats::Describe;
use crate::stats::welch::Welch;
use crate::summary::{per_inference, source_label};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// Settings of a comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompareOptions {
    /// Relative worsening (percent) that fails the gate when significant.
    pub threshold_pct: f64,
    /// Significance level of the two-sided Welch test.
    pub alpha: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            threshold_pct: 5.0,
            alpha: 0.05,
        }
    }
}

/// What a comparison concluded for one configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Significantly worse by more than the threshold: fails the gate.
    Regression,
    /// Significantly worse, but by no more than the threshold.
    WorseWithinThreshold,
    /// Significantly better.
    Improvement,
    /// No significant difference.
    NoChange,
    /// Fewer than two valid repetitions on one side: not tested.
    NotTested,
}

impl Verdict {
    /// A short word for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Regression => "REGRESSION",
            Self::WorseWithinThreshold => "worse (within threshold)",
            Self::Improvement => "better",
            Self::NoChange => "no significant change",
            Self::NotTested => "not tested (n < 2)",
        }
    }
}

/// One configuration compared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Configuration id.
    pub config: String,
    /// Valid repetitions of the baseline.
    pub baseline_n: usize,
    /// Baseline mean energy per inference (J).
    pub baseline_j: f64,
    /// Valid repetitions of the candidate.
    pub candidate_n: usize,
    /// Candidate mean energy per inference (J).
    pub candidate_j: f64,
    /// Change relative to the baseline mean (%).
    pub change_pct: f64,
    /// Lower bound of the 95% CI of the change (% of the baseline mean).
    pub change_ci95_low_pct: f64,
    /// Upper bound of the 95% CI of the change.
    pub change_ci95_high_pct: f64,
    /// Two-sided p-value of Welch's t-test.
    pub p_value: Option<f64>,
    /// `measured`, `estimated` or `mixed`.
    pub source: String,
    /// The conclusion.
    pub verdict: Verdict,
}

/// The comparison of two runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareResult {
    /// Configurations in both runs.
    pub rows: Vec<Comparison>,
    /// Configurations only the candidate has (not gated).
    pub added: Vec<String>,
    /// The threshold used (%).
    pub threshold_pct: f64,
    /// The significance level used.
    pub alpha: f64,
}

impl CompareResult {
    /// The configurations that fail the gate.
    pub fn regressions(&self) -> Vec<&Comparison> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
            .collect()
    }
}

/// Compares two run folders. Fails (the gate's exit code 2) when the baseline has a
/// configuration the candidate lacks, when a configuration's energy sources differ
/// (measured against estimated), or when they share no configuration.
pub fn compare(
    baseline: &Path,
    candidate: &Path,
    options: &CompareOptions,
) -> Result<CompareResult, ReportError> {
    let light = ReportOptions {
        plots: false,
        ..ReportOptions::default()
    };
    let base = analyse(baseline, &light, false)?;
    let cand = analyse(candidate, &light, false)?;
    compare_reports(&base, &cand, options, baseline, candidate)
}

/// Compares two analysed runs (see [`compare`]); the paths only name them in errors.
pub fn compare_reports(
    base: &Report,
    cand: &Report,
    options: &CompareOptions,
    baseline: &Path,
    candidate: &Path,
) -> Result<CompareResult, ReportError> {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for b in &base.configs {
        let Some(c) = cand.configs.iter().find(|c| c.info.id == b.info.id) else {
            missing.push(b.info.id.clone());
            continue;
        };
        let (sb, sc) = (source_label(b), source_label(c));
        if sb != sc {
            mismatched.push(format!(
                "{} ({sb} in the baseline, {sc} in the candidate)",
                b.info.id
            ));
            continue;
        }
        let vb: Vec<f64> = per_inference(b).into_iter().map(|(_, v)| v).collect();
        let vc: Vec<f64> = per_inference(c).into_iter().map(|(_, v)| v).collect();
        let (Some(db), Some(dc)) = (Describe::of(&vb), Describe::of(&vc)) else {
            continue;
        };
        rows.push(judge(&b.info.id, &db, &dc, sb, options));
    }
    if !missing.is_empty() {
        return Err(ReportError::Invalid(format!(
            "{} lacks configurations that {} has: {}; compare runs of the same suite, or rerun them",
            candidate.display(),
            baseline.display(),
            missing.join(", ")
        )));
    }
    if !mismatched.is_empty() {
        return Err(ReportError::Invalid(format!(
            "energy sources differ between {} and {}: {}; a measured figure cannot be compared with an estimate",
            baseline.display(),
            candidate.display(),
            mismatched.join("; ")
        )));
    }
    if rows.is_empty() {
        return Err(ReportError::Invalid(format!(
            "{} and {} have no configuration with valid repetitions in common",
            baseline.display(),
            candidate.display()
        )));
    }
    let added = cand
        .configs
        .iter()
        .filter(|c| !base.configs.iter().any(|b| b.info.id == c.info.id))
        .map(|c| c.info.id.clone())
        .collect();
    Ok(CompareResult {
        rows,
        added,
        threshold_pct: options.threshold_pct,
        alpha: options.alpha,
    })
}

/// The comparison of one configuration's samples of per-inference energy.
pub fn judge(
    config: &str,
    base: &Describe,
    cand: &Describe,
    source: String,
    options: &CompareOptions,
) -> Comparison {
    let pct = |v: f64| v / base.mean * 100.0;
    let welch = Welch::test(base, cand);
    let change_pct = pct(cand.mean - base.mean);
    let verdict = match welch {
        None => Verdict::NotTested,
        Some(w) if w.p_value < options.alpha && w.difference > 0.0 => {
            if change_pct > options.threshold_pct {
                Verdict::Regression
            } else {
                Verdict::WorseWithinThreshold
            }
        }
        Some(w) if w.p_value < options.alpha && w.difference < 0.0 => Verdict::Improvement,
        Some(_) => Verdict::NoChange,
    };
    Comparison {
        config: config.to_string(),
        baseline_n: base.n,
        baseline_j: base.mean,
        candidate_n: cand.n,
        candidate_j: cand.mean,
        change_pct,
        change_ci95_low_pct: welch.map_or(f64::NAN, |w| pct(w.ci95_low)),
        change_ci95_high_pct: welch.map_or(f64::NAN, |w| pct(w.ci95_high)),
        p_value: welch.map(|w| w.p_value),
        source,
        verdict,
    }
}

/// The comparison as a Markdown table with a closing verdict line.
pub fn table(result: &CompareResult) -> String {
    let mut out = String::new();
    out.push_str(
        "| configuration | baseline J/inf (n) | candidate J/inf (n) | change | 95% CI of change | p (Welch) | verdict |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|---|\n");
    for r in &result.rows {
        let note = match r.source.as_str() {
            "measured" => "",
            "mixed" => " (partly estimated)",
            _ => " (estimated)",
        };
        let _ = writeln!(
            out,
            "| {}{note} | {} ({}) | {} ({}) | {:+.2}% | [{:+.2}%, {:+.2}%] | {} | {} |",
            r.config,
            sig(r.baseline_j, 4),
            r.baseline_n,
            sig(r.candidate_j, 4),
            r.candidate_n,
            r.change_pct,
            r.change_ci95_low_pct,
            r.change_ci95_high_pct,
            r.p_value
                .map_or_else(|| "–".to_string(), |p| format!("{p:.3}")),
            r.verdict.label()
        );
    }
    for a in &result.added {
        let _ = writeln!(out, "| {a} | – | new | | | | not gated (new) |");
    }
    let regressions = result.regressions();
    let _ = writeln!(
        out,
        "\n{}",
        if regressions.is_empty() {
            format!(
                "PASS: no configuration is significantly worse (p < {}) by more than {}%.",
                result.alpha, result.threshold_pct
            )
        } else {
            format!(
                "FAIL: {} significantly worse (p < {}) by more than {}%: {}",
                regressions.len(),
                result.alpha,
                result.threshold_pct,
                regressions
                    .iter()
                    .map(|r| r.config.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: &[f64]) -> Describe {
        Describe::of(v).expect("sample")
    }

    #[test]
    fn verdicts() {
        let o = CompareOptions::default();
        let base = d(&[10.0, 10.1, 9.9, 10.0]);
        let same = judge(
            "a",
            &base,
            &d(&[10.0, 10.05, 9.95, 10.0]),
            "measured".into(),
            &o,
        );
        assert_eq!(same.verdict, Verdict::NoChange);
        let worse = judge(
            "a",
            &base,
            &d(&[11.0, 11.1, 10.9, 11.0]),
            "measured".into(),
            &o,
        );
        assert_eq!(worse.verdict, Verdict::Regression);
        assert!((worse.change_pct - 10.0).abs() < 1e-9);
        assert!(worse.change_ci95_low_pct > 8.0 && worse.change_ci95_high_pct < 12.0);
        let slightly = judge(
            "a",
            &base,
            &d(&[10.3, 10.4, 10.2, 10.3]),
            "measured".into(),
            &o,
        );
        assert_eq!(slightly.verdict, Verdict::WorseWithinThreshold);
        let better = judge("a", &base, &d(&[9.0, 9.1, 8.9, 9.0]), "measured".into(), &o);
        assert_eq!(better.verdict, Verdict::Improvement);
        let one = judge("a", &base, &d(&[20.0]), "measured".into(), &o);
        assert_eq!(one.verdict, Verdict::NotTested);
    }
}
