//! `summary.csv`: one row per configuration, built from the raw records alone.

use crate::configs::Configuration;
use crate::flags::{self, Flag};
use crate::options::ReportOptions;
use crate::scan::RequestFacts;
use crate::stats::{Describe, bootstrap, mean, quantile_sorted};
use records::manifest::RunManifest;
use serde::{Deserialize, Serialize};

pub use records::table_io::{read_csv, write_csv};

/// Joules in one kWh.
pub const J_PER_KWH: f64 = 3.6e6;
/// Joules in one Wh.
pub const J_PER_WH: f64 = 3.6e3;

/// One row of `summary.csv`: energy per inference of one configuration, all counted
/// domains together, over its valid repetitions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Configuration id (`model@dataset`).
    pub config: String,
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
    /// Lower bound of the 95% percentile-bootstrap CI (J), when asked for.
    pub energy_j_boot_low: Option<f64>,
    /// Upper bound of the 95% percentile-bootstrap CI (J), when asked for.
    pub energy_j_boot_high: Option<f64>,
    /// Mean energy per inference (Wh).
    pub energy_wh_mean: f64,
    /// Mean energy per 1,000 inferences (kWh), the study's unit.
    pub kwh_per_1000: f64,
    /// Lower bound of the 95% CI of kWh per 1,000.
    pub kwh_per_1000_ci95_low: f64,
    /// Upper bound of the 95% CI of kWh per 1,000.
    pub kwh_per_1000_ci95_high: f64,
    /// Mean energy per inference net of idle (J); empty without a baseline.
    pub net_energy_j_mean: Option<f64>,
    /// Lower bound of the 95% CI of the net energy (J).
    pub net_energy_j_ci95_low: Option<f64>,
    /// Upper bound of the 95% CI of the net energy (J).
    pub net_energy_j_ci95_high: Option<f64>,
    /// Mean energy per 1,000 inferences net of idle (kWh).
    pub net_kwh_per_1000: Option<f64>,
    /// Mean idle power of the counted domains (W), when baselines were taken.
    pub idle_power_w: Option<f64>,
    /// Emissions per 1,000 inferences (gCO2eq): gross kWh × PUE × grid intensity; NaN
    /// (`–` in tables, `null` in JSON, flagged `gco2-unknown`) when the run states no
    /// intensity.
    pub gco2e_per_1000: f64,
    /// Mean latency of successful measured requests (ms).
    pub latency_ms_mean: Option<f64>,
    /// Median request latency (ms).
    pub latency_ms_p50: f64,
    /// 90th percentile latency (ms).
    pub latency_ms_p90: Option<f64>,
    /// 95th percentile latency (ms).
    pub latency_ms_p95: Option<f64>,
    /// 99th percentile request latency (ms).
    pub latency_ms_p99: f64,
    /// Median time to first token of streamed requests (ms).
    pub ttft_ms_p50: Option<f64>,
    /// Inferences per second of window, mean over repetitions.
    pub throughput_per_s: Option<f64>,
    /// Output tokens per inference, when the server reported them.
    pub output_tokens_per_inference: Option<f64>,
    /// Energy per output token (J), mean over repetitions, for generators.
    pub energy_j_per_output_token: Option<f64>,
    /// Mean of the per-request energies integrated from samples (J).
    pub request_energy_j_mean: Option<f64>,
    /// Median per-request energy (J).
    pub request_energy_j_p50: Option<f64>,
    /// 90th percentile per-request energy (J).
    pub request_energy_j_p90: Option<f64>,
    /// 99th percentile per-request energy (J).
    pub request_energy_j_p99: Option<f64>,
    /// Requests shorter than the probe's resolution (their own energies are rough).
    pub requests_below_resolution: u64,
    /// Successful measured requests whose own energy is unknown (left out of the
    /// per-request figures; flagged `request-energy-unknown`).
    pub requests_energy_unknown: u64,
    /// `measured`, `estimated` or `mixed` (some counted domains measured, some estimated).
    pub source: String,
    /// Quality flags, `;`-separated (empty when none).
    pub flags: String,
    /// Host that ran the configuration; only in a merged run whose shards ran on more than
    /// one host (the column is absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Energy per inference (J) of each usable repetition: counted domains' energy / requests.
pub fn per_inference(config: &Configuration) -> Vec<(u32, f64)> {
    config
        .usable()
        .map(|r| (r.number, r.energy_per_inference_j()))
        .collect()
}

/// The summary of one configuration with its quality flags.
pub fn summarise(
    config: &Configuration,
    facts: &RequestFacts,
    manifest: &RunManifest,
    options: &ReportOptions,
) -> Option<(SummaryRow, Vec<Flag>)> {
    let reps: Vec<_> = config.usable().collect();
    let values: Vec<f64> = reps.iter().map(|r| r.energy_per_inference_j()).collect();
    let d = Describe::of(&values)?;
    let net: Option<Vec<f64>> = reps
        .iter()
        .map(|r| r.total_net_energy_j().map(|n| n / f64::from(r.requests)))
        .collect();
    let net = net.and_then(|n| Describe::of(&n));
    let idle: Option<Vec<f64>> = reps
        .iter()
        .map(|r| {
            r.domains
                .values()
                .filter(|w| w.counts_in_total)
                .map(|w| w.idle_power_w)
                .sum::<Option<f64>>()
        })
        .collect();
    let boot = options
        .bootstrap_resamples
        .and_then(|n| bootstrap::mean_ci95(&values, n, options.bootstrap_seed));
    let mut latencies = facts.latencies_ms.clone();
    latencies.sort_by(f64::total_cmp);
    let mut ttft = facts.ttft_ms.clone();
    ttft.sort_by(f64::total_cmp);
    let mut req_energy = facts.request_energy_j.clone();
    req_energy.sort_by(f64::total_cmp);
    let kwh = |j: f64| j * 1000.0 / J_PER_KWH;
    let throughput: Vec<f64> = reps
        .iter()
        .filter(|r| r.duration_s > 0.0)
        .map(|r| f64::from(r.requests) / r.duration_s)
        .collect();
    let (tokens_per_inference, j_per_token) = tokens(config, facts);
    let mut flags = flags::assess(config, &values, &d, manifest, options);
    if facts.energy_unknown > 0 {
        flags.push(Flag::RequestEnergyUnknown {
            unknown: facts.energy_unknown,
            requests: facts.energy_unknown + facts.request_energy_j.len() as u64,
        });
    }
    let row = SummaryRow {
        host: None,
        config: config.info.id.clone(),
        model: config.info.model.clone(),
        task: config.info.task.clone(),
        dataset: config.info.dataset.clone(),
        class: config.info.class.clone(),
        parameters: config.info.parameters,
        repetitions: d.n,
        inferences: reps.iter().map(|r| u64::from(r.requests)).sum(),
        energy_j_mean: d.mean,
        energy_j_std: d.std,
        energy_j_cv: d.cv,
        energy_j_ci95_low: d.ci95_low,
        energy_j_ci95_high: d.ci95_high,
        energy_j_boot_low: boot.map(|b| b.0),
        energy_j_boot_high: boot.map(|b| b.1),
        energy_wh_mean: d.mean / J_PER_WH,
        kwh_per_1000: kwh(d.mean),
        kwh_per_1000_ci95_low: kwh(d.ci95_low),
        kwh_per_1000_ci95_high: kwh(d.ci95_high),
        net_energy_j_mean: net.map(|n| n.mean),
        net_energy_j_ci95_low: net.map(|n| n.ci95_low).filter(|v| v.is_finite()),
        net_energy_j_ci95_high: net.map(|n| n.ci95_high).filter(|v| v.is_finite()),
        net_kwh_per_1000: net.map(|n| kwh(n.mean)),
        idle_power_w: idle.map(|i| mean(&i)),
        gco2e_per_1000: if manifest.carbon_intensity_g_per_kwh.is_finite() {
            kwh(d.mean) * manifest.pue * manifest.carbon_intensity_g_per_kwh
        } else {
            f64::NAN
        },
        latency_ms_mean: (!latencies.is_empty()).then(|| mean(&latencies)),
        latency_ms_p50: quantile_sorted(&latencies, 0.5),
        latency_ms_p90: finite(quantile_sorted(&latencies, 0.9)),
        latency_ms_p95: finite(quantile_sorted(&latencies, 0.95)),
        latency_ms_p99: quantile_sorted(&latencies, 0.99),
        ttft_ms_p50: finite(quantile_sorted(&ttft, 0.5)),
        throughput_per_s: (!throughput.is_empty()).then(|| mean(&throughput)),
        output_tokens_per_inference: tokens_per_inference,
        energy_j_per_output_token: j_per_token,
        request_energy_j_mean: (!req_energy.is_empty()).then(|| mean(&req_energy)),
        request_energy_j_p50: finite(quantile_sorted(&req_energy, 0.5)),
        request_energy_j_p90: finite(quantile_sorted(&req_energy, 0.9)),
        request_energy_j_p99: finite(quantile_sorted(&req_energy, 0.99)),
        requests_below_resolution: facts.below_resolution,
        requests_energy_unknown: facts.energy_unknown,
        source: source_label(config),
        flags: flags::join(&flags),
    };
    Some((row, flags))
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Output tokens per inference and energy per output token (J), over the repetitions in
/// which every successful request reported its tokens.
fn tokens(config: &Configuration, facts: &RequestFacts) -> (Option<f64>, Option<f64>) {
    let mut per_inference = Vec::new();
    let mut per_token = Vec::new();
    for rep in config.usable() {
        let ok = facts.ok_requests.get(&rep.number).copied().unwrap_or(0);
        let with = facts
            .requests_with_tokens
            .get(&rep.number)
            .copied()
            .unwrap_or(0);
        let tokens = facts
            .completion_tokens
            .get(&rep.number)
            .copied()
            .unwrap_or(0);
        if ok == 0 || with != ok || tokens == 0 {
            continue;
        }
        per_inference.push(tokens as f64 / f64::from(ok));
        per_token.push(rep.total_energy_j() / tokens as f64);
    }
    if per_token.is_empty() {
        return (None, None);
    }
    (Some(mean(&per_inference)), Some(mean(&per_token)))
}

/// `measured` or `estimated` when all counted domains agree, otherwise `mixed`.
pub fn source_label(config: &Configuration) -> String {
    let domains = config.domains();
    let counted: Vec<&String> = domains
        .values()
        .filter(|(_, counts)| *counts)
        .map(|(p, _)| p)
        .collect();
    let set: std::collections::BTreeSet<&String> = if counted.is_empty() {
        domains.values().map(|(p, _)| p).collect()
    } else {
        counted.into_iter().collect()
    };
    match set.len() {
        1 => set.into_iter().next().cloned().unwrap_or_default(),
        _ => "mixed".to_string(),
    }
}
