//! Summary statistics of small samples against values computed by hand.
//!
//! Two repetitions of 10 requests: GPU 100 J and 120 J, CPU 20 J each, so 12 and 14 J per
//! inference. By hand: mean 13, sd = √((1 + 1) / 1) = 1.414214, CV = 0.108786;
//! t(0.975, 1 df) = 12.706205, half-width = 12.706205 × 1.414214 / √2 = 12.706205;
//! kWh per 1,000 = 13 × 1000 / 3.6e6 = 0.00361111; gCO2eq per 1,000 at 400 g/kWh and
//! PUE 1.2 = 0.00361111 × 480 = 1.733333; net of 5 W idle over 2 s: (13 − 1) = 12 J.

use joulebench_report as report;
use records::labels::{ClassLabel, Provenance};
use records::manifest::{HostInfo, RunManifest, RunStatus, SuiteInfo};
use records::raw::RepetitionRecord;
use report::configs::{Configuration, add};
use report::derive::DerivedRow;
use report::scan::RequestFacts;
use std::collections::BTreeMap;

fn record(rep: u32, domain: &str, energy_j: f64) -> DerivedRow {
    let record = RepetitionRecord {
        config: "m@d".into(),
        model: "m".into(),
        task: "t".into(),
        dataset: "d".into(),
        class: ClassLabel::TaskSpecific,
        repetition: rep,
        source: if domain == "gpu0" { "nvml" } else { "rapl" }.into(),
        domain: domain.into(),
        provenance: Provenance::Measured,
        counts_in_total: true,
        t_start_ns: u64::from(rep) * 10_000_000_000,
        t_end_ns: u64::from(rep) * 10_000_000_000 + 2_000_000_000,
        duration_s: 2.0,
        energy_j,
        requests: 10,
        ..RepetitionRecord::default()
    };
    DerivedRow {
        record,
        idle_power_w: Some(2.5),
        net_energy_j: Some(energy_j - 5.0),
        valid: true,
    }
}

fn config(energies: &[(f64, f64)]) -> Configuration {
    let mut map = BTreeMap::new();
    for (i, (gpu, cpu)) in energies.iter().enumerate() {
        add(&mut map, record(i as u32 + 1, "gpu0", *gpu));
        add(&mut map, record(i as u32 + 1, "package-0", *cpu));
    }
    map.into_values().next().expect("one configuration")
}

fn manifest() -> RunManifest {
    RunManifest {
        format_version: 1,
        joulebench_version: "test".into(),
        git_revision: None,
        suite: SuiteInfo {
            name: "s".into(),
            path: "s".into(),
            sha256: String::new(),
        },
        host: HostInfo::default(),
        probes: Vec::new(),
        missing_probes: Vec::new(),
        carbon_intensity_g_per_kwh: 400.0,
        pue: 1.2,
        sample_hz: 10.0,
        clock_epoch_utc: String::new(),
        started_utc: String::new(),
        ended_utc: None,
        status: RunStatus::Complete,
        status_reason: None,
        shard: None,
        merged: None,
        policy: None,
        datasets: None,
        carbon_series: None,
        load: None,
        models: None,
    }
}

/// Whether `a` is a figure within `tol` of `b` (an empty figure is not).
fn close(a: impl Into<Option<f64>>, b: f64, tol: f64) -> bool {
    a.into().is_some_and(|a| (a - b).abs() <= tol)
}

#[test]
fn n_two_by_hand() {
    let c = config(&[(100.0, 20.0), (120.0, 20.0)]);
    let report::ConfigSummary { row, flags } = report::summary::summarise(
        &c,
        &RequestFacts::default(),
        &manifest(),
        &report::ReportOptions::default(),
    );
    assert_eq!((row.repetitions, row.inferences), (2, 20));
    assert!(close(row.energy_j_mean, 13.0, 1e-12));
    assert!(close(row.energy_j_std, std::f64::consts::SQRT_2, 1e-12));
    assert!(close(row.energy_j_cv, 0.108_786, 1e-6));
    assert!(
        close(row.energy_j_ci95_low, 13.0 - 12.706_205, 1e-5),
        "{row:?}"
    );
    assert!(close(row.energy_j_ci95_high, 13.0 + 12.706_205, 1e-5));
    assert!(close(row.energy_wh_mean, 13.0 / 3600.0, 1e-12));
    assert!(close(row.kwh_per_1000, 0.003_611_111, 1e-9));
    assert!(close(row.gco2e_per_1000, 1.733_333, 1e-6));
    assert!(close(row.net_energy_j_mean.expect("net"), 12.0, 1e-12));
    assert!(close(row.idle_power_w.expect("idle"), 5.0, 1e-12));
    assert!(close(row.throughput_per_s.expect("throughput"), 5.0, 1e-12));
    assert_eq!(row.provenance.as_str(), "measured");
    // CV 10.9% is above the default 10% bound.
    assert!(
        flags
            .iter()
            .any(|f| matches!(f, report::flags::Flag::HighCv { .. })),
        "{flags:?}"
    );

    let domains = report::domains::rows(&c);
    let gpu = domains.iter().find(|d| d.domain == "gpu0").expect("gpu");
    assert!(close(gpu.energy_j_mean, 11.0, 1e-12));
    assert!(close(gpu.energy_j_std, std::f64::consts::SQRT_2, 1e-12));
    assert!(close(gpu.power_w_mean, 55.0, 1e-12));
    assert!(close(
        gpu.share_of_total.expect("share"),
        11.0 / 13.0,
        1e-12
    ));
    let cpu = domains
        .iter()
        .find(|d| d.domain == "package-0")
        .expect("cpu");
    assert_eq!((cpu.energy_j_mean, cpu.energy_j_std), (2.0, 0.0));
}

#[test]
fn zero_variance_and_single_repetition() {
    let c = config(&[(100.0, 20.0), (100.0, 20.0), (100.0, 20.0)]);
    let report::ConfigSummary { row, flags } = report::summary::summarise(
        &c,
        &RequestFacts::default(),
        &manifest(),
        &report::ReportOptions {
            bootstrap_resamples: Some(500),
            ..report::ReportOptions::default()
        },
    );
    assert_eq!(
        (row.energy_j_mean, row.energy_j_std, row.energy_j_cv),
        (Some(12.0), Some(0.0), Some(0.0))
    );
    assert_eq!(
        (row.energy_j_ci95_low, row.energy_j_ci95_high),
        (Some(12.0), Some(12.0))
    );
    assert_eq!(
        (row.energy_j_boot_low, row.energy_j_boot_high),
        (Some(12.0), Some(12.0))
    );
    assert!(flags.is_empty(), "{flags:?}");

    let one = config(&[(100.0, 20.0)]);
    let report::ConfigSummary { row, flags } = report::summary::summarise(
        &one,
        &RequestFacts::default(),
        &manifest(),
        &report::ReportOptions::default(),
    );
    assert!(
        row.energy_j_std.is_some_and(f64::is_nan) && row.energy_j_ci95_low.is_some_and(f64::is_nan)
    );
    assert!(
        flags
            .iter()
            .any(|f| matches!(f, report::flags::Flag::TooFewRepetitions { n: 1 }))
    );
}

#[test]
fn a_run_without_repetitions_gets_tables_with_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    manifest().save(dir.path()).expect("manifest");
    let rows = report::render(dir.path()).expect("render");
    assert!(rows.is_empty());
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).expect("summary");
    assert!(csv.starts_with("config,model,task,dataset,class,parameters,repetitions,"));
    assert_eq!(csv.lines().count(), 1);
}
