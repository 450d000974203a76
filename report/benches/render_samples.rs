//! `cargo bench -p joulebench-report --bench render_samples [-- SAMPLES [ROUNDS]]`: writes a
//! synthetic run with about SAMPLES rows in samples.csv (default 10 million; 3
//! configurations × 10 repetitions × 1,000 requests, two domains sampled at 100 Hz), then
//! times `render` on it against its floor, a plain line count (`wc -l`) of the same
//! samples.csv, in alternating rounds (default 3) after one untimed count that brings the
//! file into the page cache. Prints each round, the medians, their ratio and the peak
//! resident memory (VmHWM) before and after rendering, to show the samples are streamed.

use joulebench_report as report;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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

/// Seconds `wc -l FILE` takes, and the lines it counted.
fn wc_l(file: &Path) -> Result<(Duration, u64), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let out = Command::new("wc").arg("-l").arg(file).output()?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(format!("wc -l failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("wc -l printed no count")?;
    Ok((took, lines))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; the numbers are the sample count and the rounds.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<f64>().ok().map(|v| v as u64))
        .collect();
    let target = numbers.first().copied().unwrap_or(10_000_000);
    let rounds = numbers.get(1).copied().unwrap_or(3).max(1);
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
    let samples = dir.path().join(records::files::SAMPLES_CSV);
    let size = std::fs::metadata(&samples)?.len();
    println!(
        "samples.csv: {} rows, {:.0} MiB (written in {:.1} s); requests: {}",
        run.sample_count(),
        size as f64 / (1 << 20) as f64,
        written.as_secs_f64(),
        u64::from(run.requests) * u64::from(run.repetitions) * run.configs.len() as u64,
    );
    let (_, lines) = wc_l(&samples)?;
    let before = vm_hwm_kib();
    let (mut floor, mut render) = (Vec::new(), Vec::new());
    let mut plots = 0;
    for round in 1..=rounds {
        let (took, counted) = wc_l(&samples)?;
        assert_eq!(counted, lines, "the file changed");
        floor.push(took.as_secs_f64());
        let t = Instant::now();
        let report = report::render_with(dir.path(), &report::ReportOptions::default())?;
        render.push(t.elapsed().as_secs_f64());
        plots = report.plots.len();
        println!(
            "round {round}: wc -l {:.2} s, render {:.2} s ({} configurations, {plots} plots): {:.2}x",
            took.as_secs_f64(),
            render[render.len() - 1],
            report.summary.len(),
            render[render.len() - 1] / took.as_secs_f64(),
        );
    }
    let after = vm_hwm_kib();
    let (floor, render) = (median(floor), median(render));
    println!(
        "median: wc -l {floor:.2} s, render {render:.2} s with {plots} plots: {:.2}x the floor; {:.0} ns per row; peak RSS {:.1} MiB before rendering, {:.1} MiB after",
        render / floor,
        render * 1e9 / run.sample_count() as f64,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
    );
    Ok(())
}
