//! The key/value cache of a decoder-only model, and the generation state built on it.

use candle_core::{Result, Tensor};

use super::generator::Decoding;

/// The key/value cache of one generation: per layer `[1, heads, tokens, head_dim]` keys and values.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `layers` layers.
    pub fn new(layers: usize) -> Self {
        Self {
            layers: (0..layers).map(|_| None).collect(),
            len: 0,
        }
    }

    /// Tokens already in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been run yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The per-layer slots, resized to `layers` if the cache was made for another model.
    pub fn layers_mut(&mut self, layers: usize) -> &mut [Option<(Tensor, Tensor)>] {
        if self.layers.len() != layers {
            *self = Self::new(layers);
        }
        &mut self.layers
    }

    /// The slot of one layer.
    pub fn layer_mut(&mut self, layer: usize) -> Option<&mut Option<(Tensor, Tensor)>> {
        self.layers.get_mut(layer)
    }

    /// Records that `tokens` more tokens went through every layer.
    pub fn advance(&mut self, tokens: usize) {
        self.len += tokens;
    }
}

/// Appends new keys and values to a layer's cache and returns all of them.
pub fn append_kv(
    slot: &mut Option<(Tensor, Tensor)>,
    k: Tensor,
    v: Tensor,
) -> Result<(Tensor, Tensor)> {
    let (k, v) = match slot.take() {
        Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
        None => (k, v),
    };
    *slot = Some((k.clone(), v.clone()));
    Ok((k, v))
}

/// The per-sequence slots of one layer across a batch of caches (each cache already sized by
/// [`KvCache::layers_mut`]).
pub fn layer_slots<'a>(
    caches: &'a mut [&mut KvCache],
    layer: usize,
) -> Result<Vec<&'a mut Option<(Tensor, Tensor)>>> {
    caches
        .iter_mut()
        .map(|c| {
            c.layer_mut(layer)
                .ok_or_else(|| candle_core::Error::Msg(format!("no cache slot for layer {layer}")))
        })
        .collect()
}

/// Checks the shape of a batched call: `rows` caches, `seq` tokens each in `ids`, and more
/// than one row only for single-token steps.
pub fn check_rows(ids: &[u32], seq: usize, rows: usize) -> Result<()> {
    if seq == 0 || rows == 0 {
        return Err(candle_core::Error::Msg("empty input".into()));
    }
    if ids.len() != rows * seq {
        return Err(candle_core::Error::Msg(format!(
            "{} ids for {rows} sequences of {seq} tokens",
            ids.len()
        )));
    }
    Ok(())
}

/// A decoder-only model that runs tokens after what a [`KvCache`] holds, alone or for a
/// batch of sequences at once.
pub trait CachedForward: Send + Sync {
    /// A fresh cache for one generation.
    fn new_cache(&self) -> KvCache;

    /// Runs `seq` tokens per sequence (`ids` row after row) after what each sequence's cache
    /// holds, as one forward pass, and returns the next-token logits `[rows, vocab]`. The
    /// dense layers run on every row at once; attention runs per row against that row's own
    /// cache (so sequences of different lengths need no padding).
    fn forward_batch(&self, ids: &[u32], seq: usize, caches: &mut [&mut KvCache])
    -> Result<Tensor>;

    /// Runs `ids` after what the cache holds and returns the next-token logits `[vocab]`.
    fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        on_compute_pool(|| self.forward_batch(ids, ids.len(), &mut [cache])?.squeeze(0))
    }
}

/// Runs `f` on a thread of the compute pool (rayon's, which candle's kernels use), and
/// waits. A forward pass makes hundreds of parallel calls; made from a thread outside the
/// pool, each one wakes a worker and sleeps until it is done (a futex wake and a yield per
/// call: 7% of a SmolLM2 decode step on one thread, by `perf`); made from inside, each runs
/// in place or is stolen, and the caller switches threads once per pass.
pub fn on_compute_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// One generation of a [`CachedForward`] model: the model and its cache.
pub struct CachedDecoding<'a, M> {
    model: &'a M,
    cache: KvCache,
}

impl<'a, M: CachedForward> CachedDecoding<'a, M> {
    /// Runs the prompt in a fresh cache: the generation and the next-token logits `[vocab]`.
    pub fn start(model: &'a M, prompt: &[u32]) -> Result<(Self, Tensor)> {
        let mut cache = model.new_cache();
        let logits = model.forward(prompt, &mut cache)?;
        Ok((Self { model, cache }, logits))
    }
}

impl<M: CachedForward> Decoding for CachedDecoding<'_, M> {
    fn step(&mut self, token: u32) -> Result<Tensor> {
        self.model.forward(&[token], &mut self.cache)
    }
}
