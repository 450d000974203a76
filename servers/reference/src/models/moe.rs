//! The feed-forward half of a Llama-layout block: one SwiGLU MLP, or a sparse mixture of
//! experts (Mixtral layout: a linear router over E SwiGLU experts, each token sent to its
//! top k, their outputs weighted by the router's softmax renormalised over those k).

use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::linear::Linear;
use crate::quant::WeightFormat;

/// The sparse mixture of a Mixtral-layout model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoeSpec {
    /// Experts per block (`num_local_experts`).
    pub experts: usize,
    /// Experts each token goes through (`num_experts_per_tok`).
    pub top_k: usize,
}

impl MoeSpec {
    /// Checks that `top_k` experts can be picked.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.experts == 0 || self.top_k == 0 || self.top_k > self.experts {
            return Err(format!(
                "{} experts with {} per token: need 1 ≤ experts per token ≤ experts",
                self.experts, self.top_k
            ));
        }
        Ok(())
    }
}

/// A SwiGLU MLP: `down(silu(gate(x)) ⊙ up(x))`.
#[derive(Debug, Clone)]
pub struct SwiGlu {
    /// Gate projection.
    pub gate: Linear,
    /// Up projection.
    pub up: Linear,
    /// Down projection.
    pub down: Linear,
}

impl SwiGlu {
    /// Loads `{gate}`, `{up}`, `{down}` under `vb` (hidden `e`, inner `i`).
    fn load(
        e: usize,
        i: usize,
        format: WeightFormat,
        vb: &VarBuilder,
        [gate, up, down]: [&str; 3],
    ) -> Result<Self> {
        Ok(Self {
            gate: Linear::load(e, i, false, format, vb.pp(gate))?,
            up: Linear::load(e, i, false, format, vb.pp(up))?,
            down: Linear::load(i, e, false, format, vb.pp(down))?,
        })
    }

    /// `x` `[rows, seq, e]` (or any leading shape the linears take).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let m = (candle_nn::ops::silu(&self.gate.forward(x)?)? * self.up.forward(x)?)?;
        self.down.forward(&m)
    }
}

/// A sparse mixture of SwiGLU experts behind a linear router.
#[derive(Debug, Clone)]
pub struct SparseMoe {
    /// The router `[experts, e]` (kept FP32 whatever the format, as llama.cpp keeps
    /// `ffn_gate_inp`).
    pub router: Linear,
    /// The experts.
    pub experts: Vec<SwiGlu>,
    /// Experts per token.
    pub top_k: usize,
}

/// The top `k` experts of each token and their weights (softmax over the k logits, which
/// equals Mixtral's softmax over all E renormalised over the k).
pub fn route(logits: &[f32], experts: usize, k: usize) -> Vec<Vec<(usize, f32)>> {
    logits
        .chunks(experts)
        .map(|row| {
            let mut order: Vec<usize> = (0..row.len()).collect();
            // Ties go to the lower index, as torch.topk does on CPU.
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            order.truncate(k);
            let top = row[order[0]];
            let exps: Vec<f32> = order.iter().map(|&j| (row[j] - top).exp()).collect();
            let sum: f32 = exps.iter().sum();
            order
                .into_iter()
                .zip(exps)
                .map(|(j, e)| (j, e / sum))
                .collect()
        })
        .collect()
}

impl SparseMoe {
    /// `x` `[rows, seq, e]`: each token through its top-k experts, weighted.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (rows, seq, e) = x.dims3()?;
        let n = rows * seq;
        let flat = x.reshape((n, e))?.contiguous()?;
        let logits = self.router.forward(&flat.unsqueeze(0)?)?.squeeze(0)?;
        let experts = self.experts.len();
        let routes = route(
            &logits.flatten_all()?.to_vec1::<f32>()?,
            experts,
            self.top_k,
        );
        // Tokens and weights per expert.
        let mut assigned: Vec<(Vec<u32>, Vec<f32>)> = vec![(Vec::new(), Vec::new()); experts];
        for (token, picks) in routes.iter().enumerate() {
            for &(j, w) in picks {
                assigned[j].0.push(token as u32);
                assigned[j].1.push(w);
            }
        }
        let mut out = flat.zeros_like()?;
        for (expert, (tokens, weights)) in self.experts.iter().zip(assigned) {
            if tokens.is_empty() {
                continue;
            }
            let count = tokens.len();
            let ids = Tensor::from_vec(tokens, count, &Device::Cpu)?;
            let xs = flat.index_select(&ids, 0)?.unsqueeze(0)?;
            let ys = expert.forward(&xs)?.squeeze(0)?;
            let w = Tensor::from_vec(weights, (count, 1), &Device::Cpu)?;
            out = out.index_add(&ids, &ys.broadcast_mul(&w)?, 0)?;
        }
        out.reshape((rows, seq, e))
    }

    /// The router's logits `[tokens, experts]` of `x` `[tokens, e]` (for tests).
    pub fn router_logits(&self, x: &Tensor) -> Result<Tensor> {
        self.router.forward(&x.unsqueeze(0)?)?.squeeze(0)
    }
}

/// The feed-forward half of a block.
#[derive(Debug, Clone)]
pub enum Mlp {
    /// One SwiGLU MLP (`mlp.{gate,up,down}_proj`).
    Dense(SwiGlu),
    /// A sparse mixture (`block_sparse_moe.gate`, `block_sparse_moe.experts.N.w{1,3,2}`).
    Sparse(SparseMoe),
}

impl Mlp {
    /// Loads the block's MLP under Hugging Face Llama or Mixtral names.
    pub fn load(
        e: usize,
        i: usize,
        moe: Option<MoeSpec>,
        format: WeightFormat,
        vb: &VarBuilder,
    ) -> Result<Self> {
        match moe {
            None => Ok(Self::Dense(SwiGlu::load(
                e,
                i,
                format,
                &vb.pp("mlp"),
                ["gate_proj", "up_proj", "down_proj"],
            )?)),
            Some(spec) => {
                spec.validate().map_err(candle_core::Error::Msg)?;
                let m = vb.pp("block_sparse_moe");
                let experts = (0..spec.experts)
                    .map(|j| SwiGlu::load(e, i, format, &m.pp("experts").pp(j), ["w1", "w3", "w2"]))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Self::Sparse(SparseMoe {
                    router: Linear::load(e, spec.experts, false, WeightFormat::F32, m.pp("gate"))?,
                    experts,
                    top_k: spec.top_k,
                }))
            }
        }
    }

    /// `x` `[rows, seq, e]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(m) => m.forward(x),
            Self::Sparse(m) => m.forward(x),
        }
    }

    /// The linear layers with their GGUF-style names (`ffn_gate`, or `ffn_gate_inp` and
    /// `ffn_gate.E` for experts).
    pub fn linears(&self) -> Vec<(String, &Linear)> {
        match self {
            Self::Dense(m) => named(m, ""),
            Self::Sparse(s) => {
                let mut all = vec![("ffn_gate_inp".to_string(), &s.router)];
                for (j, m) in s.experts.iter().enumerate() {
                    all.extend(named(m, &format!(".{j}")));
                }
                all
            }
        }
    }
}

/// An MLP's three linears named `ffn_gate{suffix}`, `ffn_up{suffix}`, `ffn_down{suffix}`.
fn named<'a>(m: &'a SwiGlu, suffix: &str) -> Vec<(String, &'a Linear)> {
    vec![
        (format!("ffn_gate{suffix}"), &m.gate),
        (format!("ffn_up{suffix}"), &m.up),
        (format!("ffn_down{suffix}"), &m.down),
    ]
}
