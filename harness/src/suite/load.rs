//! Reading a suite file and checking it before anything is sent.

use super::error::{Location, SourceText, quoted_field};
use super::file::SuiteFile;
use super::plan::Plan;
use super::{Suite, SuiteError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A dataset whose file is not there.
#[derive(Clone, Debug, PartialEq)]
pub struct MissingDataset {
    /// The dataset's name.
    pub name: String,
    /// Its file, resolved against the suite's folder.
    pub path: PathBuf,
}

impl Suite {
    /// The suite's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An error about dataset `index`'s rows, pointing at its `path` in the suite file.
    pub fn dataset_error(&self, index: usize, key: &str, message: String) -> SuiteError {
        let span = self.dataset_path_spans.get(index).cloned().unwrap_or(0..0);
        SourceText {
            path: &self.path,
            text: &self.text,
        }
        .error_at(span, Some(key), message)
    }
}

/// Reads, parses and checks a suite file; relative paths resolve against its folder.
pub fn load(path: &Path) -> Result<Suite, SuiteError> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    load_in(path, &dir)
}

/// Reads, parses and checks a suite file whose relative paths resolve against `dir`
/// (a run folder's copy of the suite, resolved where the original lives).
pub fn load_in(path: &Path, dir: &Path) -> Result<Suite, SuiteError> {
    load_checked(path, dir, true)
}

/// Reads, parses and checks a suite file like [`load`], but lists dataset files that are
/// not there in [`Suite::missing_datasets`] instead of refusing them: the plan of a
/// `--dry-run` needs no data.
pub fn load_plan_only(path: &Path) -> Result<Suite, SuiteError> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    load_checked(path, &dir, false)
}

fn load_checked(path: &Path, dir: &Path, datasets_must_exist: bool) -> Result<Suite, SuiteError> {
    let bytes = std::fs::read(path).map_err(|source| SuiteError::Read {
        path: path.to_path_buf(),
        cause: source,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|e| SuiteError::At {
        location: Location::of_span(
            path,
            &String::from_utf8_lossy(&bytes),
            e.utf8_error().valid_up_to()..e.utf8_error().valid_up_to(),
            None,
        ),
        message: "the file is not UTF-8 text; save it as UTF-8".into(),
    })?;
    let spec: SuiteFile = toml::from_str(&text).map_err(|e| parse_error(path, &text, &e))?;
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    let src = SourceText { path, text: &text };
    let datasets = super::check::check(src, &spec, &dir, datasets_must_exist)?;
    let reference = super::reference::load(src, &spec, &dir)?;
    let carbon_series = super::carbon::load(src, &spec, &dir)?;
    super::levels::check_schedule(src, &spec)?;
    super::variants::check(src, &spec)?;
    let servers = super::convert::servers(src, &spec)?;
    let models = super::convert::models(src, &spec, &datasets.sources)?;
    let configurations = models
        .iter()
        .map(|m| m.datasets.len() * m.points.len().max(1))
        .sum();
    super::numbers::check_plan_size(src, &spec, configurations)?;
    let plan = Plan::of(&models, &datasets.sources, &spec.schedule);
    super::levels::check_unique_ids(src, &plan)?;
    let SuiteFile {
        suite: header,
        datasets: dataset_specs,
        schedule,
        probes,
        carbon,
        ..
    } = spec;
    Ok(Suite {
        path: path.to_path_buf(),
        dir,
        sha256: hex(&Sha256::digest(&bytes)),
        text,
        name: header.name.into_inner(),
        description: header.description,
        servers,
        models,
        datasets: datasets.sources,
        schedule,
        probes,
        carbon,
        carbon_series,
        reference,
        missing_datasets: datasets.missing,
        plan,
        dataset_path_spans: dataset_specs.iter().map(|d| d.path.span()).collect(),
    })
}

fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> SuiteError {
    let message = e.message().trim().to_string();
    let key = if message.starts_with("unknown field") || message.starts_with("missing field") {
        quoted_field(&message)
    } else {
        None
    };
    let hint = if message.starts_with("unknown field") {
        " (see suites/README.md for every key)"
    } else {
        ""
    };
    SuiteError::At {
        location: Location::of_span(path, text, e.span().unwrap_or(0..0), key),
        message: format!("{message}{hint}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
