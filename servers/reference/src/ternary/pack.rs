//! Ternary weights at 2 bits each, 4 to a byte.
//!
//! Codes: `0b00` = 0, `0b01` = +1, `0b10` = −1 (`0b11` is never written and reads as 0).
//!
//! Layout: row-major; each row is padded with zero weights to a multiple of [`BLOCK`] = 32
//! columns and stored as blocks of [`BLOCK_BYTES`] = 8 bytes. Inside a block, weight `t`
//! (0..32) sits in byte `t % 8` at bits `2 × (t / 8)`: byte `i` holds weights `i`, `i + 8`,
//! `i + 16`, `i + 24` from its low bits up. So shifting the block's 8 bytes (one u64) right by
//! 0, 2, 4, 6 and masking with 3 yields the codes of weights 0–7, 8–15, 16–23, 24–31 in order,
//! which is how the AVX2 kernel expands a block into 32 sign bytes with one shift and one mask.

use super::TernaryError;

/// Weights per block (the row padding unit).
pub const BLOCK: usize = 32;
/// Bytes per block of [`BLOCK`] weights.
pub const BLOCK_BYTES: usize = BLOCK / 4;
/// Code of a zero weight.
pub const CODE_ZERO: u8 = 0b00;
/// Code of a +1 weight.
pub const CODE_PLUS: u8 = 0b01;
/// Code of a −1 weight.
pub const CODE_MINUS: u8 = 0b10;
/// Most columns a row may have: 127 × columns must fit an i32 accumulator.
pub const MAX_COLS: usize = (i32::MAX / 127) as usize / BLOCK * BLOCK;

/// A ternary matrix packed 2 bits per weight (see the module documentation for the layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedTernary {
    rows: usize,
    cols: usize,
    padded_cols: usize,
    data: Vec<u8>,
}

/// The byte index (within a row) and bit shift of column `j`.
fn position(j: usize) -> (usize, u32) {
    let (block, t) = (j / BLOCK, j % BLOCK);
    (
        block * BLOCK_BYTES + t % BLOCK_BYTES,
        2 * (t / BLOCK_BYTES) as u32,
    )
}

/// The value of a 2-bit code.
pub fn decode(code: u8) -> i8 {
    match code & 3 {
        CODE_PLUS => 1,
        CODE_MINUS => -1,
        _ => 0,
    }
}

impl PackedTernary {
    /// Pack a row-major `rows × cols` matrix of values in {−1, 0, +1}.
    pub fn pack(values: &[i8], rows: usize, cols: usize) -> Result<Self, TernaryError> {
        if cols > MAX_COLS {
            return Err(TernaryError::TooWide {
                cols,
                limit: MAX_COLS,
            });
        }
        let expected = rows.checked_mul(cols).ok_or(TernaryError::Length {
            what: "weights",
            expected: usize::MAX,
            got: values.len(),
        })?;
        if values.len() != expected {
            return Err(TernaryError::Length {
                what: "weights",
                expected,
                got: values.len(),
            });
        }
        let padded_cols = cols.div_ceil(BLOCK) * BLOCK;
        let row_bytes = padded_cols / 4;
        let mut data = vec![0u8; rows * row_bytes];
        for (index, &v) in values.iter().enumerate() {
            let code = match v {
                0 => CODE_ZERO,
                1 => CODE_PLUS,
                -1 => CODE_MINUS,
                value => return Err(TernaryError::NotTernary { index, value }),
            };
            let (r, j) = (index / cols, index % cols);
            let (byte, shift) = position(j);
            data[r * row_bytes + byte] |= code << shift;
        }
        Ok(Self {
            rows,
            cols,
            padded_cols,
            data,
        })
    }

    /// The row-major `rows × cols` values in {−1, 0, +1} (padding dropped).
    pub fn unpack(&self) -> Vec<i8> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            let row = self.row(r);
            for j in 0..self.cols {
                let (byte, shift) = position(j);
                out.push(decode(row[byte] >> shift));
            }
        }
        out
    }

    /// Rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns before padding (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Columns after padding to a multiple of [`BLOCK`].
    pub fn padded_cols(&self) -> usize {
        self.padded_cols
    }

    /// Bytes per packed row (`padded_cols / 4`).
    pub fn row_bytes(&self) -> usize {
        self.padded_cols / 4
    }

    /// The packed bytes of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let n = self.row_bytes();
        &self.data[r * n..(r + 1) * n]
    }

    /// All packed bytes, row after row.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Bytes of the packed weights alone.
    pub fn packed_bytes(&self) -> usize {
        self.data.len()
    }
}
