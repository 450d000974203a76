//! CodeCarbon `emissions.csv` files (plain, and task mode with a `task_name` column) as a
//! results folder: one row is one repetition standing for a given number of inferences,
//! with the CPU, GPU and RAM energies as domains of the source `codecarbon`.
//!
//! CodeCarbon measures the GPU with NVML's energy counter. Its RAM figure is a model
//! (3 W per 8 GB installed), and where it cannot read RAPL its CPU figure is a model too
//! (a constant half the TDP in older versions, CPU load × TDP in newer ones, which varies
//! from row to row): CPU and RAM are marked `estimated` unless the user states that the
//! CPU was read from RAPL (`cpu_measured`).

use super::labels::{Labels, Mapping};
use super::timestamp;
use crate::ReportError;
use crate::stats::median;
use crate::units::J_PER_KWH;
use records::files::{IMPORT_JSON, REPETITIONS_CSV};
use records::labels::{ClassLabel, Provenance};
use records::manifest::{GpuInfo, HostInfo, ProbeInfo, RunManifest, RunStatus, SuiteInfo};
use records::raw::RepetitionRecord;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The source name every imported domain carries.
pub const SOURCE: &str = "codecarbon";

/// What to import and how to label it.
#[derive(Clone, Debug)]
pub struct ImportSettings {
    /// CodeCarbon CSV files.
    pub files: Vec<PathBuf>,
    /// Keep only rows whose `task_name` is this.
    pub task_name: Option<String>,
    /// Inferences one row stands for.
    pub inferences: u32,
    /// Labels for every row.
    pub labels: Labels,
    /// Labels per run or project, taking precedence over `labels`.
    pub mapping: Option<Mapping>,
    /// Grid intensity to use (g/kWh) instead of the one CodeCarbon applied.
    pub intensity_g_per_kwh: Option<f64>,
    /// The user states that CodeCarbon read the CPU's energy from RAPL (`--cpu-measured`):
    /// the CPU domain is then `measured`, otherwise `estimated`.
    pub cpu_measured: bool,
}

/// What an import did (also written to `import.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    /// Files read.
    pub files: usize,
    /// Rows imported as repetitions.
    pub rows: usize,
    /// Rows left out by `--task-name`.
    pub rows_other_tasks: usize,
    /// Imported rows the mapping file did not cover (labelled from `--label` or defaults).
    pub rows_unmapped: usize,
    /// Configurations written.
    pub configurations: usize,
    /// Inferences one row stands for.
    pub inferences_per_row: u32,
    /// The `task_name` kept.
    pub task_name: Option<String>,
    /// CodeCarbon versions seen.
    pub codecarbon_versions: Vec<String>,
    /// Grid intensity used (g/kWh): `--intensity`, else the median emissions / energy of
    /// the rows (what CodeCarbon applied); NaN (`null` in `import.json`) when unknown.
    pub carbon_intensity_g_per_kwh: f64,
    /// Where the intensity came from, or why it is unknown.
    pub carbon_intensity: String,
    /// Whether emissions are unknown (no `--intensity` and no row with emissions): no
    /// gCO2eq is computed.
    pub emissions_unknown: bool,
    /// Provenance given to each domain, with why.
    pub domains: BTreeMap<String, String>,
}

/// One kept row.
struct Row {
    file: usize,
    line: u64,
    run_id: String,
    project: String,
    end_s: Option<f64>,
    duration_s: f64,
    energy_kwh: [f64; 3],
    cpu_power_w: Option<f64>,
    emissions_kg: Option<f64>,
    energy_consumed_kwh: Option<f64>,
    version: Option<String>,
    host: [Option<String>; 5],
}

const DOMAINS: [&str; 3] = ["cpu", "gpu", "ram"];
const HOST_COLUMNS: [&str; 5] = [
    "cpu_model",
    "gpu_model",
    "os",
    "ram_total_size",
    "cpu_count",
];

/// Imports CodeCarbon files into a new results folder `out`.
pub fn import(settings: &ImportSettings, out: &Path) -> Result<ImportSummary, ReportError> {
    if settings.files.is_empty() {
        return Err(ReportError::Invalid("no CodeCarbon file given".to_string()));
    }
    if settings.inferences == 0 {
        return Err(ReportError::Invalid(
            "--inferences must be at least 1 (the inferences one row stands for)".to_string(),
        ));
    }
    if let Some(i) = settings
        .intensity_g_per_kwh
        .filter(|i| !(i.is_finite() && *i >= 0.0))
    {
        return Err(ReportError::Invalid(format!(
            "--intensity must be a grid intensity of 0 g/kWh or more, e.g. --intensity 400 (got {i})"
        )));
    }
    let mut summary = ImportSummary {
        files: settings.files.len(),
        inferences_per_row: settings.inferences,
        task_name: settings.task_name.clone(),
        ..ImportSummary::default()
    };
    let mut rows = Vec::new();
    for (i, path) in settings.files.iter().enumerate() {
        read_file(i, path, settings, &mut rows, &mut summary)?;
    }
    if rows.is_empty() {
        return Err(ReportError::Invalid(match &settings.task_name {
            Some(t) => format!("no row has task_name {t:?} in the files given"),
            None => "the files given hold no rows".to_string(),
        }));
    }
    let provenance = provenances(&rows, settings.cpu_measured, &mut summary);
    let records = repetitions(&rows, settings, &provenance, &mut summary);
    std::fs::create_dir_all(out).map_err(|source| records::RecordsError::Io {
        path: out.to_path_buf(),
        cause: source,
    })?;
    records::table_io::write_csv(&out.join(REPETITIONS_CSV), &records)?;
    let applied: Vec<f64> = rows
        .iter()
        .filter_map(|r| {
            let e = r.energy_consumed_kwh.unwrap_or(r.energy_kwh.iter().sum());
            r.emissions_kg.filter(|_| e > 0.0).map(|kg| kg * 1000.0 / e)
        })
        .filter(|i| i.is_finite())
        .collect();
    (
        summary.carbon_intensity_g_per_kwh,
        summary.carbon_intensity,
        summary.emissions_unknown,
    ) = match settings.intensity_g_per_kwh {
        Some(i) => (i, "given with --intensity".to_string(), false),
        None if applied.is_empty() => (
            f64::NAN,
            "unknown: no imported row has emissions and energy; gCO2eq is not computed (give --intensity G_PER_KWH)".to_string(),
            true,
        ),
        None => (
            median(&applied),
            format!(
                "median of emissions / energy over the {} of {} rows that have both (what CodeCarbon applied)",
                applied.len(),
                rows.len()
            ),
            false,
        ),
    };
    let versions: BTreeSet<String> = rows.iter().filter_map(|r| r.version.clone()).collect();
    summary.codecarbon_versions = versions.into_iter().collect();
    manifest(&rows, settings, &provenance, &summary).save(out)?;
    let path = out.join(IMPORT_JSON);
    let text =
        serde_json::to_string_pretty(&summary).map_err(|source| records::RecordsError::Json {
            path: path.clone(),
            cause: source,
        })?;
    std::fs::write(&path, text + "\n").map_err(|source| records::RecordsError::Io {
        path,
        cause: source,
    })?;
    Ok(summary)
}

fn read_file(
    index: usize,
    path: &Path,
    settings: &ImportSettings,
    rows: &mut Vec<Row>,
    summary: &mut ImportSummary,
) -> Result<(), ReportError> {
    let mut reader = records::table_io::open(path)?;
    let csv_err = |source| records::RecordsError::Csv {
        path: path.to_path_buf(),
        cause: source,
    };
    let header = reader.headers().map_err(csv_err)?.clone();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| records::RecordsError::Field {
            path: path.to_path_buf(),
            line: 1,
            field: name.to_string(),
            message: "column missing: is this a CodeCarbon emissions.csv?".to_string(),
        })
    };
    let project_col = need("project_name")?;
    let duration_col = need("duration")?;
    let energy_cols = [
        need("cpu_energy")?,
        need("gpu_energy")?,
        need("ram_energy")?,
    ];
    let task_col = col("task_name");
    if settings.task_name.is_some() && task_col.is_none() {
        return Err(ReportError::from(records::RecordsError::Field {
            path: path.to_path_buf(),
            line: 1,
            field: "task_name".to_string(),
            message: "--task-name was given but this file is not in task mode (no task_name column); leave --task-name out for it".to_string(),
        }));
    }
    let host_cols = HOST_COLUMNS.map(col);
    let mut seen_tasks = BTreeSet::new();
    let first_row = rows.len();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line());
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).map(str::trim).unwrap_or("");
        if let Some(tc) = task_col {
            let task = get(Some(tc));
            seen_tasks.insert(task.to_string());
            if settings.task_name.as_deref().is_some_and(|t| t != task) {
                summary.rows_other_tasks += 1;
                continue;
            }
        }
        let number = |c: usize, name: &str| -> Result<f64, ReportError> {
            let v = get(Some(c));
            Ok(v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| records::RecordsError::Field {
                    path: path.to_path_buf(),
                    line,
                    field: name.to_string(),
                    message: format!("{v:?} is not a non-negative number"),
                })?)
        };
        let optional = |name: &str| col(name).and_then(|c| get(Some(c)).parse::<f64>().ok());
        let ts = get(col("timestamp"));
        let end_s = if ts.is_empty() {
            None
        } else {
            Some(
                timestamp::parse(ts).ok_or_else(|| records::RecordsError::Field {
                    path: path.to_path_buf(),
                    line,
                    field: "timestamp".to_string(),
                    message: format!("{ts:?} is not an ISO 8601 time such as 2023-09-10T21:06:08"),
                })?,
            )
        };
        rows.push(Row {
            file: index,
            line,
            run_id: get(col("run_id")).to_string(),
            project: get(Some(project_col)).to_string(),
            end_s,
            duration_s: number(duration_col, "duration")?,
            energy_kwh: [
                number(energy_cols[0], "cpu_energy")?,
                number(energy_cols[1], "gpu_energy")?,
                number(energy_cols[2], "ram_energy")?,
            ],
            cpu_power_w: optional("cpu_power"),
            emissions_kg: optional("emissions"),
            energy_consumed_kwh: optional("energy_consumed"),
            version: Some(get(col("codecarbon_version")).to_string()).filter(|v| !v.is_empty()),
            host: host_cols.map(|c| Some(get(c).to_string()).filter(|v| !v.is_empty())),
        });
    }
    if settings.task_name.is_none() && seen_tasks.len() > 1 && rows.len() > first_row {
        return Err(ReportError::Invalid(format!(
            "{} is in task mode with several tasks ({}); choose the one whose rows are inferences with --task-name, e.g. --task-name \"query model\"",
            path.display(),
            seen_tasks.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

/// The provenance of each domain over all rows, with the reason recorded in the summary.
fn provenances(
    rows: &[Row],
    cpu_measured: bool,
    summary: &mut ImportSummary,
) -> [Option<Provenance>; 3] {
    let present = |d: usize| rows.iter().any(|r| r.energy_kwh[d] > 0.0);
    let cpu_powers: BTreeSet<u64> = rows
        .iter()
        .filter_map(|r| r.cpu_power_w.map(f64::to_bits))
        .collect();
    let cpu_constant = cpu_powers.len() <= 1;
    let mut out = [None; 3];
    if present(0) {
        let (p, why) = match (cpu_measured, cpu_constant) {
            (true, false) => (
                Provenance::Measured,
                "stated with --cpu-measured: CodeCarbon read the CPU from RAPL".to_string(),
            ),
            (true, true) => (
                Provenance::Measured,
                "stated with --cpu-measured: CodeCarbon read the CPU from RAPL (note: its CPU power is the same in every row, which is what its constant TDP fallback looks like)".to_string(),
            ),
            (false, true) => (
                Provenance::Estimated,
                "CodeCarbon's CPU power is the same in every row: its constant fallback (half the TDP), not a measurement; pass --cpu-measured if it read RAPL".to_string(),
            ),
            (false, false) => (
                Provenance::Estimated,
                "CodeCarbon's CPU power varies from row to row, but without RAPL newer versions estimate it from CPU load × TDP, which varies too; pass --cpu-measured if it read RAPL".to_string(),
            ),
        };
        out[0] = Some(p);
        summary.domains.insert("cpu".into(), format!("{p}: {why}"));
    }
    if present(1) {
        out[1] = Some(Provenance::Measured);
        summary
            .domains
            .insert("gpu".into(), "measured: CodeCarbon reads NVML's energy counter (all GPUs it sees, idle ones included)".into());
    }
    if present(2) {
        out[2] = Some(Provenance::Estimated);
        summary.domains.insert(
            "ram".into(),
            "estimated: CodeCarbon models RAM power as 3 W per 8 GB installed".into(),
        );
    }
    out
}

fn repetitions(
    rows: &[Row],
    settings: &ImportSettings,
    provenance: &[Option<Provenance>; 3],
    summary: &mut ImportSummary,
) -> Vec<RepetitionRecord> {
    let defaults = Labels {
        task: Some("unknown".to_string()),
        dataset: Some("unknown".to_string()),
        class: Some(ClassLabel::Unknown),
        ..Labels::default()
    };
    // The clock's zero: the earliest start.
    let epoch = rows
        .iter()
        .filter_map(|r| r.end_s.map(|e| e - r.duration_s))
        .fold(f64::INFINITY, f64::min);
    let mut by_config: BTreeMap<String, Vec<(&Row, Labels)>> = BTreeMap::new();
    for r in rows {
        let mapped = settings
            .mapping
            .as_ref()
            .and_then(|m| m.lookup(&r.run_id, &r.project));
        if settings.mapping.is_some() && mapped.is_none() {
            summary.rows_unmapped += 1;
        }
        let labels = mapped.unwrap_or_default().or(&settings.labels).or(&Labels {
            model: Some(r.project.clone()),
            ..defaults.clone()
        });
        let model = labels.model.clone().unwrap_or_default();
        let dataset = labels.dataset.clone().unwrap_or_default();
        by_config
            .entry(records::ConfigId::new(&model, &dataset).into_string())
            .or_default()
            .push((r, labels));
    }
    summary.configurations = by_config.len();
    summary.rows = rows.len();
    let mut records = Vec::new();
    let mut sequential_s = 0.0;
    for (config, mut list) in by_config {
        list.sort_by(|a, b| {
            let key = |r: &Row| r.end_s.unwrap_or(f64::INFINITY);
            key(a.0)
                .total_cmp(&key(b.0))
                .then(a.0.file.cmp(&b.0.file))
                .then(a.0.line.cmp(&b.0.line))
        });
        for (n, (r, labels)) in list.iter().enumerate() {
            let (start_s, end_s) = match r.end_s {
                Some(e) if epoch.is_finite() => (e - r.duration_s - epoch, e - epoch),
                _ => {
                    sequential_s += r.duration_s;
                    (sequential_s - r.duration_s, sequential_s)
                }
            };
            for (d, name) in DOMAINS.iter().enumerate() {
                let Some(p) = provenance[d] else {
                    continue;
                };
                records.push(RepetitionRecord {
                    config: config.clone(),
                    model: labels.model.clone().unwrap_or_default(),
                    task: labels.task.clone().unwrap_or_default(),
                    dataset: labels.dataset.clone().unwrap_or_default(),
                    class: labels.class.unwrap_or(ClassLabel::Unknown),
                    parameters: labels.parameters,
                    repetition: n as u32 + 1,
                    source: SOURCE.to_string(),
                    domain: (*name).to_string(),
                    provenance: p,
                    counts_in_total: true,
                    t_start_ns: (start_s.max(0.0) * 1e9) as u64,
                    t_end_ns: (end_s.max(0.0) * 1e9) as u64,
                    duration_s: r.duration_s,
                    energy_j: r.energy_kwh[d] * J_PER_KWH,
                    requests: settings.inferences,
                    failures: 0,
                    load: None,
                });
            }
        }
    }
    records
}

fn manifest(
    rows: &[Row],
    settings: &ImportSettings,
    provenance: &[Option<Provenance>; 3],
    summary: &ImportSummary,
) -> RunManifest {
    let host = |i: usize| rows.iter().find_map(|r| r.host[i].clone());
    let start = rows
        .iter()
        .filter_map(|r| r.end_s.map(|e| e - r.duration_s))
        .fold(f64::INFINITY, f64::min);
    let end = rows
        .iter()
        .filter_map(|r| r.end_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let (start_utc, end_utc) = match (timestamp::format(start), timestamp::format(end)) {
        (Some(start), Some(end)) => (start, Some(end)),
        _ => ("1970-01-01T00:00:00Z".to_string(), None),
    };
    let version = summary.codecarbon_versions.join(", ");
    let mut probes = Vec::new();
    for p in [Provenance::Measured, Provenance::Estimated] {
        let domains: Vec<String> = DOMAINS
            .iter()
            .zip(provenance)
            .filter(|(_, q)| **q == Some(p))
            .map(|(d, _)| (*d).to_string())
            .collect();
        if !domains.is_empty() {
            probes.push(ProbeInfo {
                name: SOURCE.to_string(),
                provenance: p,
                method: format!(
                    "imported from CodeCarbon {version} ({})",
                    domains
                        .iter()
                        .filter_map(|d| summary.domains.get(d))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                domains,
                resolution_s: 0.0,
            });
        }
    }
    let names: Vec<String> = settings
        .files
        .iter()
        .take(3)
        .map(|f| f.display().to_string())
        .collect();
    RunManifest {
        format_version: RunManifest::FORMAT_VERSION,
        joulebench_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: None,
        suite: SuiteInfo {
            name: "codecarbon-import".to_string(),
            path: if settings.files.len() > 3 {
                format!("{} and {} more", names.join(", "), settings.files.len() - 3)
            } else {
                names.join(", ")
            },
            sha256: String::new(),
        },
        host: HostInfo {
            hostname: String::new(),
            os: host(2).unwrap_or_default(),
            kernel: String::new(),
            cpu_model: host(0).unwrap_or_default(),
            cpu_logical: host(4).and_then(|c| c.parse().ok()).unwrap_or(0),
            cpu_physical: None,
            memory_gb: host(3).and_then(|m| m.parse().ok()).unwrap_or(0.0),
            gpus: host(1)
                .map(|name| {
                    vec![GpuInfo {
                        index: 0,
                        name,
                        uuid: String::new(),
                    }]
                })
                .unwrap_or_default(),
            nvidia_driver: None,
            nvml_version: None,
        },
        probes,
        missing_probes: Vec::new(),
        // NaN when unknown: `null` in run.json, never a silent 0.
        carbon_intensity_g_per_kwh: summary.carbon_intensity_g_per_kwh,
        pue: 1.0,
        sample_hz: 0.0,
        clock_epoch_utc: start_utc.clone(),
        started_utc: start_utc,
        ended_utc: end_utc,
        status: RunStatus::Complete,
        status_reason: Some(format!(
            "imported from {} CodeCarbon file(s); one row = one repetition of {} inferences",
            settings.files.len(),
            settings.inferences
        )),
        shard: None,
        merged: None,
        policy: Some(records::manifest::DerivationPolicy {
            max_failure_share: 0.0,
            idle: records::manifest::IdleSubtraction::LatestBaseline,
        }),
        datasets: None,
        carbon_series: None,
        load: None,
        models: None,
    }
}
