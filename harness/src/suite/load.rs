//! Reading a suite file and checking it before anything is sent.

use super::error::{Location, quoted_field};
use super::{DatasetFormat, ModelClass, StudyReference, SuiteError, SuiteFile};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A suite that parsed and passed every check.
#[derive(Debug)]
pub struct Suite {
    /// The suite file as given.
    pub path: PathBuf,
    /// Folder relative paths in the suite are resolved against.
    pub dir: PathBuf,
    /// The file's text, copied into every run folder.
    pub text: String,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// The parsed contents.
    pub spec: SuiteFile,
    /// The `[reference]` study table, loaded and checked.
    pub reference: Option<StudyReference>,
    /// Dataset files that are not there (only from [`load_plan_only`]; [`load`] refuses them).
    pub missing_datasets: Vec<MissingDataset>,
}

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
        self.spec.suite.name.get_ref()
    }

    /// A dataset's file, resolved against the suite's folder.
    pub fn dataset_path(&self, index: usize) -> PathBuf {
        self.dir.join(self.spec.datasets[index].path.get_ref())
    }

    /// An error at `span` of this suite's text.
    pub fn error_at(&self, span: Range<usize>, key: Option<&str>, message: String) -> SuiteError {
        SuiteError::At {
            location: Location::of_span(&self.path, &self.text, span, key),
            message,
        }
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
        source,
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
    let mut suite = Suite {
        path: path.to_path_buf(),
        dir: if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        },
        sha256: hex(&Sha256::digest(&bytes)),
        text,
        spec,
        reference: None,
        missing_datasets: Vec::new(),
    };
    suite.missing_datasets = check(&suite, datasets_must_exist)?;
    suite.reference = super::reference::load(&suite)?;
    Ok(suite)
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

/// Every check that needs more than one key, or the file system; returns the dataset
/// files that are not there when they need not be.
fn check(suite: &Suite, datasets_must_exist: bool) -> Result<Vec<MissingDataset>, SuiteError> {
    let spec = &suite.spec;
    let name = &spec.suite.name;
    if name.get_ref().trim().is_empty()
        || name
            .get_ref()
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
    {
        return Err(suite.error_at(
            name.span(),
            Some("name"),
            "expected a non-empty name of letters, digits, '-', '_' or '.' (it names the results folder)".into(),
        ));
    }
    check_schedule(suite)?;
    let mut server_names = BTreeSet::new();
    for (key, server) in &spec.servers {
        server_names.insert(key.as_str());
        match (&server.url, &server.launch) {
            (Some(_), Some(launch)) => {
                return Err(suite.error_at(
                    launch.span(),
                    Some(&format!("servers.{key}.launch")),
                    "give either `url` (a running server) or `launch` (a command), not both".into(),
                ));
            }
            (None, None) => {
                return Err(suite.error_at(
                    find(&suite.text, &format!("[servers.{key}]")),
                    Some(&format!("servers.{key}")),
                    "expected `url = \"http://host:port\"` or `launch = [\"command\", ...]`".into(),
                ));
            }
            (Some(url), None) => {
                let u = url.get_ref();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(suite.error_at(
                        url.span(),
                        Some(&format!("servers.{key}.url")),
                        format!("expected an http:// or https:// URL, found {u:?}"),
                    ));
                }
            }
            (None, Some(launch)) if launch.get_ref().is_empty() => {
                return Err(suite.error_at(
                    launch.span(),
                    Some(&format!("servers.{key}.launch")),
                    "expected a command and its arguments, e.g. [\"{joulebench}\", \"serve\"]"
                        .into(),
                ));
            }
            (None, Some(_)) => {}
        }
    }
    let mut dataset_names = BTreeSet::new();
    let mut missing = Vec::new();
    for (i, d) in spec.datasets.iter().enumerate() {
        if !dataset_names.insert(d.name.get_ref().as_str()) {
            return Err(suite.error_at(
                d.name.span(),
                Some("datasets.name"),
                format!("dataset name {:?} is used twice", d.name.get_ref()),
            ));
        }
        let file = suite.dataset_path(i);
        if !file.is_file() && !datasets_must_exist {
            missing.push(MissingDataset {
                name: d.name.get_ref().clone(),
                path: file,
            });
        } else if !file.is_file() {
            return Err(suite.error_at(
                d.path.span(),
                Some("datasets.path"),
                format!(
                    "dataset file {} not found (paths are relative to the suite file's folder)",
                    file.display()
                ),
            ));
        }
        if d.format.is_none() && dataset_format(d.path.get_ref()).is_none() {
            return Err(suite.error_at(
                d.path.span(),
                Some("datasets.path"),
                "cannot tell the format from the extension: name it .jsonl, .csv or .parquet, or set `format`"
                    .into(),
            ));
        }
    }
    if spec.models.is_empty() {
        return Err(suite.error_at(
            0..0,
            Some("models"),
            "the suite has no [[models]]: add at least one".into(),
        ));
    }
    let mut model_names = BTreeSet::new();
    for m in &spec.models {
        if !model_names.insert(m.name.get_ref().as_str()) {
            return Err(suite.error_at(
                m.name.span(),
                Some("models.name"),
                format!("model name {:?} is used twice", m.name.get_ref()),
            ));
        }
        if !server_names.contains(m.server.get_ref().as_str()) {
            return Err(suite.error_at(
                m.server.span(),
                Some("models.server"),
                format!(
                    "no server {:?}; expected one of: {}",
                    m.server.get_ref(),
                    join(&server_names)
                ),
            ));
        }
        let task = m.task.get_ref();
        let of_task: Vec<&str> = spec
            .datasets
            .iter()
            .filter(|d| d.task.get_ref() == task)
            .map(|d| d.name.get_ref().as_str())
            .collect();
        if of_task.is_empty() {
            return Err(suite.error_at(
                m.task.span(),
                Some("models.task"),
                format!("no dataset has task {task:?}: add a [[datasets]] with task = {task:?}"),
            ));
        }
        for d in m.datasets.iter().flatten() {
            if !of_task.contains(&d.get_ref().as_str()) {
                return Err(suite.error_at(
                    d.span(),
                    Some("models.datasets"),
                    format!(
                        "no dataset {:?} of task {task:?}; expected one of: {}",
                        d.get_ref(),
                        of_task.join(", ")
                    ),
                ));
            }
        }
        let prompt = spec.tasks.get(task).and_then(|t| t.prompt.as_ref());
        if m.class == ModelClass::GeneralPurpose && prompt.is_none() {
            return Err(suite.error_at(
                m.task.span(),
                Some("models.task"),
                format!(
                    "general-purpose model {:?} needs a prompt: add [tasks.{task}] prompt = \"... {{text}}\"",
                    m.name.get_ref()
                ),
            ));
        }
    }
    Ok(missing)
}

fn check_schedule(suite: &Suite) -> Result<(), SuiteError> {
    let s = &suite.spec.schedule;
    let p = &suite.spec.probes;
    let c = &suite.spec.carbon;
    let checks: [(bool, &str, &str); 9] = [
        (
            s.inferences >= 1,
            "schedule.inferences",
            "expected at least 1",
        ),
        (
            s.repetitions >= 1,
            "schedule.repetitions",
            "expected at least 1",
        ),
        (
            s.concurrency >= 1,
            "schedule.concurrency",
            "expected at least 1",
        ),
        (
            s.idle_seconds >= 0.0 && s.cooldown_seconds >= 0.0,
            "schedule",
            "idle_seconds and cooldown_seconds must not be negative",
        ),
        (
            s.request_timeout_seconds > 0.0,
            "schedule.request_timeout_seconds",
            "expected a positive number of seconds",
        ),
        (
            (0.0..=1.0).contains(&s.max_failure_share),
            "schedule.max_failure_share",
            "expected a share between 0 and 1",
        ),
        (
            p.sample_hz > 0.0 && p.sample_hz <= 1000.0,
            "probes.sample_hz",
            "expected a rate above 0 and at most 1000 Hz",
        ),
        (c.pue >= 1.0, "carbon.pue", "expected a PUE of at least 1.0"),
        (
            c.intensity_g_per_kwh >= 0.0,
            "carbon.intensity_g_per_kwh",
            "expected a non-negative intensity in gCO2eq/kWh",
        ),
    ];
    for (ok, key, message) in checks {
        if !ok {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            return Err(suite.error_at(
                find_key(&suite.text, leaf),
                Some(key),
                message.to_string(),
            ));
        }
    }
    Ok(())
}

/// The format of a dataset file from its extension.
pub fn dataset_format(path: &Path) -> Option<DatasetFormat> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "jsonl" | "ndjson" => Some(DatasetFormat::Jsonl),
        "csv" => Some(DatasetFormat::Csv),
        "parquet" => Some(DatasetFormat::Parquet),
        _ => None,
    }
}

fn join(names: &BTreeSet<&str>) -> String {
    if names.is_empty() {
        "(none: add a [servers.NAME] table)".into()
    } else {
        names.iter().copied().collect::<Vec<_>>().join(", ")
    }
}

/// The span of the first occurrence of `needle`, or the file's start.
fn find(text: &str, needle: &str) -> Range<usize> {
    text.find(needle).map_or(0..0, |i| i..i + needle.len())
}

/// The span of the first line assigning `key`, or the file's start.
fn find_key(text: &str, key: &str) -> Range<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with(key) && trimmed[key.len()..].trim_start().starts_with('=') {
            let start = offset + (line.len() - trimmed.len());
            return start..start + key.len();
        }
        offset += line.len();
    }
    0..0
}
