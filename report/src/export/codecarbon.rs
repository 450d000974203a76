//! `emissions.csv`: the run in CodeCarbon 3.x's task-mode file format (the columns of its
//! `TaskEmissionsData`, in its order), so tools built for CodeCarbon's files read a
//! joulebench run. One row per configuration with a valid repetition: the energy of its
//! measured inferences, summed over its valid repetitions' windows (the work that
//! happened, as a CodeCarbon task row records it), split into CPU, GPU and RAM by the
//! counted domains' names. A field joulebench does not know is an empty cell, as
//! CodeCarbon writes a missing value; docs/nightly.md lists each column's source.

use super::Exporter;
use crate::ReportError;
use crate::configs::Configuration;
use crate::model::Report;
use crate::units::J_PER_KWH;
use records::manifest::RunManifest;
use std::collections::BTreeMap;

/// The CodeCarbon task-mode emissions file of a report.
pub struct CodeCarbonCsv;

/// The columns of CodeCarbon 3.x's task-mode file (`TaskEmissionsData`), in its order.
pub const COLUMNS: [&str; 36] = [
    "task_name",
    "timestamp",
    "project_name",
    "run_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
];

/// CodeCarbon's three hardware parts, which joulebench's domains are summed into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// CPU packages (RAPL `package-N`, `cpu-package-N`, an estimated `cpu`).
    Cpu,
    /// GPUs (`gpuN`, `gpu-N`).
    Gpu,
    /// Memory (`dram-N`, `ram`).
    Ram,
}

impl Part {
    /// The part a domain's energy belongs to, by its name; `None` when the name says
    /// neither (the row's split is then unknown).
    pub fn of(domain: &str) -> Option<Self> {
        let d = domain.to_ascii_lowercase();
        if d.starts_with("gpu") {
            Some(Self::Gpu)
        } else if d.starts_with("dram") || d == "ram" || d.starts_with("memory") {
            Some(Self::Ram)
        } else if d.starts_with("package") || d.starts_with("cpu") {
            Some(Self::Cpu)
        } else {
            None
        }
    }
}

/// What one configuration's valid repetitions add up to.
struct Totals {
    duration_s: f64,
    energy_j: f64,
    /// Energy per part; `None` when a counted domain belongs to no part.
    parts: Option<BTreeMap<Part, f64>>,
    /// End of the last window (ns on the run's clock).
    end_ns: u64,
    /// Requests sent in those windows (the inferences the energy stands for).
    requests: u64,
}

fn totals(config: &Configuration) -> Option<Totals> {
    let mut out = Totals {
        duration_s: 0.0,
        energy_j: 0.0,
        parts: Some(BTreeMap::new()),
        end_ns: 0,
        requests: 0,
    };
    let mut any = false;
    for rep in config.usable() {
        any = true;
        out.duration_s += rep.duration_s;
        out.end_ns = out.end_ns.max(rep.t_end_ns);
        out.requests += u64::from(rep.requests);
        for (key, window) in rep.domains.iter().filter(|(_, w)| w.counts_in_total) {
            out.energy_j += window.energy_j;
            match (Part::of(&key.domain), out.parts.as_mut()) {
                (Some(part), Some(parts)) => *parts.entry(part).or_insert(0.0) += window.energy_j,
                _ => out.parts = None,
            }
        }
    }
    any.then_some(out)
}

impl Exporter for CodeCarbonCsv {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| ReportError::Serialize {
            format: "CodeCarbon CSV",
            message: e.to_string(),
        };
        w.write_record(COLUMNS).map_err(fail)?;
        let host = Host::of(&report.manifest);
        for config in &report.configs {
            let Some(t) = totals(config) else {
                continue;
            };
            let gco2e_per_1000 = report
                .config_summary(&config.info.id)
                .and_then(|s| s.row.gco2e_per_1000);
            w.write_record(row(config, &t, &report.manifest, &host, gco2e_per_1000))
                .map_err(fail)?;
        }
        w.into_inner().map_err(|e| ReportError::Serialize {
            format: "CodeCarbon CSV",
            message: e.to_string(),
        })
    }
}

/// The host columns, the same on every row.
struct Host {
    os: String,
    cpu_count: String,
    cpu_model: String,
    gpu_count: String,
    gpu_model: String,
    ram_total_size: String,
}

impl Host {
    fn of(m: &RunManifest) -> Self {
        let mut gpus: BTreeMap<&str, usize> = BTreeMap::new();
        for g in &m.host.gpus {
            *gpus.entry(g.name.as_str()).or_insert(0) += 1;
        }
        Self {
            os: m.host.os.clone(),
            cpu_count: if m.host.cpu_logical > 0 {
                m.host.cpu_logical.to_string()
            } else {
                String::new()
            },
            cpu_model: m.host.cpu_model.clone(),
            gpu_count: m.host.gpus.len().to_string(),
            // CodeCarbon's form: "2 x NVIDIA A100-SXM4-80GB".
            gpu_model: gpus
                .iter()
                .map(|(name, n)| format!("{n} x {name}"))
                .collect::<Vec<_>>()
                .join(", "),
            ram_total_size: number(Some(m.host.memory_gb).filter(|g| *g > 0.0)),
        }
    }
}

/// One configuration's row, in [`COLUMNS`] order.
fn row(
    config: &Configuration,
    t: &Totals,
    m: &RunManifest,
    host: &Host,
    gco2e_per_1000: Option<f64>,
) -> [String; COLUMNS.len()] {
    let kwh = |j: f64| j / J_PER_KWH;
    // summary.csv's gCO2eq per 1,000 inferences (kWh × PUE × the intensity of each
    // repetition's hours, or the constant) for the inferences the row stands for; kg.
    let emissions_kg = gco2e_per_1000
        .filter(|g| g.is_finite())
        .map(|g| g * t.requests as f64 / 1000.0 / 1000.0);
    let rate = emissions_kg
        .filter(|_| t.duration_s > 0.0)
        .map(|kg| kg / t.duration_s);
    let part = |p: Part| -> (Option<f64>, Option<f64>) {
        match &t.parts {
            Some(parts) => {
                let j = parts.get(&p).copied().unwrap_or(0.0);
                let w = (t.duration_s > 0.0).then(|| j / t.duration_s);
                (w, Some(kwh(j)))
            }
            None => (None, None),
        }
    };
    let (cpu_w, cpu_kwh) = part(Part::Cpu);
    let (gpu_w, gpu_kwh) = part(Part::Gpu);
    let (ram_w, ram_kwh) = part(Part::Ram);
    // The end of the last window in UTC, on the clock of the shard that measured it.
    let timestamp = crate::carbon::windows::clock_of(m, &config.info.id)
        .ok()
        .map(|(epoch, offset)| {
            let since = i64::try_from(t.end_ns.saturating_sub(offset)).unwrap_or(i64::MAX);
            (epoch + chrono::Duration::nanoseconds(since))
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let s = String::new;
    [
        config.info.task.clone(),
        timestamp,
        config.info.model.clone(),
        config.info.id.clone(),
        number(Some(t.duration_s)),
        number(emissions_kg),
        number(rate),
        number(cpu_w),
        number(gpu_w),
        number(ram_w),
        number(cpu_kwh),
        number(gpu_kwh),
        number(ram_kwh),
        number(Some(kwh(t.energy_j))),
        s(),
        s(),
        s(),
        s(),
        s(),
        s(),
        host.os.clone(),
        s(),
        s(),
        host.cpu_count.clone(),
        host.cpu_model.clone(),
        host.gpu_count.clone(),
        host.gpu_model.clone(),
        s(),
        s(),
        host.ram_total_size.clone(),
        "machine".to_string(),
        s(),
        s(),
        s(),
        s(),
        s(),
    ]
}

/// A known finite number in its shortest round-trip form; an empty cell otherwise.
fn number(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:?}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_fall_into_parts_by_name() {
        assert_eq!(Part::of("package-0"), Some(Part::Cpu));
        assert_eq!(Part::of("cpu-package-1"), Some(Part::Cpu));
        assert_eq!(Part::of("cpu"), Some(Part::Cpu));
        assert_eq!(Part::of("gpu0"), Some(Part::Gpu));
        assert_eq!(Part::of("gpu-3"), Some(Part::Gpu));
        assert_eq!(Part::of("dram-0"), Some(Part::Ram));
        assert_eq!(Part::of("ram"), Some(Part::Ram));
        assert_eq!(Part::of("psys"), None);
    }

    #[test]
    fn unknown_numbers_are_empty_cells() {
        assert_eq!(number(None), "");
        assert_eq!(number(Some(f64::NAN)), "");
        assert_eq!(number(Some(0.25)), "0.25");
    }
}
