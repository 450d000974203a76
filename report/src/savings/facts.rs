//! What is known of each model: what the suite declared (`run.json` `models`, and the
//! `parameters` column of `repetitions.csv`) and what its server said
//! (`servers/NAME.models.json`); a suite's value wins, and each says where it came from.

use crate::ReportError;
use crate::configs::Configuration;
use records::RecordsError;
use records::manifest::RunManifest;
use records::models::{SERVER_MODELS_EXT, ServerModel, ServerModels, Technique};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a fact about a model came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FactSource {
    /// Declared in the suite.
    Suite,
    /// Said by the server (`GET /v1/models`).
    Server,
}

impl FactSource {
    /// `suite` or `server`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suite => "suite",
            Self::Server => "server",
        }
    }
}

/// A value with where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: FactSource,
}

/// What is known of one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelFacts {
    /// Model name.
    pub model: String,
    /// The baseline it is a variant of.
    pub variant_of: Option<String>,
    /// What makes it a variant.
    pub techniques: Vec<Technique>,
    /// Total parameters.
    pub parameters: Option<Sourced<u64>>,
    /// Parameters used per token (the total when neither suite nor server says otherwise).
    pub active_parameters: Option<Sourced<u64>>,
    /// Bytes of the weights as served.
    pub weight_bytes: Option<Sourced<u64>>,
    /// Weight format the server names (`q4_0`).
    pub weight_format: Option<String>,
    /// Architecture the server names.
    pub architecture: Option<String>,
    /// The server's `techniques` object, as it said it.
    pub server_techniques: Option<serde_json::Value>,
}

impl ModelFacts {
    /// Active parameters when they differ from the total.
    pub fn active_if_different(&self) -> Option<u64> {
        match (self.active_parameters, self.parameters) {
            (Some(a), Some(p)) if a.value != p.value => Some(a.value),
            (Some(a), None) => Some(a.value),
            _ => None,
        }
    }
}

/// The facts of every model of `configs`, by model name.
pub fn load(
    dir: &Path,
    manifest: &RunManifest,
    configs: &[Configuration],
) -> Result<BTreeMap<String, ModelFacts>, ReportError> {
    let server = server_models(dir)?;
    let mut out: BTreeMap<String, ModelFacts> = BTreeMap::new();
    for c in configs {
        let facts = out
            .entry(c.info.model.clone())
            .or_insert_with(|| ModelFacts {
                model: c.info.model.clone(),
                ..ModelFacts::default()
            });
        if facts.parameters.is_none() {
            facts.parameters = c.info.parameters.map(suite);
        }
    }
    for m in manifest.models.iter().flatten() {
        let facts = out.entry(m.name.clone()).or_insert_with(|| ModelFacts {
            model: m.name.clone(),
            ..ModelFacts::default()
        });
        facts.variant_of = m.variant_of.clone();
        facts.techniques = m.techniques.clone();
        facts.parameters = m.parameters.map(suite).or(facts.parameters);
        facts.active_parameters = m.active_parameters.map(suite);
        facts.weight_bytes = m.weight_bytes.map(suite);
    }
    for (name, facts) in &mut out {
        if let Some(s) = server.get(name) {
            let said = |v: Option<u64>| {
                v.map(|value| Sourced {
                    value,
                    source: FactSource::Server,
                })
            };
            facts.parameters = facts.parameters.or(said(s.parameters));
            facts.active_parameters = facts.active_parameters.or(said(s.active_parameters));
            let bytes = s.weights.as_ref().and_then(|w| w.bytes);
            facts.weight_bytes = facts.weight_bytes.or(said(bytes));
            facts.weight_format = s.weights.as_ref().and_then(|w| w.format.clone());
            facts.architecture = s.architecture.clone();
            facts.server_techniques = s.techniques.clone();
        }
        facts.active_parameters = facts.active_parameters.or(facts.parameters);
    }
    Ok(out)
}

fn suite(value: u64) -> Sourced<u64> {
    Sourced {
        value,
        source: FactSource::Suite,
    }
}

/// What the servers of the run said of its models (`servers/*.models.json`, and in a merged
/// run each shard's `servers/shard-I/*.models.json`), by model.
fn server_models(dir: &Path) -> Result<BTreeMap<String, ServerModel>, ReportError> {
    let (mut paths, shards) = models_files(&dir.join(records::files::SERVER_LOGS_DIR));
    for shard in shards {
        paths.extend(models_files(&shard).0);
    }
    let mut out = BTreeMap::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|cause| RecordsError::Io {
            path: path.clone(),
            cause,
        })?;
        let file: ServerModels =
            serde_json::from_str(&text).map_err(|cause| RecordsError::Json {
                path: path.clone(),
                cause,
            })?;
        for m in file.models {
            out.entry(m.model.clone()).or_insert(m);
        }
    }
    Ok(out)
}

/// The `*.models.json` files directly in `folder`, and its sub-folders, each list sorted
/// (both empty if it cannot be read).
fn models_files(folder: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return (Vec::new(), Vec::new());
    };
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            folders.push(path);
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(&format!(".{SERVER_MODELS_EXT}")))
        {
            files.push(path);
        }
    }
    files.sort();
    folders.sort();
    (files, folders)
}
