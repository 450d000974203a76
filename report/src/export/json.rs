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
    /// The hourly intensity series and its what-ifs (absent for a constant intensity).
    #[serde(skip_serializing_if = "Option::is_none")]
    carbon_over_time: Option<CarbonDoc<'a>>,
    configurations: Vec<Config<'a>>,
    tasks: &'a [crate::aggregate::TaskRow],
    models: &'a [crate::aggregate::ModelRow],
    context: &'a [crate::context::ContextRow],
    /// Load levels and latency-target picks (absent when no repetition ran at a level).
    #[serde(skip_serializing_if = "Option::is_none")]
    load: Option<&'a crate::load::LoadReport>,
    /// Each variant configuration against its baseline's (absent without variants).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    savings: &'a [crate::savings::SavingsRow],
    /// What is known of each model and where each fact came from (`suite`, `server`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    model_facts: &'a std::collections::BTreeMap<String, crate::savings::facts::ModelFacts>,
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
struct CarbonDoc<'a> {
    method: &'static str,
    zone: &'a str,
    basis: records::carbon::Basis,
    sources: &'a [String],
    coverage: &'a [crate::carbon::ZoneCoverage],
    run_gco2e: Option<f64>,
    whatif_cleanest: Option<&'a crate::carbon::Cleanest>,
    whatif_cleanest_unavailable: Option<&'a str>,
    whatif_zones: Vec<ZoneDoc<'a>>,
}

#[derive(Serialize)]
struct ZoneDoc<'a> {
    zone: &'a str,
    run_gco2e: Option<f64>,
    unavailable: Option<&'a str>,
}

/// The JSON form of the run's series and what-ifs.
fn carbon_doc(c: &crate::carbon::RunCarbon) -> CarbonDoc<'_> {
    CarbonDoc {
        method: crate::carbon::METHOD,
        zone: &c.zone,
        basis: c.basis,
        sources: &c.sources,
        coverage: &c.coverage,
        run_gco2e: c.run_gco2e,
        whatif_cleanest: c.cleanest.as_ref().ok(),
        whatif_cleanest_unavailable: c.cleanest.as_ref().err().map(String::as_str),
        whatif_zones: c
            .zones
            .iter()
            .map(|z| ZoneDoc {
                zone: &z.zone,
                run_gco2e: z.run_gco2e.as_ref().ok().copied(),
                unavailable: z.run_gco2e.as_ref().err().map(String::as_str),
            })
            .collect(),
    }
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
        carbon_over_time: report.carbon.as_ref().map(carbon_doc),
        configurations,
        tasks: &report.tasks,
        models: &report.models,
        context: &report.context,
        load: report.load.as_ref(),
        savings: &report.savings,
        model_facts: &report.model_facts,
    }
}
