//! `[schedule]`, `[probes]` and `[carbon]`: plain settings read as written, whose values
//! the load checks; they hold no spans.

use serde::Deserialize;
use std::path::PathBuf;

/// `[schedule]`: the measurement protocol (checked at load).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Sequential requests per repetition.
    #[serde(default = "default_inferences")]
    pub inferences: u32,
    /// Repetitions per configuration.
    #[serde(default = "default_repetitions")]
    pub repetitions: u32,
    /// Warm-up requests per configuration, not measured.
    #[serde(default = "default_warmup")]
    pub warmup: u32,
    /// Idle baseline window before each configuration (s).
    #[serde(default = "default_idle")]
    pub idle_seconds: f64,
    /// Pause after each repetition (s).
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: f64,
    /// Seed of the order configurations are interleaved in across repetitions.
    #[serde(default)]
    pub seed: u64,
    /// Whether configurations interleave across all servers or run server by server.
    #[serde(default)]
    pub order: RunOrder,
    /// Requests in flight at once (1 = the study's unbatched protocol) when `load` sweeps
    /// no levels.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Load levels every model is measured at (`cN`: N closed-loop clients; `pR`: Poisson
    /// arrivals at R requests/s), each its own configuration `model@dataset~level`; a
    /// model's own `load` replaces them. Empty: no sweep.
    #[serde(default)]
    pub load: Vec<String>,
    /// GPU power limits (W) each level is measured at, set through NVML and restored;
    /// empty: the limit as found.
    #[serde(default)]
    pub gpu_power_limits_w: Vec<u32>,
    /// Latency bounds the report picks the lowest-energy level under.
    #[serde(default)]
    pub latency_targets: Vec<records::load::LatencyTarget>,
    /// Share of an open-loop repetition's first arrivals counted as ramp-up, outside the
    /// steady-state window.
    #[serde(default = "default_open_loop_ramp_share")]
    pub open_loop_ramp_share: f64,
    /// Per-request timeout (s).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: f64,
    /// Share of failed requests above which a repetition is invalid.
    #[serde(default = "default_max_failure_share")]
    pub max_failure_share: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            inferences: default_inferences(),
            repetitions: default_repetitions(),
            warmup: default_warmup(),
            idle_seconds: default_idle(),
            cooldown_seconds: default_cooldown(),
            seed: 0,
            order: RunOrder::default(),
            concurrency: default_concurrency(),
            load: Vec::new(),
            gpu_power_limits_w: Vec::new(),
            latency_targets: Vec::new(),
            open_loop_ramp_share: default_open_loop_ramp_share(),
            request_timeout_seconds: default_request_timeout(),
            max_failure_share: default_max_failure_share(),
        }
    }
}

/// The order repetitions are taken in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOrder {
    /// Every round visits every configuration in a seeded order; all servers run at once.
    #[default]
    Interleaved,
    /// Server by server: a launched server starts before its first configuration and stops
    /// after its last, so models that do not fit on the machine together run in turn.
    Grouped,
}

impl RunOrder {
    /// The name used in suite files.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOrder::Interleaved => "interleaved",
            RunOrder::Grouped => "grouped",
        }
    }
}

fn default_inferences() -> u32 {
    1000
}
fn default_repetitions() -> u32 {
    10
}
fn default_warmup() -> u32 {
    10
}
fn default_idle() -> f64 {
    10.0
}
fn default_cooldown() -> f64 {
    5.0
}
fn default_concurrency() -> u32 {
    1
}
fn default_open_loop_ramp_share() -> f64 {
    0.1
}
fn default_request_timeout() -> f64 {
    60.0
}
fn default_max_failure_share() -> f64 {
    0.05
}

/// An energy source a suite may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// CPU and DRAM over RAPL (powercap or perf_event).
    Rapl,
    /// NVIDIA GPUs over NVML.
    Nvml,
    /// Labelled estimates where nothing measured covers the CPU.
    Estimate,
}

/// `[probes]`: which energy sources to use (checked at load).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    /// Sources wanted.
    #[serde(default = "default_sources")]
    pub sources: Vec<ProbeKind>,
    /// Sampling rate (Hz).
    #[serde(default = "default_sample_hz")]
    pub sample_hz: f64,
    /// Powercap root (for containers that mount the host's sysfs elsewhere).
    pub powercap_root: Option<PathBuf>,
    /// GPUs to measure, by index or UUID (default: all visible).
    #[serde(default)]
    pub gpus: Vec<String>,
    /// CPU TDP for estimates (W).
    pub cpu_tdp_w: Option<f64>,
    /// DRAM power for estimates (W per GB).
    pub dram_w_per_gb: Option<f64>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            sources: default_sources(),
            sample_hz: default_sample_hz(),
            powercap_root: None,
            gpus: Vec::new(),
            cpu_tdp_w: None,
            dram_w_per_gb: None,
        }
    }
}

fn default_sources() -> Vec<ProbeKind> {
    vec![ProbeKind::Rapl, ProbeKind::Nvml, ProbeKind::Estimate]
}
fn default_sample_hz() -> f64 {
    10.0
}

/// `[carbon]`: conversion of energy to emissions (checked at load).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonSettings {
    /// Grid carbon intensity (gCO2eq/kWh), as written; see [`Self::constant_intensity`].
    #[serde(default)]
    pub intensity_g_per_kwh: Option<f64>,
    /// Power usage effectiveness of the facility (≥ 1).
    #[serde(default = "default_pue")]
    pub pue: f64,
    /// Hourly intensity series: one CSV or a list of them, relative to the suite file.
    #[serde(default)]
    pub series: Option<SeriesFiles>,
    /// The zone of the series the run happens in (a `Zone Id` or `zone` of the series).
    #[serde(default)]
    pub zone: Option<String>,
    /// Which Electricity Maps column the series is read from (`lca` or `direct`).
    #[serde(default)]
    pub series_basis: records::carbon::Basis,
}

/// `[carbon] series`: one file or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum SeriesFiles {
    /// One file.
    One(PathBuf),
    /// Several files, read in order.
    Many(Vec<PathBuf>),
}

impl SeriesFiles {
    /// The files, in order.
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            SeriesFiles::One(p) => vec![p.clone()],
            SeriesFiles::Many(v) => v.clone(),
        }
    }
}

impl Default for CarbonSettings {
    fn default() -> Self {
        Self {
            intensity_g_per_kwh: None,
            pue: default_pue(),
            series: None,
            zone: None,
            series_basis: records::carbon::Basis::default(),
        }
    }
}

impl CarbonSettings {
    /// The constant intensity (gCO2eq/kWh): the one written; without one, the world
    /// average when there is no series, and none with a series (a repetition outside the
    /// series then has no intensity).
    pub fn constant_intensity(&self) -> Option<f64> {
        match (self.intensity_g_per_kwh, &self.series) {
            (Some(v), _) => Some(v),
            (None, None) => Some(default_intensity()),
            (None, Some(_)) => None,
        }
    }
}

/// World average grid intensity (Ember, 2023), gCO2eq/kWh.
fn default_intensity() -> f64 {
    480.0
}
fn default_pue() -> f64 {
    1.0
}
