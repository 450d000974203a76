//! GPU power limits across processes, on the fake NVML: a run killed while it had changed
//! a limit leaves a journal; `joulebench probe list` reports it with the command that
//! restores each GPU, and the next run that sets limits restores from it first.
//!
//! The killed run is this test binary itself, re-run as [`killed_run_child`]: it sets a
//! limit on a fake GPU whose limit lives in a file (as a real GPU keeps its limit after
//! the process is gone), says so on stdout and waits on stdin until it is SIGKILLed.

use harness::power_limit::{self, JOURNAL_ENV, PowerLimits};
use probes::nvml::GpuDevice;
use probes::nvml::fake::{FakeGpu, FakeGpuState};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Set in the child: the folder of its fake GPU's limit file.
const CHILD_ENV: &str = "JOULEBENCH_TEST_POWER_LIMIT_CHILD";
/// What the child prints once its limit is set.
const SET_LINE: &str = "power limit set to 250 W: measuring until killed";

/// Fake GPU 0 (400 W, allowed 100 to 400 W) whose limit is kept in `dir/gpu0.limit`.
fn fake_gpu(dir: &Path) -> (Box<dyn GpuDevice>, Arc<Mutex<FakeGpuState>>) {
    let mut state = FakeGpuState::with_counter(0, 0);
    state.power_limit_file = Some(dir.join("gpu0.limit"));
    let (gpu, handle) = FakeGpu::new(state);
    (Box::new(gpu), handle)
}

/// `Ok` when the journal directory holds no journal, else the files there.
fn no_journals(journals: &Path) -> Result<(), Vec<std::path::PathBuf>> {
    let files = power_limit::journal_files(journals).expect("journal dir");
    if files.is_empty() { Ok(()) } else { Err(files) }
}

fn limit_in_file(dir: &Path) -> f64 {
    let text = std::fs::read_to_string(dir.join("gpu0.limit")).expect("limit file");
    text.trim().parse().expect("watts")
}

#[test]
#[ignore = "the run that `a_run_killed_mid_level_...` kills: runs only as its child"]
fn killed_run_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let (gpu, _) = fake_gpu(Path::new(&dir));
    let mut limits =
        PowerLimits::open(vec![gpu], power_limit::default_journal_dir()).expect("open");
    limits.set(250.0).expect("set");
    println!("\n{SET_LINE}");
    std::io::stdout().flush().expect("flush");
    // "Measures" until killed: the parent keeps stdin open and never writes to it.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// `joulebench probe list` (text and JSON) with `journals` as the journal directory, no
/// host probes.
fn probe_list(journals: &Path, dir: &Path) -> (String, Value) {
    let run = |json: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_joulebench"));
        cmd.args(["probe", "list"])
            .arg("--powercap-root")
            .arg(dir.join("no-powercap"))
            .arg("--sysfs-root")
            .arg(dir.join("no-sysfs"))
            .env(JOURNAL_ENV, journals);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().expect("running joulebench");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let json = serde_json::from_str(&run(true)).expect("JSON");
    (run(false), json)
}

#[test]
fn a_run_killed_mid_level_leaves_a_journal_that_probe_list_reports_and_the_next_run_restores() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journals = dir.path().join("state");
    std::fs::write(dir.path().join("gpu0.limit"), "400\n").expect("limit file");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "power_limits::killed_run_child", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .env(JOURNAL_ENV, &journals)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child run");
    let stdout = child.stdout.take().expect("child stdout");
    let set = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(SET_LINE));
    assert!(set, "the child ended without setting its limit");
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    // The GPU keeps the killed run's limit; the journal says whose it is and what was before.
    assert_eq!(limit_in_file(dir.path()), 250.0);
    let files = power_limit::journal_files(&journals).expect("journal dir");
    assert_eq!(files.len(), 1, "{files:?}");
    let journal = files[0].clone();
    let left = power_limit::read_journal(&journal)
        .expect("readable")
        .expect("left behind");
    assert_eq!(left.pid, child.id());
    assert!(!left.owner_alive());
    assert_eq!(left.gpus.len(), 1);
    assert_eq!(
        (left.gpus[0].uuid.as_str(), left.gpus[0].original_w),
        ("GPU-fake-0", 400.0)
    );

    let (text, json) = probe_list(&journals, dir.path());
    let pid = format!("pid {}", child.id());
    assert!(
        text.contains("warning: GPU power limits left changed") && text.contains(&pid),
        "{text}"
    );
    assert!(text.contains(&left.since), "{text}");
    assert!(
        text.contains("GPU 0 (GPU-fake-0): original limit 400 W")
            && text.contains("`sudo nvidia-smi -i GPU-fake-0 -pl 400`"),
        "{text}"
    );
    let found = &json["power_limit_journals"][0];
    assert_eq!(found["left_behind"], true, "{json}");
    assert_eq!(found["pid"], child.id());
    assert_eq!(found["gpus"][0]["original_w"], 400.0);
    assert_eq!(
        found["gpus"][0]["restore_command"],
        "sudo nvidia-smi -i GPU-fake-0 -pl 400"
    );

    // The next run restores from the journal before it reads its originals.
    let (gpu, handle) = fake_gpu(dir.path());
    let mut limits = PowerLimits::open(vec![gpu], &journals).expect("recovers");
    assert!(limits.recovered().is_some_and(|r| r.contains(&pid)));
    assert_eq!(limit_in_file(dir.path()), 400.0);
    assert!(!journal.exists());
    assert_eq!(
        power_limit::journal_files(&journals).expect("journal dir"),
        [limits.journal_path().expect("claimed").to_path_buf()],
        "only the new run's claim"
    );
    assert_eq!(
        limits.gpus()[0].original_w,
        400.0,
        "not the killed run's 250 W"
    );
    limits.set(300.0).expect("its own level");
    limits.restore().expect("restore");
    let sets = handle.lock().expect("fake state").power_limit_sets.clone();
    assert_eq!(sets, [400.0, 300.0, 400.0], "recover, set, restore");
    assert_eq!(limit_in_file(dir.path()), 400.0);
    assert_eq!(no_journals(&journals), Ok(()));

    let (text, json) = probe_list(&journals, dir.path());
    assert!(!text.contains("power limits left changed"), "{text}");
    assert_eq!(json["power_limit_journals"], Value::Array(Vec::new()));
}

/// A suite of one model on `url` swept at `c1` and `c2` × 250 and 300 W over NVML.
fn sweep_suite(url: &str) -> String {
    limits_suite(url, "[\"c1\", \"c2\"]", "gpu_power_limits_w = [250, 300]")
}

/// A suite of one model on `url` at `load`, with `limits` (a `[schedule]` line, or empty).
fn limits_suite(url: &str, load: &str, limits: &str) -> String {
    format!(
        r#"[suite]
name = "limits"

[servers.local]
protocol = "openai-completions"
url = "{url}"

[[models]]
name = "m1"
served_name = "served-m1"
task = "sentiment"
class = "general-purpose"
server = "local"

{sample}
[schedule]
inferences = 4
repetitions = 2
warmup = 1
idle_seconds = 0
cooldown_seconds = 0
load = {load}
{limits}

[probes]
sources = ["nvml"]
sample_hz = 50
"#,
        sample = crate::common::sample_sentiment_toml("sentiment? {text}", 3)
    )
}

/// Runs `suite_text` through the harness on a fake GPU (400 W, allowed 100–400 W) that
/// both the probes and the power limits reach, journaling in the temp folder.
fn run_sweep(
    suite_text: &str,
    state: FakeGpuState,
) -> (
    Result<harness::run::RunResult, harness::run::RunError>,
    Arc<Mutex<FakeGpuState>>,
    tempfile::TempDir,
) {
    let (dir, path) = crate::common::suite_dir(suite_text, 8);
    let suite = harness::suite::load(&path).expect("suite loads");
    let (gpu, handle) = FakeGpu::new(state);
    let result = run_on_fake(&suite, &gpu, dir.path(), &|| {
        Ok(vec![Box::new(gpu.clone()) as Box<dyn GpuDevice>])
    });
    (result, handle, dir)
}

/// Runs `suite` through [`harness::run::run_on`] with the fake `gpu` as its NVML probe,
/// results in `dir/results`, power limits through `open` journaling in `dir/journals`.
fn run_on_fake(
    suite: &harness::suite::Suite,
    gpu: &FakeGpu,
    dir: &Path,
    open: harness::run::GpuOpener<'_>,
) -> Result<harness::run::RunResult, harness::run::RunError> {
    let library = probes::nvml::fake::FakeLibrary {
        gpus: vec![gpu.clone()],
    };
    let power = harness::run::PowerControl {
        open,
        journal: dir.join("journals"),
    };
    crate::common::run_on_devices(suite, &dir.join("results"), Some(library), &power)
}

fn steady_gpu() -> FakeGpuState {
    let mut state = FakeGpuState::with_counter(0, 1_000_000);
    state.drive = Some(probes::nvml::fake::FakeDrive::steady(100.0));
    state
}

#[test]
fn a_sweep_measures_each_level_at_its_limit_and_ends_at_the_limit_found() {
    let server = crate::common::slow_openai_server(std::time::Duration::from_millis(5));
    let (result, handle, dir) = run_sweep(&sweep_suite(&server.url), steady_gpu());
    let result = result.expect("the run completes");
    assert_eq!(result.status, records::manifest::RunStatus::Complete);
    let state = handle.lock().expect("fake state").clone();
    assert_eq!(state.power_limit_w.clone().ok(), Some(400.0), "restored");
    let sets = &state.power_limit_sets;
    assert_eq!(sets.last(), Some(&400.0), "the last set restores: {sets:?}");
    assert!(sets.contains(&250.0) && sets.contains(&300.0), "{sets:?}");
    assert_eq!(
        no_journals(&dir.path().join("journals")),
        Ok(()),
        "journal removed"
    );
    // The limit read at every repetition's edges is the configuration's own: it was in
    // force while the configuration was measured.
    let states = crate::common::csv_rows(&result.dir.join("window_state.csv"));
    let mut seen = std::collections::BTreeSet::new();
    for r in states
        .iter()
        .filter(|r| r["window"] == "repetition" && r["key"] == "power_limit_w")
    {
        let wanted: f64 = r["config"]
            .rsplit_once('-')
            .and_then(|(_, w)| w.strip_suffix('w'))
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("a limit in {}", r["config"]));
        let read: f64 = r["value"].parse().expect("watts");
        assert_eq!(read, wanted, "{r:?}");
        seen.insert(r["config"].clone());
    }
    assert_eq!(seen.len(), 4, "c1 and c2 at 250 and 300 W: {seen:?}");
}

#[test]
fn a_run_that_fails_mid_sweep_still_restores_the_limit_found() {
    // Every request is refused: the warm-up of the first configuration fails the run
    // after its limit was set.
    let server = crate::common::TestServer::start_replies(|r| {
        if r.method == "POST" {
            crate::common::Reply::Close
        } else {
            crate::common::Reply::Json(404, String::new())
        }
    });
    let (result, handle, dir) = run_sweep(&sweep_suite(&server.url), steady_gpu());
    let err = result.expect_err("the run fails");
    assert!(
        err.to_string().contains("warm-up requests failed"),
        "the warm-up failure stops the run: {err}"
    );
    let state = handle.lock().expect("fake state").clone();
    assert!(
        state.power_limit_sets.iter().any(|&w| w < 400.0),
        "a limit was set before the failure: {:?}",
        state.power_limit_sets
    );
    assert_eq!(state.power_limit_w.ok(), Some(400.0), "restored");
    assert_eq!(no_journals(&dir.path().join("journals")), Ok(()));
}

#[test]
fn without_root_the_sweep_stops_before_any_window_and_says_how_to_fix_it() {
    let server = crate::common::slow_openai_server(std::time::Duration::from_millis(5));
    let mut state = steady_gpu();
    state.set_power_limit_error = Some(probes::nvml::GpuError::NoPermission);
    let (result, handle, _dir) = run_sweep(&sweep_suite(&server.url), state);
    let err = anyhow_like(result.expect_err("refused"));
    assert!(err.contains("root"), "{err}");
    assert_eq!(
        server.count("POST", "/v1/completions"),
        0,
        "nothing measured at the wrong limit"
    );
    assert_eq!(
        handle
            .lock()
            .expect("fake state")
            .power_limit_w
            .clone()
            .ok(),
        Some(400.0)
    );
}

/// The error and its causes, one per line.
fn anyhow_like(e: harness::run::RunError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!("\n{s}"));
        source = s.source();
    }
    text
}

#[test]
fn a_limit_outside_a_gpus_range_stops_the_run_before_anything_is_measured_or_set() {
    let server = crate::common::openai_server();
    let suite = limits_suite(&server.url, "[\"c1\"]", "gpu_power_limits_w = [250, 450]");
    let (result, handle, dir) = run_sweep(&suite, steady_gpu());
    let err = anyhow_like(result.expect_err("450 W is above the GPU's 400 W"));
    for part in [
        "schedule.gpu_power_limits_w",
        "450 W is outside GPU 0 (GPU-fake-0)",
        "100 to 400 W",
        "nvidia-smi -q -d POWER",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert_eq!(
        server.count("POST", "/v1/completions"),
        0,
        "nothing measured"
    );
    let state = handle.lock().expect("fake state").clone();
    assert!(
        state.power_limit_sets.is_empty(),
        "not even 250 W was set: {:?}",
        state.power_limit_sets
    );
    assert_eq!(no_journals(&dir.path().join("journals")), Ok(()));
}

/// A journal left behind in `journals` by a run that is gone (no such pid), naming fake
/// GPU 0 with an original limit of 400 W.
fn crashed_sweeps_journal(journals: &Path) -> std::path::PathBuf {
    let journal = power_limit::Journal {
        version: 1,
        pid: 0x7fff_fffe,
        process_start_ticks: Some(1),
        program: "joulebench".into(),
        since: "2026-01-02T03:04:05+00:00".into(),
        gpus: vec![power_limit::JournalGpu {
            index: 0,
            uuid: "GPU-fake-0".into(),
            original_w: 400.0,
        }],
    };
    std::fs::create_dir_all(journals).expect("journal dir");
    let path = journals.join("power-limits-2147483646-0.json");
    let text = serde_json::to_string(&journal).expect("JSON");
    std::fs::write(&path, text).expect("journal");
    path
}

/// Runs a one-level suite that sets no limit on fake GPU 0 (`state`), with `journal` run
/// on the journal directory first; the opener counts its calls, failing as an absent NVML
/// when `nvml` is false.
fn run_unswept(
    state: FakeGpuState,
    nvml: bool,
    journal: impl FnOnce(&Path),
) -> (
    Result<harness::run::RunResult, harness::run::RunError>,
    Arc<Mutex<FakeGpuState>>,
    crate::common::TestServer,
    usize,
    tempfile::TempDir,
) {
    let server = crate::common::openai_server();
    let suite_text = limits_suite(&server.url, "[\"c1\"]", "");
    let (dir, path) = crate::common::suite_dir(&suite_text, 8);
    journal(&dir.path().join("journals"));
    let suite = harness::suite::load(&path).expect("suite loads");
    let (gpu, handle) = FakeGpu::new(state);
    let opens = std::sync::atomic::AtomicUsize::new(0);
    let open = || {
        opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if nvml {
            Ok(vec![Box::new(gpu.clone()) as Box<dyn GpuDevice>])
        } else {
            Err(power_limit::PowerLimitError::Devices(
                probes::nvml::GpuError::Failed("libnvidia-ml.so.1 not found".into()),
            ))
        }
    };
    let result = run_on_fake(&suite, &gpu, dir.path(), &open);
    let opens = opens.load(std::sync::atomic::Ordering::SeqCst);
    (result, handle, server, opens, dir)
}

#[test]
fn a_run_that_sets_no_limit_restores_a_crashed_sweeps_limit_before_measuring() {
    let mut state = steady_gpu();
    state.power_limit_w = Ok(250.0);
    let (result, handle, _server, _, dir) = run_unswept(state, true, |j| {
        crashed_sweeps_journal(j);
    });
    let result = result.expect("the run completes");
    assert_eq!(result.status, records::manifest::RunStatus::Complete);
    let state = handle.lock().expect("fake state").clone();
    assert_eq!(
        state.power_limit_sets,
        [400.0],
        "restored once, before the run"
    );
    assert_eq!(no_journals(&dir.path().join("journals")), Ok(()));
    // Measured at the limit found before the crash, not at the crash's 250 W.
    let states = crate::common::csv_rows(&result.dir.join("window_state.csv"));
    let limits: Vec<&str> = states
        .iter()
        .filter(|r| r["key"] == "power_limit_w")
        .map(|r| r["value"].as_str())
        .collect();
    assert!(!limits.is_empty(), "the limit is read at the edges");
    assert!(limits.iter().all(|&w| w == "400"), "{limits:?}");
}

#[test]
fn a_run_that_sets_no_limit_and_cannot_restore_a_crashed_sweeps_limit_refuses_with_the_command() {
    let mut state = steady_gpu();
    state.power_limit_w = Ok(250.0);
    state.set_power_limit_error = Some(probes::nvml::GpuError::NoPermission);
    let mut kept = std::path::PathBuf::new();
    let (result, handle, server, _, _dir) = run_unswept(state, true, |j| {
        kept = crashed_sweeps_journal(j);
    });
    let err = anyhow_like(result.expect_err("refused"));
    assert!(
        err.contains("`sudo nvidia-smi -i GPU-fake-0 -pl 400`") && err.contains("then remove"),
        "{err}"
    );
    assert_eq!(
        server.count("POST", "/v1/completions"),
        0,
        "nothing measured"
    );
    assert!(kept.exists(), "the evidence stays");
    let state = handle.lock().expect("fake state").clone();
    assert_eq!(state.power_limit_w.ok(), Some(250.0));
}

#[test]
fn a_run_that_sets_no_limit_opens_no_nvml_without_a_journal() {
    let (result, _, _server, opens, _dir) = run_unswept(steady_gpu(), false, |_| {});
    let result = result.expect("the run completes without NVML");
    assert_eq!(result.status, records::manifest::RunStatus::Complete);
    assert_eq!(opens, 0, "no journal: NVML not opened for power limits");

    // With a journal left behind but no NVML: warned about, and the run goes on.
    let (result, _, _server, opens, dir) = run_unswept(steady_gpu(), false, |j| {
        crashed_sweeps_journal(j);
    });
    let result = result.expect("the run completes");
    assert_eq!(result.status, records::manifest::RunStatus::Complete);
    assert_eq!(opens, 1);
    assert!(no_journals(&dir.path().join("journals")).is_err(), "kept");
}

/// Set in the interrupted child: its temp folder (suite, limit file, journals, results).
const RUN_CHILD_ENV: &str = "JOULEBENCH_TEST_POWER_LIMIT_RUN_CHILD";
/// How the interrupted child reports the run's end on stdout.
const RUN_ENDED: &str = "power-limit run ended:";

#[test]
#[ignore = "the run that `a_run_interrupted_mid_level_...` interrupts: runs only as its child"]
fn interrupted_run_child() {
    let Some(dir) = std::env::var_os(RUN_CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let suite = harness::suite::load(&dir.join("suite.toml")).expect("suite loads");
    let mut state = steady_gpu();
    state.power_limit_file = Some(dir.join("gpu0.limit"));
    let (gpu, _) = FakeGpu::new(state);
    let result = run_on_fake(&suite, &gpu, dir, &|| {
        Ok(vec![Box::new(gpu.clone()) as Box<dyn GpuDevice>])
    });
    match result {
        Ok(r) => println!("\n{RUN_ENDED} {:?}", r.status),
        Err(e) => println!("\n{RUN_ENDED} error: {}", anyhow_like(e)),
    }
    std::io::stdout().flush().expect("flush");
}

#[test]
fn a_run_interrupted_mid_level_restores_the_limit_and_says_interrupted() {
    use std::time::Duration;
    let server = crate::common::openai_server();
    // Post 0 is the first level's warm-up, 1 and 2 its first measured requests: the third
    // is held, so the child is mid-repetition of its first level.
    server.gate.hold_from(2);
    let suite = limits_suite(&server.url, "[\"c1\"]", "gpu_power_limits_w = [250, 300]");
    let (dir, _) = crate::common::suite_dir(&suite, 8);
    std::fs::write(dir.path().join("gpu0.limit"), "400\n").expect("limit file");
    let journals = dir.path().join("journals");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "power_limits::interrupted_run_child",
            "--ignored",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env(RUN_CHILD_ENV, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child run");
    let mut stdout = child.stdout.take().expect("child stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let held = server.wait_for_posts(3, Duration::from_secs(60));
    if !held {
        let _ = child.kill();
    }
    assert!(
        held,
        "the child never reached its first level's third request"
    );
    // Mid-level: at the level's limit, with the GPU claimed in the journal.
    let level = limit_in_file(dir.path());
    assert!(level == 250.0 || level == 300.0, "{level}");
    assert_eq!(
        power_limit::journal_files(&journals)
            .expect("journal dir")
            .len(),
        1
    );

    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill only sends SIGINT to the child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "SIGINT");
    server.gate.open();
    let mut status = None;
    let ended = crate::common::wait_until(Duration::from_secs(60), || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "the child did not end after SIGINT");
    let status = status.expect("ended");
    let out = reader.join().expect("stdout");
    assert_eq!(status.signal(), None, "ended by the signal: {out}");
    assert!(status.success(), "{status:?}: {out}");
    assert!(out.contains(&format!("{RUN_ENDED} Interrupted")), "{out}");

    assert_eq!(limit_in_file(dir.path()), 400.0, "restored");
    assert_eq!(no_journals(&journals), Ok(()));
    let manifest = crate::common::manifest(&dir.path().join("results"));
    assert_eq!(manifest["status"], "interrupted", "{manifest}");
    let planned = 2 * 2 * 4 + 2;
    assert!(
        server.count("POST", "/v1/completions") < planned,
        "stopped before the end"
    );
}
