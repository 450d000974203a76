//! Pieces of decoder-only language models laid out like Hugging Face's: where the weights
//! sit in a checkpoint, and the next-token logits of the last position.

use candle_core::{IndexOp, Module, Result, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

/// Where a Hugging Face decoder keeps its weights: at the root when `probe` is there and not
/// `transformer.{probe}`, otherwise under `transformer.`.
pub fn transformer_root<'a>(vb: VarBuilder<'a>, probe: &str) -> VarBuilder<'a> {
    if !vb.contains_tensor(&format!("transformer.{probe}")) && vb.contains_tensor(probe) {
        vb
    } else {
        vb.pp("transformer")
    }
}

/// Next-token logits `[rows, vocab]` from the hidden states `x` `[rows, seq, hidden]`: each
/// row's last position through the final norm and the head.
pub fn last_logits(x: &Tensor, seq: usize, ln_f: &LayerNorm, lm_head: &Linear) -> Result<Tensor> {
    let last = x.i((.., seq - 1..seq, ..))?;
    dense(lm_head, &ln_f.forward(&last)?.contiguous()?)?.squeeze(1)
}

/// Below this many rows a batched linear layer runs row by row (matrix-vector products):
/// `W · xᵀ` packs the weights once per call, which costs more than two or three
/// matrix-vector passes on the development CPU (`bench continuous`).
const FEW_ROWS: usize = 4;

/// A linear layer over `x` `[rows, seq, in]`. One row goes through `Linear::forward` (the
/// path of a generation alone, gemm's matrix-vector path for one token); several go through
/// `W · xᵀ`, which streams each weight row once (`x · Wᵀ` with few rows reads the
/// weights with a stride of a whole row per element, several times slower on the CPU).
pub fn dense(lin: &Linear, x: &Tensor) -> Result<Tensor> {
    let (rows, seq, k) = x.dims3()?;
    if rows == 1 {
        return lin.forward(x);
    }
    if rows < FEW_ROWS {
        let parts = (0..rows)
            .map(|r| lin.forward(&x.narrow(0, r, 1)?))
            .collect::<Result<Vec<_>>>()?;
        return Tensor::cat(&parts, 0);
    }
    let flat = x.reshape((rows * seq, k))?;
    let out = lin.weight().matmul(&flat.t()?)?.t()?;
    let out = match lin.bias() {
        Some(b) => out.broadcast_add(b)?,
        None => out,
    };
    out.contiguous()?.reshape((rows, seq, ()))
}

/// One tensor of the rows' results: `parts` concatenated along the first dimension (the
/// single part as is).
pub fn cat_rows(mut parts: Vec<Tensor>) -> Result<Tensor> {
    if parts.len() == 1
        && let Some(one) = parts.pop()
    {
        return Ok(one);
    }
    Tensor::cat(&parts, 0)
}

/// Row `r` of a batch `x` `[rows, ...]`, kept as `[1, ...]` (the tensor itself for one row).
pub fn row(x: &Tensor, r: usize, rows: usize) -> Result<Tensor> {
    if rows == 1 {
        Ok(x.clone())
    } else {
        x.narrow(0, r, 1)
    }
}
