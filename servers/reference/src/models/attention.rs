//! Multi-head scaled dot-product attention shared by the encoder and the decoder.

use candle_core::{D, Result, Tensor};

/// Splits `[1, seq, hidden]` into heads: `[1, heads, seq, head_dim]`.
pub fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, seq, hidden) = x.dims3()?;
    x.reshape((b, seq, heads, hidden / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// Splits a fused projection `[1, seq, 3 × hidden]` (query, key, value in that order) into
/// the three, each as heads `[1, heads, seq, head_dim]`.
pub fn split_qkv(qkv: &Tensor, heads: usize) -> Result<(Tensor, Tensor, Tensor)> {
    let hidden = qkv.dim(D::Minus1)? / 3;
    let part = |i: usize| split_heads(&qkv.narrow(D::Minus1, i * hidden, hidden)?, heads);
    Ok((part(0)?, part(1)?, part(2)?))
}

/// Joins heads back: `[1, heads, seq, head_dim]` to `[1, seq, hidden]`.
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, heads, seq, head_dim) = x.dims4()?;
    x.transpose(1, 2)?.reshape((b, seq, heads * head_dim))
}

/// softmax(q kᵀ / √d + mask) v over heads; `mask` is added to the scores when given.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let head_dim = q.dim(D::Minus1)?;
    // Scaled before the product: q is `seq / head_dim` times smaller than the scores.
    // kᵀ as a view: the matrix product reads the transposed layout as it is.
    let q = (q / (head_dim as f64).sqrt())?;
    let scores = q.matmul(&k.t()?)?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let probs = super::softmax::softmax_last_dim(&scores)?;
    probs.matmul(v)
}

/// A causal mask `[seq, past + seq]`: 0 where a query may look, -inf where it may not.
pub fn causal_mask(seq: usize, past: usize, device: &candle_core::Device) -> Result<Tensor> {
    let total = past + seq;
    let values: Vec<f32> = (0..seq)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j <= past + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(values, (seq, total), device)
}
