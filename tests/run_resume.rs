//! A run killed mid-repetition (SIGINT, SIGKILL) and then resumed: finished repetitions
//! are intact, no CSV row is torn, and the final record count is exactly right.

use crate::common;

use common::{
    Reply, TestServer, csv_rows, joulebench, manifest, measured, one_model_suite, openai_answer,
    suite_dir,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const INFERENCES: usize = 20;
const REPETITIONS: usize = 3;
const WARMUP: usize = 2;

fn server() -> TestServer {
    TestServer::start_replies(|r| {
        let (s, b) = openai_answer(r);
        Reply::Json(s, b)
    })
}

fn schedule() -> String {
    format!("inferences = {INFERENCES}\nrepetitions = {REPETITIONS}\nwarmup = {WARMUP}")
}

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

/// Waits (bounded) until requests.csv holds `rows` rows.
fn wait_rows(path: &Path, rows: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = std::fs::read_to_string(path)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > rows {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "requests.csv never showed {rows} rows"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts a run, holds the server on request `held` (inside repetition 2), sends `signal`
/// once requests.csv shows every earlier request, and returns the run folder's state.
fn kill_mid_repetition(
    signal: i32,
) -> (
    TestServer,
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    String,
) {
    let server = server();
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        &schedule(),
        "",
    );
    let (dir, suite_path) = suite_dir(&suite, 7);
    let out = dir.path().join("results");
    let held = WARMUP + INFERENCES + 7;
    server.gate.hold_from(held);
    let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log");
    let mut child = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&suite_path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start joulebench");
    wait_rows(&out.join("requests.csv"), held);
    assert!(
        server.wait_for_posts(held + 1, Duration::from_secs(30)),
        "request {held} never came"
    );
    let finished_reps =
        std::fs::read_to_string(out.join("repetitions.csv")).expect("repetition 1 is written");
    // While it runs, nobody else may resume (or write) the folder.
    let busy = joulebench()
        .args(["run", "--resume"])
        .arg(&out)
        .output()
        .expect("resume");
    let busy_err = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(2), "{busy_err}");
    assert!(
        busy_err.contains("another joulebench process"),
        "{busy_err}"
    );
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let status = if signal == libc::SIGINT {
        server.gate.open();
        wait_exit(&mut child)
    } else {
        let status = wait_exit(&mut child);
        server.gate.open();
        status
    };
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(!stderr.contains("panicked"), "{stderr}");
    if signal == libc::SIGINT {
        assert_eq!(status.code(), Some(130), "{stderr}");
        assert_eq!(manifest(&out)["status"], "interrupted");
    } else {
        assert_eq!(status.code(), None, "killed by a signal");
        assert_eq!(
            manifest(&out)["status"],
            "running",
            "a SIGKILLed run says nothing more"
        );
    }
    (server, dir, suite_path, out, finished_reps)
}

/// Resumes and checks the complete run.
fn resume_and_check(server: &TestServer, out: &Path, suite: Option<&Path>, finished_reps: &str) {
    // What was written before (up to a torn last row, which resume cuts).
    let text = std::fs::read_to_string(out.join("requests.csv")).expect("requests.csv");
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("requests.csv"), whole).expect("copy");
    let before = measured(dir.path());
    let last_t: u64 = before
        .iter()
        .map(|r| r["t_end_ns"].parse::<u64>().expect("t"))
        .max()
        .unwrap_or(0);
    let posts_before = server.posts.load(std::sync::atomic::Ordering::SeqCst);
    let mut cmd = joulebench();
    cmd.args(["run", "--quiet", "--resume"]).arg(out);
    if let Some(s) = suite {
        cmd.arg(s);
    }
    let output = cmd.output().expect("resume");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(manifest(out)["status"], "complete");

    let rows = measured(out);
    assert_eq!(
        rows.len(),
        INFERENCES * REPETITIONS,
        "exactly inferences × repetitions measured rows"
    );
    let keys: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r["repetition"].clone(), r["index"].clone()))
        .collect();
    assert_eq!(keys.len(), rows.len(), "no (repetition, index) twice");
    assert!(rows.iter().all(|r| r["status"] == "ok"));
    // answers.jsonl matches requests.csv: one answer per measured request, none twice.
    let answers = std::fs::read_to_string(out.join("answers.jsonl")).expect("answers.jsonl");
    let answered: BTreeSet<(String, String)> = answers
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one record per line");
            (v["repetition"].to_string(), v["index"].to_string())
        })
        .collect();
    assert_eq!(answers.lines().count(), rows.len(), "{answers}");
    assert_eq!(answered, keys, "the answers of the requests kept");
    let warmups = csv_rows(&out.join("requests.csv"))
        .iter()
        .filter(|r| r["phase"] == "warmup")
        .count();
    assert_eq!(
        warmups, WARMUP,
        "a finished warm-up is not sent again to a running server"
    );
    // Repetition 1 is untouched; 2 and 3 were taken by the resumed run, later on the timeline.
    let reps = std::fs::read_to_string(out.join("repetitions.csv")).expect("repetitions.csv");
    assert!(
        reps.starts_with(finished_reps),
        "finished repetitions are intact"
    );
    let taken: BTreeSet<String> = csv_rows(&out.join("repetitions.csv"))
        .iter()
        .map(|r| r["repetition"].clone())
        .collect();
    assert_eq!(taken, ["1", "2", "3"].map(String::from).into());
    for r in rows.iter().filter(|r| r["repetition"] != "1") {
        assert!(
            r["t_start_ns"].parse::<u64>().expect("t") > last_t,
            "resumed rows come later: {r:?}"
        );
    }
    let sent = server.posts.load(std::sync::atomic::Ordering::SeqCst) - posts_before;
    assert_eq!(
        sent,
        2 * INFERENCES,
        "only repetitions 2 and 3 were sent again"
    );
    let summary = csv_rows(&out.join("summary.csv"));
    assert_eq!(summary[0]["repetitions"], REPETITIONS.to_string());
    assert_eq!(
        summary[0]["inferences"],
        (INFERENCES * REPETITIONS).to_string()
    );
}

#[test]
fn sigint_mid_repetition_then_resume_with_the_suite() {
    let (server, _dir, suite, out, finished) = kill_mid_repetition(libc::SIGINT);
    let partial = measured(&out);
    assert!(
        partial.iter().any(|r| r["repetition"] == "2"),
        "stopped inside repetition 2"
    );
    assert!(partial.len() < INFERENCES * 2);
    resume_and_check(&server, &out, Some(&suite), &finished);
}

#[test]
fn sigkill_mid_repetition_with_a_torn_row_then_resume_without_the_suite() {
    let (server, _dir, _suite, out, finished) = kill_mid_repetition(libc::SIGKILL);
    // A torn last row, as a crash inside a write would leave: repaired on resume.
    let path = out.join("requests.csv");
    let mut text = std::fs::read_to_string(&path).expect("requests.csv");
    text.push_str("m1@sample,m1,sample,measured,2,99,1,12");
    std::fs::write(&path, text).expect("tear");
    resume_and_check(&server, &out, None, &finished);
}

#[test]
fn resume_refuses_another_suite_and_only_renders_a_complete_run() {
    let (server, _dir, suite, out, finished) = kill_mid_repetition(libc::SIGINT);
    let (_other_dir, other) = suite_dir(
        &one_model_suite(
            "openai-completions",
            &server.url,
            "general-purpose",
            "inferences = 5",
            "",
        ),
        3,
    );
    let output = joulebench()
        .args(["run", "--resume"])
        .arg(&out)
        .arg(&other)
        .output()
        .expect("resume");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("differs from the suite") && stderr.contains("SHA-256"),
        "{stderr}"
    );
    resume_and_check(&server, &out, Some(&suite), &finished);
    let posts = server.posts.load(std::sync::atomic::Ordering::SeqCst);
    let output = joulebench()
        .args(["run", "--resume"])
        .arg(&out)
        .output()
        .expect("resume");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("already complete"), "{stderr}");
    assert_eq!(
        server.posts.load(std::sync::atomic::Ordering::SeqCst),
        posts,
        "a complete run sends nothing again"
    );
}
