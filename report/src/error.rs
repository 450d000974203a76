//! Errors of reading records and writing results.

use std::path::PathBuf;

/// Why a results folder could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file of the run folder could not be read or written, or holds an unusable value.
    #[error(transparent)]
    Records(#[from] records::RecordsError),
    /// A plot could not be drawn or written.
    #[error("{path}: cannot draw the plot: {message}")]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A report could not be serialised into a format.
    #[error("cannot serialise the report as {format}: {message}")]
    Serialize {
        /// The format.
        format: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Input that cannot be used as given (arguments, mapping files, mismatched runs).
    #[error("{0}")]
    Invalid(String),
}
