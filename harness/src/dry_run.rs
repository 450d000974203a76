//! The plan printed by `joulebench run --dry-run`: what would be sent, how long, with which
//! probes, beside which study figures, and which dataset files a run still needs.

use crate::plan::Plan;
use crate::server::Readiness;
use crate::suite::{ServerAddress, Suite};
use probes::ProbeSet;
use records::load::LoadLevel;
use std::fmt::Write;

/// Assumed per-request latencies for the time estimate (s), fast to slow.
const LATENCIES_S: [f64; 3] = [0.01, 0.1, 1.0];

/// A human-readable plan.
pub fn describe(suite: &Suite, plan: &Plan, probes: &ProbeSet) -> String {
    let s = &suite.schedule;
    let mut out = String::new();
    let configs = plan.configurations.len();
    let measured = plan.measured_requests(s.inferences);
    let warmup = configs as u64 * u64::from(s.warmup);
    let _ = writeln!(out, "suite {} ({})", suite.name(), suite.path.display());
    let _ = writeln!(out, "\nconfigurations ({configs}):");
    for c in &plan.configurations {
        let generation = c
            .generation
            .map(|g| {
                let pinned = match (g.pin_output_length, c.wire.pins_length()) {
                    (true, true) => " (pinned)",
                    (true, false) => " (at most: this protocol cannot pin the length)",
                    (false, _) => " at most",
                };
                format!(
                    ", {} new token{}{pinned}{}",
                    g.max_tokens,
                    if g.max_tokens == 1 { "" } else { "s" },
                    if g.stream { ", streamed" } else { "" }
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<40} {:<16} {} via {} on server `{}`{generation}",
            c.id,
            c.class.as_str(),
            c.task,
            c.wire.kind().as_str(),
            c.server,
        );
        let _ = writeln!(out, "  {:<40} input: {:?}", "", c.template_text);
    }
    variants(&mut out, suite);
    servers(&mut out, suite, plan);
    let _ = writeln!(
        out,
        "\nschedule: {} repetitions × {} inferences ({}), {} warm-up, {} s idle baseline, {} s cool-down, interleaving seed {}, order {}{}",
        s.repetitions,
        s.inferences,
        offered(suite),
        s.warmup,
        s.idle_seconds,
        s.cooldown_seconds,
        s.seed,
        s.order.as_str(),
        match s.order {
            crate::suite::RunOrder::Grouped => " (one server at a time)",
            crate::suite::RunOrder::Interleaved => " (all servers up for the whole run)",
        }
    );
    let _ = writeln!(
        out,
        "requests: {measured} measured + {warmup} warm-up = {}",
        measured + warmup
    );
    let fixed_s = estimated_seconds(suite, plan, 0.0);
    let per_request: Vec<String> = LATENCIES_S
        .iter()
        .map(|l| {
            format!(
                "{} at {} ms/request",
                duration(estimated_seconds(suite, plan, *l)),
                l * 1000.0
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "time: {} of baselines and cool-downs, plus the requests: about {}",
        duration(fixed_s),
        per_request.join(", ")
    );
    let _ = writeln!(out, "\nprobes (sampling at {} Hz):", suite.probes.sample_hz);
    for d in &probes.descriptions {
        let names: Vec<&str> = d.domains.iter().map(|x| x.name.as_str()).collect();
        let _ = writeln!(
            out,
            "  use     {:<14} {} — {}",
            d.name,
            names.join(", "),
            d.method
        );
    }
    for m in &probes.missing {
        let _ = writeln!(out, "  missing {:<14} {}", m.probe, m.reason);
    }
    if probes.descriptions.is_empty() {
        let _ = writeln!(
            out,
            "  no energy source is available: {}",
            crate::suite::NO_SOURCE_FIX
        );
    }
    carbon(&mut out, suite);
    scoring(&mut out, suite, plan);
    study_figures(&mut out, suite, plan);
    missing_datasets(&mut out, suite);
    out
}

/// How requests are offered: one level, or the levels and power limits swept.
fn offered(suite: &Suite) -> String {
    let s = &suite.schedule;
    // A model has points exactly when the suite sweeps load levels or power limits.
    if suite.models.iter().all(|m| m.points.is_empty()) {
        return if s.concurrency == 1 {
            "sequential".into()
        } else {
            format!("{} in flight", s.concurrency)
        };
    }
    let mut levels: Vec<String> = Vec::new();
    for m in &suite.models {
        for p in &m.points {
            let text = p.load.to_string();
            if !levels.contains(&text) {
                levels.push(text);
            }
        }
    }
    let limits = if s.gpu_power_limits_w.is_empty() {
        String::new()
    } else {
        let w: Vec<String> = s
            .gpu_power_limits_w
            .iter()
            .map(|w| format!("{w} W"))
            .collect();
        format!(", each at GPU power limits {}", w.join(", "))
    };
    format!(
        "load levels {} (cN: N closed-loop clients, pR: Poisson arrivals at R/s), each its own configuration{limits}",
        levels.join(", ")
    )
}

/// The estimated length of a run of `plan` (s): its idle baselines and cool-downs, plus
/// every measured and warm-up request at `latency_s` each: N at a time in a closed loop,
/// and at the arrival rate (plus one request's drain per batch) in an open loop.
pub fn estimated_seconds(suite: &Suite, plan: &Plan, latency_s: f64) -> f64 {
    let s = &suite.schedule;
    let configs = plan.configurations.len() as f64;
    let requests: f64 = plan
        .configurations
        .iter()
        .map(|c| {
            let batches = f64::from(s.repetitions) + f64::from(u32::from(s.warmup > 0));
            let count = f64::from(s.repetitions) * f64::from(s.inferences) + f64::from(s.warmup);
            match c.load(s.concurrency) {
                LoadLevel::Closed(n) => count * latency_s / f64::from(n.max(1)),
                LoadLevel::Open(rate) => count / rate + batches * latency_s,
            }
        })
        .sum();
    configs * s.idle_seconds
        + (configs * f64::from(s.repetitions) - 1.0).max(0.0) * s.cooldown_seconds
        + requests
}

/// The grid intensity: the constant, or the hourly series with its zone and coverage.
fn carbon(out: &mut String, suite: &Suite) {
    let c = &suite.carbon;
    let constant = c.constant_intensity();
    let Some(series) = &suite.carbon_series else {
        let _ = writeln!(
            out,
            "carbon: {} gCO2eq/kWh, PUE {}",
            constant.unwrap_or(f64::NAN),
            c.pue
        );
        return;
    };
    let files: Vec<String> = series
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let _ = writeln!(
        out,
        "carbon: hourly series {} (PUE {})",
        files.join(", "),
        c.pue
    );
    for (zone, z) in &series.series.zones {
        let _ = writeln!(
            out,
            "  {} {zone:<16} {} hours, {} to {} UTC",
            if *zone == series.zone {
                "run in"
            } else {
                "what-if"
            },
            z.values.len(),
            records::carbon::format_hour(z.start),
            records::carbon::format_hour(z.end())
        );
    }
    let _ = writeln!(
        out,
        "  a repetition outside the series: {}",
        match constant {
            Some(v) => format!("{v} gCO2eq/kWh (intensity_g_per_kwh), flagged"),
            None => "no intensity (its gCO2eq is not computed), flagged".to_string(),
        }
    );
}

/// How each dataset of the plan has its answers scored, or that it has none.
fn scoring(out: &mut String, suite: &Suite, plan: &Plan) {
    let mut seen: Vec<usize> = Vec::new();
    for c in &plan.configurations {
        if !seen.contains(&c.dataset_index) {
            seen.push(c.dataset_index);
        }
    }
    let _ = writeln!(
        out,
        "
answers scored:"
    );
    for di in seen {
        let d = &suite.datasets[di];
        let line = match (&d.expected, &d.scorer) {
            (Some(field), Some(scorer)) => {
                let metrics: Vec<&str> = scorer.metrics().iter().map(|m| m.as_str()).collect();
                format!(
                    "{} against `{field}` ({})",
                    scorer.name(),
                    metrics.join(", ")
                )
            }
            _ => "not scored: no `expected` in its `fields` (flagged quality-unscored)".to_string(),
        };
        let _ = writeln!(out, "  {:<24} {line}", d.name);
    }
}

/// Each server of the plan: where it is, and the URLs polled until it is ready.
fn servers(out: &mut String, suite: &Suite, plan: &Plan) {
    let mut keys: Vec<&str> = Vec::new();
    for c in &plan.configurations {
        if !keys.contains(&c.server.as_str()) {
            keys.push(&c.server);
        }
    }
    let _ = writeln!(out, "\nservers ({}):", keys.len());
    for key in keys {
        let Some(spec) = suite.servers.get(key) else {
            continue;
        };
        let (base, at) = match &spec.address {
            ServerAddress::Url(url) => (url.trim_end_matches('/').to_string(), String::new()),
            ServerAddress::Launch(argv) => (
                "http://127.0.0.1:{port}".to_string(),
                format!(" (launched: {})", argv.join(" ")),
            ),
        };
        let readiness = Readiness::of(plan, spec, key);
        let whose = match readiness {
            Readiness::Url(_) => "its ready_url",
            Readiness::Protocol(_) => "its protocol's",
        };
        let _ = writeln!(out, "  `{key}` at {base}{at}");
        let probes: Vec<String> = readiness
            .probes(&base, str::to_string)
            .iter()
            .map(|p| p.describe())
            .collect();
        let _ = writeln!(
            out,
            "    ready when {} ({whose}, polled for up to {} s)",
            probes.join(", then "),
            spec.ready_timeout_seconds
        );
    }
}

/// The study figure each configuration will be shown beside, when the suite has a table.
fn study_figures(out: &mut String, suite: &Suite, plan: &Plan) {
    let Some(reference) = &suite.reference else {
        return;
    };
    let _ = writeln!(
        out,
        "\nstudy figures ({}, {}), kWh per 1,000 inferences:",
        reference.label,
        reference.path.display()
    );
    for c in &plan.configurations {
        let Some(model) = &suite.models[c.model_index].reference else {
            continue;
        };
        let line = match suite.study_figure(c.model_index, c.dataset_index) {
            Some(f) => format!(
                "{} on {}: {} ({} runs, {})",
                f.model,
                f.dataset_label(),
                records::number::sig(f.mean, 3),
                f.runs,
                f.provenance
            ),
            None => format!(
                "none: the table has no figure of {} on {}",
                model,
                suite.datasets[c.dataset_index]
                    .reference
                    .as_ref()
                    .unwrap_or(&c.task)
            ),
        };
        let _ = writeln!(out, "  {:<40} {line}", c.id);
    }
}

/// Dataset files that are not there: the plan needs none, a run needs them all.
fn missing_datasets(out: &mut String, suite: &Suite) {
    if suite.missing_datasets.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nmissing dataset files ({}): `joulebench run` refuses to start until they are there",
        suite.missing_datasets.len()
    );
    for m in &suite.missing_datasets {
        let path = std::path::absolute(&m.path).unwrap_or_else(|_| m.path.clone());
        let _ = writeln!(out, "  {:<24} {}", m.name, path.display());
    }
    let study = if suite.reference.is_some() {
        " (the study's datasets: docs/reproducing-php.md)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "put the files there before `joulebench run` (paths are relative to the suite file's \
         folder){study}"
    );
}

/// Seconds as `1h 02m 03s`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, sec) => format!("{h}h {m:02}m {sec:02}s"),
    }
}

/// The suite's variants, each with its baseline and techniques (nothing when none).
fn variants(out: &mut String, suite: &Suite) {
    let variants: Vec<_> = suite
        .models
        .iter()
        .filter_map(|m| m.variant_of.as_ref().map(|b| (m, b)))
        .collect();
    if variants.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nvariants ({}):", variants.len());
    for (m, baseline) in variants {
        let _ = writeln!(
            out,
            "  {} is a variant of baseline {} ({})",
            m.name,
            baseline,
            records::models::Technique::join(&m.techniques)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(5.4), "5s");
        assert_eq!(duration(125.0), "2m 05s");
        assert_eq!(duration(3723.0), "1h 02m 03s");
    }
}
