//! The manifest (`run.json`) of a new run.

use super::{RunOptions, host};
use crate::suite::Suite;
use probes::{MonotonicClock, ProbeSet, Provenance};
use records::manifest::{
    CarbonSeriesInfo, DerivationPolicy, IdleSubtraction, MissingProbeInfo, ProbeInfo, RunManifest,
    RunStatus, SuiteInfo,
};

/// Now, in RFC 3339 UTC with milliseconds.
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The manifest of a run starting now; the suite path is made absolute so `--resume`
/// finds the suite's datasets from any folder.
pub fn new_manifest(
    suite: &Suite,
    opts: &RunOptions,
    probes: &ProbeSet,
    clock: &MonotonicClock,
) -> RunManifest {
    let epoch: chrono::DateTime<chrono::Utc> = clock.epoch_wall().into();
    RunManifest {
        format_version: RunManifest::FORMAT_VERSION,
        joulebench_version: opts.version.clone(),
        git_revision: opts.git_revision.clone(),
        suite: SuiteInfo {
            name: suite.name().to_string(),
            path: std::fs::canonicalize(&suite.path)
                .unwrap_or_else(|_| suite.path.clone())
                .display()
                .to_string(),
            sha256: suite.sha256.clone(),
        },
        host: host::host_info(&probes.gpu_inventory),
        probes: probes
            .descriptions
            .iter()
            .map(|d| ProbeInfo {
                name: d.name.clone(),
                // Measured only when every domain is (a source with none measured nothing).
                provenance: if !d.domains.is_empty()
                    && d.domains
                        .iter()
                        .all(|dom| dom.provenance == Provenance::Measured)
                {
                    Provenance::Measured
                } else {
                    Provenance::Estimated
                },
                domains: d.domains.iter().map(|dom| dom.name.clone()).collect(),
                resolution_s: d.resolution_s,
                method: d.method.clone(),
            })
            .collect(),
        missing_probes: probes
            .missing
            .iter()
            .map(|m| MissingProbeInfo {
                probe: m.probe.clone(),
                reason: m.reason.clone(),
            })
            .collect(),
        carbon_intensity_g_per_kwh: suite.carbon.constant_intensity().unwrap_or(f64::NAN),
        pue: suite.carbon.pue,
        sample_hz: suite.probes.sample_hz,
        clock_epoch_utc: epoch.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        started_utc: now_utc(),
        ended_utc: None,
        status: RunStatus::Running,
        status_reason: None,
        shard: opts.shard.clone(),
        merged: None,
        policy: Some(policy(suite)),
        // Filled once the datasets are read (`run::run`), before run.json is first written.
        datasets: None,
        carbon_series: suite.carbon_series.as_ref().map(|c| CarbonSeriesInfo {
            zone: c.zone.clone(),
            basis: c.basis,
            sources: c.paths.iter().map(|p| p.display().to_string()).collect(),
            zones: c.series.zones.keys().cloned().collect(),
        }),
        load: load_info(suite),
        models: Some(models(suite)),
    }
}

/// What the suite declared of each model, for `run.json` `models`.
fn models(suite: &Suite) -> Vec<records::models::ModelInfo> {
    suite
        .models
        .iter()
        .map(|m| records::models::ModelInfo {
            name: m.name.clone(),
            served_name: m.served_name.clone(),
            server: m.server.clone(),
            variant_of: m.variant_of.clone(),
            techniques: m.techniques.clone(),
            parameters: m.parameters,
            active_parameters: m.active_parameters,
            weight_bytes: m.weight_bytes,
        })
        .collect()
}

/// What the report needs of the suite's load levels, when it sweeps any or sets targets.
fn load_info(suite: &Suite) -> Option<records::load::LoadInfo> {
    let s = &suite.schedule;
    let sweeps = suite.models.iter().any(|m| !m.points.is_empty());
    (sweeps || !s.latency_targets.is_empty()).then(|| records::load::LoadInfo {
        latency_targets: s.latency_targets.clone(),
        open_loop_ramp_share: s.open_loop_ramp_share,
    })
}

/// How the report derives net energy and validity for runs of `suite`.
pub fn policy(suite: &Suite) -> DerivationPolicy {
    DerivationPolicy {
        max_failure_share: suite.schedule.max_failure_share,
        idle: IdleSubtraction::LatestBaseline,
    }
}
