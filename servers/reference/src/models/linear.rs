//! One linear layer, whatever its weights are stored as: every linear of the Llama blocks
//! (and its embedding table and LM head) goes through [`Linear`], so later techniques (other
//! weight formats, ternary kernels) change one type rather than each model.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::causal_lm::dense;
use crate::quant::{WeightFormat, WeightsInfo};
use crate::ternary::BitLinear;

/// A linear layer `y = x Wᵀ + b` with `W` `[out, in]`.
#[derive(Debug, Clone)]
pub enum Linear {
    /// FP32 weights (gemm).
    Dense(candle_nn::Linear),
    /// GGUF block-quantized weights through candle's quantized matmul (activations stay
    /// FP32; candle quantizes them per block for the dot products).
    Quantized {
        /// The quantized weights `[out, in]`.
        weight: Arc<QTensor>,
        /// The matmul over them (holds the same `Arc`).
        matmul: QMatMul,
        /// FP32 bias `[out]`.
        bias: Option<Tensor>,
    },
    /// BitNet b1.58 ternary weights (2-bit packed, int8 activations, additions and
    /// subtractions only).
    Ternary(BitLinear),
}

impl Linear {
    /// An FP32 layer from its weights.
    pub fn dense(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self::Dense(candle_nn::Linear::new(weight, bias))
    }

    /// The layer stored as `format` (FP32 stays as is). A matrix whose rows do not fit the
    /// format's block falls back as [`WeightFormat::block_type_for`] says.
    pub fn stored_as(weight: Tensor, bias: Option<Tensor>, format: WeightFormat) -> Result<Self> {
        if format == WeightFormat::F32 {
            return Ok(Self::dense(weight, bias));
        }
        if format == WeightFormat::Ternary {
            let layer = BitLinear::from_weight(&weight)?;
            return Ok(Self::Ternary(match &bias {
                Some(b) => layer.with_bias(b)?,
                None => layer,
            }));
        }
        let (_, cols) = weight.dims2()?;
        match format.block_type_for(cols) {
            Some(t) => Self::from_qtensor(QTensor::quantize(&weight, t)?, bias),
            None => Ok(Self::dense(weight, bias)),
        }
    }

    /// A layer over stored GGUF weights: FP32/F16/BF16 ones as dense FP32, others quantized.
    pub fn from_qtensor(weight: QTensor, bias: Option<Tensor>) -> Result<Self> {
        match weight.dtype() {
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                Ok(Self::dense(weight.dequantize(&Device::Cpu)?, bias))
            }
            _ => {
                let weight = Arc::new(weight);
                Ok(Self::Quantized {
                    matmul: QMatMul::QTensor(weight.clone()),
                    weight,
                    bias,
                })
            }
        }
    }

    /// Loads `weight` `[out, in]` (and `bias` `[out]` when `bias`) under `vb`, stored as
    /// `format`.
    pub fn load(
        d_in: usize,
        d_out: usize,
        bias: bool,
        format: WeightFormat,
        vb: VarBuilder,
    ) -> Result<Self> {
        let w = vb.get((d_out, d_in), "weight")?;
        let b = if bias {
            Some(vb.get(d_out, "bias")?)
        } else {
            None
        };
        Self::stored_as(w, b, format)
    }

    /// `x` `[rows, seq, in]` to `[rows, seq, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(lin) => dense(lin, x),
            Self::Quantized {
                weight,
                matmul,
                bias,
            } => {
                if crate::quant::prompt::dequantizes(weight.dtype(), x) {
                    let w = crate::quant::prompt::dequantize(weight)?;
                    return dense(&candle_nn::Linear::new(w, bias.clone()), x);
                }
                // Decode steps over Q4_0/Q8_0 take the VNNI kernel where the CPU has it (the
                // same floats as candle's); everything else goes through candle.
                let y = match crate::quant::gemv::try_matmul(weight, x)? {
                    Some(y) => y,
                    None => matmul.forward(&x.contiguous()?)?,
                };
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
            Self::Ternary(layer) => layer.forward(x),
        }
    }

    /// Rows `ids` of the weight matrix (the layer used as an embedding table), FP32
    /// `[ids..., in]`.
    pub fn rows(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(lin) => {
                let w = lin.weight();
                let (_, cols) = w.dims2()?;
                let mut shape = ids.dims().to_vec();
                shape.push(cols);
                w.index_select(&ids.flatten_all()?, 0)?.reshape(shape)
            }
            Self::Quantized { weight, .. } => weight.embedding(ids),
            Self::Ternary(layer) => {
                let w = layer.dequantized_weight()?;
                let (_, cols) = w.dims2()?;
                let mut shape = ids.dims().to_vec();
                shape.push(cols);
                w.index_select(&ids.flatten_all()?, 0)?.reshape(shape)
            }
        }
    }

    /// The bias, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        match self {
            Self::Dense(lin) => lin.bias(),
            Self::Quantized { bias, .. } => bias.as_ref(),
            Self::Ternary(layer) => layer.bias(),
        }
    }

    /// The GGUF block type of the weights (none for ternary ones).
    pub fn block_type(&self) -> Option<GgmlDType> {
        match self {
            Self::Dense(_) => Some(GgmlDType::F32),
            Self::Quantized { weight, .. } => Some(weight.dtype()),
            Self::Ternary(_) => None,
        }
    }

    /// How the weights are stored, as `/v1/models` names it (`f32`, `q4_0`, `ternary`).
    pub fn storage_name(&self) -> String {
        match self.block_type() {
            Some(t) => crate::models::llama_gguf::block_type_name(t),
            None => WeightFormat::Ternary.as_str().into(),
        }
    }

    /// Bytes of the weights and bias as stored.
    pub fn bytes(&self) -> usize {
        let bias = self.bias().map_or(0, |b| b.elem_count() * 4);
        bias + match self {
            Self::Dense(lin) => lin.weight().elem_count() * 4,
            Self::Quantized { weight, .. } => weight.storage_size_in_bytes(),
            Self::Ternary(layer) => layer.weight_bytes(),
        }
    }

    /// Parameters of the weights and bias.
    pub fn elements(&self) -> usize {
        let bias = self.bias().map_or(0, Tensor::elem_count);
        bias + match self {
            Self::Dense(lin) => lin.weight().elem_count(),
            Self::Quantized { weight, .. } => weight.shape().elem_count(),
            Self::Ternary(layer) => layer.in_features() * layer.out_features(),
        }
    }

    /// The weights as a GGUF tensor (FP32 ones as `F32`).
    pub fn weight_qtensor(&self) -> Result<Arc<QTensor>> {
        match self {
            Self::Dense(lin) => Ok(Arc::new(QTensor::quantize(
                &lin.weight().to_dtype(DType::F32)?,
                GgmlDType::F32,
            )?)),
            Self::Quantized { weight, .. } => Ok(weight.clone()),
            Self::Ternary(_) => candle_core::bail!(
                "ternary weights cannot be written as GGUF here: candle has no TQ block type (llama.cpp's TQ1_0/TQ2_0); serve the model in another format to write it"
            ),
        }
    }

    /// The weights in FP32 `[out, in]` (dequantized when quantized).
    pub fn weight_f32(&self) -> Result<Tensor> {
        match self {
            Self::Dense(lin) => Ok(lin.weight().clone()),
            Self::Quantized { weight, .. } => weight.dequantize(&Device::Cpu),
            Self::Ternary(layer) => layer.dequantized_weight(),
        }
    }
}

/// What a model of `parameters` parameters weighs when `linears` (each counted once) are
/// stored as they are and every other parameter is FP32; `format` is the one asked for, and
/// matrices of another block type are listed as fallbacks.
pub fn weights_info(format: &str, parameters: usize, linears: &[&Linear]) -> WeightsInfo {
    let in_linears: usize = linears.iter().map(|l| l.elements()).sum();
    let bytes = parameters.saturating_sub(in_linears) * 4
        + linears.iter().map(|l| l.bytes()).sum::<usize>();
    let wanted = WeightFormat::parse(format).map(|f| f.as_str().to_string());
    let mut other: Vec<(String, usize)> = Vec::new();
    for l in linears {
        let name = l.storage_name();
        if wanted.as_ref().is_some_and(|w| *w != name) {
            match other.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => *count += 1,
                None => other.push((name, 1)),
            }
        }
    }
    WeightsInfo {
        format: format.to_string(),
        bytes,
        bits_per_weight: bytes as f64 * 8.0 / parameters.max(1) as f64,
        fallbacks: other
            .into_iter()
            .map(|(n, c)| format!("{n} × {c}"))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(rows: usize, cols: usize) -> Tensor {
        let v: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    }

    #[test]
    fn quantized_layers_approximate_the_dense_one() {
        let w = ramp(8, 256);
        let b = Tensor::from_vec(vec![0.5f32; 8], 8, &Device::Cpu).unwrap();
        let x = ramp(3, 256).reshape((3, 1, 256)).unwrap();
        let exact = Linear::dense(w.clone(), Some(b.clone()))
            .forward(&x)
            .unwrap();
        let scale = exact
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        for (f, tol) in [
            (WeightFormat::Q8_0, 0.01),
            (WeightFormat::Q4_0, 0.1),
            (WeightFormat::Q4K, 0.1),
        ] {
            let q = Linear::stored_as(w.clone(), Some(b.clone()), f).unwrap();
            assert_eq!(q.block_type(), f.ggml());
            assert_eq!(q.storage_name(), f.as_str());
            assert!(q.bytes() < 8 * 256 * 4 / 3, "{f}: {} bytes", q.bytes());
            let y = q.forward(&x).unwrap();
            let err = (y - &exact).unwrap().abs().unwrap().max_all().unwrap();
            let err = err.to_scalar::<f32>().unwrap() / scale;
            assert!(err < tol, "{f}: relative error {err}");
            assert!(err > 0.0, "{f}: no quantization error at all");
        }
    }

    #[test]
    fn rows_of_a_quantized_table_are_the_dequantized_rows() {
        let w = ramp(6, 64);
        let q = Linear::stored_as(w, None, WeightFormat::Q8_0).unwrap();
        let ids = Tensor::from_vec(vec![4u32, 1], (1, 2), &Device::Cpu).unwrap();
        let got = q.rows(&ids).unwrap();
        assert_eq!(got.dims(), &[1, 2, 64]);
        let want = q
            .weight_f32()
            .unwrap()
            .index_select(&ids.flatten_all().unwrap(), 0)
            .unwrap();
        let diff = (got.squeeze(0).unwrap() - want).unwrap().abs().unwrap();
        assert_eq!(diff.max_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }
}
