//! Text Generation Inference routes: `POST /generate` and `POST /generate_stream`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::error::{ApiError, Style, parse_body};
use super::state::{AppState, batch_headers};
use super::stream::{StreamEvent, json_event, stream_generation};
use crate::generate::{FinishReason, GenerationParams};
use crate::inference::prompt_ids;
use crate::registry::Task;

const STYLE: Style = Style::Tgi;
/// `max_new_tokens` when the request gives none.
const DEFAULT_NEW_TOKENS: usize = 20;

/// `parameters` of a TGI request.
#[derive(Debug, Default, Deserialize)]
struct Parameters {
    max_new_tokens: Option<i64>,
    #[serde(default)]
    details: bool,
    #[serde(default)]
    do_sample: bool,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    #[serde(default)]
    return_full_text: bool,
    /// Extension: keep going after end-of-sequence.
    #[serde(default)]
    ignore_eos: bool,
    /// Extension: suppress end-of-sequence before this many tokens.
    min_new_tokens: Option<i64>,
}

/// Body of `POST /generate`.
#[derive(Debug, Deserialize)]
struct GenerateRequest {
    inputs: String,
    #[serde(default)]
    parameters: Parameters,
    /// Extension: which model (the first generator otherwise).
    model: Option<String>,
}

fn params(p: &Parameters) -> Result<GenerationParams, ApiError> {
    let count = |name: &str, v: Option<i64>| -> Result<Option<usize>, ApiError> {
        v.map(|x| {
            usize::try_from(x)
                .ok()
                .filter(|&n| n > 0 || name != "max_new_tokens")
                .ok_or_else(|| {
                    ApiError::bad_request(
                        STYLE,
                        format!("Input validation error: `{name}` must be strictly positive"),
                    )
                })
        })
        .transpose()
    };
    let sampled = p.do_sample || p.temperature.is_some_and(|t| t != 1.0) || p.top_p.is_some();
    let g = GenerationParams {
        max_new_tokens: count("max_new_tokens", p.max_new_tokens)?.unwrap_or(DEFAULT_NEW_TOKENS),
        min_new_tokens: count("min_new_tokens", p.min_new_tokens)?.unwrap_or(0),
        ignore_eos: p.ignore_eos,
        temperature: if sampled {
            p.temperature.unwrap_or(1.0)
        } else {
            0.0
        },
        top_p: p.top_p.unwrap_or(1.0),
        seed: p.seed.unwrap_or(0),
    };
    if p.temperature.is_some_and(|t| t <= 0.0) {
        return Err(ApiError::bad_request(
            STYLE,
            "Input validation error: `temperature` must be strictly positive",
        ));
    }
    g.validate()
        .map_err(|e| ApiError::bad_request(STYLE, format!("Input validation error: {e}")))?;
    Ok(g)
}

fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::EndOfSequence => "eos_token",
        FinishReason::Cancelled => "stop_sequence",
    }
}

/// `POST /generate` → `{generated_text, details?}`.
pub async fn generate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    generate_inner(state, body, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /generate_stream` → SSE of `{token, generated_text, details}`.
pub async fn generate_stream(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    generate_inner(state, body, true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn generate_inner(
    state: Arc<AppState>,
    body: Bytes,
    stream: bool,
) -> Result<Response, ApiError> {
    let req: GenerateRequest = parse_body(STYLE, &body)?;
    let model = state.pick(STYLE, req.model.as_deref(), Task::Generation)?;
    let p = params(&req.parameters)?;
    let prompt = prompt_ids(&model, &req.inputs, p.max_new_tokens)
        .map_err(|e| ApiError::from_model(STYLE, e))?;
    let seed = req.parameters.seed;
    let prefix = if req.parameters.return_full_text {
        req.inputs.clone()
    } else {
        String::new()
    };
    if stream {
        let details = req.parameters.details;
        let format = move |ev: StreamEvent| -> Vec<Event> {
            match ev {
                StreamEvent::Token(t) => {
                    let last = t.finish.is_some();
                    let special = false;
                    vec![json_event(&json!({
                        "index": t.index,
                        "token": {"id": t.id, "text": t.text, "logprob": 0.0, "special": special},
                        "generated_text": t.full_text.map(|s| format!("{prefix}{s}")),
                        "details": if last && details { json!({"finish_reason": t.finish.map(finish_str),
                            "generated_tokens": t.index + 1, "seed": seed}) } else { Value::Null },
                    }))]
                }
                StreamEvent::Done(_) => Vec::new(),
                StreamEvent::Failed(m) => {
                    vec![json_event(&json!({"error": m, "error_type": "generation"}))]
                }
            }
        };
        let sse = stream_generation(&state, STYLE, model, prompt, p, format).await?;
        return Ok(sse);
    }
    let details = req.parameters.details;
    let (g, text, stats) = state.generate(STYLE, model, prompt, p).await?;
    let mut out = json!({"generated_text": format!("{prefix}{text}")});
    if details {
        out["details"] = json!({
            "finish_reason": finish_str(g.finish),
            "generated_tokens": g.tokens.len(),
            "seed": seed,
            "prefill": [],
            "tokens": g.tokens.iter().map(|id| json!({"id": id, "logprob": 0.0, "special": false})).collect::<Vec<_>>(),
        });
    }
    let mut resp = Json(out).into_response();
    batch_headers(&mut resp, stats);
    let h = resp.headers_mut();
    if let Ok(v) = g.tokens.len().to_string().parse() {
        h.insert("x-generated-tokens", v);
    }
    if let Ok(v) = g.prompt_tokens.to_string().parse() {
        h.insert("x-prompt-tokens", v);
    }
    Ok(resp)
}
