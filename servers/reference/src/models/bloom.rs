//! A BLOOM decoder-only generator (ALiBi attention biases, fused per-head QKV, embedding
//! LayerNorm), laid out like Hugging Face's `BloomForCausalLM` (as BLOOMz in the PHP study).

use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm};
use serde::{Deserialize, Serialize};

use super::attention::{attend, causal_mask, merge_heads};
use super::causal_lm::{cat_rows, last_logits, row, transformer_root};
use super::dims::{DecoderDims, attention_heads};
use super::generator::{Generator, GeneratorConfig, HfGeneratorConfig, ReservedIds, Started};
use super::kv_cache::{CachedDecoding, CachedForward, KvCache, append_kv, check_rows, layer_slots};
use super::linear::{Linear as Layer, weights_info};
use super::pruning::KeptLayers;
use super::techniques::Techniques;
use crate::quant::{WeightFormat, WeightsInfo};

/// Context served when a config names none (BLOOM was trained on 2,048 tokens).
const DEFAULT_CONTEXT: usize = 2048;

/// Dimensions of a BLOOM model (Hugging Face `BloomConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BloomConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Number of attention heads.
    pub n_head: usize,
    /// LayerNorm epsilon.
    pub layer_norm_epsilon: f64,
    /// End-of-sequence token.
    pub eos_token_id: u32,
    /// Longest context served (ALiBi has no position table; `seq_length` or 2,048).
    pub max_context: usize,
}

impl HfGeneratorConfig for BloomConfig {
    const MODEL_TYPE: &'static str = "bloom";

    fn from_hf_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(serde_json::Value::as_u64))
                .map(|x| x as usize)
                .ok_or_else(|| format!("missing or non-integer `{}`", keys[0]))
        };
        Ok(Self {
            vocab_size: get(&["vocab_size"])?,
            hidden_size: get(&["hidden_size", "n_embed"])?,
            n_layer: get(&["n_layer", "num_hidden_layers"])?,
            n_head: attention_heads(
                get(&["hidden_size", "n_embed"])?,
                get(&["n_head", "num_attention_heads"])?,
                "hidden_size",
                "n_head",
            )?,
            layer_norm_epsilon: v
                .get("layer_norm_epsilon")
                .and_then(|x| x.as_f64())
                .unwrap_or(1e-5),
            eos_token_id: get(&["eos_token_id"]).map_or(2, |x| x as u32),
            max_context: get(&["seq_length", "max_position_embeddings"]).unwrap_or(DEFAULT_CONTEXT),
        })
    }
}

impl GeneratorConfig for BloomConfig {
    fn dims(&self) -> DecoderDims {
        DecoderDims {
            layers: self.n_layer,
            width: self.hidden_size,
            inner: 4 * self.hidden_size,
            vocab: self.vocab_size,
        }
    }

    /// The LM head shares the token embeddings, as in PyTorch's count.
    fn parameter_count(&self) -> usize {
        let h = self.hidden_size;
        let block =
            2 * 2 * h + (3 * h * h + 3 * h) + (h * h + h) + (4 * h * h + 4 * h) + (4 * h * h + h);
        self.vocab_size * h + 2 * h + self.n_layer * block + 2 * h
    }

    fn load(&self, vb: VarBuilder) -> Result<Box<dyn Generator>> {
        Ok(Box::new(Bloom::load(self, vb)?))
    }

    fn load_as(&self, vb: VarBuilder, format: WeightFormat) -> Result<Box<dyn Generator>> {
        Ok(Box::new(Bloom::load_as(self, format, vb)?))
    }
}

/// ALiBi slopes per head, as `transformers`' `build_alibi_tensor`.
pub fn alibi_slopes(heads: usize) -> Vec<f32> {
    let closest = 1usize << (usize::BITS - 1 - heads.max(1).leading_zeros());
    let base = 2f64.powf(-8.0 / closest as f64);
    let mut slopes: Vec<f32> = (1..=closest).map(|p| base.powi(p as i32) as f32).collect();
    if closest != heads {
        let extra_base = 2f64.powf(-4.0 / closest as f64);
        let remaining = closest.min(heads - closest);
        slopes.extend((0..remaining).map(|i| extra_base.powi(2 * i as i32 + 1) as f32));
    }
    slopes
}

struct Block {
    input_layernorm: LayerNorm,
    query_key_value: Layer,
    dense: Layer,
    post_attention_layernorm: LayerNorm,
    dense_h_to_4h: Layer,
    dense_4h_to_h: Layer,
    heads: usize,
}

impl Block {
    fn load(c: &BloomConfig, f: WeightFormat, vb: VarBuilder) -> Result<Self> {
        let (h, eps) = (c.hidden_size, c.layer_norm_epsilon);
        Ok(Self {
            input_layernorm: layer_norm(h, eps, vb.pp("input_layernorm"))?,
            query_key_value: Layer::load(
                h,
                3 * h,
                true,
                f,
                vb.pp("self_attention.query_key_value"),
            )?,
            dense: Layer::load(h, h, true, f, vb.pp("self_attention.dense"))?,
            post_attention_layernorm: layer_norm(h, eps, vb.pp("post_attention_layernorm"))?,
            dense_h_to_4h: Layer::load(h, 4 * h, true, f, vb.pp("mlp.dense_h_to_4h"))?,
            dense_4h_to_h: Layer::load(4 * h, h, true, f, vb.pp("mlp.dense_4h_to_h"))?,
            heads: c.n_head,
        })
    }

    /// `x` `[rows, seq, h]`, with each row's attention bias and cache slot: the dense layers
    /// on all rows at once, attention per row against its own cache.
    fn forward(
        &self,
        x: &Tensor,
        biases: &[Tensor],
        slots: &mut [&mut Option<(Tensor, Tensor)>],
    ) -> Result<Tensor> {
        let (rows, seq, h) = x.dims3()?;
        let hd = h / self.heads;
        // Fused QKV is laid out per head: [.., heads, 3, head_dim].
        let qkv = self
            .query_key_value
            .forward(&self.input_layernorm.forward(x)?)?
            .reshape((rows, seq, self.heads, 3, hd))?;
        let mut ctxs = Vec::with_capacity(rows);
        for (r, (slot, bias)) in slots.iter_mut().zip(biases).enumerate() {
            let qkv = row(&qkv, r, rows)?;
            let part = |i: usize| -> Result<Tensor> {
                qkv.narrow(3, i, 1)?
                    .squeeze(3)?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (part(0)?, part(1)?, part(2)?);
            let (k, v) = append_kv(slot, k, v)?;
            ctxs.push(merge_heads(&attend(&q, &k, &v, Some(bias))?)?);
        }
        let ctx = cat_rows(ctxs)?;
        let x = (self.dense.forward(&ctx)? + x)?;
        let m = self.dense_4h_to_h.forward(
            &self
                .dense_h_to_4h
                .forward(&self.post_attention_layernorm.forward(&x)?)?
                .gelu()?,
        )?;
        m + x
    }
}

/// A BLOOM language model.
pub struct Bloom {
    config: BloomConfig,
    word_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    slopes: Tensor,
    format: WeightFormat,
    kept: KeptLayers,
}

impl std::fmt::Debug for Bloom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bloom")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Bloom {
    /// Builds the model under Hugging Face names, with or without the `transformer.` prefix.
    pub fn load(config: &BloomConfig, vb: VarBuilder) -> Result<Self> {
        Self::load_as(config, WeightFormat::F32, vb)
    }

    /// Builds the model with the blocks' linear layers stored as `format` (the embeddings
    /// and the tied LM head stay FP32).
    pub fn load_as(config: &BloomConfig, format: WeightFormat, vb: VarBuilder) -> Result<Self> {
        let c = config;
        let vb = transformer_root(vb, "word_embeddings.weight");
        let word_embeddings = embedding(c.vocab_size, c.hidden_size, vb.pp("word_embeddings"))?;
        let blocks = (0..c.n_layer)
            .map(|n| Block::load(c, format, vb.pp("h").pp(n)))
            .collect::<Result<Vec<_>>>()?;
        let slopes = alibi_slopes(c.n_head);
        Ok(Self {
            config: c.clone(),
            format,
            lm_head: Linear::new(word_embeddings.embeddings().clone(), None),
            embeddings_norm: layer_norm(
                c.hidden_size,
                c.layer_norm_epsilon,
                vb.pp("word_embeddings_layernorm"),
            )?,
            word_embeddings,
            kept: KeptLayers::all(blocks.len()),
            blocks,
            ln_f: layer_norm(c.hidden_size, c.layer_norm_epsilon, vb.pp("ln_f"))?,
            slopes: Tensor::from_vec(slopes, (1, c.n_head, 1, 1), &Device::Cpu)?,
        })
    }

    /// The dimensions.
    pub fn config(&self) -> &BloomConfig {
        &self.config
    }
}

impl CachedForward for Bloom {
    fn new_cache(&self) -> KvCache {
        KvCache::new(self.blocks.len())
    }

    fn forward_batch(
        &self,
        ids: &[u32],
        seq: usize,
        caches: &mut [&mut KvCache],
    ) -> Result<Tensor> {
        let x = self.run_blocks(ids, seq, caches, None)?;
        last_logits(&x, seq, &self.ln_f, &self.lm_head)
    }
}

impl Bloom {
    /// The embedded ids `[rows, seq]` through every block, each row against its own cache;
    /// `states` gets the residual stream entering each block and leaving the last.
    fn run_blocks(
        &self,
        ids: &[u32],
        seq: usize,
        caches: &mut [&mut KvCache],
        mut states: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor> {
        let dev = &Device::Cpu;
        let rows = caches.len();
        check_rows(ids, seq, rows)?;
        let mut biases = Vec::with_capacity(rows);
        for cache in caches.iter_mut() {
            cache.layers_mut(self.blocks.len());
            let past = cache.len();
            let total = past + seq;
            // ALiBi: slope × key position, plus the causal mask when several queries run at once.
            let positions = Tensor::arange(0u32, total as u32, dev)?
                .to_dtype(candle_core::DType::F32)?
                .reshape((1, 1, 1, total))?;
            let mut bias = self.slopes.broadcast_mul(&positions)?;
            if seq > 1 {
                bias = bias.broadcast_add(&causal_mask(seq, past, dev)?)?;
            }
            biases.push(bias);
        }
        let input = Tensor::from_slice(ids, (rows, seq), dev)?;
        let mut x = self
            .embeddings_norm
            .forward(&self.word_embeddings.forward(&input)?)?;
        for (layer, block) in self.blocks.iter().enumerate() {
            if let Some(s) = states.as_deref_mut() {
                s.push(x.clone());
            }
            x = block.forward(&x, &biases, &mut layer_slots(caches, layer)?)?;
        }
        if let Some(s) = states {
            s.push(x.clone());
        }
        for cache in caches.iter_mut() {
            cache.advance(seq);
        }
        Ok(x)
    }
}

impl Generator for Bloom {
    fn architecture(&self) -> &'static str {
        "BloomForCausalLM"
    }

    fn max_context(&self) -> usize {
        self.config.max_context
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

    fn weights(&self) -> WeightsInfo {
        let linears: Vec<&Layer> = self
            .blocks
            .iter()
            .flat_map(|b| {
                [
                    &b.query_key_value,
                    &b.dense,
                    &b.dense_h_to_4h,
                    &b.dense_4h_to_h,
                ]
            })
            .collect();
        weights_info(self.format.as_str(), self.parameter_count(), &linears)
    }

    /// BLOOM keeps ids 0-3 for pad, bos, eos and unk.
    fn reserved_ids(&self) -> ReservedIds {
        ReservedIds {
            first_word_id: 4,
            specials: vec![0, 1, 2, 3, self.eos()],
        }
    }

    fn start(&self, prompt: &[u32]) -> Result<Started<'_>> {
        let (decoding, logits) = CachedDecoding::start(self, prompt)?;
        Ok((Box::new(decoding), logits))
    }

    fn batched(&self) -> Option<&dyn CachedForward> {
        Some(self)
    }

    fn techniques(&self) -> Techniques {
        self.kept.techniques()
    }

    fn hidden_states(&self, ids: &[u32]) -> Result<Vec<Tensor>> {
        let mut cache = self.new_cache();
        let mut states = Vec::with_capacity(self.blocks.len() + 1);
        self.run_blocks(ids, ids.len(), &mut [&mut cache], Some(&mut states))?;
        states.iter().map(|x| x.squeeze(0)).collect()
    }

    fn remove_layers(&mut self, first: usize, count: usize) -> Result<()> {
        self.config.n_layer = self.kept.remove_from(&mut self.blocks, first, count)?;
        Ok(())
    }
}
