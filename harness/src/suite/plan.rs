//! The plan: configurations (model × dataset) and the interleaved order of repetitions.

use super::{DatasetSource, Model, ModelClass, RunOrder, Schedule};
use crate::protocol::{Generation, Protocol};
use crate::shuffle::shuffle;
use crate::template::Template;
use records::load::{LoadLevel, OperatingPoint};
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
    /// The baseline model this one is a variant of, when it is one.
    pub variant_of: Option<String>,
    /// What makes it a variant; empty for a model that is none.
    pub techniques: Vec<records::models::Technique>,
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
    /// The load level and power limit of a sweep; `None` when the suite sweeps neither
    /// (then `schedule.concurrency` clients at the limit found).
    pub point: Option<records::load::OperatingPoint>,
}

impl Configuration {
    /// How its requests are offered: its sweep's level, else `concurrency` clients.
    pub fn load(&self, concurrency: u32) -> LoadLevel {
        self.point
            .map(|p| p.load)
            .unwrap_or(LoadLevel::Closed(concurrency.max(1)))
    }
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
    /// The plan of a suite's checked models and datasets: each model on each of its
    /// datasets, in suite order, visited in `schedule`'s seeded order round by round.
    /// It holds repetitions × configurations visits; the load refuses a suite whose plan
    /// would hold more than a million (`numbers::MAX_VISITS`).
    pub fn of(models: &[Model], datasets: &[DatasetSource], schedule: &Schedule) -> Self {
        let mut configurations = Vec::new();
        for (mi, m) in models.iter().enumerate() {
            let of_model = datasets
                .iter()
                .enumerate()
                .filter(|(di, _)| m.datasets.contains(di));
            let points: Vec<Option<OperatingPoint>> = if m.points.is_empty() {
                vec![None]
            } else {
                m.points.iter().copied().map(Some).collect()
            };
            let of_model = of_model.flat_map(|d| points.iter().map(move |p| (d, *p)));
            for ((di, d), point) in of_model {
                configurations.push(Configuration {
                    id: records::ConfigId::at(&m.name, &d.name, point.as_ref()).into_string(),
                    model_index: mi,
                    dataset_index: di,
                    model: m.name.clone(),
                    served_name: m.served_name.clone(),
                    dataset: d.name.clone(),
                    task: m.task.clone(),
                    class: m.class,
                    parameters: m.parameters,
                    variant_of: m.variant_of.clone(),
                    techniques: m.techniques.clone(),
                    server: m.server.clone(),
                    wire: m.wire.clone(),
                    template: m.template.clone(),
                    template_text: m.template_text.clone(),
                    generation: m.generation,
                    point,
                });
            }
        }
        let rounds = interleave(configurations.len(), schedule.repetitions, schedule.seed);
        Self {
            configurations,
            rounds,
        }
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
        crate::suite::load(&path).expect("valid suite").plan
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
