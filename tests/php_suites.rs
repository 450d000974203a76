//! Every suite under `suites/php/` passes `joulebench run --dry-run` here: the plan it
//! prints has the study's configurations, their study figures, and names the dataset files
//! a lab still has to download.

use crate::common;

use common::{dry_run_at, joulebench};
use std::path::{Path, PathBuf};

fn php_suites() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/php");
    let mut suites: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("suites/php")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    suites.sort();
    suites
}

/// The plan `joulebench run --dry-run` prints for `suite`, which must exit 0.
fn dry_run(suite: &Path) -> String {
    let (code, stdout, stderr) = dry_run_at(suite);
    assert_eq!(code, 0, "{}: {stdout}{stderr}", suite.display());
    stdout
}

/// The number in `configurations (N)`.
fn configurations(plan: &str) -> usize {
    let start = plan.find("configurations (").expect("configurations line") + 16;
    let end = start + plan[start..].find(')').expect("closing parenthesis");
    plan[start..end].parse().expect("a count")
}

#[test]
fn every_php_suite_dry_runs_with_its_plan() {
    let suites = php_suites();
    assert!(suites.len() >= 4, "found {suites:?}");
    for suite in &suites {
        let plan = dry_run(suite);
        assert!(plan.contains("requests: "), "{plan}");
        assert!(plan.contains("probes (sampling at"), "{plan}");
        assert!(configurations(&plan) > 0, "{plan}");
    }
}

#[test]
fn the_three_task_suites_hold_the_study_matrix_at_full_size() {
    for task in ["text-classification", "extractive-qa", "summarization"] {
        let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("suites/php/{task}.toml"));
        let plan = dry_run(&suite);
        // 8 task-specific + 8 general-purpose models × 3 datasets.
        assert_eq!(configurations(&plan), 48, "{task}: {plan}");
        assert_eq!(plan.matches("task-specific ").count(), 24, "{task}");
        assert!(
            plan.contains("requests: 480000 measured + 480 warm-up"),
            "1,000 inferences × 10 repetitions: {plan}"
        );
        assert!(plan.contains("order grouped"), "{plan}");
        assert!(
            plan.contains("missing dataset files (3)")
                && plan.contains("(the study's datasets: docs/reproducing-php.md)"),
            "the Parquet files a lab downloads are named with where to get them: {plan}"
        );
        for model in ["google/flan-t5-xxl", "bigscience/bloomz-7b1"] {
            assert!(plan.contains(model), "{task}: no study figure for {model}");
        }
        for line in plan
            .lines()
            .skip_while(|l| !l.starts_with("study figures"))
            .skip(1)
        {
            if line.trim().is_empty() {
                break;
            }
            assert!(line.contains("(10 runs"), "one dataset, ten runs: {line}");
        }
    }
}

#[test]
fn the_scaled_down_suite_has_its_data_and_a_study_figure_for_every_configuration() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/php/scaled-down.toml");
    let plan = dry_run(&suite);
    assert_eq!(configurations(&plan), 9, "{plan}");
    assert!(!plan.contains("missing dataset files"), "{plan}");
    let line = |config: &str| {
        plan.lines()
            .find(|l| l.trim_start().starts_with(config))
            .unwrap_or_else(|| panic!("no {config} in {plan}"))
    };
    assert!(
        line("flan-t5-small-qa@").contains("20 new tokens (pinned)"),
        "OpenAI completions pin the length: {plan}"
    );
    assert!(
        line("bert-mini-sentiment@").contains("cannot pin"),
        "a JSON template cannot pin, and the plan says so: {plan}"
    );
    let study: Vec<&str> = plan
        .lines()
        .skip_while(|l| !l.starts_with("study figures"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(study.len(), 9, "{plan}");
    assert!(
        study.iter().all(|l| l.contains("(30 runs")),
        "mean over the study's three datasets: {study:?}"
    );
}

#[test]
fn every_php_suite_with_study_figures_says_how_the_studys_setup_differs() {
    let mut with_reference = 0;
    for suite in php_suites() {
        let text = std::fs::read_to_string(&suite).expect("suite");
        let Some(at) = text.find("\n[reference]\n") else {
            continue;
        };
        with_reference += 1;
        let table = &text[at + 1..];
        let table = &table[..table[1..].find("\n[").map_or(table.len(), |i| i + 1)];
        let note = table
            .lines()
            .find(|l| l.starts_with("note = "))
            .unwrap_or_else(|| panic!("{}: no note in {table}", suite.display()));
        for expected in [
            "8 GPUs",
            "CodeCarbon's constants",
            "docs/reproducing-php.md",
        ] {
            assert!(note.contains(expected), "{}: {note}", suite.display());
        }
    }
    assert!(
        with_reference >= 4,
        "the four study suites have [reference]"
    );
}

#[test]
fn a_dry_run_piped_into_a_reader_that_stops_early_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/php/text-classification.toml");
    let mut child = joulebench()
        .args(["run", "--dry-run", "--shard", "0/1000"])
        .arg(&suite)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 64];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the plan begins");
    // The read end is dropped here, as `| head -c 64` would close it.
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        output.status
    );
}
