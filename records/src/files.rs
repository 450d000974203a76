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
/// Extension of a launched server's record in [`SERVER_LOGS_DIR`] (`NAME.pid`: its pid and
/// start time), kept while it runs so `--resume` can stop one an interrupted run left.
pub const SERVER_PID_EXT: &str = "pid";
/// GPU context samples (temperature, clocks), when the runner wrote them.
pub const CONTEXT_CSV: &str = "context.csv";
/// One row per configuration and energy domain (written by the report).
pub const DOMAINS_CSV: &str = "domains.csv";
/// One row per task and class, pooled over configurations (written by the report).
pub const TASKS_CSV: &str = "tasks.csv";
/// One row per model, averaged over tasks (written by the report).
pub const MODELS_CSV: &str = "models.csv";
/// One row per measured request with its integrated energy (written by the report).
pub const REQUEST_ENERGY_CSV: &str = "request_energy.csv";
/// The run in CodeCarbon 3.x's task-mode emissions format, one row per configuration
/// (written by the report).
pub const EMISSIONS_CSV: &str = "emissions.csv";
/// Markdown tables (written by the report).
pub const SUMMARY_MD: &str = "summary.md";
/// The whole report in one self-contained page: tables, flags, plots, manifest (written
/// by the report).
pub const REPORT_HTML: &str = "report.html";
/// LaTeX booktabs table (written by the report).
pub const SUMMARY_TEX: &str = "summary.tex";
/// Everything the report computed, as JSON (written by the report).
pub const SUMMARY_JSON: &str = "summary.json";
/// What an import read, when the run was imported from another tool.
pub const IMPORT_JSON: &str = "import.json";
/// GPU context per configuration (written by the report when `context.csv` exists).
pub const CONTEXT_SUMMARY_CSV: &str = "context_summary.csv";
/// Spans where a probe's sampler could not read its source, when there were any.
pub const SAMPLER_GAPS_CSV: &str = "sampler_gaps.csv";
/// Host of each configuration, in a folder merged from shards.
pub const HOSTS_CSV: &str = "hosts.csv";
/// The study's figures matched to each configuration, kept from the run's start.
pub const REFERENCE_CSV: &str = "reference.csv";
/// Each model and task beside the study's figure (written by the report with `reference.csv`).
pub const REFERENCE_COMPARISON_CSV: &str = "reference_comparison.csv";
/// States read at the edges of each window (GPU temperature, clocks, limits; CPU governor).
pub const WINDOW_STATE_CSV: &str = "window_state.csv";
/// Who used the CPU and GPUs over each window (server, client, whole machine).
pub const ATTRIBUTION_CSV: &str = "attribution.csv";
/// Each measured request's answer beside its reference answers (JSON Lines).
pub const ANSWERS_JSONL: &str = "answers.jsonl";
/// Each scored answer's scores (written by the report).
pub const REQUEST_SCORES_CSV: &str = "request_scores.csv";
/// The hourly grid carbon intensity series of `[carbon] series`, copied at the run's start
/// (plain form: `datetime,zone,intensity`).
pub const CARBON_INTENSITY_CSV: &str = "carbon_intensity.csv";
