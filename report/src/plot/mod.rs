//! Plots with plotters, one module per figure, drawn with the embedded DejaVu Sans font
//! (no system font is needed); `render` writes each as PNG and SVG.

pub mod central;
pub mod distribution;
pub mod frontier;
pub mod latency;
pub mod load_frontier;
pub mod rows;
pub mod savings;
pub mod scatter;
pub mod size;
pub mod style;
pub mod timeline;
pub mod trend;

use crate::ReportError;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::OnceLock;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family name every plot asks for; it resolves to the embedded font.
pub const FONT: &str = "sans-serif";

/// Registers the embedded font with plotters once per process.
pub fn register_font() -> Result<(), ReportError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        [FontStyle::Normal, FontStyle::Bold]
            .into_iter()
            .all(|s| plotters::style::register_font(FONT, s, FONT_BYTES).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(ReportError::Invalid(
            "the embedded font could not be loaded (report/assets/DejaVuSans.ttf)".to_string(),
        ))
    }
}

/// A figure that can draw itself on any plotters backend.
pub trait Figure {
    /// Size in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws on a white root area.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// A plot drawn for a report: the files written and its SVG text.
#[derive(Clone, Debug, PartialEq)]
pub struct DrawnPlot {
    /// File stem (`energy_per_1000`).
    pub stem: String,
    /// The PNG and SVG files.
    pub files: Vec<std::path::PathBuf>,
    /// The SVG document, as written to the `.svg` file.
    pub svg: String,
}

/// Turns any drawing error into a message.
pub fn fail<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// What the plots of `report` cannot show and say in a note, for the caller to repeat
/// (the CLI prints each on stderr): e.g. CIs whose lower bound is below a log axis.
pub fn notes(report: &crate::Report) -> Vec<String> {
    let central = central::EnergyPerModel::beside(&report.configs, report.beside_study.as_deref());
    central
        .below_axis_note()
        .map(|note| {
            format!(
                "energy_per_1000: {note} (a lower bound ≤ 0 cannot be drawn on a log axis: the bar ends in an arrow at the axis' edge)"
            )
        })
        .into_iter()
        .collect()
}

/// A file-name-safe version of a configuration id.
pub fn file_stem(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
