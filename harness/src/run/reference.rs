//! `reference.csv`: the study figure each configuration stands beside, kept in the run
//! folder from the start so that `joulebench report` never needs the suite or its table.

use super::RunError;
use crate::suite::Suite;
use records::files::REFERENCE_CSV;
use records::reference::ReferenceRow;
use std::path::Path;

/// One row per configuration of the whole suite's plan (every shard's, whichever shard
/// runs) whose model names a study figure that the `[reference]` table has.
pub fn rows(suite: &Suite) -> Vec<ReferenceRow> {
    let Some(reference) = &suite.reference else {
        return Vec::new();
    };
    suite
        .plan
        .configurations
        .iter()
        .filter_map(|c| {
            let f = suite.study_figure(c.model_index, c.dataset_index)?;
            let q = suite.study_quality(c.model_index, c.dataset_index);
            Some(ReferenceRow {
                config: c.id.clone(),
                model: c.model.clone(),
                task: c.task.clone(),
                dataset: c.dataset.clone(),
                reference_model: f.model.clone(),
                reference_dataset: f.dataset_label(),
                kwh_per_1000_mean: f.mean,
                kwh_per_1000_std: f.std,
                runs: f.runs,
                provenance: f.provenance,
                label: reference.label.clone(),
                note: reference.note.clone(),
                reference_quality_metric: q.as_ref().map(|q| q.metric.clone()).unwrap_or_default(),
                reference_quality: q.as_ref().map(|q| q.value),
                reference_quality_source: q.map(|q| q.source).unwrap_or_default(),
            })
        })
        .collect()
}

/// Writes `reference.csv` into `dir` when the suite has a `[reference]` table and the
/// folder has none yet (a resumed run keeps the figures it started with).
pub fn keep(dir: &Path, suite: &Suite) -> Result<(), RunError> {
    if suite.reference.is_none() || dir.join(REFERENCE_CSV).exists() {
        return Ok(());
    }
    Ok(records::reference::write(dir, &rows(suite))?)
}
