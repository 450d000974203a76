//! Accumulating a wrapping hardware energy counter into 64 bits.

use crate::ProbeError;
use crate::delta::{DeltaError, counter_delta};
use std::path::Path;

/// Accumulates a raw counter (µJ) that wraps at a known range, into a 64-bit total.
#[derive(Clone, Debug)]
pub struct WrappingCounter {
    /// Largest value the counter shows before it wraps to 0 (µJ); `None` when unknown.
    max_range: Option<u64>,
    last_raw: u64,
    total: u64,
    wraps: u64,
}

impl WrappingCounter {
    /// Starts accumulating from a first raw value.
    pub fn new(first_raw: u64, max_range: Option<u64>) -> Self {
        Self {
            max_range,
            last_raw: first_raw,
            total: 0,
            wraps: 0,
        }
    }

    /// Takes a new raw value and returns the accumulated total since the first (µJ).
    ///
    /// The step follows the one wrap rule of `crate::delta`: a value lower than the
    /// previous one is a wrap (`max + 1 - previous + new` is added) when the range is known;
    /// without a known range a lower value is an error, never a negative or a guess.
    pub fn update(&mut self, raw: u64, path: &Path) -> Result<u64, ProbeError> {
        let wrap_j = self.max_range.map(|max| (max as f64 + 1.0) / 1e6);
        let step =
            counter_delta(uj_to_j(self.last_raw), uj_to_j(raw), wrap_j).map_err(|e| match e {
                DeltaError::WentBackwards { .. } => ProbeError::CounterWentBackwards {
                    path: path.to_path_buf(),
                    previous: self.last_raw,
                    now: raw,
                },
                DeltaError::Implausible { .. } => ProbeError::Read {
                    path: path.to_path_buf(),
                    reason: format!("{raw} µJ after {} µJ: {e}", self.last_raw),
                },
            })?;
        if step.wrapped {
            self.wraps += 1;
        }
        // Whole µJ in, whole µJ out: rounding undoes the float steps exactly.
        let delta = (step.energy_j * 1e6).round() as u64;
        self.last_raw = raw;
        self.total = self.total.saturating_add(delta);
        Ok(self.total)
    }

    /// The last raw value read (µJ).
    pub fn last_raw(&self) -> u64 {
        self.last_raw
    }

    /// The wrap range (µJ), when known.
    pub fn max_range(&self) -> Option<u64> {
        self.max_range
    }

    /// How many wraps were seen.
    pub fn wraps(&self) -> u64 {
        self.wraps
    }
}

fn uj_to_j(uj: u64) -> f64 {
    uj as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 262_143_328_850;

    #[test]
    fn a_wrap_adds_the_distance_through_the_top() {
        let p = Path::new("energy_uj");
        let mut c = WrappingCounter::new(MAX - 1_000, Some(MAX));
        assert_eq!(c.update(MAX - 500, p).expect("up"), 500);
        // 500 µJ to the top, 1 µJ across (max+1 ≡ 0), then 2,000 µJ.
        assert_eq!(c.update(2_000, p).expect("wrap"), 500 + 501 + 2_000);
        assert_eq!(c.wraps(), 1);
    }

    #[test]
    fn unknown_range_makes_a_decrease_an_error() {
        let p = Path::new("zone/energy_uj");
        let mut c = WrappingCounter::new(1_000, None);
        assert_eq!(c.update(5_000, p).expect("up"), 4_000);
        let e = c.update(10, p).expect_err("decrease without range");
        assert!(e.to_string().contains("zone/energy_uj"));
        assert!(e.to_string().contains("max_energy_range_uj"));
    }

    #[test]
    fn a_value_beyond_the_range_is_an_error_not_a_wrap() {
        let p = Path::new("zone/energy_uj");
        let mut c = WrappingCounter::new(1_000, Some(MAX));
        let e = c.update(MAX + 10, p).expect_err("beyond the range");
        assert!(e.to_string().contains("zone/energy_uj"), "{e}");
        assert_eq!(c.update(2_000, p).expect("a later good value"), 1_000);
    }

    #[test]
    fn many_wraps_accumulate_beyond_32_bits() {
        let p = Path::new("e");
        let max = 65_532_610_987_u64;
        let mut c = WrappingCounter::new(0, Some(max));
        let step = max / 3;
        let mut raw = 0u64;
        let mut expected = 0u64;
        for _ in 0..30 {
            raw = (raw + step) % (max + 1);
            expected += step;
            assert_eq!(c.update(raw, p).expect("update"), expected);
        }
        assert!(c.wraps() >= 9);
        assert!(expected > u64::from(u32::MAX));
    }
}
