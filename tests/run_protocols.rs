//! End-to-end through the runner: one loopback server per protocol, speaking its public
//! wire format; the request bodies it receives and the records the run writes are checked.

use crate::common;

use common::{Reply, TestServer, assert_ok, measured, one_model_suite, run_suite, run_suite_ok};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const SCHEDULE: &str = "inferences = 3\nrepetitions = 1\nwarmup = 1";

/// Runs a one-model suite against `server`; asserts success and returns the measured rows.
fn run_ok(
    server: &TestServer,
    protocol: &str,
    class: &str,
    extra: &str,
) -> Vec<BTreeMap<String, String>> {
    let suite = one_model_suite(protocol, &server.url, class, SCHEDULE, extra);
    let (output, _dir, out) = run_suite(&suite, 5);
    assert_ok(&output);
    assert!(
        output.stderr.is_empty(),
        "--quiet shows no progress: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = measured(&out);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
    }
    rows
}

fn health_or(r: &common::Received, path: &str, answer: impl FnOnce() -> Reply) -> Reply {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/health") => Reply::Json(200, "{}".into()),
        ("POST", p) if p == path => answer(),
        _ => Reply::Json(404, r#"{"error":"not found"}"#.into()),
    }
}

#[test]
fn openai_chat_sends_messages_and_reads_content_and_usage() {
    let server = TestServer::start_replies(|r| {
        health_or(r, "/v1/chat/completions", || {
            Reply::Json(200, json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "served-m1",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "positive"}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
            }).to_string())
        })
    });
    let rows = run_ok(&server, "openai-chat", "general-purpose", "");
    let body = &server.bodies("/v1/chat/completions")[0];
    assert_eq!(body["model"], "served-m1");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "sentiment? sentence number 0"}])
    );
    assert_eq!(
        (body["max_tokens"].clone(), body["stream"].clone()),
        (json!(3), json!(false))
    );
    assert_eq!(
        (
            rows[0]["output_chars"].as_str(),
            rows[0]["completion_tokens"].as_str()
        ),
        ("8", "3")
    );
    assert_eq!(rows[0]["prompt_tokens"], "9");
    assert_eq!(rows[0]["output_pinned"], "true");
    assert_eq!(rows[0]["ttft_ms"], "", "no stream, no time to first token");
}

/// OpenAI stream chunks (completions or chat) for `tokens`, then usage and `[DONE]`.
fn stream_events(chat: bool, tokens: &[&str], usage: bool) -> Vec<String> {
    let mut events: Vec<String> = Vec::new();
    if chat {
        events.push(json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}).to_string());
    }
    for (i, t) in tokens.iter().enumerate() {
        let finish = if i + 1 == tokens.len() {
            json!("length")
        } else {
            Value::Null
        };
        events.push(if chat {
            json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": finish}]})
        } else {
            json!({"id": "c", "object": "text_completion", "choices": [{"index": 0, "text": t, "logprobs": null, "finish_reason": finish}]})
        }.to_string());
    }
    if usage {
        events.push(json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": tokens.len(), "total_tokens": 6 + tokens.len()}}).to_string());
    }
    events.push("[DONE]".into());
    events
}

#[test]
fn openai_completions_stream_gives_time_to_first_token_and_usage() {
    let server = TestServer::start_replies(|r| {
        health_or(r, "/v1/completions", || {
            Reply::Sse(
                stream_events(false, &["pos", "it", "ive"], true),
                Duration::from_millis(2),
            )
        })
    });
    let rows = run_ok(
        &server,
        "openai-completions",
        "general-purpose",
        "[generation]\nstream = true",
    );
    let body = &server.bodies("/v1/completions")[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    for r in &rows {
        assert_eq!(
            (r["output_chars"].as_str(), r["completion_tokens"].as_str()),
            ("8", "3")
        );
        assert_eq!(r["prompt_tokens"], "6");
        let ttft: f64 = r["ttft_ms"].parse().expect("ttft recorded");
        let latency: f64 = r["latency_ms"].parse().expect("latency");
        assert!(
            ttft >= 2.0 && ttft < latency,
            "ttft {ttft} within latency {latency}"
        );
    }
}

#[test]
fn openai_chat_stream_without_usage_counts_chunks() {
    let server = TestServer::start_replies(|r| {
        health_or(r, "/v1/chat/completions", || {
            Reply::Sse(
                stream_events(true, &["a", "b", "c", "d"], false),
                Duration::from_millis(1),
            )
        })
    });
    let rows = run_ok(
        &server,
        "openai-chat",
        "general-purpose",
        "[generation]\nstream = true",
    );
    assert_eq!(server.bodies("/v1/chat/completions")[0]["stream"], true);
    assert_eq!(
        (
            rows[0]["output_chars"].as_str(),
            rows[0]["completion_tokens"].as_str()
        ),
        ("4", "4")
    );
    assert_eq!(rows[0]["prompt_tokens"], "");
    assert!(rows[0]["ttft_ms"].parse::<f64>().is_ok());
}

#[test]
fn tgi_generate_reads_generated_text_and_token_count() {
    let server = TestServer::start_replies(|r| {
        health_or(r, "/generate", || {
            Reply::Json(200, json!({"generated_text": "positive", "details": {
                "finish_reason": "length", "generated_tokens": 3, "seed": null, "prefill": [], "tokens": []}}).to_string())
        })
    });
    let rows = run_ok(&server, "tgi-generate", "general-purpose", "");
    let body = &server.bodies("/generate")[0];
    assert_eq!(body["inputs"], "sentiment? sentence number 0");
    assert_eq!(
        body["parameters"],
        json!({"details": true, "max_new_tokens": 3, "do_sample": false})
    );
    assert_eq!(
        (
            rows[0]["output_chars"].as_str(),
            rows[0]["completion_tokens"].as_str()
        ),
        ("8", "3")
    );
    assert_eq!(
        rows[0]["output_pinned"], "false",
        "TGI cannot pin the length"
    );
}

/// TGI `/generate_stream` events for `tokens` (text, special); the last carries
/// `generated_text` and, with `details`, the token count.
fn tgi_stream_events(tokens: &[(&str, bool)], details: bool) -> Vec<String> {
    let text: String = tokens
        .iter()
        .filter(|(_, special)| !special)
        .map(|(t, _)| *t)
        .collect();
    tokens
        .iter()
        .enumerate()
        .map(|(i, (t, special))| {
            let last = i + 1 == tokens.len();
            json!({
                "index": i + 1,
                "token": {"id": 10 + i, "text": t, "logprob": -0.25, "special": special},
                "generated_text": if last { json!(text) } else { Value::Null },
                "details": if last && details {
                    json!({"finish_reason": "eos_token", "generated_tokens": tokens.len(), "seed": null})
                } else {
                    Value::Null
                },
            })
            .to_string()
        })
        .collect()
}

#[test]
fn tgi_generate_stream_times_tokens_and_reads_the_last_event() {
    const GAP_MS: u64 = 5;
    let server = TestServer::start_replies(|r| {
        health_or(r, "/generate_stream", || {
            Reply::Sse(
                tgi_stream_events(
                    &[
                        ("pos", false),
                        ("it", false),
                        ("ive", false),
                        ("</s>", true),
                    ],
                    true,
                ),
                Duration::from_millis(GAP_MS),
            )
        })
    });
    let rows = run_ok(
        &server,
        "tgi-generate",
        "general-purpose",
        "[generation]\nstream = true",
    );
    assert_eq!(
        (
            server.count("POST", "/generate_stream"),
            server.count("POST", "/generate")
        ),
        (4, 0),
        "3 measured + 1 warm-up, all streamed"
    );
    assert_eq!(
        server.bodies("/generate_stream")[0],
        json!({"inputs": "sentiment? sentence number 0",
               "parameters": {"details": true, "max_new_tokens": 3, "do_sample": false}})
    );
    for r in &rows {
        assert_eq!(
            (r["output_chars"].as_str(), r["completion_tokens"].as_str()),
            ("8", "4"),
            "the text of generated_text, the count of details (end of sequence included)"
        );
        assert_eq!(r["output_pinned"], "false");
        let ttft: f64 = r["ttft_ms"].parse().expect("ttft recorded");
        let itl: f64 = r["itl_ms"].parse().expect("itl recorded");
        let latency: f64 = r["latency_ms"].parse().expect("latency");
        assert!(
            ttft >= GAP_MS as f64,
            "the first token came after one gap: {ttft}"
        );
        assert!(itl > 0.0, "{itl}");
        assert!(
            ttft + 2.0 * itl <= latency + 0.01,
            "the third text token ({ttft} + 2 × {itl}) arrived within the latency {latency}"
        );
    }
}

#[test]
fn tgi_stream_errors_and_truncations_are_bad_responses() {
    let server = TestServer::start_replies(|r| {
        health_or(r, "/generate_stream", || {
            let mut events = tgi_stream_events(&[("a", false), ("b", false)], false);
            match r.nth_post {
                1 => {
                    events[1] = json!({"error": "Request failed during generation: out of memory",
                                       "error_type": "generation"})
                    .to_string();
                }
                2 => {
                    events.pop();
                }
                _ => {}
            }
            Reply::Sse(events, Duration::ZERO)
        })
    });
    let suite = one_model_suite(
        "tgi-generate",
        &server.url,
        "general-purpose",
        "inferences = 4\nrepetitions = 1\nwarmup = 0",
        "[generation]\nstream = true",
    );
    let (output, _dir, out) = run_suite(&suite, 5);
    // 2 of 4 failed: the only repetition is invalid, so the run exits 3.
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = measured(&out);
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["ok", "bad_response", "bad_response", "ok"]);
    assert!(
        rows[1]["error"].contains("out of memory") && rows[1]["error"].contains("generation"),
        "{:?}",
        rows[1]
    );
    assert!(
        rows[2]["error"].contains("before the event with `generated_text`"),
        "{:?}",
        rows[2]
    );
    assert_eq!(rows[2]["http_status"], "200");
    assert_eq!(
        (
            rows[0]["completion_tokens"].as_str(),
            rows[0]["output_chars"].as_str()
        ),
        ("2", "2"),
        "without details the token events are counted"
    );
}

/// A streamed suite against the reference server's tiny generator, launched by the run.
fn reference_stream_suite(
    protocol: &str,
    model: &str,
    max_tokens: u32,
    pin: bool,
    inferences: u32,
    warmup: u32,
) -> String {
    format!(
        r#"[suite]
name = "stream"

[servers.reference]
protocol = "{protocol}"
launch = ["{{joulebench}}", "serve", "--port", "{{port}}", "--generator", "tiny"]
ready_timeout_seconds = 60

[[models]]
name = "{model}"
task = "sentiment"
class = "general-purpose"
server = "reference"

{sample}
[generation]
stream = true
pin_output_length = {pin}

[schedule]
inferences = {inferences}
repetitions = 1
warmup = {warmup}
idle_seconds = 0
cooldown_seconds = 0

[probes]
sources = ["estimate"]
"#,
        sample = common::sample_sentiment_toml("sentiment? {text}", max_tokens)
    )
}

#[test]
fn tgi_stream_from_the_reference_server() {
    let suite = &reference_stream_suite("tgi-generate", "tiny", 4, false, 3, 1);
    let (_dir, out) = run_suite_ok(suite, 3);
    let rows = measured(&out);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
        let tokens: u64 = r["completion_tokens"].parse().expect("token count");
        assert!((1..=4).contains(&tokens), "{r:?}");
        let ttft: f64 = r["ttft_ms"].parse().expect("streamed: time to first token");
        let latency: f64 = r["latency_ms"].parse().expect("latency");
        assert!(ttft > 0.0 && ttft <= latency + 0.01, "{r:?}");
    }
}

#[test]
fn tei_predict_and_embed_read_labels_and_vectors() {
    let server = TestServer::start_replies(|r| match r.path.as_str() {
        "/predict" => Reply::Json(
            200,
            r#"[{"score":0.99,"label":"POSITIVE"},{"score":0.01,"label":"NEGATIVE"}]"#.into(),
        ),
        "/embed" => Reply::Json(200, "[[0.1,-0.2,0.3,0.4]]".into()),
        _ => Reply::Json(200, "{}".into()),
    });
    let rows = run_ok(&server, "tei-predict", "task-specific", "");
    assert_eq!(
        server.bodies("/predict")[1],
        json!({"inputs": "sentence number 0"})
    );
    assert_eq!(rows[0]["output_chars"], "16");
    let rows = run_ok(&server, "tei-embed", "task-specific", "");
    assert_eq!(
        server.bodies("/embed")[0],
        json!({"inputs": "sentence number 0"})
    );
    assert_eq!(rows[2]["output_chars"], "4");
}

#[test]
fn kserve_v2_sends_a_bytes_tensor_and_reads_outputs() {
    let server = TestServer::start_replies(|r| {
        health_or(r, "/v2/models/served-m1/infer", || {
            Reply::Json(
                200,
                json!({"model_name": "served-m1", "model_version": "1", "outputs": [
                {"name": "label", "shape": [1], "datatype": "BYTES", "data": ["POSITIVE"]}]})
                .to_string(),
            )
        })
    });
    let rows = run_ok(&server, "kserve-v2", "task-specific", "");
    let body = &server.bodies("/v2/models/served-m1/infer")[0];
    assert_eq!(
        body["inputs"],
        json!([{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["sentence number 0"]}])
    );
    assert_eq!(rows[0]["output_chars"], "8");
}

#[test]
fn json_template_fills_escaped_placeholders_and_follows_pointers() {
    let server = TestServer::start_replies(|r| {
        health_or(r, "/custom/infer", || {
            Reply::Json(
                200,
                json!({"result": {"labels": ["yes", "no"]}, "usage": {"in": 5, "out": 2}})
                    .to_string(),
            )
        })
    });
    let extra = r#"[servers.local.json_template]
path = "/custom/infer"
body = '{"q": "{prompt}", "raw": "{sentence}", "label": "{label}", "model": "{model}", "n": "{max_tokens}"}'
output = "/result/labels"
prompt_tokens = "/usage/in"
completion_tokens = "/usage/out"
"#;
    let rows = run_ok(&server, "json-template", "general-purpose", extra);
    let body = &server.bodies("/custom/infer")[0];
    assert_eq!(
        body,
        &json!({"q": "sentiment? sentence number 0", "raw": "sentence number 0", "label": "0", "model": "served-m1", "n": 3})
    );
    assert_eq!(
        (
            rows[0]["output_chars"].as_str(),
            rows[0]["prompt_tokens"].as_str()
        ),
        ("5", "5")
    );
    assert_eq!(rows[0]["completion_tokens"], "2");
}

#[test]
fn the_api_key_is_sent_as_a_bearer_token_and_written_nowhere() {
    let server = TestServer::start_replies(|r| {
        if r.method == "POST" && r.authorization.as_deref() != Some("Bearer sk-test-5ecret") {
            return Reply::Json(401, r#"{"error":"unauthorized"}"#.into());
        }
        let (s, b) = common::openai_answer(r);
        Reply::Json(s, b)
    });
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        SCHEDULE,
        "",
    )
    .replace(
        "[[models]]",
        "api_key_env = \"JOULEBENCH_TEST_KEY\"\n\n[[models]]",
    );
    let (dir, suite_path) = common::suite_dir(&suite, 5);
    let out = dir.path().join("results");
    let output = common::joulebench()
        .env("JOULEBENCH_TEST_KEY", "sk-test-5ecret")
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .output()
        .expect("run joulebench");
    assert_ok(&output);
    assert!(
        measured(&out).iter().all(|r| r["status"] == "ok"),
        "every request was authorised"
    );
    for entry in std::fs::read_dir(&out).expect("run folder").flatten() {
        if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).expect("read");
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("5ecret"),
                "{} holds the key",
                entry.path().display()
            );
        }
    }
    let missing = common::joulebench()
        .env_remove("JOULEBENCH_TEST_KEY")
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("again"))
        .arg(&suite_path)
        .output()
        .expect("run joulebench");
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("JOULEBENCH_TEST_KEY") && err.contains("not set"),
        "{err}"
    );
}

#[test]
fn reference_server_streams_tokens_as_they_are_made_on_kept_alive_connections() {
    // With Nagle's algorithm on, a kept-alive connection gets every event of an answer in
    // one burst ~40 ms late: time to first token would equal the latency.
    let suite = &reference_stream_suite("openai-completions", "generator-tiny", 16, true, 8, 2);
    let (_dir, out) = run_suite_ok(suite, 8);
    let rows = measured(&out);
    assert_eq!(rows.len(), 8);
    // Time to first token against the mean gap between later tokens: about one to two
    // gaps when events leave as tokens are made, ~40 ms (many gaps) when held back.
    let mut ratios: Vec<f64> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["completion_tokens"], "16", "{r:?}");
            let ttft: f64 = r["ttft_ms"].parse().expect("streamed");
            let itl: f64 = r["itl_ms"].parse().expect("inter-token latency");
            ttft / itl
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    assert!(
        ratios[ratios.len() / 2] < 4.0,
        "the first token is not held back: ttft / itl {ratios:?}"
    );
}
