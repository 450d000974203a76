//! Whole OpenAI answers read straight into the few fields used, without building a JSON
//! tree (the request loop's hot path). An answer this view cannot take is read the
//! general way, through a `serde_json::Value`, which also words the error.

use super::{Parsed, chars};
use serde::Deserialize;

/// Where the answer's text is.
#[derive(Clone, Copy, Debug)]
pub(super) enum TextField {
    /// `choices[0].text` (completions).
    Text,
    /// `choices[0].message.content` (chat completions).
    MessageContent,
}

/// The fields of an answer that are read; the others are skipped unread.
#[derive(Deserialize)]
struct Answer {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// What a plainly shaped answer says; `None` for anything else (another shape, a wrong
/// type, a duplicate key, not JSON), which is then read the general way.
pub(super) fn read(body: &[u8], field: TextField) -> Option<Parsed> {
    let answer: Answer = serde_json::from_slice(body).ok()?;
    let usage = answer.usage.as_ref();
    let (prompt_tokens, completion_tokens) = (
        usage.and_then(|u| u.prompt_tokens),
        usage.and_then(|u| u.completion_tokens),
    );
    let choice = answer.choices.into_iter().next()?;
    let text = match field {
        TextField::Text => choice.text?,
        TextField::MessageContent => choice.message?.content?,
    };
    Some(Parsed {
        output_chars: chars(&text),
        prompt_tokens,
        completion_tokens,
        answer: Some(text),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{OpenaiChat, OpenaiCompletions, Protocol, parse_json};
    use super::*;

    /// Each body as (completions answer, chat answer), and whether the direct view takes it.
    const BODIES: [(&str, &str, bool); 12] = [
        (
            r#"{"id":"c","object":"text_completion","created":0,"model":"m","choices":[{"text":" positive","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":17,"completion_tokens":4,"total_tokens":21}}"#,
            r#"{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":" positive","tool_calls":[]},"finish_reason":"stop"}],"usage":{"prompt_tokens":17,"completion_tokens":4}}"#,
            true,
        ),
        (
            r#"{"choices":[{"text":"two\nlines \u00e9 \"q\""}]}"#,
            r#"{"choices":[{"message":{"content":"two\nlines \u00e9 \"q\""}}]}"#,
            true,
        ),
        (
            r#"{"choices":[{"text":"a"},{"text":"b"}],"usage":null}"#,
            r#"{"choices":[{"message":{"content":"a"}},{"message":{"content":"b"}}],"usage":null}"#,
            true,
        ),
        (
            r#"{"choices":[{"text":""}],"usage":{"prompt_tokens":7.5,"completion_tokens":2}}"#,
            r#"{"choices":[{"message":{"content":""}}],"usage":{"prompt_tokens":7.5,"completion_tokens":2}}"#,
            false,
        ),
        (
            r#"{"choices":[{"text":"x"}],"usage":{"prompt_tokens":-1}}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":-1}}"#,
            false,
        ),
        (
            r#"{"choices":[{"text":"x"}],"usage":"none"}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":"none"}"#,
            false,
        ),
        (
            r#"{"choices":[{"text":"x","text":"y"}]}"#,
            r#"{"choices":[{"message":{"content":"x","content":"y"}}]}"#,
            false,
        ),
        (
            r#"{"choices":{"0":{"text":"keyed"}}}"#,
            r#"{"choices":{"0":{"message":{"content":"keyed"}}}}"#,
            false,
        ),
        (r#"{"choices":[]}"#, r#"{"choices":[]}"#, false),
        (
            r#"{"choices":[{"text":null}]}"#,
            r#"{"choices":[{"message":{"content":null}}]}"#,
            false,
        ),
        (
            r#"{"choices":[{"text":3}]}"#,
            r#"{"choices":[{"message":"hi"}]}"#,
            false,
        ),
        ("<html>", "[1, 2", false),
    ];

    /// Whatever the body, the protocols answer exactly as the general reading does, and the
    /// plainly shaped answers are taken by the direct view.
    #[test]
    fn the_direct_view_agrees_with_the_general_reading() {
        for (completion, chat, direct) in BODIES {
            for (protocol, body, field) in [
                (
                    &OpenaiCompletions as &dyn Protocol,
                    completion,
                    TextField::Text,
                ),
                (
                    &OpenaiChat as &dyn Protocol,
                    chat,
                    TextField::MessageContent,
                ),
            ] {
                let general = parse_json(protocol, body.as_bytes()).map_err(|e| e.to_string());
                let got = protocol
                    .parse_body(body.as_bytes())
                    .map_err(|e| e.to_string());
                assert_eq!(got, general, "{body}");
                let viewed = read(body.as_bytes(), field);
                assert_eq!(viewed.is_some(), direct, "{body}");
                if let Some(viewed) = viewed {
                    assert_eq!(Ok(viewed), general, "{body}");
                }
            }
        }
    }
}
