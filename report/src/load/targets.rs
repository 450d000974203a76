//! `latency_targets.csv`: for each latency target of the suite and each model and dataset,
//! the lowest-energy load level whose mean of the bounded metric meets it, across every
//! power limit measured; where more than one was, also within each limit.

use super::level::LoadRow;
use records::labels::FigureLabel;
use records::load::{LatencyMetric, LatencyTarget};
use records::number::sig;
use serde::Serialize;

/// Which levels a target row compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every level of the model and dataset, at every power limit.
    #[default]
    AllLimits,
    /// The levels at one power limit.
    OneLimit,
}

impl Scope {
    /// Its text in `latency_targets.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AllLimits => "all_limits",
            Scope::OneLimit => "one_limit",
        }
    }
}

/// One target for one model and dataset, across power limits or at one.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TargetRow {
    /// The figure bounded (`itl_p90`, …).
    pub metric: String,
    /// The bound (ms).
    pub target_ms: f64,
    /// Model name.
    pub model: String,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// The levels compared: at every power limit, or at one.
    pub scope: Scope,
    /// GPU power limit (W): of the levels compared at one limit, of the level picked across
    /// limits; empty where the limit was left as found (or nothing was picked).
    pub power_limit_w: Option<u32>,
    /// Whether a level meets the target.
    pub meets: bool,
    /// The level picked: the lowest-energy one meeting it, else the closest (lowest
    /// metric); empty when no level has both figures.
    pub point: String,
    /// That level's mean of the metric (ms).
    pub metric_ms: Option<f64>,
    /// That level's energy per request (J), gross, with its 95% CI.
    pub energy_j_per_request: Option<f64>,
    /// Lower bound of the 95% CI.
    pub energy_j_per_request_ci95_low: Option<f64>,
    /// Upper bound of the 95% CI.
    pub energy_j_per_request_ci95_high: Option<f64>,
    /// Provenance of that energy; column `source`.
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
    /// What the pick means, or why there is none.
    pub note: String,
}

/// Per target and model and dataset of `rows`: one row across every power limit, then,
/// where the model and dataset were measured at more than one, one row per limit.
pub fn pick(targets: &[LatencyTarget], rows: &[LoadRow]) -> Vec<TargetRow> {
    let mut groups: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.model.as_str(), r.dataset.as_str()))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let mut out = Vec::new();
    for target in targets {
        for &(model, dataset) in &groups {
            let levels: Vec<&LoadRow> = rows
                .iter()
                .filter(|r| r.model == model && r.dataset == dataset)
                .collect();
            out.push(one(*target, &levels, Scope::AllLimits));
            let mut limits: Vec<Option<u32>> =
                levels.iter().map(|r| r.point.power_limit_w).collect();
            limits.sort_unstable();
            limits.dedup();
            if limits.len() < 2 {
                continue;
            }
            for limit in limits {
                let at: Vec<&LoadRow> = levels
                    .iter()
                    .copied()
                    .filter(|r| r.point.power_limit_w == limit)
                    .collect();
                out.push(one(*target, &at, Scope::OneLimit));
            }
        }
    }
    out
}

/// The pick among `levels` (of one model and dataset; at one limit for [`Scope::OneLimit`]).
fn one(target: LatencyTarget, levels: &[&LoadRow], scope: Scope) -> TargetRow {
    let first = levels.first();
    let mut row = TargetRow {
        metric: target.metric.as_str().to_string(),
        target_ms: target.ms,
        model: first.map(|r| r.model.clone()).unwrap_or_default(),
        task: first.map(|r| r.task.clone()).unwrap_or_default(),
        dataset: first.map(|r| r.dataset.clone()).unwrap_or_default(),
        scope,
        power_limit_w: match scope {
            Scope::OneLimit => first.and_then(|r| r.point.power_limit_w),
            Scope::AllLimits => None,
        },
        ..TargetRow::default()
    };
    let known: Vec<(&LoadRow, f64, f64)> = levels
        .iter()
        .filter_map(|r| {
            Some((
                *r,
                r.latency(target.metric).mean?,
                r.energy_j_per_request.mean?,
            ))
        })
        .collect();
    let meeting = known
        .iter()
        .filter(|(_, ms, _)| *ms <= target.ms)
        .min_by(|a, b| a.2.total_cmp(&b.2));
    let closest = known.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    let (chosen, meets) = match (meeting, closest) {
        (Some(m), _) => (m, true),
        (None, Some(c)) => (c, false),
        (None, None) => {
            row.note = format!(
                "no level has both {} and an energy per request: {}",
                target.metric,
                why(target.metric, levels)
            );
            return row;
        }
    };
    let (level, ms, _) = *chosen;
    row.meets = meets;
    row.power_limit_w = level.point.power_limit_w;
    row.point = level.point.to_string();
    row.metric_ms = Some(ms);
    row.energy_j_per_request = level.energy_j_per_request.mean;
    row.energy_j_per_request_ci95_low = level.energy_j_per_request.ci95_low;
    row.energy_j_per_request_ci95_high = level.energy_j_per_request.ci95_high;
    row.provenance = level.provenance;
    row.note = if meets {
        format!(
            "lowest energy of the {} levels with {} ≤ {} ms (by the level's mean)",
            known.iter().filter(|(_, m, _)| *m <= target.ms).count(),
            target.metric,
            sig(target.ms, 4)
        )
    } else {
        format!(
            "none meets it; closest: {} at {} ms",
            level.point,
            sig(ms, 4)
        )
    };
    row
}

/// Why no level of `levels` has the metric or an energy per request.
fn why(metric: LatencyMetric, levels: &[&LoadRow]) -> String {
    let mut reasons: Vec<&str> = levels
        .iter()
        .flat_map(|r| [&r.latency(metric).why, &r.energy_j_per_request.why])
        .map(String::as_str)
        .filter(|w| !w.is_empty())
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    if reasons.is_empty() {
        "no level".to_string()
    } else {
        reasons.join("; ")
    }
}
