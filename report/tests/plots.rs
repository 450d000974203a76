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
