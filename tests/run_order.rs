//! `[schedule] order`: grouped runs take one server's configurations at a time, starting
//! each launched server before its first configuration and stopping it after its last.

use crate::common;

use common::{csv_rows, joulebench, manifest, measured, run_suite};

/// Two servers launched from the journalling fixture, two models on the first, one on the
/// second, in the given order.
fn suite(order: &str, journal: &str) -> String {
    suite_dying(order, journal, "")
}

/// As [`suite`], the second server dying once at its prediction number `die_at` (if any).
fn suite_dying(order: &str, journal: &str, die_at: &str) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/journal_server.py"
    );
    let server = |name: &str| {
        let die = if name == "second" && !die_at.is_empty() {
            format!(", \"{die_at}\"")
        } else {
            String::new()
        };
        format!(
            r#"[servers.{name}]
protocol = "tei-predict"
launch = ["python3", "{script}", "{{port}}", "{name}", "{journal}"{die}]
ready_timeout_seconds = 30
"#
        )
    };
    let model = |name: &str, server: &str| {
        format!(
            r#"[[models]]
name = "{name}"
task = "sentiment"
class = "task-specific"
server = "{server}"
"#
        )
    };
    format!(
        r#"[suite]
name = "order"

{}{}{}{}{}
[[datasets]]
name = "sample"
task = "sentiment"
path = "data.jsonl"
fields = {{ text = "sentence" }}

[schedule]
inferences = 3
repetitions = 3
warmup = 1
idle_seconds = 0
cooldown_seconds = 0
seed = 7
order = "{order}"

[probes]
sources = ["estimate"]
sample_hz = 50
"#,
        server("first"),
        server("second"),
        model("a", "first"),
        model("b", "first"),
        model("c", "second"),
    )
}

fn journal_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("journal")
        .lines()
        .filter(|l| !l.starts_with("request"))
        .map(str::to_string)
        .collect()
}

#[test]
fn grouped_order_runs_server_by_server_and_stops_each_before_the_next_starts() {
    let journal_dir = tempfile::tempdir().expect("temp dir");
    let journal = journal_dir.path().join("journal.txt");
    let (output, _dir, out) = run_suite(&suite("grouped", &journal.to_string_lossy()), 10);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = measured(&out);
    assert_eq!(
        rows.len(),
        3 * 3 * 3,
        "3 models × 3 repetitions × 3 inferences"
    );
    let models: Vec<&str> = rows.iter().map(|r| r["model"].as_str()).collect();
    let last_first = models.iter().rposition(|m| *m != "c").expect("a or b rows");
    let first_second = models.iter().position(|m| *m == "c").expect("c rows");
    assert!(
        last_first < first_second,
        "every request to the first server precedes the second's: {models:?}"
    );
    assert_eq!(
        journal_lines(&journal),
        ["start first", "stop first", "start second", "stop second"],
        "the first server is stopped before the second starts"
    );
    assert_eq!(csv_rows(&out.join("repetitions.csv")).len() % 9, 0);
}

#[test]
fn interleaved_order_starts_every_server_before_measuring() {
    let journal_dir = tempfile::tempdir().expect("temp dir");
    let journal = journal_dir.path().join("journal.txt");
    let (output, _dir, out) = run_suite(&suite("interleaved", &journal.to_string_lossy()), 10);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = journal_lines(&journal);
    assert_eq!(&lines[..2], ["start first", "start second"], "{lines:?}");
    assert_eq!(lines.len(), 4, "both stopped at the end: {lines:?}");
    let models: Vec<String> = measured(&out).iter().map(|r| r["model"].clone()).collect();
    let firsts: Vec<usize> = ["a", "b", "c"]
        .iter()
        .map(|m| {
            models
                .iter()
                .position(|x| x == m)
                .expect("rows of every model")
        })
        .collect();
    assert!(
        firsts.iter().all(|&i| i < 9),
        "round 1 visits every configuration before any second repetition: {models:?}"
    );
}

#[test]
fn a_grouped_run_cut_by_a_dying_server_resumes_without_restarting_finished_servers() {
    let journal_dir = tempfile::tempdir().expect("temp dir");
    let journal = journal_dir.path().join("journal.txt");
    // The second server's one model needs 3 × 3 predictions: it dies at its 5th.
    let (output, dir, out) =
        run_suite(&suite_dying("grouped", &journal.to_string_lossy(), "5"), 10);
    assert_eq!(
        output.status.code(),
        Some(130),
        "interrupted: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(manifest(&out)["status"], "interrupted");
    let resumed = joulebench()
        .args(["run", "--quiet", "--resume"])
        .arg(&out)
        .arg(dir.path().join("suite.toml"))
        .output()
        .expect("resume");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(manifest(&out)["status"], "complete");
    assert_eq!(
        journal_lines(&journal),
        [
            "start first",
            "stop first",
            "start second",
            "died second",
            "start second",
            "stop second"
        ],
        "the finished first server is not started again"
    );
    let reps = csv_rows(&out.join("repetitions.csv"));
    for model in ["a", "b", "c"] {
        let mut taken: Vec<String> = reps
            .iter()
            .filter(|r| r["model"] == model)
            .map(|r| r["repetition"].clone())
            .collect();
        taken.sort();
        taken.dedup();
        assert_eq!(taken, ["1", "2", "3"], "{model}: every repetition once");
    }
}
