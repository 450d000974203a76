//! The CSV tables of a report.

use super::Exporter;
use crate::ReportError;
use crate::model::Report;
use serde::Serialize;

/// One CSV table of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvTable {
    /// `summary.csv`: one row per configuration.
    Summary,
    /// `domains.csv`: one row per configuration and domain.
    Domains,
    /// `tasks.csv`: repetitions pooled per task and class.
    Tasks,
    /// `models.csv`: per model, mean over tasks.
    Models,
    /// `context_summary.csv`: GPU context per configuration.
    Context,
    /// `reference_comparison.csv`: each model and task beside the study's figure (no rows
    /// without `reference.csv`).
    ReferenceComparison,
    /// `load.csv`: one row per configuration with a load level (header only without).
    Load,
    /// `latency_targets.csv`: the lowest-energy level under each latency target.
    LatencyTargets,
    /// `savings.csv`: each variant configuration against its baseline's.
    Savings,
}

impl Exporter for CsvTable {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        match self {
            CsvTable::Summary => table(&report.rows().cloned().collect::<Vec<_>>()),
            CsvTable::Domains => table(&report.domains),
            CsvTable::Tasks => table(&report.tasks),
            CsvTable::Models => table(&report.models),
            CsvTable::Context => table(&report.context),
            CsvTable::ReferenceComparison => {
                table(report.beside_study.as_deref().unwrap_or_default())
            }
            CsvTable::Load => crate::load::csv::table(
                report
                    .load
                    .as_ref()
                    .map_or(&[][..], |l| l.levels.as_slice()),
            ),
            CsvTable::Savings => table(&report.savings),
            CsvTable::LatencyTargets => table(
                report
                    .load
                    .as_ref()
                    .map_or(&[][..], |l| l.latency_targets.as_slice()),
            ),
        }
    }
}

/// The CSV text of rows with a header, also when there are no rows.
pub fn table<T: Serialize + Default>(rows: &[T]) -> Result<Vec<u8>, ReportError> {
    let err = |e: csv::Error| ReportError::Serialize {
        format: "CSV",
        message: e.to_string(),
    };
    if rows.is_empty() {
        return Ok(records::table_io::header_of::<T>()
            .map_err(err)?
            .into_bytes());
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| err(csv::Error::from(e.into_error())))
}
