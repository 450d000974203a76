//! Wire formats: turning an input into a request body, and an answer into what records need.
//!
//! Each protocol a suite can name (`protocol = "..."`) is one [`Protocol`] implementation
//! in its own file; streamed answers are read by the [`StreamDecoder`] beside it.

mod error;
mod json_template;
mod kind;
mod kserve;
mod openai;
mod openai_answer;
mod openai_stream;
mod tei;
mod tgi;
mod tgi_stream;

pub use error::ProtocolError;
pub use json_template::{JsonTemplate, TemplateKeyError};
pub use kind::ProtocolKind;
pub use kserve::KserveV2;
pub use openai::{OpenaiChat, OpenaiCompletions};
pub use openai_stream::{OpenaiStream, StreamTiming};
pub use tei::{TeiEmbed, TeiPredict};
pub use tgi::TgiGenerate;
pub use tgi_stream::TgiStream;

use crate::dataset::Row;
use serde_json::Value;
use std::fmt::Debug;
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
    /// The answer as text, for scoring: generated text, or a classifier's top label;
    /// `None` for answers that are not text (embeddings, numeric tensors).
    pub answer: Option<String>,
}

/// One wire format: how a configuration's requests are built and its answers read.
pub trait Protocol: Debug + Send + Sync {
    /// Which protocol of the suite file this is.
    fn kind(&self) -> ProtocolKind;

    /// Builds the request for `input`; `row` fills a JSON template's field placeholders.
    fn prepare(&self, input: &Input<'_>, row: &Row) -> Result<Prepared, ProtocolError>;

    /// Reads a whole 2xx answer, already parsed as JSON.
    fn parse(&self, answer: &Value) -> Result<Parsed, ProtocolError>;

    /// Whether the protocol generates text (and so takes generation settings).
    fn generates(&self) -> bool;

    /// Whether the protocol can ask for an exact output length (`ignore_eos`, `min_tokens`).
    fn pins_length(&self) -> bool {
        false
    }

    /// A reader for one streamed answer, for protocols that stream (server-sent events).
    fn stream_decoder(&self) -> Option<Box<dyn StreamDecoder>> {
        None
    }

    /// Whether the protocol can stream its answer.
    fn streams(&self) -> bool {
        self.stream_decoder().is_some()
    }

    /// Forward passes one request of a `class` model costs, for shard balancing:
    /// `max_tokens` for a generator, one pass for everything else.
    fn passes_per_request(&self, _class: records::labels::ModelClass, max_tokens: u32) -> u32 {
        if self.generates() {
            max_tokens.max(1)
        } else {
            1
        }
    }

    /// Reads a whole 2xx answer body; the error says what did not match the protocol.
    fn parse_body(&self, body: &[u8]) -> Result<Parsed, ProtocolError> {
        parse_json(self, body)
    }
}

/// Reads a whole answer body as JSON and hands it to `protocol`'s [`Protocol::parse`].
fn parse_json<P: Protocol + ?Sized>(protocol: &P, body: &[u8]) -> Result<Parsed, ProtocolError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ProtocolError::NotJson(e.to_string()))?;
    protocol.parse(&value)
}

/// A streamed answer being read, one server-sent event at a time.
pub trait StreamDecoder: Send {
    /// Whether the answer is complete; later events are ignored.
    fn done(&self) -> bool;

    /// Reads one event's data, received at `t_ns`.
    fn event(&mut self, data: &str, t_ns: u64) -> Result<(), ProtocolError>;

    /// What the whole stream said; an error if it ended early.
    fn finish(self: Box<Self>) -> Result<(Parsed, StreamTiming), ProtocolError>;
}

/// The protocol a suite names; `json-template` is built by `template` (from the server's
/// `[servers.NAME.json_template]` table), whose error is returned as is.
pub fn of_kind<E>(
    kind: ProtocolKind,
    template: impl FnOnce() -> Result<JsonTemplate, E>,
) -> Result<Arc<dyn Protocol>, E> {
    Ok(match kind {
        ProtocolKind::OpenaiCompletions => Arc::new(OpenaiCompletions),
        ProtocolKind::OpenaiChat => Arc::new(OpenaiChat),
        ProtocolKind::TgiGenerate => Arc::new(TgiGenerate),
        ProtocolKind::TeiPredict => Arc::new(TeiPredict),
        ProtocolKind::TeiEmbed => Arc::new(TeiEmbed),
        ProtocolKind::KserveV2 => Arc::new(KserveV2::default()),
        ProtocolKind::JsonTemplate => Arc::new(template()?),
    })
}

/// A `u64` at a JSON pointer, when present.
fn u64_at(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

/// A string at a JSON pointer, or an error naming the pointer.
fn str_at<'a>(value: &'a Value, pointer: &str) -> Result<&'a str, ProtocolError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| ProtocolError::NoStringAt(pointer.to_string()))
}

fn chars(s: &str) -> u64 {
    s.chars().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use records::labels::ModelClass;

    #[test]
    fn every_text_answer_is_kept_for_scoring() {
        use serde_json::json;
        let builtin = |kind| of_kind(kind, || Err(())).expect("a built-in protocol");
        for (kind, answer, want) in [
            (
                ProtocolKind::OpenaiCompletions,
                json!({"choices": [{"text": " Positive."}]}),
                Some(" Positive."),
            ),
            (
                ProtocolKind::OpenaiChat,
                json!({"choices": [{"message": {"content": "two\nlines"}}]}),
                Some("two\nlines"),
            ),
            (
                ProtocolKind::TgiGenerate,
                json!({"generated_text": "Denver"}),
                Some("Denver"),
            ),
            (
                ProtocolKind::TeiPredict,
                json!([{"label": "NEGATIVE", "score": 0.2}, {"label": "POSITIVE", "score": 0.8}]),
                Some("POSITIVE"),
            ),
            (
                ProtocolKind::KserveV2,
                json!({"outputs": [{"name": "logits", "data": [0.1, 0.9]}, {"name": "label", "data": ["POSITIVE"]}]}),
                Some("POSITIVE"),
            ),
            (ProtocolKind::TeiEmbed, json!([[0.1, 0.2]]), None),
        ] {
            let parsed = builtin(kind).parse(&answer).expect("parses");
            assert_eq!(parsed.answer.as_deref(), want, "{}", kind.as_str());
        }
        let mut stream = OpenaiStream::new(false);
        for (t, text) in [(1, "Pos"), (2, "itive")] {
            let chunk = json!({"choices": [{"text": text, "finish_reason": null}]});
            stream.event(&chunk.to_string(), t).expect("chunk");
        }
        stream.event("[DONE]", 3).expect("done");
        let (parsed, _) = Box::new(stream).finish().expect("whole");
        assert_eq!(parsed.answer.as_deref(), Some("Positive"));
    }

    #[test]
    fn every_protocol_knows_its_name_and_abilities() {
        let builtin = |kind| of_kind(kind, || Err(())).expect("a built-in protocol");
        let template = || JsonTemplate::new("/i", "{}", "/o", None, None).map_err(|_| ());
        for (kind, generates, pins, streams) in [
            (ProtocolKind::OpenaiCompletions, true, true, true),
            (ProtocolKind::OpenaiChat, true, true, true),
            (ProtocolKind::TgiGenerate, true, false, true),
            (ProtocolKind::TeiPredict, false, false, false),
            (ProtocolKind::TeiEmbed, false, false, false),
            (ProtocolKind::KserveV2, false, false, false),
        ] {
            let p = builtin(kind);
            assert_eq!(p.kind(), kind);
            assert_eq!(
                (p.generates(), p.pins_length(), p.streams()),
                (generates, pins, streams),
                "{}",
                kind.as_str()
            );
        }
        let t = of_kind(ProtocolKind::JsonTemplate, template).expect("a template");
        assert_eq!(t.kind(), ProtocolKind::JsonTemplate);
        assert!(t.generates() && !t.pins_length() && !t.streams());
        assert!(of_kind(ProtocolKind::JsonTemplate, || Err::<JsonTemplate, _>(7)).is_err());
        assert_eq!(t.passes_per_request(ModelClass::TaskSpecific, 8), 1);
        assert_eq!(t.passes_per_request(ModelClass::GeneralPurpose, 8), 8);
        assert_eq!(
            builtin(ProtocolKind::TeiPredict).passes_per_request(ModelClass::GeneralPurpose, 8),
            1
        );
    }

    #[test]
    fn a_body_that_is_not_json_says_so() {
        let e = OpenaiCompletions
            .parse_body(b"<html>")
            .expect_err("not JSON");
        assert!(e.to_string().starts_with("answer is not JSON: "), "{e}");
    }
}
