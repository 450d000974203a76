//! A linear layer over FP32 weights whose matrix is packed once, at load, for an AVX-512
//! kernel (chosen at run time): gemm packs the weight matrix again on every call (55 % of a
//! 16-token pass of the `small` encoder on one thread), and its kernels are AVX2 only,
//! where MKL's take AVX-512. The bias, an erf GELU and a residual sum are applied to each
//! output tile before it is stored, so none costs a pass over memory of its own. Without
//! AVX-512F, or for other tensors, candle's matmul and element-wise ops run.

use std::sync::Arc;

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::Linear;

/// `y = f(x Wᵀ + b)` (`f` the identity or GELU), through packed weights where this CPU has
/// AVX-512F.
#[derive(Debug, Clone)]
pub struct PackedLinear {
    weights: Weights,
}

/// How the weights are held: once, either way, with whether GELU follows.
#[derive(Debug, Clone)]
enum Weights {
    /// candle's layer: no AVX-512F, no inputs, weights that are not FP32 `[out, in]` on the
    /// CPU, or a bias that is not FP32 `[out]`.
    Candle { lin: Linear, gelu: bool },
    /// The weights as panels, with the bias and the activation.
    #[cfg(target_arch = "x86_64")]
    Packed(Arc<x86::Panels>),
}

impl PackedLinear {
    /// `lin` with its weights packed (candle's copy then dropped), when the CPU has AVX-512F
    /// and they are FP32 `[out, in]` on the CPU; `lin` as it is otherwise.
    pub fn new(lin: Linear) -> Result<Self> {
        Self::build(lin, false)
    }

    /// As [`PackedLinear::new`], for `gelu_erf(x Wᵀ + b)` (BERT's feed-forward input).
    pub fn with_gelu(lin: Linear) -> Result<Self> {
        Self::build(lin, true)
    }

    fn build(lin: Linear, gelu: bool) -> Result<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            let w = lin.weight();
            if let (DType::F32, Ok((n, k)), Some(cpu)) =
                (w.dtype(), w.dims2(), x86::Avx512F::detect())
                && w.device().is_cpu()
                && k > 0
            {
                let bias = match lin.bias() {
                    Some(b) if b.dtype() == DType::F32 && b.dims1().ok() == Some(n) => {
                        Some(Some(b.to_vec1::<f32>()?))
                    }
                    // Another bias (2-D, say) is candle's to broadcast.
                    Some(_) => None,
                    None => Some(None),
                };
                if let Some(bias) = bias {
                    let rows = w.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
                    let panels = x86::Panels::pack(cpu, &rows, n, k, bias.as_deref(), gelu);
                    return Ok(Self {
                        weights: Weights::Packed(Arc::new(panels)),
                    });
                }
            }
        }
        Ok(Self {
            weights: Weights::Candle { lin, gelu },
        })
    }

    /// `x` `[..., in]` to `[..., out]` (FP32 on the CPU for packed weights).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.weights {
            Weights::Candle { lin, gelu } => {
                let y = lin.forward(x)?;
                if *gelu { y.gelu_erf() } else { Ok(y) }
            }
            #[cfg(target_arch = "x86_64")]
            Weights::Packed(panels) => {
                panels.check(x)?;
                x.contiguous()?.apply_op1_no_bwd(panels.as_ref())
            }
        }
    }

    /// `forward(x) + residual`, the sum taken as each output tile is stored; `residual` has
    /// the output's shape.
    pub fn forward_add(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        match &self.weights {
            Weights::Candle { .. } => self.forward(x)? + residual,
            #[cfg(target_arch = "x86_64")]
            Weights::Packed(panels) => {
                panels.check(x)?;
                let want: Vec<usize> = x.dims()[..x.rank() - 1]
                    .iter()
                    .copied()
                    .chain([panels.n()])
                    .collect();
                if residual.dtype() != DType::F32
                    || !residual.device().is_cpu()
                    || residual.dims() != want.as_slice()
                {
                    candle_core::bail!(
                        "a packed linear layer adds an FP32 residual {want:?} on the CPU, not {:?} {:?}",
                        residual.dtype(),
                        residual.dims()
                    );
                }
                x.contiguous()?
                    .apply_op2_no_bwd(&residual.contiguous()?, panels.as_ref())
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    pub(super) use crate::models::avx512::Avx512F;
    use crate::models::avx512::{
        COLS, Out, ROWS, accumulate, column_masks, contiguous_f32, pack_panels,
    };
    use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
    use std::arch::x86_64::*;

    /// The weights `[n, k]` as panels of [`COLS`] output columns, each `k × COLS` floats with
    /// the columns of one input side by side (the last panel padded with zeros), the bias
    /// (padded likewise) and whether GELU follows. Built only with an [`Avx512F`].
    #[derive(Debug)]
    pub(super) struct Panels {
        n: usize,
        k: usize,
        data: Vec<f32>,
        bias: Vec<f32>,
        gelu: bool,
    }

    impl Panels {
        /// Packs `w`, `n` rows of `k`, and `bias` (`n`, zeros when `None`), on a CPU with
        /// AVX-512F.
        pub(super) fn pack(
            _cpu: Avx512F,
            w: &[f32],
            n: usize,
            k: usize,
            bias: Option<&[f32]>,
            gelu: bool,
        ) -> Self {
            let data = pack_panels(w, n, k, k, 0);
            let mut padded = vec![0f32; n.div_ceil(COLS) * COLS];
            if let Some(b) = bias {
                padded[..n].copy_from_slice(b);
            }
            Self {
                n,
                k,
                data,
                bias: padded,
                gelu,
            }
        }

        /// Outputs (`out`).
        pub(super) fn n(&self) -> usize {
            self.n
        }

        /// Refuses what the kernel does not take: other than FP32 `[..., k]` on the CPU.
        pub(super) fn check(&self, x: &Tensor) -> Result<()> {
            let k = self.k;
            if x.dtype() != DType::F32 || !x.device().is_cpu() || x.dims().last() != Some(&k) {
                candle_core::bail!(
                    "a packed linear layer takes FP32 activations [..., {k}] on the CPU, not {:?} {:?}",
                    x.dtype(),
                    x.dims()
                );
            }
            Ok(())
        }

        /// `f(x Wᵀ + b) + residual` over the rows of `x`, threads taking panels.
        fn product(&self, x: &[f32], residual: Option<&[f32]>) -> Result<Vec<f32>> {
            let (k, n) = (self.k, self.n);
            if !x.len().is_multiple_of(k) {
                candle_core::bail!("packed-linear: activations are not rows of {k}");
            }
            let m = x.len() / k;
            if residual.is_some_and(|r| r.len() != m * n) {
                candle_core::bail!("packed-linear: the residual is not {m} rows of {n}");
            }
            let mut y: Vec<f32> = Vec::with_capacity(m * n);
            let out = Out(y.as_mut_ptr());
            let job = |p: usize| {
                let job = Job {
                    x,
                    m,
                    k,
                    n,
                    col: p * COLS,
                    panel: &self.data[p * k * COLS..][..k * COLS],
                    bias: &self.bias[p * COLS..][..COLS],
                    gelu: self.gelu,
                    residual,
                    out: &out,
                };
                // SAFETY: `Panels` are built only with an `Avx512F`, made where it was
                // detected; the job writes columns `col..col + COLS` (less past `n`) of
                // the `m` rows of `n` that `y` has room for, and no other job does.
                unsafe { job.run() }
            };
            crate::cpu_pool::for_each_index(n.div_ceil(COLS), job);
            // SAFETY: the panels' columns cover `0..n`, and each job stored every row of its
            // columns.
            unsafe { y.set_len(m * n) };
            Ok(y)
        }
    }

    /// One panel's outputs for every row.
    struct Job<'a> {
        x: &'a [f32],
        m: usize,
        k: usize,
        n: usize,
        /// The panel's first output column.
        col: usize,
        panel: &'a [f32],
        bias: &'a [f32],
        gelu: bool,
        residual: Option<&'a [f32]>,
        out: &'a Out,
    }

    impl Job<'_> {
        /// Every row tile over the whole panel.
        ///
        /// # Safety
        /// The CPU has AVX-512F; `out` has room for `m` rows of `n`, whose columns
        /// `col..col + COLS` no other thread touches while this runs; a residual holds
        /// `m` rows of `n`.
        #[target_feature(enable = "avx512f")]
        unsafe fn run(&self) {
            let masks = column_masks((self.n - self.col).min(COLS));
            let mut i = 0;
            while i < self.m {
                let rows = (self.m - i).min(ROWS);
                // SAFETY: as for `run`; rows `i..i + rows` are rows of `x` and `y`.
                unsafe {
                    match rows {
                        6 => self.tile::<6>(i, masks),
                        5 => self.tile::<5>(i, masks),
                        4 => self.tile::<4>(i, masks),
                        3 => self.tile::<3>(i, masks),
                        2 => self.tile::<2>(i, masks),
                        _ => self.tile::<1>(i, masks),
                    }
                }
                i += rows;
            }
        }

        /// Rows `i..i + R`: the bias, plus the panel's products summed in registers, then
        /// GELU or the residual, stored to the lanes of `y` that `masks` keep (the columns
        /// under `n`).
        ///
        /// # Safety
        /// As for [`Job::run`], and `i + R <= m`.
        ///
        /// Not inlined: in the loop over tiles, GELU's constants were hoisted into registers
        /// and one accumulator was kept in memory.
        #[target_feature(enable = "avx512f")]
        #[inline(never)]
        unsafe fn tile<const R: usize>(&self, i: usize, masks: [__mmask16; 4]) {
            let k = self.k;
            // SAFETY: the bias holds COLS floats.
            let b = self.bias.as_ptr();
            let bias = unsafe {
                [
                    _mm512_loadu_ps(b),
                    _mm512_loadu_ps(b.add(16)),
                    _mm512_loadu_ps(b.add(32)),
                    _mm512_loadu_ps(b.add(48)),
                ]
            };
            let acc = accumulate(
                [bias; R],
                &self.x[i * k..(i + R) * k],
                k,
                k,
                self.panel,
                COLS,
            );
            for (r, lanes) in acc.iter().enumerate() {
                let at = (i + r) * self.n + self.col;
                for (l, lane) in lanes.iter().enumerate() {
                    // Past `n` from here on: no column of `y` (and no pointer made past it).
                    if masks[l] == 0 {
                        break;
                    }
                    let mut v = *lane;
                    if self.gelu {
                        v = gelu16(v);
                    }
                    if let Some(res) = self.residual {
                        // SAFETY: `res` holds `m` rows of `n`; the register's first lane is a
                        // column under `n`, and masked lanes are not read.
                        let add = unsafe {
                            _mm512_maskz_loadu_ps(masks[l], res.as_ptr().add(at + 16 * l))
                        };
                        v = _mm512_add_ps(v, add);
                    }
                    // SAFETY: unmasked lanes are columns `< n` of row `i + r < m` of `y`, which
                    // no other job writes.
                    unsafe { _mm512_mask_storeu_ps(self.out.0.add(at + 16 * l), masks[l], v) };
                }
            }
        }
    }

    /// GELU, `v Φ(v) = v (1 + erf(v / √2)) / 2`, of 16 lanes.
    #[target_feature(enable = "avx512f")]
    fn gelu16(v: __m512) -> __m512 {
        let z = _mm512_mul_ps(v, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let half_v = _mm512_mul_ps(v, _mm512_set1_ps(0.5));
        _mm512_fmadd_ps(half_v, erf16(z), half_v)
    }

    /// erf of 16 lanes: Eigen's rational approximation for single precision (odd degree 13
    /// over even degree 8, inputs clamped to ±4, where erf is ±1 in FP32), within about 4e-7
    /// of erf (a few ulp) in FP32 arithmetic.
    #[target_feature(enable = "avx512f")]
    fn erf16(x: __m512) -> __m512 {
        let x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(4.0)), _mm512_set1_ps(-4.0));
        let x2 = _mm512_mul_ps(x, x);
        let mut p = _mm512_set1_ps(-2.726_142_4e-10);
        for c in [
            2.770_681_5e-8,
            -2.101_024e-6,
            -5.692_506_2e-5,
            -7.349_906_4e-4,
            -2.954_6e-3,
            -1.609_603_3e-2,
        ] {
            p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(c));
        }
        let p = _mm512_mul_ps(p, x);
        let mut q = _mm512_set1_ps(-1.456_607_15e-5);
        for c in [
            -2.133_740_5e-4,
            -1.682_827e-3,
            -7.373_329_3e-3,
            -1.426_473_9e-2,
        ] {
            q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(c));
        }
        _mm512_div_ps(p, q)
    }

    /// The contiguous FP32 slice a storage and layout describe.
    fn floats<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
        contiguous_f32(storage, layout, "packed-linear")
    }

    /// The output's shape: the input's, its last dimension `n`.
    fn output_shape(layout: &Layout, n: usize) -> Shape {
        let mut dims = layout.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = n;
        }
        Shape::from(dims)
    }

    impl CustomOp1 for Panels {
        fn name(&self) -> &'static str {
            "packed-linear-avx512"
        }

        fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
            let y = self.product(floats(storage, layout)?, None)?;
            Ok((CpuStorage::F32(y), output_shape(layout, self.n)))
        }
    }

    impl CustomOp2 for Panels {
        fn name(&self) -> &'static str {
            "packed-linear-add-avx512"
        }

        fn cpu_fwd(
            &self,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let residual = floats(s2, l2)?;
            let y = self.product(floats(s1, l1)?, Some(residual))?;
            Ok((CpuStorage::F32(y), output_shape(l1, self.n)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Largest difference between two tensors, relative to the larger of 1 and `want`'s
    /// largest magnitude.
    fn relative_gap(got: &Tensor, want: &Tensor) -> Result<f32> {
        assert_eq!(got.dims(), want.dims());
        if want.elem_count() == 0 {
            return Ok(0.0);
        }
        let diff = (got - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
        Ok(diff / scale.max(1.0))
    }

    /// The packed layer agrees with candle's on every shape: rows 1 to 40 (tiles of 6 and
    /// their edges), inputs short and long (up to 2,048), outputs not a multiple of
    /// a panel; with and without a bias, GELU and a residual; on rayon's threads and on one
    /// (the calling thread). No rows at all give no rows (candle's layer errs on those).
    #[test]
    fn packed_layers_agree_with_candle() -> Result<()> {
        crate::models::on_rayon_and_one_thread(agree_with_candle)
    }

    fn agree_with_candle() -> Result<()> {
        let dev = Device::Cpu;
        let lin = Linear::new(Tensor::ones((70, 30), DType::F32, &dev)?, None);
        #[cfg(target_arch = "x86_64")]
        if let Weights::Packed(_) = PackedLinear::new(lin.clone())?.weights {
            let none = Tensor::zeros((1, 0, 30), DType::F32, &dev)?;
            let packed = PackedLinear::new(lin)?;
            assert_eq!(packed.forward(&none)?.dims(), [1, 0, 70]);
        }
        for (m, n, k) in [
            (1, 8, 16),
            (3, 5, 7),
            (4, 64, 512),
            (16, 1536, 512),
            (17, 33, 100),
            (13, 70, 300),
            (40, 130, 2048),
        ] {
            let x = Tensor::randn(0f32, 1.0, (1, m, k), &dev)?;
            let w = (Tensor::randn(0f32, 1.0, (n, k), &dev)? / (k as f64).sqrt())?;
            let b = Tensor::randn(0f32, 1.0, n, &dev)?;
            let res = Tensor::randn(0f32, 1.0, (1, m, n), &dev)?;
            for bias in [None, Some(b.clone())] {
                let lin = Linear::new(w.clone(), bias);
                let plain = lin.forward(&x)?;
                let packed = PackedLinear::new(lin.clone())?;
                let with_gelu = PackedLinear::with_gelu(lin.clone())?;
                #[cfg(target_arch = "x86_64")]
                for layer in [&packed, &with_gelu] {
                    assert_eq!(
                        matches!(layer.weights, Weights::Packed(_)),
                        x86::Avx512F::detect().is_some()
                    );
                }
                let cases = [
                    ("plain", packed.forward(&x)?, plain.clone()),
                    ("gelu", with_gelu.forward(&x)?, plain.gelu_erf()?),
                    ("residual", packed.forward_add(&x, &res)?, (&plain + &res)?),
                    (
                        "gelu and residual",
                        with_gelu.forward_add(&x, &res)?,
                        (plain.gelu_erf()? + &res)?,
                    ),
                    ("rank 2", packed.forward(&x.squeeze(0)?)?, plain.squeeze(0)?),
                ];
                for (what, got, want) in cases {
                    let gap = relative_gap(&got, &want)?;
                    assert!(gap <= 1e-5, "{what} {m}×{n}×{k}: {gap}");
                }
                #[cfg(target_arch = "x86_64")]
                if matches!(packed.weights, Weights::Packed(_)) {
                    let e = packed
                        .forward(&x.to_dtype(DType::F64)?)
                        .expect_err("FP64 refused");
                    assert!(e.to_string().contains("FP32 activations"), "{e}");
                    let other = Tensor::zeros((1, m + 1, n), DType::F32, &dev)?;
                    let e = packed
                        .forward_add(&x, &other)
                        .expect_err("a residual of another shape is refused");
                    assert!(e.to_string().contains("residual"), "{e}");
                }
            }
        }
        Ok(())
    }

    /// GELU in the kernel is erf's: within 1e-6 of candle's `gelu_erf` from -6 to 6, where
    /// the tanh form differs from it by up to 5e-4.
    #[test]
    fn gelu_in_the_kernel_is_the_erf_form() -> Result<()> {
        let dev = Device::Cpu;
        let values: Vec<f32> = (0..=1200).map(|i| i as f32 / 100.0 - 6.0).collect();
        let x = Tensor::from_vec(values, (1201, 1), &dev)?;
        // One input of weight 1: the layer's output is GELU of its input.
        let lin = Linear::new(Tensor::ones((1, 1), DType::F32, &dev)?, None);
        let got = PackedLinear::with_gelu(lin)?.forward(&x)?;
        let want = x.gelu_erf()?;
        let gap = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(gap <= 1e-6, "{gap}");
        let tanh_gap = (x.gelu()? - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(
            tanh_gap > 1e-4,
            "the tanh form is not told apart: {tanh_gap}"
        );
        Ok(())
    }
}
