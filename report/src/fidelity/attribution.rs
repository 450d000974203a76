//! `attribution.csv`: whose energy a configuration's figures are. CPU package energy is
//! attributed to the served model's processes by their share of the machine's busy CPU
//! time over each window; the client's (joulebench's) share is reported beside it; a
//! GPU's energy is apportioned by the per-process SM utilisation samples of its driver.

use crate::ReportError;
use crate::configs::Configuration;
use crate::stats::Describe;
use records::files::ATTRIBUTION_CSV;
use records::labels::{FigureLabel, Provenance};
use records::raw::{AttributionRecord, WindowKind};
use records::table_io::read_records;
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

/// The attribution of each configuration (in `configs` order); empty when the run wrote
/// no `attribution.csv`.
pub fn summarise(
    dir: &Path,
    configs: &[Configuration],
) -> Result<Vec<ConfigAttribution>, ReportError> {
    let path = dir.join(ATTRIBUTION_CSV);
    let blank = ConfigAttribution {
        cpu_method: CPU_METHOD,
        gpu_method: GPU_METHOD,
        ..ConfigAttribution::default()
    };
    let mut out = vec![blank; configs.len()];
    if !path.exists() {
        return Ok(out);
    }
    let index = crate::configs::positions(configs);
    let mut server: Vec<Parts> = vec![Vec::new(); configs.len()];
    let mut client: Vec<Parts> = vec![Vec::new(); configs.len()];
    let mut busy: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let mut package: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let mut gpus: Vec<BTreeMap<String, Parts>> = vec![BTreeMap::new(); configs.len()];
    let mut missing: Vec<BTreeSet<String>> = vec![BTreeSet::new(); configs.len()];
    let mut cpu_labels: Vec<BTreeSet<FigureLabel>> = vec![BTreeSet::new(); configs.len()];
    let mut gpu_labels: Vec<BTreeMap<String, FigureLabel>> = vec![BTreeMap::new(); configs.len()];
    for rec in read_records::<AttributionRecord>(&path)? {
        let rec = rec?;
        let Some(&i) = index.get(rec.config.as_str()) else {
            continue;
        };
        let Some(rep) = configs[i].repetitions.get(&rec.repetition) else {
            continue;
        };
        if rec.window != WindowKind::Repetition || !rep.usable() {
            continue;
        }
        if !rec.error.is_empty() {
            missing[i].insert(rec.error.clone());
        }
        if !rec.server_scope.is_empty() {
            out[i].server_scope = rec.server_scope.clone();
        }
        let requests = f64::from(rep.requests.max(1));
        let share = |part: Option<f64>| match (part, rec.busy) {
            (Some(p), Some(b)) if b > 0.0 => Some((p / b).min(1.0)),
            _ => None,
        };
        if rec.resource == "cpu" {
            let cpu: Vec<(&String, f64, Provenance)> = rep
                .domains
                .iter()
                .filter(|(k, w)| w.counts_in_total && is_cpu_package(&k.domain))
                .map(|(k, w)| (&k.domain, w.energy_j, w.provenance))
                .collect();
            if cpu.is_empty() {
                missing[i].insert("no CPU package domain in the energy windows".into());
                continue;
            }
            let pkg: f64 = cpu.iter().map(|c| c.1).sum();
            cpu_labels[i].extend(cpu.iter().map(|c| FigureLabel::from(c.2)));
            package[i].push(pkg / requests);
            if let (Some(b), Some(t)) = (rec.busy, rec.total)
                && t > 0.0
            {
                busy[i].push(b / t);
            }
            if let Some(s) = share(rec.server) {
                server[i].push((s, pkg * s / requests));
            }
            if let Some(s) = share(rec.client) {
                client[i].push((s, pkg * s / requests));
            }
        } else if let Some(s) = share(rec.server) {
            let Some((_, w)) = rep.domains.iter().find(|(k, _)| k.domain == rec.resource) else {
                continue;
            };
            gpu_labels[i].insert(rec.resource.clone(), FigureLabel::from(w.provenance));
            gpus[i]
                .entry(rec.resource.clone())
                .or_default()
                .push((s, w.energy_j * s / requests));
        }
    }
    for (i, o) in out.iter_mut().enumerate() {
        o.package_energy_j = Describe::of(&package[i]).map(|d| d.mean);
        o.machine_busy_share = Describe::of(&busy[i]).map(|d| d.mean);
        let cpu_label = FigureLabel::combine(cpu_labels[i].iter().copied());
        o.server_cpu = attributed(&server[i], cpu_label);
        o.client_cpu = attributed(&client[i], cpu_label);
        for (domain, parts) in std::mem::take(&mut gpus[i]) {
            let label = gpu_labels[i]
                .get(&domain)
                .copied()
                .unwrap_or(FigureLabel::Measured);
            if let Some(a) = attributed(&parts, label) {
                o.gpu.insert(domain, a);
            }
        }
        o.missing = std::mem::take(&mut missing[i]).into_iter().collect();
    }
    Ok(out)
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
