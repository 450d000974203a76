//! Errors of reading and writing the files of a run folder.
//!
//! A message embeds its cause's text (the cause is not also the error's `source()`, which
//! `{e:#}` would print a second time).

use std::path::PathBuf;

/// Why a file of a run folder could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// A file could not be opened, read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A CSV file could not be parsed or written.
    #[error("{path}: {cause}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV error (with the line where it happened).
        cause: csv::Error,
    },
    /// A JSON file could not be parsed or written.
    #[error("{path}: {cause}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        cause: serde_json::Error,
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
    /// A row of a file holds a value that cannot be used.
    #[error("{path}, line {line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// The line (1-based, the header is line 1).
        line: u64,
        /// What is wrong, naming what was expected.
        message: String,
    },
    /// A file that always starts with its header line is empty (0 bytes).
    #[error(
        "{path} is empty, without even its header line: the file is corrupted (joulebench writes the header when it creates the file); resume the run (`joulebench run --resume DIR`), which writes the header and measures the repetitions it lacks"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
}
