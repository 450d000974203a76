//! End-to-end: `joulebench probe` on fake powercap trees, across separate processes.

use probes::fake::{FakePowercap, INTEL_MAX_RANGE_UJ};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn joulebench(args: &[&str], root: &Path, sys: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_joulebench"))
        .args(args)
        .arg("--powercap-root")
        .arg(root)
        .arg("--sysfs-root")
        .arg(sys)
        .output()
        .expect("running joulebench");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn domain<'a>(reading: &'a Value, name: &str) -> &'a Value {
    reading["domains"]
        .as_array()
        .and_then(|d| d.iter().find(|r| r["domain"] == name))
        .unwrap_or_else(|| panic!("no {name} in {reading}"))
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-6)
}

#[test]
fn read_rewrite_read_gives_the_right_delta_wrap_included() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sys = dir.path().join("sys");
    let tree = FakePowercap::intel(dir.path().join("powercap"), 2, true).expect("tree");
    tree.set_energy("intel-rapl:0", INTEL_MAX_RANGE_UJ - 2_000_000)
        .expect("set");

    let (ok, first, err) = joulebench(&["probe", "read", "--json"], tree.root(), &sys);
    assert!(ok, "{err}");
    let first_json: Value = serde_json::from_str(&first).expect("JSON");
    let pkg0 = domain(&first_json, "cpu-package-0");
    assert_eq!(pkg0["provenance"], "measured");
    assert!(close(
        &pkg0["counter_j"],
        (INTEL_MAX_RANGE_UJ - 2_000_000) as f64 / 1e6
    ));
    assert!(close(&domain(&first_json, "dram-1")["counter_j"], 0.2));
    assert_eq!(domain(&first_json, "cpu-core-0")["counts_in_total"], false);

    // The "kernel" moves the counters: package 0 wraps, the others climb.
    tree.set_energy("intel-rapl:0", 3_000_000).expect("set");
    tree.set_energy("intel-rapl:0:1", 200_000 + 5_000_000)
        .expect("set");
    tree.set_energy("intel-rapl:1", 1_000_000 + 10_000_000)
        .expect("set");
    let saved = dir.path().join("first.json");
    std::fs::write(&saved, &first).expect("save");

    let saved_arg = saved.to_string_lossy().into_owned();
    let args = ["probe", "read", "--json", "--since", saved_arg.as_str()];
    let (ok, second, err) = joulebench(&args, tree.root(), &sys);
    assert!(ok, "{err}");
    let second_json: Value = serde_json::from_str(&second).expect("JSON");
    let pkg0 = domain(&second_json, "cpu-package-0");
    assert!(close(&pkg0["counter_j"], 3.0));
    assert!(close(&pkg0["delta_j"], 5.000_001), "{pkg0}");
    assert!(
        pkg0["delta_note"]
            .as_str()
            .is_some_and(|n| n.contains("wrap"))
    );
    assert!(close(&domain(&second_json, "dram-0")["delta_j"], 5.0));
    assert!(close(
        &domain(&second_json, "cpu-package-1")["delta_j"],
        10.0
    ));
    assert!(close(&domain(&second_json, "dram-1")["delta_j"], 0.0));
}

#[test]
fn list_says_what_is_available_and_why_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sys = dir.path().join("sys");
    let tree = FakePowercap::amd(dir.path().join("powercap"), 1).expect("tree");
    let (ok, out, err) = joulebench(&["probe", "list", "--json"], tree.root(), &sys);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let sources = v["sources"].as_array().expect("sources");
    let rapl = sources
        .iter()
        .find(|s| s["name"] == "rapl-powercap")
        .expect("rapl");
    assert_eq!(rapl["available"], true);
    assert_eq!(rapl["domains"][0]["name"], "cpu-package-0");
    assert!(rapl["resolution_s"].as_f64().is_some_and(|r| r > 0.0));
    let dram = sources.iter().find(|s| s["name"] == "dram").expect("dram");
    assert_eq!(dram["available"], false);
}

#[test]
fn an_unreadable_counter_is_reported_by_file_never_as_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sys = dir.path().join("sys");
    let tree = FakePowercap::intel(dir.path().join("powercap"), 1, true).expect("tree");
    let file = tree.root().join("intel-rapl:0/energy_uj");
    std::fs::remove_file(&file).expect("rm");
    std::os::unix::fs::symlink(dir.path().join("gone"), &file).expect("symlink");
    let (ok, out, err) = joulebench(&["probe", "read", "--json"], tree.root(), &sys);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let domains = v["domains"].as_array().expect("domains");
    assert!(domains.iter().all(|d| d["source"] != "rapl-powercap"));
    let rapl = v["missing"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["probe"] == "rapl"))
        .expect("rapl missing");
    assert!(
        rapl["reason"]
            .as_str()
            .is_some_and(|r| r.contains("intel-rapl:0/energy_uj")),
        "{rapl}"
    );
}

#[test]
fn watch_prints_the_asked_number_of_lines_of_watts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sys = dir.path().join("sys");
    let tree = FakePowercap::intel(dir.path().join("powercap"), 1, false).expect("tree");
    let args = [
        "probe",
        "watch",
        "--json",
        "--interval",
        "0.05",
        "--count",
        "3",
    ];
    let (ok, out, err) = joulebench(&args, tree.root(), &sys);
    assert!(ok, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert!(close(&l["watts"]["cpu-package-0"], 0.0), "{l}");
        assert!(l["interval_s"].as_f64().is_some_and(|s| s >= 0.05));
    }
}
