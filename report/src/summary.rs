//! `summary.csv`: one row per configuration, built from the raw records alone.

use crate::configs::Configuration;
use crate::flags::{self, Flag};
use crate::model::{ConfigSummary, SummaryRow};
use crate::options::ReportOptions;
use crate::scan::RequestFacts;
use crate::stats::{Describe, bootstrap, mean, quantile_sorted};
use records::manifest::RunManifest;

pub use crate::units::{J_PER_KWH, J_PER_WH};
pub use records::table_io::{read_csv, write_csv};

/// Energy per inference (J) of each usable repetition: counted domains' energy / requests.
pub fn per_inference(config: &Configuration) -> Vec<(u32, f64)> {
    config
        .usable()
        .map(|r| (r.number, r.energy_per_inference_j()))
        .collect()
}

/// The summary of one configuration with its quality flags. Without a usable repetition
/// its row keeps the configuration's identity and counts, with every figure empty, and is
/// flagged `no-valid-repetition`.
pub fn summarise(
    config: &Configuration,
    facts: &RequestFacts,
    manifest: &RunManifest,
    options: &ReportOptions,
) -> ConfigSummary {
    let values: Vec<f64> = config
        .usable()
        .map(|r| r.energy_per_inference_j())
        .collect();
    let describe = Describe::of(&values);
    let mut flags = flags::assess(config, &values, describe.as_ref(), manifest, options);
    if facts.energy_unknown > 0 {
        flags.push(Flag::RequestEnergyUnknown {
            unknown: facts.energy_unknown,
            requests: facts.energy_unknown + facts.request_energy_j.len() as u64,
        });
    }
    flags.extend(facts.stream.flags());
    let mut row = match &describe {
        Some(d) => figures(config, facts, manifest, options, &values, d),
        None => SummaryRow {
            config: config.info.id.clone(),
            model: config.info.model.clone(),
            task: config.info.task.clone(),
            dataset: config.info.dataset.clone(),
            class: config.info.class,
            parameters: config.info.parameters,
            provenance: config.label(),
            ..SummaryRow::default()
        },
    };
    let failures = config.failures();
    row.failures = failures.failed;
    row.failure_share = failures.share();
    row.tokens_not_server_counted_share = facts.stream.not_server_counted_share();
    row.output_unpinned_share = facts.stream.unpinned_share();
    row.bursty_stream_share = facts.stream.bursty_share();
    row.flags = flags::join(&flags);
    ConfigSummary { row, flags }
}

/// The row of a configuration with usable repetitions (`values`, described by `d`).
fn figures(
    config: &Configuration,
    facts: &RequestFacts,
    manifest: &RunManifest,
    options: &ReportOptions,
    values: &[f64],
    d: &Describe,
) -> SummaryRow {
    let reps: Vec<_> = config.usable().collect();
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
        .and_then(|n| bootstrap::mean_ci95(values, n, options.bootstrap_seed));
    let mut latencies = facts.latencies_ms.clone();
    latencies.sort_by(f64::total_cmp);
    let mut ttft = facts.ttft_ms.clone();
    ttft.sort_by(f64::total_cmp);
    let mut itl = facts.stream.itl_ms.clone();
    itl.sort_by(f64::total_cmp);
    let mut req_energy = facts.request_energy_j.clone();
    req_energy.sort_by(f64::total_cmp);
    let kwh = |j: f64| j * 1000.0 / J_PER_KWH;
    let throughput: Vec<f64> = reps
        .iter()
        .filter(|r| r.duration_s > 0.0)
        .map(|r| f64::from(r.requests) / r.duration_s)
        .collect();
    let (tokens_per_inference, j_per_token) = tokens(config, facts);
    SummaryRow {
        host: None,
        config: config.info.id.clone(),
        model: config.info.model.clone(),
        task: config.info.task.clone(),
        dataset: config.info.dataset.clone(),
        class: config.info.class,
        parameters: config.info.parameters,
        repetitions: d.n,
        inferences: reps.iter().map(|r| u64::from(r.requests)).sum(),
        energy_j_mean: Some(d.mean),
        energy_j_std: Some(d.std),
        energy_j_cv: Some(d.cv),
        energy_j_ci95_low: Some(d.ci95_low),
        energy_j_ci95_high: Some(d.ci95_high),
        energy_j_boot_low: boot.map(|b| b.0),
        energy_j_boot_high: boot.map(|b| b.1),
        energy_wh_mean: Some(d.mean / J_PER_WH),
        kwh_per_1000: Some(kwh(d.mean)),
        kwh_per_1000_ci95_low: Some(kwh(d.ci95_low)),
        kwh_per_1000_ci95_high: Some(kwh(d.ci95_high)),
        net_energy_j_mean: net.map(|n| n.mean),
        net_energy_j_ci95_low: net.map(|n| n.ci95_low).filter(|v| v.is_finite()),
        net_energy_j_ci95_high: net.map(|n| n.ci95_high).filter(|v| v.is_finite()),
        net_kwh_per_1000: net.map(|n| kwh(n.mean)),
        idle_power_w: idle.map(|i| mean(&i)),
        gco2e_per_1000: Some(if manifest.carbon_intensity_g_per_kwh.is_finite() {
            kwh(d.mean) * manifest.pue * manifest.carbon_intensity_g_per_kwh
        } else {
            f64::NAN
        }),
        latency_ms_mean: (!latencies.is_empty()).then(|| mean(&latencies)),
        latency_ms_p50: finite(quantile_sorted(&latencies, 0.5)),
        latency_ms_p90: finite(quantile_sorted(&latencies, 0.9)),
        latency_ms_p95: finite(quantile_sorted(&latencies, 0.95)),
        latency_ms_p99: finite(quantile_sorted(&latencies, 0.99)),
        ttft_ms_p50: finite(quantile_sorted(&ttft, 0.5)),
        ttft_ms_p90: finite(quantile_sorted(&ttft, 0.9)),
        ttft_ms_p99: finite(quantile_sorted(&ttft, 0.99)),
        itl_ms_p50: finite(quantile_sorted(&itl, 0.5)),
        itl_ms_p90: finite(quantile_sorted(&itl, 0.9)),
        itl_ms_p99: finite(quantile_sorted(&itl, 0.99)),
        throughput_per_s: (!throughput.is_empty()).then(|| mean(&throughput)),
        output_tokens_per_inference: tokens_per_inference,
        energy_j_per_output_token: j_per_token,
        request_energy_j_mean: (!req_energy.is_empty()).then(|| mean(&req_energy)),
        request_energy_j_p50: finite(quantile_sorted(&req_energy, 0.5)),
        request_energy_j_p90: finite(quantile_sorted(&req_energy, 0.9)),
        request_energy_j_p99: finite(quantile_sorted(&req_energy, 0.99)),
        requests_below_resolution: facts.below_resolution,
        requests_energy_unknown: facts.energy_unknown,
        provenance: config.label(),
        ..SummaryRow::default()
    }
}

/// `v` when it is a number, `None` for NaN and infinities.
pub(crate) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Output tokens per inference and energy per output token (J), over the repetitions in
/// which every successful request reported its tokens.
fn tokens(config: &Configuration, facts: &RequestFacts) -> (Option<f64>, Option<f64>) {
    let (per_inference, per_token) = token_values(config, facts);
    if per_token.is_empty() {
        return (None, None);
    }
    (Some(mean(&per_inference)), Some(mean(&per_token)))
}

/// Per usable repetition in which every successful request reported its tokens: output
/// tokens per inference, and energy per output token (J).
pub fn token_values(config: &Configuration, facts: &RequestFacts) -> (Vec<f64>, Vec<f64>) {
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
    (per_inference, per_token)
}

/// Mean latency of the successful measured requests (ms) of each usable repetition that
/// has any.
pub fn latency_values(config: &Configuration, facts: &RequestFacts) -> Vec<f64> {
    config
        .usable()
        .filter_map(|r| facts.latency_ms_by_repetition.get(&r.number))
        .filter(|(_, n)| *n > 0)
        .map(|(sum, n)| sum / *n as f64)
        .collect()
}
