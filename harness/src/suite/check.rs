//! The checks of a parsed suite file that need more than one key, or the file system.

use super::error::SourceText;
use super::file::SuiteFile;
use super::keys::{Step, value_span};
use super::numbers::check_numbers;
use super::{DatasetFormat, DatasetSource, MissingDataset, ModelClass, SuiteError};
use crate::dataset::FileProblem;
use crate::protocol::ProtocolKind;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

/// What to do when no energy source is asked for or available (the dry run says the same).
pub const NO_SOURCE_FIX: &str = "add \"estimate\" to [probes] sources";

/// The datasets, checked and resolved against `dir`, and those whose files are not there.
pub(super) struct CheckedDatasets {
    /// Every dataset, in suite order.
    pub sources: Vec<DatasetSource>,
    /// Dataset files that are not there (when they need not be).
    pub missing: Vec<MissingDataset>,
}

/// Every check that needs more than one key, or the file system; dataset paths resolve
/// against `dir`.
pub(super) fn check(
    src: SourceText<'_>,
    spec: &SuiteFile,
    dir: &Path,
    datasets_must_exist: bool,
) -> Result<CheckedDatasets, SuiteError> {
    let name = &spec.suite.name;
    if name.get_ref().trim().is_empty()
        || name
            .get_ref()
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
    {
        return Err(src.error_at(
            name.span(),
            Some("name"),
            "expected a non-empty name of letters, digits, '-', '_' or '.' (it names the results folder)".into(),
        ));
    }
    check_numbers(src, spec)?;
    check_sources(src, spec)?;
    let mut server_names = BTreeSet::new();
    for (key, server) in &spec.servers {
        server_names.insert(key.as_str());
        match (&server.url, &server.launch) {
            (Some(_), Some(launch)) => {
                return Err(src.error_at(
                    launch.span(),
                    Some(&format!("servers.{key}.launch")),
                    "give either `url` (a running server) or `launch` (a command), not both".into(),
                ));
            }
            (None, None) => {
                return Err(src.error_at(
                    find(src.text, &format!("[servers.{key}]")),
                    Some(&format!("servers.{key}")),
                    "expected `url = \"http://host:port\"` or `launch = [\"command\", ...]`".into(),
                ));
            }
            (Some(url), None) => {
                let u = url.get_ref();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(src.error_at(
                        url.span(),
                        Some(&format!("servers.{key}.url")),
                        format!("expected an http:// or https:// URL, found {u:?}"),
                    ));
                }
                for (protocol, whose) in spoken(spec, key, server.protocol) {
                    if let Some((root, doubled)) = versioned_base(u, protocol) {
                        return Err(src.error_at(
                            url.span(),
                            Some(&format!("servers.{key}.url")),
                            format!(
                                "{u:?} ends in an API version, but the {} protocol{whose} adds its own path (requests would go to {root}{doubled}); write the server's root URL: {root}",
                                protocol.as_str()
                            ),
                        ));
                    }
                }
            }
            (None, Some(launch)) if launch.get_ref().is_empty() => {
                return Err(src.error_at(
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
    let mut sources = Vec::new();
    for d in &spec.datasets {
        if !dataset_names.insert(d.name.get_ref().as_str()) {
            return Err(src.error_at(
                d.name.span(),
                Some("datasets.name"),
                format!("dataset name {:?} is used twice", d.name.get_ref()),
            ));
        }
        let file = dir.join(d.path.get_ref());
        match crate::dataset::check_regular(&file) {
            Ok(()) => {}
            Err(FileProblem::Missing) if !datasets_must_exist => {
                missing.push(MissingDataset {
                    name: d.name.get_ref().clone(),
                    path: file.clone(),
                });
            }
            Err(problem) => {
                let hint = match problem {
                    FileProblem::Missing => " (paths are relative to the suite file's folder)",
                    _ => "",
                };
                return Err(src.error_at(
                    d.path.span(),
                    Some("datasets.path"),
                    format!("dataset file {} {problem}{hint}", file.display()),
                ));
            }
        }
        let Some(format) = d.format.or_else(|| dataset_format(d.path.get_ref())) else {
            return Err(src.error_at(
                d.path.span(),
                Some("datasets.path"),
                "cannot tell the format from the extension: name it .jsonl, .csv or .parquet, or set `format`"
                    .into(),
            ));
        };
        let (expected, scorer) = super::scoring::scoring_of(src, d)?;
        let mut fields = d.fields.clone();
        fields.remove(super::scoring::EXPECTED_FIELD);
        sources.push(DatasetSource {
            name: d.name.get_ref().clone(),
            task: d.task.get_ref().clone(),
            path: file,
            format,
            fields,
            limit: d.limit,
            offset: d.offset,
            seed: d.seed,
            reference: d.reference.as_ref().map(|r| r.get_ref().clone()),
            expected,
            scorer,
        });
    }
    if spec.models.is_empty() {
        return Err(src.error_at(
            0..0,
            Some("models"),
            "the suite has no [[models]]: add at least one".into(),
        ));
    }
    let mut model_names = BTreeSet::new();
    for m in &spec.models {
        if !model_names.insert(m.name.get_ref().as_str()) {
            return Err(src.error_at(
                m.name.span(),
                Some("models.name"),
                format!("model name {:?} is used twice", m.name.get_ref()),
            ));
        }
        if !server_names.contains(m.server.get_ref().as_str()) {
            return Err(src.error_at(
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
            return Err(src.error_at(
                m.task.span(),
                Some("models.task"),
                format!("no dataset has task {task:?}: add a [[datasets]] with task = {task:?}"),
            ));
        }
        for d in m.datasets.iter().flatten() {
            if !of_task.contains(&d.get_ref().as_str()) {
                return Err(src.error_at(
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
            return Err(src.error_at(
                m.task.span(),
                Some("models.task"),
                format!(
                    "general-purpose model {:?} needs a prompt: add [tasks.{task}] prompt = \"... {{text}}\"",
                    m.name.get_ref()
                ),
            ));
        }
    }
    Ok(CheckedDatasets { sources, missing })
}

/// `[probes] sources` asks for at least one energy source: a run with none would end
/// "complete" with no energy at all.
fn check_sources(src: SourceText<'_>, spec: &SuiteFile) -> Result<(), SuiteError> {
    if !spec.probes.sources.is_empty() {
        return Ok(());
    }
    let span = value_span(src.text, &[Step::Key("probes"), Step::Key("sources")]);
    Err(src.error_at(
        span.unwrap_or(0..0),
        Some("probes.sources"),
        format!("expected at least one of \"rapl\", \"nvml\", \"estimate\", found none: no energy source would be measured; {NO_SOURCE_FIX}"),
    ))
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

/// The protocols spoken to server `key` (whose own is `default`): each of its models' (a
/// model's `protocol` overrides the server's), or the server's when no model uses it; with
/// the words naming whose it is (`` of model `m` ``).
fn spoken(spec: &SuiteFile, key: &str, default: ProtocolKind) -> Vec<(ProtocolKind, String)> {
    let mut kinds: Vec<(ProtocolKind, String)> = Vec::new();
    for m in spec.models.iter().filter(|m| m.server.get_ref() == key) {
        let kind = m.protocol.unwrap_or(default);
        if !kinds.iter().any(|(k, _)| *k == kind) {
            let whose = match m.protocol {
                Some(_) => format!(" of model `{}`", m.name.get_ref()),
                None => String::new(),
            };
            kinds.push((kind, whose));
        }
    }
    if kinds.is_empty() {
        kinds.push((default, String::new()));
    }
    kinds
}

/// The root of a base URL whose path ends in the API version that `protocol`'s paths
/// start with (`/v1` for OpenAI, `/v2` for KServe), and the path such a base would ask
/// for, doubling the version.
fn versioned_base(url: &str, protocol: ProtocolKind) -> Option<(&str, &'static str)> {
    let (version, doubled) = match protocol {
        ProtocolKind::OpenaiCompletions => ("v1", "/v1/v1/completions"),
        ProtocolKind::OpenaiChat => ("v1", "/v1/v1/chat/completions"),
        ProtocolKind::KserveV2 => ("v2", "/v2/v2/models/{name}/infer"),
        _ => return None,
    };
    let trimmed = url.trim_end_matches('/');
    let (_, rest) = trimmed.split_once("://")?;
    let (_, last) = rest.rsplit_once('/')?;
    (last == version).then(|| (&trimmed[..trimmed.len() - last.len() - 1], doubled))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads a one-model suite: server `protocol` at `url`, the model's `protocol` line.
    fn load(server_protocol: &str, url: &str, model_line: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("d.jsonl"), "{\"text\": \"a\"}\n").expect("data");
        let path = dir.path().join("s.toml");
        let text = format!(
            "[suite]\nname = \"n\"\n[servers.s]\nprotocol = \"{server_protocol}\"\nurl = \"{url}\"\n\
             [[models]]\nname = \"m\"\ntask = \"t\"\nclass = \"task-specific\"\nserver = \"s\"\n{model_line}\n\
             [[datasets]]\nname = \"d\"\ntask = \"t\"\npath = \"d.jsonl\"\n"
        );
        std::fs::write(&path, text).expect("suite");
        crate::suite::load(&path)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_versioned_base_is_judged_by_the_protocol_each_model_speaks() {
        let err = load(
            "tei-predict",
            "http://127.0.0.1:9/v1",
            "protocol = \"openai-completions\"",
        )
        .expect_err("the model speaks OpenAI: /v1/v1/completions");
        assert!(err.contains("/v1/v1/completions"), "{err}");
        assert!(err.contains("servers.s.url"), "{err}");
        assert!(err.contains("model `m`"), "{err}");
        assert!(
            load(
                "openai-completions",
                "http://127.0.0.1:9/v1",
                "protocol = \"tei-predict\""
            )
            .is_ok(),
            "no model speaks OpenAI to it"
        );
        assert!(load("openai-completions", "http://127.0.0.1:9/v1", "").is_err());
    }

    #[test]
    fn a_base_ending_in_its_protocols_version_gives_the_root() {
        let openai = ProtocolKind::OpenaiCompletions;
        assert_eq!(
            versioned_base("http://127.0.0.1:8000/v1/", openai),
            Some(("http://127.0.0.1:8000", "/v1/v1/completions"))
        );
        assert_eq!(
            versioned_base("http://h/llm/v2", ProtocolKind::KserveV2),
            Some(("http://h/llm", "/v2/v2/models/{name}/infer"))
        );
        assert_eq!(versioned_base("http://127.0.0.1:8000", openai), None);
        assert_eq!(versioned_base("http://v1", openai), None, "a host named v1");
        assert_eq!(
            versioned_base("http://h/llm", openai),
            None,
            "a proxy prefix"
        );
        assert_eq!(versioned_base("http://h/v2", openai), None);
        assert_eq!(
            versioned_base("http://h/v1", ProtocolKind::TgiGenerate),
            None
        );
    }
}
