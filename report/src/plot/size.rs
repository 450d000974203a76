//! Model size against energy, log–log: one point per model (mean over its tasks).

use super::central::legend;
use super::style::{class_colour, count_tick, log_range, provenance_suffix, text, tick};
use super::{Figure, fail};
use crate::aggregate::ModelRow;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The size plot's data.
pub struct SizeEnergy {
    points: Vec<(String, String, String, f64, f64)>,
}

impl SizeEnergy {
    /// One point per model with a known parameter count.
    pub fn new(models: &[ModelRow]) -> Self {
        let points = models
            .iter()
            .filter_map(|m| {
                let p = m.parameters? as f64;
                (p > 0.0 && m.kwh_per_1000_mean > 0.0).then(|| {
                    (
                        format!("{}{}", m.model, provenance_suffix(&m.source)),
                        m.class.clone(),
                        m.source.clone(),
                        p,
                        m.kwh_per_1000_mean,
                    )
                })
            })
            .collect();
        Self { points }
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

impl Figure for SizeEnergy {
    fn size(&self) -> (u32, u32) {
        (1000, 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let xr = log_range(self.points.iter().map(|p| p.3));
        let yr = log_range(self.points.iter().map(|p| p.4));
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .caption("Model size and energy", text(22))
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(xr.log_scale(), yr.log_scale())
            .map_err(fail)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.05))
            .x_desc("parameters (log scale)")
            .y_desc("kWh per 1,000 inferences (log scale)")
            .x_label_formatter(&|v| count_tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .label_style(text(13))
            .axis_desc_style(text(16))
            .draw()
            .map_err(fail)?;
        let many = self.points.len() > 30;
        for (name, class, source, x, y) in &self.points {
            let colour = class_colour(class);
            let style = if source == "measured" {
                colour.filled()
            } else {
                colour.stroke_width(2)
            };
            let label = if many { String::new() } else { name.clone() };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((*x, *y))
                        + Circle::new((0, 0), 5, style)
                        + Text::new(label, (8, -6), text(11)),
                ))
                .map_err(fail)?;
        }
        legend(&mut chart, self.points.iter().any(|p| p.2 != "measured"))
    }
}
