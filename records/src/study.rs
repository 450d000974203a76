//! A study's own figures (e.g. `suites/php/reference/php2023.csv`): one row per study
//! model, task and dataset, as `joulebench import` + `joulebench report` give them, and the
//! match of a measured configuration to one of them.

use crate::RecordsError;
use crate::labels::{ClassLabel, FigureLabel, parse_field};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One row of a study table: a study model on one dataset of one task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StudyFigure {
    /// The study's model (its Hugging Face id).
    pub model: String,
    /// Task, named as suites name it (`text-classification`, `extractive-qa`, ...).
    pub task: String,
    /// Dataset, named as suites name it (`imdb`, `squad_v2`, ...).
    pub dataset: String,
    /// `task-specific`, `general-purpose` or `unknown`.
    pub class: ClassLabel,
    /// Parameter count, when the study gives it.
    pub parameters: Option<u64>,
    /// Runs (repetitions of 1,000 inferences) behind the figure.
    pub runs: u64,
    /// Mean energy of 1,000 inferences over the runs (kWh).
    pub kwh_per_1000_mean: f64,
    /// Sample standard deviation over the runs (kWh); NaN with one run.
    pub kwh_per_1000_std: f64,
    /// Lower bound of the 95% CI of the mean (Student's t).
    pub kwh_per_1000_ci95_low: f64,
    /// Upper bound of the 95% CI of the mean.
    pub kwh_per_1000_ci95_high: f64,
    /// `measured`, `estimated` or `mixed`, as the import labelled the figure (column
    /// `source`).
    #[serde(rename = "source")]
    pub provenance: FigureLabel,
}

/// A study figure matched to a measured configuration: one dataset's, or the mean over
/// the study's datasets of the task (as the study's Table 3 averages).
#[derive(Clone, Debug, PartialEq)]
pub struct Matched {
    /// The study's model.
    pub model: String,
    /// The study's datasets behind the figure.
    pub datasets: Vec<String>,
    /// kWh per 1,000 inferences: the dataset's mean, or the mean of the datasets' means.
    pub mean: f64,
    /// Standard deviation over all runs behind the figure (kWh per 1,000).
    pub std: f64,
    /// Runs behind the figure.
    pub runs: u64,
    /// `measured`, `estimated` or `mixed`.
    pub provenance: FigureLabel,
}

impl Matched {
    /// `imdb`, or `mean of imdb, rotten_tomatoes, sst2`.
    pub fn dataset_label(&self) -> String {
        match self.datasets.as_slice() {
            [one] => one.clone(),
            many => format!("mean of {}", many.join(", ")),
        }
    }
}

/// Mean of the means, standard deviation over all runs pooled, total runs, and the common
/// provenance (or `mixed`) of several figures.
pub fn pool(
    parts: impl IntoIterator<Item = (f64, f64, u64, FigureLabel)>,
) -> (f64, f64, u64, FigureLabel) {
    let parts: Vec<(f64, f64, u64, FigureLabel)> = parts.into_iter().collect();
    let k = parts.len() as f64;
    let runs: u64 = parts.iter().map(|p| p.2).sum();
    let mean_of_means = parts.iter().map(|p| p.0).sum::<f64>() / k;
    let n = runs as f64;
    let grand = parts.iter().map(|p| p.0 * p.2 as f64).sum::<f64>() / n;
    let ss: f64 = parts
        .iter()
        .map(|&(m, s, r, _)| {
            let within = if r > 1 { (r - 1) as f64 * s * s } else { 0.0 };
            within + r as f64 * (m - grand).powi(2)
        })
        .sum();
    let std = if runs > 1 {
        (ss / (n - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    let provenance = FigureLabel::combine(parts.iter().map(|p| p.3));
    (mean_of_means, std, runs, provenance)
}

/// A study table, loaded and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyTable {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its rows, in file order.
    pub rows: Vec<StudyFigure>,
}

impl StudyTable {
    /// Reads and checks a study table; errors name the file, line and field.
    pub fn load(path: &Path) -> Result<Self, RecordsError> {
        let csv_err = |source| RecordsError::Csv {
            path: path.to_path_buf(),
            cause: source,
        };
        let mut reader = crate::table_io::open(path)?;
        let headers = reader.headers().map_err(csv_err)?.clone();
        let mut rows: Vec<StudyFigure> = Vec::new();
        let mut seen = BTreeSet::new();
        for record in reader.records() {
            let record = record.map_err(csv_err)?;
            let line = record.position().map_or(0, |p| p.line());
            check_label::<ClassLabel>(&headers, &record, "class", path, line)?;
            check_label::<FigureLabel>(&headers, &record, "source", path, line)?;
            let row: StudyFigure = record.deserialize(Some(&headers)).map_err(csv_err)?;
            let bad = |field: &str, message: String| RecordsError::Field {
                path: path.to_path_buf(),
                line,
                field: field.to_string(),
                message,
            };
            for (field, value) in [
                ("model", &row.model),
                ("task", &row.task),
                ("dataset", &row.dataset),
            ] {
                if value.trim().is_empty() {
                    return Err(bad(
                        field,
                        "empty; every row names its study model, task and dataset".into(),
                    ));
                }
            }
            if row.runs == 0 {
                return Err(bad("runs", "expected at least 1 run".into()));
            }
            if !(row.kwh_per_1000_mean.is_finite() && row.kwh_per_1000_mean > 0.0) {
                return Err(bad(
                    "kwh_per_1000_mean",
                    format!(
                        "expected a positive number of kWh, found {}",
                        row.kwh_per_1000_mean
                    ),
                ));
            }
            if !seen.insert((row.model.clone(), row.task.clone(), row.dataset.clone())) {
                return Err(bad(
                    "dataset",
                    format!(
                        "{} on {} ({}) appears twice; keep one row per model, task and dataset",
                        row.model, row.dataset, row.task
                    ),
                ));
            }
            rows.push(row);
        }
        Ok(Self {
            path: path.to_path_buf(),
            rows,
        })
    }

    /// The study figure of `model` on `task`: of `dataset` when given, else the mean
    /// over every dataset of the task the model was run on.
    pub fn figure(&self, model: &str, task: &str, dataset: Option<&str>) -> Option<Matched> {
        let rows: Vec<&StudyFigure> = self
            .rows
            .iter()
            .filter(|r| r.model == model && r.task == task)
            .filter(|r| dataset.is_none_or(|d| r.dataset == d))
            .collect();
        if rows.is_empty() {
            return None;
        }
        let (mean, std, runs, provenance) = pool(rows.iter().map(|r| {
            (
                r.kwh_per_1000_mean,
                r.kwh_per_1000_std,
                r.runs,
                r.provenance,
            )
        }));
        let mut datasets: Vec<String> = rows.iter().map(|r| r.dataset.clone()).collect();
        datasets.sort();
        Some(Matched {
            model: model.to_string(),
            datasets,
            mean,
            std,
            runs,
            provenance,
        })
    }

    /// The study models of a task.
    pub fn models(&self, task: &str) -> BTreeSet<&str> {
        self.column(task, |r| &r.model)
    }

    /// The study datasets of a task.
    pub fn datasets(&self, task: &str) -> BTreeSet<&str> {
        self.column(task, |r| &r.dataset)
    }

    /// Every task of the table.
    pub fn tasks(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|r| r.task.as_str()).collect()
    }

    /// The tasks a study model was run on.
    pub fn tasks_of(&self, model: &str) -> BTreeSet<&str> {
        self.rows
            .iter()
            .filter(|r| r.model == model)
            .map(|r| r.task.as_str())
            .collect()
    }

    fn column<'a>(
        &'a self,
        task: &str,
        f: impl Fn(&'a StudyFigure) -> &'a String,
    ) -> BTreeSet<&'a str> {
        self.rows
            .iter()
            .filter(|r| r.task == task)
            .map(|r| f(r).as_str())
            .collect()
    }
}

/// Checks that a row's label field, when the table has it, holds one of the allowed texts;
/// the error names the file, line and field.
fn check_label<T: std::str::FromStr<Err = crate::labels::LabelError>>(
    headers: &csv::StringRecord,
    record: &csv::StringRecord,
    field: &str,
    path: &Path,
    line: u64,
) -> Result<(), RecordsError> {
    match headers
        .iter()
        .position(|h| h == field)
        .and_then(|i| record.get(i))
    {
        Some(value) => parse_field::<T>(value, path, line, field).map(|_| ()),
        None => Ok(()),
    }
}

/// The candidate closest to `given` by edit distance (case-insensitive), when it is
/// close enough to be a likely typo or a missing organisation prefix.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given_lower = given.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let lower = c.to_lowercase();
            let suffix = lower
                .rsplit_once('/')
                .is_some_and(|(_, name)| name == given_lower);
            let d = if suffix {
                0
            } else {
                edit_distance(&given_lower, &lower)
            };
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.chars().count().max(given.chars().count()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(model: &str, dataset: &str, mean: f64, std: f64, runs: u64) -> StudyFigure {
        StudyFigure {
            model: model.into(),
            task: "text-classification".into(),
            dataset: dataset.into(),
            class: ClassLabel::GeneralPurpose,
            parameters: None,
            runs,
            kwh_per_1000_mean: mean,
            kwh_per_1000_std: std,
            kwh_per_1000_ci95_low: f64::NAN,
            kwh_per_1000_ci95_high: f64::NAN,
            provenance: FigureLabel::Mixed,
        }
    }

    #[test]
    fn a_dataset_figure_or_the_mean_of_the_tasks_datasets() {
        let table = StudyTable {
            path: PathBuf::from("t.csv"),
            rows: vec![
                figure("m", "imdb", 2.0, 0.0, 2),
                figure("m", "sst2", 4.0, 0.0, 2),
                figure("other", "sst2", 9.0, 1.0, 10),
            ],
        };
        let one = table
            .figure("m", "text-classification", Some("sst2"))
            .expect("row");
        assert_eq!(
            (one.mean, one.runs, one.dataset_label()),
            (4.0, 2, "sst2".to_string())
        );
        let mean = table
            .figure("m", "text-classification", None)
            .expect("rows");
        assert_eq!(mean.mean, 3.0);
        assert_eq!(mean.runs, 4);
        assert_eq!(mean.dataset_label(), "mean of imdb, sst2");
        // Runs 2, 2, 4, 4 around 3: sum of squares 4, over 3 degrees of freedom.
        assert!((mean.std - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(table.figure("m", "summarization", None).is_none());
        assert!(
            table
                .figure("m", "text-classification", Some("xsum"))
                .is_none()
        );
    }

    #[test]
    fn close_names_are_suggested() {
        let names = ["google/flan-t5-base", "google/flan-t5-large", "gpt2"];
        assert_eq!(closest("flan-t5-base", names), Some("google/flan-t5-base"));
        assert_eq!(
            closest("google/flan-t5-bse", names),
            Some("google/flan-t5-base")
        );
        assert_eq!(closest("llama", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
