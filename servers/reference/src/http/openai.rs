//! OpenAI routes: `POST /v1/completions`, `POST /v1/chat/completions` (with SSE streaming),
//! `GET /v1/models`. vLLM's `ignore_eos` and `min_tokens` are honoured.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, response::sse::Event};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{ApiError, Style, parse_body};
use super::state::{AppState, batch_headers};
use super::stream::{StreamEvent, TokenEvent, json_event, stream_generation};
use crate::generate::{FinishReason, Generation, GenerationParams};
use crate::inference::{check_prompt, prompt_ids};
use crate::registry::{ServedModel, Task};

const STYLE: Style = Style::OpenAi;
/// `max_tokens` of completions when the request gives none (OpenAI's default).
const DEFAULT_COMPLETION_TOKENS: usize = 16;
/// `max_tokens` of chat completions when the request gives none.
const DEFAULT_CHAT_TOKENS: usize = 256;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// `stream_options` of a request.
#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// Sampling and length fields common to completions and chat.
#[derive(Debug, Default, Deserialize)]
struct Sampling {
    model: Option<String>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    min_tokens: Option<i64>,
    #[serde(default)]
    ignore_eos: bool,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    n: Option<u64>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
}

impl Sampling {
    fn params(&self, default_max: usize) -> Result<GenerationParams, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::bad_request(STYLE, "only n = 1 is supported"));
        }
        let count = |name: &str, v: Option<i64>| -> Result<Option<usize>, ApiError> {
            v.map(|x| {
                usize::try_from(x).map_err(|_| {
                    ApiError::bad_request(STYLE, format!("{name} must not be negative, got {x}"))
                })
            })
            .transpose()
        };
        let max = count("max_completion_tokens", self.max_completion_tokens)?
            .or(count("max_tokens", self.max_tokens)?)
            .unwrap_or(default_max);
        let params = GenerationParams {
            max_new_tokens: max,
            min_new_tokens: count("min_tokens", self.min_tokens)?.unwrap_or(0),
            ignore_eos: self.ignore_eos,
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(1.0),
            seed: self.seed.unwrap_or(0),
        };
        params
            .validate()
            .map_err(|e| ApiError::from_model(STYLE, e))?;
        Ok(params)
    }

    fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }
}

fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::EndOfSequence => "stop",
        FinishReason::Cancelled => "abort",
    }
}

fn usage(g: &Generation) -> Value {
    json!({
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.tokens.len(),
        "total_tokens": g.prompt_tokens + g.tokens.len(),
    })
}

/// Formats OpenAI stream events: `token` turns each token into chunks (from the `head` of
/// every chunk); the end adds a usage chunk when `include_usage`, then `[DONE]`; a failure
/// sends an error object, then `[DONE]`.
fn stream_format(
    head: Value,
    include_usage: bool,
    token: impl Fn(&Value, TokenEvent) -> Vec<Event> + Send + 'static,
) -> impl FnMut(StreamEvent) -> Vec<Event> + Send + 'static {
    move |ev: StreamEvent| -> Vec<Event> {
        match ev {
            StreamEvent::Token(t) => token(&head, t),
            StreamEvent::Done(g) => {
                let mut out = Vec::new();
                if include_usage {
                    let mut chunk = head.clone();
                    chunk["choices"] = json!([]);
                    chunk["usage"] = usage(&g);
                    out.push(json_event(&chunk));
                }
                out.push(Event::default().data("[DONE]"));
                out
            }
            StreamEvent::Failed(m) => vec![
                json_event(
                    &json!({"error": {"message": m, "type": "server_error", "param": null, "code": null}}),
                ),
                Event::default().data("[DONE]"),
            ],
        }
    }
}

/// Token ids of a `prompt` field: a string, one string in an array, or token ids.
fn prompt_of(model: &ServedModel, prompt: &Value, max_new: usize) -> Result<Vec<u32>, ApiError> {
    let as_ids = |v: &[Value]| -> Option<Vec<u32>> {
        v.iter()
            .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
            .collect()
    };
    let ids = match prompt {
        Value::String(s) => prompt_ids(model, s, max_new),
        Value::Array(items) => match items.as_slice() {
            [Value::String(s)] => prompt_ids(model, s, max_new),
            [Value::Array(inner)] => {
                let ids = as_ids(inner).ok_or_else(|| {
                    ApiError::bad_request(STYLE, "prompt token ids must be integers")
                })?;
                check_prompt(model, &ids, max_new).map(|_| ids)
            }
            many if !many.is_empty() && many.iter().all(Value::is_number) => {
                let ids = as_ids(many).ok_or_else(|| {
                    ApiError::bad_request(STYLE, "prompt token ids must be integers")
                })?;
                check_prompt(model, &ids, max_new).map(|_| ids)
            }
            _ => {
                return Err(ApiError::bad_request(
                    STYLE,
                    "prompt must be one string or one list of token ids (no batches)",
                ));
            }
        },
        _ => return Err(ApiError::bad_request(STYLE, "prompt must be a string")),
    };
    ids.map_err(|e| ApiError::from_model(STYLE, e))
}

/// Body of `POST /v1/completions`.
#[derive(Debug, Deserialize)]
struct CompletionRequest {
    prompt: Value,
    #[serde(flatten)]
    sampling: Sampling,
}

/// `POST /v1/completions`.
pub async fn completions(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    completions_inner(state, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn completions_inner(state: Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: CompletionRequest = parse_body(STYLE, &body)?;
    let s = &req.sampling;
    let model = state.pick(STYLE, s.model.as_deref(), Task::Generation)?;
    let params = s.params(DEFAULT_COMPLETION_TOKENS)?;
    let prompt = prompt_of(&model, &req.prompt, params.max_new_tokens)?;
    let id = format!("cmpl-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let name = model.name.clone();
    let created = state.created;
    if s.stream {
        let include_usage = s.include_usage();
        let head =
            json!({"id": id, "object": "text_completion", "created": created, "model": name});
        let format = stream_format(head, include_usage, |head, t| {
            let mut chunk = head.clone();
            chunk["choices"] = json!([{"index": 0, "text": t.text, "logprobs": null,
                "finish_reason": t.finish.map(finish_str)}]);
            vec![json_event(&chunk)]
        });
        let sse = stream_generation(&state, STYLE, model, prompt, params, format).await?;
        return Ok(sse);
    }
    let (g, text, stats) = state.generate(STYLE, model, prompt, params).await?;
    let mut resp = Json(json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": name,
        "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish_str(g.finish)}],
        "usage": usage(&g),
    }))
    .into_response();
    batch_headers(&mut resp, stats);
    Ok(resp)
}

/// One chat message.
#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    content: Value,
}

/// Body of `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
struct ChatRequest {
    messages: Vec<Message>,
    #[serde(flatten)]
    sampling: Sampling,
}

/// Renders messages as `role: content` lines and an `assistant:` cue (no chat templates).
fn render_chat(messages: &[Message]) -> Result<String, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::bad_request(STYLE, "messages must not be empty"));
    }
    let mut out = String::new();
    for m in messages {
        let text = match &m.content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            Value::Null => String::new(),
            _ => {
                return Err(ApiError::bad_request(
                    STYLE,
                    "message content must be a string or a list of text parts",
                ));
            }
        };
        out.push_str(&format!("{}: {}\n", m.role, text));
    }
    out.push_str("assistant:");
    Ok(out)
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    chat_inner(state, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn chat_inner(state: Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: ChatRequest = parse_body(STYLE, &body)?;
    let s = &req.sampling;
    let model = state.pick(STYLE, s.model.as_deref(), Task::Generation)?;
    let text = render_chat(&req.messages)?;
    let params = if s.max_tokens.is_none() && s.max_completion_tokens.is_none() {
        let mut p = s.params(DEFAULT_CHAT_TOKENS)?;
        let prompt_len = model.tokenizer.encode(&text).map_or(0, |e| e.ids.len());
        let room = model.max_input_tokens.saturating_sub(prompt_len).max(1);
        p.max_new_tokens = p.max_new_tokens.min(room).max(p.min_new_tokens);
        p
    } else {
        s.params(DEFAULT_CHAT_TOKENS)?
    };
    let prompt = prompt_ids(&model, &text, params.max_new_tokens)
        .map_err(|e| ApiError::from_model(STYLE, e))?;
    let id = format!("chatcmpl-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let name = model.name.clone();
    let created = state.created;
    if s.stream {
        let include_usage = s.include_usage();
        let head =
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": name});
        let format = stream_format(head, include_usage, |head, t| {
            let mut out = Vec::new();
            if t.index == 0 {
                let mut first = head.clone();
                first["choices"] = json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]);
                out.push(json_event(&first));
            }
            let mut chunk = head.clone();
            chunk["choices"] = json!([{"index": 0, "delta": {"content": t.text}, "logprobs": null,
                "finish_reason": t.finish.map(finish_str)}]);
            out.push(json_event(&chunk));
            out
        });
        let sse = stream_generation(&state, STYLE, model, prompt, params, format).await?;
        return Ok(sse);
    }
    let (g, text, stats) = state.generate(STYLE, model, prompt, params).await?;
    let mut resp = Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": null,
            "finish_reason": finish_str(g.finish)}],
        "usage": usage(&g),
    }))
    .into_response();
    batch_headers(&mut resp, stats);
    Ok(resp)
}

/// `GET /v1/models`: every model with its task, parameter count and tokenizer.
pub async fn models(State(state): State<Arc<AppState>>) -> Response {
    let reg = match state.registry(STYLE) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let data: Vec<Value> = reg
        .models()
        .iter()
        .map(|m| {
            json!({
                "id": m.name,
                "object": "model",
                "created": state.created,
                "owned_by": "joulebench",
                "task": m.task.as_str(),
                "architecture": m.architecture,
                "parameters": m.parameters,
                "active_parameters": m.active_parameters,
                "weights": m.weights,
                "techniques": m.techniques(),
                "source": m.source,
                "tokenizer": m.tokenizer.describe(),
                "builtin_tokenizer": m.tokenizer.is_builtin(),
                "max_model_len": m.max_input_tokens,
                "labels": m.labels(),
            })
        })
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}
