//! Row layouts: one horizontal row per model, grouped under task headings, with the names
//! drawn to the left of the plotting area (used by the central and distribution plots).

use super::fail;
use super::style::{heading, right_aligned, text};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// One row of a row layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Row<T> {
    /// A group heading (a task).
    Heading(String),
    /// A labelled item.
    Item {
        /// Its label (a model name).
        label: String,
        /// What to draw on the row.
        value: T,
    },
}

/// Pixels per row.
pub const ROW_PX: u32 = 24;
/// Label text size.
pub const LABEL_PX: u32 = 14;

/// Rows grouped by `group` (in order of first appearance after sorting by group).
pub fn grouped<T>(mut items: Vec<(String, String, T)>, order: impl Fn(&T) -> f64) -> Vec<Row<T>> {
    items.sort_by(|a, b| a.0.cmp(&b.0).then(order(&a.2).total_cmp(&order(&b.2))));
    let mut rows = Vec::new();
    let mut current: Option<String> = None;
    for (group, label, value) in items {
        if current.as_deref() != Some(group.as_str()) {
            rows.push(Row::Heading(group.clone()));
            current = Some(group);
        }
        rows.push(Row::Item { label, value });
    }
    rows
}

/// The y coordinate of row `i` of `n` (top row highest).
pub fn y_of(i: usize, n: usize) -> f64 {
    (n - 1 - i) as f64
}

/// Width (px) the labels need, estimated with the embedded font.
pub fn label_width<DB: DrawingBackend, T>(
    root: &DrawingArea<DB, Shift>,
    rows: &[Row<T>],
) -> Result<u32, String> {
    let mut widest = 0;
    for r in rows {
        if let Row::Item { label, .. } = r {
            let (w, _) = root
                .estimate_text_size(label, &text(LABEL_PX))
                .map_err(fail)?;
            widest = widest.max(w);
        }
    }
    Ok((widest + 24).clamp(80, 520))
}

/// Draws the names, the headings and a separator above each heading.
pub fn draw_labels<DB: DrawingBackend, X: Ranged<ValueType = f64>, T>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
    rows: &[Row<T>],
    x_left: f64,
    x_right: f64,
    label_px: u32,
) -> Result<(), String> {
    let n = rows.len();
    for (i, row) in rows.iter().enumerate() {
        let y = y_of(i, n);
        match row {
            Row::Heading(name) => {
                if i > 0 {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(x_left, y + 0.5), (x_right, y + 0.5)],
                            BLACK.mix(0.3),
                        )))
                        .map_err(fail)?;
                }
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((x_left, y))
                            + Text::new(name.clone(), (-(label_px as i32) + 4, 0), heading(15)),
                    ))
                    .map_err(fail)?;
            }
            Row::Item { label, .. } => {
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((x_left, y))
                            + Text::new(label.clone(), (-8, 0), right_aligned(LABEL_PX)),
                    ))
                    .map_err(fail)?;
            }
        }
    }
    Ok(())
}
