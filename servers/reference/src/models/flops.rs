//! Arithmetic cost of a forward pass: floating-point operations, counting a multiply-add as 2.
//! Matrix products only (LayerNorm, softmax and activations are a few per element, left out).

use super::dims::DecoderDims;
use super::encoder::{EncoderConfig, EncoderTask};

/// FLOPs of one encoder pass over `tokens` tokens, head included.
pub fn encoder_forward(c: &EncoderConfig, task: &EncoderTask, tokens: usize) -> u64 {
    let (n, h, i) = (
        tokens as u64,
        c.hidden_size as u64,
        c.intermediate_size as u64,
    );
    let projections = 2 * n * (4 * h * h + 2 * h * i);
    let attention = 2 * 2 * n * n * h;
    let head = match task {
        EncoderTask::Classification(labels) => 2 * (h * h + h * labels.len() as u64),
        EncoderTask::QuestionAnswering => 2 * n * h * 2,
    };
    c.num_hidden_layers as u64 * (projections + attention) + head
}

/// FLOPs of one generator step that adds one token after `context` cached tokens.
pub fn decoder_token(c: &DecoderDims, context: usize) -> u64 {
    let (e, i, v) = (c.width as u64, c.inner as u64, c.vocab as u64);
    let projections = 2 * (4 * e * e + 2 * e * i);
    let attention = 2 * 2 * (context as u64 + 1) * e;
    c.layers as u64 * (projections + attention) + 2 * e * v
}

/// FLOPs of the prompt pass over `tokens` tokens (as implemented: full causal score matrix,
/// LM head on the last position only).
pub fn decoder_prefill(c: &DecoderDims, tokens: usize) -> u64 {
    let (n, e, i, v) = (
        tokens as u64,
        c.width as u64,
        c.inner as u64,
        c.vocab as u64,
    );
    c.layers as u64 * (2 * n * (4 * e * e + 2 * e * i) + 2 * 2 * n * n * e) + 2 * e * v
}
