//! `load.csv`: one row per load level, each figure as mean and 95% CI bounds, with a last
//! column saying why any cell is empty.

use super::level::{FIGURE_STEMS, LoadRow};
use crate::ReportError;
use records::load::LoadLevel;

/// The columns before the figures.
const LEADING: [&str; 13] = [
    "config",
    "model",
    "task",
    "dataset",
    "point",
    "load_kind",
    "clients",
    "rate_rps",
    "power_limit_w",
    "repetitions",
    "steady_repetitions",
    "short_windows",
    "sample_interval_s",
];

/// A number as written (empty for `None`).
fn num(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// The header of `load.csv`.
pub fn header() -> Vec<String> {
    let mut out: Vec<String> = LEADING.iter().map(|s| (*s).to_string()).collect();
    for stem in FIGURE_STEMS {
        out.push(stem.to_string());
        out.push(format!("{stem}_ci95_low"));
        out.push(format!("{stem}_ci95_high"));
    }
    out.push("source".to_string());
    out.push("empty_because".to_string());
    out
}

/// Why each empty figure of `row` is empty (and which repetitions a figure leaves out),
/// `stem: reason` joined by ` | `.
pub fn empty_because(row: &LoadRow) -> String {
    row.figures()
        .iter()
        .filter(|(_, f)| !f.why.is_empty())
        .map(|(stem, f)| format!("{stem}: {}", f.why))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The cells of one row, in [`header`] order.
pub fn cells(row: &LoadRow) -> Vec<String> {
    let (kind, clients, rate) = match row.point.load {
        LoadLevel::Closed(n) => ("closed", n.to_string(), String::new()),
        LoadLevel::Open(r) => ("open", String::new(), r.to_string()),
    };
    let mut out = vec![
        row.config.clone(),
        row.model.clone(),
        row.task.clone(),
        row.dataset.clone(),
        row.point.to_string(),
        kind.to_string(),
        clients,
        rate,
        row.point
            .power_limit_w
            .map_or_else(String::new, |w| w.to_string()),
        row.repetitions.to_string(),
        row.steady_repetitions.to_string(),
        row.short_windows.to_string(),
        row.sample_interval_s.to_string(),
    ];
    for (_, f) in row.figures() {
        out.push(num(f.mean));
        out.push(num(f.ci95_low));
        out.push(num(f.ci95_high));
    }
    out.push(row.provenance.to_string());
    out.push(empty_because(row));
    out
}

/// The CSV text of `rows` with its header.
pub fn table(rows: &[LoadRow]) -> Result<Vec<u8>, ReportError> {
    let err = |e: ::csv::Error| ReportError::Serialize {
        format: "CSV",
        message: e.to_string(),
    };
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(header()).map_err(err)?;
    for row in rows {
        w.write_record(cells(row)).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| err(::csv::Error::from(e.into_error())))
}
