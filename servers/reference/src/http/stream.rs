//! Server-sent events of a generation: the model runs in its decode scheduler (batching on)
//! or on a blocking thread under a permit, and each token becomes protocol-specific events
//! as soon as it is produced.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::error::{ApiError, Style};
use super::state::AppState;
use crate::continuous::Progress;
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

/// Turns generated ids into streamed token events: the text each adds, and on the last
/// one why generation stops and the whole text.
struct StreamText {
    model: Arc<ServedModel>,
    max_new_tokens: usize,
    ignore_eos: bool,
    ids: Vec<u32>,
    emitted: String,
}

impl StreamText {
    fn new(model: Arc<ServedModel>, params: &GenerationParams) -> Self {
        Self {
            model,
            max_new_tokens: params.max_new_tokens,
            ignore_eos: params.ignore_eos,
            ids: Vec::new(),
            emitted: String::new(),
        }
    }

    fn token(&mut self, id: u32) -> TokenEvent {
        self.ids.push(id);
        let tokenizer = &self.model.tokenizer;
        let text = tokenizer
            .decode_step(&self.ids, &mut self.emitted)
            .unwrap_or_default();
        let n = self.ids.len();
        let stops_on_eos = Some(id) == self.model.eos && !self.ignore_eos;
        let finish = if stops_on_eos {
            Some(FinishReason::EndOfSequence)
        } else if n >= self.max_new_tokens {
            Some(FinishReason::Length)
        } else {
            None
        };
        let full_text = finish.map(|_| tokenizer.decode(&self.ids).unwrap_or_default());
        TokenEvent {
            id,
            text,
            index: n - 1,
            finish,
            full_text,
        }
    }
}

/// Starts generating and returns the SSE response; `format` turns events into SSE events.
/// With batching on, the tokens come from the model's decode scheduler (a client that goes
/// away frees its slot at the next step); otherwise the model runs on a blocking thread
/// under a permit.
pub async fn stream_generation(
    state: &AppState,
    style: Style,
    model: Arc<ServedModel>,
    prompt: Vec<u32>,
    params: GenerationParams,
    mut format: impl FnMut(StreamEvent) -> Vec<Event> + Send + 'static,
) -> Result<Response, ApiError> {
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    if let Some(d) = state.decoder(&model) {
        let mut progress = d
            .submit(prompt, params.clone())
            .map_err(|e| ApiError::from_model(style, e))?;
        tokio::spawn(async move {
            let mut text = StreamText::new(model, &params);
            while let Some(p) = progress.recv().await {
                let events = match p {
                    Progress::Token { id, .. } => format(StreamEvent::Token(text.token(id))),
                    Progress::Done(g) => format(StreamEvent::Done(g)),
                    Progress::Failed(e) => format(StreamEvent::Failed(e.to_string())),
                };
                for e in events {
                    if tx.send(Ok(e)).await.is_err() {
                        // The client went away: dropping `progress` cancels the sequence.
                        return;
                    }
                }
            }
        });
        return Ok(Sse::new(ReceiverStream::new(rx))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let permit = state.permit(style).await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let send_all =
            |events: Vec<Event>| events.into_iter().all(|e| tx.blocking_send(Ok(e)).is_ok());
        let mut text = StreamText::new(model.clone(), &params);
        let result = complete(&model, &prompt, &params, |id| {
            send_all(format(StreamEvent::Token(text.token(id))))
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
