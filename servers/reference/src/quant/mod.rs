//! Weight formats a generator's linear layers may be stored in at launch: FP32 or one of
//! GGUF's block formats (through candle's quantized matmul), and what a model's weights
//! weigh in each.

use candle_core::quantized::GgmlDType;
use serde::Serialize;

pub mod gemv;
pub mod prompt;

/// Values per Q4_0 or Q8_0 block.
const QK: usize = 32;
/// Bytes of a Q4_0 block: an f16 scale and 32 4-bit values.
const Q4_0_BLOCK: usize = 2 + QK / 2;
/// Bytes of a Q8_0 block: an f16 scale and 32 int8 values.
const Q8_0_BLOCK: usize = 2 + QK;

/// How a model's linear-layer weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// 32-bit floats (no quantization).
    #[default]
    F32,
    /// GGUF Q8_0: blocks of 32 int8 and one f16 scale (8.5 bits per weight).
    Q8_0,
    /// GGUF Q4_0: blocks of 32 4-bit values and one f16 scale (4.5 bits per weight).
    Q4_0,
    /// GGUF Q4_K: super-blocks of 256 with 6-bit sub-block scales (4.5 bits per weight).
    Q4K,
    /// BitNet b1.58: absmean ternary weights packed in 2 bits, int8 absmax activations,
    /// computed by additions and subtractions only (`crate::ternary`); the blocks' linears
    /// only, embeddings and head stay FP32 as in the paper.
    Ternary,
}

/// Every format, in the order the command line lists them.
pub const WEIGHT_FORMATS: &[WeightFormat] = &[
    WeightFormat::F32,
    WeightFormat::Q8_0,
    WeightFormat::Q4_0,
    WeightFormat::Q4K,
    WeightFormat::Ternary,
];

impl WeightFormat {
    /// The name on the command line and in /v1/models (`f32`, `q8_0`, `q4_0`, `q4_k`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Q8_0 => "q8_0",
            Self::Q4_0 => "q4_0",
            Self::Q4K => "q4_k",
            Self::Ternary => "ternary",
        }
    }

    /// The format of a name (case-insensitive), if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        WEIGHT_FORMATS.iter().copied().find(|f| f.as_str() == lower)
    }

    /// The GGUF block type (none for ternary weights: candle has no TQ block type).
    pub fn ggml(self) -> Option<GgmlDType> {
        match self {
            Self::F32 => Some(GgmlDType::F32),
            Self::Q8_0 => Some(GgmlDType::Q8_0),
            Self::Q4_0 => Some(GgmlDType::Q4_0),
            Self::Q4K => Some(GgmlDType::Q4K),
            Self::Ternary => None,
        }
    }

    /// The format of embedding tables and LM heads: the same, except ternary models keep
    /// them FP32 (BitNet b1.58 quantizes the blocks' linear layers only).
    pub fn for_embeddings(self) -> Self {
        match self {
            Self::Ternary => Self::F32,
            other => other,
        }
    }

    /// The block type a matrix whose rows have `cols` values gets in this format: the
    /// format's own when `cols` is a multiple of its block, else (as llama.cpp does) Q5_0 for
    /// Q4_K when `cols` is a multiple of 32, else none (the matrix stays FP32, as every
    /// matrix of a ternary format's non-GGUF weights).
    pub fn block_type_for(self, cols: usize) -> Option<GgmlDType> {
        let own = self.ggml()?;
        if cols.is_multiple_of(own.block_size()) {
            return Some(own);
        }
        match self {
            Self::Q4K if cols.is_multiple_of(GgmlDType::Q5_0.block_size()) => Some(GgmlDType::Q5_0),
            _ => None,
        }
    }
}

impl std::fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bits per weight of a GGUF block type (its block's bytes over its values).
pub fn bits_per_weight(t: GgmlDType) -> f64 {
    (t.type_size() * 8) as f64 / t.block_size() as f64
}

/// What a model's weights weigh, as shown in /v1/models and KServe metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightsInfo {
    /// The format asked for at launch (`f32`, `q8_0`, `q4_0`, `q4_k`, `ternary`, or `gguf`
    /// for a file).
    pub format: String,
    /// Bytes of all weights as stored (norms and biases included).
    pub bytes: usize,
    /// Average bits per parameter: `bytes × 8 / parameters`.
    pub bits_per_weight: f64,
    /// Matrices stored in another type than the format's (rows not a multiple of its
    /// block), e.g. `["q5_0 × 120", "f32 × 2"]`; empty when none.
    pub fallbacks: Vec<String>,
}

impl WeightsInfo {
    /// FP32 weights of `parameters` parameters.
    pub fn f32(parameters: usize) -> Self {
        Self {
            format: WeightFormat::F32.as_str().into(),
            bytes: parameters * 4,
            bits_per_weight: 32.0,
            fallbacks: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_blocks_fall_back() {
        for f in WEIGHT_FORMATS {
            assert_eq!(WeightFormat::parse(f.as_str()), Some(*f));
        }
        assert_eq!(WeightFormat::parse("Q4_K"), Some(WeightFormat::Q4K));
        assert_eq!(WeightFormat::parse("q3_k"), None);
        assert_eq!(WeightFormat::Q4K.block_type_for(512), Some(GgmlDType::Q4K));
        assert_eq!(WeightFormat::Q4K.block_type_for(576), Some(GgmlDType::Q5_0));
        assert_eq!(WeightFormat::Q4_0.block_type_for(100), None);
        assert!((bits_per_weight(GgmlDType::Q8_0) - 8.5).abs() < 1e-9);
        assert!((bits_per_weight(GgmlDType::Q4_0) - 4.5).abs() < 1e-9);
        assert!((bits_per_weight(GgmlDType::Q4K) - 4.5).abs() < 1e-9);
    }
}
