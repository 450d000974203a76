//! The checked suite file turned into the plain values of [`Suite`](super::Suite):
//! servers, and models with their request templates, protocols and datasets.

use super::error::SourceText;
use super::file::{ModelSpec, ServerSpec, SuiteFile};
use super::{DatasetSource, Model, ModelClass, Server, ServerAddress, ServerProcesses, SuiteError};
use crate::plan::DEFAULT_INPUT_TEMPLATE;
use crate::protocol::{self, Generation, JsonTemplate, KserveV2, Protocol, ProtocolKind};
use crate::template::Template;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every server of a checked suite file (each has exactly one of `url` and `launch`).
pub(super) fn servers(
    src: SourceText<'_>,
    spec: &SuiteFile,
) -> Result<BTreeMap<String, Server>, SuiteError> {
    spec.servers
        .iter()
        .map(|(key, s)| Ok((key.clone(), server(src, key, s)?)))
        .collect()
}

fn server(src: SourceText<'_>, key: &str, s: &ServerSpec) -> Result<Server, SuiteError> {
    let address = match (&s.url, &s.launch) {
        (Some(url), None) => ServerAddress::Url(url.get_ref().clone()),
        (None, Some(launch)) => ServerAddress::Launch(launch.get_ref().clone()),
        // The checks refuse both and neither; say so again rather than pick one.
        _ => {
            return Err(src.error_at(
                0..0,
                Some(&format!("servers.{key}")),
                "expected `url = \"http://host:port\"` or `launch = [\"command\", ...]`".into(),
            ));
        }
    };
    let processes = processes(src, key, s, matches!(address, ServerAddress::Launch(_)))?;
    Ok(Server {
        address,
        ready_url: s.ready_url.clone(),
        ready_timeout_seconds: s.ready_timeout_seconds,
        api_key_env: s.api_key_env.clone(),
        env: s.env.clone(),
        processes,
    })
}

/// Linux's largest possible pid (`/proc/sys/kernel/pid_max` is at most 2^22).
const PID_MAX: i64 = 4_194_304;

/// The server's `pid`, `pid_file` or `process_name` (at most one, and only with `url`).
fn processes(
    src: SourceText<'_>,
    key: &str,
    s: &ServerSpec,
    launched: bool,
) -> Result<Option<ServerProcesses>, SuiteError> {
    let given: Vec<(&str, std::ops::Range<usize>)> = [
        ("pid", s.pid.as_ref().map(|v| v.span())),
        ("pid_file", s.pid_file.as_ref().map(|v| v.span())),
        ("process_name", s.process_name.as_ref().map(|v| v.span())),
    ]
    .into_iter()
    .filter_map(|(k, span)| span.map(|sp| (k, sp)))
    .collect();
    let Some((first, span)) = given.first().cloned() else {
        return Ok(None);
    };
    let at = |k: &str| format!("servers.{key}.{k}");
    if launched {
        return Err(src.error_at(
            span,
            Some(&at(first)),
            format!(
                "`{first}` names the processes of a server given by `url`; a launched server is attributed by its own process group: remove `{first}`"
            ),
        ));
    }
    if let Some((second, span)) = given.get(1).cloned() {
        return Err(src.error_at(
            span,
            Some(&at(second)),
            format!("give one of `pid`, `pid_file` and `process_name`, not both `{first}` and `{second}`"),
        ));
    }
    if let Some(pid) = &s.pid {
        let v = *pid.get_ref();
        if !(1..=PID_MAX).contains(&v) {
            return Err(src.error_at(
                pid.span(),
                Some(&at("pid")),
                format!("{v} is not a process id: expected 1 to {PID_MAX} (the server's pid, e.g. from `pgrep -f vllm`)"),
            ));
        }
        return Ok(Some(ServerProcesses::Pid(v as u32)));
    }
    if let Some(file) = &s.pid_file {
        if file.get_ref().trim().is_empty() {
            return Err(src.error_at(
                file.span(),
                Some(&at("pid_file")),
                "an empty path: give the file the server writes its pid to".into(),
            ));
        }
        return Ok(Some(ServerProcesses::PidFile(file.get_ref().into())));
    }
    if let Some(name) = &s.process_name {
        let n = name.get_ref();
        // The kernel keeps 15 bytes of a command name in /proc/PID/comm.
        if n.is_empty() || n.len() > 15 || n.contains('/') {
            return Err(src.error_at(
                name.span(),
                Some(&at("process_name")),
                format!("{n:?} cannot be a command name: expected 1 to 15 bytes without `/`, as `/proc/PID/comm` (or `ps -o comm`) shows it"),
            ));
        }
        return Ok(Some(ServerProcesses::Name(n.clone())));
    }
    Ok(None)
}

/// Every model of a checked suite file, in suite order, with its template, protocol,
/// generation settings and datasets.
pub(super) fn models(
    src: SourceText<'_>,
    spec: &SuiteFile,
    datasets: &[DatasetSource],
) -> Result<Vec<Model>, SuiteError> {
    spec.models
        .iter()
        .enumerate()
        .map(|(i, m)| model(src, spec, i, m, datasets))
        .collect()
}

fn model(
    src: SourceText<'_>,
    spec: &SuiteFile,
    index: usize,
    m: &ModelSpec,
    datasets: &[DatasetSource],
) -> Result<Model, SuiteError> {
    let task = m.task.get_ref();
    let task_spec = spec.tasks.get(task);
    let (template_text, span, key) = match m.class {
        ModelClass::GeneralPurpose => match task_spec.and_then(|t| t.prompt.as_ref()) {
            Some(p) => (
                p.get_ref().clone(),
                p.span(),
                format!("tasks.{task}.prompt"),
            ),
            None => {
                return Err(src.error_at(
                    m.task.span(),
                    Some("models.task"),
                    format!(
                        "add [tasks.{task}] prompt = \"... {{text}}\" for general-purpose models"
                    ),
                ));
            }
        },
        ModelClass::TaskSpecific => match task_spec.and_then(|t| t.input.as_ref()) {
            Some(p) => (p.get_ref().clone(), p.span(), format!("tasks.{task}.input")),
            None => (DEFAULT_INPUT_TEMPLATE.to_string(), 0..0, String::new()),
        },
    };
    let template = Template::parse(&template_text)
        .map_err(|e| src.error_at(span, Some(&key), e.to_string()))?;
    let server = m.server.get_ref();
    let Some(server_spec) = spec.servers.get(server) else {
        return Err(src.error_at(
            m.server.span(),
            Some("models.server"),
            format!("no server {server:?}"),
        ));
    };
    let kind = m.protocol.unwrap_or(server_spec.protocol);
    let wire: Arc<dyn Protocol> = match (kind, &server_spec.kserve_input) {
        (ProtocolKind::KserveV2, Some(name)) => {
            Arc::new(KserveV2::with_input(&kserve_input(src, server, name)?))
        }
        _ => protocol::of_kind(kind, || json_template(src, server, server_spec, m))?,
    };
    let generation = wire.generates().then(|| Generation {
        max_tokens: task_spec
            .and_then(|t| t.max_tokens)
            .unwrap_or(spec.generation.max_tokens),
        temperature: spec.generation.temperature,
        pin_output_length: spec.generation.pin_output_length,
        stream: spec.generation.stream && wire.streams(),
    });
    let wanted: Vec<usize> = datasets
        .iter()
        .enumerate()
        .filter(|(_, d)| match &m.datasets {
            Some(list) => list.iter().any(|n| n.get_ref() == &d.name),
            None => &d.task == task,
        })
        .map(|(i, _)| i)
        .collect();
    Ok(Model {
        name: m.name.get_ref().clone(),
        served_name: m
            .served_name
            .clone()
            .unwrap_or_else(|| m.name.get_ref().clone()),
        task: task.clone(),
        class: m.class,
        parameters: m.parameters,
        active_parameters: m.active_parameters.as_ref().map(|a| *a.get_ref()),
        weight_bytes: m.weight_bytes.as_ref().map(|w| *w.get_ref()),
        variant_of: m.variant_of.as_ref().map(|v| v.get_ref().clone()),
        techniques: super::variants::techniques(src, m)?,
        server: server.clone(),
        wire,
        template,
        template_text,
        generation,
        datasets: wanted,
        reference: m.reference.as_ref().map(|r| r.get_ref().clone()),
        points: super::levels::points(src, spec, index, m)?,
    })
}

/// The server's `kserve_input`, checked: a tensor name is not empty and has no spaces.
fn kserve_input(
    src: SourceText<'_>,
    server: &str,
    name: &toml::Spanned<String>,
) -> Result<String, SuiteError> {
    let text = name.get_ref();
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        return Err(src.error_at(
            name.span(),
            Some(&format!("servers.{server}.kserve_input")),
            format!(
                "{text:?} is not a tensor name: give the name of the model's BYTES input, as its config.pbtxt or `GET /v2/models/NAME` lists it (default \"text\")"
            ),
        ));
    }
    Ok(text.clone())
}

/// The server's `[servers.NAME.json_template]` table, checked, for a `json-template` model.
fn json_template(
    src: SourceText<'_>,
    server: &str,
    spec: &ServerSpec,
    model: &ModelSpec,
) -> Result<JsonTemplate, SuiteError> {
    let Some(t) = spec.json_template.as_ref() else {
        return Err(src.error_at(
            model.server.span(),
            Some("models.server"),
            format!(
                "protocol json-template needs a [servers.{server}.json_template] table with path, body and output (see suites/README.md)"
            ),
        ));
    };
    JsonTemplate::new(
        t.path.get_ref(),
        t.body.get_ref(),
        t.output.get_ref(),
        t.prompt_tokens.as_ref().map(|p| p.get_ref().as_str()),
        t.completion_tokens.as_ref().map(|p| p.get_ref().as_str()),
    )
    .map_err(|e| {
        let span = match e.key {
            "path" => t.path.span(),
            "body" => t.body.span(),
            "output" => t.output.span(),
            "prompt_tokens" => t.prompt_tokens.as_ref().map_or(0..0, |p| p.span()),
            _ => t.completion_tokens.as_ref().map_or(0..0, |p| p.span()),
        };
        src.error_at(
            span,
            Some(&format!("servers.{server}.json_template.{}", e.key)),
            e.message,
        )
    })
}
