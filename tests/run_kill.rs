//! `joulebench run` SIGKILLed at seeded random points spread over server start-up, the idle
//! baseline, the warm-up, the repetitions and the end (report), then `--resume`d: no launched server is left,
//! the resumed run exits 0, every (configuration, repetition) has exactly its requests and
//! one `repetitions.csv` row, and `run.json` says complete.
//!
//! The phases are observed, not guessed: the suite's `ready_url` points at a loopback
//! server of this test, which sees start-up (joulebench polling it), says when the real
//! server is ready (the baseline starts) and counts the rows already written at that
//! moment; warm-up and repetitions are followed in `requests.csv`.

use crate::common;

use common::{TestServer, csv_rows, joulebench, manifest, measured, process_alive, wait_until};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The seed of the kill points (change it to explore others; the test prints them).
const SEED: u64 = 0x6a6f_756c_6562;
const INFERENCES: usize = 8;
const REPETITIONS: usize = 3;
const WARMUP: usize = 6;
const IDLE_S: f64 = 0.4;
/// Run folders; each is killed [`KILLS_PER_RUN`] times, then resumed to the end.
const RUNS: usize = 4;
const KILLS_PER_RUN: usize = 3;
const CONFIGS: [&str; 2] = ["clf@d1", "clf@d2"];
/// Ending kills come within this many milliseconds after the last request's row.
const ENDING_MS: u64 = 80;

/// Where in a run a kill is aimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Waiting for the launched server to get ready.
    StartUp,
    /// The idle baseline of the first configuration.
    Baseline,
    /// Warm-up requests.
    Warmup,
    /// Measured repetitions (and the cool-downs between them).
    Repetitions,
    /// After the last request: its repetition's row, stopping the server, `run.json`
    /// marked complete, the report written.
    Ending,
}

/// Where a kill landed, as the run folder shows it.
type Landed = &'static str;

/// A seeded kill point: a phase and where inside it.
#[derive(Clone, Copy, Debug)]
struct KillPoint {
    phase: Phase,
    /// Start-up and baseline: milliseconds after the phase began; warm-up and
    /// repetitions: the number of this invocation's rows of that phase to wait for.
    at: u64,
    /// For repetitions: a share (0..1) of the measured rows still to take.
    share: f64,
}

/// The kill points of every run folder: the first kills of the folders are the four
/// phases in a seeded order (so all are covered); later ones are seeded among start-up,
/// warm-up and repetitions (a baseline is only pending in a folder's first invocation);
/// each folder's last kill comes just after its last request (the run's end).
fn kill_plan(seed: u64) -> Vec<Vec<KillPoint>> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut firsts = [
        Phase::StartUp,
        Phase::Baseline,
        Phase::Warmup,
        Phase::Repetitions,
    ];
    for i in (1..firsts.len()).rev() {
        firsts.swap(i, rng.random_range(0..=i));
    }
    let later = [Phase::StartUp, Phase::Warmup, Phase::Repetitions];
    (0..RUNS)
        .map(|run| {
            let mut points = vec![kill_point(&mut rng, firsts[run % firsts.len()])];
            for _ in 1..KILLS_PER_RUN {
                let phase = later[rng.random_range(0..later.len())];
                points.push(kill_point(&mut rng, phase));
            }
            points.push(kill_point(&mut rng, Phase::Ending));
            points
        })
        .collect()
}

/// A seeded point inside `phase`.
fn kill_point(rng: &mut Pcg64Mcg, phase: Phase) -> KillPoint {
    KillPoint {
        phase,
        at: match phase {
            Phase::StartUp => rng.random_range(0..400),
            Phase::Baseline => rng.random_range(20..(IDLE_S * 750.0) as u64),
            Phase::Warmup => rng.random_range(1..=(WARMUP as u64 - 2)),
            Phase::Repetitions => 0,
            Phase::Ending => rng.random_range(0..ENDING_MS),
        },
        share: rng.random_range(0.0..1.0),
    }
}

/// What the readiness endpoint saw in the current invocation.
#[derive(Default)]
struct Readiness {
    /// The run folder.
    out: PathBuf,
    /// Whether readiness may be granted (held back for start-up kills).
    allow: bool,
    /// Readiness polls so far.
    polls: usize,
    /// When readiness was granted, with the warm-up and measured rows and the baselines
    /// already in the folder then.
    ready: Option<(Instant, Counts)>,
}

/// Rows in a run folder.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Counts {
    warmup: usize,
    measured: usize,
    baselines: usize,
}

/// Whole rows of a CSV (a torn last line left out) as header → value maps.
fn whole_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(whole.as_bytes());
    let Ok(headers) = reader.headers().cloned() else {
        return Vec::new();
    };
    reader
        .records()
        .flatten()
        .map(|r| {
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn counts(out: &Path) -> Counts {
    let rows = whole_rows(&out.join("requests.csv"));
    let phase = |p: &str| rows.iter().filter(|r| r["phase"] == p).count();
    let baselines: BTreeSet<String> = whole_rows(&out.join("baselines.csv"))
        .into_iter()
        .map(|r| r["config"].clone())
        .collect();
    Counts {
        warmup: phase("warmup"),
        measured: phase("measured"),
        baselines: baselines.len(),
    }
}

/// Whether the reference server on `port` answers `GET /health` with 200.
fn healthy(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// The loopback readiness endpoint: `GET /ready/PORT` answers 200 once it is allowed and
/// the real server on PORT is healthy, and notes the folder's rows at that moment.
fn readiness_server(state: Arc<Mutex<Readiness>>) -> TestServer {
    TestServer::start_replies(move |r| {
        let port = r
            .path
            .strip_prefix("/ready/")
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port.filter(|_| r.method == "GET") else {
            return common::Reply::Json(404, "{}".into());
        };
        let mut s = state.lock().expect("lock");
        s.polls += 1;
        if !s.allow || !healthy(port) {
            return common::Reply::Json(503, r#"{"status":"loading"}"#.into());
        }
        if s.ready.is_none() {
            s.ready = Some((Instant::now(), counts(&s.out)));
        }
        common::Reply::Json(200, "{}".into())
    })
}

/// The suite: one launched reference server (`tiny` classifier), one model, two datasets
/// (two configurations), readiness asked of `ready`.
fn suite(ready: &str) -> String {
    let data = |name: &str| {
        format!(
            "[[datasets]]\nname = \"{name}\"\ntask = \"sentiment\"\npath = \"data.jsonl\"\nfields = {{ text = \"sentence\" }}\n"
        )
    };
    format!(
        r#"[suite]
name = "kill"

[servers.ref]
protocol = "tei-predict"
launch = ["{{joulebench}}", "serve", "--port", "{{port}}", "--classifier", "clf=tiny"]
ready_url = "{ready}/ready/{{port}}"
ready_timeout_seconds = 60

[[models]]
name = "clf"
task = "sentiment"
class = "task-specific"
server = "ref"

{d1}
{d2}
[schedule]
inferences = {INFERENCES}
repetitions = {REPETITIONS}
warmup = {WARMUP}
idle_seconds = {IDLE_S}
cooldown_seconds = 0.05

[probes]
sources = ["estimate"]
sample_hz = 50
"#,
        d1 = data("d1"),
        d2 = data("d2"),
    )
}

/// Live processes whose working folder is `dir` (launched servers run in the suite's).
fn processes_in(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == dir))
        .filter(|&pid| process_alive(pid))
        .collect()
}

/// Kills what a failed test would leave in the suite folder.
struct Reap(PathBuf);

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in processes_in(&self.0) {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) only sends a signal.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// One run folder under test.
struct Folder {
    suite_dir: PathBuf,
    suite: PathBuf,
    out: PathBuf,
    state: Arc<Mutex<Readiness>>,
    invocations: usize,
}

impl Folder {
    /// Starts the next invocation: `run --out` first, `run --resume` after.
    fn spawn(&mut self, allow_ready: bool) -> Child {
        {
            let mut s = self.state.lock().expect("lock");
            s.out = self.out.clone();
            s.allow = allow_ready;
            s.polls = 0;
            s.ready = None;
        }
        let mut cmd = joulebench();
        if self.invocations == 0 {
            cmd.args(["run", "--quiet", "--out"])
                .arg(&self.out)
                .arg(&self.suite);
        } else {
            cmd.args(["run", "--quiet", "--resume"]).arg(&self.out);
        }
        self.invocations += 1;
        let log = std::fs::File::create(
            self.suite_dir
                .join(format!("stderr{}.log", self.invocations)),
        )
        .expect("log");
        cmd.stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start joulebench")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(
            self.suite_dir
                .join(format!("stderr{}.log", self.invocations)),
        )
        .unwrap_or_default()
    }

    /// Whether the event that starts the kill point's delay has happened.
    fn event(&self, kill: &KillPoint) -> bool {
        let s = self.state.lock().expect("lock");
        let Some((_, at_ready)) = s.ready else {
            // Start-up begins with joulebench polling readiness.
            return kill.phase == Phase::StartUp && s.polls > 0;
        };
        let left = CONFIGS.len() * REPETITIONS * INFERENCES - at_ready.measured;
        match kill.phase {
            Phase::StartUp => true,
            Phase::Baseline => true,
            Phase::Warmup => counts(&s.out).warmup >= at_ready.warmup + kill.at as usize,
            Phase::Repetitions => {
                // 1 ..= left - 1 rows into what is left: inside the repetitions.
                let k = 1 + ((left - 1) as f64 * kill.share) as usize;
                counts(&s.out).measured >= at_ready.measured + k.min(left - 1)
            }
            Phase::Ending => counts(&s.out).measured >= at_ready.measured + left,
        }
    }

    /// Milliseconds from the event to the kill.
    fn delay(kill: &KillPoint) -> Duration {
        match kill.phase {
            Phase::StartUp | Phase::Baseline | Phase::Ending => Duration::from_millis(kill.at),
            Phase::Warmup | Phase::Repetitions => Duration::ZERO,
        }
    }

    /// Runs an invocation and SIGKILLs it at `kill`; returns where it was killed, or None
    /// when an ending kill came after the run had exited (0).
    fn kill_at(&mut self, kill: &KillPoint) -> Option<Landed> {
        let mut child = self.spawn(kill.phase != Phase::StartUp);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut event_at: Option<Instant> = None;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                assert!(
                    kill.phase == Phase::Ending && status.success(),
                    "invocation {} ended ({status}) before kill point {kill:?}: {}",
                    self.invocations,
                    self.stderr()
                );
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "kill point {kill:?} never came: {}",
                self.stderr()
            );
            if event_at.is_none() && self.event(kill) {
                event_at = Some(Instant::now());
            }
            if event_at.is_some_and(|t| t.elapsed() >= Self::delay(kill)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().expect("SIGKILL joulebench");
        let status = child.wait().expect("reap joulebench");
        if status.success() && kill.phase == Phase::Ending {
            return None;
        }
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL),
            "killed, not exited: {}",
            self.stderr()
        );
        let stderr = self.stderr();
        assert!(!stderr.contains("panicked"), "{stderr}");
        self.assert_no_server_left("after SIGKILL");
        Some(self.landed())
    }

    /// Waits (bounded) until no launched server of this folder runs.
    fn assert_no_server_left(&self, when: &str) {
        let mut left = Vec::new();
        assert!(
            wait_until(Duration::from_secs(10), || {
                left = processes_in(&self.suite_dir);
                left.is_empty()
            }),
            "{when}: processes {left:?} still run in {}",
            self.suite_dir.display()
        );
    }

    /// Where the folder shows the last invocation was when it was killed.
    fn landed(&self) -> Landed {
        let s = self.state.lock().expect("lock");
        let Some((_, at_ready)) = s.ready else {
            return "start-up";
        };
        let now = counts(&s.out);
        let left = CONFIGS.len() * REPETITIONS * INFERENCES - at_ready.measured;
        if now.measured == at_ready.measured + left {
            let reps: BTreeSet<(String, String)> = whole_rows(&s.out.join("repetitions.csv"))
                .into_iter()
                .map(|r| (r["config"].clone(), r["repetition"].clone()))
                .collect();
            return if manifest(&s.out)["status"] == "complete" {
                "ending: report (run.json complete)"
            } else if reps.len() == CONFIGS.len() * REPETITIONS {
                "ending: stopping the server"
            } else {
                "ending: last repetition's row"
            };
        }
        if now.warmup == at_ready.warmup
            && now.measured == at_ready.measured
            && at_ready.baselines == 0
        {
            return "baseline";
        }
        let rows = whole_rows(&s.out.join("requests.csv"));
        let last = rows.last().map_or("", |l| l["config"].as_str());
        let warmups_of_last = rows
            .iter()
            .filter(|r| r["phase"] == "warmup")
            .skip(at_ready.warmup)
            .filter(|r| r["config"] == last)
            .count();
        let in_warmup = now.measured == at_ready.measured
            || rows.last().is_some_and(|r| r["phase"] == "warmup") && warmups_of_last < WARMUP;
        if in_warmup { "warm-up" } else { "repetitions" }
    }

    /// Resumes to the end (unless the last invocation finished) and checks the folder.
    fn resume_and_check(&mut self, finished: bool) {
        if !finished {
            let mut child = self.spawn(true);
            let mut status = None;
            assert!(
                wait_until(Duration::from_secs(60), || {
                    status = child.try_wait().expect("try_wait");
                    status.is_some()
                }),
                "the resumed run did not end"
            );
            let status = status.expect("status");
            let stderr = self.stderr();
            assert!(status.success(), "--resume exits 0: {status}: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
        let stderr = self.stderr();
        self.assert_no_server_left("after the resumed run");
        let out = &self.out;
        assert_eq!(manifest(out)["status"], "complete", "{stderr}");
        // Exactly inferences measured rows, each index once, per configuration and repetition.
        let mut per: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let rows = measured(out);
        for r in &rows {
            assert_eq!(r["status"], "ok", "{r:?}");
            per.entry((r["config"].clone(), r["repetition"].clone()))
                .or_default()
                .insert(r["index"].clone());
        }
        assert_eq!(rows.len(), CONFIGS.len() * REPETITIONS * INFERENCES);
        let want: BTreeSet<(String, String)> = CONFIGS
            .iter()
            .flat_map(|c| (1..=REPETITIONS).map(move |r| (c.to_string(), r.to_string())))
            .collect();
        assert_eq!(per.keys().cloned().collect::<BTreeSet<_>>(), want);
        for (key, indices) in &per {
            assert_eq!(indices.len(), INFERENCES, "{key:?}: {indices:?}");
        }
        // One repetitions.csv row per (configuration, repetition, source, domain).
        let reps = csv_rows(&out.join("repetitions.csv"));
        let mut seen = BTreeMap::new();
        for r in &reps {
            let key = (
                r["config"].clone(),
                r["repetition"].clone(),
                r["source"].clone(),
                r["domain"].clone(),
            );
            *seen.entry(key).or_insert(0) += 1;
            assert_eq!(r["requests"], INFERENCES.to_string(), "{r:?}");
        }
        assert!(
            seen.values().all(|&n| n == 1),
            "a repetition twice: {seen:?}"
        );
        let taken: BTreeSet<(String, String)> = seen
            .keys()
            .map(|(c, r, _, _)| (c.clone(), r.clone()))
            .collect();
        assert_eq!(taken, want);
        let baselines: BTreeSet<String> = csv_rows(&out.join("baselines.csv"))
            .into_iter()
            .map(|r| r["config"].clone())
            .collect();
        assert_eq!(baselines.len(), CONFIGS.len());
        let summary = csv_rows(&out.join("summary.csv"));
        assert_eq!(summary.len(), CONFIGS.len());
        for s in &summary {
            assert_eq!(s["repetitions"], REPETITIONS.to_string(), "{s:?}");
            assert_eq!(s["inferences"], (REPETITIONS * INFERENCES).to_string());
        }
    }
}

#[test]
fn sigkill_at_seeded_points_then_resume_leaves_no_server_and_exact_records() {
    let started = Instant::now();
    let state = Arc::new(Mutex::new(Readiness::default()));
    let ready = readiness_server(Arc::clone(&state));
    let plan = kill_plan(SEED);
    let mut hit: BTreeMap<Landed, usize> = BTreeMap::new();
    for (run, points) in plan.iter().enumerate() {
        let (dir, suite_path) = common::suite_dir(&suite(&ready.url), 5);
        let suite_dir = std::fs::canonicalize(dir.path()).expect("canonical");
        let _reap = Reap(suite_dir.clone());
        let mut folder = Folder {
            suite: suite_path,
            out: dir.path().join("results"),
            suite_dir,
            state: Arc::clone(&state),
            invocations: 0,
        };
        let mut finished = false;
        for kill in points {
            let landed = folder.kill_at(kill).unwrap_or("none: the run had exited 0");
            eprintln!("run {run}: aimed at {kill:?}, killed in {landed}");
            finished = landed == "none: the run had exited 0";
            *hit.entry(landed).or_default() += 1;
        }
        folder.resume_and_check(finished);
    }
    eprintln!(
        "seed {SEED:#x}: {} kills by phase {hit:?} in {:.1} s",
        hit.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    for phase in ["start-up", "baseline", "warm-up", "repetitions"] {
        assert!(
            hit.contains_key(&phase),
            "no kill landed in {phase:?}: {hit:?}"
        );
    }
}

#[test]
fn a_run_killed_while_writing_its_report_resumes_by_rendering_it() {
    let server = common::openai_server();
    let suite = common::one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        "inferences = 4\nrepetitions = 2\nwarmup = 1",
        "",
    );
    let (_dir, out) = common::run_suite_ok(&suite, 3);
    // What SIGKILL during the report leaves: run.json complete, the report's files not.
    for file in ["summary.csv", "summary.json", "summary.md", "domains.csv"] {
        std::fs::remove_file(out.join(file)).expect("remove a report file");
    }
    assert_eq!(manifest(&out)["status"], "complete");
    let posts = server.posts.load(std::sync::atomic::Ordering::SeqCst);
    let (output, stderr) = common::resume(&out);
    assert!(output.status.success(), "--resume exits 0: {stderr}");
    assert!(stderr.contains("already complete"), "{stderr}");
    let summary = csv_rows(&out.join("summary.csv"));
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["inferences"], "8");
    assert!(out.join("summary.json").exists());
    assert_eq!(
        server.posts.load(std::sync::atomic::Ordering::SeqCst),
        posts,
        "nothing is sent again"
    );
    assert_eq!(measured(&out).len(), 8);
}
