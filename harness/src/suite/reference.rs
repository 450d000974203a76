//! `[reference]` and the `reference` keys of models and datasets: the study table whose
//! figures are shown beside the measured ones, loaded and checked with the suite.

use super::error::SourceText;
use super::file::SuiteFile;
use super::{Suite, SuiteError};
use records::study::closest;
use records::study::{Matched, StudyTable};
use records::study_quality::{MatchedQuality, StudyQuality};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A suite's study table, loaded and checked against the suite's `reference` keys.
#[derive(Clone, Debug)]
pub struct StudyReference {
    /// The table file, resolved against the suite's folder.
    pub path: PathBuf,
    /// How tables and plots name the study's figures.
    pub label: String,
    /// What to know about the study's setup (empty without `[reference] note`).
    pub note: String,
    /// Its rows.
    pub table: StudyTable,
    /// The study's quality figures (`[reference] quality`), when given.
    pub quality: Vec<StudyQuality>,
}

impl Suite {
    /// The study figure a configuration (model × dataset, by index) stands beside: the
    /// model's `reference` on the dataset's `reference`, or on the mean over the study's
    /// datasets of the task when the dataset names none.
    pub fn study_figure(&self, model: usize, dataset: usize) -> Option<Matched> {
        let (reference, study_model, task, study_dataset) = self.study_keys(model, dataset)?;
        reference.table.figure(study_model, task, study_dataset)
    }

    /// The study's quality figure a configuration stands beside, matched like its energy
    /// figure ([`Suite::study_figure`]).
    pub fn study_quality(&self, model: usize, dataset: usize) -> Option<MatchedQuality> {
        let (reference, study_model, task, study_dataset) = self.study_keys(model, dataset)?;
        records::study_quality::matched(&reference.quality, study_model, task, study_dataset)
    }

    /// What a configuration is matched to the study by: the suite's `[reference]`, the
    /// model's study model, its task and the dataset's study dataset (when it names one);
    /// `None` without a table or a model `reference`.
    fn study_keys(
        &self,
        model: usize,
        dataset: usize,
    ) -> Option<(&StudyReference, &str, &str, Option<&str>)> {
        let reference = self.reference.as_ref()?;
        let m = self.models.get(model)?;
        let d = self.datasets.get(dataset)?;
        Some((
            reference,
            m.reference.as_deref()?,
            &m.task,
            d.reference.as_deref(),
        ))
    }
}

/// Loads the suite's `[reference]` table (relative to `dir`) and checks every `reference`
/// key against it.
pub(super) fn load(
    src: SourceText<'_>,
    spec: &SuiteFile,
    dir: &Path,
) -> Result<Option<StudyReference>, SuiteError> {
    let Some(r) = &spec.reference else {
        let keys = spec
            .models
            .iter()
            .map(|m| (&m.reference, "models.reference"))
            .chain(
                spec.datasets
                    .iter()
                    .map(|d| (&d.reference, "datasets.reference")),
            );
        for (reference, key) in keys {
            if let Some(value) = reference {
                return Err(src.error_at(
                    value.span(),
                    Some(key),
                    "`reference` names a figure of a study table, but the suite has no [reference] table: \
                     add [reference] with file = \"reference/php2023.csv\" (relative to the suite) and a label, or remove the key"
                        .into(),
                ));
            }
        }
        return Ok(None);
    };
    let at_file = |message: String| src.error_at(r.file.span(), Some("reference.file"), message);
    let path = existing(src, dir, &r.file, "reference.file", "study table")?;
    let table = StudyTable::load(&path)
        .map_err(|e| {
        at_file(format!(
            "the study table cannot be used: {e}; fix that row (columns: suites/php/reference/README.md)"
        ))
    })?;
    if table.rows.is_empty() {
        return Err(at_file(format!(
            "the study table {} has no rows",
            path.display()
        )));
    }
    let label = match &r.label {
        Some(l) if l.trim().is_empty() => {
            return Err(src.error_at(
                r.file.span(),
                Some("reference.label"),
                "expected a non-empty label, e.g. \"PHP 2023 (8×A100 node, CodeCarbon)\"".into(),
            ));
        }
        Some(l) => l.clone(),
        None => path
            .file_stem()
            .map_or_else(|| "study".to_string(), |s| s.to_string_lossy().into_owned()),
    };
    let quality = match &r.quality {
        None => Vec::new(),
        Some(q) => {
            let at = |message: String| src.error_at(q.span(), Some("reference.quality"), message);
            let qpath = existing(src, dir, q, "reference.quality", "study quality table")?;
            records::study_quality::load(&qpath).map_err(|e| {
                at(format!(
                    "the study quality table cannot be used: {e}; fix that row (columns: model, task, dataset, metric, value, source)"
                ))
            })?
        }
    };
    let note = match &r.note {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(src.error_at(
                n.span(),
                Some("reference.note"),
                "expected a non-empty note on the study's setup, e.g. \"its GPU energy is summed \
                 over all 8 GPUs of its node\", or remove the key"
                    .into(),
            ));
        }
        Some(n) => n.get_ref().trim().to_string(),
        None => String::new(),
    };
    for m in &spec.models {
        let Some(reference) = &m.reference else {
            continue;
        };
        let (given, task) = (reference.get_ref(), m.task.get_ref());
        if table.figure(given, task, None).is_none() {
            return Err(src.error_at(
                reference.span(),
                Some("models.reference"),
                unknown(given, task, "model", &table.models(task), &table),
            ));
        }
    }
    for d in &spec.datasets {
        let Some(reference) = &d.reference else {
            continue;
        };
        let (given, task) = (reference.get_ref(), d.task.get_ref());
        if !table.datasets(task).contains(given.as_str()) {
            return Err(src.error_at(
                reference.span(),
                Some("datasets.reference"),
                unknown(given, task, "dataset", &table.datasets(task), &table),
            ));
        }
    }
    Ok(Some(StudyReference {
        path,
        label,
        note,
        table,
        quality,
    }))
}

/// The file a `[reference]` key names, resolved against the suite's folder; the error (at
/// `key`) says that `what` is not there.
fn existing(
    src: SourceText<'_>,
    dir: &Path,
    file: &Spanned<PathBuf>,
    key: &str,
    what: &str,
) -> Result<PathBuf, SuiteError> {
    let path = dir.join(file.get_ref());
    if path.is_file() {
        return Ok(path);
    }
    Err(src.error_at(
        file.span(),
        Some(key),
        format!(
            "{what} {} not found (paths are relative to the suite file's folder)",
            path.display()
        ),
    ))
}

/// Why `given` is not a study `what` (model or dataset) of `task`, with the closest name.
fn unknown(
    given: &str,
    task: &str,
    what: &str,
    names: &BTreeSet<&str>,
    table: &StudyTable,
) -> String {
    let file = table.path.display();
    if names.is_empty() {
        let tasks: Vec<&str> = table.tasks().into_iter().collect();
        return format!(
            "the study table {file} has no task {task:?} (the {what}'s task); its tasks are: {}",
            tasks.join(", ")
        );
    }
    let hint = match closest(given, names.iter().copied()) {
        Some(near) => format!("did you mean {near:?}?"),
        None => {
            let other: Vec<&str> = if what == "model" {
                table.tasks_of(given).into_iter().collect()
            } else {
                Vec::new()
            };
            if other.is_empty() {
                format!(
                    "its {what}s of {task:?} are: {}",
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                )
            } else {
                format!("it has figures for it on {} only", other.join(", "))
            }
        }
    };
    format!("no study {what} {given:?} of task {task:?} in {file}; {hint}")
}
