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
load = ["c1", "c2"]
gpu_power_limits_w = [250, 300]

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
    let opts = harness::run::RunOptions {
        out: Some(dir.path().join("results")),
        quiet: true,
        version: "test".into(),
        git_revision: None,
        joulebench_exe: std::path::PathBuf::from(env!("CARGO_BIN_EXE_joulebench")),
        shard: None,
    };
    let clock = probes::MonotonicClock::new();
    let config = harness::probe_setup::probe_config(&suite.probes);
    let library = probes::nvml::fake::FakeLibrary {
        gpus: vec![gpu.clone()],
    };
    let probe_set = probes::discover_with(&config, &clock, Some(Box::new(library)));
    let power = harness::run::PowerControl {
        open: &|| Ok(vec![Box::new(gpu.clone()) as Box<dyn GpuDevice>]),
        journal: dir.path().join("journals"),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let result = runtime.block_on(harness::run::run_on(
        &suite,
        &suite.plan,
        &opts,
        clock,
        &probe_set,
        &power,
    ));
    (result, handle, dir)
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
    assert!(!err.to_string().is_empty());
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
