//! A linear layer over FP32 weights whose matrix is packed once, at load, for an AVX-512
//! kernel (chosen at run time): gemm packs the weight matrix again on every call (55 % of a
//! 16-token pass of the `small` encoder on one thread), and its kernels are AVX2 only,
//! where MKL's take AVX-512. Without AVX-512F, or for other tensors, candle's matmul runs.

use std::sync::Arc;

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::Linear;

/// `y = x Wᵀ + b`, through packed weights where this CPU has AVX-512F.
#[derive(Debug, Clone)]
pub struct PackedLinear(Weights);

/// How the weights are held: once, either way.
#[derive(Debug, Clone)]
enum Weights {
    /// candle's layer: no AVX-512F, or weights that are not FP32 `[out, in]` on the CPU.
    Candle(Linear),
    /// The weights as panels only, and the bias.
    #[cfg(target_arch = "x86_64")]
    Packed {
        panels: Arc<x86::Panels>,
        bias: Option<Tensor>,
    },
}

impl PackedLinear {
    /// `lin` with its weights packed (candle's copy then dropped), when the CPU has AVX-512F
    /// and they are FP32 `[out, in]` on the CPU; `lin` as it is otherwise.
    pub fn new(lin: Linear) -> Result<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            let w = lin.weight();
            if let (DType::F32, Ok((n, k)), Some(cpu)) =
                (w.dtype(), w.dims2(), x86::Avx512F::detect())
                && w.device().is_cpu()
                && k > 0
            {
                let rows = w.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
                return Ok(Self(Weights::Packed {
                    panels: Arc::new(x86::Panels::pack(cpu, &rows, n, k)),
                    bias: lin.bias().cloned(),
                }));
            }
        }
        Ok(Self(Weights::Candle(lin)))
    }

    /// `x` `[..., in]` to `[..., out]` (FP32 on the CPU for packed weights).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.0 {
            Weights::Candle(lin) => lin.forward(x),
            #[cfg(target_arch = "x86_64")]
            Weights::Packed { panels, bias } => {
                let k = panels.k();
                if x.dtype() != DType::F32 || !x.device().is_cpu() || x.dims().last() != Some(&k) {
                    candle_core::bail!(
                        "a packed linear layer takes FP32 activations [..., {k}] on the CPU, not {:?} {:?}",
                        x.dtype(),
                        x.dims()
                    );
                }
                let y = x.contiguous()?.apply_op1_no_bwd(panels.as_ref())?;
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape};
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    /// Output columns per panel: four 16-lane registers.
    const COLS: usize = 64;
    /// Activation rows per tile: 6 × 4 accumulators of the 32 registers.
    const ROWS: usize = 6;

    /// Proof that this CPU has AVX-512F: only [`Avx512F::detect`] makes one.
    #[derive(Clone, Copy)]
    pub(super) struct Avx512F {
        _detected: (),
    }

    impl Avx512F {
        /// The proof, when this CPU has AVX-512F.
        pub(super) fn detect() -> Option<Self> {
            is_x86_feature_detected!("avx512f").then_some(Self { _detected: () })
        }
    }

    /// The weights `[n, k]` as panels of [`COLS`] output columns, each `k × COLS` floats with
    /// the columns of one input side by side (the last panel padded with zeros). Built only
    /// with an [`Avx512F`].
    #[derive(Debug)]
    pub(super) struct Panels {
        n: usize,
        k: usize,
        data: Vec<f32>,
    }

    impl Panels {
        /// Packs `w`, `n` rows of `k`, on a CPU with AVX-512F.
        pub(super) fn pack(_cpu: Avx512F, w: &[f32], n: usize, k: usize) -> Self {
            let count = n.div_ceil(COLS);
            let mut data = vec![0f32; count * k * COLS];
            for (j, row) in w.chunks_exact(k).enumerate() {
                let panel = &mut data[(j / COLS) * k * COLS..][..k * COLS];
                for (p, v) in row.iter().enumerate() {
                    panel[p * COLS + j % COLS] = *v;
                }
            }
            Self { n, k, data }
        }

        /// Inputs per output (`in`).
        pub(super) fn k(&self) -> usize {
            self.k
        }
    }

    impl CustomOp1 for Panels {
        fn name(&self) -> &'static str {
            "packed-linear-avx512"
        }

        fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
            let CpuStorage::F32(all) = storage else {
                candle_core::bail!("packed-linear takes f32 activations");
            };
            let Some((start, end)) = layout.contiguous_offsets() else {
                candle_core::bail!("packed-linear takes contiguous activations");
            };
            let (x, k, n) = (&all[start..end], self.k, self.n);
            if x.len() % k != 0 {
                candle_core::bail!("packed-linear: activations are not rows of {k}");
            }
            let m = x.len() / k;
            // Each panel's outputs `[m, COLS]` apart, so that threads write apart.
            let mut per_panel = vec![0f32; self.data.len() / k * m];
            per_panel
                .par_chunks_mut(m * COLS)
                .zip(self.data.par_chunks(k * COLS))
                // SAFETY: `Panels` are built only with an `Avx512F`, made where it was detected.
                .for_each(|(out, panel)| unsafe { panel_product(x, k, panel, out) });
            let mut y = vec![0f32; m * n];
            for (p, block) in per_panel.chunks_exact(m * COLS).enumerate() {
                let cols = (n - p * COLS).min(COLS);
                for (r, row) in block.chunks_exact(COLS).enumerate() {
                    y[r * n + p * COLS..][..cols].copy_from_slice(&row[..cols]);
                }
            }
            let mut dims = layout.dims().to_vec();
            if let Some(last) = dims.last_mut() {
                *last = n;
            }
            Ok((CpuStorage::F32(y), Shape::from(dims)))
        }
    }

    /// `out` `[m, COLS]` = the `m` rows of `x` (each `k` long) times one panel.
    #[target_feature(enable = "avx512f")]
    fn panel_product(x: &[f32], k: usize, panel: &[f32], out: &mut [f32]) {
        let m = x.len() / k;
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(ROWS);
            let (x, out) = (
                &x[i * k..(i + rows) * k],
                &mut out[i * COLS..(i + rows) * COLS],
            );
            match rows {
                6 => tile::<6>(x, k, panel, out),
                5 => tile::<5>(x, k, panel, out),
                4 => tile::<4>(x, k, panel, out),
                3 => tile::<3>(x, k, panel, out),
                2 => tile::<2>(x, k, panel, out),
                _ => tile::<1>(x, k, panel, out),
            }
            i += rows;
        }
    }

    /// `out` `[R, COLS]` = the `R` rows of `x` times the panel: per input, one row of the
    /// panel (four registers) times each row's input broadcast, summed in registers.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tile<const R: usize>(x: &[f32], k: usize, panel: &[f32], out: &mut [f32]) {
        let mut acc = [[_mm512_setzero_ps(); 4]; R];
        for (p, w) in panel.chunks_exact(COLS).enumerate() {
            // SAFETY: `w` holds 64 floats: four unaligned 16-float loads.
            let w = unsafe {
                [
                    _mm512_loadu_ps(w.as_ptr()),
                    _mm512_loadu_ps(w.as_ptr().add(16)),
                    _mm512_loadu_ps(w.as_ptr().add(32)),
                    _mm512_loadu_ps(w.as_ptr().add(48)),
                ]
            };
            for (r, lanes) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(x[r * k + p]);
                for (lane, wv) in lanes.iter_mut().zip(&w) {
                    *lane = _mm512_fmadd_ps(*wv, xv, *lane);
                }
            }
        }
        for (row, lanes) in out.chunks_exact_mut(COLS).zip(&acc) {
            for (part, lane) in row.chunks_exact_mut(16).zip(lanes) {
                // SAFETY: `part` holds 16 floats (unaligned store).
                unsafe { _mm512_storeu_ps(part.as_mut_ptr(), *lane) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The packed layer agrees with candle's on every shape: rows 1 to 40 (tiles of 6 and
    /// their edges), outputs not a multiple of a panel, with and without a bias.
    #[test]
    fn packed_layers_agree_with_candle() -> Result<()> {
        let dev = Device::Cpu;
        for (m, n, k) in [
            (1, 8, 16),
            (3, 5, 7),
            (4, 64, 512),
            (16, 1536, 512),
            (17, 33, 100),
            (40, 130, 2048),
        ] {
            let x = Tensor::randn(0f32, 1.0, (1, m, k), &dev)?;
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev)?;
            let b = Tensor::randn(0f32, 1.0, n, &dev)?;
            for bias in [None, Some(b)] {
                let lin = Linear::new(w.clone(), bias);
                let packed = PackedLinear::new(lin.clone())?;
                #[cfg(target_arch = "x86_64")]
                assert_eq!(
                    matches!(packed.0, Weights::Packed { .. }),
                    x86::Avx512F::detect().is_some()
                );
                let got = packed.forward(&x)?;
                let want = lin.forward(&x)?;
                if matches!(packed.0, Weights::Packed { .. }) {
                    let e = packed
                        .forward(&x.to_dtype(DType::F64)?)
                        .expect_err("FP64 refused");
                    assert!(e.to_string().contains("FP32 activations"), "{e}");
                }
                assert_eq!(got.dims(), want.dims());
                let diff = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff <= 1e-5 * scale.max(1.0), "{m}×{n}×{k}: {diff}");
            }
        }
        Ok(())
    }
}
