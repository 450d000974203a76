//! The plan: configurations (model × dataset) and the interleaved order of repetitions.

use crate::protocol::{self, Generation, JsonTemplate, Protocol};
use crate::shuffle::shuffle;
use crate::suite::{ModelClass, ProtocolKind, RunOrder, Suite, SuiteError};
use crate::template::Template;
use std::sync::Arc;

/// Template used for task-specific models when the task gives none.
pub const DEFAULT_INPUT_TEMPLATE: &str = "{text}";

/// One model on one dataset: the unit that gets repetitions and a summary row.
#[derive(Clone, Debug)]
pub struct Configuration {
    /// `model@dataset`.
    pub id: String,
    /// Index of the model in the suite.
    pub model_index: usize,
    /// Index of the dataset in the suite.
    pub dataset_index: usize,
    /// Model name.
    pub model: String,
    /// Name sent to the server.
    pub served_name: String,
    /// Dataset name.
    pub dataset: String,
    /// Task name.
    pub task: String,
    /// Task-specific or general-purpose.
    pub class: ModelClass,
    /// Parameter count, when given.
    pub parameters: Option<u64>,
    /// Server key.
    pub server: String,
    /// The protocol spoken: how requests are built and answers read.
    pub wire: Arc<dyn Protocol>,
    /// Template turning a dataset row into the request text.
    pub template: Template,
    /// The template's text, for the plan printout.
    pub template_text: String,
    /// Generation settings, for generating protocols.
    pub generation: Option<Generation>,
}

/// Every configuration and the order they are visited in each repetition round.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The configurations, in suite order.
    pub configurations: Vec<Configuration>,
    /// For each repetition (1-based position r−1), configuration indices in visiting order.
    pub rounds: Vec<Vec<usize>>,
}

impl Plan {
    /// Builds the plan of a checked suite.
    pub fn of(suite: &Suite) -> Result<Self, SuiteError> {
        let spec = &suite.spec;
        let mut configurations = Vec::new();
        for (mi, m) in spec.models.iter().enumerate() {
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
                        return Err(suite.error_at(
                            m.task.span(),
                            Some("models.task"),
                            format!("add [tasks.{task}] prompt = \"... {{text}}\" for general-purpose models"),
                        ));
                    }
                },
                ModelClass::TaskSpecific => match task_spec.and_then(|t| t.input.as_ref()) {
                    Some(p) => (p.get_ref().clone(), p.span(), format!("tasks.{task}.input")),
                    None => (DEFAULT_INPUT_TEMPLATE.to_string(), 0..0, String::new()),
                },
            };
            let template = Template::parse(&template_text)
                .map_err(|e| suite.error_at(span, Some(&key), e.to_string()))?;
            let server = m.server.get_ref().clone();
            let protocol = m
                .protocol
                .or_else(|| spec.servers.get(&server).map(|s| s.protocol))
                .unwrap_or(crate::suite::ProtocolKind::OpenaiCompletions);
            let wire = wire(suite, &server, protocol, m)?;
            let generation = wire.generates().then(|| Generation {
                max_tokens: task_spec
                    .and_then(|t| t.max_tokens)
                    .unwrap_or(spec.generation.max_tokens),
                temperature: spec.generation.temperature,
                pin_output_length: spec.generation.pin_output_length,
                stream: spec.generation.stream && wire.streams(),
            });
            for (di, d) in spec.datasets.iter().enumerate() {
                let wanted = match &m.datasets {
                    Some(list) => list.iter().any(|n| n.get_ref() == d.name.get_ref()),
                    None => d.task.get_ref() == task,
                };
                if !wanted {
                    continue;
                }
                configurations.push(Configuration {
                    id: records::ConfigId::new(m.name.get_ref(), d.name.get_ref()).into_string(),
                    model_index: mi,
                    dataset_index: di,
                    model: m.name.get_ref().clone(),
                    served_name: m
                        .served_name
                        .clone()
                        .unwrap_or_else(|| m.name.get_ref().clone()),
                    dataset: d.name.get_ref().clone(),
                    task: task.clone(),
                    class: m.class,
                    parameters: m.parameters,
                    server: server.clone(),
                    wire: wire.clone(),
                    template: template.clone(),
                    template_text: template_text.clone(),
                    generation,
                });
            }
        }
        let rounds = interleave(
            configurations.len(),
            spec.schedule.repetitions,
            spec.schedule.seed,
        );
        Ok(Self {
            configurations,
            rounds,
        })
    }

    /// Every (repetition, configuration index) in the order they are taken.
    ///
    /// Interleaved: round by round. Grouped: server by server (in the order servers first
    /// appear among the configurations), each server's configurations still interleaved
    /// round by round among themselves.
    pub fn visits(&self, order: RunOrder) -> Vec<(u32, usize)> {
        let mut visits: Vec<(u32, usize)> = self
            .rounds
            .iter()
            .enumerate()
            .flat_map(|(r, round)| round.iter().map(move |&ci| (r as u32 + 1, ci)))
            .collect();
        if order == RunOrder::Grouped {
            let mut servers: Vec<&str> = Vec::new();
            for c in &self.configurations {
                if !servers.contains(&c.server.as_str()) {
                    servers.push(&c.server);
                }
            }
            let group = |ci: usize| {
                let server = self.configurations[ci].server.as_str();
                servers.iter().position(|s| *s == server).unwrap_or(0)
            };
            visits.sort_by_key(|&(_, ci)| group(ci));
        }
        visits
    }

    /// Measured requests in the whole plan.
    pub fn measured_requests(&self, inferences: u32) -> u64 {
        self.rounds.iter().map(|r| r.len() as u64).sum::<u64>() * u64::from(inferences)
    }
}

/// The protocol of a model; `json-template` from its server's template table.
fn wire(
    suite: &Suite,
    server: &str,
    protocol: ProtocolKind,
    model: &crate::suite::ModelSpec,
) -> Result<Arc<dyn Protocol>, SuiteError> {
    protocol::of_kind(protocol, || json_template(suite, server, model))
}

/// The server's `[servers.NAME.json_template]` table, checked.
fn json_template(
    suite: &Suite,
    server: &str,
    model: &crate::suite::ModelSpec,
) -> Result<JsonTemplate, SuiteError> {
    let Some(t) = suite
        .spec
        .servers
        .get(server)
        .and_then(|s| s.json_template.as_ref())
    else {
        return Err(suite.error_at(
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
        suite.error_at(
            span,
            Some(&format!("servers.{server}.json_template.{}", e.key)),
            e.message,
        )
    })
}

/// A seeded random order of `n` configurations for each of `repetitions` rounds.
///
/// Each round visits every configuration once, so thermal drift over the run spreads
/// across configurations instead of favouring whichever always comes first.
pub fn interleave(n: usize, repetitions: u32, seed: u64) -> Vec<Vec<usize>> {
    (0..repetitions)
        .map(|r| {
            let mut order: Vec<usize> = (0..n).collect();
            shuffle(
                &mut order,
                seed ^ u64::from(r).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            order
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_visits_each_configuration_once_in_a_seeded_order() {
        let rounds = interleave(4, 10, 42);
        assert_eq!(rounds.len(), 10);
        for r in &rounds {
            let mut s = r.clone();
            s.sort_unstable();
            assert_eq!(s, vec![0, 1, 2, 3]);
        }
        assert_eq!(rounds, interleave(4, 10, 42));
        assert!(
            rounds.iter().any(|r| r != &rounds[0]),
            "orders vary across rounds"
        );
        let firsts: std::collections::BTreeSet<usize> = rounds.iter().map(|r| r[0]).collect();
        assert!(firsts.len() > 1, "no configuration always goes first");
    }

    /// A plan of models on servers `first`, `second`, `first` (in suite order) × 2 datasets.
    fn two_server_plan() -> Plan {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("d.jsonl"), "{\"text\": \"a\"}\n").expect("data");
        let model = |name: &str, server: &str| {
            format!(
                "[[models]]\nname = \"{name}\"\ntask = \"t\"\nclass = \"task-specific\"\nserver = \"{server}\"\nprotocol = \"tei-predict\"\n"
            )
        };
        let suite = format!(
            "[suite]\nname = \"s\"\n[servers.first]\nprotocol = \"tei-predict\"\nurl = \"http://127.0.0.1:9\"\n\
             [servers.second]\nprotocol = \"tei-predict\"\nurl = \"http://127.0.0.1:8\"\n{}{}{}\
             [[datasets]]\nname = \"d1\"\ntask = \"t\"\npath = \"d.jsonl\"\n\
             [[datasets]]\nname = \"d2\"\ntask = \"t\"\npath = \"d.jsonl\"\n\
             [schedule]\nrepetitions = 4\nseed = 11\n",
            model("a", "second"),
            model("b", "first"),
            model("c", "second"),
        );
        let path = dir.path().join("s.toml");
        std::fs::write(&path, suite).expect("suite");
        let suite = crate::suite::load(&path).expect("valid suite");
        Plan::of(&suite).expect("plan")
    }

    #[test]
    fn grouped_visits_take_one_server_at_a_time_keeping_the_rounds_within_it() {
        let plan = two_server_plan();
        let interleaved = plan.visits(RunOrder::Interleaved);
        let grouped = plan.visits(RunOrder::Grouped);
        assert_eq!(interleaved.len(), 6 * 4);
        let mut a = interleaved.clone();
        let mut b = grouped.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "the same visits, in another order");
        let servers: Vec<&str> = grouped
            .iter()
            .map(|&(_, ci)| plan.configurations[ci].server.as_str())
            .collect();
        let switch = servers.iter().position(|s| *s == "first").expect("first");
        assert!(
            servers[..switch].iter().all(|s| *s == "second")
                && servers[switch..].iter().all(|s| *s == "first"),
            "the server of the first model goes first, then the other: {servers:?}"
        );
        for group in [&grouped[..switch], &grouped[switch..]] {
            let wanted: Vec<(u32, usize)> = interleaved
                .iter()
                .filter(|v| group.contains(v))
                .copied()
                .collect();
            assert_eq!(group, &wanted[..], "rounds kept within the group");
        }
    }
}
