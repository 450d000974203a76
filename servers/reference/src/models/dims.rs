//! The sizes that set the arithmetic cost of a generator step.

/// The sizes that set a decoder step's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderDims {
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden size.
    pub width: usize,
    /// Inner size of the MLP.
    pub inner: usize,
    /// Vocabulary size (the LM head's output).
    pub vocab: usize,
}
