//! An encoder layer's multi-head attention straight from its fused query-key-value
//! projection: per head and per tile of six queries, the scores (AVX-512 register tiles over
//! the keys, scaled and masked as they are stored), their softmax and the product with the
//! values, written into the heads' columns of the output. Where candle splits the heads
//! (two copies), scales the queries, adds the mask, and multiplies through gemm's AVX2
//! kernels (17 % of a 512-token pass on one thread). Chosen at run time: without AVX-512F
//! (or AVX2 and FMA), for heads other than 64 wide, an empty batch or sequence, or a mask
//! other than FP32 `[batch, 1, 1, seq]`, candle's ops run.

use candle_core::{Result, Tensor};

use super::attention::{attend, merge_heads, split_qkv};

/// softmax(q kᵀ / √d + mask) v over heads, from the fused projection `[batch, seq, 3 ×
/// hidden]` (queries, keys, values) to `[batch, seq, hidden]`; `mask` (`[batch, 1, 1, seq]`,
/// 0 or -inf) is added to every query's scores.
pub fn attend_fused(qkv: &Tensor, heads: usize, mask: Option<&Tensor>) -> Result<Tensor> {
    #[cfg(target_arch = "x86_64")]
    if let Some(op) = x86::FusedAttention::for_this(qkv, heads, mask)? {
        let qkv = qkv.contiguous()?;
        return match mask {
            Some(m) => qkv.apply_op2_no_bwd(&m.contiguous()?, &op),
            None => qkv.apply_op1_no_bwd(&op),
        };
    }
    let (q, k, v) = split_qkv(qkv, heads)?;
    merge_heads(&attend(&q, &k, &v, mask)?)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::models::avx512::{
        Avx512F, COLS, Out, ROWS, accumulate, column_masks, contiguous_f32, pack_panels,
    };
    use crate::models::softmax::x86::SoftmaxRows;
    use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
    use std::arch::x86_64::*;

    /// Width of a head this op takes: one panel.
    const HEAD: usize = COLS;

    /// The op for one shape of projection. Built only where the CPU has AVX-512F, and AVX2
    /// and FMA for the softmax.
    pub(super) struct FusedAttention {
        _cpu: Avx512F,
        softmax: SoftmaxRows,
        heads: usize,
    }

    /// A layer's shapes: sequence, hidden (all heads).
    #[derive(Clone, Copy)]
    struct Dims {
        seq: usize,
        hidden: usize,
    }

    impl FusedAttention {
        /// The op, where the CPU has AVX-512F, `qkv` is FP32 `[batch, seq, 3 × heads × 64]` on
        /// the CPU and `mask`, if any, FP32 `[batch, 1, 1, seq]`; `None` otherwise.
        pub(super) fn for_this(
            qkv: &Tensor,
            heads: usize,
            mask: Option<&Tensor>,
        ) -> Result<Option<Self>> {
            let (Some(cpu), Some(softmax)) = (Avx512F::detect(), SoftmaxRows::for_this_cpu())
            else {
                return Ok(None);
            };
            let Ok((batch, seq, width)) = qkv.dims3() else {
                return Ok(None);
            };
            let fits = qkv.dtype() == DType::F32
                && qkv.device().is_cpu()
                && batch > 0
                && seq > 0
                && heads > 0
                && width == 3 * heads * HEAD
                && mask.is_none_or(|m| {
                    m.dtype() == DType::F32 && m.device().is_cpu() && m.dims() == [batch, 1, 1, seq]
                });
            Ok(fits.then_some(Self {
                _cpu: cpu,
                softmax,
                heads,
            }))
        }

        /// The context `[batch, seq, hidden]`; threads take (sequence, head) pairs.
        fn run(&self, qkv: &[f32], layout: &Layout, mask: Option<&[f32]>) -> Result<Vec<f32>> {
            let (batch, seq, width) = layout.shape().dims3()?;
            let d = Dims {
                seq,
                hidden: width / 3,
            };
            if qkv.len() != batch * seq * width || mask.is_some_and(|m| m.len() != batch * seq) {
                candle_core::bail!("fused attention: the projection or the mask is not its shape");
            }
            let mut ctx: Vec<f32> = Vec::with_capacity(batch * seq * d.hidden);
            let out = Out(ctx.as_mut_ptr());
            let job = |pair: usize| {
                let (b, h) = (pair / self.heads, pair % self.heads);
                // SAFETY: the op exists only where AVX-512F was detected; the job writes
                // the columns of head `h` in the rows of sequence `b`, and no other does.
                unsafe { self.head(qkv, d, mask, b, h, &out) }
            };
            crate::cpu_pool::for_each_index(batch * self.heads, job);
            // SAFETY: the (sequence, head) pairs cover every row and column.
            unsafe { ctx.set_len(batch * seq * d.hidden) };
            Ok(ctx)
        }

        /// Head `h` of sequence `b`, in tiles of up to [`ROWS`] queries.
        ///
        /// # Safety
        /// The CPU has AVX-512F; `out` has room for the context, whose rows of sequence `b`
        /// in head `h`'s columns no other thread touches while this runs.
        #[target_feature(enable = "avx512f")]
        unsafe fn head(
            &self,
            qkv: &[f32],
            d: Dims,
            mask: Option<&[f32]>,
            b: usize,
            h: usize,
            out: &Out,
        ) {
            let (seq, stride) = (d.seq, 3 * d.hidden);
            let rows = &qkv[b * seq * stride..][..seq * stride];
            let keys = Keys::pack(rows, seq, stride, d.hidden + h * HEAD);
            let head = Head {
                queries: &rows[h * HEAD..],
                keys: &keys,
                values: &rows[2 * d.hidden + h * HEAD..],
                mask: mask.map(|m| &m[b * seq..][..seq]),
                seq,
                stride,
                scale: 1.0 / (HEAD as f32).sqrt(),
            };
            let mut scores = vec![0f32; ROWS * seq];
            let mut probs = vec![0f32; ROWS * seq];
            let mut i = 0;
            while i < seq {
                let n = (seq - i).min(ROWS);
                // Row `i` of sequence `b`, head `h`'s first column.
                let at = (b * seq + i) * d.hidden + h * HEAD;
                let tile = Tile {
                    op: self,
                    first: i,
                    out,
                    at,
                    hidden: d.hidden,
                };
                // SAFETY: as for this function; rows `i..i + n` are rows of the sequence.
                unsafe {
                    match n {
                        6 => head.tile::<6>(&tile, &mut scores, &mut probs),
                        5 => head.tile::<5>(&tile, &mut scores, &mut probs),
                        4 => head.tile::<4>(&tile, &mut scores, &mut probs),
                        3 => head.tile::<3>(&tile, &mut scores, &mut probs),
                        2 => head.tile::<2>(&tile, &mut scores, &mut probs),
                        _ => head.tile::<1>(&tile, &mut scores, &mut probs),
                    }
                }
                i += n;
            }
        }
    }

    /// One tile of queries: the first, and where its context rows go.
    struct Tile<'a> {
        op: &'a FusedAttention,
        first: usize,
        out: &'a Out,
        /// The first row's first column in the context.
        at: usize,
        hidden: usize,
    }

    /// One head's keys transposed into panels of 64 keys (`HEAD × COLS` each, keys past
    /// the sequence zero): the scores of a query tile are then register tiles like a
    /// linear layer's.
    struct Keys(Vec<f32>);

    impl Keys {
        /// The keys of `seq` rows `stride` apart, starting at column `at` of each.
        fn pack(rows: &[f32], seq: usize, stride: usize, at: usize) -> Self {
            Self(pack_panels(rows, seq, HEAD, stride, at))
        }
    }

    /// What one head's tiles read.
    struct Head<'a> {
        /// Row 0's query; row `i` is `stride` floats on.
        queries: &'a [f32],
        keys: &'a Keys,
        /// Row 0's value; row `i` is `stride` floats on.
        values: &'a [f32],
        mask: Option<&'a [f32]>,
        seq: usize,
        stride: usize,
        scale: f32,
    }

    impl Head<'_> {
        /// Queries `first..first + R`: their scores over every key (scaled, masked),
        /// softmax, and the context rows (probabilities times values), stored.
        ///
        /// Not inlined: the tiles' registers are all its own.
        ///
        /// # Safety
        /// The CPU has AVX-512F; the tile's rows and head are inside the context, and no
        /// other thread touches them while this runs.
        #[target_feature(enable = "avx512f")]
        #[inline(never)]
        unsafe fn tile<const R: usize>(&self, t: &Tile, scores: &mut [f32], probs: &mut [f32]) {
            let (seq, stride) = (self.seq, self.stride);
            let zero = [[_mm512_setzero_ps(); 4]; R];
            let scale = _mm512_set1_ps(self.scale);
            let queries = &self.queries[t.first * stride..];
            for (p, panel) in self.keys.0.chunks_exact(HEAD * COLS).enumerate() {
                let acc = accumulate(zero, queries, stride, HEAD, panel, COLS);
                let first = p * COLS;
                let masks = column_masks((seq - first).min(COLS));
                for (r, row) in acc.iter().enumerate() {
                    let dst = &mut scores[r * seq + first..][..(seq - first).min(COLS)];
                    for (l, lane) in row.iter().enumerate() {
                        // Past `seq` from here on: no key (and no pointer made past it).
                        if masks[l] == 0 {
                            break;
                        }
                        let add = match self.mask {
                            // SAFETY: the register's first lane is a key under `seq`, and
                            // unmasked lanes are keys under `seq`, inside the mask.
                            Some(m) => unsafe {
                                _mm512_maskz_loadu_ps(masks[l], m.as_ptr().add(first + 16 * l))
                            },
                            None => _mm512_setzero_ps(),
                        };
                        let v = _mm512_fmadd_ps(*lane, scale, add);
                        // SAFETY: unmasked lanes are within `dst`, this row's scores of
                        // keys `first..` under `seq`.
                        unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add(16 * l), masks[l], v) };
                    }
                }
            }
            for r in 0..R {
                t.op.softmax
                    .row(&scores[r * seq..][..seq], &mut probs[r * seq..][..seq]);
            }
            let ctx = accumulate(zero, probs, seq, seq, self.values, stride);
            for (r, row) in ctx.iter().enumerate() {
                for (l, lane) in row.iter().enumerate() {
                    // SAFETY: the caller's: row `first + r`, the head's 64 columns.
                    unsafe { _mm512_storeu_ps(t.out.0.add(t.at + r * t.hidden + 16 * l), *lane) };
                }
            }
        }
    }

    /// The contiguous FP32 slice a storage and layout describe.
    fn floats<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
        contiguous_f32(storage, layout, "fused attention")
    }

    /// The context's shape: the projection's, its last dimension a third.
    fn context_shape(layout: &Layout) -> Result<Shape> {
        let (batch, seq, width) = layout.shape().dims3()?;
        Ok(Shape::from((batch, seq, width / 3)))
    }

    impl CustomOp1 for FusedAttention {
        fn name(&self) -> &'static str {
            "fused-attention-avx512"
        }

        fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
            let ctx = self.run(floats(storage, layout)?, layout, None)?;
            Ok((CpuStorage::F32(ctx), context_shape(layout)?))
        }
    }

    impl CustomOp2 for FusedAttention {
        fn name(&self) -> &'static str {
            "fused-attention-masked-avx512"
        }

        fn cpu_fwd(
            &self,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let mask = floats(s2, l2)?;
            let ctx = self.run(floats(s1, l1)?, l1, Some(mask))?;
            Ok((CpuStorage::F32(ctx), context_shape(l1)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// The fused attention gives candle's: sequences of 1 to 130 (query tiles of 6 and their
    /// edges, one to three key panels), with and without a padding mask over a batch; on
    /// rayon's threads and on one (the calling thread).
    #[test]
    fn fused_attention_agrees_with_candles_ops() -> Result<()> {
        crate::models::on_rayon_and_one_thread(agree_with_candle)
    }

    fn agree_with_candle() -> Result<()> {
        let dev = Device::Cpu;
        let heads = 3;
        let hidden = heads * 64;
        for (batch, seq) in [(1, 1), (1, 5), (1, 13), (2, 64), (1, 70), (3, 17), (1, 130)] {
            let qkv = Tensor::randn(0f32, 1.0, (batch, seq, 3 * hidden), &dev)?;
            // Sequence b keeps its first seq - b tokens (at least one).
            let values: Vec<f32> = (0..batch)
                .flat_map(|b| {
                    (0..seq).map(move |j| {
                        if j < seq.saturating_sub(b).max(1) {
                            0.0
                        } else {
                            f32::NEG_INFINITY
                        }
                    })
                })
                .collect();
            let mask = Tensor::from_vec(values, (batch, 1, 1, seq), &dev)?;
            for mask in [None, Some(&mask)] {
                #[cfg(target_arch = "x86_64")]
                assert_eq!(
                    x86::FusedAttention::for_this(&qkv, heads, mask)?.is_some(),
                    crate::models::avx512::Avx512F::detect().is_some(),
                    "the fused path is taken wherever AVX-512F is"
                );
                let got = attend_fused(&qkv, heads, mask)?;
                let (q, k, v) = split_qkv(&qkv, heads)?;
                let want = merge_heads(&attend(&q, &k, &v, mask)?)?;
                assert_eq!(got.dims(), want.dims());
                let gap = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(gap <= 1e-5, "{batch}×{seq}, mask {}: {gap}", mask.is_some());
            }
        }
        Ok(())
    }

    /// Heads other than 64 wide, FP64 and empty shapes take candle's ops, with the same
    /// result.
    #[test]
    fn other_shapes_fall_back_to_candles_ops() -> Result<()> {
        let dev = Device::Cpu;
        let qkv = Tensor::randn(0f32, 1.0, (1, 9, 3 * 4 * 16), &dev)?;
        let (q, k, v) = split_qkv(&qkv, 4)?;
        let want = merge_heads(&attend(&q, &k, &v, None)?)?;
        #[cfg(target_arch = "x86_64")]
        {
            assert!(x86::FusedAttention::for_this(&qkv, 4, None)?.is_none());
            // No batch or no tokens: nothing for the kernel to do, candle's ops say what.
            for empty in [(0, 9, 3 * 64), (1, 0, 3 * 64)] {
                let empty = Tensor::zeros(empty, DType::F32, &dev)?;
                assert!(x86::FusedAttention::for_this(&empty, 1, None)?.is_none());
            }
        }
        let got = attend_fused(&qkv, 4, None)?;
        let gap = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(gap == 0.0, "{gap}");
        let wide = Tensor::randn(0f64, 1.0, (1, 9, 3 * 64), &dev)?;
        assert_eq!(attend_fused(&wide, 1, None)?.dtype(), DType::F64);
        Ok(())
    }
}
