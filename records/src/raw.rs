//! The raw records a run writes as it goes, one struct per CSV file.

use crate::labels::{ClassLabel, Provenance};
use serde::{Deserialize, Serialize};

/// What a request was for (the default only fills the blank row a header is made from).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Warm-up: sent before measuring, outside any energy window.
    Warmup,
    /// Measured: inside a repetition's energy window.
    #[default]
    Measured,
}

/// How a request ended (the default only fills the blank row a header is made from).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// A 2xx answer that parsed.
    #[default]
    Ok,
    /// The server answered with an HTTP error status.
    HttpError,
    /// No answer within the request timeout.
    Timeout,
    /// The connection failed or was reset.
    Connection,
    /// A 2xx answer that did not parse as the protocol says.
    BadResponse,
}

/// One row of `requests.csv`: one request, written within 250 ms of its end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Configuration id (`model@dataset`).
    pub config: String,
    /// Model name.
    pub model: String,
    /// Dataset name.
    pub dataset: String,
    /// Warm-up or measured.
    pub phase: Phase,
    /// Repetition number (1-based; 0 for warm-up).
    pub repetition: u32,
    /// Index of the request within its repetition (0-based).
    pub index: u32,
    /// Index of the dataset row sent.
    pub row: u64,
    /// Start on the run's monotonic clock (ns).
    pub t_start_ns: u64,
    /// End on the run's monotonic clock (ns).
    pub t_end_ns: u64,
    /// End minus start (ms).
    pub latency_ms: f64,
    /// Time to first token for streamed answers (ms).
    pub ttft_ms: Option<f64>,
    /// Mean inter-token latency for streamed answers (ms).
    #[serde(default)]
    pub itl_ms: Option<f64>,
    /// How the request ended.
    pub status: RequestStatus,
    /// HTTP status code, when an answer came.
    pub http_status: Option<u16>,
    /// Prompt tokens, when the server reports them.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens, when the server reports them.
    pub completion_tokens: Option<u64>,
    /// Whether the output length was pinned (e.g. `ignore_eos` with `min_tokens`).
    pub output_pinned: bool,
    /// Characters of output text received.
    pub output_chars: u64,
    /// Error message for failed requests (never holds credentials).
    pub error: String,
    /// Where `completion_tokens` came from: `usage` (the server's own count) or `events`
    /// (joulebench counted the stream's content events); empty when there is no count, and
    /// in files written before the column (added last, so they still read).
    #[serde(default)]
    pub completion_tokens_source: Option<crate::tokens::TokenSource>,
    /// Whether the suite asked for a pinned output length (`pin_output_length`), whatever
    /// the protocol could send; empty for non-generators and in files before the column.
    #[serde(default)]
    pub pin_requested: Option<bool>,
    /// Median gap between successive text-carrying events of a streamed answer (ms), with
    /// two or more: a burst (events read together) shows as gaps far below any decode step.
    #[serde(default)]
    pub itl_p50_ms: Option<f64>,
    /// When an open-loop arrival was due on the run's clock (ns): the request was sent at
    /// `t_start_ns`, so the difference is the client's own lag; empty in closed loops and
    /// in files before the column.
    #[serde(default)]
    pub t_scheduled_ns: Option<u64>,
}

/// One row of `samples.csv`: one sampled read of one domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// Clock time (ns).
    pub t_ns: u64,
    /// Source name.
    pub source: String,
    /// Domain name.
    pub domain: String,
    /// `measured` or `estimated`.
    pub provenance: Provenance,
    /// Cumulative energy since the source was opened (J).
    pub energy_j: f64,
    /// Mean power since the previous sample of this domain (W).
    pub power_w: Option<f64>,
}

/// One row of `baselines.csv`: an idle window before a configuration, per domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    /// Configuration id the baseline precedes.
    pub config: String,
    /// Source name.
    pub source: String,
    /// Domain name.
    pub domain: String,
    /// `measured` or `estimated`.
    pub provenance: Provenance,
    /// Whether the domain counts in the machine total.
    pub counts_in_total: bool,
    /// Window start (ns).
    pub t_start_ns: u64,
    /// Window end (ns).
    pub t_end_ns: u64,
    /// Window length (s).
    pub duration_s: f64,
    /// Energy over the window (J).
    pub energy_j: f64,
    /// Mean idle power (W).
    pub power_w: f64,
}

/// One row of `repetitions.csv`: the energy window of one repetition, per domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RepetitionRecord {
    /// Configuration id (`model@dataset`).
    pub config: String,
    /// Model name.
    pub model: String,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// `task-specific` or `general-purpose` (`unknown` in imported runs).
    pub class: ClassLabel,
    /// Model parameters, when known.
    pub parameters: Option<u64>,
    /// Repetition number (1-based).
    pub repetition: u32,
    /// Source name.
    pub source: String,
    /// Domain name.
    pub domain: String,
    /// `measured` or `estimated`.
    pub provenance: Provenance,
    /// Whether the domain counts in the machine total.
    pub counts_in_total: bool,
    /// Window start (ns).
    pub t_start_ns: u64,
    /// Window end (ns).
    pub t_end_ns: u64,
    /// Window length (s).
    pub duration_s: f64,
    /// Energy over the window (J), gross of idle.
    pub energy_j: f64,
    /// Requests sent in the window.
    pub requests: u32,
    /// Requests that failed.
    pub failures: u32,
    /// The load level and power limit the repetition ran at (`c8`, `p2.5`, `c4-300w`);
    /// empty when the suite swept none (one request at a time, the limit as found) and in
    /// files before the column.
    #[serde(default)]
    pub load: Option<crate::load::OperatingPoint>,
}

/// What a version-1 `repetitions.csv` row held beyond the measurement: figures the runner
/// derived as it wrote (since version 2 the report derives them from `baselines.csv` and
/// the policy in `run.json`). Read alongside [`RepetitionRecord`] from version-1 folders.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RepetitionDerivedV1 {
    /// Idle power from the configuration's baseline (W), when one was taken.
    pub idle_power_w: Option<f64>,
    /// Energy net of idle: gross − idle power × duration (J).
    pub net_energy_j: Option<f64>,
    /// Whether the repetition was valid (failures within the allowed share).
    pub valid: bool,
}

/// One row of `request_energy.csv` (written by the report): the energy of one request,
/// integrated from the samples over its interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestEnergyRecord {
    /// Configuration id.
    pub config: String,
    /// Repetition number.
    pub repetition: u32,
    /// Index of the request within its repetition.
    pub index: u32,
    /// Start (ns).
    pub t_start_ns: u64,
    /// End (ns).
    pub t_end_ns: u64,
    /// Latency (ms).
    pub latency_ms: f64,
    /// Energy of the counted domains over the interval (J); empty when a domain had no
    /// sample around it.
    pub energy_j: Option<f64>,
    /// Energy net of the idle power over the interval (J), when a baseline was taken.
    pub net_energy_j: Option<f64>,
    /// Whether the request was shorter than the coarsest counted probe's resolution (its
    /// energy then says more about the probe than about the request).
    pub below_resolution: bool,
    /// Provenance of `energy_j`: `measured`, `estimated` or `mixed` (some counted domains
    /// of the configuration measured, some estimated); column `source`.
    #[serde(rename = "source")]
    pub provenance: crate::labels::FigureLabel,
}

/// One row of `sampler_gaps.csv`: a span where a source's sampler could not read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplerGapRecord {
    /// Source name.
    pub source: String,
    /// Last good read before the failures (ns).
    pub t_start_ns: u64,
    /// First good read after them, or the last failure if none followed (ns).
    pub t_end_ns: u64,
    /// Failed reads in the span.
    pub errors: u64,
    /// The last error.
    pub error: String,
    /// Whether no good read followed before the run ended.
    pub open: bool,
    /// Whether the span outlasted the source's keep-alive interval, so a counter may have
    /// wrapped unseen: energy windows overlapping it cannot be trusted.
    pub keep_alive_missed: bool,
}

/// One row of `context.csv`: a reading that is not energy (GPU power, clocks, temperature).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextRecord {
    /// Clock time (ns).
    pub t_ns: u64,
    /// Source name.
    pub source: String,
    /// Domain name (e.g. `gpu0`).
    pub domain: String,
    /// What was read, its unit ending the name (e.g. `temperature_c`).
    pub metric: String,
    /// The value.
    pub value: f64,
}

/// Which kind of energy window a per-window record belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// The idle baseline before a configuration.
    Baseline,
    /// A measured repetition.
    #[default]
    Repetition,
}

/// Which edge of a window a state was read at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edge {
    /// Just before the window's first energy read.
    #[default]
    Start,
    /// Just after its last.
    End,
}

/// One row of `window_state.csv`: a state the figures depend on (GPU temperature, clocks,
/// power limit, persistence, throttle reasons; the CPU governor and boost), read at one
/// edge of one window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowStateRecord {
    /// Configuration id.
    pub config: String,
    /// Baseline or repetition.
    pub window: WindowKind,
    /// Repetition number (0 for a baseline).
    pub repetition: u32,
    /// Start or end of the window.
    pub edge: Edge,
    /// Clock time of the read (ns).
    pub t_ns: u64,
    /// Source name (`nvml`, or `host` for the CPU settings).
    pub source: String,
    /// Domain name (`gpu-0`, or `host`).
    pub domain: String,
    /// What was read, its unit ending the name where it has one (`temperature_c`).
    pub key: String,
    /// The value as read: a number, `on`/`off`, names, or `unreadable: <why>`.
    pub value: String,
}

/// One row of `attribution.csv`: who used a resource over one window, as measured there:
/// CPU seconds from `/proc` (resource `cpu`), or the sum of a GPU's per-process SM
/// utilisation samples (resource `gpu-N`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributionRecord {
    /// Configuration id.
    pub config: String,
    /// Baseline or repetition.
    pub window: WindowKind,
    /// Repetition number (0 for a baseline).
    pub repetition: u32,
    /// Window start (ns).
    pub t_start_ns: u64,
    /// Window end (ns).
    pub t_end_ns: u64,
    /// `cpu`, or a GPU domain (`gpu-0`).
    pub resource: String,
    /// What the figures count: `cpu_s` (CPU seconds) or `sm_pct_samples` (per-process SM
    /// utilisation summed over the driver's samples).
    pub unit: String,
    /// The served model's processes' use; empty when they are not known.
    pub server: Option<f64>,
    /// joulebench's own use (the client, its sampler threads included); empty for GPUs.
    pub client: Option<f64>,
    /// Every process's use: busy CPU time of the whole machine, or all processes' samples.
    pub busy: Option<f64>,
    /// All CPU time, idle included (for `cpu`); empty for GPUs.
    pub total: Option<f64>,
    /// Which processes were the server's (e.g. `process group 4242 and descendants`).
    pub server_scope: String,
    /// Live processes in that scope at the window's end.
    pub server_processes: Option<u64>,
    /// Why a figure is empty, when one is.
    pub error: String,
}
