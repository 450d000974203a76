//! Latency against energy: one point per configuration (median latency, mean energy per
//! inference), log–log, coloured by class and named.

use super::central::legend;
use super::style::{class_colour, log_range, provenance_suffix, text, tick};
use super::{Figure, fail};
use crate::summary::SummaryRow;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The latency plot's data.
pub struct LatencyEnergy {
    points: Vec<(String, String, String, f64, f64)>,
}

impl LatencyEnergy {
    /// One point per configuration with a latency.
    pub fn new(rows: &[SummaryRow]) -> Self {
        let points = rows
            .iter()
            .filter(|r| {
                r.latency_ms_p50.is_finite() && r.latency_ms_p50 > 0.0 && r.energy_j_mean > 0.0
            })
            .map(|r| {
                (
                    format!("{}{}", r.model, provenance_suffix(&r.source)),
                    r.class.clone(),
                    r.source.clone(),
                    r.latency_ms_p50,
                    r.energy_j_mean,
                )
            })
            .collect();
        Self { points }
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

impl Figure for LatencyEnergy {
    fn size(&self) -> (u32, u32) {
        (1000, 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let xr = log_range(self.points.iter().map(|p| p.3));
        let yr = log_range(self.points.iter().map(|p| p.4));
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .caption("Latency and energy per configuration", text(22))
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(xr.log_scale(), yr.log_scale())
            .map_err(fail)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.05))
            .x_desc("median latency (ms, log scale)")
            .y_desc("energy per inference (J, log scale)")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .label_style(text(13))
            .axis_desc_style(text(16))
            .draw()
            .map_err(fail)?;
        for (name, class, source, x, y) in &self.points {
            let colour = class_colour(class);
            let style = if source == "measured" {
                colour.filled()
            } else {
                colour.stroke_width(2)
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((*x, *y))
                        + Circle::new((0, 0), 5, style)
                        + Text::new(name.clone(), (8, -6), text(11)),
                ))
                .map_err(fail)?;
        }
        legend(&mut chart, self.points.iter().any(|p| p.2 != "measured"))
    }
}
