//! Tables across configurations: per task and class (the study's Table 2) and per model
//! averaged over tasks (its Table 3).

use crate::configs::Configuration;
use crate::stats::{Describe, mean};
use crate::units::J_PER_KWH;
use records::labels::{ClassLabel, FigureLabel};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One row of `tasks.csv`: every valid repetition of a task's configurations of one class,
/// pooled (mean ± standard deviation over repetitions, as the study's Table 2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    /// Task name.
    pub task: String,
    /// `task-specific`, `general-purpose` or `unknown`.
    pub class: ClassLabel,
    /// Distinct models.
    pub models: usize,
    /// Configurations (model × dataset).
    pub configurations: usize,
    /// Repetitions pooled.
    pub repetitions: usize,
    /// Mean energy per 1,000 inferences over the pooled repetitions (kWh).
    pub kwh_per_1000_mean: f64,
    /// Standard deviation over the pooled repetitions (kWh per 1,000).
    pub kwh_per_1000_std: f64,
    /// Lowest configuration mean (kWh per 1,000).
    pub kwh_per_1000_min: f64,
    /// Highest configuration mean (kWh per 1,000).
    pub kwh_per_1000_max: f64,
    /// `measured`, `estimated` or `mixed` (column `source`).
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
}

/// One row of `models.csv`: a model's mean over the tasks it ran (the study's Table 3:
/// per task the mean over its repetitions on all datasets, then the mean over tasks).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    /// Model name.
    pub model: String,
    /// `task-specific`, `general-purpose` or `unknown`.
    pub class: ClassLabel,
    /// Model parameters, when known.
    pub parameters: Option<u64>,
    /// Tasks it ran, `;`-separated.
    pub tasks: String,
    /// Mean of the per-task means (kWh per 1,000 inferences).
    pub kwh_per_1000_mean: f64,
    /// Per-task means, `task=value` `;`-separated (kWh per 1,000).
    pub kwh_per_1000_by_task: String,
    /// `measured`, `estimated` or `mixed` (column `source`).
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
    /// Parameters used per token (last column, added after version 1), when they differ from `parameters` (mixtures of
    /// experts); empty otherwise.
    #[serde(default)]
    pub active_parameters: Option<u64>,
}

/// A model on a task: its repetitions on all the given datasets pooled.
#[derive(Clone, Debug, PartialEq)]
pub struct Pooled {
    /// Task name.
    pub task: String,
    /// Model name.
    pub model: String,
    /// Class of the model.
    pub class: ClassLabel,
    /// `measured`, `estimated` or `mixed`.
    pub provenance: FigureLabel,
    /// Valid repetitions pooled.
    pub repetitions: usize,
    /// Mean (kWh per 1,000 inferences).
    pub mean: f64,
    /// Lower 95% bound (NaN with one repetition).
    pub low: f64,
    /// Upper 95% bound.
    pub high: f64,
}

/// Each model's repetitions on all the given datasets of a task, pooled; in task and
/// model order.
pub fn pool<'a>(configs: impl IntoIterator<Item = &'a Configuration>) -> Vec<Pooled> {
    type Group = (ClassLabel, Vec<f64>, Vec<FigureLabel>);
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for c in configs {
        let entry = groups
            .entry((c.info.task.clone(), c.info.model.clone()))
            .or_insert_with(|| (c.info.class, Vec::new(), Vec::new()));
        entry.1.extend(kwh_values(c));
        entry.2.push(c.label());
    }
    groups
        .into_iter()
        .filter_map(|((task, model), (class, values, labels))| {
            let d = Describe::of(&values)?;
            Some(Pooled {
                task,
                model,
                class,
                provenance: FigureLabel::combine(labels),
                repetitions: d.n,
                mean: d.mean,
                low: d.ci95_low,
                high: d.ci95_high,
            })
        })
        .collect()
}

fn kwh_values(c: &Configuration) -> Vec<f64> {
    c.usable()
        .map(|r| r.energy_per_inference_j() * 1000.0 / J_PER_KWH)
        .collect()
}

/// Pools every valid repetition per task and class.
pub fn tasks(configs: &[Configuration]) -> Vec<TaskRow> {
    #[derive(Default)]
    struct Acc {
        models: BTreeSet<String>,
        configs: usize,
        values: Vec<f64>,
        means: Vec<f64>,
        labels: BTreeSet<FigureLabel>,
    }
    let mut groups: BTreeMap<(String, ClassLabel), Acc> = BTreeMap::new();
    for c in configs {
        let values = kwh_values(c);
        if values.is_empty() {
            continue;
        }
        let acc = groups
            .entry((c.info.task.clone(), c.info.class))
            .or_default();
        acc.models.insert(c.info.model.clone());
        acc.configs += 1;
        acc.means.push(mean(&values));
        acc.values.extend(values);
        acc.labels.insert(c.label());
    }
    groups
        .into_iter()
        .filter_map(|((task, class), acc)| {
            let d = Describe::of(&acc.values)?;
            Some(TaskRow {
                task,
                class,
                models: acc.models.len(),
                configurations: acc.configs,
                repetitions: d.n,
                kwh_per_1000_mean: d.mean,
                kwh_per_1000_std: d.std,
                kwh_per_1000_min: acc.means.iter().copied().fold(f64::INFINITY, f64::min),
                kwh_per_1000_max: acc.means.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                provenance: FigureLabel::combine(acc.labels),
            })
        })
        .collect()
}

/// [`models`], with the parameters each model's facts give (the server's, where the
/// suite gave none) and its active parameters where they differ from the total.
pub fn models_with(
    configs: &[Configuration],
    facts: &BTreeMap<String, crate::savings::facts::ModelFacts>,
) -> Vec<ModelRow> {
    let mut rows = models(configs);
    for row in &mut rows {
        if let Some(f) = facts.get(&row.model) {
            row.parameters = row.parameters.or(f.parameters.map(|p| p.value));
            row.active_parameters = f.active_if_different();
        }
    }
    rows
}

/// Per model and class: the mean over tasks of each task's mean over repetitions.
pub fn models(configs: &[Configuration]) -> Vec<ModelRow> {
    #[derive(Default)]
    struct Acc {
        parameters: Option<u64>,
        by_task: BTreeMap<String, Vec<f64>>,
        labels: BTreeSet<FigureLabel>,
    }
    let mut groups: BTreeMap<(String, ClassLabel), Acc> = BTreeMap::new();
    for c in configs {
        let values = kwh_values(c);
        if values.is_empty() {
            continue;
        }
        let acc = groups
            .entry((c.info.model.clone(), c.info.class))
            .or_default();
        acc.parameters = acc.parameters.or(c.info.parameters);
        acc.by_task
            .entry(c.info.task.clone())
            .or_default()
            .extend(values);
        acc.labels.insert(c.label());
    }
    groups
        .into_iter()
        .map(|((model, class), acc)| {
            let task_means: Vec<(String, f64)> = acc
                .by_task
                .iter()
                .map(|(t, v)| (t.clone(), mean(v)))
                .collect();
            let means: Vec<f64> = task_means.iter().map(|(_, m)| *m).collect();
            ModelRow {
                model,
                class,
                parameters: acc.parameters,
                active_parameters: None,
                tasks: acc.by_task.keys().cloned().collect::<Vec<_>>().join(";"),
                kwh_per_1000_mean: mean(&means),
                kwh_per_1000_by_task: task_means
                    .iter()
                    .map(|(t, m)| format!("{t}={m:.6}"))
                    .collect::<Vec<_>>()
                    .join(";"),
                provenance: FigureLabel::combine(acc.labels),
            }
        })
        .collect()
}
