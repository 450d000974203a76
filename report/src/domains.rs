//! `domains.csv`: energy per inference of each configuration, per energy domain.

use crate::configs::Configuration;
use crate::stats::{Describe, mean};
use crate::units::{J_PER_KWH, J_PER_WH};
use records::labels::Provenance;
use serde::{Deserialize, Serialize};

/// One row of `domains.csv`: one domain of one configuration over its valid repetitions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainRow {
    /// Configuration id.
    pub config: String,
    /// Model name.
    pub model: String,
    /// Dataset name.
    pub dataset: String,
    /// Source name.
    pub source: String,
    /// Domain name.
    pub domain: String,
    /// `measured` or `estimated`.
    pub provenance: Provenance,
    /// Whether the domain counts in the machine total.
    pub counts_in_total: bool,
    /// Repetitions with a window of this domain.
    pub repetitions: usize,
    /// Mean energy per inference (J).
    pub energy_j_mean: f64,
    /// Standard deviation over repetitions (J).
    pub energy_j_std: f64,
    /// Coefficient of variation.
    pub energy_j_cv: f64,
    /// Lower bound of the 95% t interval (J).
    pub energy_j_ci95_low: f64,
    /// Upper bound of the 95% t interval (J).
    pub energy_j_ci95_high: f64,
    /// Mean energy per inference (Wh).
    pub energy_wh_mean: f64,
    /// Mean energy per 1,000 inferences (kWh).
    pub kwh_per_1000: f64,
    /// Mean energy per inference net of idle (J), when a baseline was taken.
    pub net_energy_j_mean: Option<f64>,
    /// Mean idle power of the baselines (W).
    pub idle_power_w: Option<f64>,
    /// Mean power over the windows (W).
    pub power_w_mean: f64,
    /// Share of the configuration's counted total (0–1); empty for domains not counted.
    pub share_of_total: Option<f64>,
}

/// One row per domain of a configuration.
pub fn rows(config: &Configuration) -> Vec<DomainRow> {
    let reps: Vec<_> = config.usable().collect();
    let total: f64 = reps.iter().map(|r| r.energy_per_inference_j()).sum();
    let mut out = Vec::new();
    for (key, (provenance, counts)) in config.domains() {
        let windows: Vec<(u32, &crate::configs::DomainWindow)> = reps
            .iter()
            .filter_map(|r| r.domains.get(&key).map(|w| (r.requests, w)))
            .collect();
        let values: Vec<f64> = windows
            .iter()
            .map(|(n, w)| w.energy_j / f64::from(*n))
            .collect();
        let Some(d) = Describe::of(&values) else {
            continue;
        };
        let net: Option<Vec<f64>> = windows
            .iter()
            .map(|(n, w)| w.net_energy_j.map(|e| e / f64::from(*n)))
            .collect();
        let idle: Option<Vec<f64>> = windows.iter().map(|(_, w)| w.idle_power_w).collect();
        let power: Vec<f64> = windows
            .iter()
            .filter(|(_, w)| w.duration_s > 0.0)
            .map(|(_, w)| w.energy_j / w.duration_s)
            .collect();
        out.push(DomainRow {
            config: config.info.id.clone(),
            model: config.info.model.clone(),
            dataset: config.info.dataset.clone(),
            source: key.source.clone(),
            domain: key.domain.clone(),
            provenance,
            counts_in_total: counts,
            repetitions: d.n,
            energy_j_mean: d.mean,
            energy_j_std: d.std,
            energy_j_cv: d.cv,
            energy_j_ci95_low: d.ci95_low,
            energy_j_ci95_high: d.ci95_high,
            energy_wh_mean: d.mean / J_PER_WH,
            kwh_per_1000: d.mean * 1000.0 / J_PER_KWH,
            net_energy_j_mean: net.filter(|n| !n.is_empty()).map(|n| mean(&n)),
            idle_power_w: idle.filter(|i| !i.is_empty()).map(|i| mean(&i)),
            power_w_mean: mean(&power),
            share_of_total: (counts && total > 0.0)
                .then(|| d.mean * reps.len() as f64 / total)
                .filter(|_| windows.len() == reps.len()),
        });
    }
    out
}
