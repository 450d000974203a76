//! A Llama-layout decoder (RMSNorm, rotary position embeddings, SwiGLU MLP, grouped-query
//! attention, tied or untied LM head) with a key/value cache, under Hugging Face
//! `LlamaForCausalLM` names, and its efficiency variants: a sparse mixture of experts in
//! place of the MLP (Mixtral names), Mixture-of-Depths routers on every second block, and
//! blocks removed by layer pruning. Every linear layer goes through [`Linear`], so its
//! weights may be FP32, GGUF block-quantized or ternary; the residual stream between blocks
//! is open to callers ([`Llama::hidden_states`]) for layer-pruning calibration.
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
use super::depths::{DepthRouter, DepthsSpec, gate};
use super::dims::DecoderDims;
use super::generator::{Generator, GeneratorConfig, HfGeneratorConfig, ReservedIds, Started};
use super::kv_cache::{CachedDecoding, CachedForward, KvCache, append_kv, check_rows, layer_slots};
use super::linear::{Linear, weights_info};
use super::moe::{Mlp, MoeSpec};
use super::pruning::KeptLayers;
use super::techniques::{DepthsInfo, Techniques};
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
    /// The sparse mixture of experts in place of each MLP (Mixtral layout), if any.
    #[serde(default)]
    pub moe: Option<MoeSpec>,
    /// Mixture-of-Depths routing of every second block, if any.
    #[serde(default)]
    pub mixture_of_depths: Option<DepthsSpec>,
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
        if let Some(moe) = &self.moe {
            moe.validate()?;
        }
        if let Some(d) = &self.mixture_of_depths {
            d.validate()?;
        }
        Ok(())
    }
}

impl LlamaConfig {
    /// Parameters with `experts` MLPs per block.
    fn count(&self, experts: usize) -> usize {
        let (e, i, kv) = (self.hidden_size, self.intermediate_size, self.kv_width());
        let bias = if self.attention_bias { e + 2 * kv } else { 0 };
        let router = self.moe.map_or(0, |m| m.experts * e);
        let block = 2 * e + 2 * e * e + 2 * e * kv + bias + experts * 3 * e * i + router;
        let routed = if self.mixture_of_depths.is_some() {
            (0..self.num_hidden_layers)
                .filter(|&n| DepthsSpec::routes(n))
                .count()
                * e
        } else {
            0
        };
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * e
        };
        self.vocab_size * e + self.num_hidden_layers * block + routed + e + head
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
            moe: match (get("num_local_experts"), get("num_experts_per_tok")) {
                (Ok(experts), Ok(top_k)) => Some(MoeSpec { experts, top_k }),
                _ => None,
            },
            mixture_of_depths: None,
        };
        c.validate()?;
        Ok(c)
    }
}

impl GeneratorConfig for LlamaConfig {
    /// `inner` is the MLP's inner size (times the experts per token of a mixture); the flop
    /// model's `4 e² + 2 e i` per block is an approximation for this layout (GQA has smaller
    /// key/value projections, SwiGLU three matrices; `Llama::flops_per_token` is exact).
    fn dims(&self) -> DecoderDims {
        DecoderDims {
            layers: self.num_hidden_layers,
            width: self.hidden_size,
            inner: self.intermediate_size * self.moe.map_or(1, |m| m.top_k),
            vocab: self.vocab_size,
        }
    }

    /// The LM head counted once when tied, as in PyTorch's count; every expert and router.
    fn parameter_count(&self) -> usize {
        self.count(self.moe.map_or(1, |m| m.experts))
    }

    /// Parameters one token goes through: of a mixture, its `top_k` experts.
    fn active_parameter_count(&self) -> usize {
        self.count(self.moe.map_or(1, |m| m.top_k))
    }

    fn with_mixture_of_depths(
        &self,
        spec: DepthsSpec,
    ) -> std::result::Result<Box<dyn GeneratorConfig>, String> {
        spec.validate()?;
        Ok(Box::new(Self {
            mixture_of_depths: Some(spec),
            ..self.clone()
        }))
    }

    fn load(&self, vb: VarBuilder) -> Result<Box<dyn Generator>> {
        Ok(Box::new(Llama::load(self, WeightFormat::F32, vb)?))
    }

    fn load_as(&self, vb: VarBuilder, format: WeightFormat) -> Result<Box<dyn Generator>> {
        Ok(Box::new(Llama::load(self, format, vb)?))
    }
}

/// A Mixtral `config.json`: the Llama layout with a sparse mixture of experts in each block.
#[derive(Debug, Clone, PartialEq)]
pub struct MixtralConfig(pub LlamaConfig);

impl HfGeneratorConfig for MixtralConfig {
    const MODEL_TYPE: &'static str = "mixtral";

    fn from_hf_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        let mut c = LlamaConfig::from_hf_json(v)?;
        if c.moe.is_none() {
            return Err(
                "a mixtral config needs `num_local_experts` and `num_experts_per_tok`".into(),
            );
        }
        // Attention here is over the whole context: serve no more than the sliding window,
        // where the two agree.
        if let Some(window) = v.get("sliding_window").and_then(serde_json::Value::as_u64) {
            c.max_position_embeddings = c.max_position_embeddings.min(window as usize);
        }
        Ok(Self(c))
    }
}

impl GeneratorConfig for MixtralConfig {
    fn dims(&self) -> DecoderDims {
        self.0.dims()
    }

    fn parameter_count(&self) -> usize {
        self.0.parameter_count()
    }

    fn active_parameter_count(&self) -> usize {
        self.0.active_parameter_count()
    }

    fn with_mixture_of_depths(
        &self,
        spec: DepthsSpec,
    ) -> std::result::Result<Box<dyn GeneratorConfig>, String> {
        self.0.with_mixture_of_depths(spec)
    }

    fn load(&self, vb: VarBuilder) -> Result<Box<dyn Generator>> {
        self.0.load(vb)
    }

    fn load_as(&self, vb: VarBuilder, format: WeightFormat) -> Result<Box<dyn Generator>> {
        self.0.load_as(vb, format)
    }
}

/// RMSNorm over the last dimension.
fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    candle_nn::ops::rms_norm(&x.contiguous()?, weight, eps as f32)
}

/// Attention of one new token's query heads `q` `[1, heads, 1, d]` over the keys and values
/// `[1, kv_heads, T, d]` of its grouped key/value heads, without repeating them: the `rep`
/// query heads of each group form the rows of one product (query head `g·rep + i` reads
/// key/value head `g`, as `repeat_kv` lays them out).
fn attend_grouped(q: &Tensor, k: &Tensor, v: &Tensor, rep: usize) -> Result<Tensor> {
    let (b, heads, _, d) = q.dims4()?;
    let kv_heads = heads / rep;
    let q = q.reshape((b, kv_heads, rep, d))?;
    // The keys transposed as a view: the matmul reads them with strides rather than copying
    // the whole cache every step.
    let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    probs.matmul(v)?.reshape((b, heads, 1, d))
}

/// One Llama block: its norms' scales, its attention projections, its MLP (dense or a
/// mixture of experts) and, when it is routed (Mixture-of-Depths), its router.
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
    /// The feed-forward half.
    pub mlp: Mlp,
    /// The Mixture-of-Depths router, when only some tokens go through this block.
    pub router: Option<DepthRouter>,
}

/// One row's positions: the first one, and the cosines and sines `[seq, head_dim / 2]` of
/// its tokens'.
#[derive(Debug, Clone)]
struct Rotary {
    start: usize,
    cos: Tensor,
    sin: Tensor,
}

impl LlamaBlock {
    fn load(c: &LlamaConfig, index: usize, format: WeightFormat, vb: VarBuilder) -> Result<Self> {
        let (e, i, kv, b) = (
            c.hidden_size,
            c.intermediate_size,
            c.kv_width(),
            c.attention_bias,
        );
        let a = vb.pp("self_attn");
        let router = match c.mixture_of_depths {
            Some(_) if DepthsSpec::routes(index) => {
                Some(DepthRouter::new(vb.get(e, "mod_router.weight")?))
            }
            _ => None,
        };
        Ok(Self {
            input_norm: vb.get(e, "input_layernorm.weight")?,
            q: Linear::load(e, e, b, format, a.pp("q_proj"))?,
            k: Linear::load(e, kv, b, format, a.pp("k_proj"))?,
            v: Linear::load(e, kv, b, format, a.pp("v_proj"))?,
            o: Linear::load(e, e, false, format, a.pp("o_proj"))?,
            post_norm: vb.get(e, "post_attention_layernorm.weight")?,
            mlp: Mlp::load(e, i, c.moe, format, &vb)?,
            router,
        })
    }

    /// The linear layers with their GGUF names (`attn_q`, ..., `ffn_down`; experts'
    /// `ffn_gate.E` and the router `ffn_gate_inp`).
    pub fn linears(&self) -> Vec<(String, &Linear)> {
        let mut all = vec![
            ("attn_q".to_string(), &self.q),
            ("attn_k".to_string(), &self.k),
            ("attn_v".to_string(), &self.v),
            ("attn_output".to_string(), &self.o),
        ];
        all.extend(self.mlp.linears());
        all
    }

    /// Parameters of the block; `active`: only those one token goes through (a mixture's
    /// `top_k` experts).
    pub fn parameters(&self, active: bool) -> usize {
        let norms = self.input_norm.elem_count() + self.post_norm.elem_count();
        let router = self.router.as_ref().map_or(0, |r| r.weight.elem_count());
        let attention: usize = [&self.q, &self.k, &self.v, &self.o]
            .iter()
            .map(|l| l.elements())
            .sum();
        let mlp = match &self.mlp {
            Mlp::Dense(m) => m.gate.elements() + m.up.elements() + m.down.elements(),
            Mlp::Sparse(s) => {
                let per = s.experts.first().map_or(0, |m| {
                    m.gate.elements() + m.up.elements() + m.down.elements()
                });
                let used = if active { s.top_k } else { s.experts.len() };
                s.router.elements() + used * per
            }
        };
        norms + router + attention + mlp
    }

    /// `x` `[rows, seq, e]`, one cache slot and one rotary table per row: a routed block
    /// takes each row's chosen tokens only, a plain one every token.
    fn forward(
        &self,
        x: &Tensor,
        slots: &mut [&mut Option<(Tensor, Tensor)>],
        rotary: &[Rotary],
        model: &Llama,
    ) -> Result<Tensor> {
        match (&self.router, &model.config.mixture_of_depths) {
            (Some(router), Some(spec)) => self.routed(x, slots, rotary, model, router, spec),
            _ => self.dense(x, slots, rotary, model),
        }
    }

    /// Every token of every row through the block.
    fn dense(
        &self,
        x: &Tensor,
        slots: &mut [&mut Option<(Tensor, Tensor)>],
        rotary: &[Rotary],
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
        for (r, (slot, Rotary { cos, sin, .. })) in slots.iter_mut().zip(rotary).enumerate() {
            let past = match slot.as_ref() {
                Some((pk, _)) => pk.dim(2)?,
                None => 0,
            };
            let q = rope_i(&split_heads(&row(&q, r, rows)?, heads)?, cos, sin)?;
            let k = rope_i(&split_heads(&row(&k, r, rows)?, kv_heads)?, cos, sin)?;
            let v = split_heads(&row(&v, r, rows)?, kv_heads)?;
            let (k, v) = append_kv(slot, k, v)?;
            let rep = heads / kv_heads;
            if seq == 1 {
                ctxs.push(merge_heads(&attend_grouped(&q, &k, &v, rep)?)?);
                continue;
            }
            let k = candle_transformers::utils::repeat_kv(k, rep)?.contiguous()?;
            let v = candle_transformers::utils::repeat_kv(v, rep)?.contiguous()?;
            let mask = causal_mask(seq, past, x.device())?;
            ctxs.push(merge_heads(&attend(&q, &k, &v, Some(&mask))?)?);
        }
        let x = (x + self.o.forward(&cat_rows(ctxs)?)?)?;
        let h = rms_norm(&x, &self.post_norm, c.rms_norm_eps)?;
        x + self.mlp.forward(&h)?
    }

    /// Mixture-of-Depths: per row, the router's chosen tokens through the block at their own
    /// positions (their keys alone enter this block's cache), their change scaled by the
    /// router's gate; the other tokens unchanged.
    fn routed(
        &self,
        x: &Tensor,
        slots: &mut [&mut Option<(Tensor, Tensor)>],
        rotary: &[Rotary],
        model: &Llama,
        router: &DepthRouter,
        spec: &DepthsSpec,
    ) -> Result<Tensor> {
        let (rows, seq, _) = x.dims3()?;
        let mut outs = Vec::with_capacity(rows);
        for (r, (slot, rot)) in slots.iter_mut().zip(rotary).enumerate() {
            let xr = row(x, r, rows)?;
            let scores = router.scores(&xr)?;
            // One token after a prompt is being generated: it cannot be ranked among the
            // tokens after it, so the calibrated threshold decides.
            let decoding = seq == 1 && rot.start > 0;
            let chosen = router.select(&scores, spec, decoding);
            if chosen.is_empty() {
                outs.push(xr);
                continue;
            }
            let n = chosen.len();
            let gates = gate(&scores, &chosen);
            let ids = Tensor::from_vec(chosen, n, x.device())?;
            let xs = xr.index_select(&ids, 1)?;
            let rot = Rotary {
                start: rot.start,
                cos: rot.cos.index_select(&ids, 0)?,
                sin: rot.sin.index_select(&ids, 0)?,
            };
            let ys = self.dense(&xs, &mut [&mut **slot], std::slice::from_ref(&rot), model)?;
            let g = Tensor::from_vec(gates, (1, n, 1), x.device())?;
            let delta = (ys - &xs)?.broadcast_mul(&g)?;
            outs.push(xr.index_add(&ids, &delta, 1)?);
        }
        cat_rows(outs)
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
    /// The blocks kept of those loaded.
    kept: KeptLayers,
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
            .map(|n| LlamaBlock::load(c, n, format, m.pp("layers").pp(n)))
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
            kept: KeptLayers::all(blocks.len()),
            config,
            format,
            embed,
            blocks,
            norm,
            lm_head,
            inv_freq,
        }
    }

    /// The dimensions; after pruning, `num_hidden_layers` is the blocks kept (and the
    /// config's analytic counts no longer apply: [`Llama::parameters`] counts the model).
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

    /// The rotary table of positions `past..past + seq`.
    fn rotary(&self, past: usize, seq: usize) -> Result<Rotary> {
        let half = self.inv_freq.len();
        let angles: Vec<f32> = (past..past + seq)
            .flat_map(|p| self.inv_freq.iter().map(move |f| p as f32 * f))
            .collect();
        let angles = Tensor::from_vec(angles, (seq, half), &Device::Cpu)?;
        Ok(Rotary {
            start: past,
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }

    /// The embedded ids `[rows, seq]` through every block, each row against its own cache;
    /// `states` gets the residual stream entering each block and leaving the last.
    fn run_blocks(
        &self,
        ids: &[u32],
        seq: usize,
        caches: &mut [&mut KvCache],
        mut states: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor> {
        let rows = caches.len();
        check_rows(ids, seq, rows)?;
        let rotary = caches
            .iter_mut()
            .map(|c| {
                c.layers_mut(self.blocks.len());
                self.rotary(c.len(), seq)
            })
            .collect::<Result<Vec<_>>>()?;
        let input = Tensor::from_slice(ids, (rows, seq), &Device::Cpu)?;
        let mut x = self.embed.rows(&input)?;
        for (layer, block) in self.blocks.iter().enumerate() {
            if let Some(s) = states.as_deref_mut() {
                s.push(x.clone());
            }
            x = block.forward(&x, &mut layer_slots(caches, layer)?, &rotary, self)?;
        }
        if let Some(s) = states {
            s.push(x.clone());
        }
        for cache in caches.iter_mut() {
            cache.advance(seq);
        }
        Ok(x)
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
        let mut states = Vec::with_capacity(self.blocks.len() + 1);
        self.run_blocks(ids, ids.len(), &mut [&mut cache], Some(&mut states))?;
        states.iter().map(|x| x.squeeze(0)).collect()
    }

    /// Bytes and formats of the weights as stored.
    pub fn weights_info(&self) -> WeightsInfo {
        let mut linears: Vec<&Linear> = vec![&self.embed];
        linears.extend(self.lm_head.iter());
        for b in &self.blocks {
            linears.extend(b.linears().into_iter().map(|(_, l)| l));
        }
        weights_info(&self.format, self.parameters(false), &linears)
    }

    /// Parameters as built (after any pruning); `active`: those one token goes through.
    pub fn parameters(&self, active: bool) -> usize {
        let head = self.lm_head.as_ref().map_or(0, Linear::elements);
        let blocks: usize = self.blocks.iter().map(|b| b.parameters(active)).sum();
        self.embed.elements() + head + self.norm.elem_count() + blocks
    }

    /// FLOPs (a multiply-add counted as 2) of one generated token after `context` cached
    /// tokens, counting the matrices it goes through: a mixture's `top_k` experts; a routed
    /// block's router on every token and the block itself with probability `capacity`,
    /// attending then to the `capacity` share of the context its cache holds (the expected
    /// cost, when generation routes at the capacity).
    pub fn flops_per_token(&self, context: usize) -> f64 {
        let c = &self.config;
        let attention = |keys: f64| 2.0 * 2.0 * keys * c.hidden_size as f64;
        let blocks: f64 = self
            .blocks
            .iter()
            .map(|b| match (&b.router, c.mixture_of_depths) {
                (Some(r), Some(spec)) => {
                    let router = r.weight.elem_count() as f64;
                    let block = 2.0 * (b.parameters(true) as f64 - router);
                    let keys = spec.capacity * context as f64 + 1.0;
                    2.0 * router + spec.capacity * (block + attention(keys))
                }
                _ => 2.0 * b.parameters(true) as f64 + attention(context as f64 + 1.0),
            })
            .sum();
        let head = self.lm_head.as_ref().unwrap_or(&self.embed).elements();
        blocks + 2.0 * head as f64
    }

    /// The indices (as loaded) of the blocks kept.
    pub fn kept_layers(&self) -> &[usize] {
        self.kept.origin()
    }

    /// Removes `count` blocks from block `first` (indices of the current blocks).
    pub fn remove_layers(&mut self, first: usize, count: usize) -> Result<()> {
        self.config.num_hidden_layers = self.kept.remove_from(&mut self.blocks, first, count)?;
        Ok(())
    }

    /// Sets each routed block's generation threshold from the router scores of `prompts`
    /// (each run alone, routed as prompts are).
    pub fn calibrate_depths(&mut self, prompts: &[Vec<u32>]) -> Result<()> {
        let Some(spec) = self.config.mixture_of_depths else {
            return Ok(());
        };
        let mut scores: Vec<Vec<f32>> = vec![Vec::new(); self.blocks.len()];
        for ids in prompts.iter().filter(|p| !p.is_empty()) {
            let states = self.hidden_states(ids)?;
            for (layer, block) in self.blocks.iter().enumerate() {
                if let Some(router) = &block.router {
                    scores[layer].extend(router.scores(&states[layer].unsqueeze(0)?)?);
                }
            }
        }
        for (block, mut s) in self.blocks.iter_mut().zip(scores) {
            if let Some(router) = block.router.as_mut() {
                if s.is_empty() {
                    candle_core::bail!(
                        "Mixture-of-Depths needs calibration prompts with at least one token each"
                    );
                }
                router.calibrate(&mut s, &spec);
                // Calibration (and pruning before it) ran prompts: count from here on.
                router.reset_counts();
            }
        }
        Ok(())
    }

    /// What this model's layout does to save work, for /v1/models.
    pub fn techniques(&self) -> Techniques {
        let depths = self.config.mixture_of_depths.and_then(|spec| {
            let mut info = DepthsInfo {
                capacity: spec.capacity,
                routed_blocks: Vec::new(),
                calibrated: true,
                prompt_tokens_offered: 0,
                prompt_tokens_routed: 0,
                generated_tokens_offered: 0,
                generated_tokens_routed: 0,
            };
            for (b, &origin) in self.blocks.iter().zip(self.kept.origin()) {
                if let Some(r) = &b.router {
                    info.routed_blocks.push(origin);
                    let (o, t) = r.prompt_counts();
                    info.prompt_tokens_offered += o;
                    info.prompt_tokens_routed += t;
                    let (o, t) = r.generated_counts();
                    info.generated_tokens_offered += o;
                    info.generated_tokens_routed += t;
                    info.calibrated &= r.threshold().is_some();
                }
            }
            // Pruning may have removed every routed block: no routing is left to report.
            (!info.routed_blocks.is_empty()).then_some(info)
        });
        Techniques {
            mixture_of_experts: self.config.moe,
            removed_layers: self.kept.removed(),
            mixture_of_depths: depths,
            ..Techniques::default()
        }
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
        let x = self.run_blocks(ids, seq, caches, None)?;
        self.logits(&x, seq)
    }
}

impl Generator for Llama {
    fn architecture(&self) -> &'static str {
        if self.config.moe.is_some() {
            "MixtralForCausalLM"
        } else {
            "LlamaForCausalLM"
        }
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
        self.parameters(false)
    }

    fn active_parameter_count(&self) -> usize {
        self.parameters(true)
    }

    fn techniques(&self) -> Techniques {
        Llama::techniques(self)
    }

    fn flops_per_token(&self, context: usize) -> f64 {
        Llama::flops_per_token(self, context)
    }

    fn hidden_states(&self, ids: &[u32]) -> Result<Vec<Tensor>> {
        Llama::hidden_states(self, ids)
    }

    fn remove_layers(&mut self, first: usize, count: usize) -> Result<()> {
        Llama::remove_layers(self, first, count)
    }

    fn calibrate(&mut self, prompts: &[Vec<u32>]) -> Result<()> {
        self.calibrate_depths(prompts)
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
