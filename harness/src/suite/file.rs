//! The suite file as written: TOML tables with the spans of the values that error
//! messages point at. Only loading reads these; everything after it uses the plain,
//! checked values of [`Suite`](super::Suite).

use super::{CarbonSettings, DatasetFormat, ModelClass, ProbeSettings, ProtocolKind, Schedule};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use toml::Spanned;

/// The suite file as written, before validation; its spans point error messages at keys.
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
    pub schedule: Schedule,
    /// Which energy probes to use.
    #[serde(default)]
    pub probes: ProbeSettings,
    /// Grid carbon intensity and PUE.
    #[serde(default)]
    pub carbon: CarbonSettings,
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
    /// The study's quality figures (CSV: model, task, dataset, metric, value, source),
    /// relative to the suite file.
    pub quality: Option<Spanned<PathBuf>>,
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
    /// URL polled until it answers 2xx (default: the readiness URLs of the protocol).
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
    /// For a server given by `url`: the pid of its process, for attributing CPU energy.
    pub pid: Option<Spanned<i64>>,
    /// For a server given by `url`: a file holding its pid (read at every window).
    pub pid_file: Option<Spanned<String>>,
    /// For a server given by `url`: its processes' command name (`/proc/PID/comm`).
    pub process_name: Option<Spanned<String>>,
    /// Name of the input tensor holding the text, for the `kserve-v2` protocol
    /// (default `text`; Triton models often name it `INPUT__0` or `text_input`).
    pub kserve_input: Option<Spanned<String>>,
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
    /// Load levels for this model, replacing `[schedule] load` (`cN`, `pR`).
    pub load: Option<Vec<Spanned<String>>>,
    /// The baseline this model is a variant of (another model's `name`).
    pub variant_of: Option<Spanned<String>>,
    /// What makes the variant: one technique or a list of them.
    pub technique: Option<Spanned<TechniqueSpec>>,
    /// Parameters used per token (mixtures of experts); at most `parameters`.
    pub active_parameters: Option<Spanned<u64>>,
    /// Bytes of the weights as served.
    pub weight_bytes: Option<Spanned<u64>>,
}

/// `technique = "name"` or `technique = ["name", ...]`, as written.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TechniqueSpec {
    /// One technique.
    One(String),
    /// Several techniques.
    Many(Vec<String>),
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
    /// How answers are scored against `fields.expected` (default: from the task).
    pub scorer: Option<Spanned<String>>,
    /// For `scorer = "accuracy"`: reference label → words naming it in an answer.
    pub labels: Option<Spanned<BTreeMap<String, Vec<String>>>>,
    /// For `scorer = "regex"`: the pattern whose first group (or match) is the answer.
    pub pattern: Option<Spanned<String>>,
    /// For `scorer = "exact"`: whether case matters.
    pub case_sensitive: Option<Spanned<bool>>,
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
