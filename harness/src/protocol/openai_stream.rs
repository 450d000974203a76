//! OpenAI streamed answers: `data: {chunk}` events ending with `data: [DONE]`.
//!
//! Each chunk carries text in `choices[0].text` (completions) or
//! `choices[0].delta.content` (chat); with `stream_options.include_usage` the last chunk
//! before `[DONE]` carries `usage` and no choices.

use super::{Parsed, ProtocolError, StreamDecoder};
use records::tokens::TokenSource;
use serde_json::Value;

/// Token timing and count origin of a streamed answer, on the run's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamTiming {
    /// When the first event with text arrived (ns).
    pub first_token_ns: Option<u64>,
    /// Mean time between successive events with text (ms), when there were two or more.
    pub mean_itl_ms: Option<f64>,
    /// Median time between successive events with text (ms), when there were two or more:
    /// events read in one burst show gaps of microseconds, whatever the mean.
    pub itl_p50_ms: Option<f64>,
    /// Where the completion-token count came from: the server's own (`usage`), or the
    /// stream's content events counted.
    pub completion_tokens_source: Option<TokenSource>,
}

impl StreamTiming {
    /// Timing of text-carrying events that arrived at `text_ns` (in arrival order), with
    /// the count's origin.
    pub(super) fn of_tokens(text_ns: &[u64], source: TokenSource) -> Self {
        let mut gaps: Vec<u64> = text_ns
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .collect();
        gaps.sort_unstable();
        let mean_itl_ms = match (text_ns.first(), text_ns.last()) {
            (Some(first), Some(last)) if !gaps.is_empty() => {
                Some(last.saturating_sub(*first) as f64 / 1e6 / gaps.len() as f64)
            }
            _ => None,
        };
        let itl_p50_ms = match gaps.len() {
            0 => None,
            n if n % 2 == 1 => Some(gaps[n / 2] as f64 / 1e6),
            n => Some((gaps[n / 2 - 1] + gaps[n / 2]) as f64 / 2e6),
        };
        Self {
            first_token_ns: text_ns.first().copied(),
            mean_itl_ms,
            itl_p50_ms,
            completion_tokens_source: Some(source),
        }
    }
}

/// A streamed answer being read, one event at a time.
#[derive(Debug)]
pub struct OpenaiStream {
    chat: bool,
    output_chars: u64,
    /// The text of the chunks, joined.
    text: String,
    /// Arrival times of the chunks with text.
    text_ns: Vec<u64>,
    /// Chunks that stand for one generated token, with text or empty.
    content_events: u64,
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
            text: String::new(),
            text_ns: Vec::new(),
            content_events: 0,
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
        let finished = choice.get("finish_reason").is_some_and(|f| !f.is_null());
        let role = choice.pointer("/delta/role").is_some();
        match choice.pointer(pointer).and_then(Value::as_str) {
            Some(text) if !text.is_empty() => {
                self.output_chars += text.chars().count() as u64;
                self.text.push_str(text);
                self.content_events += 1;
                self.text_ns.push(t_ns);
            }
            // An empty chunk stands for a token the server held back (an incomplete
            // character, a possible stop string: llama-cpp-python); the role chunk and a
            // bare finish chunk do not.
            Some(_) if !role && !finished => self.content_events += 1,
            _ => {}
        }
        if finished {
            self.finish_reason = true;
        }
        Ok(())
    }

    /// What the whole stream said; an error if it ended before `[DONE]` or a finish reason.
    fn finish(self: Box<Self>) -> Result<(Parsed, StreamTiming), ProtocolError> {
        if !self.done && !self.finish_reason {
            return Err(ProtocolError::StreamCut(format!(
                "`data: [DONE]` after {} chunks with text",
                self.text_ns.len()
            )));
        }
        // The server's usage when it sent one; otherwise every content chunk is one token
        // (vLLM, llama.cpp send one chunk per token, empty ones included).
        let (completion_tokens, source) = match self.completion_tokens {
            Some(n) => (n, TokenSource::Usage),
            None => (self.content_events, TokenSource::Events),
        };
        let timing = StreamTiming::of_tokens(&self.text_ns, source);
        let parsed = Parsed {
            output_chars: self.output_chars,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: Some(completion_tokens),
            answer: Some(self.text),
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
        assert_eq!(t.completion_tokens_source, Some(TokenSource::Usage));
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
    fn without_usage_every_content_chunk_counts_empty_ones_too() {
        // llama-cpp-python ignores `include_usage` and holds tokens back in empty chunks.
        let chunk = |t: &str, finish: &str| {
            format!(r#"{{"choices":[{{"index":0,"text":"{t}","finish_reason":{finish}}}]}}"#)
        };
        let mut s = Box::new(OpenaiStream::new(false));
        s.event(&chunk("po", "null"), 1_000_000).expect("text");
        s.event(&chunk("", "null"), 2_000_000).expect("held back");
        s.event(&chunk("si", "null"), 3_000_000).expect("text");
        s.event(&chunk("tive", "null"), 5_000_000).expect("text");
        s.event(&chunk("", "\"length\""), 6_000_000)
            .expect("bare finish");
        s.event("[DONE]", 6_000_000).expect("done");
        let (p, t) = s.finish().expect("complete");
        assert_eq!((p.output_chars, p.completion_tokens), (8, Some(4)));
        assert_eq!(t.completion_tokens_source, Some(TokenSource::Events));
        assert_eq!((t.mean_itl_ms, t.itl_p50_ms), (Some(2.0), Some(2.0)));
    }

    #[test]
    fn the_median_gap_tells_a_burst_the_mean_does_not() {
        let t = StreamTiming::of_tokens(
            &[0, 40_000_000, 40_000_000, 40_000_010, 40_000_020],
            TokenSource::Usage,
        );
        let mean = t.mean_itl_ms.expect("a mean");
        assert!((mean - 10.000005).abs() < 1e-9, "{mean}");
        assert_eq!(t.itl_p50_ms, Some(0.00001));
        assert_eq!(t.completion_tokens_source, Some(TokenSource::Usage));
        let one = StreamTiming::of_tokens(&[7], TokenSource::Events);
        assert_eq!(
            (one.first_token_ns, one.mean_itl_ms, one.itl_p50_ms),
            (Some(7), None, None)
        );
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
