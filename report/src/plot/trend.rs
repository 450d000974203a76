//! A history of nightly runs: energy per inference of each configuration, run after run,
//! with 95% CI error bars.

use super::style::{palette, text, tick};
use super::{Figure, fail};
use plotters::coord::Shift;
use plotters::prelude::*;
use records::labels::FigureLabel;

/// One configuration's history: per run index, mean with CI bounds (J per inference).
pub struct Series {
    /// Configuration id (and provenance note).
    pub name: String,
    /// (run index, mean, low, high).
    pub points: Vec<(usize, f64, f64, f64)>,
    /// Provenance of each point, parallel to `points`: measured points are filled, the
    /// others hollow.
    pub provenances: Vec<FigureLabel>,
}

/// The trend figure.
pub struct Trend {
    /// Run labels on the x axis, oldest first.
    pub runs: Vec<String>,
    /// One series per configuration.
    pub series: Vec<Series>,
}

impl Figure for Trend {
    fn size(&self) -> (u32, u32) {
        (1200, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3]))
            .filter(|v| v.is_finite());
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.02).max(1e-12);
        let n = self.runs.len().max(1);
        let labels = self.runs.clone();
        let formatter = move |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .caption("Energy per inference across runs (mean, 95% CI)", text(22))
            .x_label_area_size(70)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), (lo - pad).max(0.0)..(hi + pad))
            .map_err(fail)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.05))
            .x_labels(n.min(20))
            .x_label_formatter(&formatter)
            .y_label_formatter(&|v| tick(*v))
            .x_desc("run")
            .y_desc("energy per inference (J)")
            .label_style(text(12))
            .axis_desc_style(text(16))
            .draw()
            .map_err(fail)?;
        for (i, s) in self.series.iter().enumerate() {
            let colour = palette(i);
            let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0 as f64, p.1)).collect();
            chart
                .draw_series(LineSeries::new(line, colour.stroke_width(2)))
                .map_err(fail)?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(|p| p.2.is_finite() && p.3.is_finite())
                        .map(|p| {
                            ErrorBar::new_vertical(
                                p.0 as f64,
                                p.2,
                                p.1,
                                p.3,
                                colour.stroke_width(1),
                                8,
                            )
                        }),
                )
                .map_err(fail)?;
            chart
                .draw_series(s.points.iter().enumerate().map(|(k, p)| {
                    let measured = s.provenances.get(k).is_none_or(|p| p.is_measured());
                    let style = if measured {
                        colour.filled()
                    } else {
                        colour.stroke_width(2)
                    };
                    Circle::new((p.0 as f64, p.1), 4, style)
                }))
                .map_err(fail)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .label_font(text(11))
            .draw()
            .map_err(fail)
    }
}
