//! Why a run stopped, said as it happened: a streak of one HTTP error, a server that never
//! answered (a wrong port), a launched server that exited mid-run; and every HTTP error
//! names the URL it came from (and a base URL ending in `/v1` is refused at load).

use crate::common;

use common::{
    Reply, TestServer, dry_run_at, joulebench, manifest, measured, one_model_suite, openai_answer,
    run_suite, suite_dir, wait_until,
};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

/// Exit code, stderr and `run.json`'s status and reason of a finished run.
fn ending(output: &Output, out: &Path) -> (Option<i32>, String, String, String) {
    let m = manifest(out);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).to_string(),
        m["status"].as_str().unwrap_or("").to_string(),
        m["status_reason"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn a_streak_of_one_http_error_stops_the_run_as_interrupted_naming_the_url() {
    // Answers 5 requests, then 404 to every one (as a server whose model was unloaded).
    let server = TestServer::start_replies(|r| {
        if r.method == "POST" && r.nth_post >= 5 {
            return Reply::Json(404, r#"{"error":"model not found"}"#.into());
        }
        let (s, b) = openai_answer(r);
        Reply::Json(s, b)
    });
    let schedule = "inferences = 10\nrepetitions = 20\nwarmup = 0";
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        schedule,
        "",
    );
    let (output, _dir, out) = run_suite(&suite, 5);
    let (code, stderr, status, reason) = ending(&output, &out);
    assert_eq!(code, Some(130), "interrupted, not complete: {stderr}");
    assert_eq!(status, "interrupted", "{reason}");
    let url = format!("{}/v1/completions", server.url);
    for says in ["HTTP 404", url.as_str(), "model not found", "--resume"] {
        assert!(reason.contains(says), "{says:?} missing from {reason}");
        assert!(stderr.contains(says), "{says:?} missing from {stderr}");
    }
    let rows = measured(&out);
    assert!(
        rows.len() < 40,
        "stopped early: {} requests sent",
        rows.len()
    );
}

#[test]
fn an_http_error_in_requests_csv_names_the_full_url() {
    let server = TestServer::start_replies(|r| {
        if r.method == "POST" && r.nth_post == 3 {
            return Reply::Json(500, r#"{"error":"internal"}"#.into());
        }
        let (s, b) = openai_answer(r);
        Reply::Json(s, b)
    });
    // One failure in ten is allowed, so the repetition stays valid and the run exits 0.
    let schedule = "inferences = 10\nrepetitions = 1\nwarmup = 0\nmax_failure_share = 0.2";
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        schedule,
        "",
    );
    let (output, _dir, out) = run_suite(&suite, 5);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = measured(&out);
    let failed = rows
        .iter()
        .find(|r| r["status"] == "http_error")
        .expect("one HTTP error");
    let url = format!("{}/v1/completions", server.url);
    assert!(failed["error"].contains(&url), "{failed:?}");
    assert!(failed["error"].contains("internal"), "{failed:?}");
}

#[test]
fn a_wrong_port_says_the_server_never_answered_not_resume() {
    // Readiness is asked of a live server; the requests go to a port nothing listens on.
    let health = TestServer::start_replies(|r| {
        let (s, b) = openai_answer(r);
        Reply::Json(s, b)
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{closed}");
    let suite = one_model_suite(
        "openai-completions",
        &url,
        "general-purpose",
        "inferences = 10\nrepetitions = 2\nwarmup = 0",
        "",
    )
    .replace(
        &format!("url = \"{url}\""),
        &format!("url = \"{url}\"\nready_url = \"{}/health\"", health.url),
    );
    let (output, _dir, out) = run_suite(&suite, 5);
    let (code, stderr, _status, reason) = ending(&output, &out);
    assert_ne!(code, Some(0), "{stderr}");
    for text in [&reason, &stderr] {
        assert!(text.contains("never answered"), "{text}");
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("port"), "{text}");
        assert!(
            !text.contains("resume"),
            "resuming cannot fix a port: {text}"
        );
        assert!(!text.contains("stopped answering"), "{text}");
    }
}

#[test]
fn a_launched_server_killed_mid_run_says_it_exited_mid_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data: String = (0..5)
        .map(|i| {
            format!(
                "{{\"sentence\": \"sentence number {i}\", \"label\": {}}}\n",
                i % 2
            )
        })
        .collect();
    std::fs::write(dir.path().join("data.jsonl"), data).expect("write data");
    let suite = r#"[suite]
name = "killed"

[servers.fake]
protocol = "tei-predict"
launch = ["sh", "-c", 'echo $$ > "{suite_dir}/server.pid"; exec "{joulebench}" serve --port {port} --classifier clf=tiny']
ready_timeout_seconds = 120

[[models]]
name = "clf"
task = "sentiment"
class = "task-specific"
server = "fake"

[[datasets]]
name = "sample"
task = "sentiment"
path = "data.jsonl"
fields = { text = "sentence" }

[schedule]
idle_seconds = 0
inferences = 2
repetitions = 500
warmup = 1
cooldown_seconds = 1

[probes]
sources = ["estimate"]
sample_hz = 50
"#;
    let suite_path = dir.path().join("suite.toml");
    std::fs::write(&suite_path, suite).expect("write suite");
    let out = dir.path().join("results");
    let run = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start joulebench");
    let first_rep = || {
        std::fs::read_to_string(out.join("repetitions.csv")).is_ok_and(|t| t.lines().count() > 1)
    };
    let done = wait_until(Duration::from_secs(120), first_rep);
    let pid_text = std::fs::read_to_string(dir.path().join("server.pid")).unwrap_or_default();
    let pid: libc::pid_t = pid_text.trim().parse().expect("server.pid");
    // SAFETY: kill(2) only sends a signal; no memory is shared.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    assert!(done, "repetition 1 never finished");
    let output = run.wait_with_output().expect("joulebench output");
    let (code, stderr, status, reason) = ending(&output, &out);
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(status, "interrupted", "{reason}");
    for text in [&reason, &stderr] {
        assert!(text.contains("exited mid-run"), "{text}");
        assert!(text.contains("signal: 9"), "the exit status: {text}");
        assert!(!text.contains("before it was ready"), "{text}");
        assert!(text.contains("--resume"), "{text}");
    }
}

#[test]
fn a_base_url_ending_in_v1_is_refused_at_load_with_the_root_url() {
    let suite = one_model_suite(
        "openai-completions",
        "http://127.0.0.1:8000/v1/",
        "general-purpose",
        "inferences = 10",
        "",
    );
    let (_dir, path) = suite_dir(&suite, 3);
    let (code, _, stderr) = dry_run_at(&path);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("suite.toml:6:7: key `servers.local.url`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("write the server's root URL: http://127.0.0.1:8000"),
        "{stderr}"
    );
    assert!(stderr.contains("/v1/v1/completions"), "{stderr}");
}

#[test]
fn a_wrong_port_at_readiness_keeps_the_cause_and_says_check_the_port() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{closed}");
    let suite = one_model_suite(
        "openai-completions",
        &url,
        "general-purpose",
        "inferences = 10\nrepetitions = 1\nwarmup = 0",
        "",
    )
    .replace(
        &format!("url = \"{url}\""),
        &format!("url = \"{url}\"\nready_timeout_seconds = 1"),
    );
    let (output, _dir, _out) = run_suite(&suite, 5);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{url}/v1/models")), "{stderr}");
    assert!(stderr.contains("Connection refused"), "the cause: {stderr}");
    assert!(stderr.contains("check its host and port"), "{stderr}");
}
