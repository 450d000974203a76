//! OpenAI streamed answers: `data: {chunk}` events ending with `data: [DONE]`.
//!
//! Each chunk carries text in `choices[0].text` (completions) or
//! `choices[0].delta.content` (chat); with `stream_options.include_usage` the last chunk
//! before `[DONE]` carries `usage` and no choices.

use super::{Parsed, ProtocolError, StreamDecoder};
use serde_json::Value;

/// Token timing of a streamed answer, on the run's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamTiming {
    /// When the first chunk with text arrived (ns).
    pub first_token_ns: Option<u64>,
    /// Mean time between successive chunks with text (ms), when there were two or more.
    pub mean_itl_ms: Option<f64>,
}

impl StreamTiming {
    /// Timing of `count` text-carrying events, the first at `first_ns` and the last at `last_ns`.
    pub(super) fn of_tokens(first_ns: Option<u64>, last_ns: u64, count: u64) -> Self {
        let mean_itl_ms = match (first_ns, count) {
            (Some(first), n) if n >= 2 => {
                Some(last_ns.saturating_sub(first) as f64 / 1e6 / (n - 1) as f64)
            }
            _ => None,
        };
        Self {
            first_token_ns: first_ns,
            mean_itl_ms,
        }
    }
}

/// A streamed answer being read, one event at a time.
#[derive(Debug)]
pub struct OpenaiStream {
    chat: bool,
    output_chars: u64,
    text_chunks: u64,
    first_ns: Option<u64>,
    last_ns: u64,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    finish_reason: bool,
    done: bool,
}

impl OpenaiStream {
    /// A reader for completions (`chat = false`) or chat completions chunks.
    pub fn new(chat: bool) -> Self {
        Self {
            chat,
            output_chars: 0,
            text_chunks: 0,
            first_ns: None,
            last_ns: 0,
            prompt_tokens: None,
            completion_tokens: None,
            finish_reason: false,
            done: false,
        }
    }
}

impl StreamDecoder for OpenaiStream {
    /// Whether `[DONE]` was read.
    fn done(&self) -> bool {
        self.done
    }

    /// Reads one event's data, received at `t_ns`.
    fn event(&mut self, data: &str, t_ns: u64) -> Result<(), ProtocolError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| ProtocolError::StreamNotJson {
            what: "chunk",
            reason: e.to_string(),
            begin: begin(data),
        })?;
        if let Some(error) = v.get("error") {
            return Err(ProtocolError::StreamError {
                kind: String::new(),
                message: begin(&error.to_string()),
            });
        }
        if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
            self.prompt_tokens = usage.get("prompt_tokens").and_then(Value::as_u64);
            self.completion_tokens = usage.get("completion_tokens").and_then(Value::as_u64);
        }
        let Some(choice) = v.pointer("/choices/0") else {
            if v.get("usage").is_some() || v.get("choices").is_some() {
                return Ok(());
            }
            return Err(ProtocolError::StreamForeign {
                what: "chunk",
                keys: "`choices` nor `usage`",
                begin: begin(data),
            });
        };
        let pointer = if self.chat { "/delta/content" } else { "/text" };
        let text = choice
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("");
        if !text.is_empty() {
            self.output_chars += text.chars().count() as u64;
            self.text_chunks += 1;
            self.first_ns.get_or_insert(t_ns);
            self.last_ns = t_ns;
        }
        if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
            self.finish_reason = true;
        }
        Ok(())
    }

    /// What the whole stream said; an error if it ended before `[DONE]` or a finish reason.
    fn finish(self: Box<Self>) -> Result<(Parsed, StreamTiming), ProtocolError> {
        if !self.done && !self.finish_reason {
            return Err(ProtocolError::StreamCut(format!(
                "`data: [DONE]` after {} chunks with text",
                self.text_chunks
            )));
        }
        let timing = StreamTiming::of_tokens(self.first_ns, self.last_ns, self.text_chunks);
        let parsed = Parsed {
            output_chars: self.output_chars,
            prompt_tokens: self.prompt_tokens,
            // Without a usage chunk, each chunk with text is one token (vLLM, llama.cpp).
            completion_tokens: self.completion_tokens.or(Some(self.text_chunks)),
        };
        Ok((parsed, timing))
    }
}

/// The first 200 characters of `s`, on one line.
pub(super) fn begin(s: &str) -> String {
    s.chars().take(200).collect::<String>().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_chunks_give_text_usage_and_timing() {
        let mut s = Box::new(OpenaiStream::new(false));
        let chunk = |t: &str| {
            format!(
                r#"{{"id":"c","object":"text_completion","choices":[{{"index":0,"text":"{t}","logprobs":null,"finish_reason":null}}],"usage":null}}"#
            )
        };
        s.event(&chunk("Hel"), 1_000_000).expect("chunk");
        s.event(&chunk("lo"), 3_000_000).expect("chunk");
        s.event(&chunk(" you"), 5_000_000).expect("chunk");
        s.event(r#"{"id":"c","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}}"#, 6_000_000)
            .expect("usage");
        s.event("[DONE]", 6_000_000).expect("done");
        let (p, t) = s.finish().expect("complete");
        assert_eq!(
            (p.output_chars, p.prompt_tokens, p.completion_tokens),
            (9, Some(4), Some(3))
        );
        assert_eq!(t.first_token_ns, Some(1_000_000));
        assert_eq!(t.mean_itl_ms, Some(2.0));
    }

    #[test]
    fn chat_deltas_skip_the_role_chunk_and_count_chunks_without_usage() {
        let mut s = Box::new(OpenaiStream::new(true));
        s.event(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            5,
        )
        .expect("role");
        s.event(r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#, 7)
            .expect("text");
        s.event(
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
            9,
        )
        .expect("end");
        let (p, t) = s.finish().expect("a finish reason ends it");
        assert_eq!((p.output_chars, p.completion_tokens), (2, Some(1)));
        assert_eq!((t.first_token_ns, t.mean_itl_ms), (Some(7), None));
    }

    #[test]
    fn broken_streams_are_errors() {
        let mut s = Box::new(OpenaiStream::new(false));
        assert!(s.event("{not json", 1).is_err());
        assert!(
            s.event(r#"{"error":{"message":"out of memory"}}"#, 1)
                .is_err()
        );
        s.event(r#"{"choices":[{"text":"a","finish_reason":null}]}"#, 1)
            .expect("chunk");
        assert!(
            s.finish()
                .expect_err("no [DONE]")
                .to_string()
                .contains("before `data: [DONE]`")
        );
    }
}
