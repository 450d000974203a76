//! The names of the wire protocols, as suite files write them.

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
