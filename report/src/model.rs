//! The reporter's model: what a report computed from a run folder, one
//! [`ConfigSummary`] (its `summary.csv` row with its quality flags) per configuration.

use crate::aggregate::{ModelRow, TaskRow};
use crate::configs::Configuration;
use crate::context::ContextRow;
use crate::domains::DomainRow;
use crate::flags::Flag;
use crate::options::ReportOptions;
use crate::reference::ComparisonRow;
use crate::scan::RunScan;
use records::labels::{ClassLabel, FigureLabel};
use records::manifest::RunManifest;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything a report computed.
#[derive(Debug)]
pub struct Report {
    /// The run's manifest.
    pub manifest: RunManifest,
    /// The settings used.
    pub options: ReportOptions,
    /// Configurations with their repetitions.
    pub configs: Vec<Configuration>,
    /// One summary per configuration; one with no valid repetition has empty figures.
    pub summary: Vec<ConfigSummary>,
    /// One row per configuration and domain.
    pub domains: Vec<DomainRow>,
    /// Repetitions pooled per task and class.
    pub tasks: Vec<TaskRow>,
    /// Per model, mean over tasks.
    pub models: Vec<ModelRow>,
    /// GPU context (`context.csv`) per configuration, when the runner wrote it.
    pub context: Vec<ContextRow>,
    /// What the pass over requests and samples found.
    pub scan: RunScan,
    /// Per configuration (in `summary` order): states, cross-checks, attribution,
    /// repetitions needed and the validity checklist.
    pub fidelity: Vec<crate::fidelity::ConfigFidelity>,
    /// Per configuration (in `summary` order): its answers' scores.
    pub quality: Vec<crate::quality::ConfigQuality>,
    /// The hourly intensity series and its what-ifs; `None` for a constant intensity.
    pub carbon: Option<crate::carbon::RunCarbon>,
    /// Each model and task beside the study's figure; `None` without `reference.csv`.
    pub beside_study: Option<Vec<ComparisonRow>>,
    /// Load levels: their steady-state figures and latency-target picks; `None` when no
    /// repetition ran at a load level.
    pub load: Option<crate::load::LoadReport>,
    /// Each variant configuration against its baseline's (empty without variants).
    pub savings: Vec<crate::savings::SavingsRow>,
    /// What is known of each model (suite declarations and server facts), by name.
    pub model_facts: std::collections::BTreeMap<String, crate::savings::facts::ModelFacts>,
    /// Plot files written (empty until a render draws them).
    pub plots: Vec<PathBuf>,
}

impl Report {
    /// The rows of `summary.csv`, in configuration order.
    pub fn rows(&self) -> impl Iterator<Item = &SummaryRow> {
        self.summary.iter().map(|s| &s.row)
    }

    /// The summaries of configurations with no valid repetition (empty figures).
    pub fn without_valid_repetition(&self) -> impl Iterator<Item = &ConfigSummary> {
        self.summary.iter().filter(|s| s.row.repetitions == 0)
    }

    /// The summary of a configuration, by id.
    pub fn config_summary(&self, config: &str) -> Option<&ConfigSummary> {
        self.summary.iter().find(|s| s.row.config == config)
    }
}

/// One configuration's summary: its row of `summary.csv` and the quality flags behind
/// the row's `flags` column.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigSummary {
    /// The row.
    pub row: SummaryRow,
    /// Its quality flags.
    pub flags: Vec<Flag>,
}

/// One row of `summary.csv`: energy per inference of one configuration, all counted
/// domains together, over its valid repetitions. A configuration with no valid repetition
/// keeps its row: every figure is `None` (an empty cell, `null` in JSON, `–` in tables)
/// and its flags say why (`no-valid-repetition`).
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
    /// `task-specific`, `general-purpose` or `unknown`.
    pub class: ClassLabel,
    /// Model parameters, when known.
    pub parameters: Option<u64>,
    /// Valid repetitions summarised.
    pub repetitions: usize,
    /// Measured inferences across those repetitions.
    pub inferences: u64,
    /// Mean energy per inference over repetitions (J).
    pub energy_j_mean: Option<f64>,
    /// Standard deviation of the per-repetition means (J).
    pub energy_j_std: Option<f64>,
    /// Coefficient of variation of the per-repetition means.
    pub energy_j_cv: Option<f64>,
    /// Lower bound of the 95% CI (Student's t, n − 1 df) (J).
    pub energy_j_ci95_low: Option<f64>,
    /// Upper bound of the 95% CI (J).
    pub energy_j_ci95_high: Option<f64>,
    /// Lower bound of the 95% percentile-bootstrap CI (J), when asked for.
    pub energy_j_boot_low: Option<f64>,
    /// Upper bound of the 95% percentile-bootstrap CI (J), when asked for.
    pub energy_j_boot_high: Option<f64>,
    /// Mean energy per inference (Wh).
    pub energy_wh_mean: Option<f64>,
    /// Mean energy per 1,000 inferences (kWh), the study's unit.
    pub kwh_per_1000: Option<f64>,
    /// Lower bound of the 95% CI of kWh per 1,000.
    pub kwh_per_1000_ci95_low: Option<f64>,
    /// Upper bound of the 95% CI of kWh per 1,000.
    pub kwh_per_1000_ci95_high: Option<f64>,
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
    /// intensity; `None` without a valid repetition.
    pub gco2e_per_1000: Option<f64>,
    /// Mean latency of successful measured requests (ms).
    pub latency_ms_mean: Option<f64>,
    /// Median request latency (ms).
    pub latency_ms_p50: Option<f64>,
    /// 90th percentile latency (ms).
    pub latency_ms_p90: Option<f64>,
    /// 95th percentile latency (ms).
    pub latency_ms_p95: Option<f64>,
    /// 99th percentile request latency (ms).
    pub latency_ms_p99: Option<f64>,
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
    /// `measured`, `estimated` or `mixed` (some counted domains measured, some estimated);
    /// column `source`.
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
    /// Quality flags, `;`-separated (empty when none).
    pub flags: String,
    /// Host that ran the configuration; only in a merged run whose shards ran on more than
    /// one host (the column is absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Failed measured requests over every repetition of the configuration, valid or not
    /// (their time is in the energy windows; latency percentiles leave them out).
    #[serde(default)]
    pub failures: u64,
    /// `failures` / measured requests sent in those repetitions; `None` when none was sent.
    #[serde(default)]
    pub failure_share: Option<f64>,
    /// 90th percentile time to first token of streamed requests (ms).
    #[serde(default)]
    pub ttft_ms_p90: Option<f64>,
    /// 99th percentile time to first token of streamed requests (ms).
    #[serde(default)]
    pub ttft_ms_p99: Option<f64>,
    /// Median over streamed requests of each one's mean inter-token latency (ms).
    #[serde(default)]
    pub itl_ms_p50: Option<f64>,
    /// 90th percentile of the streamed requests' mean inter-token latencies (ms).
    #[serde(default)]
    pub itl_ms_p90: Option<f64>,
    /// 99th percentile of the streamed requests' mean inter-token latencies (ms).
    #[serde(default)]
    pub itl_ms_p99: Option<f64>,
    /// Share of requests with a token count whose count is not the server's own (flagged
    /// `tokens-not-server-counted`); `None` without counts.
    #[serde(default)]
    pub tokens_not_server_counted_share: Option<f64>,
    /// Share of requests asked to be pinned whose output was not (flagged
    /// `output-unpinned`); `None` when no request asked.
    #[serde(default)]
    pub output_unpinned_share: Option<f64>,
    /// Share of streamed requests that came in a burst (flagged `bursty-stream` above one
    /// half); `None` without streamed requests.
    #[serde(default)]
    pub bursty_stream_share: Option<f64>,
    /// The validity checks the configuration failed, `;`-separated (empty when none).
    #[serde(default)]
    pub checks_failed: String,
    /// Repetitions a 95% CI of ±1% of the mean needs at the observed spread.
    #[serde(default)]
    pub repetitions_for_ci_1pct: Option<u64>,
    /// Repetitions a 95% CI of ±2% of the mean needs.
    #[serde(default)]
    pub repetitions_for_ci_2pct: Option<u64>,
    /// Repetitions a 95% CI of ±5% of the mean needs.
    #[serde(default)]
    pub repetitions_for_ci_5pct: Option<u64>,
    /// The server's share of the machine's busy CPU time over the windows (0–1).
    #[serde(default)]
    pub server_cpu_share: Option<f64>,
    /// CPU package energy per inference attributed to the server by that share (J),
    /// labelled like the package energy (`source`).
    #[serde(default)]
    pub server_cpu_energy_j_mean: Option<f64>,
    /// joulebench's own share of the machine's busy CPU time (0–1).
    #[serde(default)]
    pub client_cpu_share: Option<f64>,
    /// The headline quality metric (`accuracy`, `f1`, `rouge_l`, `exact`, `match`); empty
    /// when the answers are not scored (flagged `quality-unscored`).
    #[serde(default)]
    pub quality_metric: String,
    /// Mean quality over the dataset rows sent (0–1).
    #[serde(default)]
    pub quality_mean: Option<f64>,
    /// Lower bound of its 95% CI over rows (Student's t).
    #[serde(default)]
    pub quality_ci95_low: Option<f64>,
    /// Upper bound of its 95% CI.
    #[serde(default)]
    pub quality_ci95_high: Option<f64>,
    /// Distinct dataset rows scored.
    #[serde(default)]
    pub quality_items: Option<u64>,
    /// Standard deviation of the repetitions' mean quality (the server's nondeterminism).
    #[serde(default)]
    pub quality_repetition_std: Option<f64>,
    /// Share of scored answers no label could be read from (counted wrong).
    #[serde(default)]
    pub quality_unparsed_share: Option<f64>,
    /// Stars, 1–5, against the run's other configurations of the same task, dataset and label
    /// (AI Energy Score bands: `rating`); empty when not rated.
    #[serde(default)]
    pub rating_stars: Option<u8>,
    /// The pool the stars were given in, or why there are none.
    #[serde(default)]
    pub rating_basis: String,
    /// What-if (from the run's hourly intensity series): start (UTC) of the cleanest window
    /// of the run's zone for the run's repetitions as laid out; empty without a series.
    #[serde(default)]
    pub whatif_cleanest_start_utc: String,
    /// What-if: gCO2eq per 1,000 inferences with the same energy in that window.
    #[serde(default)]
    pub whatif_cleanest_gco2e_per_1000: Option<f64>,
    /// What-if: saving of that window against `gco2e_per_1000` (%); empty when a
    /// repetition was outside the series.
    #[serde(default)]
    pub whatif_cleanest_saving_pct: Option<f64>,
    /// What-if: gCO2eq per 1,000 inferences at the same hours in each other zone of the
    /// series, `ZONE=value` joined by `;` (`ZONE=outside-series` where it has no hours).
    #[serde(default)]
    pub whatif_other_zones_gco2e_per_1000: String,
}
