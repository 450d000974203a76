//! Absmean ternary weights and absmax int8 activations (BitNet b1.58).

use super::TernaryError;
use super::pack::BLOCK;

/// ε in `W / (γ + ε)`: keeps an all-zero matrix at W̃ = 0 (the BitNet reference code clamps γ at 1e-5).
pub const WEIGHT_EPS: f32 = 1e-5;

/// Largest int8 magnitude of a quantized activation: ±127, never −128 (so negating it cannot overflow).
pub const ACT_MAX: i8 = 127;

/// A weight matrix in ternary form: values in {−1, 0, +1}, row-major, and its scale γ.
#[derive(Debug, Clone, PartialEq)]
pub struct TernaryWeights {
    /// Rows (output features).
    pub rows: usize,
    /// Columns (input features).
    pub cols: usize,
    /// `rows × cols` values in {−1, 0, +1}.
    pub values: Vec<i8>,
    /// γ = mean |W| of the original matrix.
    pub gamma: f32,
}

/// γ = mean |W|, summed in f64 so that huge values do not overflow; errors on NaN or ±∞.
pub fn absmean(w: &[f32]) -> Result<f32, TernaryError> {
    let mut sum = 0f64;
    for (index, &v) in w.iter().enumerate() {
        if !v.is_finite() {
            return Err(TernaryError::NonFiniteWeight { index });
        }
        sum += f64::from(v.abs());
    }
    if w.is_empty() {
        return Ok(0.0);
    }
    Ok((sum / w.len() as f64) as f32)
}

/// `W̃ = RoundClip(W / (γ + ε), −1, 1)` of a row-major `rows × cols` matrix (round half to even).
pub fn quantize_weights(
    w: &[f32],
    rows: usize,
    cols: usize,
) -> Result<TernaryWeights, TernaryError> {
    let expected = rows.checked_mul(cols).ok_or(TernaryError::Length {
        what: "weights",
        expected: usize::MAX,
        got: w.len(),
    })?;
    if w.len() != expected {
        return Err(TernaryError::Length {
            what: "weights",
            expected,
            got: w.len(),
        });
    }
    let gamma = absmean(w)?;
    let denom = f64::from(gamma) + f64::from(WEIGHT_EPS);
    let values = w
        .iter()
        .map(|&v| (f64::from(v) / denom).round_ties_even().clamp(-1.0, 1.0) as i8)
        .collect();
    Ok(TernaryWeights {
        rows,
        cols,
        values,
        gamma,
    })
}

/// Token rows quantized to int8 by absmax, each padded with zeros to the weights' padded width.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedActivations {
    /// Token rows.
    pub tokens: usize,
    /// Columns before padding.
    pub cols: usize,
    /// Columns after padding (a multiple of [`BLOCK`]).
    pub padded_cols: usize,
    /// `tokens × padded_cols` values in [−127, 127], row-major.
    pub values: Vec<i8>,
    /// Per token, `max|x| / 127`: the factor from int8 back to the input's scale (0 for a zero
    /// row, NaN for a row with a NaN or infinite value, whose outputs are then NaN).
    pub scales: Vec<f32>,
}

impl QuantizedActivations {
    /// The padded int8 row of token `t`.
    pub fn row(&self, t: usize) -> &[i8] {
        &self.values[t * self.padded_cols..(t + 1) * self.padded_cols]
    }
}

/// Quantize `tokens × cols` f32 activations (row-major) per token by absmax, `x̃ = Round(x × 127 / max|x|)`.
pub fn quantize_activations(
    x: &[f32],
    tokens: usize,
    cols: usize,
) -> Result<QuantizedActivations, TernaryError> {
    let expected = tokens.checked_mul(cols).ok_or(TernaryError::Length {
        what: "activations",
        expected: usize::MAX,
        got: x.len(),
    })?;
    if x.len() != expected {
        return Err(TernaryError::Length {
            what: "activations",
            expected,
            got: x.len(),
        });
    }
    let padded_cols = cols.div_ceil(BLOCK) * BLOCK;
    let mut values = vec![0i8; tokens * padded_cols];
    let mut scales = Vec::with_capacity(tokens);
    for t in 0..tokens {
        let row = &x[t * cols..(t + 1) * cols];
        let out = &mut values[t * padded_cols..t * padded_cols + cols];
        let finite = row.iter().all(|v| v.is_finite());
        let absmax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        if !finite {
            scales.push(f32::NAN);
        } else if absmax == 0.0 {
            scales.push(0.0);
        } else {
            // f64: 127 / max|x| stays finite even for a subnormal max|x|.
            let s = f64::from(ACT_MAX) / f64::from(absmax);
            for (q, &v) in out.iter_mut().zip(row) {
                *q = (f64::from(v) * s)
                    .round_ties_even()
                    .clamp(-f64::from(ACT_MAX), f64::from(ACT_MAX)) as i8;
            }
            scales.push((f64::from(absmax) / f64::from(ACT_MAX)) as f32);
        }
    }
    Ok(QuantizedActivations {
        tokens,
        cols,
        padded_cols,
        values,
        scales,
    })
}
