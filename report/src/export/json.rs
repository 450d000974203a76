//! `summary.json`: everything the report computed, for scripts.

use crate::ReportError;
use crate::render::Report;
use records::files::SUMMARY_JSON;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    suite: &'a str,
    status: records::manifest::RunStatus,
    started_utc: &'a str,
    host: &'a records::manifest::HostInfo,
    probes: &'a [records::manifest::ProbeInfo],
    missing_probes: &'a [records::manifest::MissingProbeInfo],
    carbon_intensity_g_per_kwh: f64,
    pue: f64,
    cv_bound: f64,
    configurations: Vec<Config<'a>>,
    tasks: &'a [crate::aggregate::TaskRow],
    models: &'a [crate::aggregate::ModelRow],
    context: &'a [crate::context::ContextRow],
}

#[derive(Serialize)]
struct Config<'a> {
    #[serde(flatten)]
    summary: &'a crate::summary::SummaryRow,
    estimated: bool,
    quality: &'a [crate::flags::Flag],
    repetitions: Vec<Rep>,
    domains: Vec<&'a crate::domains::DomainRow>,
}

#[derive(Serialize)]
struct Rep {
    number: u32,
    valid: bool,
    requests: u32,
    duration_s: f64,
    energy_j_per_inference: f64,
    net_energy_j_per_inference: Option<f64>,
}

/// Writes `summary.json` into `dir`.
pub fn write(dir: &Path, report: &Report) -> Result<(), ReportError> {
    let path = dir.join(SUMMARY_JSON);
    let m = &report.manifest;
    let configurations = report
        .summary
        .iter()
        .zip(&report.flags)
        .map(|(row, flags)| {
            let config = report.configs.iter().find(|c| c.info.id == row.config);
            Config {
                summary: row,
                estimated: row.source != "measured",
                quality: flags,
                repetitions: config
                    .map(|c| {
                        c.repetitions
                            .values()
                            .map(|r| Rep {
                                number: r.number,
                                valid: r.usable(),
                                requests: r.requests,
                                duration_s: r.duration_s,
                                energy_j_per_inference: r.energy_per_inference_j(),
                                net_energy_j_per_inference: r
                                    .total_net_energy_j()
                                    .map(|n| n / f64::from(r.requests)),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                domains: report
                    .domains
                    .iter()
                    .filter(|d| d.config == row.config)
                    .collect(),
            }
        })
        .collect();
    let doc = Document {
        format: "joulebench-summary/1",
        suite: &m.suite.name,
        status: m.status,
        started_utc: &m.started_utc,
        host: &m.host,
        probes: &m.probes,
        missing_probes: &m.missing_probes,
        carbon_intensity_g_per_kwh: m.carbon_intensity_g_per_kwh,
        pue: m.pue,
        cv_bound: report.options.cv_bound,
        configurations,
        tasks: &report.tasks,
        models: &report.models,
        context: &report.context,
    };
    let text =
        serde_json::to_string_pretty(&doc).map_err(|source| records::RecordsError::Json {
            path: path.clone(),
            source,
        })?;
    Ok(std::fs::write(&path, text + "\n")
        .map_err(|source| records::RecordsError::Io { path, source })?)
}
