//! The CSV tables of a report.

use crate::ReportError;
use crate::files::{DOMAINS_CSV, MODELS_CSV, SUMMARY_CSV, TASKS_CSV};
use crate::render::Report;
use crate::table_io::write_csv;
use std::path::Path;

/// Writes `summary.csv`, `domains.csv`, `tasks.csv` and `models.csv` into `dir`.
pub fn write(dir: &Path, report: &Report) -> Result<(), ReportError> {
    write_csv(&dir.join(SUMMARY_CSV), &report.summary)?;
    write_csv(&dir.join(DOMAINS_CSV), &report.domains)?;
    write_csv(&dir.join(TASKS_CSV), &report.tasks)?;
    write_csv(&dir.join(MODELS_CSV), &report.models)
}
