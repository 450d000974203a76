//! The configurations of a run and their repetitions, read from `repetitions.csv`.

use crate::ReportError;
use crate::derive::DerivedRow;
use records::files::SAMPLER_GAPS_CSV;
use records::labels::{ClassLabel, FigureLabel, Provenance};
use records::manifest::{DerivationPolicy, RunManifest};
use records::raw::SamplerGapRecord;
use records::table_io::read_csv;
use std::collections::BTreeMap;
use std::path::Path;

/// What identifies a configuration: model, task, dataset and class.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigInfo {
    /// Configuration id (`model@dataset`).
    pub id: String,
    /// Model name.
    pub model: String,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// `task-specific`, `general-purpose` or `unknown`.
    pub class: ClassLabel,
    /// Model parameters, when known.
    pub parameters: Option<u64>,
}

/// An energy domain: the source that read it and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainKey {
    /// Source name.
    pub source: String,
    /// Domain name.
    pub domain: String,
}

/// One domain's energy window in one repetition.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainWindow {
    /// `measured` or `estimated`.
    pub provenance: Provenance,
    /// Whether the domain counts in the machine total.
    pub counts_in_total: bool,
    /// Window length (s).
    pub duration_s: f64,
    /// Energy over the window, gross of idle (J).
    pub energy_j: f64,
    /// Idle power of the baseline (W).
    pub idle_power_w: Option<f64>,
    /// Energy net of idle (J).
    pub net_energy_j: Option<f64>,
}

/// The usable repetitions' windows of `configs` in time order: (start ns, end ns, index of
/// the configuration in `configs`, repetition number), for matching timed records to them.
pub fn usable_windows(configs: &[Configuration]) -> Vec<(u64, u64, usize, u32)> {
    let mut windows: Vec<(u64, u64, usize, u32)> = configs
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            c.usable()
                .map(move |r| (r.t_start_ns, r.t_end_ns, i, r.number))
        })
        .collect();
    windows.sort();
    windows
}

/// The position of each configuration in `configs`, by id.
pub fn positions(configs: &[Configuration]) -> BTreeMap<&str, usize> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.info.id.as_str(), i))
        .collect()
}

/// One repetition of a configuration with its domains.
#[derive(Clone, Debug, PartialEq)]
pub struct Repetition {
    /// Repetition number (1-based).
    pub number: u32,
    /// Window start (ns), the earliest over domains.
    pub t_start_ns: u64,
    /// Window end (ns), the latest over domains.
    pub t_end_ns: u64,
    /// Window length (s), the longest over domains.
    pub duration_s: f64,
    /// Requests sent in the window.
    pub requests: u32,
    /// Requests that failed.
    pub failures: u32,
    /// Whether the repetition is valid.
    pub valid: bool,
    /// Energy windows per domain.
    pub domains: BTreeMap<DomainKey, DomainWindow>,
    /// Counted domains that other repetitions of the configuration have and this one lacks
    /// (set by [`check_domains`]); such a repetition is left out of the statistics.
    pub missing_domains: Vec<DomainKey>,
    /// Sources whose sampler could not read them during the window (set by
    /// [`check_sampler_gaps`]).
    pub sampler_gaps: Vec<String>,
    /// Sources whose read gap during the window outlasted their keep-alive, so a counter
    /// may have wrapped unseen; such a repetition is left out of the statistics.
    pub wrap_unseen: Vec<String>,
}

impl Repetition {
    /// Whether the repetition enters the statistics: valid, with requests, and with every
    /// counted domain of its configuration.
    pub fn usable(&self) -> bool {
        self.valid
            && self.requests > 0
            && self.missing_domains.is_empty()
            && self.wrap_unseen.is_empty()
    }

    /// Gross energy of the domains that count in the total (J).
    pub fn total_energy_j(&self) -> f64 {
        self.counted().map(|w| w.energy_j).sum()
    }

    /// Net energy of the domains that count in the total (J); `None` if one lacks a baseline.
    pub fn total_net_energy_j(&self) -> Option<f64> {
        self.counted().map(|w| w.net_energy_j).sum()
    }

    /// Gross energy per request of the counted domains (J).
    pub fn energy_per_inference_j(&self) -> f64 {
        self.total_energy_j() / f64::from(self.requests)
    }

    fn counted(&self) -> impl Iterator<Item = &DomainWindow> {
        self.domains.values().filter(|w| w.counts_in_total)
    }
}

/// Failed measured requests of a configuration, out of those sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    /// Requests that failed.
    pub failed: u64,
    /// Requests sent.
    pub sent: u64,
}

impl Failures {
    /// The share that failed; `None` when none was sent.
    pub fn share(&self) -> Option<f64> {
        (self.sent > 0).then(|| self.failed as f64 / self.sent as f64)
    }
}

/// A configuration with all its repetitions.
#[derive(Clone, Debug, PartialEq)]
pub struct Configuration {
    /// Who it is.
    pub info: ConfigInfo,
    /// Repetitions by number.
    pub repetitions: BTreeMap<u32, Repetition>,
    /// The load level and power limit its repetitions ran at (`repetitions.csv`'s `load`);
    /// `None` outside a sweep.
    pub load: Option<records::load::OperatingPoint>,
}

impl Configuration {
    /// The repetitions that enter the statistics, in order.
    pub fn usable(&self) -> impl Iterator<Item = &Repetition> {
        self.repetitions.values().filter(|r| r.usable())
    }

    /// Failed and sent measured requests over every repetition, valid or not.
    pub fn failures(&self) -> Failures {
        self.repetitions
            .values()
            .fold(Failures::default(), |acc, r| Failures {
                failed: acc.failed + u64::from(r.failures),
                sent: acc.sent + u64::from(r.requests),
            })
    }

    /// Every domain seen in any repetition, with the provenance and counting of its first window.
    pub fn domains(&self) -> BTreeMap<DomainKey, (Provenance, bool)> {
        let mut out = BTreeMap::new();
        for rep in self.repetitions.values() {
            for (k, w) in &rep.domains {
                out.entry(k.clone())
                    .or_insert((w.provenance, w.counts_in_total));
            }
        }
        out
    }

    /// How the configuration's figures were obtained: the provenance of its counted
    /// domains when they all agree (of all its domains when none counts), else `mixed`.
    pub fn label(&self) -> FigureLabel {
        let domains = self.domains();
        let counted = domains.values().filter(|(_, counts)| *counts);
        let provenances: Vec<Provenance> = if counted.clone().next().is_none() {
            domains.values().map(|(p, _)| *p).collect()
        } else {
            counted.map(|(p, _)| *p).collect()
        };
        FigureLabel::combine(provenances.into_iter().map(FigureLabel::from))
    }
}

/// Reads `repetitions.csv` of a run folder into configurations, in id order, with net
/// energy and validity derived under `policy` (else the run's own); a run that stopped
/// before its first repetition (no such file) has none.
pub fn load(
    dir: &Path,
    manifest: &RunManifest,
    policy: Option<&DerivationPolicy>,
) -> Result<Vec<Configuration>, ReportError> {
    let mut configs: BTreeMap<String, Configuration> = BTreeMap::new();
    for row in crate::derive::rows(dir, manifest, policy)? {
        add(&mut configs, row);
    }
    let mut configs: Vec<Configuration> = configs.into_values().collect();
    check_domains(&mut configs);
    let gaps_path = dir.join(SAMPLER_GAPS_CSV);
    if gaps_path.exists() {
        let gaps = read_csv::<SamplerGapRecord>(&gaps_path)?.collect::<Result<Vec<_>, _>>()?;
        check_sampler_gaps(&mut configs, &gaps);
    }
    Ok(configs)
}

/// Marks, in every repetition, the sources whose sampler gaps overlap its window
/// (`sampler_gaps`) and those whose gap may have hidden a counter wrap (`wrap_unseen`).
pub fn check_sampler_gaps(configs: &mut [Configuration], gaps: &[SamplerGapRecord]) {
    for rep in configs.iter_mut().flat_map(|c| c.repetitions.values_mut()) {
        for gap in gaps {
            let overlaps = gap.t_start_ns < rep.t_end_ns && gap.t_end_ns > rep.t_start_ns;
            let reads_domain = rep.domains.keys().any(|k| k.source == gap.source);
            if !(overlaps && reads_domain) {
                continue;
            }
            if !rep.sampler_gaps.contains(&gap.source) {
                rep.sampler_gaps.push(gap.source.clone());
            }
            if gap.keep_alive_missed && !rep.wrap_unseen.contains(&gap.source) {
                rep.wrap_unseen.push(gap.source.clone());
            }
        }
    }
}

/// Marks, in every repetition, the counted domains that another repetition of the same
/// configuration has and it lacks (`missing_domains`), so that a repetition summed over
/// fewer domains (a resume on different probes) is left out of the statistics.
pub fn check_domains(configs: &mut [Configuration]) {
    for config in configs {
        let counted: Vec<DomainKey> = config
            .domains()
            .into_iter()
            .filter(|(_, (_, counts))| *counts)
            .map(|(k, _)| k)
            .collect();
        for rep in config.repetitions.values_mut() {
            rep.missing_domains = counted
                .iter()
                .filter(|k| !rep.domains.contains_key(*k))
                .cloned()
                .collect();
        }
    }
}

/// Adds one record, with what the report derived from it, to its configuration.
pub fn add(configs: &mut BTreeMap<String, Configuration>, row: DerivedRow) {
    let DerivedRow {
        record: rec,
        idle_power_w,
        net_energy_j,
        valid,
    } = row;
    let config = configs
        .entry(rec.config.clone())
        .or_insert_with(|| Configuration {
            info: ConfigInfo {
                id: rec.config.clone(),
                model: rec.model.clone(),
                task: rec.task.clone(),
                dataset: rec.dataset.clone(),
                class: rec.class,
                parameters: rec.parameters,
            },
            repetitions: BTreeMap::new(),
            load: rec.load,
        });
    if config.load.is_none() {
        config.load = rec.load;
    }
    if config.info.parameters.is_none() {
        config.info.parameters = rec.parameters;
    }
    let rep = config
        .repetitions
        .entry(rec.repetition)
        .or_insert_with(|| Repetition {
            number: rec.repetition,
            t_start_ns: rec.t_start_ns,
            t_end_ns: rec.t_end_ns,
            duration_s: rec.duration_s,
            requests: rec.requests,
            failures: rec.failures,
            valid,
            domains: BTreeMap::new(),
            missing_domains: Vec::new(),
            sampler_gaps: Vec::new(),
            wrap_unseen: Vec::new(),
        });
    rep.t_start_ns = rep.t_start_ns.min(rec.t_start_ns);
    rep.t_end_ns = rep.t_end_ns.max(rec.t_end_ns);
    rep.duration_s = rep.duration_s.max(rec.duration_s);
    rep.valid &= valid;
    rep.domains.insert(
        DomainKey {
            source: rec.source,
            domain: rec.domain,
        },
        DomainWindow {
            provenance: rec.provenance,
            counts_in_total: rec.counts_in_total,
            duration_s: rec.duration_s,
            energy_j: rec.energy_j,
            idle_power_w,
            net_energy_j,
        },
    );
}
