//! The regression gate: per configuration, the change in energy per inference between a
//! baseline run and a candidate run, with its CI and Welch's t-test; and, where both runs
//! scored its answers, the change in quality ([`quality`]).

pub mod junit;
pub mod quality;

use crate::ReportError;
use crate::energy::EnergyRun;
use crate::quality::Discard;
use crate::stats::Describe;
use crate::stats::welch::Welch;
use crate::summary::per_inference;
use records::labels::FigureLabel;
use records::number::sig;
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
    /// Drop in quality (absolute points of the headline metric) that fails the gate when
    /// significant.
    pub quality_threshold_points: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            threshold_pct: 5.0,
            alpha: 0.05,
            quality_threshold_points: 1.0,
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
    /// Not tested: absent from the candidate, or fewer than two valid repetitions on a
    /// side (the reason is in [`Comparison::reason`]). The gate cannot pass with one.
    NotTested,
}

impl Verdict {
    /// The verdict of a tested change: `worse` is the candidate − baseline difference
    /// oriented so that positive is worse (more energy, less quality), `past_threshold`
    /// whether the change exceeds the gate's threshold.
    pub fn of(p_value: f64, alpha: f64, worse: f64, past_threshold: bool) -> Self {
        let significant = p_value < alpha;
        if significant && worse > 0.0 {
            if past_threshold {
                Self::Regression
            } else {
                Self::WorseWithinThreshold
            }
        } else if significant && worse < 0.0 {
            Self::Improvement
        } else {
            Self::NoChange
        }
    }

    /// The label, followed by the reason when there is one (`NOT TESTED: …`).
    pub fn with_reason(self, reason: Option<&str>) -> String {
        match reason {
            Some(why) => format!("{}: {why}", self.label()),
            None => self.label().to_string(),
        }
    }

    /// A short word for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Regression => "REGRESSION",
            Self::WorseWithinThreshold => "worse (within threshold)",
            Self::Improvement => "better",
            Self::NoChange => "no significant change",
            Self::NotTested => "NOT TESTED",
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
    /// `measured`, `estimated` or `mixed` (key `source`).
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
    /// The conclusion.
    pub verdict: Verdict,
    /// Why the configuration was not tested (only for [`Verdict::NotTested`]).
    pub reason: Option<String>,
}

/// The comparison of two runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareResult {
    /// Configurations in both runs.
    pub rows: Vec<Comparison>,
    /// Configurations only the candidate has (not gated).
    pub added: Vec<String>,
    /// Quality of the configurations the baseline scored.
    pub quality: Vec<quality::QualityComparison>,
    /// Configurations scored only in the candidate (listed, not gated: nothing to regress
    /// from, e.g. a baseline taken before answers were recorded).
    pub quality_added: Vec<String>,
    /// The threshold used (%).
    pub threshold_pct: f64,
    /// The quality threshold used (points).
    pub quality_threshold_points: f64,
    /// The significance level used.
    pub alpha: f64,
    /// Each configuration's task, from either run (for reports that group by task).
    #[serde(skip)]
    pub tasks: std::collections::BTreeMap<String, String>,
}

impl CompareResult {
    /// The configurations that fail the gate.
    pub fn regressions(&self) -> Vec<&Comparison> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
            .collect()
    }

    /// The configurations of the baseline that could not be tested.
    pub fn untested(&self) -> Vec<&Comparison> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::NotTested)
            .collect()
    }

    /// The configurations whose quality fails the gate.
    pub fn quality_regressions(&self) -> Vec<&quality::QualityComparison> {
        self.quality
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
            .collect()
    }

    /// The configurations whose quality could not be tested (scored on one side only).
    pub fn quality_untested(&self) -> Vec<&quality::QualityComparison> {
        self.quality
            .iter()
            .filter(|r| r.verdict == Verdict::NotTested)
            .collect()
    }

    /// The gate's exit code: 1 when a configuration regressed in energy or quality
    /// (untested ones are still listed), otherwise 2 when one could not be tested (missing
    /// from the candidate, fewer than 2 valid repetitions on a side, or quality scored on
    /// one side only), otherwise 0.
    pub fn exit_code(&self) -> u8 {
        if !self.regressions().is_empty() || !self.quality_regressions().is_empty() {
            1
        } else if !self.untested().is_empty() || !self.quality_untested().is_empty() {
            2
        } else {
            0
        }
    }
}

/// Compares two run folders. Fails (the gate's exit code 2) when a configuration's energy
/// sources differ (measured against estimated) or when the baseline has no configuration.
/// A configuration of the baseline that the candidate lacks, or with fewer than 2 valid
/// repetitions on a side, is a [`Verdict::NotTested`] row with its reason (see
/// [`CompareResult::exit_code`]).
pub fn compare(
    baseline: &Path,
    candidate: &Path,
    options: &CompareOptions,
) -> Result<CompareResult, ReportError> {
    let base = EnergyRun::load(baseline, None)?;
    let cand = EnergyRun::load(candidate, None)?;
    compare_runs(&base, &cand, options, baseline, candidate)
}

/// Compares two runs read by the energy pass (see [`compare`]); their answers are read
/// from `baseline` and `candidate`, which also name them in errors.
pub fn compare_runs(
    base: &EnergyRun,
    cand: &EnergyRun,
    options: &CompareOptions,
    baseline: &Path,
    candidate: &Path,
) -> Result<CompareResult, ReportError> {
    let mut rows = Vec::new();
    let mut mismatched = Vec::new();
    for b in &base.configs {
        let vb: Vec<f64> = per_inference(b).into_iter().map(|(_, v)| v).collect();
        let db = Describe::of(&vb);
        let sb = b.label();
        let Some(c) = cand.configs.iter().find(|c| c.info.id == b.info.id) else {
            rows.push(not_tested(
                &b.info.id,
                db.as_ref(),
                None,
                sb,
                "absent from the candidate run".to_string(),
            ));
            continue;
        };
        let sc = c.label();
        if sb != sc {
            mismatched.push(format!(
                "{} ({sb} in the baseline, {sc} in the candidate)",
                b.info.id
            ));
            continue;
        }
        let vc: Vec<f64> = per_inference(c).into_iter().map(|(_, v)| v).collect();
        let dc = Describe::of(&vc);
        match (db, dc) {
            (Some(db), Some(dc)) if db.n >= 2 && dc.n >= 2 => {
                rows.push(judge(&b.info.id, &db, &dc, sb, options));
            }
            _ => {
                let reason = format!(
                    "fewer than 2 valid repetitions (baseline {}, candidate {})",
                    vb.len(),
                    vc.len()
                );
                rows.push(not_tested(&b.info.id, db.as_ref(), dc.as_ref(), sb, reason));
            }
        }
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
            "{} has no configuration to compare {} with",
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
    let base_quality =
        crate::quality::assess(baseline, &base.manifest, &base.configs, &mut Discard)?;
    let cand_quality =
        crate::quality::assess(candidate, &cand.manifest, &cand.configs, &mut Discard)?;
    let dataset_of = |run: &EnergyRun, config: &str| {
        let name = &run
            .configs
            .iter()
            .find(|c| c.info.id == config)?
            .info
            .dataset;
        run.manifest
            .datasets
            .as_ref()?
            .iter()
            .find(|d| &d.name == name)
            .cloned()
    };
    let quality = base_quality
        .iter()
        .filter_map(|b| {
            let c = cand_quality.iter().find(|c| c.config == b.config);
            let differs = match (dataset_of(base, &b.config), dataset_of(cand, &b.config)) {
                (Some(x), Some(y)) => quality::scoring_difference(&x, &y),
                _ => None,
            };
            quality::judge(b, c, differs, options)
        })
        .collect();
    let quality_added = cand_quality
        .iter()
        .filter(|c| c.headline().is_some())
        .filter(|c| {
            base_quality
                .iter()
                .find(|b| b.config == c.config)
                .is_none_or(|b| b.headline().is_none())
        })
        .map(|c| c.config.clone())
        .collect();
    let tasks = (cand.configs.iter())
        .chain(&base.configs)
        .map(|c| (c.info.id.clone(), c.info.task.clone()))
        .collect();
    Ok(CompareResult {
        rows,
        added,
        quality,
        quality_added,
        threshold_pct: options.threshold_pct,
        quality_threshold_points: options.quality_threshold_points,
        alpha: options.alpha,
        tasks,
    })
}

/// A configuration that could not be tested, with what is known of each side.
fn not_tested(
    config: &str,
    base: Option<&Describe>,
    cand: Option<&Describe>,
    provenance: FigureLabel,
    reason: String,
) -> Comparison {
    let baseline_j = base.map_or(f64::NAN, |d| d.mean);
    let candidate_j = cand.map_or(f64::NAN, |d| d.mean);
    Comparison {
        config: config.to_string(),
        baseline_n: base.map_or(0, |d| d.n),
        baseline_j,
        candidate_n: cand.map_or(0, |d| d.n),
        candidate_j,
        change_pct: (candidate_j - baseline_j) / baseline_j * 100.0,
        change_ci95_low_pct: f64::NAN,
        change_ci95_high_pct: f64::NAN,
        p_value: None,
        provenance,
        verdict: Verdict::NotTested,
        reason: Some(reason),
    }
}

/// The comparison of one configuration's samples of per-inference energy.
pub fn judge(
    config: &str,
    base: &Describe,
    cand: &Describe,
    provenance: FigureLabel,
    options: &CompareOptions,
) -> Comparison {
    let pct = |v: f64| v / base.mean * 100.0;
    let welch = Welch::test(base, cand);
    let change_pct = pct(cand.mean - base.mean);
    let verdict = welch.map_or(Verdict::NotTested, |w| {
        Verdict::of(
            w.p_value,
            options.alpha,
            w.difference,
            change_pct > options.threshold_pct,
        )
    });
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
        provenance,
        verdict,
        reason: (verdict == Verdict::NotTested).then(|| {
            format!(
                "fewer than 2 valid repetitions (baseline {}, candidate {})",
                base.n, cand.n
            )
        }),
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
        let note = r
            .provenance
            .note()
            .map_or_else(String::new, |note| format!(" ({note})"));
        let pct = |v: f64| {
            if v.is_finite() {
                format!("{v:+.2}%")
            } else {
                "–".to_string()
            }
        };
        let ci = if r.change_ci95_low_pct.is_finite() && r.change_ci95_high_pct.is_finite() {
            format!(
                "[{}, {}]",
                pct(r.change_ci95_low_pct),
                pct(r.change_ci95_high_pct)
            )
        } else {
            "–".to_string()
        };
        let verdict = r.verdict.with_reason(r.reason.as_deref());
        let _ = writeln!(
            out,
            "| {}{note} | {} ({}) | {} ({}) | {} | {ci} | {} | {verdict} |",
            r.config,
            sig(r.baseline_j, 4),
            r.baseline_n,
            sig(r.candidate_j, 4),
            r.candidate_n,
            pct(r.change_pct),
            r.p_value
                .map_or_else(|| "–".to_string(), |p| format!("{p:.3}")),
        );
    }
    for a in &result.added {
        let _ = writeln!(out, "| {a} | – | new | | | | not gated (new) |");
    }
    quality_table(&mut out, result);
    let regressions = result.regressions();
    let untested = result.untested();
    let q_regressions = result.quality_regressions();
    let q_untested = result.quality_untested();
    let names = |rows: &[&Comparison]| {
        rows.iter()
            .map(|r| r.config.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let q_names = |rows: &[&quality::QualityComparison]| {
        rows.iter()
            .map(|r| format!("{} ({})", r.config, r.metric))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let energy_rule = format!(
        "significantly worse (p < {}) by more than {}%",
        result.alpha, result.threshold_pct
    );
    let quality_rule = format!(
        "quality significantly lower (p < {}) by more than {} points",
        result.alpha, result.quality_threshold_points
    );
    let mut failed = Vec::new();
    if !regressions.is_empty() {
        failed.push(format!(
            "{} {energy_rule}: {}",
            regressions.len(),
            names(&regressions)
        ));
    }
    if !q_regressions.is_empty() {
        failed.push(format!(
            "{} with {quality_rule}: {}",
            q_regressions.len(),
            q_names(&q_regressions)
        ));
    }
    let mut not_tested = Vec::new();
    if !untested.is_empty() {
        not_tested.push(format!(
            "{} of {} configurations ({})",
            untested.len(),
            result.rows.len(),
            names(&untested)
        ));
    }
    if !q_untested.is_empty() {
        not_tested.push(format!("the quality of {}", q_names(&q_untested)));
    }
    let _ = writeln!(
        out,
        "\n{}",
        if !failed.is_empty() {
            format!("FAIL: {}", failed.join("; "))
        } else if !not_tested.is_empty() {
            format!(
                "NOT TESTED: {} could not be tested; the gate cannot pass. \
                 No tested configuration is {energy_rule}, and none has {quality_rule}.",
                not_tested.join(", and ")
            )
        } else {
            format!("PASS: no configuration is {energy_rule}, and none has {quality_rule}.")
        }
    );
    if !failed.is_empty() && !not_tested.is_empty() {
        let _ = writeln!(out, "Also not tested: {}.", not_tested.join(", and "));
    }
    out
}

/// The quality comparisons as a Markdown table, when any configuration was scored.
fn quality_table(out: &mut String, result: &CompareResult) {
    if result.quality.is_empty() && result.quality_added.is_empty() {
        return;
    }
    out.push_str(
        "\n| configuration | metric | baseline % (rows compared) | candidate % (rows compared) | change (points) | 95% CI of change | p (Welch) | verdict |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|---|\n");
    let pct = |v: f64| {
        if v.is_finite() {
            format!("{:.1}", v * 100.0)
        } else {
            "–".to_string()
        }
    };
    let points = |v: f64| {
        if v.is_finite() {
            format!("{v:+.2}")
        } else {
            "–".to_string()
        }
    };
    for a in &result.quality_added {
        let _ = writeln!(
            out,
            "| {a} | – | – | scored | | | | not gated (scored in the candidate only) |"
        );
    }
    for r in &result.quality {
        let ci = if r.change_ci95_low_points.is_finite() && r.change_ci95_high_points.is_finite() {
            format!(
                "[{}, {}]",
                points(r.change_ci95_low_points),
                points(r.change_ci95_high_points)
            )
        } else {
            "–".to_string()
        };
        let verdict = match (&r.reason, r.verdict) {
            (Some(why), v) => format!("{}: {why}", v.label()),
            (None, Verdict::Regression) => "QUALITY REGRESSION".to_string(),
            (None, v) => v.label().to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} ({}) | {} ({}) | {} | {ci} | {} | {verdict} |",
            r.config,
            r.metric,
            pct(r.baseline),
            r.rows_compared,
            pct(r.candidate),
            r.rows_compared,
            points(r.change_points),
            r.p_value
                .map_or_else(|| "–".to_string(), |p| format!("{p:.3}")),
        );
    }
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
            FigureLabel::Measured,
            &o,
        );
        assert_eq!(same.verdict, Verdict::NoChange);
        let worse = judge(
            "a",
            &base,
            &d(&[11.0, 11.1, 10.9, 11.0]),
            FigureLabel::Measured,
            &o,
        );
        assert_eq!(worse.verdict, Verdict::Regression);
        assert!((worse.change_pct - 10.0).abs() < 1e-9);
        assert!(worse.change_ci95_low_pct > 8.0 && worse.change_ci95_high_pct < 12.0);
        let slightly = judge(
            "a",
            &base,
            &d(&[10.3, 10.4, 10.2, 10.3]),
            FigureLabel::Measured,
            &o,
        );
        assert_eq!(slightly.verdict, Verdict::WorseWithinThreshold);
        let better = judge(
            "a",
            &base,
            &d(&[9.0, 9.1, 8.9, 9.0]),
            FigureLabel::Measured,
            &o,
        );
        assert_eq!(better.verdict, Verdict::Improvement);
        let one = judge("a", &base, &d(&[20.0]), FigureLabel::Measured, &o);
        assert_eq!(one.verdict, Verdict::NotTested);
    }
}
