//! Cross-checks per window: a GPU's energy counter against the integral of the power it
//! reported during the window (`context.csv`), and RAPL sub-zones against their package.

use crate::ReportError;
use crate::configs::{Configuration, DomainKey};
use records::files::CONTEXT_CSV;
use records::manifest::RunManifest;
use records::raw::ContextRecord;
use records::table_io::read_records;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Bounds of the cross-checks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CrossCheckBounds {
    /// Largest relative difference between a GPU counter and its power integral.
    pub counter_vs_power: f64,
    /// Share of the window the power samples must span for the check to be made.
    pub min_coverage: f64,
    /// Largest excess of a package's sub-zones (core + uncore) over the package, relative.
    pub subzones_over_package: f64,
}

impl Default for CrossCheckBounds {
    fn default() -> Self {
        Self {
            counter_vs_power: 0.10,
            min_coverage: 0.8,
            subzones_over_package: 0.02,
        }
    }
}

/// One cross-check of one domain over one repetition, with both figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossCheck {
    /// Repetition number.
    pub repetition: u32,
    /// What was checked: `gpu-counter-vs-power` or `rapl-subzones-vs-package`.
    pub check: &'static str,
    /// The domain (`nvml/gpu-0`, `rapl/cpu-package-0`).
    pub domain: String,
    /// The counter's (or package's) energy (J).
    pub reference_j: f64,
    /// The power integral's (or the sub-zones') energy (J).
    pub other_j: f64,
    /// (other − reference) / reference.
    pub difference: f64,
    /// Whether the difference is past the bound.
    pub disagrees: bool,
}

/// Every cross-check a configuration's usable repetitions allowed, and why others could
/// not be made.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConfigCrossChecks {
    /// The checks made.
    pub checks: Vec<CrossCheck>,
    /// Checks that could not be made, with why (e.g. too few power samples).
    pub skipped: Vec<String>,
}

impl ConfigCrossChecks {
    /// The checks past their bound.
    pub fn disagreements(&self) -> impl Iterator<Item = &CrossCheck> {
        self.checks.iter().filter(|c| c.disagrees)
    }
}

/// The cross-checks of each configuration, in `configs` order.
pub fn check(
    dir: &Path,
    manifest: &RunManifest,
    configs: &[Configuration],
    bounds: &CrossCheckBounds,
) -> Result<Vec<ConfigCrossChecks>, ReportError> {
    let mut out = vec![ConfigCrossChecks::default(); configs.len()];
    for (config, o) in configs.iter().zip(out.iter_mut()) {
        let checks = subzones(config, bounds, &mut o.skipped);
        o.checks.extend(checks);
    }
    gpu_counters(dir, manifest, configs, bounds, &mut out)?;
    Ok(out)
}

/// RAPL: per package N, `cpu-core-N` + `cpu-uncore-N` must not exceed `cpu-package-N`; a
/// package that did not move is skipped with why (the counter-moved check fails it).
fn subzones(
    config: &Configuration,
    bounds: &CrossCheckBounds,
    skipped: &mut Vec<String>,
) -> Vec<CrossCheck> {
    let mut out = Vec::new();
    for rep in config.usable() {
        for (key, w) in &rep.domains {
            let Some(n) = key.domain.strip_prefix("cpu-package-") else {
                continue;
            };
            let part = |name: String| {
                rep.domains
                    .get(&DomainKey {
                        source: key.source.clone(),
                        domain: name,
                    })
                    .map(|w| w.energy_j)
            };
            let parts: Vec<f64> = [format!("cpu-core-{n}"), format!("cpu-uncore-{n}")]
                .into_iter()
                .filter_map(part)
                .collect();
            if parts.is_empty() {
                continue;
            }
            if w.energy_j <= 0.0 {
                skipped.push(format!(
                    "{}/{} rep {}: the package counter did not move (see counter-moved)",
                    key.source, key.domain, rep.number
                ));
                continue;
            }
            let sum: f64 = parts.iter().sum();
            let difference = (sum - w.energy_j) / w.energy_j;
            out.push(CrossCheck {
                repetition: rep.number,
                check: "rapl-subzones-vs-package",
                domain: format!("{}/{}", key.source, key.domain),
                reference_j: w.energy_j,
                other_j: sum,
                difference,
                disagrees: difference > bounds.subzones_over_package,
            });
        }
    }
    out
}

/// The GPU domains whose energy came from NVML's counter (their probe's method says so).
fn counter_domains(manifest: &RunManifest) -> Vec<DomainKey> {
    manifest
        .probes
        .iter()
        .flat_map(|p| {
            p.domains
                .iter()
                .filter(|d| {
                    p.method
                        .contains(&format!("{d}: total_energy_consumption counter"))
                })
                .map(|d| DomainKey {
                    source: p.name.clone(),
                    domain: d.clone(),
                })
        })
        .collect()
}

/// Power samples inside one window: first and last time, and the trapezoid integral.
#[derive(Default)]
struct Integral {
    first_ns: Option<u64>,
    last: Option<(u64, f64)>,
    joules: f64,
}

impl Integral {
    fn add(&mut self, t_ns: u64, watts: f64) {
        if let Some((t0, w0)) = self.last
            && t_ns > t0
        {
            self.joules += (w0 + watts) / 2.0 * (t_ns - t0) as f64 / 1e9;
        }
        self.first_ns.get_or_insert(t_ns);
        self.last = Some((t_ns, watts));
    }

    fn span_s(&self) -> f64 {
        match (self.first_ns, self.last) {
            (Some(a), Some((b, _))) => b.saturating_sub(a) as f64 / 1e9,
            _ => 0.0,
        }
    }
}

/// NVML: each counter-measured GPU's window energy against its `power_w` samples' integral.
fn gpu_counters(
    dir: &Path,
    manifest: &RunManifest,
    configs: &[Configuration],
    bounds: &CrossCheckBounds,
    out: &mut [ConfigCrossChecks],
) -> Result<(), ReportError> {
    let domains = counter_domains(manifest);
    if domains.is_empty() {
        return Ok(());
    }
    let path = dir.join(CONTEXT_CSV);
    let windows = crate::configs::usable_windows(configs);
    let mut integrals: BTreeMap<(usize, DomainKey), Integral> = BTreeMap::new();
    if path.exists() {
        let mut cursor = 0;
        for rec in read_records::<ContextRecord>(&path)? {
            let rec = rec?;
            if rec.metric != "power_w" {
                continue;
            }
            while cursor < windows.len() && windows[cursor].1 < rec.t_ns {
                cursor += 1;
            }
            let Some(&(start, _, _, _)) = windows.get(cursor) else {
                break;
            };
            if rec.t_ns < start {
                continue;
            }
            let key = DomainKey {
                source: rec.source,
                domain: rec.domain,
            };
            if domains.contains(&key) {
                integrals
                    .entry((cursor, key))
                    .or_default()
                    .add(rec.t_ns, rec.value);
            }
        }
    }
    for (w, &(start, end, ci, number)) in windows.iter().enumerate() {
        let Some(rep) = configs[ci].repetitions.get(&number) else {
            continue;
        };
        for key in &domains {
            let Some(window) = rep.domains.get(key) else {
                continue;
            };
            let name = format!("{}/{}", key.source, key.domain);
            let duration_s = end.saturating_sub(start) as f64 / 1e9;
            let integral = integrals.get(&(w, key.clone()));
            let span = integral.map_or(0.0, Integral::span_s);
            if duration_s <= 0.0 || span < bounds.min_coverage * duration_s {
                out[ci].skipped.push(format!(
                    "{name} rep {number}: power samples span {span:.2} s of the {duration_s:.2} s window (need {:.0}%); raise [probes] sample_hz",
                    bounds.min_coverage * 100.0
                ));
                continue;
            }
            let Some(integral) = integral else { continue };
            if window.energy_j <= 0.0 {
                out[ci].skipped.push(format!(
                    "{name} rep {number}: the energy counter did not move (see counter-moved)"
                ));
                continue;
            }
            // Scale the integral over the samples' span to the whole window.
            let other_j = integral.joules * duration_s / span;
            let difference = (other_j - window.energy_j) / window.energy_j;
            out[ci].checks.push(CrossCheck {
                repetition: number,
                check: "gpu-counter-vs-power",
                domain: name,
                reference_j: window.energy_j,
                other_j,
                difference,
                disagrees: difference.abs() > bounds.counter_vs_power,
            });
        }
    }
    Ok(())
}

impl std::fmt::Display for CrossCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = match self.check {
            "gpu-counter-vs-power" => ("counter", "power integral"),
            _ => ("package", "sub-zones"),
        };
        write!(
            f,
            "{} rep {}: {a} {:.4} J vs {b} {:.4} J ({:+.1}%)",
            self.domain,
            self.repetition,
            self.reference_j,
            self.other_j,
            self.difference * 100.0
        )
    }
}
