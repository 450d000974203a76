//! Load levels: steady-state windows, energy per request and token with known answers,
//! open-loop rates, apportioned prefill and decode, latency targets, the frontier plot,
//! `compare` per level, and no change for runs without load.

use joulebench_report as report;
use report::load::{LoadReport, LoadRow};
use report::synthetic::load::LoadSweep;

fn rendered(sweep: &LoadSweep, plots: bool) -> (tempfile::TempDir, report::Report) {
    let dir = tempfile::tempdir().expect("temp dir");
    sweep.write(dir.path()).expect("write sweep");
    let options = report::ReportOptions {
        plots,
        ..report::ReportOptions::default()
    };
    let report = report::render_with(dir.path(), &options).expect("render");
    (dir, report)
}

fn level<'a>(load: &'a LoadReport, model: &str, point: &str) -> &'a LoadRow {
    load.levels
        .iter()
        .find(|r| r.model == model && r.point.to_string() == point)
        .unwrap_or_else(|| panic!("{model} at {point}"))
}

#[test]
fn print_small_sweep() {
    let (dir, _report) = rendered(&LoadSweep::small(), false);
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("md");
    println!("{md}");
    let csv = std::fs::read_to_string(dir.path().join("load.csv")).expect("csv");
    println!("{csv}");
    let t = std::fs::read_to_string(dir.path().join("latency_targets.csv")).expect("csv");
    println!("{t}");
}
