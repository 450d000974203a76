//! End-to-end: `joulebench run` against a loopback OpenAI-completions server.

use crate::common;

use common::{SUMMARY_COLUMNS, dry_run_at, openai_server, resume_ok, run_suite_ok, suite_dir};

fn suite(url: &str, inferences: u32, repetitions: u32, warmup: u32) -> String {
    format!(
        r#"
[suite]
name = "e2e"

[servers.local]
protocol = "openai-completions"
url = "{url}"

[[models]]
name = "tiny-gen"
task = "sentiment"
class = "general-purpose"
parameters = 1000000
server = "local"

{sample}
[schedule]
inferences = {inferences}
repetitions = {repetitions}
warmup = {warmup}
idle_seconds = 0.2
cooldown_seconds = 0

[probes]
sources = ["estimate"]
sample_hz = 50
"#,
        sample = common::sample_sentiment_toml(
            "what is the binary sentiment of the following sentence? {text}",
            4
        )
    )
}

#[test]
fn run_sends_exactly_the_planned_requests_and_writes_the_summary() {
    let server = openai_server();
    let (_dir, out) = run_suite_ok(&suite(&server.url, 7, 3, 2), 5);
    assert_eq!(server.count("POST", "/v1/completions"), 7 * 3 + 2);

    // Every request body is the OpenAI completions wire format, with the prompt filled in.
    let bodies = server.received.lock().expect("lock").clone();
    let first = bodies
        .iter()
        .find(|r| r.path == "/v1/completions")
        .expect("a completion request");
    assert_eq!(first.body["model"], "tiny-gen");
    assert_eq!(first.body["max_tokens"], 4);
    assert_eq!(first.body["ignore_eos"], true);
    assert!(
        first.body["prompt"]
            .as_str()
            .expect("prompt")
            .starts_with("what is the binary sentiment of the following sentence? sentence number")
    );

    let mut requests = csv::Reader::from_path(out.join("requests.csv")).expect("requests.csv");
    let rows: Vec<csv::StringRecord> = requests.records().collect::<Result<_, _>>().expect("rows");
    let headers = requests.headers().expect("headers").clone();
    let phase = headers
        .iter()
        .position(|h| h == "phase")
        .expect("phase column");
    let status = headers
        .iter()
        .position(|h| h == "status")
        .expect("status column");
    assert_eq!(rows.iter().filter(|r| &r[phase] == "measured").count(), 21);
    assert_eq!(rows.iter().filter(|r| &r[phase] == "warmup").count(), 2);
    assert!(rows.iter().all(|r| &r[status] == "ok"));

    let mut summary = csv::Reader::from_path(out.join("summary.csv")).expect("summary.csv");
    let headers: Vec<String> = summary
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    for &column in SUMMARY_COLUMNS {
        assert!(
            headers.iter().any(|h| h == column),
            "summary.csv lacks {column}: {headers:?}"
        );
    }
    let row = summary.records().next().expect("one row").expect("parses");
    let get = |name: &str| row[headers.iter().position(|h| h == name).expect("column")].to_string();
    assert_eq!(get("model"), "tiny-gen");
    assert_eq!(get("repetitions"), "3");
    assert_eq!(get("inferences"), "21");
    assert_eq!(get("source"), "estimated");
    let mean: f64 = get("energy_j_mean").parse().expect("a number");
    assert!(mean > 0.0, "an estimate over a real window is never zero");

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("run.json"))
            .expect("JSON");
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["probes"][0]["provenance"], "estimated");
    assert_eq!(manifest["suite"]["sha256"].as_str().map(str::len), Some(64));
    assert!(out.join("samples.csv").exists());
    assert!(out.join("suite.toml").exists());
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let server = openai_server();
    let all_probes = suite(&server.url, 1000, 10, 10).replace(
        r#"sources = ["estimate"]"#,
        r#"sources = ["rapl", "nvml", "estimate"]"#,
    );
    let (_dir, suite_path) = suite_dir(&all_probes, 5);
    let (code, stdout, _) = dry_run_at(&suite_path);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("tiny-gen@sample"), "{stdout}");
    assert!(
        stdout.contains("10000 measured + 10 warm-up = 10010"),
        "{stdout}"
    );
    assert!(stdout.contains("cpu-estimate"), "{stdout}");
    let probes = stdout.split("probes (").nth(1).expect("a probes section");
    for wanted in ["rapl", "nvml"] {
        assert!(
            probes
                .lines()
                .any(|l| l.contains(wanted) && (l.contains("use") || l.contains("missing"))),
            "{wanted} is listed as used or missing with a reason: {stdout}"
        );
    }
    assert_eq!(server.received.lock().expect("lock").len(), 0);
}

#[test]
fn a_launched_server_is_started_logged_stopped_and_warmed_again_on_resume() {
    let launched = r#"[suite]
name = "launched"

[servers.reference]
protocol = "tei-predict"
launch = ["{joulebench}", "serve", "--port", "{port}", "--classifier", "clf=tiny"]
ready_timeout_seconds = 60

[[models]]
name = "clf"
task = "sentiment"
class = "task-specific"
server = "reference"

[[datasets]]
name = "sample"
task = "sentiment"
path = "data.jsonl"
fields = { text = "sentence" }

[schedule]
inferences = 4
repetitions = 2
warmup = 2
idle_seconds = 0
cooldown_seconds = 0

[probes]
sources = ["estimate"]
"#;
    let (_dir, out) = run_suite_ok(launched, 5);
    assert!(out.join("servers/reference.log").exists());
    let rows = std::fs::read_to_string(out.join("requests.csv")).expect("requests.csv");
    assert_eq!(
        rows.lines()
            .filter(|l| l.contains(",measured,") && l.contains(",ok,"))
            .count(),
        8
    );

    // Pretend the run died in repetition 2: drop its energy rows, mark the run running.
    let reps = std::fs::read_to_string(out.join("repetitions.csv")).expect("repetitions.csv");
    let kept: String = reps
        .lines()
        .filter(|l| !l.contains(",2,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(out.join("repetitions.csv"), kept).expect("write");
    let run_json = std::fs::read_to_string(out.join("run.json")).expect("run.json");
    std::fs::write(
        out.join("run.json"),
        run_json.replace("\"complete\"", "\"running\""),
    )
    .expect("write");
    resume_ok(&out);
    let rows = std::fs::read_to_string(out.join("requests.csv")).expect("requests.csv");
    assert_eq!(
        rows.lines().filter(|l| l.contains(",measured,")).count(),
        8,
        "repetition 2 taken again, once"
    );
    let warmups: Vec<&str> = rows.lines().filter(|l| l.contains(",warmup,")).collect();
    assert_eq!(
        warmups.len(),
        4,
        "the new server process is warmed up again"
    );
    assert!(
        warmups[3].contains(",warmup,0,3,"),
        "warm-up indices continue: {}",
        warmups[3]
    );
}

#[test]
fn a_missing_suite_exits_2_and_a_run_that_started_and_failed_exits_1() {
    // Documented in README: 2 a usage or input error, 1 a failed run.
    let dir = tempfile::tempdir().expect("temp dir");
    let o = common::joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("results"))
        .arg(dir.path().join("nope.toml"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nope.toml"), "{stderr}");
    assert!(!dir.path().join("results").exists(), "nothing was started");

    // Every warm-up request fails: the run has started (run.json says failed) and exits 1.
    let server = common::TestServer::start(|r| match r.method.as_str() {
        "GET" => common::readiness_answer(r).unwrap_or((200, "{}".into())),
        _ => (503, r#"{"error":"overloaded"}"#.into()),
    });
    let (o, _dir, out) = common::run_suite(&suite(&server.url, 2, 1, 2), 3);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("warm-up"),
        "{stderr}"
    );
    assert_eq!(common::manifest(&out)["status"], "failed");
}

#[test]
fn kserve_input_names_the_tensor_a_kserve_model_wants() {
    // A Triton-like server that only takes a tensor named INPUT__0.
    let server = common::TestServer::start(|r| {
        match (r.method.as_str(), r.path.as_str()) {
        ("GET", _) => (200, "{}".into()),
        ("POST", "/v2/models/served-m1/infer") if r.body["inputs"][0]["name"] == "INPUT__0" => (
            200,
            r#"{"model_name":"served-m1","outputs":[{"name":"label","shape":[1],"datatype":"BYTES","data":["POSITIVE"]}]}"#.into(),
        ),
        _ => (400, r#"{"error":"unexpected inference input 'text'"}"#.into()),
    }
    });
    let base = common::one_model_suite(
        "kserve-v2",
        &server.url,
        "task-specific",
        "inferences = 3\nrepetitions = 1\nwarmup = 0",
        "",
    );
    let suite = base.replace(
        &format!("url = \"{}\"", server.url),
        &format!("url = \"{}\"\nkserve_input = \"INPUT__0\"", server.url),
    );
    let (_dir, out) = run_suite_ok(&suite, 3);
    let rows = common::measured(&out);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    let bodies = server.bodies("/v2/models/served-m1/infer");
    assert!(bodies.iter().all(|b| b["inputs"][0]["name"] == "INPUT__0"));

    // A name that is no tensor name is refused where it is written.
    let bad = suite.replace("\"INPUT__0\"", "\"two words\"");
    let (_bad_dir, bad_path) = suite_dir(&bad, 3);
    let (code, _, stderr) = dry_run_at(&bad_path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("servers.local.kserve_input"), "{stderr}");
}
