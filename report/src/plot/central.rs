//! The study's central comparison: energy per 1,000 inferences per model, with 95% CI
//! error bars, on a log axis, grouped by task, coloured by class.

use super::rows::{ROW_PX, Row, draw_labels, grouped, label_width, y_of};
use super::style::{
    GENERAL_PURPOSE, TASK_SPECIFIC, class_colour, log_range, provenance_suffix, text, tick,
};
use super::{Figure, fail};
use crate::configs::Configuration;
use crate::stats::Describe;
use crate::summary::J_PER_KWH;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// One model on one task: kWh per 1,000 inferences over its repetitions on all datasets.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPoint {
    /// Class of the model.
    pub class: String,
    /// `measured`, `estimated` or `mixed`.
    pub source: String,
    /// Mean (kWh per 1,000).
    pub mean: f64,
    /// Lower 95% bound (NaN with one repetition).
    pub low: f64,
    /// Upper 95% bound.
    pub high: f64,
}

/// Class, kWh per 1,000 of every repetition, and sources of one model on one task.
type Group = (String, Vec<f64>, Vec<String>);

/// The central plot's data.
pub struct EnergyPerModel {
    rows: Vec<Row<ModelPoint>>,
}

impl EnergyPerModel {
    /// Pools each model's repetitions per task.
    pub fn new(configs: &[Configuration]) -> Self {
        let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
        for c in configs {
            let entry = groups
                .entry((c.info.task.clone(), c.info.model.clone()))
                .or_insert_with(|| (c.info.class.clone(), Vec::new(), Vec::new()));
            entry.1.extend(
                c.usable()
                    .map(|r| r.energy_per_inference_j() * 1000.0 / J_PER_KWH),
            );
            entry.2.push(crate::summary::source_label(c));
        }
        let items = groups
            .into_iter()
            .filter_map(|((task, model), (class, values, sources))| {
                let d = Describe::of(&values)?;
                let source = if sources.iter().all(|s| *s == sources[0]) {
                    sources[0].clone()
                } else {
                    "mixed".to_string()
                };
                let label = format!("{model}{}", provenance_suffix(&source));
                Some((
                    task,
                    label,
                    ModelPoint {
                        class,
                        source,
                        mean: d.mean,
                        low: d.ci95_low,
                        high: d.ci95_high,
                    },
                ))
            })
            .collect();
        Self {
            rows: grouped(items, |p| p.mean),
        }
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Figure for EnergyPerModel {
    fn size(&self) -> (u32, u32) {
        (1100, 150 + ROW_PX * self.rows.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let n = self.rows.len();
        let points = self.rows.iter().filter_map(|r| match r {
            Row::Item { value, .. } => Some(value),
            Row::Heading(_) => None,
        });
        let range = log_range(points.clone().flat_map(|p| [p.mean, p.low, p.high]));
        let label_px = label_width(root, &self.rows)?;
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .caption("Energy per 1,000 inferences (mean, 95% CI)", text(22))
            .x_label_area_size(56)
            .y_label_area_size(label_px)
            .build_cartesian_2d(range.clone().log_scale(), -0.5..(n as f64 - 0.5))
            .map_err(fail)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.05))
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("kWh per 1,000 inferences (log scale)")
            .x_label_formatter(&|v| tick(*v))
            .label_style(text(13))
            .axis_desc_style(text(16))
            .draw()
            .map_err(fail)?;
        draw_labels(&mut chart, &self.rows, range.start, range.end, label_px)?;
        for (i, row) in self.rows.iter().enumerate() {
            let Row::Item { value: p, .. } = row else {
                continue;
            };
            let y = y_of(i, n);
            let colour = class_colour(&p.class);
            if p.low.is_finite() && p.high.is_finite() {
                let low = p.low.max(range.start);
                chart
                    .draw_series(std::iter::once(ErrorBar::new_horizontal(
                        y,
                        low,
                        p.mean,
                        p.high,
                        colour.stroke_width(2),
                        10,
                    )))
                    .map_err(fail)?;
            }
            let style = if p.source == "measured" {
                colour.filled()
            } else {
                colour.stroke_width(2)
            };
            chart
                .draw_series(std::iter::once(Circle::new((p.mean, y), 5, style)))
                .map_err(fail)?;
        }
        legend(&mut chart, points.clone().any(|p| p.source != "measured"))
    }
}

/// Class legend (and the hollow-marker meaning when something is estimated).
pub fn legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    any_estimated: bool,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(fail)?
        .label("task-specific")
        .legend(|(x, y)| Circle::new((x, y), 5, TASK_SPECIFIC.filled()));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(fail)?
        .label("general-purpose")
        .legend(|(x, y)| Circle::new((x, y), 5, GENERAL_PURPOSE.filled()));
    if any_estimated {
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(fail)?
            .label("hollow: (partly) estimated")
            .legend(|(x, y)| Circle::new((x, y), 5, BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font(text(13))
        .draw()
        .map_err(fail)
}
