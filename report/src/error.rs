//! Errors of reading records and writing results.

use std::path::PathBuf;

/// Why a results folder could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A CSV file could not be parsed or written.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV error (with the line where it happened).
        source: csv::Error,
    },
    /// A JSON file could not be parsed or written.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The folder does not hold a run.
    #[error("{path} is not a joulebench results folder: {reason}")]
    NotARun {
        /// The folder.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A field of a file holds a value that cannot be used.
    #[error("{path}, line {line}, field `{field}`: {message}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The line (1-based, the header is line 1).
        line: u64,
        /// The column.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A plot could not be drawn or written.
    #[error("{path}: cannot draw the plot: {message}")]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Input that cannot be used as given (arguments, mapping files, mismatched runs).
    #[error("{0}")]
    Invalid(String),
}

impl From<records::RecordsError> for ReportError {
    fn from(e: records::RecordsError) -> Self {
        use records::RecordsError as R;
        match e {
            R::Io { path, source } => Self::Io { path, source },
            R::Csv { path, source } => Self::Csv { path, source },
            R::Json { path, source } => Self::Json { path, source },
            R::NotARun { path, reason } => Self::NotARun { path, reason },
            R::Field {
                path,
                line,
                field,
                message,
            } => Self::Field {
                path,
                line,
                field,
                message,
            },
        }
    }
}
