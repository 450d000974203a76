//! `x · Wᵀ + b` for a few rows of FP32 activations (a short sequence) against FP32 weights
//! `[out, in]`, without packing the weights: each weight row is read once, in place, and
//! dotted with every activation row (held in L1) by an AVX-512 kernel chosen at run time.
//! gemm packs the whole weight matrix on every call, which `perf` put at 55 % of a
//! 16-token pass of the `small` encoder on one thread; longer inputs (or a CPU without
//! AVX-512) go through candle as before.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::Linear;

/// Rows of activations up to which the unpacked kernel is used.
pub const MAX_ROWS: usize = 16;

/// `lin` applied to `x` `[..., in]`: the unpacked kernel for up to [`MAX_ROWS`] rows of
/// FP32 on a CPU with AVX-512, candle's matmul otherwise.
pub fn linear_forward(lin: &Linear, x: &Tensor) -> Result<Tensor> {
    #[cfg(target_arch = "x86_64")]
    {
        let w = lin.weight();
        let k = x.dims().last().copied().unwrap_or(0);
        let rows = x.elem_count() / k.max(1);
        if x.dtype() == DType::F32
            && w.dtype() == DType::F32
            && x.device().is_cpu()
            && (1..=MAX_ROWS).contains(&rows)
            && w.dims2().is_ok_and(|(_, cols)| cols == k)
            && let Some(op) = x86::FewRows::for_this_cpu()
        {
            let y = x.contiguous()?.apply_op2_no_bwd(&w.contiguous()?, &op)?;
            return match lin.bias() {
                Some(b) => y.broadcast_add(b),
                None => Ok(y),
            };
        }
    }
    lin.forward(x)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape};
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    /// Weight rows per tile.
    const NR: usize = 4;
    /// Activation rows per tile.
    const MR: usize = 4;

    /// The op `x · Wᵀ`; built only where the CPU has AVX-512F.
    pub(super) struct FewRows {
        _detected: (),
    }

    impl FewRows {
        /// The op, when this CPU has AVX-512F.
        pub(super) fn for_this_cpu() -> Option<Self> {
            is_x86_feature_detected!("avx512f").then_some(Self { _detected: () })
        }
    }

    impl CustomOp2 for FewRows {
        fn name(&self) -> &'static str {
            "few-rows-matmul-avx512"
        }

        fn cpu_fwd(
            &self,
            xs: &CpuStorage,
            x_layout: &Layout,
            ws: &CpuStorage,
            w_layout: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let (CpuStorage::F32(xs), CpuStorage::F32(ws)) = (xs, ws) else {
                candle_core::bail!("few-rows-matmul takes f32 activations and weights");
            };
            let (Some((x0, x1)), Some((w0, w1))) =
                (x_layout.contiguous_offsets(), w_layout.contiguous_offsets())
            else {
                candle_core::bail!("few-rows-matmul takes contiguous tensors");
            };
            let (x, w) = (&xs[x0..x1], &ws[w0..w1]);
            let &[n, k] = w_layout.dims() else {
                candle_core::bail!("few-rows-matmul takes weights [out, in]");
            };
            if k == 0 || x.len() % k != 0 || w.len() != n * k {
                candle_core::bail!("few-rows-matmul: activations and weights do not match");
            }
            let m = x.len() / k;
            // Output transposed, `[n, m]`, so that each thread writes a contiguous run of
            // weight rows; transposed back at the end (m × n floats, a few KiB).
            let mut out_t = vec![0f32; n * m];
            let threads = rayon::current_num_threads().max(1);
            let per_thread = n.div_ceil(threads).next_multiple_of(NR).max(NR);
            out_t
                .par_chunks_mut(per_thread * m)
                .enumerate()
                .for_each(|(chunk, out)| {
                    let first = chunk * per_thread;
                    let rows = out.len() / m;
                    // SAFETY: a `FewRows` exists only where AVX-512F was detected.
                    unsafe { weight_rows(x, &w[first * k..(first + rows) * k], k, m, out) };
                });
            let mut out = vec![0f32; m * n];
            for (j, column) in out_t.chunks_exact(m).enumerate() {
                for (i, v) in column.iter().enumerate() {
                    out[i * n + j] = *v;
                }
            }
            let mut dims = x_layout.dims().to_vec();
            if let Some(last) = dims.last_mut() {
                *last = n;
            }
            Ok((CpuStorage::F32(out), Shape::from(dims)))
        }
    }

    /// `out[j][i] = w_j · x_i` for the weight rows of `w` and the `m` activation rows of
    /// `x` (each `k` long).
    #[target_feature(enable = "avx512f")]
    fn weight_rows(x: &[f32], w: &[f32], k: usize, m: usize, out: &mut [f32]) {
        let n = w.len() / k;
        let mut j = 0;
        while j < n {
            let nr = (n - j).min(NR);
            let mut i = 0;
            while i < m {
                let mr = (m - i).min(MR);
                let tile = match (nr, mr) {
                    (NR, MR) => tile::<NR, MR>(x, w, k, i, j),
                    (NR, 1) => tile::<NR, 1>(x, w, k, i, j),
                    (NR, 2) => tile::<NR, 2>(x, w, k, i, j),
                    (NR, 3) => tile::<NR, 3>(x, w, k, i, j),
                    _ => edge(x, w, k, i, j, mr, nr),
                };
                for (b, sums) in tile.iter().enumerate().take(nr) {
                    for (a, s) in sums.iter().enumerate().take(mr) {
                        out[(j + b) * m + i + a] = *s;
                    }
                }
                i += MR;
            }
            j += NR;
        }
    }

    /// The dot products of weight rows `j..j + R` with activation rows `i..i + C`, sixteen
    /// lanes at a time (a masked step for the last `k % 16`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tile<const R: usize, const C: usize>(
        x: &[f32],
        w: &[f32],
        k: usize,
        i: usize,
        j: usize,
    ) -> [[f32; MR]; NR] {
        let mut acc = [[_mm512_setzero_ps(); C]; R];
        let full = k / 16 * 16;
        let mut p = 0;
        while p < full {
            let mut xv = [_mm512_setzero_ps(); C];
            for (a, v) in xv.iter_mut().enumerate() {
                let row = &x[(i + a) * k + p..(i + a) * k + p + 16];
                // SAFETY: `row` holds 16 floats (unaligned load).
                *v = unsafe { _mm512_loadu_ps(row.as_ptr()) };
            }
            for (b, lanes) in acc.iter_mut().enumerate() {
                let row = &w[(j + b) * k + p..(j + b) * k + p + 16];
                // SAFETY: `row` holds 16 floats (unaligned load).
                let wv = unsafe { _mm512_loadu_ps(row.as_ptr()) };
                for (lane, v) in lanes.iter_mut().zip(&xv) {
                    *lane = _mm512_fmadd_ps(wv, *v, *lane);
                }
            }
            p += 16;
        }
        if p < k {
            let mask: __mmask16 = (1u16 << (k - p)) - 1;
            for (b, lanes) in acc.iter_mut().enumerate() {
                let row = &w[(j + b) * k + p..(j + b) * k + k];
                // SAFETY: the mask reads only the `k - p` floats `row` holds.
                let wv = unsafe { _mm512_maskz_loadu_ps(mask, row.as_ptr()) };
                for (a, lane) in lanes.iter_mut().enumerate() {
                    let xr = &x[(i + a) * k + p..(i + a) * k + k];
                    // SAFETY: as above.
                    let xv = unsafe { _mm512_maskz_loadu_ps(mask, xr.as_ptr()) };
                    *lane = _mm512_fmadd_ps(wv, xv, *lane);
                }
            }
        }
        let mut sums = [[0f32; MR]; NR];
        for (b, lanes) in acc.iter().enumerate() {
            for (a, lane) in lanes.iter().enumerate() {
                sums[b][a] = _mm512_reduce_add_ps(*lane);
            }
        }
        sums
    }

    /// [`tile`] for the `nr × mr` tiles at the edges, one pair at a time.
    #[target_feature(enable = "avx512f")]
    fn edge(
        x: &[f32],
        w: &[f32],
        k: usize,
        i: usize,
        j: usize,
        mr: usize,
        nr: usize,
    ) -> [[f32; MR]; NR] {
        let mut sums = [[0f32; MR]; NR];
        for (b, row) in sums.iter_mut().enumerate().take(nr) {
            for (a, s) in row.iter_mut().enumerate().take(mr) {
                *s = tile::<1, 1>(x, w, k, i + a, j + b)[0][0];
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The kernel agrees with candle's matmul on every shape it takes: rows 1 to 32, edge
    /// tiles, `k` not a multiple of 16, with and without a bias.
    #[test]
    fn few_rows_agree_with_candle() -> Result<()> {
        let dev = Device::Cpu;
        for (m, n, k) in [
            (1, 8, 16),
            (3, 5, 7),
            (4, 4, 512),
            (16, 1536, 512),
            (17, 33, 100),
            (32, 9, 2048),
        ] {
            let x = Tensor::randn(0f32, 1.0, (1, m, k), &dev)?;
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev)?;
            let b = Tensor::randn(0f32, 1.0, n, &dev)?;
            #[cfg(target_arch = "x86_64")]
            if let Some(op) = x86::FewRows::for_this_cpu() {
                // The kernel itself, where this CPU has it.
                let got = x.apply_op2_no_bwd(&w, &op)?;
                let want = x.broadcast_matmul(&w.t()?)?;
                let diff = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff <= 1e-5 * scale.max(1.0), "kernel {m}×{n}×{k}: {diff}");
            }
            for bias in [None, Some(b)] {
                let lin = Linear::new(w.clone(), bias);
                let got = linear_forward(&lin, &x)?;
                let want = lin.forward(&x)?;
                assert_eq!(got.dims(), want.dims());
                let diff = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff <= 1e-5 * scale.max(1.0), "{m}×{n}×{k}: {diff}");
            }
        }
        Ok(())
    }
}
