//! One load level's row: its repetitions' figures pooled into means with 95% CIs.

use super::figure::Figure;
use super::repetition::{Known, RepFigures};
use crate::configs::Configuration;
use records::labels::FigureLabel;
use records::load::{LatencyMetric, LoadLevel, OperatingPoint};
use serde::Serialize;

/// One configuration at one load level (a row of `load.csv`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadRow {
    /// Configuration id (`model@dataset~point`).
    pub config: String,
    /// Model name.
    pub model: String,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// Load level and power limit (`c8`, `p2.5`, `c4-300w`).
    #[serde(serialize_with = "as_text")]
    pub point: OperatingPoint,
    /// Usable repetitions.
    pub repetitions: usize,
    /// Of those, the ones with a steady-state window.
    pub steady_repetitions: usize,
    /// Steady windows shorter than a few sample intervals (their energy rests on few
    /// samples).
    pub short_windows: usize,
    /// The coarsest sample interval of the counted domains (s).
    pub sample_interval_s: f64,
    /// Window length (s).
    pub steady_duration_s: Figure,
    /// Successful requests ending inside the window (whole requests).
    pub completions: Figure,
    /// Request-equivalents served in the window: each successful request counted by the
    /// share of its duration inside it.
    pub requests_served: Figure,
    /// Window energy / request-equivalents served in it (J), gross.
    pub energy_j_per_request: Figure,
    /// The same net of idle power × window length (J).
    pub net_energy_j_per_request: Figure,
    /// Window energy / output tokens generated inside it (J).
    pub energy_j_per_token: Figure,
    /// Mean completion tokens per successful request.
    pub output_tokens_per_response: Figure,
    /// Per-token energy × mean output length (J), ML.ENERGY's energy per response.
    pub energy_j_per_response: Figure,
    /// Request-equivalents served per second of window.
    pub throughput_rps: Figure,
    /// Output tokens per second of window.
    pub throughput_tps: Figure,
    /// End-to-end latency p50 of the steady-state requests (ms), mean of the repetitions'
    /// percentiles.
    pub e2e_p50_ms: Figure,
    /// End-to-end latency p90 (ms).
    pub e2e_p90_ms: Figure,
    /// End-to-end latency p99 (ms).
    pub e2e_p99_ms: Figure,
    /// Time to first token p50 (ms).
    pub ttft_p50_ms: Figure,
    /// Time to first token p90 (ms).
    pub ttft_p90_ms: Figure,
    /// Time to first token p99 (ms).
    pub ttft_p99_ms: Figure,
    /// Inter-token latency p50 (ms).
    pub itl_p50_ms: Figure,
    /// Inter-token latency p90 (ms).
    pub itl_p90_ms: Figure,
    /// Inter-token latency p99 (ms).
    pub itl_p99_ms: Figure,
    /// Mean end-to-end latency of the steady-state requests (ms).
    pub e2e_mean_ms: Figure,
    /// Open loop: (arrivals − 1) / span of their scheduled times (1/s).
    pub offered_rps: Figure,
    /// Open loop: (successful answers − 1) / span of their ends (1/s).
    pub achieved_rps: Figure,
    /// Open loop: client lag (start − scheduled) p50 (ms).
    pub client_lag_p50_ms: Figure,
    /// Open loop: client lag p99 (ms).
    pub client_lag_p99_ms: Figure,
    /// Mean end-to-end latency over the unloaded one (c1 of the same model, dataset and
    /// power limit) (ms), Welch's CI.
    pub queueing_delay_ms: Figure,
    /// Apportioned energy to the first token per request (J).
    pub prefill_j_apportioned: Figure,
    /// Apportioned decode energy per output token (J).
    pub decode_j_per_token_apportioned: Figure,
    /// `measured`, `estimated` or `mixed`: the counted domains' provenance, carried by every
    /// energy figure of the row.
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
    /// Per repetition, its steady-state mean end-to-end latency (for the queueing delay).
    #[serde(skip)]
    pub e2e_means: Vec<f64>,
}

/// The column stems of [`LoadRow::figures`], in `load.csv` order.
pub const FIGURE_STEMS: [&str; 27] = [
    "steady_duration_s",
    "completions",
    "requests_served",
    "energy_j_per_request",
    "net_energy_j_per_request",
    "energy_j_per_token",
    "output_tokens_per_response",
    "energy_j_per_response",
    "throughput_rps",
    "throughput_tps",
    "e2e_p50_ms",
    "e2e_p90_ms",
    "e2e_p99_ms",
    "ttft_p50_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "itl_p50_ms",
    "itl_p90_ms",
    "itl_p99_ms",
    "e2e_mean_ms",
    "offered_rps",
    "achieved_rps",
    "client_lag_p50_ms",
    "client_lag_p99_ms",
    "queueing_delay_ms",
    "prefill_j_apportioned",
    "decode_j_per_token_apportioned",
];

fn as_text<S: serde::Serializer>(p: &OperatingPoint, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

impl LoadRow {
    /// Every figure with its column stem ([`FIGURE_STEMS`]), in `load.csv` order.
    pub fn figures(&self) -> [(&'static str, &Figure); 27] {
        let figures = [
            &self.steady_duration_s,
            &self.completions,
            &self.requests_served,
            &self.energy_j_per_request,
            &self.net_energy_j_per_request,
            &self.energy_j_per_token,
            &self.output_tokens_per_response,
            &self.energy_j_per_response,
            &self.throughput_rps,
            &self.throughput_tps,
            &self.e2e_p50_ms,
            &self.e2e_p90_ms,
            &self.e2e_p99_ms,
            &self.ttft_p50_ms,
            &self.ttft_p90_ms,
            &self.ttft_p99_ms,
            &self.itl_p50_ms,
            &self.itl_p90_ms,
            &self.itl_p99_ms,
            &self.e2e_mean_ms,
            &self.offered_rps,
            &self.achieved_rps,
            &self.client_lag_p50_ms,
            &self.client_lag_p99_ms,
            &self.queueing_delay_ms,
            &self.prefill_j_apportioned,
            &self.decode_j_per_token_apportioned,
        ];
        std::array::from_fn(|i| (FIGURE_STEMS[i], figures[i]))
    }

    /// The figure a latency target bounds.
    pub fn latency(&self, metric: LatencyMetric) -> &Figure {
        match metric {
            LatencyMetric::E2eP50 => &self.e2e_p50_ms,
            LatencyMetric::E2eP90 => &self.e2e_p90_ms,
            LatencyMetric::E2eP99 => &self.e2e_p99_ms,
            LatencyMetric::TtftP50 => &self.ttft_p50_ms,
            LatencyMetric::TtftP90 => &self.ttft_p90_ms,
            LatencyMetric::ItlP50 => &self.itl_p50_ms,
            LatencyMetric::ItlP90 => &self.itl_p90_ms,
        }
    }

    /// The load level.
    pub fn level(&self) -> LoadLevel {
        self.point.load
    }
}

/// The row of `config` at `point` from its repetitions' figures.
pub fn row(
    config: &Configuration,
    point: OperatingPoint,
    reps: &[RepFigures],
    sample_interval_s: f64,
) -> LoadRow {
    let pool = |f: fn(&RepFigures) -> &Known| -> Figure {
        if reps.is_empty() {
            return Figure::unknown("no usable repetition with measured requests");
        }
        Figure::of(&reps.iter().map(|r| f(r).clone()).collect::<Vec<_>>())
    };
    LoadRow {
        config: config.info.id.clone(),
        model: config.info.model.clone(),
        task: config.info.task.clone(),
        dataset: config.info.dataset.clone(),
        point,
        repetitions: reps.len(),
        steady_repetitions: reps.iter().filter(|r| r.window.is_ok()).count(),
        short_windows: reps.iter().filter(|r| r.short).count(),
        sample_interval_s,
        steady_duration_s: pool(|r| &r.duration_s),
        completions: pool(|r| &r.completions),
        requests_served: pool(|r| &r.served),
        energy_j_per_request: pool(|r| &r.energy_per_request),
        net_energy_j_per_request: pool(|r| &r.net_energy_per_request),
        energy_j_per_token: pool(|r| &r.energy_per_token),
        output_tokens_per_response: pool(|r| &r.output_tokens),
        energy_j_per_response: pool(|r| &r.energy_per_response),
        throughput_rps: pool(|r| &r.rps),
        throughput_tps: pool(|r| &r.tps),
        e2e_p50_ms: pool(|r| &r.latency.e2e[0]),
        e2e_p90_ms: pool(|r| &r.latency.e2e[1]),
        e2e_p99_ms: pool(|r| &r.latency.e2e[2]),
        ttft_p50_ms: pool(|r| &r.latency.ttft[0]),
        ttft_p90_ms: pool(|r| &r.latency.ttft[1]),
        ttft_p99_ms: pool(|r| &r.latency.ttft[2]),
        itl_p50_ms: pool(|r| &r.latency.itl[0]),
        itl_p90_ms: pool(|r| &r.latency.itl[1]),
        itl_p99_ms: pool(|r| &r.latency.itl[2]),
        e2e_mean_ms: pool(|r| &r.latency.e2e_mean),
        offered_rps: pool(|r| &r.offered),
        achieved_rps: pool(|r| &r.achieved),
        client_lag_p50_ms: pool(|r| &r.lag[0]),
        client_lag_p99_ms: pool(|r| &r.lag[1]),
        queueing_delay_ms: Figure::unknown("not yet compared"),
        prefill_j_apportioned: pool(|r| &r.prefill),
        decode_j_per_token_apportioned: pool(|r| &r.decode_per_token),
        provenance: config.label(),
        e2e_means: reps
            .iter()
            .filter_map(|r| r.latency.e2e_mean.as_ref().ok().copied())
            .collect(),
    }
}

/// Sets each row's queueing delay: its mean end-to-end latency over that of `c1` of the
/// same model, dataset and power limit, or why it is unknown.
pub fn queueing_delays(rows: &mut [LoadRow]) {
    let unloaded: Vec<(String, String, Option<u32>, Vec<f64>)> = rows
        .iter()
        .filter(|r| r.point.load == LoadLevel::UNBATCHED)
        .map(|r| {
            (
                r.model.clone(),
                r.dataset.clone(),
                r.point.power_limit_w,
                r.e2e_means.clone(),
            )
        })
        .collect();
    for row in rows.iter_mut() {
        if row.point.load == LoadLevel::UNBATCHED {
            row.queueing_delay_ms = Figure::unknown("this is the unloaded level (c1) itself");
            continue;
        }
        let base = unloaded.iter().find(|(m, d, w, _)| {
            *m == row.model && *d == row.dataset && *w == row.point.power_limit_w
        });
        row.queueing_delay_ms = match base {
            None => Figure::unknown(format!(
                "unknown: the run has no c1 level of {}@{}{} to give the unloaded latency",
                row.model,
                row.dataset,
                row.point
                    .power_limit_w
                    .map_or_else(String::new, |w| format!(" at {w} W")),
            )),
            Some((_, _, _, base)) if base.is_empty() || row.e2e_means.is_empty() => {
                Figure::unknown("no successful request at this level or at c1")
            }
            Some((_, _, _, base)) => Figure::difference(&row.e2e_means, base),
        };
    }
}
