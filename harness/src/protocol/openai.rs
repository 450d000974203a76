//! OpenAI completions and chat completions (vLLM, SGLang, llama.cpp, Ollama, TGI, LM Studio).

use super::ProtocolKind;
use super::openai_answer::{self, TextField};
use super::{
    Input, OpenaiStream, Parsed, Prepared, Protocol, ProtocolError, StreamDecoder, chars,
    parse_json, str_at, u64_at,
};
use crate::dataset::Row;
use serde_json::{Value, json};

/// `openai-completions`: `POST /v1/completions`.
#[derive(Clone, Copy, Debug)]
pub struct OpenaiCompletions;

/// `openai-chat`: `POST /v1/chat/completions` with one user message.
#[derive(Clone, Copy, Debug)]
pub struct OpenaiChat;

impl Protocol for OpenaiCompletions {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::OpenaiCompletions
    }
    fn prepare(&self, input: &Input<'_>, _row: &Row) -> Result<Prepared, ProtocolError> {
        Ok(completions(input))
    }
    fn parse(&self, answer: &Value) -> Result<Parsed, ProtocolError> {
        parse_completions(answer)
    }
    fn parse_body(&self, body: &[u8]) -> Result<Parsed, ProtocolError> {
        openai_answer::read(body, TextField::Text).map_or_else(|| parse_json(self, body), Ok)
    }
    fn generates(&self) -> bool {
        true
    }
    fn pins_length(&self) -> bool {
        true
    }
    fn stream_decoder(&self) -> Option<Box<dyn StreamDecoder>> {
        Some(Box::new(OpenaiStream::new(false)))
    }
}

impl Protocol for OpenaiChat {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::OpenaiChat
    }
    fn prepare(&self, input: &Input<'_>, _row: &Row) -> Result<Prepared, ProtocolError> {
        Ok(chat(input))
    }
    fn parse(&self, answer: &Value) -> Result<Parsed, ProtocolError> {
        parse_chat(answer)
    }
    fn parse_body(&self, body: &[u8]) -> Result<Parsed, ProtocolError> {
        openai_answer::read(body, TextField::MessageContent)
            .map_or_else(|| parse_json(self, body), Ok)
    }
    fn generates(&self) -> bool {
        true
    }
    fn pins_length(&self) -> bool {
        true
    }
    fn stream_decoder(&self) -> Option<Box<dyn StreamDecoder>> {
        Some(Box::new(OpenaiStream::new(true)))
    }
}

/// `POST /v1/completions`.
fn completions(input: &Input<'_>) -> Prepared {
    let mut body = json!({ "model": input.model, "prompt": input.text, "stream": false });
    let pins = add_generation(&mut body, input, "max_tokens");
    Prepared {
        path: "/v1/completions".into(),
        stream: body["stream"] == true,
        body,
        pins_output_length: pins,
    }
}

/// `POST /v1/chat/completions` with one user message.
fn chat(input: &Input<'_>) -> Prepared {
    let mut body = json!({
        "model": input.model,
        "messages": [{ "role": "user", "content": input.text }],
        "stream": false,
    });
    let pins = add_generation(&mut body, input, "max_tokens");
    Prepared {
        path: "/v1/chat/completions".into(),
        stream: body["stream"] == true,
        body,
        pins_output_length: pins,
    }
}

/// Adds max tokens, temperature, streaming (with usage in the last chunk) and (vLLM's)
/// `ignore_eos` + `min_tokens` when pinning.
fn add_generation(body: &mut Value, input: &Input<'_>, max_key: &str) -> bool {
    let (Some(g), Some(obj)) = (input.generation, body.as_object_mut()) else {
        return false;
    };
    obj.insert(max_key.into(), json!(g.max_tokens));
    obj.insert("temperature".into(), json!(g.temperature));
    if g.stream {
        obj.insert("stream".into(), json!(true));
        obj.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    if g.pin_output_length {
        obj.insert("ignore_eos".into(), json!(true));
        obj.insert("min_tokens".into(), json!(g.max_tokens));
    }
    g.pin_output_length
}

/// `{choices:[{text}], usage:{prompt_tokens, completion_tokens}}`.
fn parse_completions(v: &Value) -> Result<Parsed, ProtocolError> {
    let text = str_at(v, "/choices/0/text")?;
    Ok(with_usage(v, text))
}

/// `{choices:[{message:{content}}], usage:{...}}`.
fn parse_chat(v: &Value) -> Result<Parsed, ProtocolError> {
    let text = str_at(v, "/choices/0/message/content")?;
    Ok(with_usage(v, text))
}

fn with_usage(v: &Value, text: &str) -> Parsed {
    Parsed {
        output_chars: chars(text),
        prompt_tokens: u64_at(v, "/usage/prompt_tokens"),
        completion_tokens: u64_at(v, "/usage/completion_tokens"),
        answer: Some(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Generation;
    use super::*;

    fn input(pin: bool) -> Input<'static> {
        Input {
            model: "m",
            text: "hello",
            generation: Some(Generation {
                max_tokens: 16,
                temperature: 0.0,
                pin_output_length: pin,
                stream: false,
            }),
        }
    }

    #[test]
    fn completions_body_pins_length_the_vllm_way() {
        let p = completions(&input(true));
        assert_eq!(p.path, "/v1/completions");
        assert_eq!(
            p.body,
            json!({"model": "m", "prompt": "hello", "stream": false, "max_tokens": 16,
                   "temperature": 0.0, "ignore_eos": true, "min_tokens": 16})
        );
        assert!(p.pins_output_length);
        assert!(completions(&input(false)).body.get("ignore_eos").is_none());
    }

    #[test]
    fn streaming_asks_for_usage_in_the_last_chunk() {
        let mut i = input(false);
        if let Some(g) = &mut i.generation {
            g.stream = true;
        }
        for p in [completions(&i), chat(&i)] {
            assert!(p.stream);
            assert_eq!(p.body["stream"], true);
            assert_eq!(p.body["stream_options"], json!({"include_usage": true}));
        }
        assert!(!completions(&input(false)).stream);
    }

    #[test]
    fn chat_sends_one_user_message() {
        let p = chat(&input(false));
        assert_eq!(
            p.body["messages"],
            json!([{"role": "user", "content": "hello"}])
        );
        assert!(!p.pins_output_length);
    }

    #[test]
    fn usage_is_read_when_present() {
        let v = json!({"choices": [{"text": "ab c", "index": 0}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
        let p = parse_completions(&v).expect("valid");
        assert_eq!(
            (p.output_chars, p.prompt_tokens, p.completion_tokens),
            (4, Some(5), Some(3))
        );
        let v = json!({"choices": [{"message": {"role": "assistant", "content": "x"}}]});
        assert_eq!(parse_chat(&v).expect("valid").completion_tokens, None);
        assert!(parse_chat(&json!({"choices": []})).is_err());
    }
}
