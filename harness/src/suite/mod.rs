//! The suite file: what to measure, against which servers, on which data, how often.
//!
//! Every key is documented in `suites/README.md`. Unknown keys are errors. Loading reads
//! the file as written (with the spans error messages point at), checks it, and converts
//! it once into the plain values of [`Suite`], its plan included.

mod check;
mod convert;
mod entries;
mod error;
mod file;
mod load;
mod reference;
mod settings;

pub use check::dataset_format;
pub use entries::{DatasetSource, Model, Server, ServerAddress};
pub use error::SuiteError;
pub use load::{MissingDataset, Suite, load, load_in, load_plan_only};
pub use reference::StudyReference;
pub use settings::{CarbonSettings, ProbeKind, ProbeSettings, RunOrder, Schedule};

use serde::Deserialize;

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

pub use records::labels::ModelClass;

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
