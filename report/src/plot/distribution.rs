//! Per-request energy distributions: one box per configuration (quartiles, median,
//! whiskers at the 5th and 95th percentiles), on a log axis, grouped by task.

use super::rows::{ROW_PX, Row, draw_labels, grouped, label_width, y_of};
use super::style::{class_colour, log_axis, log_range, provenance_suffix, text, tick};
use super::{Figure, fail};
use crate::configs::Configuration;
use crate::scan::RequestFacts;
use crate::stats::quantile_sorted;
use plotters::coord::Shift;
use plotters::prelude::*;
use records::labels::ClassLabel;

/// Percentiles of one configuration's per-request energies (J).
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    class: ClassLabel,
    p: [f64; 5],
}

/// The distribution plot's data.
pub struct RequestEnergy {
    rows: Vec<Row<Spread>>,
}

impl RequestEnergy {
    /// Percentiles per configuration that has per-request energies.
    pub fn new(configs: &[Configuration], facts: &[RequestFacts]) -> Self {
        let items = configs
            .iter()
            .zip(facts)
            .filter(|(_, f)| !f.request_energy_j.is_empty())
            .map(|(c, f)| {
                let mut v = f.request_energy_j.clone();
                v.sort_by(f64::total_cmp);
                let p = [0.05, 0.25, 0.5, 0.75, 0.95].map(|q| quantile_sorted(&v, q));
                let label = format!(
                    "{} · {}{}",
                    c.info.model,
                    c.info.dataset,
                    provenance_suffix(c.label())
                );
                (
                    c.info.task.clone(),
                    label,
                    Spread {
                        class: c.info.class,
                        p,
                    },
                )
            })
            .collect();
        Self {
            rows: grouped(items, |s| s.p[2]),
        }
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Figure for RequestEnergy {
    fn size(&self) -> (u32, u32) {
        (1100, 150 + ROW_PX * self.rows.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let n = self.rows.len();
        let range = log_range(self.rows.iter().flat_map(|r| match r {
            Row::Item { value, .. } => value.p.to_vec(),
            Row::Heading(_) => Vec::new(),
        }));
        let label_px = label_width(root, &self.rows)?;
        let axis_px = f64::from(root.dim_in_pixel().0) - 32.0 - f64::from(label_px);
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .caption(
                "Energy of each request (box: quartiles; whiskers: 5th–95th percentile)",
                text(20),
            )
            .x_label_area_size(56)
            .y_label_area_size(label_px)
            .build_cartesian_2d(log_axis(range.clone(), axis_px), -0.5..(n as f64 - 0.5))
            .map_err(fail)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.05))
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("energy per request (J, log scale), integrated from sampled power")
            .x_label_formatter(&|v| tick(*v))
            .label_style(text(13))
            .axis_desc_style(text(16))
            .draw()
            .map_err(fail)?;
        draw_labels(&mut chart, &self.rows, range.start, range.end, label_px)?;
        let clamp = |v: f64| v.clamp(range.start, range.end);
        for (i, row) in self.rows.iter().enumerate() {
            let Row::Item { value: s, .. } = row else {
                continue;
            };
            let y = y_of(i, n);
            let colour = class_colour(s.class);
            let [p5, p25, p50, p75, p95] = s.p.map(clamp);
            chart
                .draw_series([
                    PathElement::new(vec![(p5, y), (p25, y)], colour.stroke_width(1)),
                    PathElement::new(vec![(p75, y), (p95, y)], colour.stroke_width(1)),
                    PathElement::new(
                        vec![(p50, y - 0.35), (p50, y + 0.35)],
                        BLACK.stroke_width(2),
                    ),
                ])
                .map_err(fail)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(p25, y - 0.3), (p75, y + 0.3)],
                    colour.mix(0.35).filled(),
                )))
                .map_err(fail)?;
        }
        Ok(())
    }
}
