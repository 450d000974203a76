//! Continuous batching of generator decode steps: one scheduler thread per generator holds
//! up to `max_batch` sequences in flight. A request joins at the next step boundary: its
//! prompt pass runs alone (prompts of different lengths are not padded together), then its
//! decode steps run with every other sequence in flight as one batched forward pass (dense
//! layers on all rows at once, attention per row against the row's own key/value cache, so
//! no padding). A sequence leaves as soon as it finishes or its receiver goes away, and each
//! token is sent as soon as it is picked. Each sequence keeps its own [`Sampler`]
//! (temperature, top-p, seed, min/max tokens, `ignore_eos`), the one a generation alone uses.
//!
//! The wait window applies when the scheduler is idle: the first request waits up to `wait`
//! for others so that a burst starts together; requests arriving while sequences are in
//! flight join at the next step without waiting.

use crate::batch::BatchSettings;
use crate::error::{ModelError, Result};
use crate::generate::{Generation, GenerationParams, Sampler, check_request};
use crate::models::kv_cache::{CachedForward, KvCache, on_compute_pool};
use crate::registry::{Network, ServedModel};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// What a request in the scheduler hears.
#[derive(Debug)]
pub enum Progress {
    /// A new token.
    Token {
        /// The token id.
        id: u32,
        /// Sequences in the forward pass that gave this token's logits (1 for the first
        /// token, which comes from the request's own prompt pass).
        batch: usize,
    },
    /// Generation ended (end of sequence or length); the last message.
    Done(Generation),
    /// Generation failed; the last message.
    Failed(ModelError),
}

/// An error starting a scheduler.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The model is an encoder, or a generator whose decode steps cannot run batched.
    #[error("model `{0}` cannot batch its decode steps")]
    NotBatchable(String),
    /// The thread could not be started.
    #[error("cannot start the decode thread of model `{name}`: {cause}")]
    Thread {
        /// The model.
        name: String,
        /// The cause (in the message, so not also a `source()`).
        cause: std::io::Error,
    },
}

/// The sizes of the forward passes one request's tokens came from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BatchStats {
    /// Decode steps (tokens after the first).
    pub steps: usize,
    /// The largest batch among them (1 when there was none).
    pub max: usize,
    /// Their mean batch size (1 when there was none).
    pub mean: f64,
}

impl BatchStats {
    /// The stats of the decode steps whose batch sizes are `batches` (first token excluded).
    pub fn of(batches: &[usize]) -> Self {
        if batches.is_empty() {
            return Self {
                steps: 0,
                max: 1,
                mean: 1.0,
            };
        }
        Self {
            steps: batches.len(),
            max: batches.iter().copied().max().unwrap_or(1),
            mean: batches.iter().sum::<usize>() as f64 / batches.len() as f64,
        }
    }
}

/// A request waiting for a slot.
struct Request {
    prompt: Vec<u32>,
    params: GenerationParams,
    arrived: Instant,
    events: UnboundedSender<Progress>,
}

/// A sequence in flight: its sampler, its cache and the token to feed next.
struct Active {
    sampler: Sampler,
    cache: KvCache,
    last: u32,
    events: UnboundedSender<Progress>,
}

impl Active {
    /// Picks a token from `logits` and sends it; false when the sequence leaves (finished,
    /// or its receiver is gone).
    fn emit(&mut self, logits: Vec<f32>, batch: usize) -> bool {
        let id = self.sampler.next(logits);
        self.last = id;
        if self.events.send(Progress::Token { id, batch }).is_err() {
            return false;
        }
        match self.sampler.finish() {
            Some(finish) => {
                let _ = self
                    .events
                    .send(Progress::Done(self.sampler.generation(finish)));
                false
            }
            None => true,
        }
    }
}

/// The scheduler of one generator: a queue and the thread that runs its batches.
#[derive(Debug)]
pub struct DecodeScheduler {
    requests: mpsc::Sender<Request>,
    max_context: usize,
    vocab: usize,
}

impl DecodeScheduler {
    /// Starts the scheduler thread of `model` (it ends when the scheduler is dropped and
    /// the sequences in flight are done).
    pub fn start(
        model: Arc<ServedModel>,
        settings: BatchSettings,
    ) -> std::result::Result<Self, StartError> {
        let (max_context, vocab) = match &model.network {
            Network::Generator(g) if g.batched().is_some() => (g.max_context(), g.dims().vocab),
            _ => return Err(StartError::NotBatchable(model.name.clone())),
        };
        let (requests, queue) = mpsc::channel();
        let name = model.name.clone();
        std::thread::Builder::new()
            .name(format!("decode-{name}"))
            .spawn(move || {
                if let Network::Generator(g) = &model.network
                    && let Some(net) = g.batched()
                {
                    serve(net, model.eos, &queue, settings);
                }
            })
            .map_err(|cause| StartError::Thread { name, cause })?;
        Ok(Self {
            requests,
            max_context,
            vocab,
        })
    }

    /// Queues a generation after a tokenised prompt; its tokens, then its end, arrive on
    /// the receiver. Dropping the receiver cancels it (its slot frees at the next step).
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        params: GenerationParams,
    ) -> Result<UnboundedReceiver<Progress>> {
        check_request(&prompt, &params, self.max_context)?;
        if let Some(bad) = prompt.iter().find(|&&i| i as usize >= self.vocab) {
            return Err(ModelError::BadParameter(format!(
                "token id {bad} is out of the vocabulary"
            )));
        }
        let (events, receiver) = unbounded_channel();
        self.requests
            .send(Request {
                prompt,
                params,
                arrived: Instant::now(),
                events,
            })
            .map_err(|_| ModelError::BadParameter("the decode scheduler has stopped".into()))?;
        Ok(receiver)
    }

    /// Generates to the end: the generation and the stats of the batches it ran in.
    pub async fn generate(
        &self,
        prompt: Vec<u32>,
        params: GenerationParams,
    ) -> Result<(Generation, BatchStats)> {
        let mut events = self.submit(prompt, params)?;
        let mut batches = Vec::new();
        let mut first = true;
        while let Some(event) = events.recv().await {
            match event {
                Progress::Token { batch, .. } => {
                    if !first {
                        batches.push(batch);
                    }
                    first = false;
                }
                Progress::Done(g) => return Ok((g, BatchStats::of(&batches))),
                Progress::Failed(e) => return Err(e),
            }
        }
        Err(ModelError::BadParameter(
            "the decode scheduler stopped before the generation ended".into(),
        ))
    }
}

/// The scheduler thread: admits waiting requests at step boundaries (a prompt pass each,
/// alone), then runs one batched decode step over every sequence in flight, and repeats.
fn serve(
    net: &dyn CachedForward,
    eos: Option<u32>,
    queue: &mpsc::Receiver<Request>,
    settings: BatchSettings,
) {
    let max_batch = settings.max_batch.max(1);
    let mut waiting: VecDeque<Request> = VecDeque::new();
    let mut active: Vec<Active> = Vec::new();
    loop {
        if active.is_empty() && waiting.is_empty() {
            match queue.recv() {
                Ok(r) => waiting.push_back(r),
                Err(_) => return,
            }
            // Idle until now: let a burst gather for up to the wait window.
            let deadline = waiting
                .front()
                .map_or_else(Instant::now, |r| r.arrived + settings.wait);
            while waiting.len() < max_batch {
                let left = deadline.saturating_duration_since(Instant::now());
                match queue.recv_timeout(left) {
                    Ok(r) => waiting.push_back(r),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        while let Ok(r) = queue.try_recv() {
            waiting.push_back(r);
        }
        waiting.retain(|r| !r.events.is_closed());
        active.retain(|a| !a.events.is_closed());
        while active.len() < max_batch {
            let Some(r) = waiting.pop_front() else {
                break;
            };
            if let Some(a) = admit(net, eos, r) {
                active.push(a);
            }
        }
        if !active.is_empty() {
            step(net, &mut active);
        }
    }
}

/// Runs a request's prompt pass and sends its first token; the sequence if it goes on.
fn admit(net: &dyn CachedForward, eos: Option<u32>, r: Request) -> Option<Active> {
    let mut cache = net.new_cache();
    let logits = unpanicked(|| {
        net.forward(&r.prompt, &mut cache)
            .and_then(|l| l.to_vec1::<f32>())
    });
    let logits = match logits {
        Ok(l) => l,
        Err(e) => {
            let _ = r.events.send(Progress::Failed(e.into()));
            return None;
        }
    };
    let mut a = Active {
        sampler: Sampler::new(r.prompt.len(), r.params, eos),
        cache,
        last: 0,
        events: r.events,
    };
    a.emit(logits, 1).then_some(a)
}

/// One decode step of every sequence in flight as one forward pass; finished and cancelled
/// sequences leave.
fn step(net: &dyn CachedForward, active: &mut Vec<Active>) {
    let batch = active.len();
    let ids: Vec<u32> = active.iter().map(|a| a.last).collect();
    let logits = {
        let mut caches: Vec<&mut KvCache> = active.iter_mut().map(|a| &mut a.cache).collect();
        unpanicked(|| {
            on_compute_pool(|| {
                net.forward_batch(&ids, 1, &mut caches)
                    .and_then(|l| l.to_vec2::<f32>())
            })
        })
    };
    match logits {
        Ok(rows) if rows.len() == batch => {
            let mut keep = Vec::with_capacity(batch);
            for (mut a, row) in active.drain(..).zip(rows) {
                if a.emit(row, batch) {
                    keep.push(a);
                }
            }
            *active = keep;
        }
        Ok(rows) => fail_all(
            active,
            &format!("a decode step gave {} rows for {batch}", rows.len()),
        ),
        Err(e) => fail_all(active, &e.to_string()),
    }
}

/// Runs model code, turning a panic into an error so that the scheduler thread (and every
/// other sequence) outlives one bad forward pass.
fn unpanicked<T>(f: impl FnOnce() -> candle_core::Result<T>) -> candle_core::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(candle_core::Error::Msg(
            "the forward pass panicked".to_string(),
        ))
    })
}

/// Ends every sequence in flight with an error.
fn fail_all(active: &mut Vec<Active>, message: &str) {
    for a in active.drain(..) {
        let _ = a.events.send(Progress::Failed(ModelError::Tensor(
            candle_core::Error::Msg(message.to_string()),
        )));
    }
}
