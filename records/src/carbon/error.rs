//! Errors of reading an intensity series: the file, line, column and field, what was
//! found, what is allowed and how to fix it.

use std::path::PathBuf;

/// Why an intensity series could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// The file could not be read.
    #[error("{}: cannot read the intensity series: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A value of the file is wrong.
    #[error("{}:{line}:{column}: field `{field}`: {message}", path.display())]
    At {
        /// The file.
        path: PathBuf,
        /// Line (1-based; the header is line 1).
        line: u64,
        /// Column (1-based, the field's position in the row).
        column: usize,
        /// The column's name.
        field: String,
        /// What is wrong, what is allowed and how to fix it.
        message: String,
    },
    /// The file as a whole is unusable (no rows, a header of neither form).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}
