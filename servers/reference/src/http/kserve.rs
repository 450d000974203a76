//! KServe v2 / Open Inference Protocol routes: `POST /v2/models/{name}/infer` with BYTES
//! tensors of text, model metadata and readiness, server health.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::error::{ApiError, Style, parse_body};
use super::state::AppState;
use crate::generate::GenerationParams;
use crate::inference::{answer, classify, complete, prompt_ids};
use crate::registry::{ServedModel, Task};

const STYLE: Style = Style::KServe;

/// One input tensor.
#[derive(Debug, Deserialize)]
struct InputTensor {
    name: String,
    #[serde(default)]
    datatype: String,
    #[serde(default)]
    data: Value,
}

/// Body of an infer request.
#[derive(Debug, Deserialize)]
struct InferRequest {
    id: Option<String>,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    parameters: serde_json::Map<String, Value>,
}

/// Flattens (possibly nested) BYTES data into strings.
fn strings(t: &InputTensor) -> Result<Vec<String>, ApiError> {
    if !t.datatype.is_empty() && t.datatype != "BYTES" {
        return Err(ApiError::bad_request(
            STYLE,
            format!("input `{}` must be BYTES, not {}", t.name, t.datatype),
        ));
    }
    fn walk(v: &Value, out: &mut Vec<String>) -> bool {
        match v {
            Value::String(s) => {
                out.push(s.clone());
                true
            }
            Value::Array(a) => a.iter().all(|x| walk(x, out)),
            _ => false,
        }
    }
    let mut out = Vec::new();
    if !walk(&t.data, &mut out) || out.is_empty() {
        return Err(ApiError::bad_request(
            STYLE,
            format!("input `{}` must hold UTF-8 strings", t.name),
        ));
    }
    Ok(out)
}

fn input<'a>(req: &'a InferRequest, names: &[&str]) -> Option<&'a InputTensor> {
    names
        .iter()
        .find_map(|n| req.inputs.iter().find(|t| t.name == *n))
}

fn tensor(name: &str, datatype: &str, shape: &[usize], data: Value) -> Value {
    json!({"name": name, "datatype": datatype, "shape": shape, "data": data})
}

fn model_of(state: &AppState, name: &str) -> Result<Arc<ServedModel>, ApiError> {
    state
        .registry(STYLE)?
        .get(name)
        .ok_or_else(|| ApiError::unknown_model(STYLE, name))
}

/// `POST /v2/models/{name}/infer`.
pub async fn infer(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    infer_inner(state, name, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v2/models/{name}/versions/{version}/infer`.
pub async fn infer_version(
    State(state): State<Arc<AppState>>,
    Path((name, _version)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    infer_inner(state, name, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn infer_inner(
    state: Arc<AppState>,
    name: String,
    body: Bytes,
) -> Result<Response, ApiError> {
    let model = model_of(&state, &name)?;
    let req: InferRequest = parse_body(STYLE, &body)?;
    let text_names = ["text", "text_input", "input", "inputs", "INPUT0"];
    let outputs = match model.task {
        Task::Classification => {
            let t = input(&req, &text_names)
                .or_else(|| req.inputs.first())
                .ok_or_else(|| ApiError::bad_request(STYLE, "no input tensor"))?;
            let texts = strings(t)?;
            let truncate = req
                .parameters
                .get("truncate")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let m = model.clone();
            let results = state
                .run(STYLE, move || {
                    texts
                        .iter()
                        .map(|t| classify(&m, t, truncate))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
            let n = results.len();
            let labels = model.labels().len();
            let mut best_label = Vec::new();
            let mut best_score = Vec::new();
            let mut logits = Vec::new();
            for c in &results {
                let (i, p) = c
                    .probabilities
                    .iter()
                    .enumerate()
                    .fold((0, f32::MIN), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
                best_label.push(c.labels.get(i).cloned().unwrap_or_default());
                best_score.push(p);
                logits.extend(c.logits.iter().copied());
            }
            vec![
                tensor("label", "BYTES", &[n], json!(best_label)),
                tensor("score", "FP32", &[n], json!(best_score)),
                tensor("logits", "FP32", &[n, labels], json!(logits)),
            ]
        }
        Task::QuestionAnswering => {
            let q = input(&req, &["question"])
                .ok_or_else(|| ApiError::bad_request(STYLE, "missing BYTES input `question`"))?;
            let c = input(&req, &["context"])
                .ok_or_else(|| ApiError::bad_request(STYLE, "missing BYTES input `context`"))?;
            let (qs, cs) = (strings(q)?, strings(c)?);
            if qs.len() != cs.len() {
                return Err(ApiError::bad_request(
                    STYLE,
                    "`question` and `context` must have the same length",
                ));
            }
            let m = model.clone();
            let answers = state
                .run(STYLE, move || {
                    qs.iter()
                        .zip(&cs)
                        .map(|(q, c)| answer(&m, q, c))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
            let n = answers.len();
            vec![
                tensor(
                    "answer",
                    "BYTES",
                    &[n],
                    json!(answers.iter().map(|a| &a.answer).collect::<Vec<_>>()),
                ),
                tensor(
                    "score",
                    "FP32",
                    &[n],
                    json!(answers.iter().map(|a| a.score).collect::<Vec<_>>()),
                ),
                tensor(
                    "start",
                    "INT64",
                    &[n],
                    json!(answers.iter().map(|a| a.start).collect::<Vec<_>>()),
                ),
                tensor(
                    "end",
                    "INT64",
                    &[n],
                    json!(answers.iter().map(|a| a.end).collect::<Vec<_>>()),
                ),
            ]
        }
        Task::Generation => {
            let t = input(&req, &text_names)
                .or_else(|| req.inputs.first())
                .ok_or_else(|| ApiError::bad_request(STYLE, "no input tensor"))?;
            let prompts = strings(t)?;
            let params = generation_params(&req.parameters)?;
            let m = model.clone();
            let results = state
                .run(STYLE, move || {
                    prompts
                        .iter()
                        .map(|p| {
                            let ids = prompt_ids(&m, p, params.max_new_tokens)?;
                            let g = complete(&m, &ids, &params, |_| true)?;
                            Ok((
                                m.tokenizer.decode(&g.tokens)?,
                                g.prompt_tokens,
                                g.tokens.len(),
                            ))
                        })
                        .collect::<Result<Vec<_>, crate::error::ModelError>>()
                })
                .await?;
            let n = results.len();
            vec![
                tensor(
                    "text_output",
                    "BYTES",
                    &[n],
                    json!(results.iter().map(|r| &r.0).collect::<Vec<_>>()),
                ),
                tensor(
                    "prompt_tokens",
                    "INT64",
                    &[n],
                    json!(results.iter().map(|r| r.1).collect::<Vec<_>>()),
                ),
                tensor(
                    "completion_tokens",
                    "INT64",
                    &[n],
                    json!(results.iter().map(|r| r.2).collect::<Vec<_>>()),
                ),
            ]
        }
    };
    let mut out = json!({"model_name": model.name, "model_version": "1", "outputs": outputs});
    if let Some(id) = req.id {
        out["id"] = json!(id);
    }
    Ok(Json(out).into_response())
}

/// Generation settings from request `parameters` (`max_tokens`, `min_tokens`, `ignore_eos`, ...).
fn generation_params(p: &serde_json::Map<String, Value>) -> Result<GenerationParams, ApiError> {
    let count = |keys: &[&str]| -> Result<Option<usize>, ApiError> {
        match keys.iter().find_map(|k| p.get(*k)) {
            None => Ok(None),
            Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                ApiError::bad_request(
                    STYLE,
                    format!("parameter `{}` must be a non-negative integer", keys[0]),
                )
            }),
        }
    };
    let params = GenerationParams {
        max_new_tokens: count(&["max_tokens", "max_new_tokens"])?.unwrap_or(16),
        min_new_tokens: count(&["min_tokens", "min_new_tokens"])?.unwrap_or(0),
        ignore_eos: p
            .get("ignore_eos")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        temperature: p.get("temperature").and_then(Value::as_f64).unwrap_or(0.0),
        top_p: p.get("top_p").and_then(Value::as_f64).unwrap_or(1.0),
        seed: p.get("seed").and_then(Value::as_u64).unwrap_or(0),
    };
    params
        .validate()
        .map_err(|e| ApiError::from_model(STYLE, e))?;
    Ok(params)
}

/// `GET /v2/models/{name}`: model metadata.
pub async fn metadata(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let m = match model_of(&state, &name) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let text = |n: &str| json!({"name": n, "datatype": "BYTES", "shape": [-1]});
    let (inputs, outputs) = match m.task {
        Task::Classification => (
            vec![text("text")],
            vec![
                text("label"),
                json!({"name": "score", "datatype": "FP32", "shape": [-1]}),
                json!({"name": "logits", "datatype": "FP32", "shape": [-1, m.labels().len()]}),
            ],
        ),
        Task::QuestionAnswering => (
            vec![text("question"), text("context")],
            vec![
                text("answer"),
                json!({"name": "score", "datatype": "FP32", "shape": [-1]}),
                json!({"name": "start", "datatype": "INT64", "shape": [-1]}),
                json!({"name": "end", "datatype": "INT64", "shape": [-1]}),
            ],
        ),
        Task::Generation => (
            vec![text("text_input")],
            vec![
                text("text_output"),
                json!({"name": "prompt_tokens", "datatype": "INT64", "shape": [-1]}),
                json!({"name": "completion_tokens", "datatype": "INT64", "shape": [-1]}),
            ],
        ),
    };
    Json(json!({
        "name": m.name,
        "versions": ["1"],
        "platform": "joulebench-reference (candle)",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            "task": m.task.as_str(),
            "parameters": m.parameters,
            "active_parameters": m.active_parameters,
            "architecture": m.architecture,
            "weights": m.weights,
            "techniques": m.techniques(),
        },
    }))
    .into_response()
}

/// `GET /v2/models/{name}/ready`.
pub async fn model_ready(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    match model_of(&state, &name) {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v2`: server metadata.
pub async fn server_metadata() -> Json<Value> {
    Json(
        json!({"name": "joulebench-reference", "version": env!("CARGO_PKG_VERSION"), "extensions": []}),
    )
}

/// `GET /v2/health/live`: 200 while the process serves.
pub async fn live() -> StatusCode {
    StatusCode::OK
}

/// `GET /v2/health/ready` (and `/health`): 200 once models are loaded, 503 before.
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, Json(json!({"status": "ready"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "loading"})),
        )
            .into_response()
    }
}
