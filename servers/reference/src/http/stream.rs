//! Server-sent events of a generation: the model runs on a blocking thread under a permit and
//! each token becomes protocol-specific events as soon as it is produced.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::error::{ApiError, Style};
use super::state::AppState;
use crate::generate::{FinishReason, Generation, GenerationParams};
use crate::inference::complete;
use crate::registry::ServedModel;

/// One generated token, as streamed.
#[derive(Debug, Clone)]
pub struct TokenEvent {
    /// Token id.
    pub id: u32,
    /// Text this token adds (may be empty while a character is incomplete).
    pub text: String,
    /// Position among generated tokens, from 0.
    pub index: usize,
    /// Set on the last token: why generation stops.
    pub finish: Option<FinishReason>,
    /// Set on the last token: the whole generated text.
    pub full_text: Option<String>,
}

/// What the formatter of a stream is told.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// A token.
    Token(TokenEvent),
    /// Generation is over (usage).
    Done(Generation),
    /// Generation failed part-way.
    Failed(String),
}

/// Starts generating and returns the SSE response; `format` turns events into SSE events.
pub async fn stream_generation(
    state: &AppState,
    style: Style,
    model: Arc<ServedModel>,
    prompt: Vec<u32>,
    params: GenerationParams,
    mut format: impl FnMut(StreamEvent) -> Vec<Event> + Send + 'static,
) -> Result<Response, ApiError> {
    let permit = state.permit(style).await?;
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let send_all =
            |events: Vec<Event>| events.into_iter().all(|e| tx.blocking_send(Ok(e)).is_ok());
        let mut ids: Vec<u32> = Vec::new();
        let mut emitted = String::new();
        let result = complete(&model, &prompt, &params, |id| {
            ids.push(id);
            let text = model
                .tokenizer
                .decode_step(&ids, &mut emitted)
                .unwrap_or_default();
            let n = ids.len();
            let stops_on_eos = Some(id) == model.eos && !params.ignore_eos;
            let finish = if stops_on_eos {
                Some(FinishReason::EndOfSequence)
            } else if n >= params.max_new_tokens {
                Some(FinishReason::Length)
            } else {
                None
            };
            let full_text = finish.map(|_| model.tokenizer.decode(&ids).unwrap_or_default());
            send_all(format(StreamEvent::Token(TokenEvent {
                id,
                text,
                index: n - 1,
                finish,
                full_text,
            })))
        });
        match result {
            Ok(g) if g.finish != FinishReason::Cancelled => {
                send_all(format(StreamEvent::Done(g)));
            }
            Ok(_) => {}
            Err(e) => {
                send_all(format(StreamEvent::Failed(e.to_string())));
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// An SSE event whose data is this JSON value.
pub fn json_event(value: &serde_json::Value) -> Event {
    Event::default().data(value.to_string())
}
