//! Each measured model and task beside the study's figure for the model it stands for
//! (`reference_comparison.csv`, the "Beside the study's figures" table of `summary.md`).

use super::ReferenceRow;
use super::table::pool;
use crate::configs::Configuration;
use crate::plot::central;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One row of `reference_comparison.csv`: a model on a task, measured and in the study.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// Model name in the suite.
    pub model: String,
    /// Task name.
    pub task: String,
    /// `task-specific` or `general-purpose`.
    pub class: String,
    /// Valid repetitions measured, over all the model's datasets of the task.
    pub repetitions: usize,
    /// Measured kWh per 1,000 inferences (gross), repetitions of all datasets pooled, as
    /// in the central plot.
    pub kwh_per_1000: f64,
    /// Lower bound of its 95% CI (Student's t).
    pub kwh_per_1000_ci95_low: f64,
    /// Upper bound of its 95% CI.
    pub kwh_per_1000_ci95_high: f64,
    /// `measured`, `estimated` or `mixed`: how the measured figure was obtained.
    pub source: String,
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
    /// `measured`, `estimated` or `mixed`: how the study's figure was obtained.
    pub reference_source: String,
    /// How the study's figures are named.
    pub reference_label: String,
    /// Measured ÷ study.
    pub ratio: f64,
}

/// One row per model and task that has both a measured figure and a matched study
/// figure (configurations without valid repetitions contribute to neither).
pub fn compare(configs: &[Configuration], reference: &[ReferenceRow]) -> Vec<ComparisonRow> {
    let measured: BTreeSet<&str> = configs
        .iter()
        .filter(|c| c.usable().next().is_some())
        .map(|c| c.info.id.as_str())
        .collect();
    let mut out = Vec::new();
    for p in central::pool(configs) {
        let mut seen = BTreeSet::new();
        let entries: Vec<&ReferenceRow> = reference
            .iter()
            .filter(|r| r.model == p.model && r.task == p.task)
            .filter(|r| measured.contains(r.config.as_str()))
            .filter(|r| seen.insert((r.reference_model.clone(), r.reference_dataset.clone())))
            .collect();
        let Some(first) = entries.first() else {
            continue;
        };
        let (mean, std, runs, source) = pool(entries.iter().map(|r| {
            (
                r.kwh_per_1000_mean,
                r.kwh_per_1000_std,
                r.runs,
                r.source.as_str(),
            )
        }));
        let models: BTreeSet<&str> = entries.iter().map(|r| r.reference_model.as_str()).collect();
        out.push(ComparisonRow {
            model: p.model.clone(),
            task: p.task.clone(),
            class: p.point.class.clone(),
            repetitions: p.repetitions,
            kwh_per_1000: p.point.mean,
            kwh_per_1000_ci95_low: p.point.low,
            kwh_per_1000_ci95_high: p.point.high,
            source: p.point.source.clone(),
            reference_model: models.into_iter().collect::<Vec<_>>().join("; "),
            reference_datasets: entries
                .iter()
                .map(|r| r.reference_dataset.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            reference_kwh_per_1000: mean,
            reference_kwh_per_1000_std: std,
            reference_runs: runs,
            reference_source: source,
            reference_label: first.label.clone(),
            ratio: p.point.mean / mean,
        });
    }
    out
}
