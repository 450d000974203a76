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
    lm_head.forward(&ln_f.forward(&last)?)?.squeeze(1)
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
