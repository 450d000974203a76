//! Checks the repetitions-needed figures of a run by simulation: for each configuration
//! and target (a 95% CI half-width of ±1%, ±2%, ±5% of the mean), draws repetitions at
//! the count the report gives, at half of it and at twice it, from the observed
//! per-repetition energies (with replacement) and from a normal with their mean and
//! standard deviation, and prints how often the CI met the target and how often it held
//! the observed mean.
//!
//! `cargo run --release -p joulebench-report --example power_check -- DIR [TRIALS]`

use joulebench_report as report;
use report::stats::Describe;
use report::stats::power::{Draw, RepetitionsNeeded, simulate};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: power_check DIR [TRIALS]");
        return ExitCode::from(2);
    };
    let trials: usize = match args.next().map(|t| t.parse()) {
        None => 10_000,
        Some(Ok(t)) if t > 0 => t,
        Some(_) => {
            eprintln!("TRIALS must be a positive integer");
            return ExitCode::from(2);
        }
    };
    let run = match report::energy::EnergyRun::load(std::path::Path::new(&dir), None) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("{dir}: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "| configuration | reps | CV | target | n needed | drawn from | met at n/2 | met at n | met at 2n | CI held mean at n |"
    );
    println!("|---|--:|--:|--:|--:|---|--:|--:|--:|--:|");
    for c in &run.configs {
        let values: Vec<f64> = c.usable().map(|r| r.energy_per_inference_j()).collect();
        let Some(needed) = Describe::of(&values)
            .as_ref()
            .and_then(RepetitionsNeeded::of)
        else {
            println!(
                "| {} | {} | – | – | fewer than 2 repetitions | | | | | |",
                c.info.id,
                values.len()
            );
            continue;
        };
        for target in &needed.ci_half_width {
            let Some(n) = target.repetitions.map(|n| n as usize) else {
                continue;
            };
            for (draw, name) in [
                (Draw::Observed, "observed values"),
                (Draw::Normal, "normal fit"),
            ] {
                let at = |k: usize| simulate(&values, k.max(2), target.share, trials, 2023, draw);
                let (half, full, double) = (at(n / 2), at(n), at(n * 2));
                let pct = |s: Option<report::stats::power::Simulated>| {
                    s.map_or_else(|| "–".into(), |s| format!("{:.1}%", s.met_target * 100.0))
                };
                println!(
                    "| {} | {} | {:.1}% | ±{:.0}% | {n} | {name} | {} | {} | {} | {} |",
                    c.info.id,
                    needed.observed,
                    needed.cv * 100.0,
                    target.share * 100.0,
                    pct(half),
                    pct(full),
                    pct(double),
                    full.map_or_else(|| "–".into(), |s| format!("{:.1}%", s.covered_mean * 100.0)),
                );
            }
        }
    }
    ExitCode::SUCCESS
}
