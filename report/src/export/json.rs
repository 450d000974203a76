//! `summary.json`: everything the report computed, for scripts.

use super::Exporter;
use crate::ReportError;
use crate::model::Report;
use serde::Serialize;

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
    summary: &'a crate::model::SummaryRow,
    estimated: bool,
    quality: &'a [crate::flags::Flag],
    repetitions: Vec<Rep>,
    domains: Vec<&'a crate::domains::DomainRow>,
    fidelity: Option<&'a crate::fidelity::ConfigFidelity>,
    answer_quality: Option<&'a crate::quality::ConfigQuality>,
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

/// `summary.json`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl Exporter for Json {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        let text = serde_json::to_string_pretty(&document(report)).map_err(|e| {
            ReportError::Serialize {
                format: "JSON",
                message: e.to_string(),
            }
        })?;
        Ok((text + "\n").into_bytes())
    }
}

/// The document of a report.
fn document(report: &Report) -> Document<'_> {
    let m = &report.manifest;
    let configurations = report
        .summary
        .iter()
        .map(|s| {
            let row = &s.row;
            let config = report.configs.iter().find(|c| c.info.id == row.config);
            Config {
                summary: row,
                estimated: !row.provenance.is_measured(),
                quality: &s.flags,
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
                fidelity: report.fidelity.iter().find(|f| f.config == row.config),
                answer_quality: report.quality.iter().find(|q| q.config == row.config),
            }
        })
        .collect();
    Document {
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
    }
}
