//! A synthetic run rendered end to end: the figures match the energy put in.

use joulebench_report as report;

use records::files::{
    PLOTS_DIR, REQUEST_ENERGY_CSV, SUMMARY_CSV, SUMMARY_JSON, SUMMARY_MD, SUMMARY_TEX,
};
use report::synthetic::Synthetic;

#[test]
fn synthetic_run_reports_the_energy_put_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut run = Synthetic::small();
    run.noise = 0.0;
    run.context_every_ticks = 10;
    run.write(dir.path()).expect("write run");
    let report =
        report::render_with(dir.path(), &report::ReportOptions::default()).expect("render");
    assert_eq!(report.summary.len(), 3);
    for (i, c) in run.configs.iter().enumerate() {
        let row = report
            .rows()
            .find(|r| r.config == run.id(i))
            .expect("row per configuration");
        let seconds = c.request_ticks as f64 * run.tick_ns as f64 * 1e-9;
        let expected = (run.gpu_idle_w + c.gpu_active_w + run.cpu_w) * seconds;
        assert!(
            (row.energy_j_mean.expect("a figure") - expected).abs() < 1e-9 * expected,
            "{row:?}"
        );
        assert_eq!(row.energy_j_std, Some(0.0));
        let net = c.gpu_active_w * seconds;
        assert!((row.net_energy_j_mean.expect("baseline") - net).abs() < 1e-9 * net);
        // Per-request energy integrated from samples equals the window's share.
        let p50 = row.request_energy_j_p50.expect("per-request energy");
        assert!(
            (p50 - expected).abs() < 1e-4 * expected,
            "{p50} vs {expected}"
        );
        assert!((row.latency_ms_p50.expect("latency") - seconds * 1e3).abs() < 1e-6);
        assert_eq!(row.provenance.as_str(), "measured");
        let gco2e = row.gco2e_per_1000.expect("gCO2eq");
        assert!((gco2e - expected * 1000.0 / 3.6e6 * 1.2 * 400.0).abs() < 1e-9);
    }
    for f in [
        SUMMARY_CSV,
        SUMMARY_MD,
        SUMMARY_TEX,
        SUMMARY_JSON,
        REQUEST_ENERGY_CSV,
    ] {
        let len = std::fs::metadata(dir.path().join(f)).expect(f).len();
        assert!(len > 100, "{f} is {len} bytes");
    }
    assert!(
        dir.path()
            .join(PLOTS_DIR)
            .join("energy_per_1000.svg")
            .exists()
    );
    assert!(report.plots.len() >= 10, "{:?}", report.plots);
}
