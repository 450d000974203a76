//! The files of a run folder from its first moment: locked before anything is written,
//! record files with headers from creation, resumable however early the run stopped; and
//! what the run says it kept, and error texts that say each cause once.

use crate::common;

use common::{
    Answer, Received, Reply, TestServer, joulebench, manifest, measured, one_model_suite,
    openai_answer, suite_dir,
};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The record files every run creates, with the first column of their header.
const RECORD_FILES: [(&str, &str); 4] = [
    ("requests.csv", "config,"),
    ("repetitions.csv", "config,"),
    ("baselines.csv", "config,"),
    ("samples.csv", "t_ns,"),
];

/// Waits (bounded) for a child to exit.
fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the run did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (bounded) until `done` holds.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A one-model OpenAI suite whose server is ready when `{url}/health` answers 2xx.
fn suite_polling_health(url: &str, schedule: &str) -> String {
    one_model_suite("openai-completions", url, "general-purpose", schedule, "").replacen(
        &format!("url = \"{url}\"\n"),
        &format!("url = \"{url}\"\nready_url = \"{url}/health\"\nready_timeout_seconds = 60\n"),
        1,
    )
}

fn assert_headers(out: &Path) {
    for (name, first) in RECORD_FILES {
        let text =
            std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            text.starts_with(first) && text.ends_with('\n'),
            "{name} has its header from creation: {text:?}"
        );
    }
}

/// Sends `signal` to a child we started and have not reaped.
fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

#[test]
fn a_run_killed_before_its_first_request_row_resumes() {
    let ready = Arc::new(AtomicBool::new(false));
    let is_ready = Arc::clone(&ready);
    let server = TestServer::start(move |r: &Received| -> Answer {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/health") if !is_ready.load(Ordering::SeqCst) => (503, "{}".into()),
            _ => openai_answer(r),
        }
    });
    let suite = suite_polling_health(&server.url, "inferences = 4\nrepetitions = 2\nwarmup = 1");
    let (dir, suite_path) = suite_dir(&suite, 5);
    let out = dir.path().join("results");
    let mut child = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start joulebench");
    // Killed while waiting for the server: no request row was ever written.
    wait_until("a readiness poll", || server.count("GET", "/health") > 0);
    signal(&child, libc::SIGKILL);
    assert_eq!(wait_exit(&mut child).code(), None, "killed by a signal");
    assert_eq!(server.count("POST", "/v1/completions"), 0);
    assert_headers(&out);

    ready.store(true, Ordering::SeqCst);
    let (output, stderr) = common::resume(&out);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(manifest(&out)["status"], "complete");
    assert_eq!(measured(&out).len(), 8, "inferences × repetitions");
}

#[test]
fn a_folder_left_with_empty_record_files_by_an_older_version_resumes() {
    let server = TestServer::start(openai_answer);
    let suite = suite_polling_health(&server.url, "inferences = 2\nrepetitions = 1\nwarmup = 0");
    let (dir, suite_path) = suite_dir(&suite, 3);
    let out = dir.path().join("results");
    let first = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .output()
        .expect("run");
    assert!(first.status.success());
    // What a run stopped before its first row left, as joulebench wrote it before headers
    // came with the files.
    for (name, _) in RECORD_FILES {
        std::fs::write(out.join(name), "").expect("empty");
    }
    let mut m = manifest(&out);
    m["status"] = "running".into();
    m["ended_utc"] = serde_json::Value::Null;
    std::fs::write(out.join("run.json"), m.to_string()).expect("run.json");
    let (output, stderr) = common::resume(&out);
    assert!(output.status.success(), "{stderr}");
    assert_headers(&out);
    assert_eq!(measured(&out).len(), 2);
}

#[test]
fn an_interrupted_run_counts_only_the_requests_a_resume_keeps() {
    const INFERENCES: usize = 10;
    let server = TestServer::start_replies(|r| {
        let (s, b) = openai_answer(r);
        Reply::Json(s, b)
    });
    let suite = suite_polling_health(
        &server.url,
        &format!("inferences = {INFERENCES}\nrepetitions = 2\nwarmup = 1"),
    );
    let (dir, suite_path) = suite_dir(&suite, 5);
    let out = dir.path().join("results");
    // Held inside repetition 2, after 4 of its requests.
    let held = 1 + INFERENCES + 4;
    server.gate.hold_from(held);
    let child = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start joulebench");
    assert!(
        server.wait_for_posts(held + 1, Duration::from_secs(30)),
        "request {held} never came"
    );
    signal(&child, libc::SIGINT);
    server.gate.open();
    let output = child.wait_with_output().expect("run ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!("; {INFERENCES} measured requests kept in")),
        "only repetition 1's requests are kept: {stderr}"
    );
    let resumed = joulebench()
        .args(["run", "--quiet", "--resume"])
        .arg(&out)
        .output()
        .expect("resume");
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(resumed.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "run complete: {} measured requests",
            2 * INFERENCES
        )),
        "{stdout}"
    );
}

#[test]
fn a_folder_another_run_holds_is_refused_before_its_suite_copy_is_written() {
    let server = TestServer::start(openai_answer);
    let suite = suite_polling_health(&server.url, "inferences = 2\nrepetitions = 1\nwarmup = 0");
    let (dir, suite_path) = suite_dir(&suite, 3);
    let out = dir.path().join("results");
    std::fs::create_dir(&out).expect("mkdir");
    // Held as a run that has just taken the (still empty) folder holds it.
    let held = std::fs::File::open(&out).expect("open folder");
    // SAFETY: flock(2) on a descriptor owned by `held`, alive until the end of the test.
    let rc = unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0);
    let output = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("another joulebench process"), "{stderr}");
    assert!(
        !out.join("suite.toml").exists(),
        "the holder's folder is untouched"
    );
    assert_eq!(std::fs::read_dir(&out).expect("list").count(), 0);
    assert_eq!(server.count("POST", "/v1/completions"), 0);
    drop(held);
}

#[test]
fn a_missing_file_says_its_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.toml");
    let run = joulebench().arg("run").arg(&missing).output().expect("run");
    // A records file that cannot be read (RecordsError).
    let folder = dir.path().join("results");
    std::fs::create_dir_all(folder.join("run.json")).expect("mkdir");
    let report = joulebench()
        .arg("report")
        .arg(&folder)
        .output()
        .expect("report");
    for (what, output, cause) in [
        ("run", run, "No such file or directory"),
        ("report", report, "Is a directory"),
    ] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: {stderr}");
        assert_eq!(
            stderr.matches(cause).count(),
            1,
            "{what}: the OS error once: {stderr}"
        );
    }
}

#[test]
fn an_empty_shard_writes_headers_and_says_it_had_no_configurations() {
    let server = TestServer::start(openai_answer);
    let suite = suite_polling_health(&server.url, "inferences = 2\nrepetitions = 1\nwarmup = 0");
    let (dir, suite_path) = suite_dir(&suite, 3);
    let out = dir.path().join("results");
    // One configuration, two shards: shard 1 is empty.
    let output = joulebench()
        .args(["run", "--quiet", "--shard", "1/2", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_headers(&out);
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.contains("Shard 1/2 had no configurations"), "{md}");
    assert!(!md.contains("valid repetition yet"), "{md}");
}
