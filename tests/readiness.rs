//! Readiness as each protocol defines it: OpenAI `/v1/models` listing the model, KServe's
//! `/v2/health/ready` and model ready URLs; a URL the server lacks stops the wait at once,
//! and `--dry-run` shows what will be polled.

use crate::common;

use common::{
    Reply, TestServer, assert_ok, dry_run_at, one_model_suite, openai_answer, run_suite, suite_dir,
};
use std::time::{Duration, Instant};

/// A one-model suite at `url` speaking `protocol`, waiting up to `ready_s` for readiness.
fn suite(protocol: &str, url: &str, ready_s: u32) -> String {
    one_model_suite(
        protocol,
        url,
        "task-specific",
        "inferences = 2\nrepetitions = 1\nwarmup = 0",
        "",
    )
    .replace(
        &format!("url = \"{url}\""),
        &format!("url = \"{url}\"\nready_timeout_seconds = {ready_s}"),
    )
}

/// Runs `suite` and returns whether it succeeded, its stderr and how long it took.
fn run(suite: &str) -> (bool, String, Duration) {
    let started = Instant::now();
    let (output, _dir, _out) = run_suite(suite, 4);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).to_string(),
        started.elapsed(),
    )
}

#[test]
fn a_404_on_the_openai_readiness_url_stops_at_once_naming_it_and_the_fix() {
    // A server like MLServer or llama-cpp-python behind a proxy: no /v1/models, no /health.
    let server = TestServer::start_exact(|_| Reply::Json(404, r#"{"detail":"Not Found"}"#.into()));
    let (ok, stderr, elapsed) = run(&suite("openai-completions", &server.url, 30));
    assert!(!ok, "{stderr}");
    assert!(
        elapsed < Duration::from_secs(10),
        "waited {elapsed:?}: {stderr}"
    );
    let url = format!("{}/v1/models", server.url);
    for says in [
        url.as_str(),
        "404",
        "openai-completions",
        "ready_url = \"...\"",
        "[servers.local]",
    ] {
        assert!(stderr.contains(says), "{says:?} missing: {stderr}");
    }
    assert_eq!(server.count("GET", "/health"), 0, "not the old default");
}

#[test]
fn an_openai_server_that_does_not_list_the_model_says_which_ids_it_listed() {
    let server = TestServer::start_exact(|r| match r.path.as_str() {
        "/v1/models" => Reply::Json(
            200,
            r#"{"object":"list","data":[{"id":"other-model"}]}"#.into(),
        ),
        _ => Reply::Json(404, "{}".into()),
    });
    let (ok, stderr, _) = run(&suite("openai-completions", &server.url, 1));
    assert!(!ok, "{stderr}");
    for says in [
        format!("{}/v1/models", server.url),
        "\"served-m1\"".into(),
        "\"other-model\"".into(),
        "served_name".into(),
    ] {
        assert!(stderr.contains(&says), "{says:?} missing: {stderr}");
    }
    assert!(server.count("GET", "/v1/models") > 1, "it kept polling");
    assert_eq!(server.bodies("/v1/completions").len(), 0, "never ready");
}

#[test]
fn an_openai_server_is_ready_once_v1_models_lists_the_model() {
    // Lists nothing while "loading" (the first two polls), then the model.
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&polls);
    let server = TestServer::start_exact(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/models") => {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let data = if n < 2 {
                "[]"
            } else {
                r#"[{"id":"other"},{"id":"served-m1","parameters":692,"active_parameters":214,
                    "weights":{"format":"q8_0","bytes":735}}]"#
            };
            Reply::Json(200, format!(r#"{{"object":"list","data":{data}}}"#))
        }
        _ => {
            let (s, b) = openai_answer(r);
            Reply::Json(s, b)
        }
    });
    let (output, _dir, out) = run_suite(&suite("openai-completions", &server.url, 30), 4);
    assert_ok(&output);
    assert_eq!(
        server.count("GET", "/v1/models"),
        3,
        "ready at the third poll"
    );
    assert_eq!(server.bodies("/v1/completions").len(), 2);
    // What the answer said of the suite's model is kept beside the server's log.
    let path = out.join("servers/local.models.json");
    let text = std::fs::read_to_string(&path).expect("servers/local.models.json");
    let facts: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(facts["url"], format!("{}/v1/models", server.url));
    let models = facts["models"].as_array().expect("models");
    assert_eq!(models.len(), 1, "only the suite's model: {text}");
    assert_eq!(models[0]["served_name"], "served-m1");
    assert_eq!(models[0]["parameters"], 692);
    assert_eq!(models[0]["active_parameters"], 214);
    assert_eq!(models[0]["weights"]["bytes"], 735);
}

#[test]
fn a_kserve_server_is_asked_its_health_then_each_models_ready_url() {
    // Server-wide ready, but the model is not served under that name.
    let server = TestServer::start_exact(|r| match r.path.as_str() {
        "/v2/health/ready" => Reply::Json(200, "{}".into()),
        _ => Reply::Json(404, r#"{"error":"Model served-m1 not found"}"#.into()),
    });
    let (ok, stderr, elapsed) = run(&suite("kserve-v2", &server.url, 30));
    assert!(!ok, "{stderr}");
    assert!(
        elapsed < Duration::from_secs(10),
        "waited {elapsed:?}: {stderr}"
    );
    assert_eq!(server.count("GET", "/v2/health/ready"), 1);
    let url = format!("{}/v2/models/served-m1/ready", server.url);
    for says in [
        url.as_str(),
        "kserve-v2",
        "served_name",
        "ready_url = \"...\"",
    ] {
        assert!(stderr.contains(says), "{says:?} missing: {stderr}");
    }
}

#[test]
fn a_refused_connection_keeps_polling_until_the_timeout_and_keeps_the_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{closed}");
    let (ok, stderr, elapsed) = run(&suite("kserve-v2", &url, 2));
    assert!(!ok, "{stderr}");
    assert!(
        elapsed >= Duration::from_secs(2),
        "gave up after {elapsed:?}"
    );
    assert!(
        stderr.contains(&format!("{url}/v2/health/ready")),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn an_explicit_ready_url_replaces_the_protocols_urls() {
    let server = TestServer::start_exact(|r| match r.path.as_str() {
        "/up" => Reply::Json(200, "{}".into()),
        _ => {
            let (s, b) = openai_answer(r);
            Reply::Json(s, b)
        }
    });
    let text = suite("openai-completions", &server.url, 30).replace(
        "ready_timeout_seconds = 30",
        &format!(
            "ready_timeout_seconds = 30\nready_url = \"{}/up\"",
            server.url
        ),
    );
    let (ok, stderr, _) = run(&text);
    assert!(ok, "{stderr}");
    assert_eq!(server.count("GET", "/up"), 1);
    assert_eq!(server.count("GET", "/v1/models"), 0);
}

#[test]
fn the_dry_run_shows_the_urls_each_server_is_polled_at() {
    let text = suite("kserve-v2", "http://127.0.0.1:9/", 30);
    let (_dir, path) = suite_dir(&text, 2);
    let (code, stdout, stderr) = dry_run_at(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "GET http://127.0.0.1:9/v2/health/ready answers 2xx, then GET http://127.0.0.1:9/v2/models/served-m1/ready answers 2xx"
        ),
        "{stdout}"
    );
    let openai = suite("openai-chat", "http://127.0.0.1:9", 30);
    let (_dir, path) = suite_dir(&openai, 2);
    let (_, stdout, _) = dry_run_at(&path);
    assert!(
        stdout.contains("GET http://127.0.0.1:9/v1/models answers 2xx listing \"served-m1\""),
        "{stdout}"
    );
}
