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

/// Where a point's name goes on a log x axis `xr`: right of the point, or left of it in
/// the axis' right third so that it stays inside the plot; its offset and style.
pub fn name_beside(x: f64, xr: &std::ops::Range<f64>) -> ((i32, i32), TextStyle<'static>) {
    let right_third = xr.start * (xr.end / xr.start).powf(2.0 / 3.0);
    if x > right_third {
        ((-10, -8), text(11).pos(Pos::new(HPos::Right, VPos::Top)))
    } else {
        ((10, -8), text(11))
    }
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

/// Least distance between two labelled ticks of a log axis (px): wider than the widest
/// label [`tick`] writes (`0.00010`, `1.0e-6`) at 13 px, with room between.
pub const MIN_TICK_PX: f64 = 64.0;

/// The ticks of a log axis over `range` (from [`log_range`]: a power of ten at each end)
/// drawn over `axis_px` pixels: (labelled, light grid). Labels sit at decades, in 1-2-5
/// steps where the range spans at most two decades, and at every 2nd, 5th, 10th… decade
/// where decades would come closer than [`MIN_TICK_PX`]; the light grid has the
/// unlabelled decades, and 2–9 × each decade where there is room.
pub fn log_ticks(range: std::ops::Range<f64>, axis_px: f64) -> (Vec<f64>, Vec<f64>) {
    let (lo, hi) = (range.start.log10(), range.end.log10());
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return (Vec::new(), Vec::new());
    }
    let decades = hi - lo;
    let px_per_decade = axis_px.max(1.0) / decades;
    let (first, last) = (lo.ceil() as i32, hi.floor() as i32);
    let inside = |v: f64| v >= range.start * (1.0 - 1e-9) && v <= range.end * (1.0 + 1e-9);
    let all_decades: Vec<f64> = (first..=last).map(|k| 10f64.powi(k)).collect();
    let minors: Vec<f64> = if px_per_decade >= 4.0 * MIN_TICK_PX / 2.0 {
        (first - 1..=last)
            .flat_map(|k| (2..=9).map(move |m| f64::from(m) * 10f64.powi(k)))
            .filter(|v| inside(*v))
            .collect()
    } else {
        Vec::new()
    };
    // 1-2-5 steps: the closest pair (1 to 2, or 5 to 10) is log10(2) of a decade apart.
    if decades <= 2.0 + 1e-9 && px_per_decade * 2f64.log10() >= MIN_TICK_PX {
        let labelled: Vec<f64> = (first - 1..=last)
            .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
            .filter(|v| inside(*v))
            .collect();
        let light = minors
            .into_iter()
            .filter(|v| !labelled.iter().any(|l| (l / v - 1.0).abs() < 1e-9))
            .collect();
        return (labelled, light);
    }
    let step = [1, 2, 5, 10, 20, 50, 100]
        .into_iter()
        .find(|&s| px_per_decade * f64::from(s) >= MIN_TICK_PX)
        .unwrap_or(100);
    let labelled: Vec<f64> = (first..=last)
        .filter(|k| k.rem_euclid(step) == 0)
        .map(|k| 10f64.powi(k))
        .collect();
    let mut light: Vec<f64> = all_decades
        .into_iter()
        .filter(|v| !labelled.contains(v))
        .collect();
    light.extend(minors);
    (labelled, light)
}

/// A log axis over `range` drawn over about `axis_px` pixels, with the ticks of
/// [`log_ticks`] (plotters' own put up to nine labels in one decade, overlapping).
pub fn log_axis(
    range: std::ops::Range<f64>,
    axis_px: f64,
) -> plotters::coord::combinators::WithKeyPoints<LogCoord<f64>> {
    let (labelled, light) = log_ticks(range.clone(), axis_px);
    range
        .log_scale()
        .with_key_points(labelled)
        .with_light_points(light)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_right_third_of_a_log_axis_go_left_of_their_point() {
        // 1e7..1e8: the right third starts at 10^(7 + 2/3) ≈ 4.6e7.
        let xr = 1e7..1e8;
        let (offset, style) = name_beside(8.2e7, &xr);
        assert!(offset.0 < 0, "left of a point near the right edge");
        assert!(matches!(style.pos.h_pos, HPos::Right));
        let (offset, style) = name_beside(3e7, &xr);
        assert!(offset.0 > 0, "right of a point in the left two thirds");
        assert!(matches!(style.pos.h_pos, HPos::Left));
    }
}
