//! Wire formats: turning an input into a request body, and an answer into what records need.

mod json_template;
mod kserve;
mod openai;
mod openai_stream;
mod sse;
mod tei;
mod tgi;
mod tgi_stream;

pub use json_template::JsonTemplate;
pub use openai_stream::{StreamAnswer, StreamTiming};
pub use sse::SseDecoder;
pub use tgi_stream::TgiStream;

use crate::dataset::Row;
use crate::suite::ProtocolKind;
use serde_json::Value;
use std::sync::Arc;

/// What one request asks for, independent of the protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct Input<'a> {
    /// Model name as the server knows it.
    pub model: &'a str,
    /// The rendered prompt or input text.
    pub text: &'a str,
    /// Generation settings, for generators.
    pub generation: Option<Generation>,
}

/// Generation settings of one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generation {
    /// New tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy).
    pub temperature: f64,
    /// Ask for exactly `max_tokens` (where the protocol allows it).
    pub pin_output_length: bool,
    /// Ask for a server-sent-event stream (OpenAI and TGI protocols), for time to first token.
    pub stream: bool,
}

/// An HTTP request ready to send: path under the base URL and JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// Path, e.g. `/v1/completions`.
    pub path: String,
    /// JSON body.
    pub body: Value,
    /// Whether the request asks the server for an exact output length.
    pub pins_output_length: bool,
    /// Whether the answer is a server-sent-event stream (OpenAI or TGI).
    pub stream: bool,
}

/// What an answer told us.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// Characters of output text (or values, for embeddings and tensors).
    pub output_chars: u64,
    /// Prompt tokens, when reported.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens, when reported.
    pub completion_tokens: Option<u64>,
}

/// How a configuration's requests are built and its answers read.
#[derive(Clone, Debug)]
pub enum Wire {
    /// One of the built-in protocols.
    Builtin(ProtocolKind),
    /// The suite's own JSON body template and output pointers.
    Template(Arc<JsonTemplate>),
}

impl Wire {
    /// Builds the request for `input`; `row` fills a JSON template's field placeholders.
    pub fn prepare(&self, input: &Input<'_>, row: &Row) -> Result<Prepared, String> {
        let kind = match self {
            Wire::Template(t) => return t.prepare(input, row),
            Wire::Builtin(kind) => *kind,
        };
        Ok(match kind {
            ProtocolKind::OpenaiCompletions => openai::completions(input),
            ProtocolKind::OpenaiChat => openai::chat(input),
            ProtocolKind::TgiGenerate => tgi::generate(input),
            ProtocolKind::TeiPredict => tei::predict(input),
            ProtocolKind::TeiEmbed => tei::embed(input),
            ProtocolKind::KserveV2 => kserve::infer(input),
            ProtocolKind::JsonTemplate => return Err(NO_TEMPLATE.into()),
        })
    }

    /// Reads a whole 2xx answer body; the error says what did not match the protocol.
    pub fn parse(&self, body: &[u8]) -> Result<Parsed, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))?;
        let kind = match self {
            Wire::Template(t) => return t.parse(&value),
            Wire::Builtin(kind) => *kind,
        };
        match kind {
            ProtocolKind::OpenaiCompletions => openai::parse_completions(&value),
            ProtocolKind::OpenaiChat => openai::parse_chat(&value),
            ProtocolKind::TgiGenerate => tgi::parse(&value),
            ProtocolKind::TeiPredict => tei::parse_predict(&value),
            ProtocolKind::TeiEmbed => tei::parse_embed(&value),
            ProtocolKind::KserveV2 => kserve::parse(&value),
            ProtocolKind::JsonTemplate => Err(NO_TEMPLATE.into()),
        }
    }

    /// A reader for a streamed answer, for protocols that stream.
    pub fn stream_answer(&self) -> Option<StreamAnswer> {
        match self {
            Wire::Builtin(ProtocolKind::OpenaiCompletions) => Some(StreamAnswer::new(false)),
            Wire::Builtin(ProtocolKind::OpenaiChat) => Some(StreamAnswer::new(true)),
            _ => None,
        }
    }
}

const NO_TEMPLATE: &str = "json-template needs the server's [servers.NAME.json_template] table";

impl ProtocolKind {
    /// Whether the protocol generates text (and so takes generation settings).
    pub fn generates(self) -> bool {
        matches!(
            self,
            ProtocolKind::OpenaiCompletions
                | ProtocolKind::OpenaiChat
                | ProtocolKind::TgiGenerate
                | ProtocolKind::JsonTemplate
        )
    }

    /// Whether the protocol can ask for an exact output length (`ignore_eos`, `min_tokens`).
    pub fn pins_length(self) -> bool {
        matches!(
            self,
            ProtocolKind::OpenaiCompletions | ProtocolKind::OpenaiChat
        )
    }

    /// Whether the protocol can stream its answer (server-sent events).
    pub fn streams(self) -> bool {
        matches!(
            self,
            ProtocolKind::OpenaiCompletions | ProtocolKind::OpenaiChat | ProtocolKind::TgiGenerate
        )
    }
}

/// A `u64` at a JSON pointer, when present.
fn u64_at(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

/// A string at a JSON pointer, or an error naming the pointer.
fn str_at<'a>(value: &'a Value, pointer: &str) -> Result<&'a str, String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("answer has no string at {pointer}"))
}

fn chars(s: &str) -> u64 {
    s.chars().count() as u64
}
