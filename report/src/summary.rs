//! `summary.csv`: one row per configuration, built from the raw records alone.

use crate::ReportError;
use crate::files::{REPETITIONS_CSV, REQUESTS_CSV, SUMMARY_CSV};
use crate::manifest::RunManifest;
use crate::records::{Phase, RepetitionRecord, RequestRecord, RequestStatus};
use crate::stats::{Describe, quantile_sorted};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Joules in one kWh.
pub const J_PER_KWH: f64 = 3.6e6;
/// Joules in one Wh.
pub const J_PER_WH: f64 = 3.6e3;

/// One row of `summary.csv`: energy per inference of one configuration, all domains together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Model name.
    pub model: String,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// `task-specific` or `general-purpose`.
    pub class: String,
    /// Model parameters, when known.
    pub parameters: Option<u64>,
    /// Valid repetitions summarised.
    pub repetitions: usize,
    /// Measured inferences across those repetitions.
    pub inferences: u64,
    /// Mean energy per inference over repetitions (J).
    pub energy_j_mean: f64,
    /// Standard deviation of the per-repetition means (J).
    pub energy_j_std: f64,
    /// Coefficient of variation of the per-repetition means.
    pub energy_j_cv: f64,
    /// Lower bound of the 95% CI (Student's t, n − 1 df) (J).
    pub energy_j_ci95_low: f64,
    /// Upper bound of the 95% CI (J).
    pub energy_j_ci95_high: f64,
    /// Mean energy per inference (Wh).
    pub energy_wh_mean: f64,
    /// Mean energy per 1,000 inferences (kWh), the study's unit.
    pub kwh_per_1000: f64,
    /// Mean energy per inference net of idle (J); empty without a baseline.
    pub net_energy_j_mean: Option<f64>,
    /// Emissions per 1,000 inferences (gCO2eq), gross energy × PUE × grid intensity.
    pub gco2e_per_1000: f64,
    /// Median request latency (ms).
    pub latency_ms_p50: f64,
    /// 99th percentile request latency (ms).
    pub latency_ms_p99: f64,
    /// `measured`, `estimated` or `mixed` (some domains measured, some estimated).
    pub source: String,
}

/// Totals of one repetition over the domains that count in the machine total.
#[derive(Default)]
struct RepetitionTotal {
    energy_j: f64,
    net_energy_j: f64,
    net_missing: bool,
    requests: u32,
    valid: bool,
}

#[derive(Default)]
struct ConfigAccumulator {
    first: Option<RepetitionRecord>,
    repetitions: BTreeMap<u32, RepetitionTotal>,
    provenances: std::collections::BTreeSet<String>,
    latencies_ms: Vec<f64>,
}

/// Rebuilds every result file of a run folder from its raw records.
pub fn render(dir: &Path) -> Result<Vec<SummaryRow>, ReportError> {
    let manifest = RunManifest::load(dir)?;
    let rows = summarise(dir, manifest.carbon_intensity_g_per_kwh, manifest.pue)?;
    write_csv(&dir.join(SUMMARY_CSV), &rows)?;
    Ok(rows)
}

/// Computes one summary row per configuration from `repetitions.csv` and `requests.csv`.
pub fn summarise(dir: &Path, intensity: f64, pue: f64) -> Result<Vec<SummaryRow>, ReportError> {
    let mut configs: BTreeMap<String, ConfigAccumulator> = BTreeMap::new();
    let path = dir.join(REPETITIONS_CSV);
    for rec in read_csv::<RepetitionRecord>(&path)? {
        let rec = rec?;
        let acc = configs.entry(rec.config.clone()).or_default();
        acc.provenances.insert(rec.provenance.clone());
        let total = acc.repetitions.entry(rec.repetition).or_default();
        total.requests = rec.requests;
        total.valid = rec.valid;
        if rec.counts_in_total {
            total.energy_j += rec.energy_j;
            match rec.net_energy_j {
                Some(net) => total.net_energy_j += net,
                None => total.net_missing = true,
            }
        }
        acc.first.get_or_insert(rec);
    }
    let path = dir.join(REQUESTS_CSV);
    for rec in read_csv::<RequestRecord>(&path)? {
        let rec = rec?;
        if rec.phase == Phase::Measured && rec.status == RequestStatus::Ok {
            if let Some(acc) = configs.get_mut(&rec.config) {
                acc.latencies_ms.push(rec.latency_ms);
            }
        }
    }
    let mut rows = Vec::new();
    for (_, mut acc) in configs {
        let Some(first) = acc.first.take() else {
            continue;
        };
        let valid: Vec<&RepetitionTotal> = acc
            .repetitions
            .values()
            .filter(|r| r.valid && r.requests > 0)
            .collect();
        let per_inference: Vec<f64> = valid
            .iter()
            .map(|r| r.energy_j / f64::from(r.requests))
            .collect();
        let Some(d) = Describe::of(&per_inference) else {
            continue;
        };
        let net: Option<Vec<f64>> = valid
            .iter()
            .map(|r| (!r.net_missing).then(|| r.net_energy_j / f64::from(r.requests)))
            .collect();
        acc.latencies_ms.sort_by(f64::total_cmp);
        let kwh_per_1000 = d.mean * 1000.0 / J_PER_KWH;
        rows.push(SummaryRow {
            model: first.model,
            task: first.task,
            dataset: first.dataset,
            class: first.class,
            parameters: first.parameters,
            repetitions: d.n,
            inferences: valid.iter().map(|r| u64::from(r.requests)).sum(),
            energy_j_mean: d.mean,
            energy_j_std: d.std,
            energy_j_cv: d.cv,
            energy_j_ci95_low: d.ci95_low,
            energy_j_ci95_high: d.ci95_high,
            energy_wh_mean: d.mean / J_PER_WH,
            kwh_per_1000,
            net_energy_j_mean: net.and_then(|n| Describe::of(&n)).map(|n| n.mean),
            gco2e_per_1000: kwh_per_1000 * pue * intensity,
            latency_ms_p50: quantile_sorted(&acc.latencies_ms, 0.5),
            latency_ms_p99: quantile_sorted(&acc.latencies_ms, 0.99),
            source: source_label(&acc.provenances),
        });
    }
    Ok(rows)
}

fn source_label(provenances: &std::collections::BTreeSet<String>) -> String {
    match provenances.len() {
        1 => provenances.iter().next().cloned().unwrap_or_default(),
        _ => "mixed".to_string(),
    }
}

/// Streams the rows of a CSV file with a header, naming the file in every error.
pub fn read_csv<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<impl Iterator<Item = Result<T, ReportError>>, ReportError> {
    let reader = csv::Reader::from_path(path).map_err(|source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    })?;
    let owned: PathBuf = path.to_path_buf();
    Ok(reader
        .into_deserialize::<T>()
        .map(move |r| r.map_err(|source| ReportError::Csv {
            path: owned.clone(),
            source,
        })))
}

/// Writes rows to a CSV file with a header.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), ReportError> {
    let err = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    for row in rows {
        w.serialize(row).map_err(err)?;
    }
    w.flush().map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}
