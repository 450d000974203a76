//! End-to-end: a server that echoes the API key (its `Authorization` header) in error and
//! answer bodies never gets the key into the results folder or onto stderr.

use crate::common;

use common::{Received, Reply, TestServer, csv_rows, manifest, one_model_suite, suite_dir};
use std::path::Path;

/// The API key the runs send; long enough to be redacted.
const KEY: &str = "sk-test-0123456789abcdef";

/// Answers /health; POSTs echo the Authorization header: the 1st of every 3 in an HTTP
/// 500 body, the 2nd in a 200 body that is no completion, the 3rd as a good completion.
fn echoing_server(always_fail: bool) -> TestServer {
    TestServer::start_replies(move |r: &Received| {
        if r.method == "GET" {
            let (status, body) = common::readiness_answer(r).unwrap_or((200, "{}".into()));
            return Reply::Json(status, body);
        }
        let auth = r.authorization.clone().unwrap_or_default();
        match (always_fail, r.nth_post % 3) {
            (true, _) | (false, 0) => Reply::Json(
                500,
                serde_json::json!({ "error": format!("rejected, you sent Authorization: {auth}") })
                    .to_string(),
            ),
            (false, 1) => Reply::Json(
                200,
                serde_json::json!({ "echo": { "authorization": auth } }).to_string(),
            ),
            _ => {
                let (status, body) = common::openai_completion(3);
                Reply::Json(status, body)
            }
        }
    })
}

/// A one-model suite against `url` whose server sends the key of `JB_TEST_API_KEY`.
fn suite(url: &str, schedule: &str) -> String {
    one_model_suite("openai-completions", url, "general-purpose", schedule, "").replace(
        &format!("url = \"{url}\""),
        &format!("url = \"{url}\"\napi_key_env = \"JB_TEST_API_KEY\""),
    )
}

/// Runs the suite with the key set; returns (exit code, stderr, results folder, temp dir).
fn run_with_key(suite: &str) -> (Option<i32>, String, std::path::PathBuf, tempfile::TempDir) {
    let (dir, path) = suite_dir(suite, 6);
    let out = dir.path().join("results");
    let output = common::joulebench()
        .args(["run", "--quiet", "-v", "--out"])
        .arg(&out)
        .arg(&path)
        .env("JB_TEST_API_KEY", KEY)
        .output()
        .expect("run joulebench");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output.status.code(), stderr, out, dir)
}

/// Every file under `dir` that contains the key.
fn files_with_key(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(KEY))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn an_echoed_api_key_is_redacted_from_records_and_stderr() {
    let server = echoing_server(false);
    let (code, stderr, out, _dir) = run_with_key(&suite(
        &server.url,
        "inferences = 6\nrepetitions = 1\nwarmup = 0",
    ));
    assert!(
        server
            .received
            .lock()
            .expect("lock")
            .iter()
            .any(|r| r.authorization.as_deref() == Some(&format!("Bearer {KEY}"))),
        "the key is sent"
    );
    assert!(code.is_some(), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");
    assert_eq!(files_with_key(&out), Vec::<String>::new());
    let rows = common::measured(&out);
    assert_eq!(rows.len(), 6, "{stderr}");
    let errors: Vec<&str> = rows
        .iter()
        .filter(|r| r["status"] != "ok")
        .map(|r| r["error"].as_str())
        .collect();
    assert_eq!(errors.len(), 4, "{rows:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("Bearer [redacted]") && !e.is_empty()),
        "the errors are kept, the key cut: {errors:?}"
    );
    assert!(
        rows.iter().any(|r| r["http_status"] == "500"),
        "the HTTP error is recorded: {rows:?}"
    );
}

#[test]
fn a_run_failed_by_an_echoing_server_keeps_the_key_out_of_run_json_and_exits_1() {
    let server = echoing_server(true);
    let (code, stderr, out, _dir) = run_with_key(&suite(
        &server.url,
        "inferences = 2\nrepetitions = 1\nwarmup = 2",
    ));
    assert_eq!(code, Some(1), "a run that started and failed: {stderr}");
    assert!(stderr.contains("warm-up requests failed"), "{stderr}");
    assert!(stderr.contains("Bearer [redacted]"), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");
    let m = manifest(&out);
    assert_eq!(m["status"], "failed");
    let reason = m["status_reason"].as_str().unwrap_or("");
    assert!(reason.contains("Bearer [redacted]"), "{m}");
    assert_eq!(files_with_key(&out), Vec::<String>::new());
    let warmups = csv_rows(&out.join("requests.csv"));
    assert_eq!(warmups.len(), 2);
    assert!(warmups.iter().all(|r| r["error"].contains("[redacted]")));
}

#[test]
fn a_key_too_short_to_redact_is_warned_about() {
    let server = common::openai_server();
    let (dir, path) = suite_dir(
        &suite(&server.url, "inferences = 1\nrepetitions = 1\nwarmup = 0"),
        2,
    );
    let output = common::joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("results"))
        .arg(&path)
        .env("JB_TEST_API_KEY", "k3y")
        .output()
        .expect("run joulebench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("server `local` (JB_TEST_API_KEY) has 3 characters")
            && stderr.contains("not redacted"),
        "{stderr}"
    );
}
