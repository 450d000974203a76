//! The suite file: what to measure, against which servers, on which data, how often.
//!
//! Every key is documented in `suites/README.md`. Unknown keys are errors.

mod error;
mod load;
mod reference;

pub use error::SuiteError;
pub use load::{MissingDataset, Suite, dataset_format, load, load_in, load_plan_only};
pub use reference::StudyReference;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use toml::Spanned;

/// The suite file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Name and description.
    pub suite: SuiteHeader,
    /// Model servers, by name.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerSpec>,
    /// Models to measure.
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    /// Datasets to draw inputs from.
    #[serde(default)]
    pub datasets: Vec<DatasetSpec>,
    /// Per-task prompt templates and generation settings.
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskSpec>,
    /// Default generation settings.
    #[serde(default)]
    pub generation: GenerationSpec,
    /// How many requests, how often, with which pauses.
    #[serde(default)]
    pub schedule: ScheduleSpec,
    /// Which energy probes to use.
    #[serde(default)]
    pub probes: ProbesSpec,
    /// Grid carbon intensity and PUE.
    #[serde(default)]
    pub carbon: CarbonSpec,
    /// The study table measured figures are shown beside.
    pub reference: Option<ReferenceSpec>,
}

/// `[reference]`: a table of a study's own figures, shown beside the measured ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// The table (CSV), relative to the suite file.
    pub file: Spanned<PathBuf>,
    /// How tables and plots name the study's figures (default: the file's name).
    pub label: Option<String>,
    /// What to know about the study's setup, printed under the comparison table.
    pub note: Option<Spanned<String>>,
}

/// `[suite]`: the suite's name and description.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteHeader {
    /// Name, used in the default results folder name.
    pub name: Spanned<String>,
    /// What the suite measures.
    #[serde(default)]
    pub description: String,
}

/// The wire protocol a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolKind {
    /// OpenAI `POST /v1/completions`.
    OpenaiCompletions,
    /// OpenAI `POST /v1/chat/completions`.
    OpenaiChat,
    /// Hugging Face TGI `POST /generate`.
    TgiGenerate,
    /// Hugging Face TEI `POST /predict` (classification).
    TeiPredict,
    /// Hugging Face TEI `POST /embed`.
    TeiEmbed,
    /// KServe v2 / Open Inference Protocol `POST /v2/models/{name}/infer`.
    KserveV2,
    /// The suite's own JSON body template (`[servers.NAME.json_template]`).
    JsonTemplate,
}

impl ProtocolKind {
    /// The name used in suite files.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolKind::OpenaiCompletions => "openai-completions",
            ProtocolKind::OpenaiChat => "openai-chat",
            ProtocolKind::TgiGenerate => "tgi-generate",
            ProtocolKind::TeiPredict => "tei-predict",
            ProtocolKind::TeiEmbed => "tei-embed",
            ProtocolKind::KserveV2 => "kserve-v2",
            ProtocolKind::JsonTemplate => "json-template",
        }
    }
}

/// `[servers.NAME]`: a model server, at an address or launched by the runner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Protocol spoken by default (a model may override it).
    pub protocol: ProtocolKind,
    /// Base URL of a running server, e.g. `http://127.0.0.1:8000`.
    pub url: Option<Spanned<String>>,
    /// Command that starts the server; `{joulebench}` is this binary, `{port}` a free port,
    /// `{suite_dir}` the suite file's folder.
    pub launch: Option<Spanned<Vec<String>>>,
    /// URL polled until it answers 2xx (default: the base URL + `/health`).
    pub ready_url: Option<String>,
    /// Seconds to wait for readiness.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_seconds: f64,
    /// Environment variable holding an API key sent as a bearer token.
    pub api_key_env: Option<String>,
    /// Extra environment variables for a launched server.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Request template and answer pointers, for the `json-template` protocol.
    pub json_template: Option<JsonTemplateSpec>,
}

/// `[servers.NAME.json_template]`: a request body template and where the answer is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonTemplateSpec {
    /// Path under the base URL, e.g. `/predict`.
    pub path: Spanned<String>,
    /// JSON body with `{prompt}`, `{model}`, `{max_tokens}` and `{field}` placeholders
    /// inside its strings.
    pub body: Spanned<String>,
    /// JSON pointer to the output in the answer, e.g. `/predictions/0/label`.
    pub output: Spanned<String>,
    /// JSON pointer to the prompt token count, when the server reports it.
    pub prompt_tokens: Option<Spanned<String>>,
    /// JSON pointer to the completion token count, when the server reports it.
    pub completion_tokens: Option<Spanned<String>>,
}

fn default_ready_timeout() -> f64 {
    120.0
}

pub use records::labels::ModelClass;

/// `[[models]]`: one model to measure.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name in records and plots.
    pub name: Spanned<String>,
    /// Name sent to the server (default: `name`).
    pub served_name: Option<String>,
    /// Task it is measured on; it runs on every dataset of that task.
    pub task: Spanned<String>,
    /// `task-specific` or `general-purpose`.
    pub class: ModelClass,
    /// Parameter count, for size plots.
    pub parameters: Option<u64>,
    /// Server that serves it (a key of `[servers]`).
    pub server: Spanned<String>,
    /// Protocol override for this model.
    pub protocol: Option<ProtocolKind>,
    /// Datasets to run on (default: every dataset of the model's task).
    pub datasets: Option<Vec<Spanned<String>>>,
    /// The study model this one stands for (a `model` of the `[reference]` table).
    pub reference: Option<Spanned<String>>,
}

/// File format of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet (uncompressed or Snappy), as Hugging Face publishes datasets.
    Parquet,
}

/// `[[datasets]]`: a local file of inputs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Name in records and plots.
    pub name: Spanned<String>,
    /// Task the dataset is for.
    pub task: Spanned<String>,
    /// File, relative to the suite file.
    pub path: Spanned<PathBuf>,
    /// Format (default: from the file extension).
    pub format: Option<DatasetFormat>,
    /// Template placeholder → column name, e.g. `{ text = "sentence" }`.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Rows to use at most (after offset and shuffle).
    pub limit: Option<usize>,
    /// Rows to skip from the start of the file.
    #[serde(default)]
    pub offset: usize,
    /// Shuffle seed; rows keep file order when absent.
    pub seed: Option<u64>,
    /// The study dataset this one stands for (a `dataset` of the `[reference]` table);
    /// without it, the study's figure is the mean over its datasets of the task.
    pub reference: Option<Spanned<String>>,
}

/// `[tasks.NAME]`: how a task's inputs become requests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Template for general-purpose models, with `{field}` placeholders.
    pub prompt: Option<Spanned<String>>,
    /// Template for task-specific models (default `{text}`).
    pub input: Option<Spanned<String>>,
    /// New tokens to generate for this task (overrides `[generation]`).
    pub max_tokens: Option<u32>,
}

/// `[generation]`: generation settings for generators.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationSpec {
    /// New tokens to generate.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy).
    #[serde(default)]
    pub temperature: f64,
    /// Ask the server to generate exactly `max_tokens` (ignore_eos, min_tokens).
    #[serde(default = "default_true")]
    pub pin_output_length: bool,
    /// Ask OpenAI servers for a server-sent-event stream (time to first token).
    #[serde(default)]
    pub stream: bool,
}

impl Default for GenerationSpec {
    fn default() -> Self {
        Self {
            max_tokens: default_max_tokens(),
            temperature: 0.0,
            pin_output_length: true,
            stream: false,
        }
    }
}

fn default_max_tokens() -> u32 {
    16
}

fn default_true() -> bool {
    true
}

/// `[schedule]`: the measurement protocol.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
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
    /// Requests in flight at once (1 = the study's unbatched protocol).
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Per-request timeout (s).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: f64,
    /// Share of failed requests above which a repetition is invalid.
    #[serde(default = "default_max_failure_share")]
    pub max_failure_share: f64,
}

impl Default for ScheduleSpec {
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

/// `[probes]`: which energy sources to use.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesSpec {
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

impl Default for ProbesSpec {
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

/// `[carbon]`: conversion of energy to emissions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonSpec {
    /// Grid carbon intensity (gCO2eq/kWh).
    #[serde(default = "default_intensity")]
    pub intensity_g_per_kwh: f64,
    /// Power usage effectiveness of the facility (≥ 1).
    #[serde(default = "default_pue")]
    pub pue: f64,
}

impl Default for CarbonSpec {
    fn default() -> Self {
        Self {
            intensity_g_per_kwh: default_intensity(),
            pue: default_pue(),
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
