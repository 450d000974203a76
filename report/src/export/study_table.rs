//! A study table reduced from a report: what `suites/php/reference/php2023.csv` is made of.

use crate::model::SummaryRow;
use crate::units::J_PER_KWH;
use records::study::StudyFigure;

/// The rows of a study table reduced from a report's `summary.csv` (those with figures),
/// sorted by task, model and dataset.
pub fn from_summary<'a>(rows: impl IntoIterator<Item = &'a SummaryRow>) -> Vec<StudyFigure> {
    let kwh = |j: f64| j * 1000.0 / J_PER_KWH;
    let mut out: Vec<StudyFigure> = rows
        .into_iter()
        .filter_map(|r| {
            Some(StudyFigure {
                model: r.model.clone(),
                task: r.task.clone(),
                dataset: r.dataset.clone(),
                class: r.class,
                parameters: r.parameters,
                runs: r.repetitions as u64,
                kwh_per_1000_mean: r.kwh_per_1000?,
                kwh_per_1000_std: r.energy_j_std.map_or(f64::NAN, kwh),
                kwh_per_1000_ci95_low: r.kwh_per_1000_ci95_low.unwrap_or(f64::NAN),
                kwh_per_1000_ci95_high: r.kwh_per_1000_ci95_high.unwrap_or(f64::NAN),
                provenance: r.provenance,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.task, &a.model, &a.dataset).cmp(&(&b.task, &b.model, &b.dataset)));
    out
}
