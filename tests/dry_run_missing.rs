//! `joulebench run --dry-run` prints the plan of a suite whose dataset files are not there
//! yet (and says which, where); a real run still refuses it with the clear error.

use crate::common;

use common::{dry_run_at, run_in, suite_dir};

const SUITE: &str = r#"[suite]
name = "lab-data"

[servers.local]
protocol = "openai-completions"
url = "http://127.0.0.1:9"

[[models]]
name = "m"
task = "sentiment"
class = "general-purpose"
server = "local"

[[datasets]]
name = "here"
task = "sentiment"
path = "data.jsonl"

[[datasets]]
name = "imdb"
task = "sentiment"
path = "downloads/imdb.parquet"

[tasks.sentiment]
prompt = "sentiment? {text}"

[schedule]
inferences = 10
repetitions = 2
"#;

#[test]
fn a_dry_run_plans_without_the_data_and_lists_what_is_missing() {
    let (dir, path) = suite_dir(SUITE, 3);
    let (code, stdout, stderr) = dry_run_at(&path);
    assert_eq!(code, 0, "{stderr}");
    // The plan itself: both configurations, requests, time and probes.
    for expected in [
        "configurations (2):",
        "m@here",
        "m@imdb",
        "requests: 40 measured + 20 warm-up = 60",
        "time:",
        "probes (sampling at",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
    // The missing file, with its resolved path, and what to do about it.
    let section = stdout
        .split("missing dataset files (1)")
        .nth(1)
        .unwrap_or_else(|| panic!("no missing-files section:\n{stdout}"));
    let resolved = dir.path().join("downloads/imdb.parquet");
    assert!(
        section.contains(&format!("imdb                     {}", resolved.display())),
        "{section}"
    );
    assert!(
        !section.contains("data.jsonl"),
        "the file that is there is not listed"
    );
    // What to do, for any suite; the study's datasets only for suites with study figures.
    assert!(
        section.contains("put the files there before `joulebench run`"),
        "{section}"
    );
    assert!(!section.contains("reproducing-php"), "{section}");

    // A suite whose files are all there has no such section.
    std::fs::create_dir(dir.path().join("downloads")).expect("mkdir");
    std::fs::write(&resolved, b"PAR1").expect("write");
    let (code, stdout, _) = dry_run_at(&path);
    assert_eq!(code, 0);
    assert!(!stdout.contains("missing dataset files"));
}

#[test]
fn a_run_refuses_missing_data_before_writing_anything() {
    let (dir, path) = suite_dir(SUITE, 3);
    let (output, out) = run_in(dir.path(), &path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("suite.toml:22:8: key `datasets.path`")
            && stderr.contains("imdb.parquet not found"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!out.exists(), "no results folder for a refused run");
}
