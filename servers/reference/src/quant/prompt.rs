//! Prompts over block-quantized weights: dequantize the matrix for the call and run the FP32
//! GEMM.
//!
//! candle 0.11's quantized matmul takes a prompt of m tokens as m matrix-vector products
//! (activations quantized to Q8_0 per block, one integer dot product per weight row and
//! token), so a 128-token prompt over Q4_0 weights cost 4.7× the FP32 model's on one
//! thread. A prompt is compute-bound: the GEMM reuses each weight m times from cache, so
//! turning the matrix back into floats once per call (Q4_0 and Q8_0 by AVX2 here, other
//! block types by candle) costs a few per cent of it from [`PROMPT_ROWS`] rows up. The
//! weights stay quantized in memory; the FP32 copy lives for one matmul. The products then
//! differ from candle's only in that the activations are not quantized.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Result, Tensor};
use rayon::prelude::*;

/// The fewest activation rows (tokens) taken as a prompt.
pub const PROMPT_ROWS: usize = 16;

use super::{Q4_0_BLOCK, Q8_0_BLOCK, QK};

/// Whether `x` `[..., k]` over weights of type `dtype` is taken as a prompt.
pub fn dequantizes(dtype: GgmlDType, x: &Tensor) -> bool {
    let k = x.dims().last().copied().unwrap_or(0);
    let rows = x.elem_count().checked_div(k).unwrap_or(0);
    let quantized = !matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
    rows >= PROMPT_ROWS && quantized && x.dtype() == DType::F32 && x.device().is_cpu()
}

/// The weights as an FP32 matrix `[n, k]` (the values candle's `dequantize` gives).
pub fn dequantize(weight: &QTensor) -> Result<Tensor> {
    let (n, k) = weight.shape().dims2()?;
    let block = match weight.dtype() {
        GgmlDType::Q4_0 => Q4_0_BLOCK,
        GgmlDType::Q8_0 => Q8_0_BLOCK,
        _ => return weight.dequantize(&Device::Cpu),
    };
    if !k.is_multiple_of(QK) || !avx2() {
        return weight.dequantize(&Device::Cpu);
    }
    let data = weight.data()?;
    let row_bytes = k / QK * block;
    if data.len() < n * row_bytes {
        return weight.dequantize(&Device::Cpu);
    }
    let q4 = weight.dtype() == GgmlDType::Q4_0;
    // Every element is written below (no zeroing first: the matrix is written once).
    let mut out: Vec<f32> = Vec::with_capacity(n * k);
    out.spare_capacity_mut()[..n * k]
        .par_chunks_mut(k)
        .zip(data.par_chunks(row_bytes))
        .with_min_len(16)
        .for_each(|(dst, src)| {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `avx2()` checked the CPU; `src` holds k / 32 blocks and `dst` k floats.
            unsafe {
                x86::row(src, dst, q4)
            };
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (src, dst, q4);
        });
    // SAFETY: the n rows of k floats were each written by `x86::row` (`avx2()` holds here).
    unsafe { out.set_len(n * k) };
    Tensor::from_vec(out, (n, k), &Device::Cpu)
}

/// Whether this CPU runs the AVX2 dequantizer.
fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::quant::{Q4_0_BLOCK, Q8_0_BLOCK, QK};
    use core::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Eight int8 lanes of `v` (the low 8 bytes) times `d`, stored at `dst`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store8(v: __m128i, d: __m256, dst: *mut f32) {
        let f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
        unsafe { _mm256_storeu_ps(dst, _mm256_mul_ps(f, d)) };
    }

    /// One row of Q4_0 (`q4`) or Q8_0 blocks `src` into `dst` (`dst.len()` / 32 blocks),
    /// writing every element of `dst`.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn row(src: &[u8], dst: &mut [MaybeUninit<f32>], q4: bool) {
        let block = if q4 { Q4_0_BLOCK } else { Q8_0_BLOCK };
        let nb = dst.len() / QK;
        assert!(src.len() >= nb * block);
        for b in 0..nb {
            // SAFETY: block b lies within `src` (asserted) and its 32 outputs within `dst`.
            unsafe {
                let p = src.as_ptr().add(b * block);
                let o = dst.as_mut_ptr().add(b * QK) as *mut f32;
                let bits = std::ptr::read_unaligned(p as *const u16);
                let d = _mm256_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(
                    bits,
                )))));
                let (first, second) = if q4 {
                    // Values 0..16 are the low nibbles, 16..32 the high ones, each minus 8.
                    let q = _mm_loadu_si128(p.add(2) as *const __m128i);
                    let m = _mm_set1_epi8(0xF);
                    let eight = _mm_set1_epi8(8);
                    (
                        _mm_sub_epi8(_mm_and_si128(q, m), eight),
                        _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m), eight),
                    )
                } else {
                    (
                        _mm_loadu_si128(p.add(2) as *const __m128i),
                        _mm_loadu_si128(p.add(18) as *const __m128i),
                    )
                };
                store8(first, d, o);
                store8(_mm_srli_si128(first, 8), d, o.add(8));
                store8(second, d, o.add(16));
                store8(_mm_srli_si128(second, 8), d, o.add(24));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_candles_dequantized_values_exactly() {
        let (n, k) = (40, 96);
        let values: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 97.0)
            .collect();
        let w = Tensor::from_vec(values, (n, k), &Device::Cpu).expect("tensor");
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q8_0, GgmlDType::Q5_0] {
            let q = QTensor::quantize(&w, dtype).expect("quantize");
            let ours: Vec<f32> = dequantize(&q)
                .expect("ours")
                .flatten_all()
                .expect("flat")
                .to_vec1()
                .expect("vec");
            let candle: Vec<f32> = q
                .dequantize(&Device::Cpu)
                .expect("candle")
                .flatten_all()
                .expect("flat")
                .to_vec1()
                .expect("vec");
            assert_eq!(ours, candle, "{dtype:?}");
        }
    }

    #[test]
    fn a_prompt_is_sixteen_rows_of_quantized_weights() {
        let x = |rows: usize| Tensor::zeros((1, rows, 64), DType::F32, &Device::Cpu).expect("x");
        assert!(dequantizes(GgmlDType::Q4_0, &x(16)));
        assert!(!dequantizes(GgmlDType::Q4_0, &x(15)));
        assert!(!dequantizes(GgmlDType::F16, &x(128)));
    }
}
