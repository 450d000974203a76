//! Log–log scatter of named points coloured by class, hollow where estimated: the latency
//! and size plots draw through it.

use super::central::legend;
use super::fail;
use super::style::{class_colour, log_axis, log_range, name_beside, text, tick};
use plotters::coord::Shift;
use plotters::prelude::*;
use records::labels::{ClassLabel, FigureLabel};

/// One point: (label, class, provenance, x, y).
pub type Point = (String, ClassLabel, FigureLabel, f64, f64);

/// What a scatter says: caption, axis descriptions and the x-axis tick format.
pub struct Axes {
    /// Caption above the chart.
    pub caption: &'static str,
    /// X-axis description.
    pub x_desc: &'static str,
    /// Y-axis description.
    pub y_desc: &'static str,
    /// X-axis tick labels.
    pub x_tick: fn(f64) -> String,
}

/// A second x for a point: (x, the point's x, its y, its class), drawn as a hollow
/// marker joined to the point by a line (a model's active parameters beside its total).
pub type Companion = (f64, f64, f64, ClassLabel);

/// Draws `points` on log–log axes with a class legend; each point is named when `named`.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[Point],
    axes: &Axes,
    named: bool,
) -> Result<(), String> {
    draw_with(root, points, &[], axes, named)
}

/// [`draw`], with `companions`: hollow markers joined to their points by a line.
pub fn draw_with<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[Point],
    companions: &[Companion],
    axes: &Axes,
    named: bool,
) -> Result<(), String> {
    let xr = log_range(
        points
            .iter()
            .map(|p| p.3)
            .chain(companions.iter().map(|c| c.0)),
    );
    // The plotting area: the root less margins (2 × 20), label areas (80 left, 56 below)
    // and the caption (about 30).
    let (width, height) = root.dim_in_pixel();
    let (width, height) = (f64::from(width), f64::from(height));
    let yr = log_range(points.iter().map(|p| p.4));
    let mut chart = ChartBuilder::on(root)
        .margin(20)
        .caption(axes.caption, text(22))
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(
            log_axis(xr.clone(), width - 120.0),
            log_axis(yr, height - 126.0),
        )
        .map_err(fail)?;
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.05))
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_label_formatter(&|v| (axes.x_tick)(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(text(13))
        .axis_desc_style(text(16))
        .draw()
        .map_err(fail)?;
    for (x, x_point, y, class) in companions {
        let colour = class_colour(*class);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(*x, *y), (*x_point, *y)],
                colour.mix(0.6).stroke_width(1),
            )))
            .map_err(fail)?;
        chart
            .draw_series(std::iter::once(Circle::new(
                (*x, *y),
                4,
                colour.stroke_width(1),
            )))
            .map_err(fail)?;
    }
    for (name, class, provenance, x, y) in points {
        let colour = class_colour(*class);
        let style = if provenance.is_measured() {
            colour.filled()
        } else {
            colour.stroke_width(2)
        };
        let label = if named { name.clone() } else { String::new() };
        let (offset, label_style) = name_beside(*x, &xr);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((*x, *y))
                    + Circle::new((0, 0), 5, style)
                    + Text::new(label, offset, label_style),
            ))
            .map_err(fail)?;
    }
    legend(&mut chart, points.iter().any(|p| !p.2.is_measured()))
}
