//! The study's central comparison: energy per 1,000 inferences per model, with 95% CI
//! error bars, on a log axis, grouped by task, coloured by class; where the run keeps
//! `reference.csv`, the study's own figure is a hollow black diamond on the same row.

use super::rows::{ROW_PX, Row, draw_labels, grouped, label_width, y_of};
use super::style::{
    GENERAL_PURPOSE, REFERENCE_MARKER_PX, TASK_SPECIFIC, class_colour, diamond, log_range,
    provenance_suffix, text, tick,
};
use super::{Figure, fail};
use crate::aggregate::pool;
use crate::configs::Configuration;
use crate::reference::ComparisonRow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use records::labels::{ClassLabel, FigureLabel};

/// One model on one task: kWh per 1,000 inferences over its repetitions on all datasets.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPoint {
    /// Class of the model.
    pub class: ClassLabel,
    /// `measured`, `estimated` or `mixed`.
    pub provenance: FigureLabel,
    /// Mean (kWh per 1,000).
    pub mean: f64,
    /// Lower 95% bound (NaN with one repetition).
    pub low: f64,
    /// Upper 95% bound.
    pub high: f64,
    /// The study's figure for the model it stands for (kWh per 1,000), when matched.
    pub reference: Option<f64>,
}

/// The central plot's data.
pub struct EnergyPerModel {
    rows: Vec<Row<ModelPoint>>,
    reference_label: Option<String>,
}

impl EnergyPerModel {
    /// Pools each model's repetitions per task.
    pub fn new(configs: &[Configuration]) -> Self {
        Self::beside(configs, None)
    }

    /// Pools each model's repetitions per task, with the study's figure on the same row
    /// where the comparison has one.
    pub fn beside(configs: &[Configuration], study: Option<&[ComparisonRow]>) -> Self {
        let study = study.unwrap_or_default();
        let items = pool(configs)
            .into_iter()
            .map(|p| {
                let label = format!("{}{}", p.model, provenance_suffix(p.provenance));
                let reference = study
                    .iter()
                    .find(|r| r.model == p.model && r.task == p.task)
                    .map(|r| r.reference_kwh_per_1000);
                let point = ModelPoint {
                    class: p.class,
                    provenance: p.provenance,
                    mean: p.mean,
                    low: p.low,
                    high: p.high,
                    reference,
                };
                (p.task, label, point)
            })
            .collect();
        Self {
            rows: grouped(items, |p| p.mean),
            reference_label: study_label(study),
        }
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows: task headings and one point per model.
    pub fn rows(&self) -> &[Row<ModelPoint>] {
        &self.rows
    }

    /// The log axis's range: every mean, CI bound and study figure inside it.
    pub fn x_range(&self) -> std::ops::Range<f64> {
        log_range(self.rows.iter().flat_map(|r| match r {
            Row::Item { value: p, .. } => {
                vec![p.mean, p.low, p.high, p.reference.unwrap_or(f64::NAN)]
            }
            Row::Heading(_) => Vec::new(),
        }))
    }

    /// The legend's name for the study's markers, when any is drawn.
    pub fn reference_label(&self) -> Option<&str> {
        self.reference_label.as_deref()
    }
}

/// The legend's name for the study's markers: its label, marked when (partly) estimated.
fn study_label(study: &[ComparisonRow]) -> Option<String> {
    let first = study.first()?;
    let provenance = FigureLabel::combine(study.iter().map(|r| r.reference_provenance));
    Some(format!(
        "{}{}",
        first.reference_label,
        provenance_suffix(provenance)
    ))
}

impl Figure for EnergyPerModel {
    fn size(&self) -> (u32, u32) {
        (
            1100,
            150 + LEGEND_STRIP_PX + ROW_PX * self.rows.len() as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let height = root.dim_in_pixel().1;
        let (root, strip) = root.split_vertically(height.saturating_sub(LEGEND_STRIP_PX));
        let root = &root;
        let n = self.rows.len();
        let points = self.rows.iter().filter_map(|r| match r {
            Row::Item { value, .. } => Some(value),
            Row::Heading(_) => None,
        });
        let range = self.x_range();
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
            let colour = class_colour(p.class);
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
            let style = if p.provenance.is_measured() {
                colour.filled()
            } else {
                colour.stroke_width(2)
            };
            chart
                .draw_series(std::iter::once(Circle::new((p.mean, y), 5, style)))
                .map_err(fail)?;
            if let Some(r) = p.reference {
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((r, y)) + diamond((0, 0), REFERENCE_MARKER_PX),
                    ))
                    .map_err(fail)?;
            }
        }
        let drawn = points.clone().any(|p| p.reference.is_some());
        legend_strip(
            &strip,
            label_px as i32 + 16,
            points.clone().any(|p| !p.provenance.is_measured()),
            self.reference_label.as_deref().filter(|_| drawn),
        )
    }
}

/// Height of the legend strip under the central plot, where it hides no marker (px).
const LEGEND_STRIP_PX: u32 = 34;

/// The central plot's legend in one line under the axis: classes, the hollow-marker
/// meaning, and the study's marker named by its label.
fn legend_strip<DB: DrawingBackend>(
    strip: &DrawingArea<DB, Shift>,
    left_px: i32,
    any_estimated: bool,
    reference_label: Option<&str>,
) -> Result<(), String> {
    let y = (LEGEND_STRIP_PX / 2) as i32;
    let style = text(13).pos(Pos::new(HPos::Left, VPos::Center));
    let mut x = left_px;
    let mut entry =
        |marker: &dyn Fn((i32, i32)) -> Result<(), String>, label: &str| -> Result<(), String> {
            marker((x, y))?;
            strip.draw_text(label, &style, (x + 12, y)).map_err(fail)?;
            let (w, _) = strip.estimate_text_size(label, &style).map_err(fail)?;
            x += 12 + w as i32 + 28;
            Ok(())
        };
    let circle = |colour: ShapeStyle| {
        move |c: (i32, i32)| -> Result<(), String> {
            strip.draw(&Circle::new(c, 5, colour)).map_err(fail)
        }
    };
    entry(
        &circle(TASK_SPECIFIC.filled()),
        ClassLabel::TaskSpecific.as_str(),
    )?;
    entry(
        &circle(GENERAL_PURPOSE.filled()),
        ClassLabel::GeneralPurpose.as_str(),
    )?;
    if any_estimated {
        entry(&circle(BLACK.stroke_width(2)), "hollow: (partly) estimated")?;
    }
    if let Some(label) = reference_label {
        let marker = |c: (i32, i32)| -> Result<(), String> {
            strip.draw(&diamond(c, REFERENCE_MARKER_PX)).map_err(fail)
        };
        entry(&marker, label)?;
    }
    Ok(())
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
        .label(ClassLabel::TaskSpecific.as_str())
        .legend(|(x, y)| Circle::new((x, y), 5, TASK_SPECIFIC.filled()));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(fail)?
        .label(ClassLabel::GeneralPurpose.as_str())
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
