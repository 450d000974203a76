//! Dynamic batching of encoder requests: requests for the same model and work that arrive
//! within a wait window of the first one waiting (or until the batch is full) run as one
//! padded forward pass on the batcher's thread.

use crate::error::{ModelError, Result};
use crate::inference::encoder;
use crate::registry::ServedModel;
use crate::tokenizer::Encoded;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How requests are batched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BatchSettings {
    /// Most requests in one forward pass.
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch.
    #[serde(rename = "wait_ms", serialize_with = "millis")]
    pub wait: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

/// What an encoder request computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncoderWork {
    /// Class logits.
    Classify,
    /// Start and end logits per token.
    Span,
    /// A mean-pooled embedding, L2-normalised when `normalize`.
    Embed {
        /// Normalise to unit length.
        normalize: bool,
    },
}

/// One request's result.
#[derive(Clone, Debug, PartialEq)]
pub enum EncoderOutput {
    /// Class logits.
    Logits(Vec<f32>),
    /// Start and end logits per token.
    Span(Vec<f32>, Vec<f32>),
    /// An embedding.
    Vector(Vec<f32>),
}

/// A request's result and the size of the batch it ran in.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    /// The result.
    pub output: EncoderOutput,
    /// Requests in its forward pass (1 when it ran alone).
    pub batch_size: usize,
}

/// Runs `work` for a batch of tokenised inputs of one model in one forward pass.
pub fn compute(
    model: &ServedModel,
    work: EncoderWork,
    inputs: &[(&[u32], &[u32])],
) -> Result<Vec<EncoderOutput>> {
    let m = encoder(model)?;
    Ok(match work {
        EncoderWork::Classify => m
            .classify_batch(inputs)?
            .into_iter()
            .map(EncoderOutput::Logits)
            .collect(),
        EncoderWork::Span => m
            .span_logits_batch(inputs)?
            .into_iter()
            .map(|(s, e)| EncoderOutput::Span(s, e))
            .collect(),
        EncoderWork::Embed { normalize } => m
            .embed_batch(inputs, normalize)?
            .into_iter()
            .map(EncoderOutput::Vector)
            .collect(),
    })
}

/// A request waiting for its batch.
struct Job {
    model: Arc<ServedModel>,
    work: EncoderWork,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    arrived: Instant,
    reply: oneshot::Sender<Result<Done>>,
}

impl Job {
    /// Whether two requests can share a forward pass.
    fn joins(&self, other: &Job) -> bool {
        Arc::ptr_eq(&self.model, &other.model) && self.work == other.work
    }
}

/// The batcher: a queue and the thread that forms and runs batches from it.
#[derive(Debug)]
pub struct Batcher {
    jobs: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the batching thread (it ends when the batcher is dropped).
    pub fn start(settings: BatchSettings) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("encoder-batcher".into())
            .spawn(move || serve(&queue, settings))?;
        Ok(Self { jobs })
    }

    /// Queues tokenised inputs of one model and work (they may share a batch) and waits
    /// for each to run; results in input order.
    pub async fn submit(
        &self,
        model: &Arc<ServedModel>,
        work: EncoderWork,
        inputs: &[Encoded],
    ) -> Result<Vec<Done>> {
        let stopped = || ModelError::BadParameter("the batcher has stopped".into());
        let mut pending = Vec::with_capacity(inputs.len());
        for input in inputs {
            let (reply, done) = oneshot::channel();
            self.jobs
                .send(Job {
                    model: model.clone(),
                    work,
                    ids: input.ids.clone(),
                    type_ids: input.type_ids.clone(),
                    arrived: Instant::now(),
                    reply,
                })
                .map_err(|_| stopped())?;
            pending.push(done);
        }
        let mut out = Vec::with_capacity(pending.len());
        for done in pending {
            out.push(done.await.map_err(|_| stopped())??);
        }
        Ok(out)
    }
}

/// The batching thread: forms a batch around the oldest waiting request (its model and
/// work), up to `max_batch` or until the oldest has waited `wait`, runs it, and repeats.
fn serve(queue: &mpsc::Receiver<Job>, settings: BatchSettings) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => return,
            }
        }
        let Some(first) = waiting.front() else {
            continue;
        };
        let deadline = first.arrived + settings.wait;
        let joining = |w: &VecDeque<Job>| match w.front() {
            Some(f) => w.iter().filter(|j| j.joins(f)).count(),
            None => 0,
        };
        while joining(&waiting) < settings.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match queue.recv_timeout(left) {
                Ok(job) => waiting.push_back(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let mut batch = Vec::new();
        let mut rest = VecDeque::new();
        while let Some(job) = waiting.pop_front() {
            if batch.len() < settings.max_batch && batch.first().is_none_or(|f: &Job| f.joins(&job))
            {
                batch.push(job);
            } else {
                rest.push_back(job);
            }
        }
        waiting = rest;
        run(batch);
    }
}

/// Runs one batch and answers each of its requests.
fn run(batch: Vec<Job>) {
    let Some(first) = batch.first() else {
        return;
    };
    let inputs: Vec<(&[u32], &[u32])> = batch
        .iter()
        .map(|j| (j.ids.as_slice(), j.type_ids.as_slice()))
        .collect();
    let size = batch.len();
    match compute(&first.model, first.work, &inputs) {
        Ok(outputs) => {
            for (job, output) in batch.into_iter().zip(outputs) {
                let _ = job.reply.send(Ok(Done {
                    output,
                    batch_size: size,
                }));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for job in batch {
                let _ = job
                    .reply
                    .send(Err(ModelError::Tensor(candle_core::Error::Msg(
                        message.clone(),
                    ))));
            }
        }
    }
}
