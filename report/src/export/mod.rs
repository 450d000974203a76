//! Writing the computed tables: CSV, Markdown, LaTeX and JSON, one module per format.

pub mod csv;
pub mod format;
pub mod json;
pub mod latex;
pub mod markdown;
