//! Plots render with the embedded font only, and say what they show.

use joulebench_report as report;
use report::synthetic::Synthetic;

#[test]
fn plots_render_and_name_every_model_and_axis() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut run = Synthetic::small();
    run.cpu_estimated = true;
    run.write(dir.path()).expect("write run");
    let report =
        report::render_with(dir.path(), &report::ReportOptions::default()).expect("render");
    let plots = dir.path().join("plots");
    let expected_axes = [
        (
            "energy_per_1000",
            vec!["kWh per 1,000 inferences (log scale)"],
        ),
        (
            "size_vs_energy",
            vec![
                "parameters (log scale)",
                "kWh per 1,000 inferences (log scale)",
            ],
        ),
        (
            "latency_vs_energy",
            vec![
                "median latency (ms, log scale)",
                "energy per inference (J, log scale)",
            ],
        ),
        (
            "request_energy",
            vec!["energy per request (J, log scale), integrated from sampled power"],
        ),
        (
            "timeline_flan-t5-base_sst2",
            vec![
                "time since the repetition started (s)",
                "power (W)",
                "request start",
            ],
        ),
    ];
    for (stem, axes) in expected_axes {
        let png = std::fs::read(plots.join(format!("{stem}.png"))).expect(stem);
        assert!(
            png.len() > 5000 && png.starts_with(b"\x89PNG"),
            "{stem}.png"
        );
        let svg = std::fs::read_to_string(plots.join(format!("{stem}.svg"))).expect(stem);
        assert!(svg.starts_with("<svg"), "{stem}.svg");
        for axis in axes {
            assert!(svg.contains(axis), "{stem}.svg lacks {axis:?}");
        }
        assert!(
            svg.contains("[partly estimated]"),
            "{stem}.svg must say the CPU is estimated"
        );
    }
    let central = std::fs::read_to_string(plots.join("energy_per_1000.svg")).expect("svg");
    for c in &run.configs {
        assert!(central.contains(&c.model), "central plot lacks {}", c.model);
        assert!(central.contains(&c.task), "central plot lacks {}", c.task);
    }
    assert!(central.contains("task-specific") && central.contains("general-purpose"));
    assert_eq!(report.plots.len(), 14, "{:?}", report.plots);
}

/// Every `<text>` of an SVG whose text is a tick label (a number, perhaps with a k/M/B/T
/// suffix): (x, y, text).
fn tick_labels(svg: &str) -> Vec<(f64, f64, String)> {
    let attr = |tag: &str, name: &str| -> Option<f64> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = start + tag[start..].find('"')?;
        tag[start..end].parse().ok()
    };
    let mut out = Vec::new();
    for part in svg.split("<text").skip(1) {
        let Some(close) = part.find('>') else {
            continue;
        };
        let tag = &part[..close];
        let Some(end) = part.find("</text>") else {
            continue;
        };
        let label = part[close + 1..end].trim().to_string();
        let number = label.trim_end_matches(['k', 'M', 'B', 'T']);
        if number.parse::<f64>().is_err() {
            continue;
        }
        if let (Some(x), Some(y)) = (attr(tag, "x"), attr(tag, "y")) {
            out.push((x, y, label));
        }
    }
    out
}

/// The closest two labels of one axis: labels sharing `y` (an x axis) or `x` (a y axis),
/// as (distance px, the two labels).
fn closest(labels: &[(f64, f64, String)], horizontal: bool) -> Option<(f64, String, String)> {
    let mut groups: std::collections::BTreeMap<i64, Vec<(f64, &str)>> = Default::default();
    for (x, y, t) in labels {
        let (key, pos) = if horizontal { (*y, *x) } else { (*x, *y) };
        groups.entry(key.round() as i64).or_default().push((pos, t));
    }
    let mut best: Option<(f64, String, String)> = None;
    for mut g in groups.into_values().filter(|g| g.len() >= 2) {
        g.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in g.windows(2) {
            let d = w[1].0 - w[0].0;
            if best.as_ref().is_none_or(|b| d < b.0) {
                best = Some((d, w[0].1.to_string(), w[1].1.to_string()));
            }
        }
    }
    best
}

#[test]
fn log_axis_labels_keep_apart_when_the_range_spans_one_decade() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut run = Synthetic::small();
    // Every configuration within one decade of kWh per 1,000 (0.01 to 0.1).
    for c in &mut run.configs {
        c.request_ticks = 40;
    }
    run.write(dir.path()).expect("write run");
    report::render_with(dir.path(), &report::ReportOptions::default()).expect("render");
    let plots = dir.path().join("plots");
    let mut crowded = Vec::new();
    for stem in [
        "energy_per_1000",
        "size_vs_energy",
        "latency_vs_energy",
        "request_energy",
    ] {
        let svg = std::fs::read_to_string(plots.join(format!("{stem}.svg"))).expect(stem);
        let labels = tick_labels(&svg);
        match closest(&labels, true) {
            None => crowded.push(format!("{stem}: fewer than 2 x labels: {labels:?}")),
            Some((d, a, b)) if d < 48.0 => {
                crowded.push(format!("{stem}: x labels {a} and {b} are {d} px apart"));
            }
            Some(_) => {}
        }
        if let Some((d, a, b)) = closest(&labels, false).filter(|c| c.0 < 18.0) {
            crowded.push(format!("{stem}: y labels {a} and {b} are {d} px apart"));
        }
    }
    assert!(crowded.is_empty(), "{crowded:#?}");
    let central = std::fs::read_to_string(plots.join("energy_per_1000.svg")).expect("svg");
    let labels: Vec<String> = tick_labels(&central).into_iter().map(|l| l.2).collect();
    for decade in ["0.010", "0.10"] {
        assert!(labels.iter().any(|l| l == decade), "{decade} in {labels:?}");
    }
}

#[test]
fn a_ci_below_zero_on_a_log_axis_runs_to_the_edge_and_is_noted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut run = Synthetic::small();
    // Two noisy repetitions: a t interval (t = 12.7) wider than the mean.
    run.repetitions = 2;
    run.noise = 0.4;
    run.write(dir.path()).expect("write run");
    let report =
        report::render_with(dir.path(), &report::ReportOptions::default()).expect("render");
    let below = report::aggregate::pool(&report.configs)
        .iter()
        .filter(|p| p.low <= 0.0)
        .count();
    assert!(below >= 1, "the data must have a CI below 0");
    let note = format!("CI lower bound below the axis for {below} configuration(s)");
    let svg = std::fs::read_to_string(dir.path().join("plots/energy_per_1000.svg")).expect("svg");
    assert!(svg.contains(&note), "the plot says {note:?}");
    // One arrow per such bar, and one in the legend.
    assert_eq!(svg.matches("<polygon").count(), below + 1, "{svg}");
    let notes = report::plot::notes(&report);
    assert!(notes.iter().any(|n| n.contains(&note)), "{notes:?}");
}
