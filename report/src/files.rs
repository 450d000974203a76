//! Names of the files in a run folder (see results/README.md).

/// The run manifest.
pub const RUN_JSON: &str = "run.json";
/// A copy of the suite the run was made from.
pub const SUITE_COPY: &str = "suite.toml";
/// One row per request.
pub const REQUESTS_CSV: &str = "requests.csv";
/// Probe samples.
pub const SAMPLES_CSV: &str = "samples.csv";
/// Idle baseline windows, one row per configuration, baseline and domain.
pub const BASELINES_CSV: &str = "baselines.csv";
/// One row per repetition and energy domain.
pub const REPETITIONS_CSV: &str = "repetitions.csv";
/// One row per configuration.
pub const SUMMARY_CSV: &str = "summary.csv";
/// Folder of plots.
pub const PLOTS_DIR: &str = "plots";
/// Folder of launched servers' logs.
pub const SERVER_LOGS_DIR: &str = "servers";
