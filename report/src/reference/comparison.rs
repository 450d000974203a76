//! Each measured model and task beside the study's figure for the model it stands for
//! (`reference_comparison.csv`, the "Beside the study's figures" table of `summary.md`).

use super::ReferenceRow;
use crate::aggregate;
use crate::configs::Configuration;
use records::labels::{ClassLabel, FigureLabel};
use records::study::pool;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One row of `reference_comparison.csv`: a model on a task, measured and in the study.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// Model name in the suite.
    pub model: String,
    /// Task name.
    pub task: String,
    /// `task-specific`, `general-purpose` or `unknown`.
    pub class: ClassLabel,
    /// The suite's datasets behind the measured figure (`;`-separated): the model's
    /// datasets of the task that have a study figure and a valid repetition.
    #[serde(default)]
    pub measured_datasets: String,
    /// Valid repetitions measured, over those datasets.
    pub repetitions: usize,
    /// Measured kWh per 1,000 inferences (gross), the repetitions of those datasets pooled.
    pub kwh_per_1000: f64,
    /// Lower bound of its 95% CI (Student's t).
    pub kwh_per_1000_ci95_low: f64,
    /// Upper bound of its 95% CI.
    pub kwh_per_1000_ci95_high: f64,
    /// `measured`, `estimated` or `mixed`: how the measured figure was obtained (column
    /// `source`).
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
    /// The study's model.
    pub reference_model: String,
    /// The study's datasets behind its figure (`;`-separated `reference.csv` entries).
    pub reference_datasets: String,
    /// The study's kWh per 1,000 inferences: the mean of the matched entries' means.
    pub reference_kwh_per_1000: f64,
    /// Standard deviation over all the study's runs behind it (kWh per 1,000).
    pub reference_kwh_per_1000_std: f64,
    /// The study's runs behind it.
    pub reference_runs: u64,
    /// `measured`, `estimated` or `mixed`: how the study's figure was obtained (column
    /// `reference_source`).
    #[serde(rename = "reference_source")]
    pub reference_provenance: FigureLabel,
    /// How the study's figures are named.
    pub reference_label: String,
    /// What to know about the study's setup before reading a ratio (the suite's
    /// `[reference] note`; empty without one).
    #[serde(default)]
    pub reference_note: String,
    /// Measured ÷ study.
    pub ratio: f64,
    /// `measured`, `estimated` or `mixed`: how the ratio was obtained (see
    /// [`FigureLabel::ratio`]; column `ratio_source`).
    #[serde(default, rename = "ratio_source")]
    pub ratio_provenance: FigureLabel,
}

/// One row per model and task that has both a measured figure and a matched study
/// figure. Both sides cover the same configurations: those with a `reference.csv` row
/// and a valid repetition; the model's other datasets enter neither.
pub fn compare(configs: &[Configuration], reference: &[ReferenceRow]) -> Vec<ComparisonRow> {
    let has_study = |c: &Configuration| {
        reference
            .iter()
            .any(|r| r.config == c.info.id && r.model == c.info.model && r.task == c.info.task)
    };
    let matched: Vec<&Configuration> = configs
        .iter()
        .filter(|c| c.usable().next().is_some() && has_study(c))
        .collect();
    let ids: BTreeSet<&str> = matched.iter().map(|c| c.info.id.as_str()).collect();
    let mut out = Vec::new();
    for p in aggregate::pool(matched.iter().copied()) {
        let mut seen = BTreeSet::new();
        let entries: Vec<&ReferenceRow> = reference
            .iter()
            .filter(|r| r.model == p.model && r.task == p.task)
            .filter(|r| ids.contains(r.config.as_str()))
            .filter(|r| seen.insert((r.reference_model.clone(), r.reference_dataset.clone())))
            .collect();
        let Some(first) = entries.first() else {
            continue;
        };
        let mut datasets: Vec<&str> = Vec::new();
        for c in matched
            .iter()
            .filter(|c| c.info.model == p.model && c.info.task == p.task)
        {
            if !datasets.contains(&c.info.dataset.as_str()) {
                datasets.push(&c.info.dataset);
            }
        }
        let (mean, std, runs, reference_provenance) = pool(entries.iter().map(|r| {
            (
                r.kwh_per_1000_mean,
                r.kwh_per_1000_std,
                r.runs,
                r.provenance,
            )
        }));
        let models: BTreeSet<&str> = entries.iter().map(|r| r.reference_model.as_str()).collect();
        let notes: BTreeSet<&str> = entries
            .iter()
            .map(|r| r.note.as_str())
            .filter(|n| !n.trim().is_empty())
            .collect();
        out.push(ComparisonRow {
            model: p.model.clone(),
            task: p.task.clone(),
            class: p.class,
            measured_datasets: datasets.join("; "),
            repetitions: p.repetitions,
            kwh_per_1000: p.mean,
            kwh_per_1000_ci95_low: p.low,
            kwh_per_1000_ci95_high: p.high,
            provenance: p.provenance,
            reference_model: models.into_iter().collect::<Vec<_>>().join("; "),
            reference_datasets: entries
                .iter()
                .map(|r| r.reference_dataset.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            reference_kwh_per_1000: mean,
            reference_kwh_per_1000_std: std,
            reference_runs: runs,
            ratio_provenance: FigureLabel::ratio(p.provenance, reference_provenance),
            reference_provenance,
            reference_label: first.label.clone(),
            reference_note: notes.into_iter().collect::<Vec<_>>().join(" "),
            ratio: p.mean / mean,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use records::labels::FigureLabel;
    use records::labels::FigureLabel::{Estimated, Measured, Mixed};

    #[test]
    fn a_ratio_is_as_estimated_as_its_most_estimated_side() {
        assert_eq!(FigureLabel::ratio(Measured, Measured), Measured);
        assert_eq!(FigureLabel::ratio(Measured, Mixed), Mixed);
        assert_eq!(FigureLabel::ratio(Mixed, Mixed), Mixed);
        assert_eq!(FigureLabel::ratio(Estimated, Mixed), Estimated);
        assert_eq!(FigureLabel::ratio(Mixed, Estimated), Estimated);
        assert_eq!(FigureLabel::ratio(Measured, Estimated), Estimated);
    }
}
