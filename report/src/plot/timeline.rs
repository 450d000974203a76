//! Power over time within each repetition of a configuration, one panel per repetition,
//! one line per domain, with a tick at the start of each request.

use super::style::{palette, provenance_suffix, text};
use super::{Figure, fail};
use crate::timeline::Timeline;
use plotters::coord::Shift;
use plotters::prelude::*;
use records::labels::FigureLabel;

/// Most panels in one figure.
pub const MAX_PANELS: usize = 10;

/// The timeline figure of one configuration.
pub struct PowerTimeline<'a> {
    title: String,
    panels: Vec<&'a Timeline>,
    domains: Vec<String>,
    points: usize,
    total: usize,
}

impl<'a> PowerTimeline<'a> {
    /// The figure of `panels` (the configuration's repetitions), with `domains` named as
    /// `source/domain` and the configuration's provenance in `provenance`.
    pub fn new(
        config: &str,
        provenance: FigureLabel,
        panels: Vec<&'a Timeline>,
        domains: Vec<String>,
        points: usize,
    ) -> Self {
        let total = panels.len();
        Self {
            title: format!(
                "Power during each repetition: {config}{}",
                provenance_suffix(provenance)
            ),
            panels: panels.into_iter().take(MAX_PANELS).collect(),
            domains,
            points,
            total,
        }
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.panels.is_empty()
    }
}

impl Figure for PowerTimeline<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 90 + 190 * self.panels.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let title = if self.total > self.panels.len() {
            format!(
                "{} (first {} of {})",
                self.title,
                self.panels.len(),
                self.total
            )
        } else {
            self.title.clone()
        };
        let root = root.titled(&title, text(20)).map_err(fail)?;
        let areas = root.split_evenly((self.panels.len().max(1), 1));
        for (i, (area, t)) in areas.iter().zip(&self.panels).enumerate() {
            panel(area, t, &self.domains, self.points, i == 0)?;
        }
        Ok(())
    }
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Timeline,
    domains: &[String],
    points: usize,
    with_legend: bool,
) -> Result<(), String> {
    let span_s = ((t.t_end_ns - t.t_start_ns) as f64 * 1e-9).max(1e-9);
    let series: Vec<(usize, Vec<(f64, f64)>)> = (0..t.buckets.len())
        .map(|d| {
            let line = t
                .power_w(d)
                .into_iter()
                .enumerate()
                .filter_map(|(i, p)| p.map(|p| (t.bucket_time_s(i, points), p)))
                .collect::<Vec<_>>();
            (d, line)
        })
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, l)| l.iter().map(|p| p.1))
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .margin_right(24)
        .caption(format!("repetition {}", t.repetition), text(14))
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..span_s, 0.0..top)
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc("time since the repetition started (s)")
        .y_desc("power (W)")
        .light_line_style(BLACK.mix(0.04))
        .label_style(text(12))
        .axis_desc_style(text(13))
        .draw()
        .map_err(fail)?;
    // Request starts: ticks along the top edge of the panel.
    let tick_h = top * 0.08;
    chart
        .draw_series(t.marks_s.iter().map(|&m| {
            let x = f64::from(m);
            PathElement::new(vec![(x, top), (x, top - tick_h)], BLACK.mix(0.6))
        }))
        .map_err(fail)?;
    for (d, line) in series {
        let colour = palette(d);
        let name = domains
            .get(d)
            .cloned()
            .unwrap_or_else(|| format!("domain {d}"));
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))
            .map_err(fail)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
    }
    if !with_legend {
        return Ok(());
    }
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
        .map_err(fail)?
        .label("request start")
        .legend(|(x, y)| PathElement::new(vec![(x + 8, y - 5), (x + 8, y + 5)], BLACK.mix(0.6)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font(text(11))
        .draw()
        .map_err(fail)
}
