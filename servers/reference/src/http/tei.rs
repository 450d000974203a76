//! Text Embeddings Inference routes: `POST /predict` (classification, and extractive QA with
//! `{inputs: {question, context}}`) and `POST /embed`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

use super::error::{ApiError, Style, parse_body};
use super::state::AppState;
use crate::batch::{Done, EncoderOutput, EncoderWork};
use crate::error::ModelError;
use crate::inference::{Classification, best_span, classification, encode_question, encode_text};
use crate::registry::{ServedModel, Task};
use crate::tokenizer::Encoded;

const STYLE: Style = Style::Tei;

/// Body of `POST /predict`.
#[derive(Debug, Deserialize)]
struct PredictRequest {
    inputs: Value,
    #[serde(default)]
    raw_scores: bool,
    #[serde(default)]
    truncate: bool,
    /// Extension: which model (the first classifier, or QA model for QA inputs, otherwise).
    model: Option<String>,
}

/// One question-answering input.
#[derive(Debug, Clone, Deserialize)]
struct QaInput {
    question: String,
    context: String,
}

fn scores(c: &Classification, raw: bool) -> Value {
    let values = if raw { &c.logits } else { &c.probabilities };
    let mut pairs: Vec<(&String, f32)> = c.labels.iter().zip(values.iter().copied()).collect();
    pairs.sort_by(|a, b| b.1.total_cmp(&a.1));
    Value::Array(
        pairs
            .into_iter()
            .map(|(l, s)| json!({"label": l, "score": s}))
            .collect(),
    )
}

/// The answer with TEI's timing headers, the tokens computed and the largest batch any of
/// its inputs ran in (`x-batch-size`, 1 without batching).
fn with_timing(body: Value, started: Instant, tokens: usize, done: &[Done]) -> Response {
    let mut resp = Json(body).into_response();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{ms:.3}")) {
        h.insert("x-compute-time", v.clone());
        h.insert("x-total-time", v);
    }
    h.insert("x-compute-tokens", HeaderValue::from(tokens));
    let batch = done.iter().map(|d| d.batch_size).max().unwrap_or(1);
    h.insert("x-batch-size", HeaderValue::from(batch));
    resp
}

/// Tokenises every input (an error names the first that fails).
fn encode_all<T>(
    items: &[T],
    encode: impl Fn(&T) -> Result<Encoded, ModelError>,
) -> Result<Vec<Encoded>, ApiError> {
    items
        .iter()
        .map(encode)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::from_model(STYLE, e))
}

/// The output a pass of `work` gives, or a server error if another kind came back.
fn unexpected(what: &str) -> ApiError {
    ApiError::internal(STYLE, format!("the encoder gave no {what}"))
}

/// `POST /predict`.
pub async fn predict(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    predict_inner(state, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn predict_inner(state: Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: PredictRequest = parse_body(STYLE, &body)?;
    let started = Instant::now();
    let is_qa = matches!(&req.inputs, Value::Object(_))
        || matches!(&req.inputs, Value::Array(a) if a.first().is_some_and(Value::is_object));
    if is_qa {
        let model = state.pick(STYLE, req.model.as_deref(), Task::QuestionAnswering)?;
        let (single, items): (bool, Vec<QaInput>) = match req.inputs {
            Value::Object(_) => (true, vec![qa_input(req.inputs)?]),
            Value::Array(a) => (
                false,
                a.into_iter().map(qa_input).collect::<Result<_, _>>()?,
            ),
            _ => (true, Vec::new()),
        };
        let encoded = encode_all(&items, |q| encode_question(&model, &q.question, &q.context))?;
        let done = state
            .encoder_pass(STYLE, model, EncoderWork::Span, encoded.clone())
            .await?;
        let mut tokens = 0;
        let mut answers = Vec::with_capacity(items.len());
        for ((q, enc), d) in items.iter().zip(&encoded).zip(&done) {
            let EncoderOutput::Span(start, end) = &d.output else {
                return Err(unexpected("span logits"));
            };
            let a = best_span(enc, &q.context, start, end);
            tokens += a.tokens;
            answers.push(
                json!({"answer": a.answer, "score": a.score, "start": a.start, "end": a.end}),
            );
        }
        let body = if single {
            answers.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(answers)
        };
        return Ok(with_timing(body, started, tokens, &done));
    }
    let model = state.pick(STYLE, req.model.as_deref(), Task::Classification)?;
    let (single, texts) = texts_of(req.inputs)?;
    let (raw, truncate) = (req.raw_scores, req.truncate);
    let encoded = encode_all(&texts, |t| encode_text(&model, t, truncate))?;
    let done = state
        .encoder_pass(STYLE, model.clone(), EncoderWork::Classify, encoded.clone())
        .await?;
    let mut tokens = 0;
    let mut results = Vec::with_capacity(texts.len());
    for (enc, d) in encoded.iter().zip(&done) {
        let EncoderOutput::Logits(logits) = &d.output else {
            return Err(unexpected("class logits"));
        };
        let c = classification(&model, logits.clone(), enc.ids.len());
        tokens += c.tokens;
        results.push(scores(&c, raw));
    }
    let body = if single {
        results.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(results)
    };
    Ok(with_timing(body, started, tokens, &done))
}

fn qa_input(v: Value) -> Result<QaInput, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(
            STYLE,
            format!("question-answering inputs need `question` and `context` strings: {e}"),
        )
    })
}

/// A string (single) or a list of strings (batch); TEI's pair form `[[a, b]]` is refused.
fn texts_of(inputs: Value) -> Result<(bool, Vec<String>), ApiError> {
    match inputs {
        Value::String(s) => Ok((true, vec![s])),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::bad_request(
                    STYLE,
                    "inputs must be a string or a list of strings",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|t| (false, t)),
        _ => Err(ApiError::bad_request(
            STYLE,
            "inputs must be a string or a non-empty list of strings",
        )),
    }
}

/// Body of `POST /embed`.
#[derive(Debug, Deserialize)]
struct EmbedRequest {
    inputs: Value,
    #[serde(default = "yes")]
    normalize: bool,
    #[serde(default)]
    truncate: bool,
    /// Extension: which encoder (the first one otherwise).
    model: Option<String>,
}

fn yes() -> bool {
    true
}

fn any_encoder(state: &AppState, name: Option<&str>) -> Result<Arc<ServedModel>, ApiError> {
    let reg = state.registry(STYLE)?;
    match name {
        Some(n) => {
            let m = reg
                .get(n)
                .ok_or_else(|| ApiError::unknown_model(STYLE, n))?;
            if m.task == Task::Generation {
                return Err(ApiError::bad_request(
                    STYLE,
                    format!("model `{n}` is a generator, not an encoder"),
                ));
            }
            Ok(m)
        }
        None => reg
            .first(Task::Classification)
            .or_else(|| reg.first(Task::QuestionAnswering))
            .ok_or_else(|| ApiError::bad_request(STYLE, "no encoder model is loaded")),
    }
}

/// `POST /embed` → one vector per input (mean pooling).
pub async fn embed_route(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    embed_inner(state, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn embed_inner(state: Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: EmbedRequest = parse_body(STYLE, &body)?;
    let started = Instant::now();
    let model = any_encoder(&state, req.model.as_deref())?;
    let (_, texts) = texts_of(req.inputs)?;
    let (normalize, truncate) = (req.normalize, req.truncate);
    let encoded = encode_all(&texts, |t| encode_text(&model, t, truncate))?;
    let done = state
        .encoder_pass(STYLE, model, EncoderWork::Embed { normalize }, encoded)
        .await?;
    let vectors = done
        .iter()
        .map(|d| match &d.output {
            EncoderOutput::Vector(v) => Ok(v),
            _ => Err(unexpected("embedding")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(with_timing(json!(vectors), started, 0, &done))
}
