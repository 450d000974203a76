//! Whole OpenAI answers read straight into the few fields used, without building a JSON
//! tree (the request loop's hot path). An answer this view cannot take is read the
//! general way, through a `serde_json::Value`, which also words the error; so is one that
//! the view could take but the general reading might refuse in a field the view skips.

use super::{Parsed, chars};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use std::marker::PhantomData;

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
    choices: Vec<Object<Choice>>,
    #[serde(default)]
    usage: Option<Object<Usage>>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    message: Option<Object<Message>>,
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

/// `T` read from a JSON object only (a derived struct would also take an array).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectOnly(PhantomData))
            .map(Object)
    }
}

/// What a plainly shaped answer says; `None` for anything else (another shape, a wrong
/// type, a duplicate key, not JSON), which is then read the general way.
pub(super) fn read(body: &[u8], field: TextField) -> Option<Parsed> {
    if !plain_json(body) {
        return None;
    }
    let Object(answer) = serde_json::from_slice::<Object<Answer>>(body).ok()?;
    let usage = answer.usage.as_ref().map(|Object(usage)| usage);
    let (prompt_tokens, completion_tokens) = (
        usage.and_then(|u| u.prompt_tokens),
        usage.and_then(|u| u.completion_tokens),
    );
    let Object(choice) = answer.choices.into_iter().next()?;
    let text = match field {
        TextField::Text => choice.text?,
        TextField::MessageContent => choice.message?.0.content?,
    };
    Some(Parsed {
        output_chars: chars(&text),
        prompt_tokens,
        completion_tokens,
        answer: Some(text),
    })
}

/// Whether `body` holds nothing the view would pass over that the general reading refuses
/// in a field the view skips unread: it is UTF-8, no string has a `\uD800`–`\uDFFF` escape
/// (a surrogate, lone or paired), no number has an exponent or more than 300 digits
/// (either may be out of range), and arrays and objects nest at most 100 deep (the general
/// reading stops at 128). What fails here is read the general way.
fn plain_json(body: &[u8]) -> bool {
    if std::str::from_utf8(body).is_err() {
        return false;
    }
    let (mut at, mut digits, mut depth) = (0, 0usize, 0usize);
    while let Some(&byte) = body.get(at) {
        at += 1;
        match byte {
            b'"' => {
                // To the string's end, a quote or escape at a time.
                loop {
                    let rest = body.get(at..).unwrap_or_default();
                    let Some(next) = memchr::memchr2(b'"', b'\\', rest) else {
                        return true; // unterminated: the reading refuses it either way
                    };
                    at += next;
                    if body[at] == b'"' {
                        at += 1;
                        break;
                    }
                    let surrogate = body.get(at + 1) == Some(&b'u')
                        && matches!(body.get(at + 2), Some(b'd' | b'D'))
                        && matches!(
                            body.get(at + 3),
                            Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
                        );
                    if surrogate {
                        return false;
                    }
                    at += 2;
                }
                digits = 0;
            }
            b'0'..=b'9' => {
                digits += 1;
                if digits > 300 {
                    return false;
                }
            }
            b'e' | b'E' if digits > 0 => return false,
            b'.' | b'-' | b'+' => {}
            b'[' | b'{' => {
                depth += 1;
                if depth > 100 {
                    return false;
                }
                digits = 0;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                digits = 0;
            }
            _ => digits = 0,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::{OpenaiChat, OpenaiCompletions, Protocol, parse_json};
    use super::*;

    /// Each body as (completions answer, chat answer), and whether the direct view takes it.
    const BODIES: &[(&str, &str, bool)] = &[
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
        // Cut off in an escape, and in a string.
        (
            r#"{"choices":[{"text":"x\"#,
            r#"{"choices":[{"message":{"content":"\"#,
            false,
        ),
        (
            r#"{"choices":[{"text":"x"#,
            r#"{"choices":[{"message":{"content":"#,
            false,
        ),
        // Arrays where objects belong (a derived struct would take them as sequences).
        (
            r#"{"choices":[["seq"]]}"#,
            r#"{"choices":[{"message":["chat"]}]}"#,
            false,
        ),
        (r#"[[["top"]]]"#, r#"[[[["top"]]]]"#, false),
        (
            r#"{"choices":[{"text":"x"}],"usage":[17,4]}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":[17,4]}"#,
            false,
        ),
        // What the general reading refuses in fields the view skips.
        (
            r#"{"created":1e400,"choices":[{"text":"x"}]}"#,
            r#"{"created":1e400,"choices":[{"message":{"content":"x"}}]}"#,
            false,
        ),
        (
            r#"{"id":"\ud800","choices":[{"text":"x"}]}"#,
            r#"{"id":"\ud800","choices":[{"message":{"content":"x"}}]}"#,
            false,
        ),
        (
            r#"{"n":100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000,"choices":[{"text":"x"}]}"#,
            r#"{"n":100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000,"choices":[{"message":{"content":"x"}}]}"#,
            false,
        ),
        // An escaped backslash before "ud800" is no surrogate: the view takes it.
        (
            r#"{"id":"\\ud800","choices":[{"text":"x"}]}"#,
            r#"{"id":"\\ud800","choices":[{"message":{"content":"x"}}]}"#,
            true,
        ),
        // Nesting the general reading refuses (over 128 deep) in a skipped field.
        (
            r#"{"choices":[{"text":"x"}],"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
            false,
        ),
        // A pair of surrogates is read the general way too (and agrees).
        (
            r#"{"choices":[{"text":"\ud83d\ude00"}]}"#,
            r#"{"choices":[{"message":{"content":"\ud83d\ude00"}}]}"#,
            false,
        ),
        // Digits and e in strings, and true/false, do not send an answer the general way.
        (
            r#"{"id":"cmpl-9e8f","created":1700000000,"choices":[{"text":"1e5 true","logprobs":null}],"ok":true,"x":-1.25}"#,
            r#"{"id":"chat-9e8f","choices":[{"message":{"content":"1e5","refusal":false}}],"x":-0.5}"#,
            true,
        ),
    ];

    /// Whatever the body, the protocols answer exactly as the general reading does, and the
    /// plainly shaped answers are taken by the direct view.
    #[test]
    fn the_direct_view_agrees_with_the_general_reading() {
        for &(completion, chat, direct) in BODIES {
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

    /// A body that is not UTF-8 in a field the view skips is refused as the general reading
    /// refuses it.
    #[test]
    fn a_body_that_is_not_utf8_is_read_the_general_way() {
        let body = b"{\"id\":\"\xff\",\"choices\":[{\"text\":\"x\"}]}";
        assert!(read(body, TextField::Text).is_none());
        let general = parse_json(&OpenaiCompletions, body).map_err(|e| e.to_string());
        assert!(general.is_err());
        let got = OpenaiCompletions
            .parse_body(body)
            .map_err(|e| e.to_string());
        assert_eq!(got, general);
    }
}
