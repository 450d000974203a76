//! Load levels: per configuration swept over closed-loop clients or open-loop arrival
//! rates (and GPU power limits), the steady-state energy per request and per token,
//! throughput, latency percentiles, offered against achieved rate and the queueing delay,
//! prefill and decode energy apportioned from streamed timestamps, and the lowest-energy
//! level under each latency target. Only runs with a `load` column filled get these.
//! `docs/load.md` defines every figure.

pub mod apportion;
pub mod csv;
pub mod energy;
pub mod figure;
pub mod latency;
pub mod level;
pub mod markdown;
pub mod open_loop;
pub mod repetition;
pub mod requests;
pub mod targets;
pub mod window;

use crate::ReportError;
use crate::configs::Configuration;
use records::manifest::RunManifest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use figure::Figure;
pub use level::LoadRow;
pub use targets::TargetRow;

/// `load.csv`: one row per configuration with a load level.
pub const LOAD_CSV: &str = "load.csv";
/// `latency_targets.csv`: the lowest-energy level under each latency target.
pub const LATENCY_TARGETS_CSV: &str = "latency_targets.csv";
/// Windows shorter than this many sample intervals are flagged as short.
pub const SHORT_WINDOW_SAMPLES: f64 = 4.0;

/// What a report found on load levels.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// One row per configuration with a load level, in configuration order.
    pub levels: Vec<LoadRow>,
    /// Per latency target of the suite and model and dataset, a row across every power
    /// limit, then (where more than one was measured) a row per limit.
    pub latency_targets: Vec<TargetRow>,
    /// The share of open-loop arrivals counted as ramp-up.
    pub open_loop_ramp_share: f64,
}

/// The load figures of a run, or `None` when no repetition ran at a load level.
pub fn assess(
    dir: &Path,
    manifest: &RunManifest,
    configs: &[Configuration],
) -> Result<Option<LoadReport>, ReportError> {
    let load_configs: Vec<usize> = configs
        .iter()
        .enumerate()
        .filter(|(_, c)| c.load.is_some())
        .map(|(i, _)| i)
        .collect();
    if load_configs.is_empty() {
        return Ok(None);
    }
    let info = manifest.load.clone().unwrap_or_default();
    let requests = requests::read(dir, configs, &load_configs)?;
    let mut windows = BTreeMap::new();
    let mut bounds = BTreeMap::new();
    for (key, list) in &requests {
        let Some(point) = configs[key.0].load else {
            continue;
        };
        if let Ok(w) = window::steady(point.load, list, info.open_loop_ramp_share) {
            windows.insert(*key, w);
        }
        if list.iter().any(|r| r.t_first_token_ns().is_some()) {
            bounds.insert(*key, apportion::boundaries(list));
        }
    }
    let energies = energy::integrate(dir, configs, &windows, &bounds)?;
    let interval_s = sample_interval_s(manifest, configs);
    let mut levels = Vec::new();
    for &i in &load_configs {
        let config = &configs[i];
        let Some(point) = config.load else {
            continue;
        };
        let reps: Vec<repetition::RepFigures> = config
            .usable()
            .filter_map(|rep| {
                let key = (i, rep.number);
                let list = requests.get(&key)?;
                let input = repetition::RepInputs {
                    window_j: energies.windows.get(&key).copied().flatten(),
                    idle_w: rep
                        .domains
                        .values()
                        .filter(|w| w.counts_in_total)
                        .map(|w| w.idle_power_w)
                        .sum(),
                    has_samples: energies.has_samples,
                    segments: bounds
                        .get(&key)
                        .zip(energies.segments.get(&key))
                        .map(|(b, e)| (b.as_slice(), e.as_slice())),
                    short_s: SHORT_WINDOW_SAMPLES * interval_s,
                    ramp_share: info.open_loop_ramp_share,
                };
                Some(repetition::figures(point.load, list, &input))
            })
            .collect();
        levels.push(level::row(config, point, &reps, interval_s));
    }
    levels.sort_by(|a, b| {
        order(a)
            .partial_cmp(&order(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    level::queueing_delays(&mut levels);
    Ok(Some(LoadReport {
        latency_targets: targets::pick(&info.latency_targets, &levels),
        levels,
        open_loop_ramp_share: info.open_loop_ramp_share,
    }))
}

/// Where a level goes in tables: by model, dataset and power limit, closed loops by
/// clients before open loops by rate.
fn order(row: &LoadRow) -> (String, String, Option<u32>, u8, f64) {
    let (kind, value) = match row.point.load {
        records::load::LoadLevel::Closed(n) => (0, f64::from(n)),
        records::load::LoadLevel::Open(r) => (1, r),
    };
    (
        row.model.clone(),
        row.dataset.clone(),
        row.point.power_limit_w,
        kind,
        value,
    )
}

/// The coarsest of the sampling period and the counted probes' resolutions (s).
fn sample_interval_s(manifest: &RunManifest, configs: &[Configuration]) -> f64 {
    let counted = crate::scan::counted_domains(configs);
    let period = if manifest.sample_hz.is_finite() && manifest.sample_hz > 0.0 {
        1.0 / manifest.sample_hz
    } else {
        0.0
    };
    manifest
        .probes
        .iter()
        .filter(|p| counted.iter().any(|k| k.source == p.name))
        .map(|p| p.resolution_s)
        .filter(|r| r.is_finite())
        .fold(period, f64::max)
}
