//! The one check every raw record's figures pass when read back: no NaN or ±inf, and no
//! negative value where the figure is a counter delta, a duration or a power.
//!
//! A net energy (gross − idle power × duration) may be negative: it is a derived figure,
//! not a corruption, so it is only required to be finite. Everything a probe or a clock
//! produced (energies over a window, cumulative counter readings, durations, latencies,
//! powers) cannot be below zero.

use crate::RecordsError;
use crate::raw::{
    AttributionRecord, BaselineRecord, ContextRecord, RepetitionDerivedV1, RepetitionRecord,
    RequestRecord, SampleRecord,
};
use std::path::Path;

/// What a figure of a column must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Any finite number (a net energy, a context reading such as a temperature).
    Finite,
    /// A finite number ≥ 0 (a counter delta, a cumulative reading, a duration, a power).
    NonNegative,
}

impl Bound {
    /// Why `value` breaks the bound, or `None` when it keeps it.
    pub fn violation(self, value: f64) -> Option<&'static str> {
        if value.is_nan() {
            Some("is not a number")
        } else if value.is_infinite() {
            Some("is infinite")
        } else if self == Self::NonNegative && value < 0.0 {
            Some("is negative, and this column cannot be")
        } else {
            None
        }
    }

    /// The allowed range, in words.
    pub fn range(self) -> &'static str {
        match self {
            Self::Finite => "a finite number",
            Self::NonNegative => "a finite number ≥ 0",
        }
    }
}

/// A record whose figures can be checked once it is read.
pub trait Figures {
    /// Each figure with its column name and bound (optional figures only when present).
    fn figures(&self) -> Vec<(&'static str, f64, Bound)>;
}

/// Checks every figure of `record`, read from `path` at `line`: the first that breaks its
/// bound gives an error naming the file, line, column, value, allowed range and the fix.
pub fn check<T: Figures>(record: &T, path: &Path, line: u64) -> Result<(), RecordsError> {
    for (column, value, bound) in record.figures() {
        check_value(path, line, column, value, bound)?;
    }
    Ok(())
}

/// Checks one figure (for readers that parse columns themselves).
pub fn check_value(
    path: &Path,
    line: u64,
    column: &str,
    value: f64,
    bound: Bound,
) -> Result<(), RecordsError> {
    match bound.violation(value) {
        None => Ok(()),
        Some(why) => Err(RecordsError::Field {
            path: path.to_path_buf(),
            line,
            field: column.to_string(),
            message: format!(
                "{value} {why} (expected {}): the file is corrupted; re-run the configuration, or resume the run (`joulebench run --resume DIR`) after removing the damaged rows",
                bound.range()
            ),
        }),
    }
}

fn optional(out: &mut Vec<(&'static str, f64, Bound)>, column: &'static str, v: Option<f64>) {
    if let Some(v) = v {
        out.push((column, v, Bound::NonNegative));
    }
}

impl Figures for RepetitionRecord {
    fn figures(&self) -> Vec<(&'static str, f64, Bound)> {
        vec![
            ("duration_s", self.duration_s, Bound::NonNegative),
            ("energy_j", self.energy_j, Bound::NonNegative),
        ]
    }
}

impl Figures for RepetitionDerivedV1 {
    fn figures(&self) -> Vec<(&'static str, f64, Bound)> {
        let mut out = Vec::new();
        optional(&mut out, "idle_power_w", self.idle_power_w);
        if let Some(v) = self.net_energy_j {
            out.push(("net_energy_j", v, Bound::Finite));
        }
        out
    }
}

impl Figures for BaselineRecord {
    fn figures(&self) -> Vec<(&'static str, f64, Bound)> {
        vec![
            ("duration_s", self.duration_s, Bound::NonNegative),
            ("energy_j", self.energy_j, Bound::NonNegative),
            ("power_w", self.power_w, Bound::NonNegative),
        ]
    }
}

impl Figures for RequestRecord {
    fn figures(&self) -> Vec<(&'static str, f64, Bound)> {
        let mut out = vec![("latency_ms", self.latency_ms, Bound::NonNegative)];
        optional(&mut out, "ttft_ms", self.ttft_ms);
        optional(&mut out, "itl_ms", self.itl_ms);
        out
    }
}

impl Figures for SampleRecord {
    fn figures(&self) -> Vec<(&'static str, f64, Bound)> {
        sample_figures(self.energy_j, self.power_w).collect()
    }
}

/// The figures of a `samples.csv` row, for the report's fast reader that parses its
/// columns itself: the cumulative reading and the stated power, both ≥ 0.
pub fn sample_figures(
    energy_j: f64,
    power_w: Option<f64>,
) -> impl Iterator<Item = (&'static str, f64, Bound)> {
    std::iter::once(("energy_j", energy_j, Bound::NonNegative))
        .chain(power_w.map(|p| ("power_w", p, Bound::NonNegative)))
}

impl Figures for ContextRecord {
    fn figures(&self) -> Vec<(&'static str, f64, Bound)> {
        vec![("value", self.value, Bound::Finite)]
    }
}

impl Figures for AttributionRecord {
    fn figures(&self) -> Vec<(&'static str, f64, Bound)> {
        [
            ("server", self.server),
            ("client", self.client),
            ("busy", self.busy),
            ("total", self.total),
        ]
        .into_iter()
        .filter_map(|(c, v)| v.map(|v| (c, v, Bound::NonNegative)))
        .collect()
    }
}

impl Figures for crate::raw::WindowStateRecord {
    fn figures(&self) -> Vec<(&'static str, f64, Bound)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(Bound::Finite.violation(-3.0), None);
        assert_eq!(Bound::NonNegative.violation(0.0), None);
        assert!(Bound::NonNegative.violation(-0.5).is_some());
        assert!(Bound::Finite.violation(f64::NAN).is_some());
        assert!(Bound::Finite.violation(f64::NEG_INFINITY).is_some());
    }

    #[test]
    fn a_net_energy_may_be_negative_and_a_gross_one_may_not() {
        let derived = RepetitionDerivedV1 {
            net_energy_j: Some(-2.0),
            ..RepetitionDerivedV1::default()
        };
        assert!(check(&derived, Path::new("r.csv"), 2).is_ok());
        let raw = RepetitionRecord {
            energy_j: -2.0,
            ..RepetitionRecord::default()
        };
        let e = check(&raw, Path::new("r.csv"), 7).expect_err("negative gross energy");
        let text = e.to_string();
        assert!(
            text.contains("r.csv, line 7, field `energy_j`: -2 is negative"),
            "{text}"
        );
        assert!(text.contains("--resume"), "{text}");
    }
}
