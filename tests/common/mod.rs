//! A loopback HTTP/1.1 test server that answers like a model server and counts what it gets,
//! and helpers to write suites and read the CSVs a run leaves.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Body as JSON (Null when empty or not JSON).
    pub body: serde_json::Value,
    /// 0-based position among the POSTs the server received.
    pub nth_post: usize,
    /// The `authorization` header, when sent.
    pub authorization: Option<String>,
}

/// Status and JSON body of an answer.
pub type Answer = (u16, String);

/// How the server answers one request.
pub enum Reply {
    /// A JSON body with a content-length.
    Json(u16, String),
    /// `text/event-stream`, chunked, one chunk per event (`data: ...\n\n`), each flushed
    /// after `gap`.
    Sse(Vec<String>, Duration),
    /// Waits this long, then answers (to exceed a client's timeout).
    Stall(Duration, u16, String),
    /// Closes the connection without answering.
    Close,
}

/// A gate that holds POSTs from a given one on until it is opened.
#[derive(Default)]
pub struct Gate {
    hold_from: Mutex<Option<usize>>,
    opened: Condvar,
}

impl Gate {
    /// Holds every POST whose position is `n` or later.
    pub fn hold_from(&self, n: usize) {
        *self.hold_from.lock().expect("lock") = Some(n);
    }

    /// Lets every held and later POST through.
    pub fn open(&self) {
        *self.hold_from.lock().expect("lock") = None;
        self.opened.notify_all();
    }

    fn wait(&self, nth: usize) {
        let mut held = self.hold_from.lock().expect("lock");
        // Bounded: a forgotten gate cannot hang the test suite.
        let deadline = Instant::now() + Duration::from_secs(20);
        while held.is_some_and(|n| nth >= n) && Instant::now() < deadline {
            held = self
                .opened
                .wait_timeout(held, Duration::from_millis(100))
                .expect("lock")
                .0;
        }
    }
}

/// A server on 127.0.0.1 answering every request with `reply(request)`.
pub struct TestServer {
    /// Base URL.
    pub url: String,
    /// Everything received, in order.
    pub received: Arc<Mutex<Vec<Received>>>,
    /// POSTs received so far (counted before answering).
    pub posts: Arc<AtomicUsize>,
    /// Holds POSTs when asked to.
    pub gate: Arc<Gate>,
    /// Once set, every connection is closed at once (the server "died").
    pub dead: Arc<AtomicBool>,
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

impl TestServer {
    /// Starts a server answering with JSON; it runs until the test process ends.
    pub fn start(answer: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Self {
        Self::start_replies(move |r| {
            let (status, body) = answer(r);
            Reply::Json(status, body)
        })
    }

    /// Starts a server with full control over each reply, except that a 404 to a
    /// protocol's readiness URL (`GET /v1/models`, `/v2/health/ready`,
    /// `/v2/models/NAME/ready`) becomes the ready answer of [`readiness_answer`].
    pub fn start_replies(reply: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(true, reply)
    }

    /// Starts a server answering exactly `reply(request)`, readiness URLs included.
    pub fn start_exact(reply: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(false, reply)
    }

    fn start_with(
        readiness: bool,
        reply: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = Self {
            url,
            received: Arc::new(Mutex::new(Vec::new())),
            posts: Arc::new(AtomicUsize::new(0)),
            gate: Arc::new(Gate::default()),
            dead: Arc::new(AtomicBool::new(false)),
        };
        let shared = Shared {
            log: Arc::clone(&server.received),
            posts: Arc::clone(&server.posts),
            gate: Arc::clone(&server.gate),
            dead: Arc::clone(&server.dead),
            reply: Arc::new(reply),
            readiness,
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        server
    }

    /// Requests received on `path` with `method`.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Waits (bounded) until `n` POSTs have arrived; false on timeout.
    pub fn wait_for_posts(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.posts.load(Ordering::SeqCst) < n {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// The POST bodies received on `path`.
    pub fn bodies(&self, path: &str) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .map(|r| r.body.clone())
            .collect()
    }
}

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Received>>>,
    posts: Arc<AtomicUsize>,
    gate: Arc<Gate>,
    dead: Arc<AtomicBool>,
    reply: Arc<Handler>,
    /// Whether a 404 to a readiness URL becomes [`readiness_answer`].
    readiness: bool,
}

/// The served names the tests' suites use, listed by a fake's `GET /v1/models`.
pub const FAKE_MODELS: &[&str] = &[
    "served-m1",
    "m1",
    "served-good",
    "served-bad",
    "good",
    "bad",
    "t5",
    "bloom",
    "clf",
    "tiny-gen",
    "m",
    "a",
    "b",
    "c",
    "m2",
    "m3",
    "m-small",
    "m-mid",
    "m-big",
    "m-unknown",
];

/// A server's ready answer to a protocol's readiness URL (OpenAI `/v1/models` listing
/// [`FAKE_MODELS`], KServe's health and model ready URLs); `None` for other requests.
pub fn readiness_answer(r: &Received) -> Option<Answer> {
    let kserve_model = r
        .path
        .strip_prefix("/v2/models/")
        .is_some_and(|rest| rest.ends_with("/ready"));
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/models") => {
            let data: Vec<serde_json::Value> = FAKE_MODELS
                .iter()
                .map(|id| serde_json::json!({"id": id, "object": "model"}))
                .collect();
            Some((
                200,
                serde_json::json!({"object": "list", "data": data}).to_string(),
            ))
        }
        ("GET", "/v2/health/ready") => Some((200, "{}".into())),
        ("GET", _) if kserve_model => Some((200, "{}".into())),
        _ => None,
    }
}

/// An OpenAI completions answer with usage.
pub fn openai_completion(max_tokens: u64) -> Answer {
    let body = serde_json::json!({
        "id": "cmpl-1", "object": "text_completion", "created": 0, "model": "m",
        "choices": [{"text": "word ".repeat(max_tokens as usize), "index": 0, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": max_tokens, "total_tokens": 7 + max_tokens}
    });
    (200, body.to_string())
}

/// Answers /health with 200 and POST /v1/completions like an OpenAI server.
pub fn openai_server() -> TestServer {
    TestServer::start(openai_answer)
}

/// The answer of [`openai_server`].
pub fn openai_answer(r: &Received) -> Answer {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/health") => (200, "{}".into()),
        ("POST", "/v1/completions") => {
            openai_completion(r.body["max_tokens"].as_u64().unwrap_or(16))
        }
        _ => (404, r#"{"error":"not found"}"#.into()),
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    // Each write goes out at once: with Nagle's algorithm a small SSE chunk waits for the
    // client's delayed ACK (40 ms), and the stream's events arrive in one burst.
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || shared.dead.load(Ordering::SeqCst) {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let nth_post = if method == "POST" {
            shared.posts.fetch_add(1, Ordering::SeqCst)
        } else {
            0
        };
        let received = Received {
            method,
            path,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            nth_post,
            authorization: headers.get("authorization").cloned(),
        };
        if received.method == "POST" {
            shared.gate.wait(nth_post);
        }
        if shared.dead.load(Ordering::SeqCst) {
            return;
        }
        let mut reply = (shared.reply)(&received);
        if shared.readiness && matches!(reply, Reply::Json(404, _)) {
            if let Some((status, body)) = readiness_answer(&received) {
                reply = Reply::Json(status, body);
            }
        }
        shared.log.lock().expect("lock").push(received);
        if !write_reply(&mut writer, reply) {
            return;
        }
    }
}

/// Writes one reply; false when the connection must close.
fn write_reply(w: &mut TcpStream, reply: Reply) -> bool {
    let json = |w: &mut TcpStream, status: u16, text: &str| {
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        w.write_all(response.as_bytes()).is_ok()
    };
    match reply {
        Reply::Json(status, text) => json(w, status, &text),
        Reply::Stall(wait, status, text) => {
            std::thread::sleep(wait);
            json(w, status, &text)
        }
        Reply::Close => false,
        Reply::Sse(events, gap) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            if w.write_all(head.as_bytes()).is_err() {
                return false;
            }
            for e in events {
                std::thread::sleep(gap);
                let data = format!("data: {e}\n\n");
                let chunk = format!("{:x}\r\n{data}\r\n", data.len());
                if w.write_all(chunk.as_bytes())
                    .and_then(|()| w.flush())
                    .is_err()
                {
                    return false;
                }
            }
            w.write_all(b"0\r\n\r\n").is_ok()
        }
    }
}

/// The built binary.
pub fn joulebench() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_joulebench"))
}

/// A temp folder holding `suite.toml` (from `suite`) and `data.jsonl` with `rows` rows.
pub fn suite_dir(suite: &str, rows: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data: String = (0..rows)
        .map(|i| {
            format!(
                "{{\"sentence\": \"sentence number {i}\", \"label\": {}}}\n",
                i % 2
            )
        })
        .collect();
    std::fs::write(dir.path().join("data.jsonl"), data).expect("write data");
    let path = dir.path().join("suite.toml");
    std::fs::write(&path, suite).expect("write suite");
    (dir, path)
}

/// A one-model suite against `url` speaking `protocol`; `extra` is appended verbatim
/// (e.g. `[generation]` or `[servers.local.json_template]`).
pub fn one_model_suite(
    protocol: &str,
    url: &str,
    class: &str,
    schedule: &str,
    extra: &str,
) -> String {
    format!(
        r#"[suite]
name = "e2e"

[servers.local]
protocol = "{protocol}"
url = "{url}"

[[models]]
name = "m1"
served_name = "served-m1"
task = "sentiment"
class = "{class}"
server = "local"

{sample}
[schedule]
idle_seconds = 0
cooldown_seconds = 0
{schedule}

[probes]
sources = ["estimate"]
sample_hz = 50

{extra}
"#,
        sample = sample_sentiment_toml("sentiment? {text}", 3)
    )
}

/// The `[[datasets]]` table "sample" (`data.jsonl`, sentiment) and `[tasks.sentiment]`.
pub fn sample_sentiment_toml(prompt: &str, max_tokens: impl std::fmt::Display) -> String {
    format!(
        "[[datasets]]\nname = \"sample\"\ntask = \"sentiment\"\npath = \"data.jsonl\"\n\
         fields = {{ text = \"sentence\" }}\n\n[tasks.sentiment]\nprompt = \"{prompt}\"\n\
         max_tokens = {max_tokens}\n"
    )
}

/// Runs `joulebench run --quiet --out DIR SUITE`; returns the output and DIR.
pub fn run_suite(suite: &str, rows: usize) -> (std::process::Output, tempfile::TempDir, PathBuf) {
    let (dir, suite_path) = suite_dir(suite, rows);
    let (output, out) = run_in(dir.path(), &suite_path);
    (output, dir, out)
}

/// Runs `joulebench run --quiet --out DIR/results SUITE` (a panic fails the test); returns the output and DIR/results.
pub fn run_in(dir: &Path, suite_path: &Path) -> (std::process::Output, PathBuf) {
    let out = dir.join("results");
    let output = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(suite_path)
        .output()
        .expect("run joulebench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output, out)
}

/// Runs `suite` in this process through [`harness::run::run_on`] (results in `out`), its
/// probes opened with `gpus` as their NVML library and power limits set through `power`:
/// fake devices at their real interfaces.
pub fn run_on_devices(
    suite: &harness::suite::Suite,
    out: &Path,
    gpus: Option<probes::nvml::fake::FakeLibrary>,
    power: &harness::run::PowerControl<'_>,
) -> Result<harness::run::RunResult, harness::run::RunError> {
    let opts = harness::run::RunOptions {
        out: Some(out.to_path_buf()),
        quiet: true,
        version: "test".into(),
        git_revision: None,
        joulebench_exe: PathBuf::from(env!("CARGO_BIN_EXE_joulebench")),
        shard: None,
    };
    let clock = probes::MonotonicClock::new();
    let config = harness::probe_setup::probe_config(&suite.probes);
    let library = gpus.map(|g| Box::new(g) as Box<dyn probes::nvml::GpuLibrary>);
    let probe_set = probes::discover_with(&config, &clock, library);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(harness::run::run_on(
        suite,
        &suite.plan,
        &opts,
        clock,
        &probe_set,
        power,
    ))
}

/// Asserts that a `joulebench` command exited with success, showing its stderr when not.
#[track_caller]
pub fn assert_ok(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// [`run_suite`] that asserts the run succeeded; returns the temp folder and the results folder.
#[track_caller]
pub fn run_suite_ok(suite: &str, rows: usize) -> (tempfile::TempDir, PathBuf) {
    let (output, dir, out) = run_suite(suite, rows);
    assert_ok(&output);
    (dir, out)
}

/// [`run_in`] that asserts the run succeeded; returns the results folder.
#[track_caller]
pub fn run_in_ok(dir: &Path, suite_path: &Path) -> PathBuf {
    let (output, out) = run_in(dir, suite_path);
    assert_ok(&output);
    out
}

/// Runs `joulebench run --quiet --resume OUT` (a panic fails the test); returns the output and its stderr.
pub fn resume(out: &Path) -> (std::process::Output, String) {
    let output = joulebench()
        .args(["run", "--quiet", "--resume"])
        .arg(out)
        .output()
        .expect("run joulebench");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output, stderr)
}

/// [`resume`] that asserts the run succeeded.
#[track_caller]
pub fn resume_ok(out: &Path) {
    assert_ok(&resume(out).0);
}

/// `joulebench run --dry-run SUITE` (a panic fails the test): exit code, stdout, stderr.
pub fn dry_run_at(suite_path: &Path) -> (i32, String, String) {
    let output = joulebench()
        .args(["run", "--dry-run"])
        .arg(suite_path)
        .output()
        .expect("run joulebench");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        stderr,
    )
}

/// The dry-run plan of every suite in `suites/SUBDIR`: each suite's path and its
/// standard output, after checking that each exits 0.
pub fn dry_run_each_suite_in(subdir: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("suites")
        .join(subdir);
    let mut plans = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("suite folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let (code, stdout, stderr) = dry_run_at(&path);
        assert_eq!(code, 0, "{}: {stdout}{stderr}", path.display());
        plans.push((path, stdout));
    }
    plans
}

/// The `[schedule]` table (no idle, no cool-down) and `[probes]` with the estimate at 50 Hz.
pub fn schedule_and_probes(inferences: usize, repetitions: usize, warmup: usize) -> String {
    format!(
        "[schedule]\ninferences = {inferences}\nrepetitions = {repetitions}\nwarmup = {warmup}\n\
         idle_seconds = 0\ncooldown_seconds = 0\n\n[probes]\nsources = [\"estimate\"]\nsample_hz = 50\n"
    )
}

/// Rows of a CSV file as header → value maps; a ragged or torn row fails the test.
pub fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends mid-row",
        path.display()
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{}: torn or ragged row: {e}", path.display()));
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The measured rows of `requests.csv` in a run folder.
pub fn measured(out: &Path) -> Vec<BTreeMap<String, String>> {
    csv_rows(&out.join("requests.csv"))
        .into_iter()
        .filter(|r| r["phase"] == "measured")
        .collect()
}

/// `run.json` of a run folder.
pub fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("run.json"))
        .expect("JSON")
}

/// The columns `summary.csv` must have, as results/README.md promises.
pub const SUMMARY_COLUMNS: &[&str] = &[
    "model",
    "task",
    "dataset",
    "class",
    "repetitions",
    "inferences",
    "energy_j_mean",
    "energy_j_std",
    "energy_j_ci95_low",
    "energy_j_ci95_high",
    "kwh_per_1000",
    "net_energy_j_mean",
    "gco2e_per_1000",
    "latency_ms_p50",
    "latency_ms_p99",
    "source",
];

/// Like [`openai_server`], but every answer to a POST waits `delay` first (so that each
/// request spans samples of a sampler faster than `1 / delay`).
pub fn slow_openai_server(delay: Duration) -> TestServer {
    TestServer::start_replies(move |r| {
        let (status, body) = openai_answer(r);
        if r.method == "POST" {
            Reply::Stall(delay, status, body)
        } else {
            Reply::Json(status, body)
        }
    })
}

/// Whether process `pid` exists and is not a zombie (from `/proc/PID/stat`).
pub fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    state.is_some_and(|s| s != "Z" && s != "X")
}

/// The live processes whose parent is `pid` (from `/proc/*/stat`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .filter(|&child| process_alive(child))
        .collect()
}

/// Polls `done` every 20 ms until it holds or `within` has passed; whether it held.
pub fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A valid one-model, one-dataset suite against a closed port, for load and dry-run tests
/// that change one key of it.
pub const GOOD_SUITE: &str = r#"[suite]
name = "bad"

[servers.local]
protocol = "openai-completions"
url = "http://127.0.0.1:9"

[[models]]
name = "m"
task = "sentiment"
class = "task-specific"
server = "local"

[[datasets]]
name = "d"
task = "sentiment"
path = "data.jsonl"

[schedule]
inferences = 10
"#;
