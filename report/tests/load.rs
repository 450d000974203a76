//! Load levels: steady-state windows, energy per request and token with known answers,
//! open-loop rates, apportioned prefill and decode, latency targets, the frontier plot,
//! `compare` per level, and no change for runs without load.

use joulebench_report as report;
use report::compare::{CompareOptions, Verdict, compare};
use report::load::{LoadReport, LoadRow};
use report::synthetic::Synthetic;
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

fn mean(row: &LoadRow, f: impl Fn(&LoadRow) -> &report::load::Figure) -> f64 {
    f(row)
        .mean
        .unwrap_or_else(|| panic!("{}: {}", row.config, f(row).why))
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-6 * b.abs().max(1.0),
        "{what}: {a} vs {b}"
    );
}

/// The small sweep: tiny-gen draws 80 W GPU + 20 W CPU while serving (idle 30 + 20),
/// 20 ticks of 10 ms per request alone and 2 more per other client in flight; streamed,
/// first token after 4 ticks, 17 tokens; 40 requests per repetition.
const ACTIVE_W: f64 = 100.0;
const IDLE_W: f64 = 50.0;
const TICK_S: f64 = 0.01;

#[test]
fn steady_state_energy_per_request_and_token_have_their_known_answers() {
    let (_dir, report) = rendered(&LoadSweep::small(), false);
    let load = report.load.as_ref().expect("load levels");
    // c1: the window is the whole repetition (first start to last end), 40 × 0.2 s.
    let c1 = level(load, "tiny-gen", "c1");
    assert_eq!((c1.repetitions, c1.steady_repetitions), (3, 3));
    close(mean(c1, |r| &r.steady_duration_s), 8.0, "c1 window");
    close(
        mean(c1, |r| &r.energy_j_per_request),
        ACTIVE_W * 20.0 * TICK_S,
        "c1 J/request",
    );
    close(
        mean(c1, |r| &r.net_energy_j_per_request),
        (ACTIVE_W - IDLE_W) * 20.0 * TICK_S,
        "c1 net J/request",
    );
    close(
        mean(c1, |r| &r.energy_j_per_token),
        ACTIVE_W * 8.0 / (40.0 * 17.0),
        "c1 J/token",
    );
    close(
        mean(c1, |r| &r.energy_j_per_response),
        20.0,
        "c1 J/response (per token × 17)",
    );
    close(mean(c1, |r| &r.throughput_rps), 5.0, "c1 req/s");
    close(mean(c1, |r| &r.requests_served), 40.0, "c1 served");
    // c4: each request takes 26 ticks; clients start 1 tick apart, 10 requests each. All
    // four are in flight from client 3's first start (tick 3) until client 0's last answer
    // (tick 260) begins the drain: 257 ticks at 100 W. Ending inside (3, 260]: client 0's
    // 10 answers and 9 of each other client's. Served: four clients busy throughout, each
    // request counted by its share inside, 4 × 257 / 26 request-equivalents.
    let c4 = level(load, "tiny-gen", "c4");
    close(mean(c4, |r| &r.steady_duration_s), 2.57, "c4 window");
    close(mean(c4, |r| &r.completions), 37.0, "c4 completions");
    close(
        mean(c4, |r| &r.requests_served),
        4.0 * 257.0 / 26.0,
        "c4 served",
    );
    // Exactly four sharing the power: 100 W × 0.26 s / 4 (not 257 / 37 = 6.95 J, which
    // counts the work of requests answered after the window without their answers).
    close(
        mean(c4, |r| &r.energy_j_per_request),
        ACTIVE_W * 0.26 / 4.0,
        "c4 J/request",
    );
    close(
        mean(c4, |r| &r.net_energy_j_per_request),
        (ACTIVE_W - IDLE_W) * 0.26 / 4.0,
        "c4 net J/request",
    );
    close(mean(c4, |r| &r.throughput_rps), 4.0 / 0.26, "c4 req/s");
    close(mean(c4, |r| &r.e2e_p90_ms), 260.0, "c4 e2e p90");
    // Every repetition is the same: a zero-width CI, not an empty one.
    let e = &c4.energy_j_per_request;
    assert_eq!(e.n, 3);
    close(
        e.ci95_low.expect("ci"),
        e.mean.expect("mean"),
        "zero-width CI",
    );
    assert_eq!(c4.provenance, records::labels::FigureLabel::Measured);
}

#[test]
fn open_loop_offered_against_achieved_rate_and_queueing_delay() {
    let (dir, report) = rendered(&LoadSweep::small(), false);
    let load = report.load.as_ref().expect("load levels");
    // p5: an arrival every 20 ticks, sent 1 tick late, served at once (4 slots of 0.2 s):
    // 40 arrivals 0.2 s apart, 40 answers 0.2 s apart, 39 gaps each.
    let p5 = level(load, "tiny-gen", "p5");
    close(mean(p5, |r| &r.offered_rps), 5.0, "p5 offered");
    close(mean(p5, |r| &r.achieved_rps), 5.0, "p5 achieved");
    close(mean(p5, |r| &r.client_lag_p50_ms), 10.0, "client lag p50");
    close(mean(p5, |r| &r.client_lag_p99_ms), 10.0, "client lag p99");
    close(mean(p5, |r| &r.queueing_delay_ms), 0.0, "no queue at p5");
    // p50: an arrival every 2 ticks, past the 20/s the 4 slots serve. Request j ends at
    // tick 21 + 2 (j mod 4) + 20 ⌊j/4⌋: the first (j = 0) at 21, the last (j = 39) at 207,
    // 39 gaps over 186 ticks.
    let p50 = level(load, "tiny-gen", "p50");
    close(mean(p50, |r| &r.offered_rps), 50.0, "p50 offered");
    close(
        mean(p50, |r| &r.achieved_rps),
        39.0 / (186.0 * TICK_S),
        "p50 achieved",
    );
    // Request j waits 12 ⌊j/4⌋ ticks. The steady state is the arrivals from position
    // ⌈40 × 0.1⌉ = 4 on: ⌊j/4⌋ = 1 … 9, 60 ticks on average over the unloaded 200 ms (the
    // four ramp-up arrivals, which waited for nothing, left out).
    close(
        mean(p50, |r| &r.queueing_delay_ms),
        600.0,
        "p50 queueing delay",
    );
    close(mean(p50, |r| &r.e2e_mean_ms), 800.0, "p50 e2e mean");
    // Past capacity there is no steady state, and summary.md says what that does to it.
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(
        md.contains("- `p50`: past capacity (achieved 21.0 of 50.0 req/s offered)"),
        "{md}"
    );
    let tiny = md
        .split("### tiny-gen on prompts")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .expect("tiny-gen's table");
    assert!(tiny.contains("- `p50`: past capacity") && !tiny.contains("- `p20`: past capacity"));
    assert!(mean(p50, |r| &r.ttft_p90_ms) > mean(p5, |r| &r.ttft_p90_ms));
    // Closed loops have no schedule, and say so.
    let c4 = level(load, "tiny-gen", "c4");
    assert!(c4.offered_rps.mean.is_none());
    assert!(
        c4.offered_rps.why.contains("closed loop"),
        "{}",
        c4.offered_rps.why
    );
    close(mean(c4, |r| &r.queueing_delay_ms), 60.0, "c4 over c1");
}

#[test]
fn latency_is_that_of_the_steady_state_requests() {
    // Closed loop with a fast ramp-up: at c4 the first requests of clients 0–2, sent
    // before all four are in flight, take 5 ticks; every other takes 26. Window: tick 3
    // (client 3's first start) to 239 (client 0's last answer).
    let mut sweep = LoadSweep::small();
    sweep.models.truncate(1);
    sweep.ramp_ticks = Some(5);
    sweep.levels = ["c1", "c4", "p20", "p50"]
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    sweep.targets = vec![records::load::LatencyTarget {
        metric: records::load::LatencyMetric::E2eP50,
        ms: 770.0,
    }];
    let (_dir, report) = rendered(&sweep, false);
    let load = report.load.as_ref().expect("load levels");
    let c4 = level(load, "tiny-gen", "c4");
    close(mean(c4, |r| &r.steady_duration_s), 2.36, "c4 window");
    // Over the whole repetition the three 50 ms ramp requests would give
    // (3 × 50 + 37 × 260) / 40 = 244.25 ms; the steady ones all take 260 ms.
    close(mean(c4, |r| &r.e2e_mean_ms), 260.0, "c4 steady e2e mean");
    close(mean(c4, |r| &r.e2e_p50_ms), 260.0, "c4 steady e2e p50");
    close(
        mean(c4, |r| &r.itl_p50_ms),
        220.0 / 16.0,
        "c4 steady ITL p50",
    );
    close(mean(c4, |r| &r.queueing_delay_ms), 60.0, "c4 over c1");
    // Open loop past capacity: the first arrivals wait for nothing, later ones ever
    // longer; the ramp-up (the first 4 of 40) left out moves the e2e p50 from 740 to 800 ms.
    let p50 = level(load, "tiny-gen", "p50");
    close(mean(p50, |r| &r.e2e_p50_ms), 800.0, "p50 steady e2e p50");
    // So p50 (the cheapest level, 3.3 J) misses e2e p50 ≤ 770 ms, and p20 (5 J) is picked.
    let t = &load.latency_targets[0];
    assert_eq!(t.point, "p20", "{t:?}");
    close(
        t.energy_j_per_request.expect("energy"),
        5.0,
        "p20 J/request",
    );
}

#[test]
fn prefill_and_decode_are_apportioned_among_the_requests_in_flight() {
    let (dir, report) = rendered(&LoadSweep::small(), false);
    let load = report.load.as_ref().expect("load levels");
    // c1: alone, the integral over the request: 100 W × 40 ms, then 100 W × 160 ms / 16.
    let c1 = level(load, "tiny-gen", "c1");
    close(mean(c1, |r| &r.prefill_j_apportioned), 4.0, "c1 prefill");
    close(
        mean(c1, |r| &r.decode_j_per_token_apportioned),
        1.0,
        "c1 decode/token",
    );
    // c4: four in flight over every request wholly inside the window.
    let c4 = level(load, "tiny-gen", "c4");
    close(mean(c4, |r| &r.prefill_j_apportioned), 1.0, "c4 prefill");
    close(
        mean(c4, |r| &r.decode_j_per_token_apportioned),
        ACTIVE_W * 0.22 / 4.0 / 16.0,
        "c4 decode/token",
    );
    // Labelled apportioned in every output.
    let csv = std::fs::read_to_string(dir.path().join("load.csv")).expect("load.csv");
    let header = csv.lines().next().expect("header");
    assert!(
        header.contains("prefill_j_apportioned,")
            && header.contains("decode_j_per_token_apportioned,")
    );
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(
        md.contains("prefill J (apportioned)") && md.contains("decode J / token (apportioned)")
    );
    let json = std::fs::read_to_string(dir.path().join("summary.json")).expect("summary.json");
    assert!(json.contains("\"prefill_j_apportioned\""));
}

#[test]
fn unknown_figures_are_empty_with_their_reason() {
    let mut sweep = LoadSweep::small();
    sweep.models.truncate(1);
    sweep.ttft_ticks = None;
    sweep.levels = ["c4", "c64", "p50"]
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    let (dir, report) = rendered(&sweep, false);
    let load = report.load.as_ref().expect("load levels");
    let c4 = level(load, "tiny-gen", "c4");
    assert!(c4.prefill_j_apportioned.mean.is_none());
    assert!(c4.prefill_j_apportioned.why.contains("not streamed"));
    assert!(c4.ttft_p90_ms.why.contains("not streamed"));
    let p50 = level(load, "tiny-gen", "p50");
    assert!(p50.queueing_delay_ms.mean.is_none());
    assert!(
        p50.queueing_delay_ms
            .why
            .contains("no c1 level of tiny-gen@prompts")
    );
    // 64 clients cannot all be in flight with 40 requests.
    let c64 = level(load, "tiny-gen", "c64");
    assert_eq!(c64.steady_repetitions, 0);
    assert!(c64.energy_j_per_request.mean.is_none());
    assert!(
        c64.energy_j_per_request.why.contains("need at least 65"),
        "{}",
        c64.energy_j_per_request.why
    );
    // load.csv: the cells are empty (not 0, not NaN) and the last column says why.
    let mut reader = csv::Reader::from_path(dir.path().join("load.csv")).expect("load.csv");
    let header = reader.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let row = reader
        .records()
        .map(|r| r.expect("row"))
        .find(|r| &r[col("point")] == "c64")
        .expect("c64 row");
    assert_eq!(&row[col("energy_j_per_request")], "");
    assert_eq!(&row[col("energy_j_per_request_ci95_low")], "");
    assert!(row[col("empty_because")].contains("energy_j_per_request: no steady-state window"));
    assert!(!row.iter().any(|c| c.eq_ignore_ascii_case("nan")));
}

#[test]
fn latency_targets_pick_the_lowest_energy_level_meeting_them() {
    let (dir, report) = rendered(&LoadSweep::small(), false);
    let load = report.load.as_ref().expect("load levels");
    let pick = |metric: &str, model: &str| {
        load.latency_targets
            .iter()
            .find(|t| t.metric == metric && t.model == model)
            .unwrap_or_else(|| panic!("{metric} {model}"))
    };
    // e2e p90 ≤ 400 ms for tiny-gen: c1, c4, p5 and p20 meet it; p20 (5 J) is the cheapest,
    // p50 misses it at 1,220 ms.
    let t = pick("e2e_p90", "tiny-gen");
    assert!(t.meets);
    assert_eq!(t.point, "p20");
    close(
        t.energy_j_per_request.expect("energy"),
        5.0,
        "p20 J/request",
    );
    // ITL p90 ≤ 1 ms: none does; the closest is named.
    let t = pick("itl_p90", "tiny-gen");
    assert!(!t.meets);
    assert!(t.note.starts_with("none meets it; closest:"), "{}", t.note);
    assert!(t.metric_ms.expect("closest") > 1.0);
    let csv = std::fs::read_to_string(dir.path().join("latency_targets.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "{csv}");
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(md.contains("## Lowest energy within each latency target"));
    assert!(md.contains("| e2e_p90 ≤ 400"), "{md}");
}

#[test]
fn latency_targets_are_also_picked_across_power_limits() {
    // tiny-gen at c1, c4, p20, each as found (80 W GPU) and at a 50 W limit (the GPU
    // draws 50 W, as fast): with the CPU's 20 W, p20-50w costs 70 W × 0.2 s / 4 = 3.5 J.
    let mut sweep = LoadSweep::small();
    sweep.models.truncate(1);
    sweep.levels = ["c1", "c4", "p20", "c1-50w", "c4-50w", "p20-50w"]
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    sweep.targets.truncate(1);
    let (dir, report) = rendered(&sweep, false);
    let load = report.load.as_ref().expect("load levels");
    use report::load::targets::Scope;
    let rows: Vec<_> = load
        .latency_targets
        .iter()
        .map(|t| (t.scope, t.power_limit_w, t.point.as_str()))
        .collect();
    // e2e p90 ≤ 400 ms: across limits p20-50w; within each limit its own p20.
    assert_eq!(
        rows,
        [
            (Scope::AllLimits, Some(50), "p20-50w"),
            (Scope::OneLimit, None, "p20"),
            (Scope::OneLimit, Some(50), "p20-50w"),
        ]
    );
    let across = &load.latency_targets[0];
    assert!(across.meets);
    close(
        across.energy_j_per_request.expect("energy"),
        70.0 * 0.2 / 4.0,
        "p20-50w J/request",
    );
    close(
        load.latency_targets[1]
            .energy_j_per_request
            .expect("energy"),
        5.0,
        "p20 J/request",
    );
    let csv = std::fs::read_to_string(dir.path().join("latency_targets.csv")).expect("csv");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .expect("header")
            .contains(",scope,power_limit_w,")
    );
    assert!(
        lines.next().expect("row").contains(",all_limits,50,"),
        "{csv}"
    );
    assert!(lines.next().expect("row").contains(",one_limit,,"), "{csv}");
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(
        md.contains("| e2e_p90 ≤ 400.0 ms | tiny-gen | prompts | all | p20-50w |"),
        "{md}"
    );
    assert!(md.contains("| e2e_p90 ≤ 400.0 ms | tiny-gen | prompts | 50 W | p20-50w |"));
    assert!(md.contains("| e2e_p90 ≤ 400.0 ms | tiny-gen | prompts | as found | p20 |"));
}

#[test]
fn the_frontier_plot_is_written_and_parses() {
    let (dir, report) = rendered(&LoadSweep::small(), true);
    let path = dir
        .path()
        .join("plots/load_frontier_text-generation_prompts.svg");
    let svg = std::fs::read_to_string(&path).expect("frontier svg");
    assert!(report.plots.contains(&path));
    let mut reader = quick_xml::Reader::from_str(&svg);
    let mut elements = 0;
    loop {
        match reader.read_event().expect("well-formed SVG") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_) => {
                elements += 1
            }
            _ => {}
        }
    }
    assert!(elements > 50, "{elements} elements");
    for needed in [
        "inter-token latency p90 (ms; streamed answers)",
        "energy per request (J, log scale)",
        "tiny-gen",
        "big-gen",
        "Pareto frontier",
    ] {
        assert!(svg.contains(needed), "the plot lacks {needed:?}");
    }
    for label in ["c1", "c4", "p5", "p20", "p50"] {
        assert!(
            svg.lines().any(|l| l.trim() == label),
            "no point labelled {label}"
        );
    }
    let frontier = report::plot::load_frontier::LoadFrontier::per_dataset(
        &report.load.as_ref().expect("load").levels,
    );
    assert_eq!(frontier.len(), 1);
    let tiny = frontier[0]
        .series()
        .iter()
        .find(|s| s.name == "tiny-gen")
        .expect("tiny-gen series");
    // tiny-gen p20: ITL 10 ms at 5 J, exactly four sharing 100 W over 0.2 s.
    let p20 = tiny.points.iter().find(|p| p.level == "p20").expect("p20");
    close(p20.energy_j, 5.0, "p20 on the plot");
    close(p20.latency_ms, 10.0, "p20 ITL p90");
    // c4: slower (ITL 13.75 ms) and dearer (6.5 J) than p20.
    let c4 = tiny.points.iter().find(|p| p.level == "c4").expect("c4");
    close(c4.energy_j, 6.5, "c4 on the plot");
    close(c4.latency_ms, 13.75, "c4 ITL p90");
    assert!(!c4.optimal);
    // p50 is past capacity (its queue grows through the window, time queued counts as
    // served: 3.29 J); it beats p20 on energy at the same ITL, and summary.md flags it.
    let p50 = tiny.points.iter().find(|p| p.level == "p50").expect("p50");
    assert!(p50.optimal && !p20.optimal);
}

#[test]
fn runs_without_load_levels_are_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("write");
    let report = super::render_without_plots(dir.path()).expect("render");
    assert!(report.load.is_none());
    assert!(!dir.path().join("load.csv").exists());
    assert!(!dir.path().join("latency_targets.csv").exists());
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("md");
    assert!(!md.contains("Load levels") && !md.contains("latency target"));
    let json = std::fs::read_to_string(dir.path().join("summary.json")).expect("json");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert!(doc.get("load").is_none());
}

#[test]
fn compare_judges_each_level_separately() {
    let base = tempfile::tempdir().expect("temp dir");
    let cand = tempfile::tempdir().expect("temp dir");
    let sweep = LoadSweep::small();
    sweep.write(base.path()).expect("write base");
    // The candidate's tiny-gen draws 20 W more at every level; big-gen is unchanged.
    let mut worse = sweep.clone();
    worse.models[0].gpu_w += 20.0;
    worse.write(cand.path()).expect("write candidate");
    let result = compare(base.path(), cand.path(), &CompareOptions::default()).expect("compare");
    for point in ["c1", "c4", "p5", "p20", "p50"] {
        let verdict = |model: &str| {
            let id = format!("{model}@prompts~{point}");
            result
                .rows
                .iter()
                .find(|r| r.config == id)
                .unwrap_or_else(|| panic!("{id} compared"))
                .verdict
        };
        assert_eq!(verdict("tiny-gen"), Verdict::Regression, "{point}");
        assert_eq!(verdict("big-gen"), Verdict::NoChange, "{point}");
    }
    assert_eq!(result.rows.len(), 10);
}

#[test]
fn estimates_are_labelled_and_short_windows_flagged() {
    let mut sweep = LoadSweep::small();
    sweep.models.truncate(1);
    sweep.cpu_estimated = true;
    sweep.requests = 5;
    sweep.levels = ["c1", "c4"].iter().filter_map(|t| t.parse().ok()).collect();
    let (dir, report) = rendered(&sweep, true);
    let load = report.load.as_ref().expect("load levels");
    let c4 = level(load, "tiny-gen", "c4");
    assert_eq!(c4.provenance, records::labels::FigureLabel::Mixed);
    // Clients send 2, 1, 1, 1 requests of 26 ticks: all four in flight from tick 3 until
    // client 1's answer at 27, 0.24 s, under 4 × the GPU probe's 0.1 s resolution.
    close(mean(c4, |r| &r.steady_duration_s), 0.24, "short window");
    assert_eq!(c4.short_windows, 3);
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(md.contains("*partly estimated*"));
    assert!(
        md.contains("3 of 3 windows shorter than 4 sample intervals"),
        "{md}"
    );
    let csv = std::fs::read_to_string(dir.path().join("load.csv")).expect("load.csv");
    assert!(csv.lines().skip(1).all(|l| l.contains(",mixed,")), "{csv}");
    let svg = std::fs::read_to_string(
        dir.path()
            .join("plots/load_frontier_text-generation_prompts.svg"),
    )
    .expect("svg");
    assert!(svg.contains("[partly estimated]"));
}

#[test]
#[ignore = "prints the small sweep's load outputs"]
fn print_small_sweep() {
    let (dir, _) = rendered(&LoadSweep::small(), false);
    for f in ["load.csv", "latency_targets.csv", "summary.md"] {
        println!("{}", std::fs::read_to_string(dir.path().join(f)).expect(f));
    }
}
