//! Errors of model loading and inference.

use std::path::PathBuf;

/// An error while loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor operation failed (shape mismatch, missing weight, ...).
    #[error("tensor operation failed: {0}")]
    Tensor(candle_core::Error),
    /// A file of a model folder could not be read.
    #[error("cannot read {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, so not also a `source()`).
        cause: std::io::Error,
    },
    /// A `config.json` could not be understood.
    #[error("bad model config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `tokenizer.json` could not be loaded or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A model specification given on the command line is not understood.
    #[error("bad model spec `{spec}`: {message}")]
    Spec {
        /// The spec as given.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// The input is longer than the model accepts.
    #[error("input has {tokens} tokens, more than the {limit} this model accepts")]
    InputTooLong {
        /// Tokens in the input (plus requested new tokens, for generation).
        tokens: usize,
        /// The limit.
        limit: usize,
    },
    /// A request parameter is out of range.
    #[error("{0}")]
    BadParameter(String),
}

/// The candle error is in the message, so it is not also a `source()` (`{e:#}` would print it twice).
impl From<candle_core::Error> for ModelError {
    fn from(e: candle_core::Error) -> Self {
        Self::Tensor(e)
    }
}

/// Shorthand for results of model code.
pub type Result<T> = std::result::Result<T, ModelError>;
