//! Colours and text styles shared by every plot.

use super::FONT;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use records::labels::{ClassLabel, FigureLabel};

/// Task-specific models (Okabe–Ito blue).
pub const TASK_SPECIFIC: RGBColor = RGBColor(0, 114, 178);
/// General-purpose models (Okabe–Ito vermillion).
pub const GENERAL_PURPOSE: RGBColor = RGBColor(213, 94, 0);
/// A class that is not known (imported runs).
pub const OTHER: RGBColor = RGBColor(110, 110, 110);

/// Colours for series without a class meaning (Okabe–Ito, then two more).
pub const PALETTE: [RGBColor; 9] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
    RGBColor(128, 128, 128),
];

/// Half-diagonal of the study's marker (px).
pub const REFERENCE_MARKER_PX: i32 = 7;

/// The study's figure beside a measured one: a hollow black diamond centred on `c`
/// (backend pixels).
pub fn diamond(c: (i32, i32), r: i32) -> PathElement<(i32, i32)> {
    let (x, y) = c;
    PathElement::new(
        vec![(x, y - r), (x + r, y), (x, y + r), (x - r, y), (x, y - r)],
        BLACK.stroke_width(2),
    )
}

/// The colour of a model class, the same in every plot.
pub fn class_colour(class: ClassLabel) -> RGBColor {
    match class {
        ClassLabel::TaskSpecific => TASK_SPECIFIC,
        ClassLabel::GeneralPurpose => GENERAL_PURPOSE,
        ClassLabel::Unknown => OTHER,
    }
}

/// The `i`-th series colour.
pub fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Body text.
pub fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

/// Body text anchored at its right end, vertically centred.
pub fn right_aligned(size: u32) -> TextStyle<'static> {
    text(size).pos(Pos::new(HPos::Right, VPos::Center))
}

/// Bold text anchored at its left end, vertically centred.
pub fn heading(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font().style(FontStyle::Bold))
        .pos(Pos::new(HPos::Left, VPos::Center))
}

/// How a figure says where its numbers came from: its label's note in brackets, empty
/// when measured.
pub fn provenance_suffix(label: FigureLabel) -> String {
    label
        .note()
        .map_or_else(String::new, |note| format!(" [{note}]"))
}

/// A log-axis range from the power of ten below every positive value in `values` to the
/// power of ten above (plotters only places ticks from the first power of ten upward).
pub fn log_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values {
        if v.is_finite() && v > 0.0 {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() || hi <= 0.0 {
        return 0.1..10.0;
    }
    let lo = 10f64.powf((lo / 1.05).log10().floor());
    let hi = 10f64.powf((hi * 1.05).log10().ceil());
    lo..hi
}

/// A short tick label for a positive number.
pub fn tick(v: f64) -> String {
    records::number::sig(v, 2)
}

/// A short tick label for a count such as a parameter number: 10M, 1.5B.
pub fn count_tick(v: f64) -> String {
    let (scale, unit) = match v.abs() {
        a if a >= 1e12 => (1e12, "T"),
        a if a >= 1e9 => (1e9, "B"),
        a if a >= 1e6 => (1e6, "M"),
        a if a >= 1e3 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let x = v / scale;
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}{unit}")
    } else {
        format!("{x:.1}{unit}")
    }
}
