//! Shared server state: the models once loaded, and the permits that bound concurrency.

use axum::response::Response;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{ApiError, Style};
use crate::batch::{BatchSettings, Batcher, Done, EncoderWork, compute};
use crate::continuous::{BatchStats, DecodeScheduler};
use crate::error::ModelError;
use crate::generate::{Generation, GenerationParams};
use crate::inference::complete;
use crate::registry::{ModelRegistry, Network, ServedModel, Task};
use crate::tokenizer::Encoded;

/// State shared by every route.
#[derive(Debug)]
pub struct AppState {
    registry: OnceLock<Arc<ModelRegistry>>,
    permits: Arc<Semaphore>,
    batcher: OnceLock<Batcher>,
    settings: OnceLock<BatchSettings>,
    decoders: OnceLock<HashMap<String, DecodeScheduler>>,
    /// Unix time the server started (the `created` field of model lists).
    pub created: u64,
}

impl AppState {
    /// State with `concurrency` requests computed at a time (at least 1).
    pub fn new(concurrency: usize) -> Self {
        Self {
            registry: OnceLock::new(),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            batcher: OnceLock::new(),
            settings: OnceLock::new(),
            decoders: OnceLock::new(),
            created: unix_now(),
        }
    }

    /// Batches encoder requests from now on, and the decode steps of the generators
    /// installed later (call before models are installed); false if batching was already on.
    pub fn batch(&self, settings: BatchSettings) -> std::io::Result<bool> {
        if self.batcher.get().is_some() {
            return Ok(false);
        }
        let _ = self.settings.set(settings);
        Ok(self.batcher.set(Batcher::start(settings)?).is_ok())
    }

    /// The decode scheduler of a generator, when its decode steps are batched.
    pub fn decoder(&self, model: &ServedModel) -> Option<&DecodeScheduler> {
        self.decoders.get()?.get(&model.name)
    }

    /// Generates to the end after a tokenised prompt: the generation, its text, and the
    /// batches its decode steps ran in (`None` when it ran alone, batching off or a
    /// generator that cannot batch, such as T5). Batched, the scheduler's thread is the
    /// compute (no permit); otherwise under a permit, alone.
    pub async fn generate(
        &self,
        style: Style,
        model: Arc<ServedModel>,
        prompt: Vec<u32>,
        params: GenerationParams,
    ) -> Result<(Generation, String, Option<BatchStats>), ApiError> {
        if let Some(d) = self.decoder(&model) {
            let (g, stats) = d
                .generate(prompt, params)
                .await
                .map_err(|e| ApiError::from_model(style, e))?;
            let text = model
                .tokenizer
                .decode(&g.tokens)
                .map_err(|e| ApiError::from_model(style, e))?;
            return Ok((g, text, Some(stats)));
        }
        let (g, text) = self
            .run(style, move || {
                let g = complete(&model, &prompt, &params, |_| true)?;
                let text = model.tokenizer.decode(&g.tokens)?;
                Ok((g, text))
            })
            .await?;
        Ok((g, text, None))
    }

    /// Runs encoder work on tokenised inputs of one request: through the batcher when
    /// batching is on (no permit: the batcher's thread is the compute; the inputs may share
    /// a batch with each other and with other requests), otherwise one after the other
    /// under one permit, each alone.
    pub async fn encoder_pass(
        &self,
        style: Style,
        model: Arc<ServedModel>,
        work: EncoderWork,
        inputs: Vec<Encoded>,
    ) -> Result<Vec<Done>, ApiError> {
        if let Some(batcher) = self.batcher.get() {
            return batcher
                .submit(&model, work, &inputs)
                .await
                .map_err(|e| ApiError::from_model(style, e));
        }
        self.run(style, move || {
            let mut out = Vec::with_capacity(inputs.len());
            for input in &inputs {
                let one = compute(&model, work, &[(&input.ids, &input.type_ids)])?;
                let output = one
                    .into_iter()
                    .next()
                    .ok_or_else(|| ModelError::BadParameter("no result".into()))?;
                out.push(Done {
                    output,
                    batch_size: 1,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Installs the loaded models (starting a decode scheduler per batchable generator
    /// when batching is on); the server is ready from then on. False if already set.
    pub fn install(&self, registry: ModelRegistry) -> bool {
        if self.registry.get().is_some() {
            return false;
        }
        if let Some(settings) = self.settings.get() {
            let mut decoders = HashMap::new();
            for m in registry.models() {
                let batchable =
                    matches!(&m.network, Network::Generator(g) if g.batched().is_some());
                if !batchable {
                    continue;
                }
                match DecodeScheduler::start(m.clone(), *settings) {
                    Ok(d) => {
                        decoders.insert(m.name.clone(), d);
                    }
                    Err(e) => tracing::warn!("{e}; model `{}` generates unbatched", m.name),
                }
            }
            let _ = self.decoders.set(decoders);
        }
        self.registry.set(Arc::new(registry)).is_ok()
    }

    /// The models, or 503 while they load.
    pub fn registry(&self, style: Style) -> Result<Arc<ModelRegistry>, ApiError> {
        self.registry
            .get()
            .cloned()
            .ok_or_else(|| ApiError::loading(style))
    }

    /// Whether models are loaded.
    pub fn is_ready(&self) -> bool {
        self.registry.get().is_some()
    }

    /// The model a request asks for (by name, or the first one for the task).
    pub fn pick(
        &self,
        style: Style,
        name: Option<&str>,
        task: Task,
    ) -> Result<Arc<ServedModel>, ApiError> {
        let reg = self.registry(style)?;
        match name {
            Some(n) => {
                let m = reg
                    .get(n)
                    .ok_or_else(|| ApiError::unknown_model(style, n))?;
                if m.task != task {
                    return Err(ApiError::bad_request(
                        style,
                        format!(
                            "model `{n}` does {}, not {}",
                            m.task.as_str(),
                            task.as_str()
                        ),
                    ));
                }
                Ok(m)
            }
            None => reg.first(task).ok_or_else(|| {
                ApiError::bad_request(style, format!("no {} model is loaded", task.as_str()))
            }),
        }
    }

    /// Waits for a compute permit (requests queue in arrival order).
    pub async fn permit(&self, style: Style) -> Result<OwnedSemaphorePermit, ApiError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal(style, "server is shutting down"))
    }

    /// Runs model work on a blocking thread under a permit.
    pub async fn run<T: Send + 'static>(
        &self,
        style: Style,
        work: impl FnOnce() -> Result<T, ModelError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.permit(style).await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ApiError::internal(style, format!("inference task failed: {e}")))?
        .map_err(|e| ApiError::from_model(style, e))
    }
}

/// Adds the batch headers of a batched generation: `x-batch-size`, the largest batch its
/// decode steps ran in, and `x-batch-size-mean`, their mean (both 1 when it had no decode
/// step: the first token comes from the request's own prompt pass).
pub fn batch_headers(resp: &mut Response, stats: Option<BatchStats>) {
    let Some(stats) = stats else {
        return;
    };
    let h = resp.headers_mut();
    if let Ok(v) = stats.max.to_string().parse() {
        h.insert("x-batch-size", v);
    }
    if let Ok(v) = format!("{:.2}", stats.mean).parse() {
        h.insert("x-batch-size-mean", v);
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
