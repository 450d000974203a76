//! `servers/transformers` without torch: its Python unit tests pass, and the real `joulebench
//! run` drives the server (over the tests' stand-in backend, which does no arithmetic) through
//! every protocol it speaks, with the server's own request counts matching the records.

use crate::common;

use common::{csv_rows, measured, run_suite_ok, sample_sentiment_toml, schedule_and_probes};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository root.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding the `jbtransformers` package (its `pyproject.toml`): what PYTHONPATH
/// names to run it from the checkout without installing it.
fn package_root() -> PathBuf {
    root().join("servers/transformers")
}

/// The server with the tests' stand-in backend (needs `jbtransformers` on PYTHONPATH).
fn fake_server_py() -> PathBuf {
    package_root().join("tests/fake_server.py")
}

/// `python3` from PATH; a clear failure (not a skip) when it is missing.
fn python3() -> Command {
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => Command::new("python3"),
        Ok(o) => panic!(
            "python3 --version failed ({}): servers/transformers needs CPython 3.9 or newer on PATH",
            o.status
        ),
        Err(e) => panic!(
            "python3 is not on PATH ({e}): servers/transformers and its tests need CPython 3.9 \
             or newer (standard library only)"
        ),
    }
}

/// A fake-backend server started by the test on a free loopback port; killed on drop.
struct PyServer {
    child: Child,
    url: String,
}

impl PyServer {
    fn start(models: &[&str]) -> Self {
        let mut cmd = python3();
        cmd.env("PYTHONPATH", package_root())
            .arg(fake_server_py())
            .args(["--port", "0", "--random-weights"]);
        for m in models {
            cmd.args(["--model", m]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fake_server.py");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut url = None;
        let mut seen = Vec::new();
        loop {
            let line = match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = child.kill();
                    panic!("server not ready ({e}); it said: {seen:#?}");
                }
            };
            if let Some(rest) = line.split("listening on ").nth(1) {
                url = Some(rest.trim().to_string());
            }
            let ready = line.contains("ready:");
            seen.push(line);
            if ready {
                break;
            }
        }
        let url = url.unwrap_or_else(|| panic!("no address in {seen:#?}"));
        Self { child, url }
    }

    /// `GET path` as JSON (a one-shot HTTP/1.1 request).
    fn get(&self, path: &str) -> serde_json::Value {
        let addr = self.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(body).expect("JSON body")
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn python_unit_tests_pass() {
    let out = python3()
        .args(["-m", "unittest", "discover", "-s", "tests"])
        .current_dir(package_root())
        .output()
        .expect("run python3 -m unittest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "unit tests failed:\n{stderr}");
    let ran: usize = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no test count in:\n{stderr}"));
    assert!(ran >= 60, "only {ran} tests ran:\n{stderr}");
    assert!(stderr.trim_end().ends_with("OK"), "{stderr}");
}

/// As `suites/php/*.toml` launch it: `env PYTHONPATH={suite_dir}/../../servers/transformers
/// python3 -m jbtransformers ...`, from a folder that is not the checkout, nothing installed.
#[test]
fn the_suites_launch_line_runs_the_module_from_the_checkout() {
    let suite_dir = root().join("suites/php");
    let pythonpath = format!("{}/../../servers/transformers", suite_dir.display());
    let out = Command::new("env")
        .arg(format!("PYTHONPATH={pythonpath}"))
        .args(["python3", "-m", "jbtransformers", "--list-builtin"])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run env python3 -m jbtransformers");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("google/flan-t5-xxl"), "{stdout}");
    let prefix = r#""env", "PYTHONPATH={suite_dir}/../../servers/transformers", "python3", "-m", "jbtransformers","#;
    for task in [
        "gpu-check",
        "text-classification",
        "extractive-qa",
        "summarization",
    ] {
        let suite = std::fs::read_to_string(suite_dir.join(format!("{task}.toml"))).expect("suite");
        let launches = suite.matches(r#""jbtransformers""#).count();
        assert!(launches > 0, "{task}.toml launches servers/transformers");
        assert_eq!(
            suite.matches(prefix).count(),
            launches,
            "{task}.toml launches it as this test does"
        );
    }
}

const TASK_TOKENS: u64 = 4;
/// Where the stand-in backend ends a sequence that is not pinned (`fake_backend.EOS_AFTER`).
const EOS_AFTER: u64 = 3;

/// Rows of `requests.csv` (warm-up included) per model.
fn rows_per_model(out: &Path) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for r in csv_rows(&out.join("requests.csv")) {
        *n.entry(r["model"].clone()).or_insert(0) += 1;
    }
    n
}

#[test]
fn joulebench_drives_every_protocol_and_the_counts_agree() {
    let server = PyServer::start(&[
        "clf=text-classification:distilbert-base-uncased-finetuned-sst-2-english",
        "qa=question-answering:deepset/tinyroberta-squad2",
        "t5=text2text-generation:google/flan-t5-base",
        "bloom=text-generation:bigscience/bloomz-560m",
    ]);
    let url = &server.url;
    let suite = format!(
        r#"[suite]
name = "transformers-e2e"

[servers.tf]
protocol = "openai-completions"
url = "{url}"

[servers.tfqa]
protocol = "json-template"
url = "{url}"

[servers.tfqa.json_template]
path = "/predict"
body = '''{{"inputs": {{"question": "which number?", "context": "{{prompt}}"}}, "model": "{{model}}"}}'''
output = "/answer"

[[models]]
name = "clf-tei"
served_name = "clf"
task = "sentiment"
class = "task-specific"
server = "tf"
protocol = "tei-predict"

[[models]]
name = "clf-kserve"
served_name = "clf"
task = "sentiment"
class = "task-specific"
server = "tf"
protocol = "kserve-v2"

[[models]]
name = "t5-completions"
served_name = "t5"
task = "sentiment"
class = "general-purpose"
server = "tf"

[[models]]
name = "bloom-tgi"
served_name = "bloom"
task = "sentiment"
class = "general-purpose"
server = "tf"
protocol = "tgi-generate"

[[models]]
name = "bloom-chat"
served_name = "bloom"
task = "sentiment"
class = "general-purpose"
server = "tf"
protocol = "openai-chat"

[[models]]
name = "qa"
task = "qa"
class = "task-specific"
server = "tfqa"

[[datasets]]
name = "sample"
task = "sentiment"
path = "data.jsonl"
fields = {{ text = "sentence" }}

[[datasets]]
name = "contexts"
task = "qa"
path = "data.jsonl"
fields = {{ text = "sentence" }}

[tasks.sentiment]
prompt = "what is the binary sentiment of the following sentence? {{text}}"
max_tokens = {TASK_TOKENS}

[tasks.qa]
input = "{{text}}"

{tail}"#,
        tail = schedule_and_probes(4, 2, 1)
    );
    let (_dir, out) = run_suite_ok(&suite, 5);
    let rows = measured(&out);
    let of = |model: &str| -> Vec<&BTreeMap<String, String>> {
        rows.iter().filter(|r| r["model"] == model).collect()
    };
    for model in [
        "clf-tei",
        "clf-kserve",
        "t5-completions",
        "bloom-tgi",
        "bloom-chat",
        "qa",
    ] {
        let mine = of(model);
        assert_eq!(mine.len(), 8, "{model}: 4 inferences × 2 repetitions");
        for r in &mine {
            assert_eq!(r["status"], "ok", "{r:?}");
        }
    }
    // TEI: both labels of the 2-label classifier come back ("NEGATIVE" + "POSITIVE").
    assert!(of("clf-tei").iter().all(|r| r["output_chars"] == "16"));
    // KServe: the best label (8 characters) plus a score and two logits.
    assert!(of("clf-kserve").iter().all(|r| r["output_chars"] == "11"));
    // OpenAI completions are pinned: exactly the task's tokens, and the server says so.
    for r in of("t5-completions").iter().chain(of("bloom-chat").iter()) {
        assert_eq!(r["completion_tokens"], TASK_TOKENS.to_string(), "{r:?}");
        assert_eq!(r["output_pinned"], "true", "{r:?}");
        let prompt: u64 = r["prompt_tokens"].parse().expect("prompt tokens reported");
        assert!(
            (11..=30).contains(&prompt),
            "{prompt} tokens for a 12-word prompt"
        );
    }
    // TGI cannot pin: the sequence ends where the model ends it.
    for r in of("bloom-tgi") {
        assert_eq!(r["completion_tokens"], EOS_AFTER.to_string(), "{r:?}");
        assert_eq!(r["output_pinned"], "false");
    }
    // QA: an answer span out of "sentence number N".
    for r in of("qa") {
        let chars: usize = r["output_chars"].parse().expect("chars");
        assert!((1..="sentence number 0".len()).contains(&chars), "{r:?}");
    }
    // The server counted exactly the requests the runner recorded (warm-ups included).
    let recorded = rows_per_model(&out);
    let info = server.get("/info");
    let served = |route: &str| info["requests"][route].as_u64().unwrap_or(0) as usize;
    assert_eq!(
        served("/predict"),
        recorded["clf-tei"] + recorded["qa"],
        "{info}"
    );
    assert_eq!(
        served("/v2/models/{name}/infer"),
        recorded["clf-kserve"],
        "{info}"
    );
    assert_eq!(served("/v1/completions"), recorded["t5-completions"]);
    assert_eq!(served("/generate"), recorded["bloom-tgi"]);
    assert_eq!(served("/v1/chat/completions"), recorded["bloom-chat"]);
    assert_eq!(recorded["qa"], 9, "8 measured + 1 warm-up");
}

#[test]
fn the_runner_launches_it_streams_from_it_and_stops_it() {
    let script = fake_server_py();
    let suite = format!(
        r#"[suite]
name = "transformers-launch"

[servers.tf]
protocol = "openai-completions"
env = {{ PYTHONPATH = "{package}" }}
launch = ["python3", "{script}", "--port", "{{port}}", "--random-weights",
          "--model", "t5=text2text-generation:google/flan-t5-base",
          "--model", "bloom=text-generation:bigscience/bloomz-560m"]
ready_timeout_seconds = 60

[[models]]
name = "t5"
task = "sentiment"
class = "general-purpose"
server = "tf"

[[models]]
name = "bloom"
task = "sentiment"
class = "general-purpose"
server = "tf"
protocol = "openai-chat"

{sample}
[generation]
stream = true

{tail}"#,
        script = script.display(),
        package = package_root().display(),
        sample = sample_sentiment_toml("sentiment? {text}", TASK_TOKENS),
        tail = schedule_and_probes(3, 1, 1)
    );
    let (_dir, out) = run_suite_ok(&suite, 3);
    let rows = measured(&out);
    assert_eq!(rows.len(), 6);
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r:?}");
        assert_eq!(r["completion_tokens"], TASK_TOKENS.to_string(), "{r:?}");
        let ttft: f64 = r["ttft_ms"].parse().expect("time to first token");
        let latency: f64 = r["latency_ms"].parse().expect("latency");
        assert!(ttft > 0.0 && ttft <= latency, "{r:?}");
        assert!(
            r["itl_ms"].parse::<f64>().is_ok(),
            "4 chunks give a gap: {r:?}"
        );
    }
    let log = std::fs::read_to_string(out.join("servers/tf.log")).expect("server log");
    assert!(
        log.contains("tokenizer: stand-in (token counts approximate the real tokenizer)"),
        "{log}"
    );
    assert!(log.contains("ready: 2 model(s)"), "{log}");
    assert!(
        log.contains("stopping"),
        "stopped with SIGTERM, not killed: {log}"
    );
}
