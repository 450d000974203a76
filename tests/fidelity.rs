//! The validity checklist driven end to end on fake devices at their real interfaces: a
//! fake NVML library (counter, power field, temperature, clocks, limits, per-process
//! samples) and a fake powercap tree whose counters a simulated load moves. Each check is
//! made to fail and to pass; `--strict` exits 4 on a failure.

use crate::common::{csv_rows, slow_openai_server, suite_dir};
use probes::fake::FakePowercap;
use probes::nvml::fake::{FakeChange, FakeDrive, FakeGpu, FakeGpuState, FakeLibrary};
use report::fidelity::{ConfigFidelity, Status};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type GpuHandle = Arc<Mutex<FakeGpuState>>;

/// A suite of one model on `url`, 3 repetitions of 10 requests, with `probes` and
/// `servers_extra` appended to its server table.
fn suite(url: &str, probes: &str, servers_extra: &str) -> String {
    format!(
        r#"[suite]
name = "fidelity"

[servers.local]
protocol = "openai-completions"
url = "{url}"
{servers_extra}

[[models]]
name = "m1"
served_name = "served-m1"
task = "sentiment"
class = "general-purpose"
server = "local"

{sample}
[schedule]
inferences = 10
repetitions = 3
warmup = 1
idle_seconds = 0
cooldown_seconds = 0

[probes]
{probes}
sample_hz = 50
"#,
        sample = crate::common::sample_sentiment_toml("sentiment? {text}", 3)
    )
}

/// Runs `suite_text` through the harness on probes opened with `gpus` as NVML, and
/// renders its report.
fn run_on_devices(
    suite_text: &str,
    gpus: Option<FakeLibrary>,
) -> (PathBuf, report::Report, tempfile::TempDir) {
    let (dir, path) = suite_dir(suite_text, 20);
    let suite = harness::suite::load(&path).expect("suite loads");
    let out = dir.path().join("results");
    let power = harness::run::PowerControl {
        open: &|| Ok(Vec::new()),
        journal: PathBuf::from("unused: the suite sets no power limit"),
    };
    let result =
        crate::common::run_on_devices(&suite, &out, gpus, &power).expect("the run completes");
    assert_eq!(result.status, records::manifest::RunStatus::Complete);
    let options = report::ReportOptions {
        plots: false,
        ..report::ReportOptions::default()
    };
    let report = report::render_with(&out, &options).expect("report");
    (out, report, dir)
}

fn fidelity(report: &report::Report) -> &ConfigFidelity {
    assert_eq!(report.fidelity.len(), 1);
    &report.fidelity[0]
}

fn status(f: &ConfigFidelity, check: &str) -> (Status, String) {
    let c = f
        .checklist
        .iter()
        .find(|c| c.name == check)
        .unwrap_or_else(|| panic!("no check {check}"));
    (c.status, c.detail.clone())
}

/// A fake GPU with an energy counter, under `drive` when given.
fn gpu(drive: Option<FakeDrive>) -> (FakeLibrary, GpuHandle) {
    let mut state = FakeGpuState::with_counter(0, 1_000_000);
    state.drive = drive;
    let (g, handle) = FakeGpu::new(state);
    (FakeLibrary { gpus: vec![g] }, handle)
}

const NVML: &str = "sources = [\"nvml\"]";

#[test]
fn a_gpu_counter_that_disagrees_with_its_power_integral_fails_the_cross_check() {
    let server = slow_openai_server(Duration::from_millis(30));
    let text = suite(&server.url, NVML, "");
    for (field_w, fails) in [(100.0, false), (175.0, true)] {
        let drive = FakeDrive {
            field_w,
            ..FakeDrive::steady(100.0)
        };
        let (library, _h) = gpu(Some(drive));
        let (out, report, _dir) = run_on_devices(&text, Some(library));
        let f = fidelity(&report);
        let (s, detail) = status(f, "cross-check");
        let checks = &f.cross_checks.checks;
        // One per repetition, unless a stalled sampler left a window under-covered (then
        // it is skipped with why, never judged on too few samples).
        assert_eq!(
            checks.len() + f.cross_checks.skipped.len(),
            3,
            "{:?}",
            f.cross_checks
        );
        assert!(!checks.is_empty(), "{:?}", f.cross_checks);
        for c in checks {
            assert_eq!(c.check, "gpu-counter-vs-power");
            let expected = field_w / 100.0 - 1.0;
            assert!(
                (c.difference - expected).abs() < 0.05,
                "{c:?}: counter at 100 W, field at {field_w} W"
            );
        }
        if fails {
            assert_eq!(s, Status::Fail, "{detail}");
            assert!(
                detail.contains("cross-check(gpu-counter-vs-power nvml/gpu-0"),
                "{detail}"
            );
            let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
            assert!(summary.contains("| **FAIL** |"), "{summary}");
        } else {
            assert_eq!(s, Status::Pass, "{detail}");
        }
        // The GPU's windows are far shorter than its counter's 2 s update period.
        assert_eq!(status(f, "window-length").0, Status::Fail);
    }
}

#[test]
fn a_temperature_ramp_fails_the_drift_check_and_a_steady_gpu_passes() {
    let server = slow_openai_server(Duration::from_millis(30));
    let text = suite(&server.url, NVML, "");
    for (rate, fails) in [(0.0, false), (40.0, true)] {
        let drive = FakeDrive {
            temperature_c_per_s: rate,
            ..FakeDrive::steady(100.0)
        };
        let (library, _h) = gpu(Some(drive));
        let (_out, report, _dir) = run_on_devices(&text, Some(library));
        let f = fidelity(&report);
        let (s, detail) = status(f, "drift");
        if fails {
            // Three windows of at least 0.3 s each: the third starts ≥ 0.6 s (24 °C) later.
            assert_eq!(s, Status::Fail, "{detail}");
            assert!(detail.contains("temperature-drift(gpu-0: "), "{detail}");
        } else {
            assert_eq!(s, Status::Pass, "{detail}");
            let temps = f
                .state
                .rows
                .iter()
                .find(|r| r.key == "temperature_c")
                .expect("recorded");
            assert_eq!(temps.distinct, ["45"]);
        }
    }
}

#[test]
fn a_clock_or_a_power_limit_changed_mid_configuration_fails_the_drift_check() {
    let server = slow_openai_server(Duration::from_millis(30));
    let text = suite(&server.url, NVML, "");
    let changes = [
        (
            "clocks-changed(gpu-0 sm_clock_mhz: 705–1410 MHz)",
            FakeChange {
                sm_clock_mhz: Some(705.0),
                ..FakeChange::default()
            },
        ),
        (
            "setting-changed(gpu-0 power_limit_w: 400 → 300)",
            FakeChange {
                power_limit_w: Some(300.0),
                ..FakeChange::default()
            },
        ),
    ];
    for (expected, change) in changes {
        let (library, handle) = gpu(Some(FakeDrive::steady(100.0)));
        // The operator changes the GPU at the third state read: the start of repetition 2
        // (no baseline, so reads 1 and 2 are repetition 1's edges).
        handle.lock().expect("state").changes = vec![(3, change)];
        let (_out, report, _dir) = run_on_devices(&text, Some(library));
        let f = fidelity(&report);
        let (s, detail) = status(f, "drift");
        assert_eq!(s, Status::Fail, "{detail}");
        assert!(detail.contains(expected), "{detail}");
    }
    // Unchanged, the same GPU passes.
    let (library, _h) = gpu(Some(FakeDrive::steady(100.0)));
    let (_out, report, _dir) = run_on_devices(&text, Some(library));
    let (s, detail) = status(fidelity(&report), "drift");
    assert_eq!(s, Status::Pass, "{detail}");
}

#[test]
fn a_stuck_gpu_counter_fails_counter_moved_and_throttling_fails_drift() {
    let server = slow_openai_server(Duration::from_millis(30));
    let text = suite(&server.url, NVML, "");
    // No load: the counter stays where it was.
    let (library, handle) = gpu(None);
    handle.lock().expect("state").throttle = 4 | 64; // power cap + HW thermal slowdown
    let (_out, report, _dir) = run_on_devices(&text, Some(library));
    let f = fidelity(&report);
    let (s, detail) = status(f, "counter-moved");
    assert_eq!(s, Status::Fail, "{detail}");
    assert!(
        detail.contains("counter-stuck(nvml/gpu-0: rep 1,2,3)"),
        "{detail}"
    );
    let (s, detail) = status(f, "drift");
    assert_eq!(s, Status::Fail);
    // The power cap is how a loaded GPU holds its limit; the thermal slowdown is not.
    assert!(
        detail.contains("throttled(gpu-0: hw_thermal_slowdown)"),
        "{detail}"
    );
    // The stuck counter is not cross-checked against the power field: skipped, saying why.
    assert!(f.cross_checks.checks.is_empty(), "{:?}", f.cross_checks);
    assert!(
        f.cross_checks
            .skipped
            .iter()
            .all(|w| w.contains("did not move") || w.contains("power samples span")),
        "{:?}",
        f.cross_checks
    );
    // With a load, the same GPU's counter moves.
    let (library, _h) = gpu(Some(FakeDrive::steady(80.0)));
    let (_out, report, _dir) = run_on_devices(&text, Some(library));
    assert_eq!(status(fidelity(&report), "counter-moved").0, Status::Pass);
}

#[test]
fn gpu_energy_is_apportioned_by_the_servers_share_of_sm_samples() {
    let server = slow_openai_server(Duration::from_millis(30));
    // The server's processes, as a suite names them: a process of its own (joulebench's
    // process, where the fake HTTP server runs, is the client's and never the server's).
    let mut served = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let pid = served.id();
    let text = suite(&server.url, NVML, &format!("pid = {pid}"));
    let (library, handle) = gpu(Some(FakeDrive::steady(100.0)));
    handle.lock().expect("state").processes = Ok(vec![(pid, 60), (1, 20)]);
    let (out, report, _dir) = run_on_devices(&text, Some(library));
    let a = &fidelity(&report).attribution;
    assert_eq!(a.server_scope, format!("pid {pid} and descendants"));
    let g = &a.gpu["gpu-0"];
    assert_eq!(g.share, 0.75, "60 of 80 SM-% samples");
    assert_eq!(g.repetitions, 3);
    let rows = csv_rows(&out.join(records::files::ATTRIBUTION_CSV));
    let gpu_rows: Vec<_> = rows
        .iter()
        .filter(|r| r["resource"] == "gpu-0" && r["window"] == "repetition")
        .collect();
    assert_eq!(gpu_rows.len(), 3);
    assert!(
        gpu_rows
            .iter()
            .all(|r| r["server"] == "60.0" && r["busy"] == "80.0")
    );
    // The CPU side: the named process is the server's (asleep: it used next to nothing),
    // and the machine's and joulebench's own time are known.
    let cpu: Vec<_> = rows
        .iter()
        .filter(|r| r["resource"] == "cpu" && r["window"] == "repetition")
        .collect();
    assert_eq!(cpu.len(), 3);
    for r in &cpu {
        assert_eq!(
            (r["server_processes"].as_str(), r["error"].as_str()),
            ("1", ""),
            "{r:?}"
        );
        let server: f64 = r["server"].parse().expect("server seconds");
        let busy: f64 = r["busy"].parse().expect("busy seconds");
        assert!(server <= 0.02 && busy >= server, "{r:?}");
        assert!(r["client"].parse::<f64>().is_ok(), "{r:?}");
    }
    served.kill().expect("kill sleep");
    let _ = served.wait();

    // With no process named, the GPU rows say why there is no server share.
    let text = suite(&server.url, NVML, "");
    let (library, handle) = gpu(Some(FakeDrive::steady(100.0)));
    handle.lock().expect("state").processes = Ok(vec![(4242, 60)]);
    let (out, report, _dir) = run_on_devices(&text, Some(library));
    assert!(fidelity(&report).attribution.gpu.is_empty());
    let rows = csv_rows(&out.join(records::files::ATTRIBUTION_CSV));
    let gpu0 = rows
        .iter()
        .find(|r| r["resource"] == "gpu-0")
        .expect("gpu row");
    assert_eq!(gpu0["server"], "", "{gpu0:?}");
    assert!(
        gpu0["error"].contains("processes are not known"),
        "{gpu0:?}"
    );
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Moves a fake powercap tree's counters as a load of `package_w` on the package and
/// `core_w` on its core sub-zone would, until `stop`.
fn load_powercap(tree: &FakePowercap, package_w: f64, core_w: f64, stop: &AtomicBool) {
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let s = start.elapsed().as_secs_f64();
        tree.set_energy("intel-rapl:0", 1_000_000 + (package_w * s * 1e6) as u64)
            .expect("write package");
        tree.set_energy("intel-rapl:0:0", 500_000 + (core_w * s * 1e6) as u64)
            .expect("write core");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn rapl_sub_zones_above_their_package_fail_the_cross_check_and_strict_exits_4() {
    let server = slow_openai_server(Duration::from_millis(30));
    for (core_w, fails) in [(20.0, false), (60.0, true)] {
        let tree_dir = tempfile::tempdir().expect("temp dir");
        let tree = FakePowercap::intel(tree_dir.path(), 1, false).expect("tree");
        let probes = format!(
            "sources = [\"rapl\"]\npowercap_root = \"{}\"",
            tree_dir.path().display()
        );
        let text = suite(&server.url, &probes, "");
        let stop = AtomicBool::new(false);
        let (out, report, _dir) = std::thread::scope(|s| {
            s.spawn(|| load_powercap(&tree, 40.0, core_w, &stop));
            // Stops the load however the run ends (a panic too), so the scope can join it.
            let _stop = StopOnDrop(&stop);
            run_on_devices(&text, None)
        });
        let f = fidelity(&report);
        let (s, detail) = status(f, "cross-check");
        let expected = core_w / 40.0 - 1.0;
        for c in &f.cross_checks.checks {
            assert_eq!(c.check, "rapl-subzones-vs-package");
            assert!((c.difference - expected).abs() < 0.05, "{c:?}");
        }
        assert_eq!(f.cross_checks.checks.len(), 3);
        // RAPL resolves 1 ms: the windows are long enough, the counters moved.
        assert_eq!(status(f, "window-length").0, Status::Pass);
        assert_eq!(status(f, "counter-moved").0, Status::Pass);
        assert_eq!(status(f, "measured").0, Status::Pass);
        let strict = crate::common::joulebench()
            .args(["report", "--strict", "--no-plots"])
            .arg(&out)
            .output()
            .expect("report --strict");
        let stderr = String::from_utf8_lossy(&strict.stderr);
        if fails {
            assert_eq!(s, Status::Fail, "{detail}");
            assert_eq!(strict.status.code(), Some(4), "{stderr}");
            assert!(stderr.contains("fails `cross-check`"), "{stderr}");
        } else {
            assert_eq!(s, Status::Pass, "{detail}");
            // Other checks may fail here (a CV on a loaded machine); cross-check does not.
            assert!(!stderr.contains("fails `cross-check`"), "{stderr}");
        }
    }
}

#[test]
fn a_dry_run_after_a_run_says_how_many_repetitions_each_target_needs() {
    let server = crate::common::openai_server();
    let text = crate::common::one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        "inferences = 4\nrepetitions = 3\nwarmup = 0",
        "",
    );
    let (dir, _out) = crate::common::run_suite_ok(&text, 5);
    let dry_run = |out: &str| {
        let o = crate::common::joulebench()
            .args(["run", "--dry-run", "--out"])
            .arg(dir.path().join(out))
            .arg(dir.path().join("suite.toml"))
            .output()
            .expect("dry run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let text = dry_run("next");
    let earlier = dir.path().join("results");
    assert!(
        text.contains(&format!(
            "repetitions needed, from the spread of the earlier run {} (95% CI half-width as a share of the mean; this plan has 3):",
            earlier.display()
        )),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("m1@sample: CV "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("over 3 repetitions; CI ±1%: "), "{line}");
    assert!(line.contains("compare detects 1%: "), "{line}");
    // Next to a folder with no run of this suite, the dry run has nothing to say about it.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let o = crate::common::joulebench()
        .args(["run", "--dry-run", "--out"])
        .arg(elsewhere.path().join("next"))
        .arg(dir.path().join("suite.toml"))
        .output()
        .expect("dry run");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("repetitions needed"));
}
