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
        PowerLimits::open(vec![gpu], power_limit::default_journal_path()).expect("open");
    limits.set(250.0).expect("set");
    println!("\n{SET_LINE}");
    std::io::stdout().flush().expect("flush");
    // "Measures" until killed: the parent keeps stdin open and never writes to it.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// `joulebench probe list` (text and JSON) with `journal` as the journal, no host probes.
fn probe_list(journal: &Path, dir: &Path) -> (String, Value) {
    let run = |json: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_joulebench"));
        cmd.args(["probe", "list"])
            .arg("--powercap-root")
            .arg(dir.join("no-powercap"))
            .arg("--sysfs-root")
            .arg(dir.join("no-sysfs"))
            .env(JOURNAL_ENV, journal);
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
    let journal = dir.path().join("state/power-limits.json");
    std::fs::write(dir.path().join("gpu0.limit"), "400\n").expect("limit file");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "power_limits::killed_run_child", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .env(JOURNAL_ENV, &journal)
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

    let (text, json) = probe_list(&journal, dir.path());
    let pid = format!("pid {}", child.id());
    assert!(
        text.contains("warning: GPU power limits left changed") && text.contains(&pid),
        "{text}"
    );
    assert!(text.contains(&left.since), "{text}");
    assert!(
        text.contains("GPU 0 (GPU-fake-0): original limit 400 W")
            && text.contains("`sudo nvidia-smi -i 0 -pl 400`"),
        "{text}"
    );
    let found = &json["power_limit_journals"][0];
    assert_eq!(found["left_behind"], true, "{json}");
    assert_eq!(found["pid"], child.id());
    assert_eq!(found["gpus"][0]["original_w"], 400.0);
    assert_eq!(
        found["gpus"][0]["restore_command"],
        "sudo nvidia-smi -i 0 -pl 400"
    );

    // The next run restores from the journal before it reads its originals.
    let (gpu, handle) = fake_gpu(dir.path());
    let mut limits = PowerLimits::open(vec![gpu], &journal).expect("recovers");
    assert!(limits.recovered().is_some_and(|r| r.contains(&pid)));
    assert_eq!(limit_in_file(dir.path()), 400.0);
    assert!(!journal.exists());
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

    let (text, json) = probe_list(&journal, dir.path());
    assert!(!text.contains("power limits left changed"), "{text}");
    assert_eq!(json["power_limit_journals"], Value::Array(Vec::new()));
}
