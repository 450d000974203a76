//! `reference.csv`: the study figure each configuration stands beside, kept in the run
//! folder from the start so that a report never needs the suite or its study table.

use crate::RecordsError;
use crate::files::REFERENCE_CSV;
use crate::table_io::{read_csv, write_csv};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One row of `reference.csv`: a configuration and the study figure it stands beside.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRow {
    /// Configuration id (`model@dataset`).
    pub config: String,
    /// Model name in the suite.
    pub model: String,
    /// Task name.
    pub task: String,
    /// Dataset name in the suite.
    pub dataset: String,
    /// The study's model the measured one stands for.
    pub reference_model: String,
    /// The study's dataset, or `mean of a, b, c` over the study's datasets of the task.
    pub reference_dataset: String,
    /// The study's kWh per 1,000 inferences.
    pub kwh_per_1000_mean: f64,
    /// Standard deviation over the study's runs (kWh per 1,000); NaN with one run.
    pub kwh_per_1000_std: f64,
    /// The study's runs behind the figure.
    pub runs: u64,
    /// `measured`, `estimated` or `mixed`: how the study's figure was obtained (column
    /// `source`).
    #[serde(rename = "source")]
    pub provenance: crate::labels::FigureLabel,
    /// How tables and plots name the study's figures (the suite's `[reference] label`).
    pub label: String,
    /// What to know about the study's setup (the suite's `[reference] note`); empty
    /// without one, and in a `reference.csv` written before the column existed.
    #[serde(default)]
    pub note: String,
    /// The study's quality metric for the figure (`accuracy`, `f1`, `rouge`); empty without
    /// a study quality figure.
    #[serde(default)]
    pub reference_quality_metric: String,
    /// The study's score (0–1), when it has one.
    #[serde(default)]
    pub reference_quality: Option<f64>,
    /// Where the study's score comes from (its file and column).
    #[serde(default)]
    pub reference_quality_source: String,
}

/// The rows of `reference.csv` in `dir`; `None` when the run has none.
pub fn load(dir: &Path) -> Result<Option<Vec<ReferenceRow>>, RecordsError> {
    let path = dir.join(REFERENCE_CSV);
    if !path.is_file() {
        return Ok(None);
    }
    let mut rows = Vec::new();
    for (i, row) in read_csv::<ReferenceRow>(&path)?.enumerate() {
        let row = row?;
        if !(row.kwh_per_1000_mean.is_finite() && row.kwh_per_1000_mean > 0.0) {
            return Err(RecordsError::Field {
                path: path.clone(),
                line: i as u64 + 2,
                field: "kwh_per_1000_mean".into(),
                message: format!(
                    "expected a positive number of kWh, found {}",
                    row.kwh_per_1000_mean
                ),
            });
        }
        rows.push(row);
    }
    Ok(Some(rows))
}

/// Writes `reference.csv` into `dir` (with its header, also when no row matched).
pub fn write(dir: &Path, rows: &[ReferenceRow]) -> Result<(), RecordsError> {
    write_csv(&dir.join(REFERENCE_CSV), rows)
}
