//! Hugging Face Text Generation Inference `POST /generate` and `POST /generate_stream`.

use super::ProtocolKind;
use super::{
    Input, Parsed, Prepared, Protocol, ProtocolError, StreamDecoder, TgiStream, chars, str_at,
    u64_at,
};
use crate::dataset::Row;
use serde_json::{Value, json};

/// `tgi-generate`: `POST /generate`, or `/generate_stream` when streaming.
#[derive(Clone, Copy, Debug)]
pub struct TgiGenerate;

impl Protocol for TgiGenerate {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::TgiGenerate
    }
    fn prepare(&self, input: &Input<'_>, _row: &Row) -> Result<Prepared, ProtocolError> {
        Ok(generate(input))
    }
    fn parse(&self, answer: &Value) -> Result<Parsed, ProtocolError> {
        parse(answer)
    }
    fn generates(&self) -> bool {
        true
    }
    fn stream_decoder(&self) -> Option<Box<dyn StreamDecoder>> {
        Some(Box::new(TgiStream::default()))
    }
}

/// `{inputs, parameters:{max_new_tokens, details:true, do_sample}}` to `/generate`, or to
/// `/generate_stream` when streaming; TGI cannot pin the length.
fn generate(input: &Input<'_>) -> Prepared {
    let stream = input.generation.is_some_and(|g| g.stream);
    let mut parameters = json!({ "details": true });
    if let (Some(g), Some(p)) = (input.generation, parameters.as_object_mut()) {
        p.insert("max_new_tokens".into(), json!(g.max_tokens));
        if g.temperature > 0.0 {
            p.insert("do_sample".into(), json!(true));
            p.insert("temperature".into(), json!(g.temperature));
        } else {
            p.insert("do_sample".into(), json!(false));
        }
    }
    Prepared {
        path: if stream {
            "/generate_stream"
        } else {
            "/generate"
        }
        .into(),
        body: json!({ "inputs": input.text, "parameters": parameters }),
        pins_output_length: false,
        stream,
    }
}

/// `{generated_text, details:{finish_reason, generated_tokens, prefill:[...]}}`.
fn parse(v: &Value) -> Result<Parsed, ProtocolError> {
    let text = str_at(v, "/generated_text")?;
    let prompt_tokens = v
        .pointer("/details/prefill")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .map(|a| a.len() as u64);
    Ok(Parsed {
        output_chars: chars(text),
        prompt_tokens,
        completion_tokens: u64_at(v, "/details/generated_tokens"),
        answer: Some(text.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Generation;
    use super::*;

    #[test]
    fn request_and_answer_follow_tgi() {
        let p = generate(&Input {
            model: "m",
            text: "hi",
            generation: Some(Generation {
                max_tokens: 15,
                temperature: 0.0,
                pin_output_length: true,
                stream: false,
            }),
        });
        assert_eq!(p.path, "/generate");
        assert_eq!(
            p.body,
            json!({"inputs": "hi", "parameters": {"details": true, "max_new_tokens": 15, "do_sample": false}})
        );
        assert!(!p.pins_output_length, "TGI has no way to force the length");
        let v = json!({"generated_text": "abc",
                       "details": {"finish_reason": "length", "generated_tokens": 15, "prefill": []}});
        let parsed = parse(&v).expect("valid");
        assert_eq!(
            (
                parsed.output_chars,
                parsed.completion_tokens,
                parsed.prompt_tokens
            ),
            (3, Some(15), None)
        );
    }

    #[test]
    fn streaming_sends_the_same_body_to_generate_stream() {
        let generation = Generation {
            max_tokens: 4,
            temperature: 0.7,
            pin_output_length: false,
            stream: true,
        };
        let p = generate(&Input {
            model: "m",
            text: "hi",
            generation: Some(generation),
        });
        assert_eq!((p.path.as_str(), p.stream), ("/generate_stream", true));
        let whole = generate(&Input {
            model: "m",
            text: "hi",
            generation: Some(Generation {
                stream: false,
                ..generation
            }),
        });
        assert_eq!((whole.path.as_str(), whole.stream), ("/generate", false));
        assert_eq!(p.body, whole.body, "only the path differs");
        assert_eq!(p.body["parameters"]["do_sample"], true);
    }
}
