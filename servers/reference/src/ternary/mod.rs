//! Ternary weights (BitNet b1.58, Ma et al. 2024) with a kernel of our own.
//!
//! - [`quant`]: absmean ternary weights, `W̃ = RoundClip(W / (γ + ε), −1, 1)` with γ the
//!   mean |W| of the matrix and ε = [`quant::WEIGHT_EPS`] (1e-5, the clamp of the BitNet
//!   reference code); activations per token to int8 by absmax (scale 127 / max|x|).
//! - [`pack`]: the ternary weights at 2 bits each, 4 per byte (codes and layout there).
//! - [`kernel`]: `y = W̃ x̃` in i32 for a batch of token rows with only additions and
//!   subtractions for the weights: a portable scalar loop and an AVX2 loop chosen at run time.
//! - [`linear`]: [`BitLinear`], a candle layer `[.., in] → [.., out]` on these parts, and the
//!   dequantized reference computation it is checked against.
//!
//! The output of a layer is `y = (W̃ · x̃) × γ × max|x| / 127` (plus an optional bias).

pub mod kernel;
pub mod linear;
pub mod pack;
pub mod quant;

pub use kernel::{KernelPath, best_path};
pub use linear::{BitLinear, fake_quantize_activations};
pub use pack::PackedTernary;
pub use quant::{QuantizedActivations, TernaryWeights};

/// An error of the ternary quantization, packing or kernel.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TernaryError {
    /// A buffer's length does not match the shape it was given with.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        /// Which buffer.
        what: &'static str,
        /// Values the shape calls for.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A weight to pack is not −1, 0 or +1.
    #[error("weight {value} at index {index} is not ternary (−1, 0, +1)")]
    NotTernary {
        /// Index in the row-major matrix.
        index: usize,
        /// The value.
        value: i8,
    },
    /// A weight to quantize is NaN or infinite.
    #[error("weight at index {index} is not finite")]
    NonFiniteWeight {
        /// Index in the row-major matrix.
        index: usize,
    },
    /// Weights and activations disagree on the inner dimension.
    #[error("inner dimensions differ: weights have {weights} columns, activations {activations}")]
    InnerDim {
        /// Padded columns of the weights.
        weights: usize,
        /// Padded columns of the activations.
        activations: usize,
    },
    /// A row is so long that the i32 accumulator could overflow.
    #[error("{cols} columns are more than the {limit} an i32 accumulator allows")]
    TooWide {
        /// Columns asked for.
        cols: usize,
        /// The limit.
        limit: usize,
    },
    /// A kernel path was asked for that this CPU does not have.
    #[error("kernel path {0:?} is not available on this CPU")]
    PathUnavailable(KernelPath),
}

impl From<TernaryError> for candle_core::Error {
    fn from(e: TernaryError) -> Self {
        candle_core::Error::wrap(e)
    }
}
