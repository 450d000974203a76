//! Who a row of another tool's log is: model, task, dataset, class and size, from
//! `--label KEY=VALUE` arguments and a mapping file keyed by `run_id` or `project_name`.

use crate::ReportError;
use records::labels::ClassLabel;
use std::collections::HashMap;
use std::path::Path;

/// The keys a label or a mapping column may set.
pub const KEYS: [&str; 5] = ["model", "task", "dataset", "class", "parameters"];

/// Labels of one row; unset fields fall back on the next source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// Model name.
    pub model: Option<String>,
    /// Task name.
    pub task: Option<String>,
    /// Dataset name.
    pub dataset: Option<String>,
    /// `task-specific`, `general-purpose` or `unknown`.
    pub class: Option<ClassLabel>,
    /// Parameter count.
    pub parameters: Option<u64>,
}

impl Labels {
    /// Sets one key; the error says which keys exist.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let v = Some(value.trim().to_string());
        match key.trim() {
            "model" => self.model = v,
            "task" => self.task = v,
            "dataset" => self.dataset = v,
            "class" => self.class = Some(value.trim().parse().map_err(|e| format!("{e}"))?),
            "parameters" => {
                let text = value.trim().replace('_', "");
                self.parameters =
                    if text.is_empty() {
                        None
                    } else {
                        Some(text.parse().map_err(|_| {
                            format!("parameters must be a whole number, got {value:?}")
                        })?)
                    };
            }
            other => {
                return Err(format!(
                    "unknown label {other:?}; the labels are {}",
                    KEYS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Parses `--label KEY=VALUE` arguments.
    pub fn from_args(args: &[String]) -> Result<Self, ReportError> {
        let mut labels = Self::default();
        for a in args {
            let (k, v) = a.split_once('=').ok_or_else(|| {
                ReportError::Invalid(format!(
                    "--label {a:?} is not KEY=VALUE, e.g. --label task=text-classification"
                ))
            })?;
            labels
                .set(k, v)
                .map_err(|e| ReportError::Invalid(format!("--label {a:?}: {e}")))?;
        }
        Ok(labels)
    }

    /// These labels with the gaps filled from `fallback`.
    pub fn or(&self, fallback: &Labels) -> Labels {
        Labels {
            model: self.model.clone().or_else(|| fallback.model.clone()),
            task: self.task.clone().or_else(|| fallback.task.clone()),
            dataset: self.dataset.clone().or_else(|| fallback.dataset.clone()),
            class: self.class.or(fallback.class),
            parameters: self.parameters.or(fallback.parameters),
        }
    }
}

/// A mapping file: labels per `run_id` and per `project_name`.
#[derive(Clone, Debug, Default)]
pub struct Mapping {
    by_run_id: HashMap<String, Labels>,
    by_project: HashMap<String, Labels>,
}

impl Mapping {
    /// Reads a CSV with a `run_id` or `project_name` column (or both) and any of the
    /// columns model, task, dataset, class, parameters.
    pub fn load(path: &Path) -> Result<Self, ReportError> {
        let mut reader = records::table_io::open(path)?;
        let header = reader
            .headers()
            .map_err(|source| records::RecordsError::Csv {
                path: path.to_path_buf(),
                cause: source,
            })?
            .clone();
        let run_col = header.iter().position(|h| h.trim() == "run_id");
        let project_col = header.iter().position(|h| h.trim() == "project_name");
        if run_col.is_none() && project_col.is_none() {
            return Err(ReportError::from(records::RecordsError::Field {
                path: path.to_path_buf(),
                line: 1,
                field: "run_id".to_string(),
                message: "a mapping file needs a run_id or a project_name column to say which rows it labels".to_string(),
            }));
        }
        for h in header.iter().map(str::trim) {
            if h != "run_id" && h != "project_name" && !KEYS.contains(&h) {
                return Err(ReportError::from(records::RecordsError::Field {
                    path: path.to_path_buf(),
                    line: 1,
                    field: h.to_string(),
                    message: format!(
                        "unknown column; a mapping file has run_id or project_name and any of {}",
                        KEYS.join(", ")
                    ),
                }));
            }
        }
        let mut mapping = Self::default();
        for record in reader.records() {
            let record = record.map_err(|source| records::RecordsError::Csv {
                path: path.to_path_buf(),
                cause: source,
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let mut labels = Labels::default();
            for (h, v) in header.iter().zip(record.iter()) {
                let h = h.trim();
                if KEYS.contains(&h) && !v.trim().is_empty() {
                    labels
                        .set(h, v)
                        .map_err(|message| records::RecordsError::Field {
                            path: path.to_path_buf(),
                            line,
                            field: h.to_string(),
                            message,
                        })?;
                }
            }
            let get = |c: Option<usize>| {
                c.and_then(|c| record.get(c))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
            };
            match (get(run_col), get(project_col)) {
                (Some(run), _) => {
                    mapping.by_run_id.insert(run.to_string(), labels);
                }
                (None, Some(project)) => {
                    mapping.by_project.insert(project.to_string(), labels);
                }
                (None, None) => {
                    return Err(ReportError::from(records::RecordsError::Field {
                        path: path.to_path_buf(),
                        line,
                        field: "run_id".to_string(),
                        message: "neither run_id nor project_name is set on this row".to_string(),
                    }));
                }
            }
        }
        Ok(mapping)
    }

    /// The labels of a row: its `run_id`'s, filled from its `project_name`'s.
    pub fn lookup(&self, run_id: &str, project: &str) -> Option<Labels> {
        let by_run = self.by_run_id.get(run_id);
        let by_project = self.by_project.get(project);
        match (by_run, by_project) {
            (Some(r), Some(p)) => Some(r.or(p)),
            (Some(r), None) => Some(r.clone()),
            (None, Some(p)) => Some(p.clone()),
            (None, None) => None,
        }
    }
}
