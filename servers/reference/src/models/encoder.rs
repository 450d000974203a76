//! A BERT / DistilBERT encoder with a sequence-classification or extractive-QA head,
//! laid out like Hugging Face's `BertFor*` / `DistilBertFor*` so real weights load by name.

use super::packed_linear::PackedLinear;
use candle_core::{Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::{Deserialize, Serialize};

use super::dims::attention_heads;
use super::fused_attention::attend_fused;

/// Which parameter names (and small differences) a checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderLayout {
    /// `bert.encoder.layer.N.attention.self.query`, token types, pooler.
    Bert,
    /// `distilbert.transformer.layer.N.attention.q_lin`, no token types, pre-classifier.
    DistilBert,
}

/// What sits on top of the encoder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncoderTask {
    /// Sequence classification over these labels.
    Classification(Vec<String>),
    /// Extractive question answering (start and end logits per token).
    QuestionAnswering,
}

/// Dimensions of an encoder (Hugging Face `BertConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    /// Parameter naming.
    pub layout: EncoderLayout,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Inner size of the feed-forward block.
    pub intermediate_size: usize,
    /// Longest input in tokens.
    pub max_position_embeddings: usize,
    /// Number of segment types (0 for DistilBERT).
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

impl EncoderConfig {
    /// Reads a Hugging Face `config.json` of model type `bert` or `distilbert`.
    pub fn from_hf_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        let get = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .map(|x| x as usize)
                .ok_or_else(|| format!("missing or non-integer `{k}`"))
        };
        let model_type = v
            .get("model_type")
            .and_then(|t| t.as_str())
            .unwrap_or("bert");
        match model_type {
            "distilbert" => Ok(Self {
                layout: EncoderLayout::DistilBert,
                vocab_size: get("vocab_size")?,
                hidden_size: get("dim")?,
                num_hidden_layers: get("n_layers")?,
                num_attention_heads: attention_heads(
                    get("dim")?,
                    get("n_heads")?,
                    "dim",
                    "n_heads",
                )?,
                intermediate_size: get("hidden_dim")?,
                max_position_embeddings: get("max_position_embeddings")?,
                type_vocab_size: 0,
                layer_norm_eps: 1e-12,
            }),
            "bert" => Ok(Self {
                layout: EncoderLayout::Bert,
                vocab_size: get("vocab_size")?,
                hidden_size: get("hidden_size")?,
                num_hidden_layers: get("num_hidden_layers")?,
                num_attention_heads: attention_heads(
                    get("hidden_size")?,
                    get("num_attention_heads")?,
                    "hidden_size",
                    "num_attention_heads",
                )?,
                intermediate_size: get("intermediate_size")?,
                max_position_embeddings: get("max_position_embeddings")?,
                type_vocab_size: get("type_vocab_size").unwrap_or(2),
                layer_norm_eps: v
                    .get("layer_norm_eps")
                    .and_then(|x| x.as_f64())
                    .unwrap_or(1e-12),
            }),
            other => Err(format!(
                "model_type `{other}` is not an encoder this server knows (bert, distilbert)"
            )),
        }
    }

    /// Parameters of the encoder with the given head (the same count as PyTorch's).
    pub fn parameter_count(&self, task: &EncoderTask) -> usize {
        let h = self.hidden_size;
        let i = self.intermediate_size;
        let embeddings =
            (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * h + 2 * h;
        let layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h;
        let head = match task {
            EncoderTask::Classification(labels) => (h * h + h) + (h * labels.len() + labels.len()),
            EncoderTask::QuestionAnswering => 2 * h + 2,
        };
        embeddings + self.num_hidden_layers * layer + head
    }
}

struct EncoderLayer {
    /// Query, key and value projections as one `[3 × hidden, hidden]` layer: one matrix
    /// product (and one packing of its input) instead of three.
    qkv: PackedLinear,
    attn_out: PackedLinear,
    attn_norm: LayerNorm,
    ffn_in: PackedLinear,
    ffn_out: PackedLinear,
    out_norm: LayerNorm,
    heads: usize,
}

impl EncoderLayer {
    fn load(c: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let (h, i, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        Ok(match c.layout {
            EncoderLayout::Bert => Self {
                qkv: PackedLinear::new(fused(&[
                    linear(h, h, vb.pp("attention.self.query"))?,
                    linear(h, h, vb.pp("attention.self.key"))?,
                    linear(h, h, vb.pp("attention.self.value"))?,
                ])?)?,
                attn_out: PackedLinear::new(linear(h, h, vb.pp("attention.output.dense"))?)?,
                attn_norm: layer_norm(h, eps, vb.pp("attention.output.LayerNorm"))?,
                ffn_in: PackedLinear::with_gelu(linear(h, i, vb.pp("intermediate.dense"))?)?,
                ffn_out: PackedLinear::new(linear(i, h, vb.pp("output.dense"))?)?,
                out_norm: layer_norm(h, eps, vb.pp("output.LayerNorm"))?,
                heads: c.num_attention_heads,
            },
            EncoderLayout::DistilBert => Self {
                qkv: PackedLinear::new(fused(&[
                    linear(h, h, vb.pp("attention.q_lin"))?,
                    linear(h, h, vb.pp("attention.k_lin"))?,
                    linear(h, h, vb.pp("attention.v_lin"))?,
                ])?)?,
                attn_out: PackedLinear::new(linear(h, h, vb.pp("attention.out_lin"))?)?,
                attn_norm: layer_norm(h, eps, vb.pp("sa_layer_norm"))?,
                ffn_in: PackedLinear::with_gelu(linear(h, i, vb.pp("ffn.lin1"))?)?,
                ffn_out: PackedLinear::new(linear(i, h, vb.pp("ffn.lin2"))?)?,
                out_norm: layer_norm(h, eps, vb.pp("output_layer_norm"))?,
                heads: c.num_attention_heads,
            },
        })
    }

    /// One layer over `[batch, seq, hidden]`; `mask` (`[batch, 1, 1, seq]`, 0 or -inf) hides
    /// padding from every query.
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let ctx = attend_fused(&self.qkv.forward(x)?, self.heads, mask)?;
        let a = self
            .attn_norm
            .forward(&self.attn_out.forward_add(&ctx, x)?)?;
        let f = self.ffn_out.forward_add(&self.ffn_in.forward(&a)?, &a)?;
        self.out_norm.forward(&f)
    }
}

/// Layers over the same input as one: their weights stacked by output row, their biases
/// joined (outputs in the order given).
fn fused(layers: &[Linear]) -> Result<Linear> {
    let weights: Vec<&Tensor> = layers.iter().map(|l| l.weight()).collect();
    let biases: Vec<&Tensor> = layers.iter().filter_map(|l| l.bias()).collect();
    let bias = match biases.len() {
        0 => None,
        n if n == layers.len() => Some(Tensor::cat(&biases, 0)?),
        n => candle_core::bail!(
            "cannot fuse {} layers of which {n} have a bias",
            layers.len()
        ),
    };
    Ok(Linear::new(Tensor::cat(&weights, 0)?, bias))
}

enum Head {
    /// BERT: tanh(pooler(CLS)) then classifier; DistilBERT: relu(pre_classifier(CLS)) then classifier.
    Classifier { pre: Linear, out: Linear },
    /// Start and end logits per token.
    Span { qa: Linear },
}

/// One tokenised input of an encoder: token ids and segment ids.
pub type EncoderInput<'a> = (&'a [u32], &'a [u32]);

/// An encoder with its task head, run on one sequence or on a batch padded to its longest.
pub struct EncoderModel {
    config: EncoderConfig,
    task: EncoderTask,
    word: Embedding,
    position: Embedding,
    token_type: Option<Embedding>,
    embed_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    head: Head,
}

impl std::fmt::Debug for EncoderModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderModel")
            .field("config", &self.config)
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

impl EncoderModel {
    /// Builds the model from a `VarBuilder` (safetensors or seeded) under Hugging Face names.
    pub fn load(config: &EncoderConfig, task: EncoderTask, vb: VarBuilder) -> Result<Self> {
        let c = config;
        let h = c.hidden_size;
        let (base, layers_path) = match c.layout {
            EncoderLayout::Bert => (vb.pp("bert"), "encoder.layer"),
            EncoderLayout::DistilBert => (vb.pp("distilbert"), "transformer.layer"),
        };
        let emb = base.pp("embeddings");
        let token_type = match c.layout {
            EncoderLayout::Bert if c.type_vocab_size > 0 => Some(embedding(
                c.type_vocab_size,
                h,
                emb.pp("token_type_embeddings"),
            )?),
            _ => None,
        };
        let layers = (0..c.num_hidden_layers)
            .map(|n| EncoderLayer::load(c, base.pp(layers_path).pp(n)))
            .collect::<Result<Vec<_>>>()?;
        let head = match (&task, c.layout) {
            (EncoderTask::Classification(labels), EncoderLayout::Bert) => Head::Classifier {
                pre: linear(h, h, base.pp("pooler.dense"))?,
                out: linear(h, labels.len(), vb.pp("classifier"))?,
            },
            (EncoderTask::Classification(labels), EncoderLayout::DistilBert) => Head::Classifier {
                pre: linear(h, h, vb.pp("pre_classifier"))?,
                out: linear(h, labels.len(), vb.pp("classifier"))?,
            },
            (EncoderTask::QuestionAnswering, _) => Head::Span {
                qa: linear(h, 2, vb.pp("qa_outputs"))?,
            },
        };
        Ok(Self {
            config: c.clone(),
            task,
            word: embedding(c.vocab_size, h, emb.pp("word_embeddings"))?,
            position: embedding(c.max_position_embeddings, h, emb.pp("position_embeddings"))?,
            token_type,
            embed_norm: layer_norm(h, c.layer_norm_eps, emb.pp("LayerNorm"))?,
            layers,
            head,
        })
    }

    /// The dimensions.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// The task head.
    pub fn task(&self) -> &EncoderTask {
        &self.task
    }

    /// Final hidden states `[1, seq, hidden]` of one sequence.
    pub fn hidden_states(&self, ids: &[u32], type_ids: &[u32]) -> Result<Tensor> {
        self.hidden_states_batch(&[(ids, type_ids)])
    }

    /// Final hidden states `[batch, longest, hidden]` of sequences padded at the end to the
    /// longest; a padded position is hidden from every query, so each sequence's states
    /// are its own (rows past its length are padding, to be ignored).
    pub fn hidden_states_batch(&self, inputs: &[EncoderInput<'_>]) -> Result<Tensor> {
        let dev = &Device::Cpu;
        let batch = inputs.len();
        let seq = inputs.iter().map(|(ids, _)| ids.len()).max().unwrap_or(0);
        if batch == 0 || seq == 0 {
            return Err(candle_core::Error::Msg(
                "an encoder needs at least one token".into(),
            ));
        }
        let ids: Vec<u32> = inputs
            .iter()
            .flat_map(|(ids, _)| padded(ids, ids.len(), seq))
            .collect();
        let input = Tensor::from_vec(ids, (batch, seq), dev)?;
        let positions = Tensor::arange(0u32, seq as u32, dev)?.unsqueeze(0)?;
        let mut x = self
            .word
            .forward(&input)?
            .broadcast_add(&self.position.forward(&positions)?)?;
        if let Some(tt) = &self.token_type {
            let types: Vec<u32> = inputs
                .iter()
                .flat_map(|(ids, types)| padded(types, ids.len(), seq))
                .collect();
            x = (x + tt.forward(&Tensor::from_vec(types, (batch, seq), dev)?)?)?;
        }
        let mask = if inputs.iter().all(|(ids, _)| ids.len() == seq) {
            None
        } else {
            let values: Vec<f32> = inputs
                .iter()
                .flat_map(|(ids, _)| {
                    (0..seq).map(move |i| {
                        if i < ids.len() {
                            0.0
                        } else {
                            f32::NEG_INFINITY
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(values, (batch, 1, 1, seq), dev)?)
        };
        let mut x = self.embed_norm.forward(&x)?;
        for layer in &self.layers {
            x = layer.forward(&x, mask.as_ref())?;
        }
        Ok(x)
    }

    /// Class logits of each sequence of a batch; an error for a QA model.
    pub fn classify_batch(&self, inputs: &[EncoderInput<'_>]) -> Result<Vec<Vec<f32>>> {
        let Head::Classifier { pre, out } = &self.head else {
            return Err(candle_core::Error::Msg("not a classification model".into()));
        };
        let cls = self.hidden_states_batch(inputs)?.i((.., 0, ..))?;
        let pooled = pre.forward(&cls)?;
        let pooled = match self.config.layout {
            EncoderLayout::Bert => pooled.tanh()?,
            EncoderLayout::DistilBert => pooled.relu()?,
        };
        out.forward(&pooled)?.to_vec2()
    }

    /// Start and end logits per token of each sequence of a batch; an error for a
    /// classification model.
    pub fn span_logits_batch(
        &self,
        inputs: &[EncoderInput<'_>],
    ) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        let Head::Span { qa } = &self.head else {
            return Err(candle_core::Error::Msg(
                "not a question-answering model".into(),
            ));
        };
        let logits = qa.forward(&self.hidden_states_batch(inputs)?)?;
        inputs
            .iter()
            .enumerate()
            .map(|(b, (ids, _))| {
                let one = logits.i(b)?.narrow(0, 0, ids.len())?;
                Ok((one.i((.., 0))?.to_vec1()?, one.i((.., 1))?.to_vec1()?))
            })
            .collect()
    }

    /// Sentence embeddings of a batch: each the mean of its own final hidden states,
    /// L2-normalised if asked.
    pub fn embed_batch(
        &self,
        inputs: &[EncoderInput<'_>],
        normalize: bool,
    ) -> Result<Vec<Vec<f32>>> {
        let hidden = self.hidden_states_batch(inputs)?;
        inputs
            .iter()
            .enumerate()
            .map(|(b, (ids, _))| {
                let mean = hidden.i(b)?.narrow(0, 0, ids.len())?.mean(0)?;
                let mean = if normalize {
                    let norm = mean
                        .sqr()?
                        .sum_all()?
                        .sqrt()?
                        .to_scalar::<f32>()?
                        .max(1e-12);
                    (mean / f64::from(norm))?
                } else {
                    mean
                };
                mean.to_vec1()
            })
            .collect()
    }

    /// Class logits of one sequence (one per label); an error for a QA model.
    pub fn classify(&self, ids: &[u32], type_ids: &[u32]) -> Result<Vec<f32>> {
        first(self.classify_batch(&[(ids, type_ids)])?)
    }

    /// Start and end logits per token; an error for a classification model.
    pub fn span_logits(&self, ids: &[u32], type_ids: &[u32]) -> Result<(Vec<f32>, Vec<f32>)> {
        first(self.span_logits_batch(&[(ids, type_ids)])?)
    }

    /// A sentence embedding: the mean of the final hidden states, L2-normalised if asked.
    pub fn embed(&self, ids: &[u32], type_ids: &[u32], normalize: bool) -> Result<Vec<f32>> {
        first(self.embed_batch(&[(ids, type_ids)], normalize)?)
    }
}

/// `values` (the first `n` of them, 0 where missing) padded with 0 to `seq`.
fn padded(values: &[u32], n: usize, seq: usize) -> impl Iterator<Item = u32> + '_ {
    (0..seq).map(move |i| {
        if i < n {
            values.get(i).copied().unwrap_or(0)
        } else {
            0
        }
    })
}

/// The one result of a batch of one.
fn first<T>(results: Vec<T>) -> Result<T> {
    results
        .into_iter()
        .next()
        .ok_or_else(|| candle_core::Error::Msg("a batch of one gave no result".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `config.json` whose heads do not split the width is refused at load, naming the
    /// key; it used to load and then divide by zero in the first forward pass.
    #[test]
    fn heads_that_do_not_split_the_width_are_a_config_error() {
        let config = |heads: u64| {
            serde_json::json!({
                "model_type": "bert", "vocab_size": 100, "hidden_size": 64,
                "num_hidden_layers": 1, "num_attention_heads": heads,
                "intermediate_size": 128, "max_position_embeddings": 16,
            })
        };
        assert!(EncoderConfig::from_hf_json(&config(4)).is_ok());
        for heads in [0, 3] {
            let e = EncoderConfig::from_hf_json(&config(heads)).expect_err("refused");
            assert!(e.contains("`num_attention_heads` is"), "{e}");
        }
    }
}
