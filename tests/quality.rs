//! Quality beside energy, end to end: a server whose answers are known (right, wrong,
//! partly right, unparsed) gives exact scores per request, per repetition and per
//! configuration; `compare` gates a quality drop.

use crate::common;

use common::{Answer, Received, TestServer, csv_rows, joulebench, schedule_and_probes};
use std::path::Path;

/// An OpenAI completions server answering each prompt with `answer(prompt)`.
fn answering(answer: fn(&str) -> String) -> TestServer {
    TestServer::start(move |r: &Received| -> Answer {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/health") => (200, "{}".into()),
            ("POST", "/v1/completions") => {
                let prompt = r.body["prompt"].as_str().unwrap_or("");
                let body = serde_json::json!({
                    "choices": [{"text": answer(prompt), "index": 0, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2}
                });
                (200, body.to_string())
            }
            _ => (404, r#"{"error":"not found"}"#.into()),
        }
    })
}

/// A suite of one generator on `url` over `data.jsonl`, with `dataset` keys and the task's
/// `prompt`.
fn suite(url: &str, task: &str, dataset: &str, prompt: &str, rows: usize, reps: usize) -> String {
    format!(
        r#"[suite]
name = "quality"

[servers.local]
protocol = "openai-completions"
url = "{url}"

[[models]]
name = "m1"
task = "{task}"
class = "general-purpose"
server = "local"

[[datasets]]
name = "d"
task = "{task}"
path = "data.jsonl"
{dataset}

[tasks.{task}]
prompt = "{prompt}"
max_tokens = 2

[generation]
pin_output_length = false

{schedule}"#,
        schedule = schedule_and_probes(rows, reps, 0)
    )
}

/// Writes `suite` and `data` into a temp folder and runs it; returns the folder and the
/// results folder.
fn run(suite: &str, data: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("data.jsonl"), data).expect("data");
    let path = dir.path().join("suite.toml");
    std::fs::write(&path, suite).expect("suite");
    let out = common::run_in_ok(dir.path(), &path);
    (dir, out)
}

/// (repetition, index, row, metric) → (score, label) of `request_scores.csv`.
fn scores(out: &Path) -> Vec<(String, String, String, String, f64, String)> {
    csv_rows(&out.join("request_scores.csv"))
        .into_iter()
        .map(|r| {
            (
                r["repetition"].clone(),
                r["index"].clone(),
                r["row"].clone(),
                r["metric"].clone(),
                r["score"].parse().expect("a score"),
                r["label"].clone(),
            )
        })
        .collect()
}

fn summary(out: &Path) -> std::collections::BTreeMap<String, String> {
    csv_rows(&out.join("summary.csv")).remove(0)
}

fn answer_quality(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["configurations"][0]["answer_quality"].clone()
}

#[test]
fn classification_answers_right_wrong_and_unparsed_score_exactly() {
    // Rows 1–4: labels 1, 0, 1, 0. Answers: right, wrong, unparsed, right.
    let data = "{\"sentence\": \"s0\", \"label\": 1}\n{\"sentence\": \"s1\", \"label\": 0}\n\
                {\"sentence\": \"s2\", \"label\": 1}\n{\"sentence\": \"s3\", \"label\": 0}\n";
    let server = answering(|prompt| {
        match prompt.rsplit(' ').next().unwrap_or("") {
            "s0" => " Positive.",
            "s1" => "positive",
            "s2" => "I cannot tell",
            _ => "NEGATIVE!",
        }
        .to_string()
    });
    let dataset = "fields = { text = \"sentence\", expected = \"label\" }\n\
                   labels = { \"0\" = [\"negative\"], \"1\" = [\"positive\"] }";
    let text = suite(&server.url, "sentiment", dataset, "sentiment? {text}", 4, 2);
    let (dir, out) = run(&text, data);
    // The dry run says how the answers will be scored.
    let (code, plan, _) = common::dry_run_at(&dir.path().join("suite.toml"));
    assert_eq!(code, 0);
    assert!(
        plan.contains(
            "answers scored:\n  d                        accuracy against `label` (accuracy)"
        ),
        "{plan}"
    );
    // Every measured answer is kept beside its reference.
    let answers = std::fs::read_to_string(out.join("answers.jsonl")).expect("answers");
    assert_eq!(answers.lines().count(), 8, "4 requests × 2 repetitions");
    assert!(
        answers.contains(r#""answer":"I cannot tell","expected":["1"]"#),
        "{answers}"
    );
    let got = scores(&out);
    assert_eq!(got.len(), 8);
    let want = [
        ("1", 1.0, "1"),
        ("2", 0.0, "1"),
        ("3", 0.0, "unparsed"),
        ("4", 1.0, "0"),
    ];
    for (rep, index, row, metric, score, label) in &got {
        let i: usize = index.parse().expect("index");
        assert!(rep == "1" || rep == "2", "{rep}");
        assert_eq!(metric, "accuracy");
        assert_eq!(
            (row.as_str(), *score, label.as_str()),
            want[i],
            "repetition {rep}, request {i}"
        );
    }
    let row = summary(&out);
    assert_eq!(row["quality_metric"], "accuracy");
    assert_eq!(row["quality_mean"], "0.5");
    assert_eq!(row["quality_items"], "4");
    assert_eq!(row["quality_unparsed_share"], "0.25");
    assert_eq!(
        row["quality_repetition_std"], "0.0",
        "the same answers twice"
    );
    // 0/1 scores: Wilson's interval for 2 of 4 rows right.
    let z = 1.959_963_984_540_054_f64;
    let half = z / (1.0 + z * z / 4.0) * (0.0625 + z * z / 64.0).sqrt();
    let ci = |c: &str| row[c].parse::<f64>().expect("a bound");
    assert!(
        (ci("quality_ci95_low") - (0.5 - half)).abs() < 1e-12,
        "{row:?}"
    );
    assert!(
        (ci("quality_ci95_high") - (0.5 + half)).abs() < 1e-12,
        "{row:?}"
    );
    assert!(
        !row["flags"].contains("quality-unscored"),
        "{}",
        row["flags"]
    );
    let q = answer_quality(&out);
    assert_eq!(q["scored"], 8);
    assert_eq!(q["unparsed"], 2);
    assert_eq!(
        q["metrics"][0]["repetitions"],
        serde_json::json!([[1, 0.5], [2, 0.5]])
    );
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.contains("## Quality beside energy"), "{md}");
    assert!(md.contains("| m1@d | accuracy | accuracy | 50.0 |"), "{md}");
    assert!(
        out.join("plots/quality_vs_energy_sentiment_d.svg")
            .is_file(),
        "the frontier plot of the task on its dataset"
    );
    // Answers lost for two requests: the quality covers the rest and says so.
    let kept: Vec<&str> = answers.lines().skip(2).collect();
    std::fs::write(out.join("answers.jsonl"), kept.join("\n") + "\n").expect("write");
    let o = common::joulebench()
        .arg("report")
        .arg(&out)
        .output()
        .expect("report");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let flags = summary(&out)["flags"].clone();
    assert!(flags.contains("answers-missing(2 of 8 requests"), "{flags}");
}

#[test]
fn squad_answers_right_partly_right_and_wrong_score_exactly() {
    let row = |q: &str| {
        format!(
            "{{\"question\": \"{q}\", \"context\": \"c\", \"answers\": {{\"text\": [\"Denver Broncos\", \"Broncos\"], \"answer_start\": [0, 7]}}}}\n"
        )
    };
    let data = row("q0") + &row("q1") + &row("q2");
    let server = answering(|prompt| {
        match prompt.split(' ').next().unwrap_or("") {
            "q0" => "the Denver Broncos.",
            "q1" => "Denver",
            _ => "Paris",
        }
        .to_string()
    });
    let dataset = "fields = { question = \"question\", expected = \"answers.text\" }";
    let (_dir, out) = run(
        &suite(&server.url, "extractive-qa", dataset, "{question} ?", 3, 2),
        &data,
    );
    let mut per_row: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for (_, _, row, metric, score, _) in scores(&out) {
        per_row.insert((row, metric), score);
    }
    let f1 = |r: &str| per_row[&(r.to_string(), "f1".to_string())];
    let em = |r: &str| per_row[&(r.to_string(), "exact_match".to_string())];
    assert_eq!((em("1"), f1("1")), (1.0, 1.0), "right after normalisation");
    // "Denver" against "Broncos" shares nothing; against "Denver Broncos": P 1, R 1/2.
    assert_eq!(em("2"), 0.0);
    assert!((f1("2") - 2.0 / 3.0).abs() < 1e-12, "{}", f1("2"));
    assert_eq!((em("3"), f1("3")), (0.0, 0.0));
    let s = summary(&out);
    assert_eq!(s["quality_metric"], "f1");
    let mean: f64 = s["quality_mean"].parse().expect("mean");
    assert!((mean - 5.0 / 9.0).abs() < 1e-12, "{mean}");
    let q = answer_quality(&out);
    assert_eq!(q["metrics"][1]["metric"], "exact_match");
    let em_mean = q["metrics"][1]["mean"].as_f64().expect("EM");
    assert!((em_mean - 1.0 / 3.0).abs() < 1e-12, "{em_mean}");
}

#[test]
fn a_dataset_without_references_is_flagged_unscored_not_zero() {
    let data = "{\"sentence\": \"s0\"}\n{\"sentence\": \"s1\"}\n";
    let server = answering(|_| "positive".to_string());
    let (_dir, out) = run(
        &suite(
            &server.url,
            "sentiment",
            "fields = { text = \"sentence\" }",
            "{text}",
            2,
            2,
        ),
        data,
    );
    let row = summary(&out);
    assert_eq!(row["quality_mean"], "", "no figure, never a 0");
    assert_eq!(row["quality_metric"], "");
    assert!(
        row["flags"].contains("quality-unscored(dataset \"d\" maps no reference answers"),
        "{}",
        row["flags"]
    );
    assert!(!out.join("request_scores.csv").exists());
}

#[test]
fn compare_fails_on_a_quality_drop_names_it_and_passes_on_itself() {
    let data: String = (0..20)
        .map(|i| format!("{{\"sentence\": \"s{i}\", \"label\": 1}}\n"))
        .collect();
    let dataset = "fields = { text = \"sentence\", expected = \"label\" }\n\
                   labels = { \"0\" = [\"negative\"], \"1\" = [\"positive\"] }";
    let good = answering(|_| "positive".to_string());
    let bad = answering(|prompt| {
        let n: u32 = prompt.trim_start_matches('s').parse().unwrap_or(0);
        if n % 2 == 0 { "positive" } else { "negative" }.to_string()
    });
    let (_a, base) = run(
        &suite(&good.url, "sentiment", dataset, "{text}", 20, 2),
        &data,
    );
    assert_eq!(
        summary(&base)["quality_unparsed_share"],
        "0.0",
        "none, not blank"
    );
    let (_b, cand) = run(
        &suite(&bad.url, "sentiment", dataset, "{text}", 20, 2),
        &data,
    );
    // Two runs' estimated energies may differ by chance: an energy threshold no run can
    // pass keeps these checks on quality alone.
    let compare = |a: &Path, b: &Path| {
        let o = joulebench()
            .arg("compare")
            .args([a, b])
            .args(["--threshold", "1000000"])
            .output()
            .expect("compare");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).to_string(),
        )
    };
    let (code, out) = compare(&base, &cand);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("| m1@d | accuracy | 100.0 (20) | 50.0 (20) | -50.00 |"),
        "{out}"
    );
    assert!(out.contains("QUALITY REGRESSION"), "{out}");
    assert!(
        out.contains(
            "quality significantly lower (p < 0.05) by more than 1 points: m1@d (accuracy)"
        ),
        "{out}"
    );
    let (code, out) = compare(&base, &base);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("| m1@d | accuracy | 100.0 (20) | 100.0 (20) | +0.00 |"),
        "{out}"
    );
    assert!(out.contains("PASS"), "{out}");
    // A baseline that did not score (taken before answers were recorded, or without
    // references) has nothing to regress from: listed, not gated.
    let unscored_dataset = "fields = { text = \"sentence\" }";
    let (_c, old) = run(
        &suite(&good.url, "sentiment", unscored_dataset, "{text}", 20, 2),
        &data,
    );
    let (code, out) = compare(&old, &base);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("| m1@d | – | – | scored | | | | not gated (scored in the candidate only) |"),
        "{out}"
    );
    // Scored with other label words: not comparable, not tested (exit 2).
    let relabelled = dataset.replace("[\"positive\"]", "[\"positive\", \"good\"]");
    let (_d, other) = run(
        &suite(&good.url, "sentiment", &relabelled, "{text}", 20, 2),
        &data,
    );
    let (code, out) = compare(&base, &other);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "NOT TESTED: scored differently: the scorer or its settings (labels, pattern) differ"
        ),
        "{out}"
    );
}
