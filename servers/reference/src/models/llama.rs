//! A Llama-layout decoder (RMSNorm, rotary position embeddings, SwiGLU MLP, grouped-query
//! attention, tied or untied LM head) with a key/value cache, under Hugging Face
//! `LlamaForCausalLM` names. Every linear layer goes through [`Linear`], so its weights may be
//! FP32 or GGUF block-quantized; the residual stream between blocks is open to callers
//! ([`Llama::hidden_states`]) for layer-pruning calibration.
//!
//! Rotary embeddings rotate adjacent pairs (GGUF / llama.cpp's `llama` layout, candle's
//! `rope_i`), so a GGUF file holds the very weights served here. Hugging Face checkpoints
//! rotate halves instead: their query and key rows are permuted when a folder is read.

use candle_core::{D, Device, Result, Tensor};
use candle_nn::VarBuilder;
use candle_nn::rotary_emb::rope_i;
use serde::{Deserialize, Serialize};

use super::attention::{attend, causal_mask, merge_heads, split_heads};
use super::causal_lm::{cat_rows, row};
use super::dims::DecoderDims;
use super::generator::{Generator, GeneratorConfig, HfGeneratorConfig, ReservedIds, Started};
use super::kv_cache::{CachedDecoding, CachedForward, KvCache, append_kv, check_rows, layer_slots};
use super::linear::{Linear, weights_info};
use crate::quant::{WeightFormat, WeightsInfo};

/// Dimensions of a Llama-layout model (Hugging Face `LlamaConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Inner size of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than the query heads).
    pub num_key_value_heads: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Base of the rotary embedding frequencies.
    pub rope_theta: f64,
    /// Longest context.
    pub max_position_embeddings: usize,
    /// Whether the LM head is the embedding table.
    pub tie_word_embeddings: bool,
    /// Whether the query, key and value projections have biases (Qwen2).
    pub attention_bias: bool,
    /// Beginning-of-sequence token.
    pub bos_token_id: u32,
    /// End-of-sequence token.
    pub eos_token_id: u32,
}

impl LlamaConfig {
    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Width of the keys (and values) of all key/value heads.
    pub fn kv_width(&self) -> usize {
        self.num_key_value_heads * self.head_dim()
    }

    /// Checks the head arithmetic.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let (h, kv) = (self.num_attention_heads, self.num_key_value_heads);
        if h == 0 || kv == 0 || !self.hidden_size.is_multiple_of(h) || !h.is_multiple_of(kv) {
            return Err(format!(
                "hidden size {} / {h} heads / {kv} key-value heads do not divide",
                self.hidden_size
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err("rotary embeddings need an even head size".into());
        }
        Ok(())
    }
}

impl HfGeneratorConfig for LlamaConfig {
    const MODEL_TYPE: &'static str = "llama";

    fn from_hf_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        let get = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .map(|x| x as usize)
                .ok_or_else(|| format!("missing or non-integer `{k}`"))
        };
        let heads = get("num_attention_heads")?;
        let token = |k: &str, default: u32| {
            // Llama 3 configs may list several end tokens; the first one is used.
            match v.get(k) {
                Some(serde_json::Value::Array(a)) => a.first().and_then(|x| x.as_u64()),
                Some(x) => x.as_u64(),
                None => None,
            }
            .map_or(default, |x| x as u32)
        };
        let c = Self {
            vocab_size: get("vocab_size")?,
            hidden_size: get("hidden_size")?,
            intermediate_size: get("intermediate_size")?,
            num_hidden_layers: get("num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: get("num_key_value_heads").unwrap_or(heads),
            rms_norm_eps: v
                .get("rms_norm_eps")
                .and_then(|x| x.as_f64())
                .unwrap_or(1e-6),
            rope_theta: v
                .get("rope_theta")
                .and_then(|x| x.as_f64())
                .unwrap_or(10_000.0),
            max_position_embeddings: get("max_position_embeddings").unwrap_or(2048),
            tie_word_embeddings: v
                .get("tie_word_embeddings")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
            attention_bias: v
                .get("attention_bias")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
            bos_token_id: token("bos_token_id", 1),
            eos_token_id: token("eos_token_id", 2),
        };
        c.validate()?;
        Ok(c)
    }
}

impl GeneratorConfig for LlamaConfig {
    /// `inner` is the MLP's inner size; the flop model's `4 e² + 2 e i` per block is an
    /// approximation for this layout (GQA has smaller key/value projections, SwiGLU three
    /// matrices).
    fn dims(&self) -> DecoderDims {
        DecoderDims {
            layers: self.num_hidden_layers,
            width: self.hidden_size,
            inner: self.intermediate_size,
            vocab: self.vocab_size,
        }
    }

    /// The LM head counted once when tied, as in PyTorch's count.
    fn parameter_count(&self) -> usize {
        let (e, i, kv) = (self.hidden_size, self.intermediate_size, self.kv_width());
        let bias = if self.attention_bias { e + 2 * kv } else { 0 };
        let block = 2 * e + 2 * e * e + 2 * e * kv + bias + 3 * e * i;
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * e
        };
        self.vocab_size * e + self.num_hidden_layers * block + e + head
    }

    fn load(&self, vb: VarBuilder) -> Result<Box<dyn Generator>> {
        Ok(Box::new(Llama::load(self, WeightFormat::F32, vb)?))
    }

    fn load_as(&self, vb: VarBuilder, format: WeightFormat) -> Result<Box<dyn Generator>> {
        Ok(Box::new(Llama::load(self, format, vb)?))
    }
}

/// RMSNorm over the last dimension.
fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    candle_nn::ops::rms_norm(&x.contiguous()?, weight, eps as f32)
}

/// One Llama block: its norms' scales and its seven linear layers.
#[derive(Debug, Clone)]
pub struct LlamaBlock {
    /// Scale of the RMSNorm before attention.
    pub input_norm: Tensor,
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Attention output projection.
    pub o: Linear,
    /// Scale of the RMSNorm before the MLP.
    pub post_norm: Tensor,
    /// SwiGLU gate projection.
    pub gate: Linear,
    /// SwiGLU up projection.
    pub up: Linear,
    /// MLP down projection.
    pub down: Linear,
}

impl LlamaBlock {
    fn load(c: &LlamaConfig, format: WeightFormat, vb: VarBuilder) -> Result<Self> {
        let (e, i, kv, b) = (
            c.hidden_size,
            c.intermediate_size,
            c.kv_width(),
            c.attention_bias,
        );
        let a = vb.pp("self_attn");
        let m = vb.pp("mlp");
        Ok(Self {
            input_norm: vb.get(e, "input_layernorm.weight")?,
            q: Linear::load(e, e, b, format, a.pp("q_proj"))?,
            k: Linear::load(e, kv, b, format, a.pp("k_proj"))?,
            v: Linear::load(e, kv, b, format, a.pp("v_proj"))?,
            o: Linear::load(e, e, false, format, a.pp("o_proj"))?,
            post_norm: vb.get(e, "post_attention_layernorm.weight")?,
            gate: Linear::load(e, i, false, format, m.pp("gate_proj"))?,
            up: Linear::load(e, i, false, format, m.pp("up_proj"))?,
            down: Linear::load(i, e, false, format, m.pp("down_proj"))?,
        })
    }

    /// The linear layers with their GGUF names (`attn_q`, ..., `ffn_down`).
    pub fn linears(&self) -> [(&'static str, &Linear); 7] {
        [
            ("attn_q", &self.q),
            ("attn_k", &self.k),
            ("attn_v", &self.v),
            ("attn_output", &self.o),
            ("ffn_gate", &self.gate),
            ("ffn_up", &self.up),
            ("ffn_down", &self.down),
        ]
    }

    /// `x` `[rows, seq, e]`, one cache slot per row: the linear layers on all rows at once,
    /// rotary embeddings (each row's cosines and sines in `rotary`, built once per forward pass
    /// for every block) and attention per row against its own cache.
    fn forward(
        &self,
        x: &Tensor,
        slots: &mut [&mut Option<(Tensor, Tensor)>],
        rotary: &[(Tensor, Tensor)],
        model: &Llama,
    ) -> Result<Tensor> {
        let c = &model.config;
        let (rows, seq, _) = x.dims3()?;
        let h = rms_norm(x, &self.input_norm, c.rms_norm_eps)?;
        let (q, k, v) = (
            self.q.forward(&h)?,
            self.k.forward(&h)?,
            self.v.forward(&h)?,
        );
        let (heads, kv_heads) = (c.num_attention_heads, c.num_key_value_heads);
        let mut ctxs = Vec::with_capacity(rows);
        for ((r, slot), (cos, sin)) in slots.iter_mut().enumerate().zip(rotary) {
            let past = match slot.as_ref() {
                Some((pk, _)) => pk.dim(2)?,
                None => 0,
            };
            let q = rope_i(&split_heads(&row(&q, r, rows)?, heads)?, cos, sin)?;
            let k = rope_i(&split_heads(&row(&k, r, rows)?, kv_heads)?, cos, sin)?;
            let v = split_heads(&row(&v, r, rows)?, kv_heads)?;
            let (k, v) = append_kv(slot, k, v)?;
            let rep = heads / kv_heads;
            let k = candle_transformers::utils::repeat_kv(k, rep)?.contiguous()?;
            let v = candle_transformers::utils::repeat_kv(v, rep)?.contiguous()?;
            let mask = if seq > 1 {
                Some(causal_mask(seq, past, x.device())?)
            } else {
                None
            };
            ctxs.push(merge_heads(&attend(&q, &k, &v, mask.as_ref())?)?);
        }
        let x = (x + self.o.forward(&cat_rows(ctxs)?)?)?;
        let h = rms_norm(&x, &self.post_norm, c.rms_norm_eps)?;
        let m = (candle_nn::ops::silu(&self.gate.forward(&h)?)? * self.up.forward(&h)?)?;
        x + self.down.forward(&m)?
    }
}

/// A Llama-layout language model.
pub struct Llama {
    config: LlamaConfig,
    format: String,
    embed: Linear,
    blocks: Vec<LlamaBlock>,
    norm: Tensor,
    /// The untied head (`None`: the embedding table is the head).
    lm_head: Option<Linear>,
    inv_freq: Vec<f32>,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("config", &self.config)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The inverse rotary frequencies `theta^(-2j/d)` of a head of size `d`.
fn inverse_frequencies(head_dim: usize, theta: f64) -> Vec<f32> {
    (0..head_dim / 2)
        .map(|j| (1.0 / theta.powf(2.0 * j as f64 / head_dim as f64)) as f32)
        .collect()
}

impl Llama {
    /// Builds the model under Hugging Face names (`model.layers.N...`, `lm_head` when untied),
    /// its linear layers, embedding table and head stored as `format`.
    pub fn load(config: &LlamaConfig, format: WeightFormat, vb: VarBuilder) -> Result<Self> {
        let c = config;
        c.validate().map_err(candle_core::Error::Msg)?;
        let m = vb.pp("model");
        let embed = Linear::load(
            c.hidden_size,
            c.vocab_size,
            false,
            format.for_embeddings(),
            m.pp("embed_tokens"),
        )?;
        let blocks = (0..c.num_hidden_layers)
            .map(|n| LlamaBlock::load(c, format, m.pp("layers").pp(n)))
            .collect::<Result<Vec<_>>>()?;
        let lm_head = if c.tie_word_embeddings {
            None
        } else {
            Some(Linear::load(
                c.hidden_size,
                c.vocab_size,
                false,
                format.for_embeddings(),
                vb.pp("lm_head"),
            )?)
        };
        Ok(Self::from_parts(
            c.clone(),
            format.as_str().into(),
            embed,
            blocks,
            m.get(c.hidden_size, "norm.weight")?,
            lm_head,
        ))
    }

    /// A model from its pieces (`format` names where the weights came from).
    pub fn from_parts(
        config: LlamaConfig,
        format: String,
        embed: Linear,
        blocks: Vec<LlamaBlock>,
        norm: Tensor,
        lm_head: Option<Linear>,
    ) -> Self {
        let inv_freq = inverse_frequencies(config.head_dim(), config.rope_theta);
        Self {
            config,
            format,
            embed,
            blocks,
            norm,
            lm_head,
            inv_freq,
        }
    }

    /// The dimensions.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The blocks, in order.
    pub fn blocks(&self) -> &[LlamaBlock] {
        &self.blocks
    }

    /// The embedding table `[vocab, hidden]` (also the head when tied).
    pub fn embedding(&self) -> &Linear {
        &self.embed
    }

    /// The final RMSNorm's scale.
    pub fn final_norm(&self) -> &Tensor {
        &self.norm
    }

    /// The untied LM head, if any.
    pub fn lm_head(&self) -> Option<&Linear> {
        self.lm_head.as_ref()
    }

    /// Cosines and sines `[seq, head_dim / 2]` of positions `past..past + seq`.
    fn rotary(&self, past: usize, seq: usize) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let angles: Vec<f32> = (past..past + seq)
            .flat_map(|p| self.inv_freq.iter().map(move |f| p as f32 * f))
            .collect();
        let angles = Tensor::from_vec(angles, (seq, half), &Device::Cpu)?;
        Ok((angles.cos()?, angles.sin()?))
    }

    fn logits(&self, x: &Tensor, seq: usize) -> Result<Tensor> {
        let last = x.narrow(1, seq - 1, 1)?;
        let h = rms_norm(&last, &self.norm, self.config.rms_norm_eps)?;
        self.lm_head
            .as_ref()
            .unwrap_or(&self.embed)
            .forward(&h)?
            .squeeze(1)
    }

    /// The residual stream of a prompt run alone: `[seq, hidden]` entering each block and
    /// leaving the last (`layers + 1` tensors), for angular distances between layers.
    pub fn hidden_states(&self, ids: &[u32]) -> Result<Vec<Tensor>> {
        let mut cache = self.new_cache();
        check_rows(ids, ids.len(), 1)?;
        let input = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu)?;
        let mut x = self.embed.rows(&input)?;
        let mut out = Vec::with_capacity(self.blocks.len() + 1);
        let rotary = [self.rotary(0, ids.len())?];
        let mut caches = [&mut cache];
        for (layer, block) in self.blocks.iter().enumerate() {
            out.push(x.squeeze(0)?);
            x = block.forward(&x, &mut layer_slots(&mut caches, layer)?, &rotary, self)?;
        }
        out.push(x.squeeze(0)?);
        Ok(out)
    }

    /// Bytes and formats of the weights as stored.
    pub fn weights_info(&self) -> WeightsInfo {
        let mut linears: Vec<&Linear> = vec![&self.embed];
        linears.extend(self.lm_head.iter());
        for b in &self.blocks {
            linears.extend(b.linears().into_iter().map(|(_, l)| l));
        }
        weights_info(&self.format, self.config.parameter_count(), &linears)
    }
}

impl CachedForward for Llama {
    fn new_cache(&self) -> KvCache {
        KvCache::new(self.blocks.len())
    }

    fn forward_batch(
        &self,
        ids: &[u32],
        seq: usize,
        caches: &mut [&mut KvCache],
    ) -> Result<Tensor> {
        let rows = caches.len();
        check_rows(ids, seq, rows)?;
        for cache in caches.iter_mut() {
            cache.layers_mut(self.blocks.len());
        }
        let input = Tensor::from_slice(ids, (rows, seq), &Device::Cpu)?;
        let mut x = self.embed.rows(&input)?;
        // Every block rotates the same positions: one table per row for all of them.
        let rotary = caches
            .iter()
            .map(|cache| self.rotary(cache.len(), seq))
            .collect::<Result<Vec<_>>>()?;
        for (layer, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x, &mut layer_slots(caches, layer)?, &rotary, self)?;
        }
        for cache in caches.iter_mut() {
            cache.advance(seq);
        }
        self.logits(&x, seq)
    }
}

impl Generator for Llama {
    fn architecture(&self) -> &'static str {
        "LlamaForCausalLM"
    }

    fn max_context(&self) -> usize {
        self.config.max_position_embeddings
    }

    fn eos(&self) -> u32 {
        self.config.eos_token_id
    }

    fn dims(&self) -> DecoderDims {
        self.config.dims()
    }

    fn parameter_count(&self) -> usize {
        self.config.parameter_count()
    }

    /// Beginning and end of sequence; words start after them when they are low ids.
    fn reserved_ids(&self) -> ReservedIds {
        let (bos, eos) = (self.config.bos_token_id, self.config.eos_token_id);
        let low = bos.max(eos);
        ReservedIds {
            first_word_id: if low < 16 { low + 1 } else { 0 },
            specials: vec![bos, eos],
        }
    }

    fn start(&self, prompt: &[u32]) -> Result<Started<'_>> {
        let (decoding, logits) = CachedDecoding::start(self, prompt)?;
        Ok((Box::new(decoding), logits))
    }

    fn batched(&self) -> Option<&dyn CachedForward> {
        Some(self)
    }

    fn weights(&self) -> WeightsInfo {
        self.weights_info()
    }

    fn write_gguf(&self, path: &std::path::Path) -> Result<()> {
        super::llama_gguf::write(self, path)
    }
}

/// Greedy argmax of logits `[vocab]` (for tests and tools).
pub fn argmax(logits: &Tensor) -> Result<u32> {
    logits.argmax(D::Minus1)?.to_scalar::<u32>()
}
