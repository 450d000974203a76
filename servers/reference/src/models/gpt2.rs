//! A GPT-2 decoder-only generator with a key/value cache, laid out like Hugging Face's
//! `GPT2LMHeadModel` (Conv1D weights stored `[in, out]`, LM head tied to the embeddings).

use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm};
use serde::{Deserialize, Serialize};

use super::attention::{attend, causal_mask, merge_heads, split_qkv};
use super::causal_lm::{cat_rows, last_logits, row, transformer_root};
use super::dims::{DecoderDims, attention_heads};
use super::generator::{Generator, GeneratorConfig, HfGeneratorConfig, ReservedIds, Started};
use super::kv_cache::{CachedDecoding, CachedForward, KvCache, append_kv, check_rows, layer_slots};
use super::linear::{Linear as Layer, weights_info};
use super::pruning::KeptLayers;
use super::techniques::Techniques;
use crate::quant::{WeightFormat, WeightsInfo};

/// Dimensions of a GPT-2 model (Hugging Face `GPT2Config` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest context (prompt plus generated tokens).
    pub n_positions: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Number of attention heads.
    pub n_head: usize,
    /// Inner size of the MLP (4 × n_embd when absent).
    pub n_inner: Option<usize>,
    /// LayerNorm epsilon.
    pub layer_norm_epsilon: f64,
    /// End-of-sequence token.
    pub eos_token_id: u32,
}

impl HfGeneratorConfig for Gpt2Config {
    const MODEL_TYPE: &'static str = "gpt2";

    fn from_hf_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        let model_type = v
            .get("model_type")
            .and_then(|t| t.as_str())
            .unwrap_or("gpt2");
        if model_type != "gpt2" {
            return Err(format!(
                "model_type `{model_type}` is not a generator this server knows (gpt2)"
            ));
        }
        let get = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .map(|x| x as usize)
                .ok_or_else(|| format!("missing or non-integer `{k}`"))
        };
        let vocab_size = get("vocab_size")?;
        Ok(Self {
            vocab_size,
            n_positions: get("n_positions")?,
            n_embd: get("n_embd")?,
            n_layer: get("n_layer")?,
            n_head: attention_heads(get("n_embd")?, get("n_head")?, "n_embd", "n_head")?,
            n_inner: get("n_inner").ok(),
            layer_norm_epsilon: v
                .get("layer_norm_epsilon")
                .and_then(|x| x.as_f64())
                .unwrap_or(1e-5),
            eos_token_id: get("eos_token_id")
                .map_or(vocab_size.saturating_sub(1) as u32, |x| x as u32),
        })
    }
}

impl Gpt2Config {
    /// Inner size of the MLP.
    pub fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }
}

impl GeneratorConfig for Gpt2Config {
    fn dims(&self) -> DecoderDims {
        DecoderDims {
            layers: self.n_layer,
            width: self.n_embd,
            inner: self.inner(),
            vocab: self.vocab_size,
        }
    }

    /// The LM head shares the token embeddings, as in PyTorch's count.
    fn parameter_count(&self) -> usize {
        let (e, i) = (self.n_embd, self.inner());
        let block = 2 * 2 * e + (e * 3 * e + 3 * e) + (e * e + e) + (e * i + i) + (i * e + e);
        (self.vocab_size + self.n_positions) * e + self.n_layer * block + 2 * e
    }

    fn load(&self, vb: VarBuilder) -> Result<Box<dyn Generator>> {
        Ok(Box::new(Gpt2::load(self, vb)?))
    }

    fn load_as(&self, vb: VarBuilder, format: WeightFormat) -> Result<Box<dyn Generator>> {
        Ok(Box::new(Gpt2::load_as(self, format, vb)?))
    }
}

/// Loads a GPT-2 Conv1D (`weight [in, out]`, `bias [out]`) as a linear layer stored as
/// `format`.
fn conv1d(d_in: usize, d_out: usize, format: WeightFormat, vb: VarBuilder) -> Result<Layer> {
    let w = vb.get((d_in, d_out), "weight")?.t()?.contiguous()?;
    let b = vb.get(d_out, "bias")?;
    Layer::stored_as(w, Some(b), format)
}

struct Block {
    ln_1: LayerNorm,
    c_attn: Layer,
    c_proj: Layer,
    ln_2: LayerNorm,
    c_fc: Layer,
    mlp_proj: Layer,
    heads: usize,
}

impl Block {
    fn load(c: &Gpt2Config, f: WeightFormat, vb: VarBuilder) -> Result<Self> {
        let (e, eps) = (c.n_embd, c.layer_norm_epsilon);
        Ok(Self {
            ln_1: layer_norm(e, eps, vb.pp("ln_1"))?,
            c_attn: conv1d(e, 3 * e, f, vb.pp("attn.c_attn"))?,
            c_proj: conv1d(e, e, f, vb.pp("attn.c_proj"))?,
            ln_2: layer_norm(e, eps, vb.pp("ln_2"))?,
            c_fc: conv1d(e, c.inner(), f, vb.pp("mlp.c_fc"))?,
            mlp_proj: conv1d(c.inner(), e, f, vb.pp("mlp.c_proj"))?,
            heads: c.n_head,
        })
    }

    /// `x` `[rows, seq, e]`, one cache slot per row: the dense layers on all rows at once,
    /// attention per row against its own cache.
    fn forward(&self, x: &Tensor, slots: &mut [&mut Option<(Tensor, Tensor)>]) -> Result<Tensor> {
        let (rows, seq, _) = x.dims3()?;
        let qkv = self.c_attn.forward(&self.ln_1.forward(x)?)?;
        let mut ctxs = Vec::with_capacity(rows);
        for (r, slot) in slots.iter_mut().enumerate() {
            let (q, k, v) = split_qkv(&row(&qkv, r, rows)?, self.heads)?;
            let (k, v) = append_kv(slot, k, v)?;
            let past = k.dim(2)? - seq;
            let mask = if seq > 1 {
                Some(causal_mask(seq, past, x.device())?)
            } else {
                None
            };
            ctxs.push(merge_heads(&attend(&q, &k, &v, mask.as_ref())?)?);
        }
        let ctx = cat_rows(ctxs)?;
        let x = (x + self.c_proj.forward(&ctx)?)?;
        let m = self
            .mlp_proj
            .forward(&self.c_fc.forward(&self.ln_2.forward(&x)?)?.gelu()?)?;
        x + m
    }
}

/// A GPT-2 language model.
pub struct Gpt2 {
    config: Gpt2Config,
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    format: WeightFormat,
    kept: KeptLayers,
}

impl std::fmt::Debug for Gpt2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpt2")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Gpt2 {
    /// Builds the model under Hugging Face names, with or without the `transformer.` prefix.
    pub fn load(config: &Gpt2Config, vb: VarBuilder) -> Result<Self> {
        Self::load_as(config, WeightFormat::F32, vb)
    }

    /// Builds the model with the blocks' linear layers stored as `format` (the embeddings
    /// and the tied LM head stay FP32).
    pub fn load_as(config: &Gpt2Config, format: WeightFormat, vb: VarBuilder) -> Result<Self> {
        let c = config;
        let vb = transformer_root(vb, "wte.weight");
        let wte = embedding(c.vocab_size, c.n_embd, vb.pp("wte"))?;
        let blocks = (0..c.n_layer)
            .map(|n| Block::load(c, format, vb.pp("h").pp(n)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: c.clone(),
            format,
            lm_head: Linear::new(wte.embeddings().clone(), None),
            wpe: embedding(c.n_positions, c.n_embd, vb.pp("wpe"))?,
            wte,
            kept: KeptLayers::all(blocks.len()),
            blocks,
            ln_f: layer_norm(c.n_embd, c.layer_norm_epsilon, vb.pp("ln_f"))?,
        })
    }

    /// The dimensions.
    pub fn config(&self) -> &Gpt2Config {
        &self.config
    }
}

impl CachedForward for Gpt2 {
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

impl Gpt2 {
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
        let mut positions = Vec::with_capacity(ids.len());
        for cache in caches.iter_mut() {
            cache.layers_mut(self.blocks.len());
            let start = cache.len() as u32;
            positions.extend(start..start + seq as u32);
        }
        let input = Tensor::from_slice(ids, (rows, seq), dev)?;
        let positions = Tensor::from_vec(positions, (rows, seq), dev)?;
        let mut x = (self.wte.forward(&input)? + self.wpe.forward(&positions)?)?;
        for (layer, block) in self.blocks.iter().enumerate() {
            if let Some(s) = states.as_deref_mut() {
                s.push(x.clone());
            }
            x = block.forward(&x, &mut layer_slots(caches, layer)?)?;
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

impl Generator for Gpt2 {
    fn architecture(&self) -> &'static str {
        "GPT2LMHeadModel"
    }

    fn max_context(&self) -> usize {
        self.config.n_positions
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
            .flat_map(|b| [&b.c_attn, &b.c_proj, &b.c_fc, &b.mlp_proj])
            .collect();
        weights_info(self.format.as_str(), self.parameter_count(), &linears)
    }

    /// GPT-2 has only its last id.
    fn reserved_ids(&self) -> ReservedIds {
        ReservedIds {
            first_word_id: 0,
            specials: vec![self.eos()],
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
