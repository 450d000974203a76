//! `run.json`: the manifest that says how, where and with what a run was taken.

use crate::RecordsError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The state a run ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// In progress, or the process died before it could say otherwise (treat as interrupted).
    Running,
    /// Every planned repetition was taken.
    Complete,
    /// Stopped early (Ctrl-C, a dead server); can be resumed.
    Interrupted,
    /// Stopped by an error that resuming will not fix as it is.
    Failed,
}

/// The manifest of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// Version of the results format.
    pub format_version: u32,
    /// joulebench version that took the run.
    pub joulebench_version: String,
    /// Git revision joulebench was built from, when known.
    pub git_revision: Option<String>,
    /// The suite.
    pub suite: SuiteInfo,
    /// The machine.
    pub host: HostInfo,
    /// Sources that measured or estimated energy.
    pub probes: Vec<ProbeInfo>,
    /// Wanted sources that were not available, with reasons.
    pub missing_probes: Vec<MissingProbeInfo>,
    /// Grid carbon intensity (gCO2eq/kWh). NaN when unknown (an import whose rows carry no
    /// emissions): written as `null` in `run.json`, and read back from `null` as NaN; the
    /// report then computes no gCO2eq and flags `gco2-unknown`.
    #[serde(deserialize_with = "number_or_null")]
    pub carbon_intensity_g_per_kwh: f64,
    /// Power usage effectiveness of the facility.
    pub pue: f64,
    /// Probe sampling rate (Hz).
    pub sample_hz: f64,
    /// UTC time of the monotonic clock's zero (RFC 3339).
    pub clock_epoch_utc: String,
    /// UTC start (RFC 3339).
    pub started_utc: String,
    /// UTC end (RFC 3339), once ended.
    pub ended_utc: Option<String>,
    /// How the run ended.
    pub status: RunStatus,
    /// Why the run stopped early, when it did.
    pub status_reason: Option<String>,
    /// The slice of the suite this run took, when it ran with `--shard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// The shards this folder was merged from, when `report --merge` wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeInfo>,
    /// How the report derives net energy and validity from the raw records (from format
    /// version 2; version-1 folders recorded the derived figures in `repetitions.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<DerivationPolicy>,
    /// SHA-256 of every dataset file the run read, so `--resume` refuses a changed one;
    /// absent in runs taken before joulebench recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasets: Option<Vec<DatasetInfo>>,
    /// The hourly intensity series of `[carbon] series`, copied into the folder as
    /// `carbon_intensity.csv`; absent when the suite gives a constant intensity only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carbon_series: Option<CarbonSeriesInfo>,
    /// What the suite asked of load levels (absent when it swept none, and in runs before
    /// the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::load::LoadInfo>,
    /// What the suite declared of each model (variants, techniques, sizes); absent in runs
    /// before the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<crate::models::ModelInfo>>,
}

/// The hourly intensity series a run's repetitions take their intensity from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CarbonSeriesInfo {
    /// The zone the run happens in (`[carbon] zone`).
    pub zone: String,
    /// The Electricity Maps column read (`lca` or `direct`; a plain CSV has one column).
    pub basis: crate::carbon::Basis,
    /// The files the series was read from, as the suite resolved them.
    pub sources: Vec<String>,
    /// Every zone of the series, sorted.
    pub zones: Vec<String>,
}

/// A dataset file a run read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Dataset name (unique in the suite).
    pub name: String,
    /// The file, as the suite resolved it.
    pub path: String,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// The field holding each row's reference answers (`fields.expected`), when mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// How its answers are scored; absent when the dataset maps no reference answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer: Option<crate::scoring::Scorer>,
}

/// How the report turns raw records into net energy and valid repetitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DerivationPolicy {
    /// Largest share of a repetition's requests that may fail for it to count (0 to 1).
    pub max_failure_share: f64,
    /// How idle power is taken off gross energy.
    pub idle: IdleSubtraction,
}

/// How idle power is taken off a repetition's gross energy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdleSubtraction {
    /// Net = gross − P × duration per domain, P the power of the configuration's latest
    /// idle baseline that ended before the repetition's window started.
    LatestBaseline,
}

impl DerivationPolicy {
    /// Whether a repetition with `failures` of `requests` failed counts.
    pub fn is_valid(&self, failures: u32, requests: u32) -> bool {
        f64::from(failures) <= self.max_failure_share * f64::from(requests)
    }
}

/// The slice of a suite's configurations that a sharded run took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Shard index, 0-based.
    pub index: u32,
    /// Number of shards the suite was split into.
    pub count: u32,
    /// Where the index came from: `flag`, `SLURM_ARRAY_TASK_ID` or `JOB_COMPLETION_INDEX`.
    pub index_from: String,
    /// Configuration ids of this shard, in suite order.
    pub configurations: Vec<String>,
}

/// How a merged folder was put together from shards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeInfo {
    /// Number of shards the suite was split into.
    pub count: u32,
    /// The shards merged, in index order.
    pub shards: Vec<MergedShard>,
    /// Indices of shards that were not given (the merged run is then `interrupted`).
    pub missing: Vec<u32>,
    /// Distinct host names of the shards, sorted.
    pub hosts: Vec<String>,
}

/// One shard of a merged folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    /// Shard index, 0-based.
    pub index: u32,
    /// The shard's results folder, as given to the merge.
    pub dir: String,
    /// Where the shard's index came from.
    pub index_from: String,
    /// How the shard's run ended.
    pub status: RunStatus,
    /// Why it stopped early, when it did.
    pub status_reason: Option<String>,
    /// The machine it ran on.
    pub host: HostInfo,
    /// UTC time of the shard's monotonic clock zero (RFC 3339).
    pub clock_epoch_utc: String,
    /// UTC start (RFC 3339).
    pub started_utc: String,
    /// UTC end (RFC 3339), when it ended.
    pub ended_utc: Option<String>,
    /// Added to the shard's times in the merged records (ns): shards are laid end to end.
    pub t_offset_ns: u64,
    /// Added to the shard's `energy_j` in the merged `samples.csv` (J), so that every
    /// counter drops at a shard boundary (the energy between shards is unknown).
    pub energy_offset_j: f64,
    /// Configuration ids of the shard.
    pub configurations: Vec<String>,
}

/// The suite a run was taken from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteInfo {
    /// Suite name.
    pub name: String,
    /// Path given on the command line.
    pub path: String,
    /// SHA-256 of the suite file's bytes (hex).
    pub sha256: String,
}

/// The machine a run was taken on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os: String,
    /// Kernel version.
    pub kernel: String,
    /// CPU model (brand string).
    pub cpu_model: String,
    /// Logical CPUs.
    pub cpu_logical: usize,
    /// Physical cores, when known.
    pub cpu_physical: Option<usize>,
    /// Installed memory (GB).
    pub memory_gb: f64,
    /// GPUs seen.
    pub gpus: Vec<GpuInfo>,
    /// NVIDIA driver version, when a driver is loaded.
    pub nvidia_driver: Option<String>,
    /// NVML version, when a driver is loaded.
    pub nvml_version: Option<String>,
}

/// One GPU of the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// NVML index.
    pub index: u32,
    /// Product name.
    pub name: String,
    /// UUID.
    pub uuid: String,
}

/// One energy source used in a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeInfo {
    /// Source name.
    pub name: String,
    /// `measured` or `estimated` (the source's domains share it).
    pub provenance: crate::labels::Provenance,
    /// Domain names.
    pub domains: Vec<String>,
    /// Shortest window it resolves reliably (s).
    pub resolution_s: f64,
    /// How it measures or estimates.
    pub method: String,
}

/// A wanted source that could not be used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingProbeInfo {
    /// Which probe.
    pub probe: String,
    /// Why, and how to fix it.
    pub reason: String,
}

/// A number, or NaN for `null` (how serde_json writes a non-finite number).
fn number_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl RunManifest {
    /// Current version of the results format: 2 keeps `repetitions.csv` raw (no idle
    /// power, net energy or validity: the report derives them with [`Self::policy`]).
    pub const FORMAT_VERSION: u32 = 2;

    /// Reads `run.json` from a run folder.
    pub fn load(dir: &Path) -> Result<Self, RecordsError> {
        let path = dir.join(crate::files::RUN_JSON);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                RecordsError::NotARun {
                    path: dir.to_path_buf(),
                    reason: format!("no {} in it", crate::files::RUN_JSON),
                }
            } else {
                RecordsError::Io {
                    path: path.clone(),
                    cause: e,
                }
            }
        })?;
        serde_json::from_str(&text).map_err(|source| RecordsError::Json {
            path,
            cause: source,
        })
    }

    /// Writes `run.json` into a run folder atomically (write, then rename).
    pub fn save(&self, dir: &Path) -> Result<(), RecordsError> {
        let path = dir.join(crate::files::RUN_JSON);
        let tmp = dir.join(format!("{}.tmp", crate::files::RUN_JSON));
        let text = serde_json::to_string_pretty(self).map_err(|source| RecordsError::Json {
            path: path.clone(),
            cause: source,
        })?;
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| RecordsError::Io {
                path,
                cause: source,
            })
    }
}
