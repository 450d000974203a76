//! Launched servers: where they run, how they are stopped when they never get ready, that
//! they die with joulebench, that `--resume` stops one an earlier run left, and that a
//! signal during start-up stops the run at once.

use crate::common;

use common::{joulebench, manifest, measured, process_alive, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A suite with one launched `tei-predict` server whose `launch` array is `launch` (TOML).
fn launched_suite(launch: &str, ready_timeout_s: u32, schedule: &str) -> String {
    format!(
        r#"[suite]
name = "launched"

[servers.fake]
protocol = "tei-predict"
launch = {launch}
ready_timeout_seconds = {ready_timeout_s}

[[models]]
name = "clf"
task = "sentiment"
class = "task-specific"
server = "fake"

[[datasets]]
name = "sample"
task = "sentiment"
path = "data.jsonl"
fields = {{ text = "sentence" }}

[schedule]
idle_seconds = 0
{schedule}

[probes]
sources = ["estimate"]
sample_hz = 50
"#
    )
}

/// `root/sub/` holding `suite.toml` (from `suite`) and a 5-row `data.jsonl`.
fn nested_suite(suite: &str) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("temp dir");
    let sub = root.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let data: String = (0..5)
        .map(|i| {
            format!(
                "{{\"sentence\": \"sentence number {i}\", \"label\": {}}}\n",
                i % 2
            )
        })
        .collect();
    std::fs::write(sub.join("data.jsonl"), data).expect("write data");
    std::fs::write(sub.join("suite.toml"), suite).expect("write suite");
    (root, sub)
}

/// Starts `joulebench run --quiet --out OUT SUITE` in the background.
fn spawn_run(suite: &Path, out: &Path) -> Child {
    joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .arg(suite)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start joulebench")
}

/// Sends `signal` to process `pid`.
fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) only sends a signal; no memory is shared.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// The pid a fake server wrote into `path`, once it has (bounded wait).
fn pid_in(path: &Path) -> u32 {
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(path)
            .is_ok_and(|t| t.ends_with('\n'))),
        "{} never appeared",
        path.display()
    );
    let text = std::fs::read_to_string(path).expect("pid file");
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Kills a process a failed test would leave behind.
struct Reap(Vec<u32>);

impl Drop for Reap {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if process_alive(pid) {
                signal(pid, libc::SIGKILL);
            }
        }
    }
}

#[test]
fn a_launched_server_runs_in_the_suite_folder_with_an_absolute_suite_dir() {
    let suite = launched_suite(
        r#"["sh", "-c", 'pwd -P > where.txt; echo "{suite_dir}" > suite_dir.txt; exit 3']"#,
        30,
        "",
    );
    let (root, sub) = nested_suite(&suite);
    // From the folder above, with relative paths: `{suite_dir}` would be `sub`.
    let output = joulebench()
        .args(["run", "--quiet", "--out", "results", "sub/suite.toml"])
        .current_dir(root.path())
        .output()
        .expect("run joulebench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exited"), "{stderr}");
    let canonical = std::fs::canonicalize(&sub).expect("canonical");
    let read = |name: &str| {
        std::fs::read_to_string(sub.join(name))
            .unwrap_or_else(|e| panic!("{name} not written in the suite folder: {e}; {stderr}"))
    };
    assert_eq!(read("where.txt").trim_end(), canonical.to_string_lossy());
    assert_eq!(
        read("suite_dir.txt").trim_end(),
        canonical.to_string_lossy()
    );
    assert!(!root.path().join("where.txt").exists());
}

#[test]
fn a_server_that_never_gets_ready_gets_sigterm_then_sigkill() {
    // Traps SIGTERM (notes it and goes on), so only SIGKILL ends it.
    let suite = launched_suite(
        r#"["sh", "-c", 'trap "echo term >> {suite_dir}/got_term.txt" TERM; echo $$ > {suite_dir}/server.pid; while :; do sleep 1; done']"#,
        2,
        "",
    );
    let (_root, sub) = nested_suite(&suite);
    let out = sub.join("results");
    let started = Instant::now();
    let output = joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(sub.join("suite.toml"))
        .output()
        .expect("run joulebench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let pid = pid_in(&sub.join("server.pid"));
    let _reap = Reap(vec![pid]);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("not ready"), "{stderr}");
    assert!(
        sub.join("got_term.txt").exists(),
        "SIGTERM came first: {stderr}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "the grace period was given"
    );
    assert!(
        wait_until(Duration::from_secs(5), || !process_alive(pid)),
        "server {pid} is still there"
    );
}

#[test]
fn a_launched_server_dies_with_a_killed_joulebench() {
    let suite = launched_suite(r#"["sleep", "600"]"#, 300, "");
    let (_root, sub) = nested_suite(&suite);
    let mut run = spawn_run(&sub.join("suite.toml"), &sub.join("results"));
    let mut server = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            server = common::children_of(run.id()).into_iter().next();
            server.is_some()
        }),
        "joulebench started no server"
    );
    let server = server.expect("server pid");
    let _reap = Reap(vec![server]);
    run.kill().expect("SIGKILL joulebench");
    run.wait().expect("reap joulebench");
    assert!(
        wait_until(Duration::from_secs(5), || !process_alive(server)),
        "server {server} outlived joulebench"
    );
}

#[test]
fn resume_stops_a_server_the_killed_run_left_running() {
    // A shell that forks the real server: SIGKILL of joulebench kills the shell (its
    // direct child), not the server below it, which keeps the shell's process group.
    let suite = launched_suite(
        r#"["sh", "-c", '"{joulebench}" serve --port {port} --classifier clf=tiny & echo $! > "{suite_dir}/child.pid"; wait']"#,
        60,
        "inferences = 2\nrepetitions = 2\nwarmup = 1\ncooldown_seconds = 60",
    );
    let (_root, sub) = nested_suite(&suite);
    let out = sub.join("results");
    let mut run = spawn_run(&sub.join("suite.toml"), &out);
    let first_rep = || {
        std::fs::read_to_string(out.join("repetitions.csv")).is_ok_and(|t| t.lines().count() > 1)
    };
    let done = wait_until(Duration::from_secs(60), first_rep);
    let left = pid_in(&sub.join("child.pid"));
    let _reap = Reap(vec![left]);
    assert!(done, "repetition 1 never finished");
    // Now in the 60 s cool-down.
    run.kill().expect("SIGKILL joulebench");
    run.wait().expect("reap joulebench");
    assert!(process_alive(left), "the forked server outlives the shell");
    std::fs::remove_file(sub.join("child.pid")).expect("rm child.pid");
    let (output, stderr) = common::resume(&out);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("left running"), "{stderr}");
    assert!(!process_alive(left), "server {left} is still there");
    assert_eq!(measured(&out).len(), 4);
    assert_eq!(manifest(&out)["status"], "complete");
}

#[test]
fn sigterm_while_waiting_for_readiness_interrupts_the_run_at_once() {
    let suite = launched_suite(
        r#"["sh", "-c", 'echo $$ > {suite_dir}/server.pid; exec sleep 600']"#,
        300,
        "",
    );
    let (_root, sub) = nested_suite(&suite);
    let out = sub.join("results");
    let mut run = spawn_run(&sub.join("suite.toml"), &out);
    let server = pid_in(&sub.join("server.pid"));
    let _reap = Reap(vec![server, run.id()]);
    let sent = Instant::now();
    signal(run.id(), libc::SIGTERM);
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            status = run.try_wait().expect("try_wait");
            status.is_some()
        }),
        "joulebench still waits {:?} after SIGTERM",
        sent.elapsed()
    );
    let output = run.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{stderr}");
    assert_eq!(manifest(&out)["status"], "interrupted", "{stderr}");
    assert!(
        wait_until(Duration::from_secs(5), || !process_alive(server)),
        "server {server} is still there"
    );
}
