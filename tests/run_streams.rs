//! Streamed answers that do not behave: servers that skip `usage` and send empty chunks,
//! servers that send everything at once, servers that ignore `ignore_eos`. The run records
//! where each token count came from and what the stream looked like; the summary flags it.

use crate::common;

use common::{Reply, TestServer, assert_ok, csv_rows, measured, one_model_suite, run_suite};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCHEDULE: &str = "inferences = 3\nrepetitions = 1\nwarmup = 1";

/// Runs a one-model `openai-completions` suite (3 new tokens, pinned) against `server`;
/// returns the measured rows and the results folder (with its summary).
fn run(
    server: &TestServer,
    extra: &str,
) -> (Vec<BTreeMap<String, String>>, tempfile::TempDir, PathBuf) {
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        SCHEDULE,
        extra,
    );
    let (output, dir, out) = run_suite(&suite, 5);
    assert_ok(&output);
    let rows = measured(&out);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
    }
    (rows, dir, out)
}

/// The one row of `summary.csv` and the text of `summary.md`.
fn summary(out: &Path) -> (BTreeMap<String, String>, String) {
    let mut rows = csv_rows(&out.join("summary.csv"));
    assert_eq!(rows.len(), 1);
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    (rows.remove(0), md)
}

/// Completion chunks with `texts` (empty ones too), a bare finish chunk, optionally usage.
fn chunks(texts: &[&str], usage: Option<u64>) -> Vec<String> {
    let chunk = |text: &str, finish: Value| {
        json!({"id": "c", "object": "text_completion",
               "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}]})
        .to_string()
    };
    let mut events: Vec<String> = texts.iter().map(|t| chunk(t, Value::Null)).collect();
    events.push(chunk("", json!("length")));
    if let Some(n) = usage {
        events.push(
            json!({"id": "c", "choices": [],
            "usage": {"prompt_tokens": 6, "completion_tokens": n, "total_tokens": 6 + n}})
            .to_string(),
        );
    }
    events.push("[DONE]".into());
    events
}

fn completions(answer: impl Fn() -> Reply + Send + Sync + 'static) -> TestServer {
    TestServer::start_replies(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/health") => Reply::Json(200, "{}".into()),
        ("POST", "/v1/completions") => answer(),
        _ => Reply::Json(404, r#"{"error":"not found"}"#.into()),
    })
}

fn number(r: &BTreeMap<String, String>, column: &str) -> f64 {
    r[column]
        .parse()
        .unwrap_or_else(|e| panic!("{column} = {:?}: {e}", r[column]))
}

/// llama-cpp-python: no usage although asked, and an empty chunk for a held-back token.
#[test]
fn a_stream_without_usage_is_counted_by_its_content_events_and_flagged() {
    let server = completions(|| {
        Reply::Sse(
            chunks(&["pos", "", "itive"], None),
            Duration::from_millis(2),
        )
    });
    let (rows, _dir, out) = run(&server, "[generation]\nstream = true");
    for r in &rows {
        assert_eq!(
            (
                r["completion_tokens"].as_str(),
                r["completion_tokens_source"].as_str()
            ),
            ("3", "events"),
            "every content chunk, the empty one too: {r:?}"
        );
        assert_eq!(r["output_pinned"], "true", "3 of 3 tokens: {r:?}");
    }
    let (row, md) = summary(&out);
    assert_eq!(number(&row, "tokens_not_server_counted_share"), 1.0);
    assert!(
        row["flags"].contains("tokens-not-server-counted(3 of 3 requests, 100.0%)"),
        "{}",
        row["flags"]
    );
    assert!(
        md.contains("Output tokens not counted by the server") && md.contains("3 of 3 (100.0%)"),
        "{md}"
    );
}

/// A server that sends usage: its count is taken (not the 2 chunks with text), unflagged.
#[test]
fn a_stream_with_usage_keeps_the_server_count_and_reports_its_percentiles() {
    let server = completions(|| {
        Reply::Sse(
            chunks(&["pos", "", "itive"], Some(3)),
            Duration::from_millis(3),
        )
    });
    let (rows, _dir, out) = run(&server, "[generation]\nstream = true");
    for r in &rows {
        assert_eq!(r["completion_tokens_source"], "usage", "{r:?}");
        assert!(
            number(r, "itl_p50_ms") >= 1.0,
            "chunks 3 ms apart are no burst: {r:?}"
        );
    }
    let (row, md) = summary(&out);
    assert_eq!(number(&row, "tokens_not_server_counted_share"), 0.0);
    assert_eq!(number(&row, "bursty_stream_share"), 0.0);
    for column in [
        "ttft_ms_p50",
        "ttft_ms_p90",
        "ttft_ms_p99",
        "itl_ms_p50",
        "itl_ms_p99",
    ] {
        assert!(number(&row, column) > 0.0, "{column}");
    }
    assert!(
        !row["flags"].contains("tokens-not-server-counted"),
        "{}",
        row["flags"]
    );
    assert!(!row["flags"].contains("bursty-stream"), "{}", row["flags"]);
    assert!(
        md.contains("## Streamed requests")
            && md.contains("| TTFT p50 / p90 / p99 (ms) | ITL p50 / p90 / p99 (ms) |"),
        "{md}"
    );
}

/// Everything generated first, then every event in one write: TTFT is the whole latency
/// and the gaps are nothing.
#[test]
fn a_stream_that_arrives_all_at_the_end_is_flagged_bursty() {
    let server = completions(|| {
        std::thread::sleep(Duration::from_millis(40));
        // One write carrying every event (the server joins them with blank lines).
        Reply::Sse(
            vec![chunks(&["po", "si", "tive"], Some(3)).join("\n\ndata: ")],
            Duration::ZERO,
        )
    });
    let (rows, _dir, out) = run(&server, "[generation]\nstream = true");
    for r in &rows {
        assert!(number(r, "itl_p50_ms") < 0.05, "{r:?}");
        assert!(
            number(r, "ttft_ms") >= 0.95 * number(r, "latency_ms"),
            "{r:?}"
        );
    }
    let (row, md) = summary(&out);
    assert_eq!(number(&row, "bursty_stream_share"), 1.0);
    assert!(
        row["flags"].contains("bursty-stream(3 of 3 streamed requests, 100.0%)"),
        "{}",
        row["flags"]
    );
    assert!(
        number(&row, "ttft_ms_p50") >= 40.0,
        "the figure still shows"
    );
    assert!(
        md.contains("Bursty streams (median inter-token gap under 0.05 ms"),
        "{md}"
    );
}

/// A server that ignores `ignore_eos`/`min_tokens` and stops after one token.
#[test]
fn outputs_shorter_than_pinned_are_flagged_with_their_share() {
    let server = completions(|| {
        Reply::Json(
            200,
            json!({"id": "c", "object": "text_completion",
                   "choices": [{"index": 0, "text": "positive", "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 6, "completion_tokens": 1, "total_tokens": 7}})
            .to_string(),
        )
    });
    let (rows, _dir, out) = run(&server, "");
    assert_eq!(server.bodies("/v1/completions")[0]["ignore_eos"], true);
    for r in &rows {
        assert_eq!(
            (
                r["output_pinned"].as_str(),
                r["pin_requested"].as_str(),
                r["completion_tokens_source"].as_str()
            ),
            ("false", "true", "usage"),
            "{r:?}"
        );
    }
    let (row, md) = summary(&out);
    assert_eq!(number(&row, "output_unpinned_share"), 1.0);
    assert!(
        row["flags"].contains("output-unpinned(3 of 3 asked to be pinned, 100.0%)"),
        "{}",
        row["flags"]
    );
    assert!(
        md.contains("Outputs not pinned to the asked length"),
        "{md}"
    );
    assert!(
        !md.contains("## Streamed requests"),
        "nothing streamed: {md}"
    );
}
