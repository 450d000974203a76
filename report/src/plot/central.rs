//! The study's central comparison: energy per 1,000 inferences per model, with 95% CI
//! error bars, on a log axis, grouped by task, coloured by class; where the run keeps
//! `reference.csv`, the study's own figure is a hollow black diamond on the same row.

use super::rows::{ROW_PX, Row, draw_labels, grouped, label_width, y_of};
use super::style::{
    GENERAL_PURPOSE, REFERENCE_MARKER_PX, TASK_SPECIFIC, class_colour, diamond, log_axis,
    log_range, provenance_suffix, text, tick,
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

    /// How many rows have a 95% CI whose lower bound is ≤ 0, below the log axis: their bar
    /// runs to the axis' left edge and ends in an arrow there.
    pub fn below_axis(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r, Row::Item { value: p, .. } if low_below_axis(p)))
            .count()
    }

    /// The note the plot carries when [`Self::below_axis`] is not 0.
    pub fn below_axis_note(&self) -> Option<String> {
        let n = self.below_axis();
        (n > 0).then(|| format!("CI lower bound below the axis for {n} configuration(s)"))
    }

    /// The legend's name for the study's markers, when any is drawn.
    pub fn reference_label(&self) -> Option<&str> {
        self.reference_label.as_deref()
    }
}

/// Whether a point's CI has a lower bound a log axis cannot show (≤ 0).
fn low_below_axis(p: &ModelPoint) -> bool {
    p.low.is_finite() && p.high.is_finite() && p.low <= 0.0
}

/// Length of the arrow head that ends a CI bar at the axis' edge (px).
const ARROW_PX: i32 = 9;

/// An arrow head pointing left with its tip at `c` (backend pixels): a CI bar that goes
/// on below the axis.
fn arrow_left(c: (i32, i32), style: ShapeStyle) -> Polygon<(i32, i32)> {
    let (x, y) = c;
    Polygon::new(
        vec![(x, y), (x + ARROW_PX, y - 5), (x + ARROW_PX, y + 5)],
        style,
    )
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
        let axis_px = f64::from(root.dim_in_pixel().0) - 32.0 - f64::from(label_px);
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .caption("Energy per 1,000 inferences (mean, 95% CI)", text(22))
            .x_label_area_size(56)
            .y_label_area_size(label_px)
            .build_cartesian_2d(log_axis(range.clone(), axis_px), -0.5..(n as f64 - 0.5))
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
            if low_below_axis(p) {
                // The lower bound is off the log axis: the bar runs to its edge and ends
                // in an arrow, never in a cap that would pass for the bound.
                let bar = colour.stroke_width(2);
                chart
                    .draw_series([
                        EmptyElement::at((range.start, y)) + arrow_left((0, 0), colour.filled())
                    ])
                    .map_err(fail)?;
                chart
                    .draw_series([PathElement::new(vec![(range.start, y), (p.high, y)], bar)])
                    .map_err(fail)?;
                chart
                    .draw_series([EmptyElement::at((p.high, y))
                        + PathElement::new(vec![(0, -5), (0, 5)], bar)])
                    .map_err(fail)?;
            } else if p.low.is_finite() && p.high.is_finite() {
                chart
                    .draw_series(std::iter::once(ErrorBar::new_horizontal(
                        y,
                        p.low,
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
            self.below_axis_note().as_deref(),
        )
    }
}

/// Height of the legend strip under the central plot, where it hides no marker (px).
const LEGEND_STRIP_PX: u32 = 34;

/// The central plot's legend in one line under the axis: classes, the hollow-marker
/// meaning, the study's marker named by its label, and the arrow of CIs that go on below
/// the axis.
fn legend_strip<DB: DrawingBackend>(
    strip: &DrawingArea<DB, Shift>,
    left_px: i32,
    any_estimated: bool,
    reference_label: Option<&str>,
    below_axis: Option<&str>,
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
    if let Some(note) = below_axis {
        let marker = |(x, y): (i32, i32)| -> Result<(), String> {
            strip
                .draw(&arrow_left((x - 5, y), BLACK.filled()))
                .map_err(fail)
        };
        entry(&marker, note)?;
    }
    Ok(())
}

/// Class legend (and the hollow-marker meaning when something is estimated), in the
/// lower right corner.
pub fn legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    any_estimated: bool,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    legend_at(chart, any_estimated, SeriesLabelPosition::LowerRight)
}

/// Class legend at `position`.
pub fn legend_at<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    any_estimated: bool,
    position: SeriesLabelPosition,
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
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font(text(13))
        .draw()
        .map_err(fail)
}
