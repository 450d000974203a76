//! [`BitLinear`]: a linear layer with ternary weights and int8 activations, on candle tensors.

use super::kernel::{self, KernelPath};
use super::pack::PackedTernary;
use super::quant::{TernaryWeights, quantize_activations, quantize_weights};
use candle_core::{DType, Device, Module, Result, Tensor};

/// A linear layer `y = x Wᵀ (+ b)` with W stored as packed ternary weights and γ (BitNet b1.58).
///
/// Inputs `[.., in]` of any float dtype and device give `[.., out]` in the same dtype and device;
/// the arithmetic runs on the CPU in f32 around the integer kernel.
#[derive(Debug, Clone)]
pub struct BitLinear {
    packed: PackedTernary,
    gamma: f32,
    bias: Option<Tensor>,
}

/// The flattened `[n, in]` f32 values of `x` (on the CPU) and the leading dims of its shape.
fn rows_of(x: &Tensor, in_features: usize) -> Result<(Vec<f32>, usize, Vec<usize>)> {
    let dims = x.dims();
    let Some((&last, lead)) = dims.split_last() else {
        candle_core::bail!("BitLinear: input must have at least one dimension, got a scalar");
    };
    if last != in_features {
        candle_core::bail!(
            "BitLinear: input's last dimension is {last}, the layer takes {in_features}"
        );
    }
    let n = lead.iter().product::<usize>();
    let values = x
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((values, n, lead.to_vec()))
}

/// Activations quantized to int8 per token by absmax and back (`x̃ × max|x| / 127`), shape kept.
pub fn fake_quantize_activations(x: &Tensor) -> Result<Tensor> {
    let Some(&cols) = x.dims().last() else {
        candle_core::bail!("fake_quantize_activations: input must have at least one dimension");
    };
    let (values, n, _) = rows_of(x, cols)?;
    let q = quantize_activations(&values, n, cols)?;
    let mut out = Vec::with_capacity(n * cols);
    for t in 0..n {
        let scale = q.scales[t];
        out.extend(q.row(t)[..cols].iter().map(|&v| f32::from(v) * scale));
    }
    Tensor::from_vec(out, x.shape(), &Device::Cpu)?
        .to_dtype(x.dtype())?
        .to_device(x.device())
}

impl BitLinear {
    /// Quantize an `[out, in]` weight (candle's `Linear` convention) to absmean ternary and pack it.
    pub fn from_weight(weight: &Tensor) -> Result<Self> {
        let (rows, cols) = weight.dims2()?;
        let values = weight
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Self::from_ternary(&quantize_weights(&values, rows, cols)?)
    }

    /// A layer from weights already in ternary form.
    pub fn from_ternary(w: &TernaryWeights) -> Result<Self> {
        let packed = PackedTernary::pack(&w.values, w.rows, w.cols)?;
        Ok(Self {
            packed,
            gamma: w.gamma,
            bias: None,
        })
    }

    /// The same layer with a bias of shape `[out]` added to its output (kept in f32).
    pub fn with_bias(mut self, bias: &Tensor) -> Result<Self> {
        let n = bias.dims1()?;
        if n != self.out_features() {
            candle_core::bail!(
                "BitLinear: bias has {n} values, the layer has {} outputs",
                self.out_features()
            );
        }
        self.bias = Some(bias.to_device(&Device::Cpu)?.to_dtype(DType::F32)?);
        Ok(self)
    }

    /// The bias added to the output, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Input features (columns of W).
    pub fn in_features(&self) -> usize {
        self.packed.cols()
    }

    /// Output features (rows of W).
    pub fn out_features(&self) -> usize {
        self.packed.rows()
    }

    /// γ, the absmean scale of the weights.
    pub fn gamma(&self) -> f32 {
        self.gamma
    }

    /// The packed ternary weights.
    pub fn packed(&self) -> &PackedTernary {
        &self.packed
    }

    /// Bytes of the weights as stored: the packed 2-bit codes plus γ (4 bytes); bias not counted.
    pub fn weight_bytes(&self) -> usize {
        self.packed.packed_bytes() + std::mem::size_of::<f32>()
    }

    /// Bits per weight as stored, row padding and γ included (2.0 plus a little).
    pub fn bits_per_weight(&self) -> f64 {
        8.0 * self.weight_bytes() as f64 / (self.in_features() * self.out_features()).max(1) as f64
    }

    /// W̃ as an `[out, in]` f32 tensor of −1, 0, +1.
    pub fn ternary_weight(&self) -> Result<Tensor> {
        let values: Vec<f32> = self.packed.unpack().into_iter().map(f32::from).collect();
        Tensor::from_vec(
            values,
            (self.out_features(), self.in_features()),
            &Device::Cpu,
        )
    }

    /// The dequantized weight W̃ × γ, `[out, in]` f32.
    pub fn dequantized_weight(&self) -> Result<Tensor> {
        self.ternary_weight()? * f64::from(self.gamma)
    }

    /// The dequantized reference: fake-quantized activations times W̃ × γ by an ordinary f32 matmul.
    pub fn forward_reference(&self, x: &Tensor) -> Result<Tensor> {
        let (_, n, mut lead) = rows_of(x, self.in_features())?;
        let xq = fake_quantize_activations(&x.to_device(&Device::Cpu)?.to_dtype(DType::F32)?)?
            .reshape((n, self.in_features()))?;
        let mut y = xq.matmul(&self.dequantized_weight()?.t()?)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        lead.push(self.out_features());
        y.reshape(lead)?.to_dtype(x.dtype())?.to_device(x.device())
    }

    /// The forward pass on a chosen kernel path (errors if this CPU lacks it); returns the path.
    pub fn forward_with(
        &self,
        x: &Tensor,
        path: Option<KernelPath>,
    ) -> Result<(Tensor, KernelPath)> {
        let (values, n, mut lead) = rows_of(x, self.in_features())?;
        let q = quantize_activations(&values, n, self.in_features())?;
        let rows = self.out_features();
        let mut acc = vec![0i32; n * rows];
        let path = match path {
            Some(p) => {
                kernel::matmul_with(p, &self.packed, &q, &mut acc)?;
                p
            }
            None => kernel::matmul(&self.packed, &q, &mut acc)?,
        };
        let gamma = f64::from(self.gamma);
        let mut out = Vec::with_capacity(n * rows);
        for (t, chunk) in acc.chunks_exact(rows.max(1)).enumerate().take(n) {
            let scale = gamma * f64::from(q.scales[t]);
            out.extend(chunk.iter().map(|&a| (f64::from(a) * scale) as f32));
        }
        lead.push(rows);
        let mut y = Tensor::from_vec(out, lead, &Device::Cpu)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        Ok((y.to_dtype(x.dtype())?.to_device(x.device())?, path))
    }
}

impl Module for BitLinear {
    /// The forward pass on the fastest kernel path of this CPU.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with(x, None)?.0)
    }
}
