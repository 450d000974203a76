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

/// Next-token logits `[vocab]` from the hidden states `x` `[1, seq, hidden]`: the last
/// position through the final norm and the head.
pub fn last_logits(x: &Tensor, seq: usize, ln_f: &LayerNorm, lm_head: &Linear) -> Result<Tensor> {
    let last = x.i((.., seq - 1..seq, ..))?;
    lm_head
        .forward(&ln_f.forward(&last)?)?
        .squeeze(0)?
        .squeeze(0)
}
