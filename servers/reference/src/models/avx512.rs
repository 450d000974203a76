//! The AVX-512 register tile that the packed linear layers and the fused attention share:
//! up to [`ROWS`] rows of activations times a panel of [`COLS`] output columns, summed in
//! registers, on CPUs where AVX-512F was detected at run time.

use candle_core::{CpuStorage, Layout, Result};
use std::arch::x86_64::*;

/// Output columns per panel: four 16-lane registers.
pub const COLS: usize = 64;
/// Activation rows per tile: 6 × 4 accumulators of the 32 registers.
pub const ROWS: usize = 6;

/// Proof that this CPU has AVX-512F: only [`Avx512F::detect`] makes one.
#[derive(Clone, Copy, Debug)]
pub struct Avx512F {
    _detected: (),
}

impl Avx512F {
    /// The proof, when this CPU has AVX-512F.
    pub fn detect() -> Option<Self> {
        is_x86_feature_detected!("avx512f").then_some(Self { _detected: () })
    }
}

/// `n` rows of `k` (row `j` is `rows[j * stride + at..][..k]`) as panels of [`COLS`] of
/// them: panel `j / COLS` holds `k × COLS` floats, input `p` of row `j` at
/// `p * COLS + j % COLS` (the last panel padded with zeros). Weights so packed are a
/// linear layer's panels, keys an attention head's.
pub fn pack_panels(rows: &[f32], n: usize, k: usize, stride: usize, at: usize) -> Vec<f32> {
    let mut panels = vec![0f32; n.div_ceil(COLS) * k * COLS];
    for j in 0..n {
        let row = &rows[j * stride + at..][..k];
        let panel = &mut panels[(j / COLS) * k * COLS..][..k * COLS];
        for (p, v) in row.iter().enumerate() {
            panel[p * COLS + j % COLS] = *v;
        }
    }
    panels
}

/// Panel rows ahead of the one in use that `accumulate` asks the cache for.
const PREFETCH: usize = 12;

/// Four registers of one row of a tile.
pub type Lanes = [__m512; 4];

/// `acc` plus `R` rows of `x` (row `r` is `x[r * x_stride..][..k]`) times a panel of `k`
/// rows of [`COLS`] (row `p` is `panel[p * panel_stride..][..COLS]`): per input, one row of
/// the panel (four registers) times each row's input broadcast.
///
/// # Safety
/// The CPU has AVX-512F (callers hold an [`Avx512F`]).
///
/// # Panics
/// Where `x` or `panel` is shorter than that: checked before the loop, since a check in
/// it would keep the accumulators in memory (a panic could leave them half summed).
#[target_feature(enable = "avx512f")]
#[inline]
pub fn accumulate<const R: usize>(
    mut acc: [Lanes; R],
    x: &[f32],
    x_stride: usize,
    k: usize,
    panel: &[f32],
    panel_stride: usize,
) -> [Lanes; R] {
    if k == 0 {
        return acc;
    }
    // A loop, not `array::from_fn`: that was a call per tile (4 % of a 512-token pass).
    let mut rows: [&[f32]; R] = [&[]; R];
    for (r, row) in rows.iter_mut().enumerate() {
        *row = &x[r * x_stride..][..k];
    }
    let span = (k - 1)
        .checked_mul(panel_stride)
        .and_then(|s| s.checked_add(COLS))
        .expect("a panel's span fits in memory");
    let panel = &panel[..span];
    let mut w = panel.as_ptr();
    for p in 0..k {
        // SAFETY: `p < k`: `w` is `panel[p * panel_stride..]`, 64 floats inside `panel`
        // (checked above); four unaligned 16-float loads.
        let wv = unsafe {
            [
                _mm512_loadu_ps(w),
                _mm512_loadu_ps(w.add(16)),
                _mm512_loadu_ps(w.add(32)),
                _mm512_loadu_ps(w.add(48)),
            ]
        };
        // The panel row PREFETCH on, its four lines into L1 (a hint: never faults).
        let ahead = w.wrapping_add(PREFETCH * panel_stride) as *const i8;
        _mm_prefetch::<_MM_HINT_T0>(ahead);
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(128));
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(192));
        for (lanes, row) in acc.iter_mut().zip(&rows) {
            // SAFETY: `p < k`, the length of every row.
            let xv = _mm512_set1_ps(unsafe { *row.get_unchecked(p) });
            for (lane, wv) in lanes.iter_mut().zip(&wv) {
                *lane = _mm512_fmadd_ps(*wv, xv, *lane);
            }
        }
        // Past the panel's end only after the last row, where it is not read.
        w = w.wrapping_add(panel_stride);
    }
    acc
}

/// The lanes of each of a row's four registers that are among its first `cols` columns.
pub fn column_masks(cols: usize) -> [__mmask16; 4] {
    std::array::from_fn(|l| {
        let lanes = cols.saturating_sub(16 * l).min(16);
        ((1u32 << lanes) - 1) as __mmask16
    })
}

/// Where parallel jobs store one output, each into elements no other job touches.
pub struct Out(pub *mut f32);

// SAFETY: jobs write disjoint elements and never read them.
unsafe impl Sync for Out {}

/// The contiguous FP32 slice a CPU storage and layout describe, or an error naming `op`.
pub fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(all) = storage else {
        candle_core::bail!("{op} takes f32 tensors");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op} takes contiguous tensors");
    };
    Ok(&all[start..end])
}
