//! `attribution.csv`: whose energy a configuration's figures are. CPU package energy is
//! attributed to the served model's processes by their share of the machine's busy CPU
//! time over each window; the client's (joulebench's) share is reported beside it; a
//! GPU's energy is apportioned by the per-process SM utilisation samples of its driver.

use crate::ReportError;
use crate::configs::{Configuration, Repetition};
use crate::stats::Describe;
use records::files::ATTRIBUTION_CSV;
use records::labels::{FigureLabel, Provenance};
use records::raw::AttributionRecord;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How CPU energy is attributed, in words.
pub const CPU_METHOD: &str = "CPU package energy × the server's share of the machine's busy CPU time over the window (utime+stime of its process tree, with reaped children, against /proc/stat busy time)";

/// How GPU energy is apportioned, in words.
pub const GPU_METHOD: &str = "GPU energy × the server's share of the per-process SM utilisation samples NVML took over the window (an apportionment, not a measurement)";

/// A share and the energy per inference it gives, over a configuration's repetitions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attributed {
    /// Mean share over repetitions (0–1).
    pub share: f64,
    /// Energy per inference attributed (J), mean over repetitions.
    pub energy_j: f64,
    /// 95% CI of that mean (J); `None` with one repetition.
    pub energy_j_ci95: Option<(f64, f64)>,
    /// Repetitions it comes from.
    pub repetitions: usize,
    /// Measured or estimated, as the energy it divides.
    pub label: FigureLabel,
}

/// Whose energy one configuration's figures are.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConfigAttribution {
    /// How the CPU figures are attributed ([`CPU_METHOD`]).
    pub cpu_method: &'static str,
    /// How the GPU figures are apportioned ([`GPU_METHOD`]): an apportionment.
    pub gpu_method: &'static str,
    /// Which processes were the server's.
    pub server_scope: String,
    /// Whole CPU package energy per inference (J), mean over repetitions.
    pub package_energy_j: Option<f64>,
    /// The server's part of it.
    pub server_cpu: Option<Attributed>,
    /// The client's (joulebench's own) part of it.
    pub client_cpu: Option<Attributed>,
    /// Mean share of the machine's CPU time that was busy (0–1).
    pub machine_busy_share: Option<f64>,
    /// Per GPU domain, the server's apportioned part.
    pub gpu: BTreeMap<String, Attributed>,
    /// Why a figure is missing, as the runner recorded it.
    pub missing: Vec<String>,
}

/// Per repetition: (share, energy per inference) for one part.
type Parts = Vec<(f64, f64)>;

/// What one configuration's repetitions gave, before it is summarised.
#[derive(Default)]
struct Acc {
    /// CPU package energy per inference.
    package: Vec<f64>,
    /// Busy share of the machine's CPU time.
    busy: Vec<f64>,
    server: Parts,
    client: Parts,
    /// Labels of the CPU package domains the shares divide.
    cpu_labels: BTreeSet<FigureLabel>,
    /// Per GPU domain: its label and parts.
    gpus: BTreeMap<String, (FigureLabel, Parts)>,
    scope: String,
    missing: BTreeSet<String>,
}

impl Acc {
    /// Adds one repetition's row.
    fn add(&mut self, rep: &Repetition, rec: AttributionRecord) {
        if !rec.error.is_empty() {
            self.missing.insert(rec.error.clone());
        }
        if !rec.server_scope.is_empty() {
            self.scope = rec.server_scope.clone();
        }
        let requests = f64::from(rep.requests.max(1));
        let share = |part: Option<f64>| match (part, rec.busy) {
            (Some(p), Some(b)) if b > 0.0 => Some((p / b).min(1.0)),
            _ => None,
        };
        if rec.resource == "cpu" {
            let cpu: Vec<(f64, Provenance)> = rep
                .domains
                .iter()
                .filter(|(k, w)| w.counts_in_total && is_cpu_package(&k.domain))
                .map(|(_, w)| (w.energy_j, w.provenance))
                .collect();
            if cpu.is_empty() {
                self.missing
                    .insert("no CPU package domain in the energy windows".into());
                return;
            }
            let pkg: f64 = cpu.iter().map(|c| c.0).sum();
            self.cpu_labels
                .extend(cpu.iter().map(|c| FigureLabel::from(c.1)));
            self.package.push(pkg / requests);
            if let (Some(b), Some(t)) = (rec.busy, rec.total)
                && t > 0.0
            {
                self.busy.push(b / t);
            }
            if let Some(s) = share(rec.server) {
                self.server.push((s, pkg * s / requests));
            }
            if let Some(s) = share(rec.client) {
                self.client.push((s, pkg * s / requests));
            }
        } else if let Some(s) = share(rec.server) {
            let Some((_, w)) = rep.domains.iter().find(|(k, _)| k.domain == rec.resource) else {
                return;
            };
            self.gpus
                .entry(rec.resource.clone())
                .or_insert_with(|| (FigureLabel::from(w.provenance), Vec::new()))
                .1
                .push((s, w.energy_j * s / requests));
        }
    }

    /// The configuration's attribution.
    fn finish(self) -> ConfigAttribution {
        let cpu_label = FigureLabel::combine(self.cpu_labels.iter().copied());
        ConfigAttribution {
            cpu_method: CPU_METHOD,
            gpu_method: GPU_METHOD,
            server_scope: self.scope,
            package_energy_j: Describe::of(&self.package).map(|d| d.mean),
            server_cpu: attributed(&self.server, cpu_label),
            client_cpu: attributed(&self.client, cpu_label),
            machine_busy_share: Describe::of(&self.busy).map(|d| d.mean),
            gpu: self
                .gpus
                .into_iter()
                .filter_map(|(domain, (label, parts))| Some((domain, attributed(&parts, label)?)))
                .collect(),
            missing: self.missing.into_iter().collect(),
        }
    }
}

/// The attribution of each configuration (in `configs` order); empty figures when the run
/// wrote no `attribution.csv`.
pub fn summarise(
    dir: &Path,
    configs: &[Configuration],
) -> Result<Vec<ConfigAttribution>, ReportError> {
    let mut acc: Vec<Acc> = configs.iter().map(|_| Acc::default()).collect();
    super::for_usable_repetitions(
        &dir.join(ATTRIBUTION_CSV),
        configs,
        |i, rep, rec: AttributionRecord| acc[i].add(rep, rec),
    )?;
    Ok(acc.into_iter().map(Acc::finish).collect())
}

/// Whether a domain is a CPU package (RAPL `cpu-package-N`, or the estimate's `cpu`).
pub fn is_cpu_package(domain: &str) -> bool {
    domain == "cpu" || domain.starts_with("cpu-package-")
}

fn attributed(parts: &Parts, label: FigureLabel) -> Option<Attributed> {
    let shares: Vec<f64> = parts.iter().map(|p| p.0).collect();
    let energies: Vec<f64> = parts.iter().map(|p| p.1).collect();
    let s = Describe::of(&shares)?;
    let e = Describe::of(&energies)?;
    Some(Attributed {
        share: s.mean,
        energy_j: e.mean,
        energy_j_ci95: (e.n > 1).then_some((e.ci95_low, e.ci95_high)),
        repetitions: e.n,
        label,
    })
}
