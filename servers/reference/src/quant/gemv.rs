//! Decode-time matrix-vector products over Q4_0 and Q8_0 weights with AVX-512 VNNI
//! (`vpdpbusd` on 256-bit lanes).
//!
//! candle 0.11 runs a Q4_0 (and, where its repacked VNNI tiles do not apply, a Q8_0) matmul
//! one weight row at a time: per block of 32 it converts both f16 scales through an
//! out-of-line call (its `half` build detects F16C at run time), forms the eight 4-product
//! integer sums with `vpsignb`/`vpmaddubsw`/`vpmaddwd`, and adds `d · float(sums)` into one
//! chain of eight f32 lanes, so each block waits for the previous block's fused
//! multiply-add. Here the activations are prepared once per token (their f16 scales as f32,
//! and minus 8 (Q4_0) or 128 (Q8_0) times their 4-sums, the correction for the weights'
//! unsigned codes), the weight scales convert inline (`vcvtph2ps`), the weights are
//! prefetched ahead, one `vpdpbusd` per block forms the eight integer sums (starting from the
//! correction), and four independent accumulators take blocks in turn. The integer sums are
//! exact as in candle; only the order of the float additions differs (the tests bound the
//! difference by the f32 rounding of a dot product).
//!
//! The activations are quantized to Q8_0 by candle's own `BlockQ8_0::from_float`. Only rows
//! candle would take through its vector-dot path are taken here: not Q8_0 matrices its
//! repacked tiles handle (`k` a multiple of 256 and `n` of 16), and at most [`MAX_ROWS`]
//! activation rows (each weight row is read once and dotted with every token's activations
//! while in cache; a longer prompt is dequantized for the FP32 GEMM). Elsewhere (no
//! AVX-512 VNNI, other block types) [`try_matmul`] returns `None` and the caller uses
//! candle.

use candle_core::quantized::k_quants::{BlockQ8_0, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Result, Tensor};

/// The most activation rows (tokens) taken here; more are a prompt (`super::prompt`).
pub const MAX_ROWS: usize = super::prompt::PROMPT_ROWS - 1;

use super::{Q4_0_BLOCK, Q8_0_BLOCK, QK};

/// Whether this CPU runs the kernel (AVX2, FMA, F16C, AVX-512F/VL and VNNI).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static OK: OnceLock<bool> = OnceLock::new();
        *OK.get_or_init(|| {
            std::env::var_os("JOULEBENCH_NO_VNNI_GEMV").is_none()
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vnni")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether `weight` `[n, k]` of this type is taken here for `m` activation rows.
pub fn takes(dtype: GgmlDType, m: usize, n: usize, k: usize) -> bool {
    let candle_repacks = k.is_multiple_of(256) && n.is_multiple_of(16);
    let ours = match dtype {
        GgmlDType::Q4_0 => true,
        GgmlDType::Q8_0 => !candle_repacks,
        _ => false,
    };
    ours && (1..=MAX_ROWS).contains(&m) && k.is_multiple_of(QK) && n > 0 && available()
}

/// `x` `[..., k]` times `weightᵀ` (`weight` `[n, k]`), or `None` where candle should run it.
pub fn try_matmul(weight: &QTensor, x: &Tensor) -> Result<Option<Tensor>> {
    let (n, k) = weight.shape().dims2()?;
    let dims = x.dims();
    if x.dtype() != DType::F32 || !x.device().is_cpu() || dims.last() != Some(&k) {
        return Ok(None);
    }
    let m = x.elem_count() / k.max(1);
    if !takes(weight.dtype(), m, n, k) {
        return Ok(None);
    }
    let data = weight.data()?;
    let lhs = x.flatten_all()?.to_vec1::<f32>()?;
    let nb = k / QK;
    let mut ys = vec![BlockQ8_0::zeros(); m * nb];
    for (row, blocks) in lhs.chunks_exact(k).zip(ys.chunks_exact_mut(nb)) {
        BlockQ8_0::from_float(row, blocks);
    }
    // SAFETY: `BlockQ8_0` is `repr(C)` {f16, [i8; 32]}, 34 bytes (asserted by candle).
    let ys_bytes =
        unsafe { std::slice::from_raw_parts(ys.as_ptr() as *const u8, ys.len() * Q8_0_BLOCK) };
    let mut dst = vec![0f32; m * n];
    #[cfg(target_arch = "x86_64")]
    run(weight.dtype(), &data, ys_bytes, m, n, k, &mut dst);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, ys_bytes);
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().expect("rank checked") = n;
    Ok(Some(Tensor::from_vec(dst, out_dims, &Device::Cpu)?))
}

#[cfg(target_arch = "x86_64")]
fn run(dtype: GgmlDType, w: &[u8], ys: &[u8], m: usize, n: usize, k: usize, dst: &mut [f32]) {
    let nb = k / QK;
    let y_bytes = nb * Q8_0_BLOCK;
    let (block, q4) = match dtype {
        GgmlDType::Q4_0 => (Q4_0_BLOCK, true),
        _ => (Q8_0_BLOCK, false),
    };
    let row_bytes = nb * block;
    assert!(w.len() >= n * row_bytes && ys.len() >= m * y_bytes && dst.len() >= m * n);
    // SAFETY: `takes` checked the CPU features; each activation row holds `nb` blocks.
    let prepared: Vec<x86::Prepared> = (0..m)
        .map(|t| unsafe { x86::prepare(&ys[t * y_bytes..(t + 1) * y_bytes], nb, q4) })
        .collect();
    let dst_ptr = dst.as_mut_ptr() as usize;
    // Work items of four weight rows, as candle's; each row is one sequential stream (four
    // rows interleaved were slower here, the weights streaming from memory).
    candle_core::utils::barrier_pool().execute_chunked(n.div_ceil(4), |range| {
        for quad in range {
            for row in quad * 4..n.min(quad * 4 + 4) {
                let wr = &w[row * row_bytes..(row + 1) * row_bytes];
                for (t, y) in prepared.iter().enumerate() {
                    // SAFETY: `available()` checked the CPU features; `wr` holds `nb` blocks
                    // and `y` was prepared from `nb`.
                    let v = unsafe {
                        if q4 {
                            x86::dot_q4_0(wr, y, nb)
                        } else {
                            x86::dot_q8_0(wr, y, nb)
                        }
                    };
                    // SAFETY: each (t, row) of `dst` is written by exactly one work item.
                    unsafe { *(dst_ptr as *mut f32).add(t * n + row) = v };
                }
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::quant::{Q4_0_BLOCK, Q8_0_BLOCK};
    use core::arch::x86_64::*;

    /// How far ahead of the current weight block to prefetch (bytes).
    const PREFETCH: usize = 512;

    /// One token's Q8_0 activations, ready for every weight row.
    pub struct Prepared {
        /// The 32 int8 values of each block.
        values: Vec<__m256i>,
        /// Minus the weights' code offset (8 or 128) times each block's eight 4-sums.
        correction: Vec<__m256i>,
        /// Each block's scale.
        scales: Vec<f32>,
    }

    /// The f16 at `p` as f32 (exact).
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn scale(p: *const u8) -> f32 {
        let bits = unsafe { std::ptr::read_unaligned(p as *const u16) };
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
    }

    /// candle's `hsum_float_8`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn hsum(x: __m256) -> f32 {
        let res = _mm256_extractf128_ps(x, 1);
        let res = _mm_add_ps(res, _mm256_castps256_ps128(x));
        let res = _mm_add_ps(res, _mm_movehl_ps(res, res));
        let res = _mm_add_ss(res, _mm_movehdup_ps(res));
        _mm_cvtss_f32(res)
    }

    /// Prepares `nb` Q8_0 activation blocks for Q4_0 (`q4`) or Q8_0 weights.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn prepare(y: &[u8], nb: usize, q4: bool) -> Prepared {
        debug_assert!(y.len() >= nb * Q8_0_BLOCK);
        let offset = _mm256_set1_epi8(if q4 { 8 } else { -128 });
        let mut out = Prepared {
            values: Vec::with_capacity(nb),
            correction: Vec::with_capacity(nb),
            scales: Vec::with_capacity(nb),
        };
        for b in 0..nb {
            unsafe {
                let yb = y.as_ptr().add(b * Q8_0_BLOCK);
                let yv = _mm256_loadu_si256(yb.add(2) as *const __m256i);
                let sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), offset, yv);
                out.values.push(yv);
                out.correction
                    .push(_mm256_sub_epi32(_mm256_setzero_si256(), sums));
                out.scales.push(scale(yb));
            }
        }
        out
    }

    /// Adds block `b`'s `d · float(sums)` into `acc`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add_block(acc: __m256, d: f32, sums: __m256i) -> __m256 {
        _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sums), acc)
    }

    /// The eight integer 4-sums of one Q4_0 weight block at `xb` with activation block `b`
    /// (`b` below the blocks prepared).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    unsafe fn sums_q4_0(xb: *const u8, y: &Prepared, b: usize) -> __m256i {
        unsafe {
            let tmp = _mm_loadu_si128(xb.add(2) as *const __m128i);
            let bytes =
                _mm256_insertf128_si256::<1>(_mm256_castsi128_si256(tmp), _mm_srli_epi16(tmp, 4));
            let bx = _mm256_and_si256(_mm256_set1_epi8(0xF), bytes);
            _mm256_dpbusd_epi32(
                *y.correction.get_unchecked(b),
                bx,
                *y.values.get_unchecked(b),
            )
        }
    }

    /// The eight integer 4-sums of one Q8_0 weight block at `xb` with activation block `b`
    /// (the weights offset by 128 read as unsigned; the correction takes the offset back).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    unsafe fn sums_q8_0(xb: *const u8, y: &Prepared, b: usize) -> __m256i {
        unsafe {
            let bx = _mm256_loadu_si256(xb.add(2) as *const __m256i);
            let ux = _mm256_xor_si256(bx, _mm256_set1_epi8(-128));
            _mm256_dpbusd_epi32(
                *y.correction.get_unchecked(b),
                ux,
                *y.values.get_unchecked(b),
            )
        }
    }

    /// The dot product of one weight row of `nb` blocks of `B` bytes with prepared
    /// activations, four blocks in flight (four accumulators in registers).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    unsafe fn dot<const B: usize>(
        w: &[u8],
        y: &Prepared,
        nb: usize,
        sums: unsafe fn(*const u8, &Prepared, usize) -> __m256i,
    ) -> f32 {
        assert!(w.len() >= nb * B && y.scales.len() >= nb && y.values.len() >= nb);
        let wp = w.as_ptr();
        let step = |acc: __m256, b: usize| -> __m256 {
            // SAFETY: b < nb, checked above for the weights and the prepared blocks.
            unsafe {
                let xb = wp.add(b * B);
                _mm_prefetch::<_MM_HINT_T0>(xb.wrapping_add(PREFETCH) as *const i8);
                let d = scale(xb) * *y.scales.get_unchecked(b);
                add_block(acc, d, sums(xb, y, b))
            }
        };
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        let mut b = 0;
        while b + 4 <= nb {
            a0 = step(a0, b);
            a1 = step(a1, b + 1);
            a2 = step(a2, b + 2);
            a3 = step(a3, b + 3);
            b += 4;
        }
        while b < nb {
            a0 = step(a0, b);
            b += 1;
        }
        hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)))
    }

    /// The dot product of one Q4_0 row of `nb` blocks with prepared activations.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn dot_q4_0(w: &[u8], y: &Prepared, nb: usize) -> f32 {
        unsafe { dot::<Q4_0_BLOCK>(w, y, nb, sums_q4_0) }
    }

    /// The dot product of one Q8_0 row of `nb` blocks with prepared activations.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn dot_q8_0(w: &[u8], y: &Prepared, nb: usize) -> f32 {
        unsafe { dot::<Q8_0_BLOCK>(w, y, nb, sums_q8_0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Module;
    use candle_core::quantized::QMatMul;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0
            })
            .collect()
    }

    #[test]
    fn equals_candle_to_the_rounding_of_a_dot_product() {
        // n not a multiple of 4 (a ragged last quad); k = 576 keeps Q8_0 off candle's tiles.
        for (dtype, n, k) in [
            (GgmlDType::Q4_0, 67, 576),
            (GgmlDType::Q4_0, 64, 1536),
            (GgmlDType::Q8_0, 67, 576),
            (GgmlDType::Q8_0, 3, 96),
        ] {
            let w = Tensor::from_vec(values(n * k, 1), (n, k), &Device::Cpu).unwrap();
            let q = std::sync::Arc::new(QTensor::quantize(&w, dtype).unwrap());
            for m in 1..=MAX_ROWS {
                let x =
                    Tensor::from_vec(values(m * k, 2 + m as u64), (m, 1, k), &Device::Cpu).unwrap();
                let want = QMatMul::QTensor(q.clone()).forward(&x).unwrap();
                match try_matmul(&q, &x).unwrap() {
                    Some(got) => {
                        assert_eq!(got.dims(), want.dims());
                        let (g, w) = (
                            got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                            want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                        );
                        // Same exact integer sums, float additions in another order: apart by
                        // at most a few roundings of the sum of |terms| (< k · |max term|).
                        let bound = k as f32 * 4.0 * f32::EPSILON;
                        for (i, (a, b)) in g.iter().zip(&w).enumerate() {
                            assert!((a - b).abs() <= bound, "{dtype:?} m {m} [{i}]: {a} vs {b}");
                        }
                    }
                    None => assert!(!available(), "{dtype:?} m {m} not taken"),
                }
            }
        }
        let q = QTensor::quantize(
            &Tensor::zeros((16, 256), DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::Q8_0,
        )
        .unwrap();
        let x = Tensor::zeros((1, 256), DType::F32, &Device::Cpu).unwrap();
        assert!(try_matmul(&q, &x).unwrap().is_none(), "candle's tiles");
        let x = Tensor::zeros((MAX_ROWS + 1, 576), DType::F32, &Device::Cpu).unwrap();
        let q4 = QTensor::quantize(
            &Tensor::zeros((4, 576), DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::Q4_0,
        )
        .unwrap();
        assert!(try_matmul(&q4, &x).unwrap().is_none(), "a prompt");
    }
}
