//! What "ready" means for a server: the URLs its models' protocols define, or the suite's
//! own `ready_url`.
//!
//! KServe v2: `GET /v2/health/ready`, then `GET /v2/models/{name}/ready` for each model.
//! OpenAI: `GET /v1/models` answers 2xx and lists every model's served name in `data[].id`.
//! TGI, TEI and json-template: `GET /health`. An explicit `ready_url` replaces them all
//! and only has to answer 2xx.

use crate::protocol::ProtocolKind;
use crate::suite::Server;
use crate::suite::plan::Plan;

/// How a server of the suite is known to be ready.
#[derive(Clone, Debug, PartialEq)]
pub enum Readiness {
    /// The suite's `ready_url`, as written (placeholders unfilled): ready once it answers 2xx.
    Url(String),
    /// The checks its models' protocols define, in order, each under the base URL.
    Protocol(Vec<ReadyCheck>),
}

/// One protocol-defined check: `GET base + path` answers 2xx (and lists `lists`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReadyCheck {
    /// Path under the base URL, e.g. `/v1/models`.
    pub path: String,
    /// The protocol that defines it.
    pub protocol: ProtocolKind,
    /// Served model names the answer's `data[].id` must list (OpenAI `/v1/models`).
    pub lists: Vec<String>,
    /// The served model this URL is about (KServe `/v2/models/{name}/ready`).
    pub model: Option<String>,
}

/// A check with its full URL, ready to poll.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// The URL polled with GET.
    pub url: String,
    /// The protocol that defines it; `None` for the suite's `ready_url`.
    pub protocol: Option<ProtocolKind>,
    /// Served model names `data[].id` must list.
    pub lists: Vec<String>,
    /// The served model the URL is about, if one.
    pub model: Option<String>,
}

impl Probe {
    /// Why a 2xx answer to this probe does not yet mean ready: a model its `data[].id`
    /// does not list (or no such list at all); `None` when it is ready.
    pub fn unready(&self, body: &[u8]) -> Option<String> {
        if self.lists.is_empty() {
            return None;
        }
        let Some(ids) = listed_ids(body) else {
            return Some(format!(
                "the answer has no `data` list of models with `id`s (it began: {})",
                String::from_utf8_lossy(body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        };
        let missing: Vec<String> = self
            .lists
            .iter()
            .filter(|m| !ids.contains(m))
            .cloned()
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "it does not list {} (the models' served_name) in data[].id; it listed: {}",
                quoted(&missing),
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    quoted(&ids)
                }
            )
        })
    }
}

impl Readiness {
    /// The readiness of server `key` (`spec`): its `ready_url`, else what the protocols of
    /// the plan's models on it define (`/health` for a server no configuration uses).
    pub fn of(plan: &Plan, spec: &Server, key: &str) -> Self {
        if let Some(url) = &spec.ready_url {
            return Self::Url(url.clone());
        }
        let mut checks: Vec<ReadyCheck> = Vec::new();
        for c in plan.configurations.iter().filter(|c| c.server == key) {
            let kind = c.wire.kind();
            let name = c.served_name.as_str();
            match kind {
                ProtocolKind::OpenaiCompletions | ProtocolKind::OpenaiChat => {
                    add(&mut checks, "/v1/models".into(), kind, Some(name), None);
                }
                ProtocolKind::KserveV2 => {
                    add(&mut checks, "/v2/health/ready".into(), kind, None, None);
                    let path = format!("/v2/models/{name}/ready");
                    add(&mut checks, path, kind, None, Some(name));
                }
                ProtocolKind::TgiGenerate
                | ProtocolKind::TeiPredict
                | ProtocolKind::TeiEmbed
                | ProtocolKind::JsonTemplate => {
                    add(&mut checks, "/health".into(), kind, None, None)
                }
            }
        }
        if checks.is_empty() {
            let kind = ProtocolKind::JsonTemplate;
            add(&mut checks, "/health".into(), kind, None, None);
        }
        // The server-wide KServe check before the per-model ones.
        checks.sort_by_key(|c| c.model.is_some());
        Self::Protocol(checks)
    }

    /// The probes for a server at `base` (no trailing `/`); `fill` fills the placeholders of
    /// an explicit `ready_url`.
    pub fn probes(&self, base: &str, fill: impl Fn(&str) -> String) -> Vec<Probe> {
        match self {
            Self::Url(url) => vec![Probe {
                url: fill(url),
                protocol: None,
                lists: Vec::new(),
                model: None,
            }],
            Self::Protocol(checks) => checks
                .iter()
                .map(|c| Probe {
                    url: format!("{base}{}", c.path),
                    protocol: Some(c.protocol),
                    lists: c.lists.clone(),
                    model: c.model.clone(),
                })
                .collect(),
        }
    }
}

/// Adds the check of `path` (once), and `list` to the ids it must list.
fn add(
    checks: &mut Vec<ReadyCheck>,
    path: String,
    protocol: ProtocolKind,
    list: Option<&str>,
    model: Option<&str>,
) {
    let i = match checks.iter().position(|c| c.path == path) {
        Some(i) => i,
        None => {
            checks.push(ReadyCheck {
                path,
                protocol,
                lists: Vec::new(),
                model: model.map(str::to_string),
            });
            checks.len() - 1
        }
    };
    let check = &mut checks[i];
    if let Some(id) = list.filter(|id| !check.lists.iter().any(|l| l == id)) {
        check.lists.push(id.to_string());
    }
}

impl Probe {
    /// The probe in words: `GET URL answers 2xx`, and what its answer must list.
    pub fn describe(&self) -> String {
        let mut text = format!("GET {} answers 2xx", self.url);
        if !self.lists.is_empty() {
            text.push_str(" listing ");
            text.push_str(&quoted(&self.lists));
            text.push_str(" in data[].id");
        }
        text
    }
}

/// The model ids of an OpenAI `/v1/models` answer (`data[].id`).
fn listed_ids(body: &[u8]) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data")?.as_array()?;
    Some(
        data.iter()
            .filter_map(|m| m.get("id").and_then(|id| id.as_str()).map(str::to_string))
            .collect(),
    )
}

/// Names as `"a", "b"`.
fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The readiness of server `s` of a suite with `models` (TOML `[[models]]` tables).
    fn readiness_of(server_lines: &str, models: &[(&str, &str)]) -> Readiness {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("d.jsonl"), "{\"text\": \"a\"}\n").expect("data");
        let mut text = format!(
            "[suite]\nname = \"n\"\n[servers.s]\nurl = \"http://127.0.0.1:9\"\n{server_lines}\n\
             [[datasets]]\nname = \"d\"\ntask = \"t\"\npath = \"d.jsonl\"\n"
        );
        for (name, protocol) in models {
            text += &format!(
                "[[models]]\nname = \"{name}\"\ntask = \"t\"\nclass = \"task-specific\"\nserver = \"s\"\nprotocol = \"{protocol}\"\n"
            );
        }
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).expect("suite");
        let suite = crate::suite::load(&path).expect("a valid suite");
        Readiness::of(&suite.plan, &suite.servers["s"], "s")
    }

    #[test]
    fn each_protocol_of_a_servers_models_adds_its_urls_once_server_wide_first() {
        let r = readiness_of(
            "protocol = \"tei-predict\"",
            &[
                ("a", "openai-completions"),
                ("k", "kserve-v2"),
                ("b", "openai-chat"),
                ("c", "tei-predict"),
            ],
        );
        let probes = r.probes("http://h", str::to_string);
        let urls: Vec<(&str, &[String])> = probes
            .iter()
            .map(|p| (p.url.as_str(), p.lists.as_slice()))
            .collect();
        let ab = ["a".to_string(), "b".to_string()];
        assert_eq!(
            urls,
            vec![
                ("http://h/v1/models", &ab[..]),
                ("http://h/v2/health/ready", &[][..]),
                ("http://h/health", &[][..]),
                ("http://h/v2/models/k/ready", &[][..]),
            ]
        );
        assert_eq!(probes[3].model.as_deref(), Some("k"));
        let explicit = readiness_of(
            "protocol = \"kserve-v2\"\nready_url = \"http://h/up\"",
            &[("k", "kserve-v2")],
        );
        assert_eq!(explicit, Readiness::Url("http://h/up".into()));
    }

    #[test]
    fn an_openai_models_answer_gives_its_ids() {
        let body = br#"{"object":"list","data":[{"id":"a"},{"id":"b","object":"model"}]}"#;
        assert_eq!(listed_ids(body), Some(vec!["a".into(), "b".into()]));
        assert_eq!(listed_ids(b"<html>"), None);
        assert_eq!(listed_ids(b"{}"), None);
    }

    #[test]
    fn probes_put_paths_under_the_base_and_fill_an_explicit_url() {
        let checks = Readiness::Protocol(vec![ReadyCheck {
            path: "/v1/models".into(),
            protocol: ProtocolKind::OpenaiChat,
            lists: vec!["m".into()],
            model: None,
        }]);
        let probes = checks.probes("http://h:1", |s| s.to_string());
        assert_eq!(probes[0].url, "http://h:1/v1/models");
        assert_eq!(
            probes[0].describe(),
            "GET http://h:1/v1/models answers 2xx listing \"m\" in data[].id"
        );
        let url = Readiness::Url("http://127.0.0.1:{port}/ok".into());
        let probes = url.probes("http://h:1", |s| s.replace("{port}", "7"));
        assert_eq!(probes[0].url, "http://127.0.0.1:7/ok");
        assert_eq!(probes[0].protocol, None);
    }
}
