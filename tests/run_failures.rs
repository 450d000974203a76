//! Failed requests in the summaries: a configuration with no valid repetition keeps its
//! row with empty figures and gives the run its own exit code; failures within the allowed
//! share are counted and flagged per configuration.

use crate::common;

use common::{Reply, TestServer, csv_rows, joulebench, openai_answer, run_suite};
use std::collections::BTreeMap;

/// Exit code of a run in which some configuration has no valid repetition (README).
const EXIT_NO_VALID_REPETITION: i32 = 3;

/// Two models on one OpenAI server: `good` (1 of 20 requests fails: within the 5% share)
/// and `bad` (4 of 20 fail, never two in a row: every repetition invalid).
fn two_model_suite(url: &str) -> String {
    format!(
        r#"[suite]
name = "failures"

[servers.local]
protocol = "openai-completions"
url = "{url}"

[[models]]
name = "good"
served_name = "served-good"
task = "sentiment"
class = "general-purpose"
server = "local"

[[models]]
name = "bad"
served_name = "served-bad"
task = "sentiment"
class = "general-purpose"
server = "local"

{sample}
{schedule}"#,
        sample = common::sample_sentiment_toml("sentiment? {text}", 3),
        schedule = common::schedule_and_probes(20, 2, 0),
    )
}

/// Answers like OpenAI, except HTTP 500 for `served-good` on dataset row 13 and for
/// `served-bad` on rows 1, 3, 5 and 7 (each row is sent once per 20-request repetition).
fn failing_server() -> TestServer {
    TestServer::start_replies(|r| {
        let prompt = r.body["prompt"].as_str().unwrap_or("");
        let model = r.body["model"].as_str().unwrap_or("");
        let fails = r.method == "POST"
            && match model {
                "served-good" => prompt.ends_with("number 13"),
                "served-bad" => ["1", "3", "5", "7"]
                    .iter()
                    .any(|n| prompt.ends_with(&format!("number {n}"))),
                _ => false,
            };
        if fails {
            Reply::Json(500, r#"{"error":"internal"}"#.into())
        } else {
            let (s, b) = openai_answer(r);
            Reply::Json(s, b)
        }
    })
}

fn summary_rows(out: &std::path::Path) -> BTreeMap<String, BTreeMap<String, String>> {
    csv_rows(&out.join("summary.csv"))
        .into_iter()
        .map(|r| (r["model"].clone(), r))
        .collect()
}

#[test]
fn a_configuration_with_no_valid_repetition_keeps_its_row_and_the_run_exits_3() {
    let server = failing_server();
    let (output, _dir, out) = run_suite(&two_model_suite(&server.url), 20);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(EXIT_NO_VALID_REPETITION),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.contains("bad@sample") && stderr.contains("no valid repetition"),
        "names the configuration: {stderr}"
    );
    let rows = summary_rows(&out);
    assert_eq!(rows.len(), 2, "both configurations keep a row: {rows:?}");
    let bad = &rows["bad"];
    assert_eq!(bad["repetitions"], "0");
    for column in [
        "energy_j_mean",
        "energy_j_std",
        "energy_j_cv",
        "energy_j_ci95_low",
        "energy_j_ci95_high",
        "energy_wh_mean",
        "kwh_per_1000",
        "kwh_per_1000_ci95_low",
        "kwh_per_1000_ci95_high",
        "gco2e_per_1000",
        "latency_ms_p50",
        "latency_ms_p99",
    ] {
        assert_eq!(bad[column], "", "{column} is empty, not 0 or NaN: {bad:?}");
    }
    assert!(bad["flags"].contains("no-valid-repetition"), "{bad:?}");
    assert!(bad["flags"].contains("invalid(rep 1,2)"), "{bad:?}");
    assert_eq!(bad["failures"], "8", "4 of 20 per repetition: {bad:?}");
    assert!(!rows["good"]["energy_j_mean"].is_empty());

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("json"))
            .expect("summary.json parses");
    let configs = json["configurations"].as_array().expect("configurations");
    let bad = configs
        .iter()
        .find(|c| c["model"] == "bad")
        .expect("bad in summary.json");
    assert!(bad["energy_j_mean"].is_null(), "{bad}");
    assert!(bad["kwh_per_1000"].is_null(), "{bad}");

    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    let line = md
        .lines()
        .find(|l| l.starts_with("| bad |"))
        .unwrap_or_else(|| panic!("bad has a row in summary.md:\n{md}"));
    assert!(!line.contains("NaN"), "{line}");
    assert!(
        md.contains("No valid repetition") && md.contains("bad@sample"),
        "the reason is stated:\n{md}"
    );

    let report = joulebench()
        .arg("report")
        .arg(&out)
        .arg("--no-plots")
        .output()
        .expect("run joulebench report");
    let report_err = String::from_utf8_lossy(&report.stderr);
    assert_eq!(report.status.code(), Some(0), "{report_err}");
    assert!(
        report_err.contains("warning") && report_err.contains("bad@sample"),
        "report warns: {report_err}"
    );
}

#[test]
fn failures_within_the_allowed_share_are_counted_and_flagged() {
    let server = failing_server();
    let (_output, _dir, out) = run_suite(&two_model_suite(&server.url), 20);
    let good = &summary_rows(&out)["good"];
    assert_eq!(good["repetitions"], "2", "both valid: {good:?}");
    assert_eq!(good["failures"], "2", "1 of 20 per repetition: {good:?}");
    let share: f64 = good["failure_share"].parse().expect("a share");
    assert!((share - 0.05).abs() < 1e-12, "{share}");
    assert!(
        good["flags"].contains("failures(2 of 40"),
        "flagged: {}",
        good["flags"]
    );
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    let line = md
        .lines()
        .find(|l| l.starts_with("| good |"))
        .unwrap_or_else(|| panic!("good has a row:\n{md}"));
    assert!(line.contains("failures(2 of 40"), "{line}");
    assert!(
        md.contains("good@sample: 2 of 40"),
        "a sentence names the failures:\n{md}"
    );
}
