//! What every decoder-only generator shares: the key/value cache, the sizes that set the cost
//! of a step, and the enum the server holds (GPT-2, BLOOM or T5).

use candle_core::{IndexOp, Module, Result, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

use super::bloom::Bloom;
use super::gpt2::Gpt2;
use super::t5::{T5Config, T5Generator};

/// Longest prompt plus generated tokens served by T5 models (relative positions: no table).
const T5_CONTEXT: usize = 1024;

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

/// The sizes that set a decoder step's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderDims {
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden size.
    pub width: usize,
    /// Inner size of the MLP.
    pub inner: usize,
    /// Vocabulary size (the LM head's output).
    pub vocab: usize,
}

/// A decoder-only language model.
#[derive(Debug)]
pub enum Decoder {
    /// GPT-2 (learned positions, Conv1D weights).
    Gpt2(Gpt2),
    /// BLOOM (ALiBi, fused per-head QKV).
    Bloom(Bloom),
    /// T5 encoder-decoder (Flan-T5); runs through [`T5Generator::start`], not `forward`.
    T5(Box<T5Generator>),
}

impl Decoder {
    /// Runs `ids` after what the cache holds and returns the next-token logits `[vocab]`.
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        match self {
            Decoder::Gpt2(m) => m.forward(ids, cache),
            Decoder::Bloom(m) => m.forward(ids, cache),
            Decoder::T5(_) => Err(candle_core::Error::Msg(
                "T5 runs through T5Generator::start, not forward".into(),
            )),
        }
    }

    /// A fresh cache.
    pub fn new_cache(&self) -> KvCache {
        match self {
            Decoder::Gpt2(m) => m.new_cache(),
            Decoder::Bloom(m) => m.new_cache(),
            Decoder::T5(_) => KvCache::new(0),
        }
    }

    /// Longest context (prompt plus generated tokens).
    pub fn max_context(&self) -> usize {
        match self {
            Decoder::Gpt2(m) => m.config().n_positions,
            Decoder::Bloom(m) => m.config().max_context,
            Decoder::T5(_) => T5_CONTEXT,
        }
    }

    /// End-of-sequence token.
    pub fn eos(&self) -> u32 {
        match self {
            Decoder::Gpt2(m) => m.config().eos_token_id,
            Decoder::Bloom(m) => m.config().eos_token_id,
            Decoder::T5(m) => m.config().eos_token_id as u32,
        }
    }

    /// The sizes that set a step's cost.
    pub fn dims(&self) -> DecoderDims {
        match self {
            Decoder::Gpt2(m) => m.config().dims(),
            Decoder::Bloom(m) => m.config().dims(),
            Decoder::T5(m) => super::t5::dims(m.config()),
        }
    }

    /// Parameters (tied LM head counted once).
    pub fn parameter_count(&self) -> usize {
        match self {
            Decoder::Gpt2(m) => m.config().parameter_count(),
            Decoder::Bloom(m) => m.config().parameter_count(),
            Decoder::T5(m) => super::t5::parameter_count(m.config()),
        }
    }

    /// The `transformers` class it matches.
    pub fn architecture(&self) -> &'static str {
        match self {
            Decoder::Gpt2(_) => "GPT2LMHeadModel",
            Decoder::Bloom(_) => "BloomForCausalLM",
            Decoder::T5(_) => "T5ForConditionalGeneration",
        }
    }
}

/// The dimensions of a generator of either architecture.
#[derive(Debug, Clone, PartialEq)]
pub enum GeneratorConfig {
    /// GPT-2.
    Gpt2(super::gpt2::Gpt2Config),
    /// BLOOM.
    Bloom(super::bloom::BloomConfig),
    /// T5 (encoder-decoder).
    T5(T5Config),
}

impl GeneratorConfig {
    /// Reads a Hugging Face `config.json` of model type `gpt2` or `bloom`.
    pub fn from_hf_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        match v
            .get("model_type")
            .and_then(|t| t.as_str())
            .unwrap_or("gpt2")
        {
            "gpt2" => super::gpt2::Gpt2Config::from_hf_json(v).map(Self::Gpt2),
            "bloom" => super::bloom::BloomConfig::from_hf_json(v).map(Self::Bloom),
            "t5" => super::t5::config_from_hf_json(v).map(Self::T5),
            other => Err(format!(
                "model_type `{other}` is not a generator this server knows (gpt2, bloom, t5)"
            )),
        }
    }

    /// Builds the model.
    pub fn load(&self, vb: candle_nn::VarBuilder) -> Result<Decoder> {
        Ok(match self {
            Self::Gpt2(c) => Decoder::Gpt2(Gpt2::load(c, vb)?),
            Self::Bloom(c) => Decoder::Bloom(Bloom::load(c, vb)?),
            Self::T5(c) => Decoder::T5(Box::new(T5Generator::load(c, vb)?)),
        })
    }

    /// The sizes that set a step's cost.
    pub fn dims(&self) -> DecoderDims {
        match self {
            Self::Gpt2(c) => c.dims(),
            Self::Bloom(c) => c.dims(),
            Self::T5(c) => super::t5::dims(c),
        }
    }

    /// Parameters (tied LM head counted once).
    pub fn parameter_count(&self) -> usize {
        match self {
            Self::Gpt2(c) => c.parameter_count(),
            Self::Bloom(c) => c.parameter_count(),
            Self::T5(c) => super::t5::parameter_count(c),
        }
    }
}

/// Where a Hugging Face decoder keeps its weights: at the root when `probe` is there and not
/// `transformer.{probe}`, otherwise under `transformer.`.
pub fn transformer_root<'a>(vb: VarBuilder<'a>, probe: &str) -> VarBuilder<'a> {
    if !vb.contains_tensor(&format!("transformer.{probe}")) && vb.contains_tensor(probe) {
        vb
    } else {
        vb.pp("transformer")
    }
}

/// Next-token logits `[vocab]` from the hidden states `x` `[1, seq, hidden]`: the last
/// position through the final norm and the head.
pub fn last_logits(x: &Tensor, seq: usize, ln_f: &LayerNorm, lm_head: &Linear) -> Result<Tensor> {
    let last = x.i((.., seq - 1..seq, ..))?;
    lm_head
        .forward(&ln_f.forward(&last)?)?
        .squeeze(0)?
        .squeeze(0)
}
