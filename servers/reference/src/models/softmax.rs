//! Softmax over the last dimension, with the exponentials eight at a time (AVX2 and FMA,
//! chosen at run time) for the attention scores, where candle's takes one `expf` call per
//! score: at 512 tokens `perf` put `__expf_fma` at 6% of a one-thread encoder pass.

use candle_core::{Result, Tensor};

/// softmax(x) over the last dimension: this crate's kernel for FP32 tensors on a CPU with
/// AVX2 and FMA, candle's otherwise.
pub fn softmax_last_dim(xs: &Tensor) -> Result<Tensor> {
    #[cfg(target_arch = "x86_64")]
    if xs.dtype() == candle_core::DType::F32
        && xs.device().is_cpu()
        && let Some(op) = x86::SoftmaxRows::for_this_cpu()
    {
        return xs.contiguous()?.apply_op1_no_bwd(&op);
    }
    candle_nn::ops::softmax_last_dim(xs)
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape};
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    /// The op: each row of the last dimension on its own, rows in parallel. Built only
    /// where the CPU has AVX2 and FMA.
    pub(crate) struct SoftmaxRows {
        _detected: (),
    }

    impl SoftmaxRows {
        /// The op, when this CPU has AVX2 and FMA.
        pub(crate) fn for_this_cpu() -> Option<Self> {
            (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
                .then_some(Self { _detected: () })
        }
    }

    impl CustomOp1 for SoftmaxRows {
        fn name(&self) -> &'static str {
            "softmax-rows-avx2"
        }

        fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
            let CpuStorage::F32(all) = storage else {
                candle_core::bail!("softmax-rows-avx2 takes f32 scores");
            };
            let Some((start, end)) = layout.contiguous_offsets() else {
                candle_core::bail!("softmax-rows-avx2 takes a contiguous tensor");
            };
            let src = &all[start..end];
            let width = layout.dims().last().copied().unwrap_or(1).max(1);
            let mut dst = vec![0f32; src.len()];
            // SAFETY: a `SoftmaxRows` exists only where AVX2 and FMA were detected.
            let row = |(row, out): (&[f32], &mut [f32])| unsafe { softmax_row(row, out) };
            if rayon::current_num_threads() > 1 {
                src.par_chunks(width)
                    .zip(dst.par_chunks_mut(width))
                    .for_each(row);
            } else {
                // On this thread: a hop to rayon's one thread and back costs two wake-ups.
                src.chunks(width).zip(dst.chunks_mut(width)).for_each(row);
            }
            Ok((CpuStorage::F32(dst), layout.shape().clone()))
        }
    }

    impl SoftmaxRows {
        /// `out` = softmax(`row`).
        pub(crate) fn row(&self, row: &[f32], out: &mut [f32]) {
            debug_assert_eq!(row.len(), out.len(), "a softmax row and its output");
            // SAFETY: a `SoftmaxRows` exists only where AVX2 and FMA were detected.
            unsafe { softmax_row(row, out) }
        }
    }

    /// One row: exp(x − max) / Σ.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    unsafe fn softmax_row(row: &[f32], out: &mut [f32]) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            // Every score masked: candle's gives NaN (0/0); so does this.
            out.fill(f32::NAN);
            return;
        }
        // SAFETY: the caller's guarantee.
        let scale = 1.0 / unsafe { exp_shifted(row, max, out) };
        for v in out.iter_mut() {
            *v *= scale;
        }
    }

    /// Below this, exp(x) is under the smallest normal f32: written as 0 (as `expf` of
    /// −inf, a masked score, is).
    const EXP_MIN: f32 = -87.33;

    /// `out = exp(row − max)` eight at a time (the tail one at a time); their sum.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp_shifted(row: &[f32], max: f32, out: &mut [f32]) -> f32 {
        let n = row.len().min(out.len());
        let lanes = n - n % 8;
        let shift = _mm256_set1_ps(max);
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i < lanes {
            // SAFETY: i + 8 <= lanes <= the length of both slices.
            let x = unsafe { _mm256_loadu_ps(row.as_ptr().add(i)) };
            let e = exp8(_mm256_sub_ps(x, shift));
            // SAFETY: as the load above.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(i), e) };
            acc = _mm256_add_ps(acc, e);
            i += 8;
        }
        let mut lanes_sum = [0f32; 8];
        // SAFETY: an 8-float array.
        unsafe { _mm256_storeu_ps(lanes_sum.as_mut_ptr(), acc) };
        let mut sum: f32 = lanes_sum.iter().sum();
        for j in lanes..n {
            out[j] = (row[j] - max).exp();
            sum += out[j];
        }
        sum
    }

    /// exp of eight floats (Cephes' `expf`: range reduction by ln 2 in two parts, a
    /// degree-5 polynomial, the power of two built in the exponent bits); within 2 ulp of
    /// `f32::exp` for x in [−87.33, 0], and 0 below.
    #[target_feature(enable = "avx2,fma")]
    fn exp8(x: __m256) -> __m256 {
        let underflow = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(EXP_MIN));
        // The constant first: `max`/`min` return their second operand when one is NaN, so a
        // NaN score stays NaN (and makes its row NaN, as candle's softmax does).
        let x = _mm256_max_ps(_mm256_set1_ps(EXP_MIN), x);
        let x = _mm256_min_ps(_mm256_set1_ps(88.376_26), x);
        let fx = _mm256_floor_ps(_mm256_fmadd_ps(
            x,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(0.5),
        ));
        let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693_359_4), x);
        let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.121_944_4e-4), x);
        let mut y = _mm256_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            0.166_666_65,
            0.5,
        ] {
            y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(c));
        }
        let y = _mm256_fmadd_ps(
            y,
            _mm256_mul_ps(x, x),
            _mm256_add_ps(x, _mm256_set1_ps(1.0)),
        );
        let n = _mm256_cvttps_epi32(fx);
        let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            n,
            _mm256_set1_epi32(127),
        )));
        _mm256_andnot_ps(underflow, _mm256_mul_ps(y, pow2n))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn eight_exponentials_agree_with_expf_to_two_ulp() {
            if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
                return;
            }
            let mut worst = 0f32;
            let mut x = -87.0f32;
            while x <= 0.0 {
                let xs: [f32; 8] = std::array::from_fn(|k| x + k as f32 * 1.37e-3);
                let mut got = [0f32; 8];
                // SAFETY: AVX2 and FMA were detected above; both arrays hold 8 floats.
                unsafe {
                    _mm256_storeu_ps(got.as_mut_ptr(), exp8(_mm256_loadu_ps(xs.as_ptr())));
                }
                for (g, v) in got.iter().zip(xs) {
                    let want = v.exp();
                    worst = worst.max((g - want).abs() / (want * f32::EPSILON));
                }
                x += 0.0113;
            }
            assert!(worst <= 2.0, "worst error {worst} ulp");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn the_vectorized_softmax_matches_candles_masked_scores_included() {
        // Rows of 37 (four blocks of eight and a tail), one with masked scores.
        let values: Vec<f32> = (0..3 * 37)
            .map(|i| match i {
                40..=44 => f32::NEG_INFINITY,
                _ => ((i * 7919) % 113) as f32 / 9.0 - 6.0,
            })
            .collect();
        let xs = Tensor::from_vec(values, (3, 37), &Device::Cpu).expect("tensor");
        let ours = softmax_last_dim(&xs).expect("ours");
        let theirs = candle_nn::ops::softmax_last_dim(&xs).expect("candle's");
        let diff = (ours - &theirs)
            .and_then(|d| d.abs())
            .and_then(|d| d.max_all())
            .and_then(|d| d.to_scalar::<f32>())
            .expect("difference");
        assert!(diff < 1e-6, "largest difference {diff}");
        let masked: Vec<f32> = theirs.get(1).and_then(|r| r.to_vec1()).expect("row");
        assert!(masked[3..8].iter().all(|&p| p == 0.0));
        let row: Vec<f32> = softmax_last_dim(&xs)
            .and_then(|s| s.get(1))
            .and_then(|r| r.to_vec1())
            .expect("row");
        assert!(row[3..8].iter().all(|&p| p == 0.0), "masked scores get 0");
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_nan_score_makes_its_row_nan_wherever_it_stands() {
        for at in [2, 12] {
            // 16 scores: index 2 goes through the vector lanes, as does 12; a row of 13
            // puts index 12 in the scalar tail.
            for width in [16, 13] {
                let mut values = vec![0.5f32; width];
                values[at.min(width - 1)] = f32::NAN;
                let xs = Tensor::from_vec(values, (1, width), &Device::Cpu).expect("tensor");
                let row: Vec<f32> = softmax_last_dim(&xs)
                    .and_then(|s| s.get(0))
                    .and_then(|r| r.to_vec1())
                    .expect("row");
                assert!(
                    row.iter().all(|p| p.is_nan()),
                    "width {width}, NaN at {at}: {row:?}"
                );
            }
        }
    }
}
