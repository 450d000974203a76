//! TGI streamed answers (`POST /generate_stream`): one `data: {token, generated_text, details}`
//! event per generated token.
//!
//! The last event carries `generated_text` (and, with `details: true`, `details` with
//! `generated_tokens`); the stream then simply ends, with no `[DONE]`. Errors come as
//! `data: {"error": "...", "error_type": "..."}`.

use super::openai_stream::begin;
use super::{Parsed, ProtocolError, StreamDecoder, StreamTiming, chars};
use records::tokens::TokenSource;
use serde_json::Value;

/// A TGI token stream being read, one event at a time.
#[derive(Debug, Default)]
pub struct TgiStream {
    token_events: u64,
    /// Arrival times of the token events with text.
    text_ns: Vec<u64>,
    /// The last event's `generated_text`.
    generated: Option<String>,
    generated_tokens: Option<u64>,
    input_length: Option<u64>,
}

impl StreamDecoder for TgiStream {
    /// Whether the event with `generated_text` was read.
    fn done(&self) -> bool {
        self.generated.is_some()
    }

    /// Reads one event's data, received at `t_ns`.
    fn event(&mut self, data: &str, t_ns: u64) -> Result<(), ProtocolError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| ProtocolError::StreamNotJson {
            what: "event",
            reason: e.to_string(),
            begin: begin(data),
        })?;
        if let Some(error) = v.get("error").filter(|e| !e.is_null()) {
            let message = error
                .as_str()
                .map_or_else(|| error.to_string(), str::to_string);
            let kind = v
                .get("error_type")
                .and_then(Value::as_str)
                .map(|k| format!(" ({k})"))
                .unwrap_or_default();
            return Err(ProtocolError::StreamError {
                kind,
                message: begin(&message),
            });
        }
        let Some(token) = v.get("token").filter(|t| t.is_object()) else {
            return Err(ProtocolError::StreamForeign {
                what: "event",
                keys: "`token` nor `error`",
                begin: begin(data),
            });
        };
        self.token_events += 1;
        let special = token
            .get("special")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let text = token.get("text").and_then(Value::as_str).unwrap_or("");
        if !special && !text.is_empty() {
            self.text_ns.push(t_ns);
        }
        if let Some(generated) = v.get("generated_text").and_then(Value::as_str) {
            self.generated = Some(generated.to_string());
            self.generated_tokens = v
                .pointer("/details/generated_tokens")
                .and_then(Value::as_u64);
            self.input_length = v.pointer("/details/input_length").and_then(Value::as_u64);
        }
        Ok(())
    }

    /// What the whole stream said; an error if it ended before the event with `generated_text`.
    fn finish(self: Box<Self>) -> Result<(Parsed, StreamTiming), ProtocolError> {
        let Some(generated) = self.generated else {
            return Err(ProtocolError::StreamCut(format!(
                "the event with `generated_text`, after {} token events",
                self.token_events
            )));
        };
        // The server's own count when details came; otherwise each token event is one
        // generated token (special ones too).
        let (completion_tokens, source) = match self.generated_tokens {
            Some(n) => (n, TokenSource::Usage),
            None => (self.token_events, TokenSource::Events),
        };
        let parsed = Parsed {
            output_chars: chars(&generated),
            prompt_tokens: self.input_length,
            completion_tokens: Some(completion_tokens),
            answer: Some(generated),
        };
        let timing = StreamTiming::of_tokens(&self.text_ns, source);
        Ok((parsed, timing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A token event as TGI sends it; `last` adds `generated_text` and `details`.
    fn token(index: u64, text: &str, special: bool, last: Option<(&str, Value)>) -> String {
        let (generated, details) = match last {
            Some((text, details)) => (json!(text), details),
            None => (Value::Null, Value::Null),
        };
        json!({
            "index": index,
            "token": {"id": 100 + index, "text": text, "logprob": -0.5, "special": special},
            "generated_text": generated,
            "details": details,
        })
        .to_string()
    }

    fn details(generated_tokens: u64) -> Value {
        json!({"finish_reason": "length", "generated_tokens": generated_tokens, "seed": null})
    }

    #[test]
    fn a_whole_stream_gives_text_details_and_timing() {
        let mut s = Box::new(TgiStream::default());
        s.event(&token(1, "Hel", false, None), 1_000_000)
            .expect("token");
        assert!(!s.done());
        s.event(&token(2, "lo", false, None), 4_000_000)
            .expect("token");
        s.event(
            &token(3, " you", false, Some(("Hello you", details(3)))),
            7_000_000,
        )
        .expect("last token");
        assert!(s.done());
        let (p, t) = s.finish().expect("complete");
        assert_eq!(
            (p.output_chars, p.prompt_tokens, p.completion_tokens),
            (9, None, Some(3))
        );
        assert_eq!(t.first_token_ns, Some(1_000_000));
        assert_eq!(t.mean_itl_ms, Some(3.0));
        assert_eq!(t.completion_tokens_source, Some(TokenSource::Usage));
    }

    #[test]
    fn special_tokens_neither_start_the_clock_nor_add_gaps_but_count_as_tokens() {
        let mut s = Box::new(TgiStream::default());
        s.event(&token(1, "<pad>", true, None), 10)
            .expect("special");
        s.event(&token(2, "", false, None), 20)
            .expect("an incomplete character");
        s.event(&token(3, "ok", false, None), 30).expect("text");
        s.event(&token(4, "!", false, None), 50).expect("text");
        s.event(&token(5, "</s>", true, Some(("ok!", details(5)))), 90)
            .expect("end of sequence");
        let (p, t) = s.finish().expect("complete");
        assert_eq!((p.output_chars, p.completion_tokens), (3, Some(5)));
        assert_eq!(t.first_token_ns, Some(30));
        assert_eq!(t.mean_itl_ms, Some(20.0 / 1e6));
    }

    #[test]
    fn without_details_the_token_events_are_counted() {
        let mut s = Box::new(TgiStream::default());
        s.event(&token(1, "a", false, None), 5).expect("token");
        s.event(&token(2, "</s>", true, Some(("a", Value::Null))), 6)
            .expect("last token without details");
        let (p, t) = s.finish().expect("complete");
        assert_eq!(
            (p.output_chars, p.completion_tokens, p.prompt_tokens),
            (1, Some(2), None)
        );
        assert_eq!(t.completion_tokens_source, Some(TokenSource::Events));
        assert_eq!((t.first_token_ns, t.mean_itl_ms), (Some(5), None));
    }

    #[test]
    fn input_length_of_recent_tgi_is_the_prompt_token_count() {
        let mut s = Box::new(TgiStream::default());
        let d = json!({"finish_reason": "eos_token", "generated_tokens": 1, "seed": null, "input_length": 12});
        s.event(&token(1, "x", false, Some(("x", d))), 1)
            .expect("last token");
        let (p, _) = s.finish().expect("complete");
        assert_eq!((p.prompt_tokens, p.completion_tokens), (Some(12), Some(1)));
    }

    #[test]
    fn an_error_event_is_an_error_with_its_message() {
        let mut s = Box::new(TgiStream::default());
        s.event(&token(1, "a", false, None), 1).expect("token");
        let e = s
            .event(
                r#"{"error":"Request failed during generation: Server error: CUDA out of memory","error_type":"generation"}"#,
                2,
            )
            .expect_err("an error event")
            .to_string();
        assert!(e.contains("CUDA out of memory"), "{e}");
        assert!(e.contains("(generation)"), "{e}");
    }

    #[test]
    fn a_truncated_or_foreign_stream_is_an_error() {
        let mut s = Box::new(TgiStream::default());
        s.event(&token(1, "a", false, None), 1).expect("token");
        s.event(&token(2, "b", false, None), 2).expect("token");
        let e = s.finish().expect_err("no generated_text").to_string();
        assert!(e.contains("before the event with `generated_text`"), "{e}");
        assert!(e.contains("after 2 token events"), "{e}");
        let mut s = Box::new(TgiStream::default());
        assert!(s.event("{not json", 1).is_err());
        assert!(
            s.event(r#"{"choices":[{"text":"a"}]}"#, 1)
                .expect_err("an OpenAI chunk")
                .to_string()
                .contains("neither `token` nor `error`")
        );
        assert!(s.event("  ", 1).is_ok(), "an empty event is skipped");
    }
}
