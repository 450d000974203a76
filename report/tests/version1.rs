//! A run folder written by results format version 1 (`report/tests/data/v1-run`, taken
//! with `joulebench run` before `repetitions.csv` went raw) renders the same figures as
//! that version's own report, and deriving net energy and validity from its baselines
//! under the suite's policy gives them too.

use joulebench_report as report;
use records::manifest::{DerivationPolicy, IdleSubtraction, RunManifest};
use std::path::{Path, PathBuf};

const V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/v1-run");

/// The raw files of the fixture, copied into a fresh folder.
const RAW: [&str; 6] = [
    "run.json",
    "suite.toml",
    "requests.csv",
    "samples.csv",
    "baselines.csv",
    "repetitions.csv",
];

/// The tables version 1's report wrote, kept in the fixture as the expected figures.
const TABLES: [&str; 5] = [
    "summary.csv",
    "domains.csv",
    "tasks.csv",
    "models.csv",
    "request_energy.csv",
];

fn copy_raw(to: &Path) -> PathBuf {
    let dir = to.join("run");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for name in RAW {
        std::fs::copy(Path::new(V1).join(name), dir.join(name)).expect("copy fixture");
    }
    dir
}

/// Columns appended to `summary.csv` after version 1's report (numbers, never quoted).
const SUMMARY_COLUMNS_SINCE: [&str; 30] = [
    "failures",
    "failure_share",
    "ttft_ms_p90",
    "ttft_ms_p99",
    "itl_ms_p50",
    "itl_ms_p90",
    "itl_ms_p99",
    "tokens_not_server_counted_share",
    "output_unpinned_share",
    "bursty_stream_share",
    "checks_failed",
    "repetitions_for_ci_1pct",
    "repetitions_for_ci_2pct",
    "repetitions_for_ci_5pct",
    "server_cpu_share",
    "server_cpu_energy_j_mean",
    "client_cpu_share",
    "quality_metric",
    "quality_mean",
    "quality_ci95_low",
    "quality_ci95_high",
    "quality_items",
    "quality_repetition_std",
    "quality_unparsed_share",
    "rating_stars",
    "rating_basis",
    "whatif_cleanest_start_utc",
    "whatif_cleanest_gco2e_per_1000",
    "whatif_cleanest_saving_pct",
    "whatif_other_zones_gco2e_per_1000",
];

/// `csv` without the flag that version 1 could not raise: `quality-unscored`, which every
/// folder without `answers.jsonl` gets.
fn without_quality_flag(csv: &str) -> String {
    let mut out = String::with_capacity(csv.len());
    let mut rest = csv;
    while let Some(at) = rest.find("quality-unscored(") {
        let mut head = &rest[..at];
        head = head.strip_suffix("; ").unwrap_or(head);
        out.push_str(head);
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest[at..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn assert_same_tables(dir: &Path) {
    for name in TABLES {
        let expected = std::fs::read_to_string(Path::new(V1).join(name)).expect("fixture table");
        let mut got = std::fs::read_to_string(dir.join(name)).expect("rendered table");
        if name == "summary.csv" {
            got = without_quality_flag(&without_columns_since(&got));
        }
        if name == "models.csv" {
            got = without_active_parameters(&got);
        }
        assert_eq!(got, expected, "{name} differs from version 1's");
    }
}

/// `models.csv` without its last column, `active_parameters` (added since version 1).
fn without_active_parameters(csv: &str) -> String {
    assert!(
        csv.lines()
            .next()
            .unwrap_or("")
            .ends_with(",active_parameters"),
        "active_parameters comes last: {csv}"
    );
    csv.lines()
        .map(|line| line.rsplit_once(',').map_or(line, |(kept, _)| kept))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// `summary.csv` without the columns appended since version 1 (the last ones of each line).
fn without_columns_since(csv: &str) -> String {
    let header = csv.lines().next().unwrap_or("");
    assert!(
        header.ends_with(&format!(",{}", SUMMARY_COLUMNS_SINCE.join(","))),
        "new columns come last: {header}"
    );
    csv.lines()
        .map(|line| {
            let kept = line
                .rsplitn(SUMMARY_COLUMNS_SINCE.len() + 1, ',')
                .last()
                .unwrap_or("");
            format!("{kept}\n")
        })
        .collect()
}

#[test]
fn a_version_1_folder_renders_its_own_figures() {
    let manifest = RunManifest::load(Path::new(V1)).expect("run.json");
    assert_eq!(manifest.format_version, 1);
    assert!(manifest.policy.is_none());
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = copy_raw(tmp.path());
    let rendered = crate::render_without_plots(&dir).expect("render");
    assert_eq!(rendered.summary.len(), 2, "two configurations");
    assert!(rendered.rows().all(|r| r.net_energy_j_mean.is_some()));
    assert_same_tables(&dir);
}

#[test]
fn deriving_a_version_1_folder_from_its_baselines_gives_the_recorded_figures() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = copy_raw(tmp.path());
    // The suite's schedule.max_failure_share (the default, 5%) and version 1's idle rule.
    let options = report::ReportOptions {
        plots: false,
        policy: Some(DerivationPolicy {
            max_failure_share: 0.05,
            idle: IdleSubtraction::LatestBaseline,
        }),
        ..report::ReportOptions::default()
    };
    report::render_with(&dir, &options).expect("render");
    assert_same_tables(&dir);
}
