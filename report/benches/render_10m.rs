//! `cargo bench -p joulebench-report --bench render_10m [-- SAMPLES]`: writes a synthetic
//! run with about 10 million rows in samples.csv (3 configurations × 10 repetitions ×
//! 1,000 requests, two domains sampled at 100 Hz), then times `render` on it and reports
//! the peak resident memory (VmHWM) before and after, to show the samples are streamed.

use joulebench_report as report;
use std::time::Instant;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; any number is the wanted sample count.
    let target: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let mut run = report::synthetic::Synthetic::small();
    run.requests = 1000;
    run.repetitions = 10;
    let base: u64 = run.configs.iter().map(|c| c.request_ticks).sum();
    let per_tick = 2 * u64::from(run.repetitions) * u64::from(run.requests);
    let scale = (target as f64 / (per_tick * base) as f64).max(0.01);
    for c in &mut run.configs {
        c.request_ticks = ((c.request_ticks as f64 * scale).round() as u64).max(1);
    }
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    run.write(dir.path())?;
    let written = t.elapsed();
    let size = std::fs::metadata(dir.path().join(records::files::SAMPLES_CSV))?.len();
    let before = vm_hwm_kib();
    let t = Instant::now();
    let report = report::render_with(dir.path(), &report::ReportOptions::default())?;
    let rendered = t.elapsed();
    let after = vm_hwm_kib();
    let t = Instant::now();
    report::render_with(
        dir.path(),
        &report::ReportOptions {
            plots: false,
            ..report::ReportOptions::default()
        },
    )?;
    let tables_only = t.elapsed();
    println!(
        "samples.csv: {} rows, {:.0} MiB (written in {:.1} s); requests: {}",
        run.sample_count(),
        size as f64 / (1 << 20) as f64,
        written.as_secs_f64(),
        u64::from(run.requests) * u64::from(run.repetitions) * run.configs.len() as u64,
    );
    println!(
        "render: {:.2} s ({:.2} s without plots), {} configurations, {} plot files; peak RSS {:.1} MiB before, {:.1} MiB after",
        rendered.as_secs_f64(),
        tables_only.as_secs_f64(),
        report.summary.len(),
        report.plots.len(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
    );
    Ok(())
}
