//! `y = W̃ x̃` in i32 for a batch of int8 token rows, with only additions and subtractions for
//! the weights.
//!
//! - [`KernelPath::Scalar`]: for each 2-bit code, add the int8 activation (+1), subtract it
//!   (−1) or skip it (0), accumulating in i32; branch-free, by AND-ing the activation with
//!   all-ones/all-zero masks made from the code (`v & plus − v & minus`). Portable.
//! - [`KernelPath::Avx2`] (x86_64 with AVX2, detected at run time): per row, each block of 32
//!   weights is expanded once into 32 sign bytes in {−1, 0, +1}: `vpbroadcastq` the block's 8
//!   bytes, `vpsrlvq` by 0/2/4/6, `vpand` with 3, `vpshufb` through the table
//!   `[0, +1, −1, 0]`. Then for each token: `vpsignb` (`_mm256_sign_epi8`) passes, negates or
//!   zeroes each int8 activation by the sign of its weight (a conditional negate, not a
//!   product); `vpmovsxbw` (`_mm256_cvtepi8_epi16`) widens both halves to i16 and `vpaddw`
//!   adds them into i16 accumulators; every 128 blocks (at most 128 × 2 × 127 = 32512 per
//!   lane, below 32767) `vpmovsxwd` widens them and `vpaddd` adds them into i32
//!   accumulators, summed across lanes at the end of the row. No instruction multiplies: no
//!   `vpmaddubsw`, `vpmaddwd` or `vpmull*` is used, not even by a constant 1.
//!
//! Both paths give the same integers exactly (integer arithmetic without overflow: a row has at
//! most [`MAX_COLS`](super::pack::MAX_COLS) columns).

use super::TernaryError;
use super::pack::{BLOCK, BLOCK_BYTES, CODE_MINUS, CODE_PLUS, PackedTernary};
use super::quant::QuantizedActivations;

/// Which implementation of the kernel ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelPath {
    /// The portable scalar loop.
    Scalar,
    /// The x86_64 AVX2 loop.
    Avx2,
}

impl KernelPath {
    /// Whether this CPU can run this path.
    pub fn available(self) -> bool {
        match self {
            KernelPath::Scalar => true,
            KernelPath::Avx2 => avx2_detected(),
        }
    }

    /// A short name ("scalar", "avx2").
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Scalar => "scalar",
            KernelPath::Avx2 => "avx2",
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_detected() -> bool {
    false
}

/// The fastest path this CPU has (AVX2 where detected, else scalar).
pub fn best_path() -> KernelPath {
    if avx2_detected() {
        KernelPath::Avx2
    } else {
        KernelPath::Scalar
    }
}

/// `out[t × rows + r] = Σ_j W̃[r, j] × x̃[t, j]` on the fastest path; returns the path taken.
pub fn matmul(
    w: &PackedTernary,
    x: &QuantizedActivations,
    out: &mut [i32],
) -> Result<KernelPath, TernaryError> {
    let path = best_path();
    matmul_with(path, w, x, out)?;
    Ok(path)
}

/// As [`matmul`] on a chosen path; errors if this CPU lacks it or the shapes disagree.
pub fn matmul_with(
    path: KernelPath,
    w: &PackedTernary,
    x: &QuantizedActivations,
    out: &mut [i32],
) -> Result<(), TernaryError> {
    if w.padded_cols() != x.padded_cols || w.cols() != x.cols {
        return Err(TernaryError::InnerDim {
            weights: w.cols(),
            activations: x.cols,
        });
    }
    if x.values.len() != x.tokens * x.padded_cols {
        return Err(TernaryError::Length {
            what: "activations",
            expected: x.tokens * x.padded_cols,
            got: x.values.len(),
        });
    }
    let expected = x.tokens * w.rows();
    if out.len() != expected {
        return Err(TernaryError::Length {
            what: "output",
            expected,
            got: out.len(),
        });
    }
    match path {
        KernelPath::Scalar => {
            scalar(w, x, out);
            Ok(())
        }
        KernelPath::Avx2 => avx2(w, x, out),
    }
}

/// The portable loop: add, subtract or skip each activation by its weight's code.
fn scalar(w: &PackedTernary, x: &QuantizedActivations, out: &mut [i32]) {
    let rows = w.rows();
    for r in 0..rows {
        let wrow = w.row(r);
        for t in 0..x.tokens {
            let xrow = x.row(t);
            let mut acc = 0i32;
            for (wb, xb) in wrow.chunks_exact(BLOCK_BYTES).zip(xrow.chunks_exact(BLOCK)) {
                for (i, &byte) in wb.iter().enumerate() {
                    for k in 0..4 {
                        let v = i32::from(xb[k * BLOCK_BYTES + i]);
                        let code = (byte >> (2 * k)) & 3;
                        // Branch-free add/subtract/skip: all-ones masks select v, no product.
                        let plus = -i32::from(code == CODE_PLUS);
                        let minus = -i32::from(code == CODE_MINUS);
                        acc += (v & plus) - (v & minus);
                    }
                }
            }
            out[t * rows + r] = acc;
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2(w: &PackedTernary, x: &QuantizedActivations, out: &mut [i32]) -> Result<(), TernaryError> {
    if !avx2_detected() {
        return Err(TernaryError::PathUnavailable(KernelPath::Avx2));
    }
    // SAFETY: AVX2 was detected on this CPU just above, and `matmul_with` checked that the
    // weights, activations and output have matching lengths.
    unsafe { avx2_impl::matmul(w, x, out) };
    Ok(())
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2(_: &PackedTernary, _: &QuantizedActivations, _: &mut [i32]) -> Result<(), TernaryError> {
    Err(TernaryError::PathUnavailable(KernelPath::Avx2))
}

#[cfg(target_arch = "x86_64")]
mod avx2_impl {
    use super::{BLOCK, BLOCK_BYTES, PackedTernary, QuantizedActivations};
    use std::arch::x86_64::*;

    /// Blocks added into the i16 accumulators before they are widened into i32: each adds at
    /// most 2 × 127 per lane, and 128 × 254 = 32512 ≤ i16::MAX.
    const FLUSH_BLOCKS: usize = 128;

    /// `acc32 + widen(acc16)`: the 16 i16 lanes sign-extended (`vpmovsxwd`) into 8 + 8 i32
    /// lanes and added (`vpaddd`). A macro, not a function, so it inherits the caller's AVX2.
    macro_rules! widen_add {
        ($acc32:expr, $acc16:expr) => {{
            let lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128($acc16));
            let hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256::<1>($acc16));
            _mm256_add_epi32($acc32, _mm256_add_epi32(lo, hi))
        }};
    }

    /// # Safety
    /// The CPU must have AVX2; `w` and `x` must share `padded_cols` and `out` must hold
    /// `x.tokens × w.rows()` values.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn matmul(w: &PackedTernary, x: &QuantizedActivations, out: &mut [i32]) {
        let rows = w.rows();
        let blocks = w.padded_cols() / BLOCK;
        let mut signs = vec![0i8; w.padded_cols()];
        for r in 0..rows {
            let wrow = w.row(r);
            for (b, wb) in wrow.chunks_exact(BLOCK_BYTES).enumerate() {
                let mut packed = [0u8; 8];
                packed.copy_from_slice(wb);
                let dst = &mut signs[b * BLOCK..(b + 1) * BLOCK];
                // SAFETY: AVX2 is enabled for this function (the caller's contract); `dst` is a
                // 32-byte slice, so the unaligned 32-byte store stays inside it.
                unsafe {
                    let v = _mm256_set1_epi64x(i64::from_le_bytes(packed));
                    let codes = _mm256_and_si256(
                        _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 2, 4, 6)),
                        _mm256_set1_epi8(3),
                    );
                    let table = _mm256_setr_epi8(
                        0, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
                        0, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    );
                    let s = _mm256_shuffle_epi8(table, codes);
                    _mm256_storeu_si256(dst.as_mut_ptr().cast::<__m256i>(), s);
                }
            }
            for t in 0..x.tokens {
                let xrow = x.row(t);
                // SAFETY: AVX2 is enabled for this function; `signs` and `xrow` both hold
                // `blocks × 32` bytes, so every 32-byte load at `b × 32` is in bounds.
                out[t * rows + r] = unsafe { dot_row(&signs, xrow, blocks) };
            }
        }
    }

    /// Σ sign[j] ⊙ x[j] over `blocks` blocks of 32 bytes with `vpsignb` and adds only.
    ///
    /// # Safety
    /// The CPU must have AVX2; `signs` and `xrow` must hold at least `blocks × 32` bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn dot_row(signs: &[i8], xrow: &[i8], blocks: usize) -> i32 {
        debug_assert!(signs.len() >= blocks * BLOCK && xrow.len() >= blocks * BLOCK);
        // SAFETY: see the function's contract; every pointer is offset by `b × 32 < blocks × 32`.
        unsafe {
            let mut acc32 = _mm256_setzero_si256();
            let mut acc16 = _mm256_setzero_si256();
            let mut pending = 0;
            for b in 0..blocks {
                let s = _mm256_loadu_si256(signs.as_ptr().add(b * BLOCK).cast::<__m256i>());
                let v = _mm256_loadu_si256(xrow.as_ptr().add(b * BLOCK).cast::<__m256i>());
                let p = _mm256_sign_epi8(v, s);
                let lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(p));
                let hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(p));
                acc16 = _mm256_add_epi16(acc16, _mm256_add_epi16(lo, hi));
                pending += 1;
                if pending == FLUSH_BLOCKS {
                    acc32 = widen_add!(acc32, acc16);
                    acc16 = _mm256_setzero_si256();
                    pending = 0;
                }
            }
            acc32 = widen_add!(acc32, acc16);
            let sum = _mm_add_epi32(
                _mm256_castsi256_si128(acc32),
                _mm256_extracti128_si256::<1>(acc32),
            );
            let mut lanes = [0i32; 4];
            _mm_storeu_si128(lanes.as_mut_ptr().cast::<__m128i>(), sum);
            lanes.iter().sum()
        }
    }
}
