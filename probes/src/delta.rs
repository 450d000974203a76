//! The energy between two reads of one counter: the one wrap rule every delta uses.
//!
//! A counter that rose gives its rise. One that went down by no more than
//! `JITTER_TOLERANCE_J` gives zero (float noise, not a decrease). One that went down by
//! more has wrapped when its wrap range is known (the distance through the top is added);
//! without a known range, or when the reads do not fit the range, the energy cannot be
//! known and the delta is a `DeltaError`, never a zero.

/// Largest decrease taken as noise rather than a real decrease (J): half the finest
/// counter unit (1 µJ), so any real decrease of an integer µJ counter counts.
pub const JITTER_TOLERANCE_J: f64 = 0.5e-6;

/// The energy between two reads of one counter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CounterDelta {
    /// Energy between the reads (J), never negative.
    pub energy_j: f64,
    /// The counter wrapped once between the reads (the range was added).
    pub wrapped: bool,
}

/// Why the energy between two reads of one counter cannot be known.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum DeltaError {
    /// The counter went down and its wrap range is unknown (or it does not wrap).
    #[error(
        "the counter went back from {previous_j} J to {now_j} J and its wrap range is unknown: \
         the energy in between cannot be known"
    )]
    WentBackwards {
        /// The earlier read (J).
        previous_j: f64,
        /// The later, lower read (J).
        now_j: f64,
    },
    /// A read is not a finite, non-negative number, or does not fit the wrap range.
    #[error(
        "reads of {previous_j} J then {now_j} J do not fit a counter {}: \
         the energy in between cannot be known",
        range_text(*.wrap_j)
    )]
    Implausible {
        /// The earlier read (J).
        previous_j: f64,
        /// The later read (J).
        now_j: f64,
        /// The counter's wrap range (J), if known.
        wrap_j: Option<f64>,
    },
}

fn range_text(wrap_j: Option<f64>) -> String {
    match wrap_j {
        Some(w) => format!("wrapping at {w} J"),
        None => "without a wrap range".into(),
    }
}

/// The energy from `previous_j` to `now_j`, two reads of one counter that wraps to zero
/// at `wrap_j` (J; `None`: the range is unknown or the counter does not wrap).
pub fn counter_delta(
    previous_j: f64,
    now_j: f64,
    wrap_j: Option<f64>,
) -> Result<CounterDelta, DeltaError> {
    let implausible = DeltaError::Implausible {
        previous_j,
        now_j,
        wrap_j,
    };
    let finite = |x: f64| x.is_finite() && x >= -JITTER_TOLERANCE_J;
    if !(finite(previous_j) && finite(now_j)) {
        return Err(implausible);
    }
    if let Some(w) = wrap_j {
        let fits = |x: f64| x <= w + JITTER_TOLERANCE_J;
        if !(w.is_finite() && w > 0.0 && fits(previous_j) && fits(now_j)) {
            return Err(implausible);
        }
    }
    let rise = now_j - previous_j;
    if rise >= -JITTER_TOLERANCE_J {
        return Ok(CounterDelta {
            energy_j: rise.max(0.0),
            wrapped: false,
        });
    }
    match wrap_j {
        Some(w) => Ok(CounterDelta {
            energy_j: (w - previous_j + now_j).max(0.0),
            wrapped: true,
        }),
        None => Err(DeltaError::WentBackwards { previous_j, now_j }),
    }
}

/// The energy between two cumulative reads of a domain (`Reading::joules`, already
/// unwrapped by its source, so any real decrease is an error).
pub fn cumulative_delta(previous_j: f64, now_j: f64) -> Result<f64, DeltaError> {
    counter_delta(previous_j, now_j, None).map(|d| d.energy_j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rise_is_the_energy() {
        let d = counter_delta(10.0, 15.5, Some(100.0)).expect("rise");
        assert_eq!(
            d,
            CounterDelta {
                energy_j: 5.5,
                wrapped: false
            }
        );
        assert_eq!(cumulative_delta(1.0, 3.0), Ok(2.0));
    }

    #[test]
    fn a_decrease_with_a_known_range_is_one_wrap() {
        let d = counter_delta(90.0, 4.0, Some(100.0)).expect("wrap");
        assert_eq!(
            d,
            CounterDelta {
                energy_j: 14.0,
                wrapped: true
            }
        );
    }

    #[test]
    fn a_decrease_without_a_range_is_an_error_never_zero() {
        let e = counter_delta(10.0, 4.0, None).expect_err("backwards");
        assert_eq!(
            e,
            DeltaError::WentBackwards {
                previous_j: 10.0,
                now_j: 4.0
            }
        );
        assert!(e.to_string().contains("wrap range is unknown"), "{e}");
        assert!(cumulative_delta(10.0, 9.9).is_err());
    }

    #[test]
    fn jitter_within_the_tolerance_is_zero_and_beyond_it_is_a_decrease() {
        let d = counter_delta(10.0, 10.0 - 1e-7, None).expect("jitter");
        assert_eq!(
            d,
            CounterDelta {
                energy_j: 0.0,
                wrapped: false
            }
        );
        // One microjoule down is a real decrease of an integer µJ counter.
        assert!(counter_delta(10.0, 10.0 - 1e-6, None).is_err());
        let d = counter_delta(10.0, 10.0 - 1e-6, Some(100.0)).expect("wrap");
        assert!(d.wrapped && (d.energy_j - (100.0 - 1e-6)).abs() < 1e-9);
    }

    #[test]
    fn reads_outside_the_range_or_not_finite_are_implausible() {
        for (a, b, w) in [
            (150.0, 4.0, Some(100.0)),
            (10.0, 150.0, Some(100.0)),
            (10.0, 4.0, Some(0.0)),
            (f64::NAN, 4.0, None),
            (1.0, f64::INFINITY, None),
            (-1.0, 4.0, None),
        ] {
            let e = counter_delta(a, b, w).expect_err("implausible");
            assert!(
                matches!(e, DeltaError::Implausible { .. }),
                "{a} {b} {w:?}: {e}"
            );
        }
    }
}
