//! Serialising a [`Report`]: one [`Exporter`] per format (CSV tables, Markdown, LaTeX,
//! JSON, HTML, OpenMetrics, CodeCarbon's CSV), each turning the report into the bytes of one
//! file. Writing them is `render`'s job.

pub mod codecarbon;
pub mod csv;
pub mod format;
pub mod html;
pub mod json;
pub mod latex;
pub mod markdown;
mod markdown_carbon;
mod markdown_fidelity;
mod markdown_quality;
mod markdown_streams;
pub mod openmetrics;
pub mod study_table;

use crate::ReportError;
use crate::model::Report;

/// Serialises a report into the bytes of one file.
pub trait Exporter {
    /// The file's bytes.
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ReportError>;
}
