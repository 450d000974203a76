//! Where a dataset's inputs are and how to read them, as a suite gives them.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// File format of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet (uncompressed or Snappy), as Hugging Face publishes datasets.
    Parquet,
}

/// `[[datasets]]`, checked: a local file of inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSource {
    /// Name in records and plots.
    pub name: String,
    /// Task the dataset is for.
    pub task: String,
    /// The file, resolved against the suite's folder.
    pub path: PathBuf,
    /// Its format (given, or from the file's extension).
    pub format: DatasetFormat,
    /// Template placeholder → column name.
    pub fields: BTreeMap<String, String>,
    /// Rows to use at most (after offset and shuffle).
    pub limit: Option<usize>,
    /// Rows to skip from the start of the file.
    pub offset: usize,
    /// Shuffle seed; rows keep file order when absent.
    pub seed: Option<u64>,
    /// The study dataset it stands for (a `dataset` of the `[reference]` table).
    pub reference: Option<String>,
    /// The field holding each row's reference answers (`fields.expected`), when mapped.
    pub expected: Option<String>,
    /// How answers are scored against them; set exactly when `expected` is.
    pub scorer: Option<records::scoring::Scorer>,
}
