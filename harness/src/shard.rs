//! Shards: a deterministic slice of a plan's configurations, balanced by estimated cost,
//! so that one suite runs as N independent jobs (a Slurm job array, a Kubernetes Indexed
//! Job) whose results folders `joulebench report --merge` puts back together.
//!
//! Every configuration lands in exactly one shard. Shards are filled greedily, longest
//! first (LPT): configurations sorted by estimated cost, largest first, ties broken by
//! configuration id; each goes to the shard with the least cost so far, ties to the lowest
//! index. Indices are 0-based: `--shard 0/3`, `1/3`, `2/3`.

use crate::plan::{Configuration, Plan};
use crate::suite::Schedule;
use records::manifest::ShardInfo;
use std::collections::BTreeSet;

pub use records::MAX_SHARDS;

/// Parameter count assumed, for the cost estimate, for a model whose suite entry gives none.
pub const DEFAULT_PARAMETERS: u64 = 100_000_000;

/// Environment variables `--shard auto/N` reads the index from, in this order.
pub const INDEX_VARIABLES: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

/// What `--shard` asked for: a fixed index, or one taken from the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardSpec {
    /// `I/N`.
    Fixed {
        /// 0-based index.
        index: u32,
        /// Number of shards.
        count: u32,
    },
    /// `auto/N`: the index comes from [`INDEX_VARIABLES`].
    Auto {
        /// Number of shards.
        count: u32,
    },
}

/// A shard with its index known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
    /// Where the index came from: `flag` or the environment variable's name.
    pub index_from: String,
}

/// Why a shard could not be chosen.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// The flag's value is not `I/N` or `auto/N`.
    #[error("--shard {given}: expected I/N with a 0-based index I below N (e.g. 0/4), or auto/N")]
    Syntax {
        /// The value given.
        given: String,
    },
    /// N is 0.
    #[error("--shard .../0: the number of shards must be at least 1")]
    NoShards,
    /// N is above [`MAX_SHARDS`].
    #[error(
        "--shard .../{count}: at most {max} shards (one per configuration is the most that helps); give a smaller N",
        max = MAX_SHARDS
    )]
    TooMany {
        /// The number of shards given.
        count: u32,
    },
    /// I is not below N.
    #[error("--shard {index}/{count}: the index is 0-based and must be below {count}")]
    OutOfRange {
        /// The index given.
        index: u32,
        /// The number of shards.
        count: u32,
    },
    /// `auto/N` with no index in the environment.
    #[error(
        "--shard auto/{count}: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set; run inside a Slurm array task or a Kubernetes Indexed Job, or give the index: --shard I/{count}"
    )]
    NoIndex {
        /// The number of shards.
        count: u32,
    },
    /// `auto/N` with an index in the environment that is not one.
    #[error(
        "--shard auto/{count}: {var}={value} is not a shard index below {count}; indices are 0-based, so submit the array as --array=0-{last}",
        last = count.saturating_sub(1)
    )]
    BadIndex {
        /// The variable read.
        var: String,
        /// Its value.
        value: String,
        /// The number of shards.
        count: u32,
    },
}

impl std::str::FromStr for ShardSpec {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, ShardError> {
        let syntax = || ShardError::Syntax {
            given: s.to_string(),
        };
        let (index, count) = s.trim().split_once('/').ok_or_else(syntax)?;
        let count: u32 = count.trim().parse().map_err(|_| syntax())?;
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if count > MAX_SHARDS {
            return Err(ShardError::TooMany { count });
        }
        let index = index.trim();
        if index.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto { count });
        }
        let index: u32 = index.parse().map_err(|_| syntax())?;
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self::Fixed { index, count })
    }
}

impl ShardSpec {
    /// Number of shards.
    pub fn count(self) -> u32 {
        match self {
            Self::Fixed { count, .. } | Self::Auto { count } => count,
        }
    }

    /// The shard, reading the index from `env` (e.g. `std::env::var(name).ok()`) for `auto/N`.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let count = match self {
            Self::Fixed { index, count } => {
                return Ok(Shard {
                    index,
                    count,
                    index_from: "flag".into(),
                });
            }
            Self::Auto { count } => count,
        };
        let Some((var, value)) = INDEX_VARIABLES
            .iter()
            .find_map(|v| env(v).filter(|x| !x.trim().is_empty()).map(|x| (*v, x)))
        else {
            return Err(ShardError::NoIndex { count });
        };
        match value.trim().parse::<u32>() {
            Ok(index) if index < count => Ok(Shard {
                index,
                count,
                index_from: var.to_string(),
            }),
            _ => Err(ShardError::BadIndex {
                var: var.to_string(),
                value,
                count,
            }),
        }
    }
}

/// Estimated cost of a configuration, in parameter-passes: requests (warm-up plus
/// repetitions × inferences) × forward passes per request ([`passes_per_request`]) ×
/// parameters ([`DEFAULT_PARAMETERS`] when unknown).
///
/// Compute per token grows with the parameter count and a generator runs one pass per new
/// token; prompt length and server speed are left out (unknown before running), so costs
/// rank configurations rather than predict their time.
pub fn estimated_cost(config: &Configuration, schedule: &Schedule) -> f64 {
    let requests = f64::from(schedule.warmup)
        + f64::from(schedule.repetitions) * f64::from(schedule.inferences);
    let passes = passes_per_request(config);
    let parameters = config
        .parameters
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_PARAMETERS);
    requests * f64::from(passes) * parameters as f64
}

/// Forward passes one request costs, as its protocol counts them
/// ([`Protocol::passes_per_request`](crate::protocol::Protocol::passes_per_request)):
/// `max_tokens` for a generator, one pass for everything else.
pub fn passes_per_request(config: &Configuration) -> u32 {
    match config.generation {
        Some(g) => config.wire.passes_per_request(config.class, g.max_tokens),
        None => 1,
    }
}

/// The shard (0-based) of each item of `costs` (id, estimated cost), in the same order:
/// greedy longest-processing-time first, deterministic. Only the first
/// min(`count`, items) shards can receive an item (the rest stay empty), so that many bins
/// are kept, whatever `count`.
pub fn assign(costs: &[(&str, f64)], count: u32) -> Vec<u32> {
    let count = (count.max(1) as usize).min(costs.len().max(1));
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| {
        let (ia, ca) = costs[a];
        let (ib, cb) = costs[b];
        cb.total_cmp(&ca).then_with(|| ia.cmp(ib))
    });
    let mut load = vec![0.0f64; count];
    let mut shard = vec![0u32; costs.len()];
    for i in order {
        let mut best = 0;
        for s in 1..count {
            if load[s] < load[best] {
                best = s;
            }
        }
        load[best] += costs[i].1.max(0.0);
        shard[i] = best as u32;
    }
    shard
}

/// The configuration ids of `shard`, in suite order, and the estimated cost of each shard.
pub fn slice(plan: &Plan, schedule: &Schedule, shard: &Shard) -> (Vec<String>, Vec<f64>) {
    let (mut slices, loads) = slices(plan, schedule, shard.count);
    let ids = slices
        .get_mut(shard.index as usize)
        .map(std::mem::take)
        .unwrap_or_default();
    (ids, loads)
}

/// The configuration ids of every shard of `count` (in suite order) and the estimated cost
/// of each shard, from one assignment.
pub fn slices(plan: &Plan, schedule: &Schedule, count: u32) -> (Vec<Vec<String>>, Vec<f64>) {
    let costs: Vec<(&str, f64)> = plan
        .configurations
        .iter()
        .map(|c| (c.id.as_str(), estimated_cost(c, schedule)))
        .collect();
    let assigned = assign(&costs, count);
    let count = count.max(1) as usize;
    let mut loads = vec![0.0; count];
    let mut slices = vec![Vec::new(); count];
    for ((s, (_, cost)), c) in assigned.iter().zip(&costs).zip(&plan.configurations) {
        loads[*s as usize] += cost;
        slices[*s as usize].push(c.id.clone());
    }
    (slices, loads)
}

/// What `run.json` records of a shard.
pub fn info(plan: &Plan, schedule: &Schedule, shard: &Shard) -> ShardInfo {
    ShardInfo {
        index: shard.index,
        count: shard.count,
        index_from: shard.index_from.clone(),
        configurations: slice(plan, schedule, shard).0,
    }
}

/// The plan restricted to the configurations named in `keep`: same configurations in the
/// same order, each round visiting the kept ones in the order the whole plan does.
pub fn restrict(plan: &Plan, keep: &[String]) -> Plan {
    let keep: BTreeSet<&str> = keep.iter().map(String::as_str).collect();
    let mut new_index = vec![None; plan.configurations.len()];
    let mut out = plan.clone();
    out.configurations = Vec::new();
    for (i, c) in plan.configurations.iter().enumerate() {
        if keep.contains(c.id.as_str()) {
            new_index[i] = Some(out.configurations.len());
            out.configurations.push(c.clone());
        }
    }
    out.rounds = plan
        .rounds
        .iter()
        .map(|round| round.iter().filter_map(|&ci| new_index[ci]).collect())
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Costs of `n` configurations, uneven and with ties, like a real matrix.
    fn matrix(n: usize) -> Vec<(String, f64)> {
        (0..n)
            .map(|i| {
                let parameters = [66e6, 110e6, 560e6, 1.7e9, 7.1e9][i % 5];
                let tokens = [1.0, 15.0, 65.0][i % 3];
                (format!("model{}@dataset{}", i % 7, i), parameters * tokens)
            })
            .collect()
    }

    fn refs(costs: &[(String, f64)]) -> Vec<(&str, f64)> {
        costs.iter().map(|(id, c)| (id.as_str(), *c)).collect()
    }

    #[test]
    fn every_configuration_lands_in_exactly_one_shard_for_n_1_to_8() {
        let costs = matrix(37);
        let costs = refs(&costs);
        for n in 1..=8u32 {
            let shards = assign(&costs, n);
            assert_eq!(shards.len(), costs.len());
            assert!(shards.iter().all(|s| *s < n), "N={n}: {shards:?}");
            // Each configuration once: taking the shards one by one covers all ids, no repeats.
            let mut seen = BTreeMap::new();
            for index in 0..n {
                for (i, s) in shards.iter().enumerate() {
                    if *s == index {
                        assert!(seen.insert(costs[i].0, index).is_none(), "N={n}");
                    }
                }
            }
            assert_eq!(seen.len(), costs.len(), "N={n}");
            if n as usize <= costs.len() {
                let used: BTreeSet<u32> = shards.iter().copied().collect();
                assert_eq!(used.len(), n as usize, "N={n}: no shard left empty");
            }
        }
    }

    #[test]
    fn assignment_is_deterministic_and_independent_of_input_order() {
        let costs = matrix(23);
        let forward = refs(&costs);
        let mut backward = forward.clone();
        backward.reverse();
        for n in 1..=8 {
            let a = assign(&forward, n);
            assert_eq!(a, assign(&forward, n));
            let b = assign(&backward, n);
            let by_id = |costs: &[(&str, f64)], s: &[u32]| -> BTreeMap<String, u32> {
                costs
                    .iter()
                    .zip(s)
                    .map(|((id, _), s)| (id.to_string(), *s))
                    .collect()
            };
            assert_eq!(by_id(&forward, &a), by_id(&backward, &b), "N={n}");
        }
    }

    #[test]
    fn shards_are_balanced_within_one_configuration_of_the_mean() {
        let costs = matrix(40);
        let costs = refs(&costs);
        let total: f64 = costs.iter().map(|c| c.1).sum();
        let largest = costs.iter().map(|c| c.1).fold(0.0, f64::max);
        for n in 2..=8u32 {
            let shards = assign(&costs, n);
            let mut load = vec![0.0; n as usize];
            for (s, c) in shards.iter().zip(&costs) {
                load[*s as usize] += c.1;
            }
            let max = load.iter().copied().fold(0.0, f64::max);
            // Greedy list scheduling bound: no shard exceeds the mean by more than one item.
            assert!(
                max <= total / f64::from(n) + largest + 1e-6,
                "N={n}: {load:?}"
            );
            // And it beats a round-robin deal by id on this uneven matrix.
            let mut rr = vec![0.0; n as usize];
            for (i, c) in costs.iter().enumerate() {
                rr[i % n as usize] += c.1;
            }
            assert!(
                max <= rr.iter().copied().fold(0.0, f64::max) + 1e-6,
                "N={n}"
            );
        }
    }

    #[test]
    fn equal_costs_deal_by_id() {
        let costs = [("c", 1.0), ("a", 1.0), ("b", 1.0), ("d", 1.0)];
        assert_eq!(assign(&costs, 2), vec![0, 0, 1, 1]);
        assert_eq!(assign(&costs, 3), vec![2, 0, 1, 0]);
    }

    /// The plan of a suite with 3 models × 2 datasets: one encoder, two generators.
    fn plan_of_small_suite() -> (Plan, crate::suite::Suite) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("d.jsonl"), "{\"text\": \"a\"}\n").expect("data");
        let suite = r#"
[suite]
name = "s"
[servers.local]
protocol = "openai-completions"
url = "http://127.0.0.1:9"
[[models]]
name = "enc"
task = "t"
class = "task-specific"
parameters = 100_000_000
server = "local"
protocol = "tei-predict"
[[models]]
name = "gen-small"
task = "t"
class = "general-purpose"
parameters = 100_000_000
server = "local"
[[models]]
name = "gen-big"
task = "t"
class = "general-purpose"
server = "local"
[[models]]
name = "tmpl-enc"
task = "t"
class = "task-specific"
parameters = 100_000_000
server = "tmpl"
[[models]]
name = "tmpl-gen"
task = "t"
class = "general-purpose"
parameters = 100_000_000
server = "tmpl"
[servers.tmpl]
protocol = "json-template"
url = "http://127.0.0.1:9"
[servers.tmpl.json_template]
path = "/predict"
body = '{"inputs": "{text}"}'
output = "/0/label"
[[datasets]]
name = "d1"
task = "t"
path = "d.jsonl"
[[datasets]]
name = "d2"
task = "t"
path = "d.jsonl"
[tasks.t]
prompt = "{text}"
max_tokens = 8
[schedule]
inferences = 10
repetitions = 3
warmup = 2
seed = 7
"#;
        let path = dir.path().join("suite.toml");
        std::fs::write(&path, suite).expect("suite");
        let suite = crate::suite::load(&path).expect("suite loads");
        (suite.plan.clone(), suite)
    }

    #[test]
    fn cost_counts_requests_passes_and_parameters() {
        let (plan, suite) = plan_of_small_suite();
        let schedule = &suite.schedule;
        let cost = |id: &str| {
            let c = plan.configurations.iter().find(|c| c.id == id).expect(id);
            estimated_cost(c, schedule)
        };
        let requests = 2.0 + 3.0 * 10.0;
        assert_eq!(cost("enc@d1"), requests * 1e8);
        assert_eq!(cost("gen-small@d1"), requests * 8.0 * 1e8);
        // No parameter count: the documented default.
        assert_eq!(
            cost("gen-big@d2"),
            requests * 8.0 * DEFAULT_PARAMETERS as f64
        );
        // json-template: an encoder (task-specific) answers in one pass, a general-purpose
        // model behind a template generates its max_tokens.
        assert_eq!(cost("tmpl-enc@d1"), requests * 1e8);
        assert_eq!(cost("tmpl-gen@d1"), requests * 8.0 * 1e8);
    }

    #[test]
    fn more_shards_than_configurations_keep_one_bin_per_configuration() {
        let costs = [("a", 3.0), ("b", 2.0), ("c", 0.0), ("d", 1.0)];
        // Far more shards than items: the same assignment as with one shard per item, and
        // no allocation in proportion to the shard count.
        assert_eq!(assign(&costs, u32::MAX), assign(&costs, 4));
        assert_eq!(assign(&costs, u32::MAX), vec![0, 1, 3, 2]);
        assert_eq!(assign(&[], u32::MAX), Vec::<u32>::new());
    }

    #[test]
    fn restricted_plans_partition_the_plan_and_keep_its_visiting_order() {
        let (plan, suite) = plan_of_small_suite();
        let schedule = &suite.schedule;
        assert_eq!(plan.configurations.len(), 10);
        for n in 1..=8u32 {
            let mut seen = Vec::new();
            for index in 0..n {
                let shard = Shard {
                    index,
                    count: n,
                    index_from: "flag".into(),
                };
                let ids = info(&plan, schedule, &shard).configurations;
                let part = restrict(&plan, &ids);
                let part_ids: Vec<&str> =
                    part.configurations.iter().map(|c| c.id.as_str()).collect();
                assert_eq!(part_ids, ids, "suite order kept");
                assert_eq!(part.rounds.len(), plan.rounds.len());
                for (round, whole) in part.rounds.iter().zip(&plan.rounds) {
                    let visited: Vec<&str> = round
                        .iter()
                        .map(|&i| part.configurations[i].id.as_str())
                        .collect();
                    let expected: Vec<&str> = whole
                        .iter()
                        .map(|&i| plan.configurations[i].id.as_str())
                        .filter(|id| ids.iter().any(|k| k == id))
                        .collect();
                    assert_eq!(visited, expected, "N={n} shard {index}");
                }
                seen.extend(ids);
            }
            seen.sort();
            let mut all: Vec<String> = plan.configurations.iter().map(|c| c.id.clone()).collect();
            all.sort();
            assert_eq!(seen, all, "N={n}: each configuration in exactly one shard");
        }
    }

    #[test]
    fn spec_parses_fixed_and_auto_and_names_bad_values() {
        assert_eq!(
            "2/3".parse::<ShardSpec>(),
            Ok(ShardSpec::Fixed { index: 2, count: 3 })
        );
        assert_eq!(
            "auto/8".parse::<ShardSpec>(),
            Ok(ShardSpec::Auto { count: 8 })
        );
        assert_eq!(
            "3/3".parse::<ShardSpec>(),
            Err(ShardError::OutOfRange { index: 3, count: 3 })
        );
        assert_eq!("1/0".parse::<ShardSpec>(), Err(ShardError::NoShards));
        assert_eq!(
            format!("0/{MAX_SHARDS}").parse::<ShardSpec>(),
            Ok(ShardSpec::Fixed {
                index: 0,
                count: MAX_SHARDS
            })
        );
        for too_many in ["0/4000000000", "auto/4000000000", "0/1001"] {
            let e = too_many.parse::<ShardSpec>().expect_err(too_many);
            assert!(matches!(e, ShardError::TooMany { .. }), "{too_many}: {e}");
            assert!(e.to_string().contains("at most 1000 shards"), "{e}");
        }
        for bad in ["", "3", "a/b", "-1/3", "1/3/4", "auto"] {
            let e = bad.parse::<ShardSpec>().expect_err(bad);
            assert!(e.to_string().contains("expected I/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn auto_reads_slurm_first_then_kubernetes() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let auto = ShardSpec::Auto { count: 4 };
        let both = auto
            .resolve(env(&[
                ("JOB_COMPLETION_INDEX", "1"),
                ("SLURM_ARRAY_TASK_ID", "2"),
            ]))
            .expect("shard");
        assert_eq!(
            (both.index, both.index_from.as_str()),
            (2, "SLURM_ARRAY_TASK_ID")
        );
        let k8s = auto
            .resolve(env(&[("JOB_COMPLETION_INDEX", "3")]))
            .expect("shard");
        assert_eq!(
            (k8s.index, k8s.index_from.as_str()),
            (3, "JOB_COMPLETION_INDEX")
        );
        assert_eq!(
            auto.resolve(env(&[])),
            Err(ShardError::NoIndex { count: 4 })
        );
        let e = auto
            .resolve(env(&[("SLURM_ARRAY_TASK_ID", "4")]))
            .expect_err("out of range");
        assert!(e.to_string().contains("--array=0-3"), "{e}");
        let fixed = ShardSpec::Fixed { index: 1, count: 2 }
            .resolve(env(&[("SLURM_ARRAY_TASK_ID", "0")]))
            .expect("shard");
        assert_eq!((fixed.index, fixed.index_from.as_str()), (1, "flag"));
    }
}
