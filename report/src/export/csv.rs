//! The CSV tables of a report.

use crate::ReportError;
use crate::render::Report;
use records::files::{CONTEXT_SUMMARY_CSV, DOMAINS_CSV, MODELS_CSV, SUMMARY_CSV, TASKS_CSV};
use records::table_io::write_csv;
use std::path::Path;

/// Writes `summary.csv`, `domains.csv`, `tasks.csv`, `models.csv` (and
/// `context_summary.csv` when the run has GPU context) into `dir`.
pub fn write(dir: &Path, report: &Report) -> Result<(), ReportError> {
    write_csv(&dir.join(SUMMARY_CSV), &report.summary)?;
    write_csv(&dir.join(DOMAINS_CSV), &report.domains)?;
    write_csv(&dir.join(TASKS_CSV), &report.tasks)?;
    if !report.context.is_empty() {
        write_csv(&dir.join(CONTEXT_SUMMARY_CSV), &report.context)?;
    }
    Ok(write_csv(&dir.join(MODELS_CSV), &report.models)?)
}
