//! A study's own quality figures (e.g. `suites/php/reference/php2023-quality.csv`, from
//! the PHP study's `eval/performance.csv`): one row per study model, task and dataset,
//! and the match of a measured configuration to them.

use crate::RecordsError;
use crate::table_io::{read_csv, write_csv};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One row of a study quality table: a study model's score on one dataset of one task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StudyQuality {
    /// The study's model (its Hugging Face id).
    pub model: String,
    /// Task, named as suites name it.
    pub task: String,
    /// Dataset, named as suites name it.
    pub dataset: String,
    /// The metric as the study names it (`accuracy`, `f1`, `rouge`).
    pub metric: String,
    /// The score (0–1).
    pub value: f64,
    /// Where it comes from: the study's file and column, verbatim.
    pub source: String,
}

/// A study quality figure matched to a configuration: one dataset's, or the mean over the
/// study's datasets of the task that share one metric.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedQuality {
    /// The metric.
    pub metric: String,
    /// The score (0–1): the dataset's, or the mean of the datasets'.
    pub value: f64,
    /// Where the figures come from (`;`-separated when several).
    pub source: String,
}

/// Reads a study quality table; every score is between 0 and 1, and errors name the file,
/// line and field.
pub fn load(path: &Path) -> Result<Vec<StudyQuality>, RecordsError> {
    let mut rows = Vec::new();
    for (i, row) in read_csv::<StudyQuality>(path)?.enumerate() {
        let row = row?;
        let line = i as u64 + 2;
        if !(row.value.is_finite() && (0.0..=1.0).contains(&row.value)) {
            return Err(RecordsError::Field {
                path: path.to_path_buf(),
                line,
                field: "value".into(),
                message: format!(
                    "expected a score from 0 to 1, found {} (write 0.92, not 92%)",
                    row.value
                ),
            });
        }
        for (field, value) in [
            ("model", &row.model),
            ("task", &row.task),
            ("dataset", &row.dataset),
            ("metric", &row.metric),
        ] {
            if value.trim().is_empty() {
                return Err(RecordsError::Field {
                    path: path.to_path_buf(),
                    line,
                    field: field.into(),
                    message: "empty; every row names its model, task, dataset and metric".into(),
                });
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Writes a study quality table.
pub fn write(path: &Path, rows: &[StudyQuality]) -> Result<(), RecordsError> {
    write_csv(path, rows)
}

/// The study's score of `model` on `task`: of `dataset` when given, else the mean over
/// the task's datasets when they share one metric.
pub fn matched(
    rows: &[StudyQuality],
    model: &str,
    task: &str,
    dataset: Option<&str>,
) -> Option<MatchedQuality> {
    let found: Vec<&StudyQuality> = rows
        .iter()
        .filter(|r| r.model == model && r.task == task)
        .filter(|r| dataset.is_none_or(|d| r.dataset == d))
        .collect();
    let first = found.first()?;
    if found.iter().any(|r| r.metric != first.metric) {
        return None;
    }
    Some(MatchedQuality {
        metric: first.metric.clone(),
        value: found.iter().map(|r| r.value).sum::<f64>() / found.len() as f64,
        source: found
            .iter()
            .map(|r| r.source.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// The columns of the PHP study's `eval/performance.csv` that hold scores: (column, dataset
/// as suites name it, metric).
const PHP_COLUMNS: [(&str, &str, &str); 9] = [
    ("sst2 (acc)", "sst2", "accuracy"),
    ("imdb (acc)", "imdb", "accuracy"),
    ("tomatoes (acc)", "rotten_tomatoes", "accuracy"),
    ("sciq (acc)", "sciq", "accuracy"),
    ("squad (f1)", "squad", "f1"),
    ("squad_v2 (f1, has answer)", "squad_v2", "f1"),
    ("samsum (rouge)", "samsum", "rouge"),
    ("xsum (rouge)", "xsum", "rouge"),
    ("cnn (rouge)", "cnn_dailymail", "rouge"),
];

/// The study quality table of the PHP study's `eval/performance.csv`: a row per model and
/// filled score column, tasks renamed as suites name them (`sentiment` →
/// `text-classification`, `qa` → `extractive-qa`).
pub fn from_php_performance(path: &Path) -> Result<Vec<StudyQuality>, RecordsError> {
    let csv_err = |source| RecordsError::Csv {
        path: path.to_path_buf(),
        cause: source,
    };
    let mut reader = crate::table_io::open(path)?;
    let headers = reader.headers().map_err(csv_err)?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| RecordsError::Field {
                path: path.to_path_buf(),
                line: 1,
                field: name.to_string(),
                message: "missing: is this the study's eval/performance.csv?".into(),
            })
    };
    let (model_col, task_col) = (col("model")?, col("task")?);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line());
        let task = match record.get(task_col).unwrap_or("") {
            "sentiment" => "text-classification",
            "qa" => "extractive-qa",
            "summarization" => "summarization",
            other => {
                return Err(RecordsError::Field {
                    path: path.to_path_buf(),
                    line,
                    field: "task".into(),
                    message: format!(
                        "unknown task {other:?}: expected sentiment, qa or summarization"
                    ),
                });
            }
        };
        for (column, dataset, metric) in PHP_COLUMNS {
            let text = record.get(col(column)?).unwrap_or("").trim();
            if text.is_empty() {
                continue;
            }
            let value: f64 = text.parse().map_err(|_| RecordsError::Field {
                path: path.to_path_buf(),
                line,
                field: column.to_string(),
                message: format!("not a number: {text:?}"),
            })?;
            rows.push(StudyQuality {
                model: record.get(model_col).unwrap_or("").to_string(),
                task: task.to_string(),
                dataset: dataset.to_string(),
                metric: metric.to_string(),
                value,
                source: format!("eval/performance.csv: {column}"),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_performance_row_gives_a_row_per_filled_column_and_matches_by_dataset_or_task() {
        let dir = tempfile::tempdir().expect("temp dir");
        let perf = dir.path().join("performance.csv");
        std::fs::write(
            &perf,
            "model,task,type,sst2 (acc),imdb (acc),tomatoes (acc),sciq (acc),squad (f1),\"squad_v2 (f1, has answer)\",samsum (rouge),xsum (rouge),cnn (rouge)\n\
             m,sentiment,decoder,0.9,0.8,0.7,,,,,,\n",
        )
        .expect("write");
        let rows = from_php_performance(&perf).expect("converts");
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (
                rows[2].dataset.as_str(),
                rows[2].task.as_str(),
                rows[2].value
            ),
            ("rotten_tomatoes", "text-classification", 0.7)
        );
        let one = matched(&rows, "m", "text-classification", Some("imdb")).expect("imdb");
        assert_eq!((one.metric.as_str(), one.value), ("accuracy", 0.8));
        let mean = matched(&rows, "m", "text-classification", None).expect("the task's mean");
        assert!((mean.value - 0.8).abs() < 1e-12);
        assert_eq!(mean.source.matches("eval/performance.csv").count(), 3);
        assert_eq!(matched(&rows, "m", "summarization", None), None);
        let out = dir.path().join("q.csv");
        write(&out, &rows).expect("write");
        assert_eq!(load(&out).expect("loads"), rows);
        std::fs::write(
            &out,
            "model,task,dataset,metric,value,source\nm,t,d,accuracy,92,x\n",
        )
        .expect("write");
        let e = load(&out).expect_err("a percentage");
        assert!(
            e.to_string()
                .contains("line 2, field `value`: expected a score from 0 to 1"),
            "{e}"
        );
    }
}
