//! Discovery on fake trees: measured sources win, estimates fill gaps, reasons are kept.

use probes::fake::FakePowercap;
use probes::{DomainKind, MonotonicClock, ProbeConfig, Provenance, discover};
use std::path::Path;

fn config(powercap: &Path, sys: &Path) -> ProbeConfig {
    ProbeConfig {
        nvml: false,
        powercap_root: powercap.to_path_buf(),
        perf_sysfs_root: sys.to_path_buf(),
        ..Default::default()
    }
}

#[test]
fn measured_cpu_and_dram_need_no_estimate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path().join("pc"), 2, true).expect("tree");
    let set = discover(
        &config(tree.root(), &dir.path().join("sys")),
        &MonotonicClock::new(),
    );
    assert_eq!(set.sources.len(), 1);
    assert_eq!(set.descriptions[0].name, "rapl-powercap");
    assert!(set.missing.is_empty(), "{:?}", set.missing);
    assert!(
        set.domains()
            .iter()
            .all(|(_, d)| d.provenance == Provenance::Measured)
    );
    assert!(set.max_read_interval(0).is_some());
    assert_eq!(set.max_read_interval(9), None);
    let readings = set.read_all(&MonotonicClock::new()).expect("read all");
    assert_eq!(readings[0].joules.len(), 6);
}

#[test]
fn measured_cpu_without_dram_reports_dram_missing_or_estimates_it_when_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::amd(dir.path().join("pc"), 1).expect("tree");
    let clock = MonotonicClock::new();
    let cfg = config(tree.root(), &dir.path().join("sys"));
    let set = discover(&cfg, &clock);
    assert_eq!(
        set.sources.len(),
        1,
        "no CPU estimate next to a measured CPU"
    );
    assert!(set.missing.iter().any(|m| m.probe == "dram"));
    let set = discover(
        &ProbeConfig {
            estimate_dram_with_measured_cpu: true,
            ..cfg
        },
        &clock,
    );
    let dram: Vec<_> = set
        .domains()
        .into_iter()
        .filter(|(_, d)| d.kind == DomainKind::Dram)
        .collect();
    assert_eq!(dram.len(), 1);
    assert_eq!(dram[0].0, "dram-estimate");
    assert_eq!(dram[0].1.provenance, Provenance::Estimated);
}

#[test]
fn without_rapl_the_estimate_runs_labelled_and_both_reasons_are_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let set = discover(
        &config(&dir.path().join("none"), &dir.path().join("sys")),
        &MonotonicClock::new(),
    );
    let rapl = set
        .missing
        .iter()
        .find(|m| m.probe == "rapl")
        .expect("rapl missing");
    assert!(rapl.reason.contains("powercap") && rapl.reason.contains("perf_event"));
    assert_eq!(set.descriptions[0].name, "cpu-estimate");
    assert!(
        set.domains()
            .iter()
            .all(|(_, d)| d.provenance == Provenance::Estimated)
    );
    assert!(set.descriptions[0].method.starts_with("estimated"));
}

#[test]
fn nvml_without_a_driver_is_missing_with_a_reason_and_the_run_goes_on() {
    if Path::new("/proc/driver/nvidia/version").exists() {
        return; // a real driver is here: this test is about machines without one
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path().join("pc"), 1, true).expect("tree");
    let cfg = ProbeConfig {
        nvml: true,
        ..config(tree.root(), &dir.path().join("sys"))
    };
    let set = discover(&cfg, &MonotonicClock::new());
    let nvml = set
        .missing
        .iter()
        .find(|m| m.probe == "nvml")
        .expect("nvml missing");
    assert!(nvml.reason.contains("no NVIDIA driver"), "{}", nvml.reason);
    assert_eq!(set.gpu_inventory.driver_version, None);
    assert_eq!(set.sources.len(), 1);
}
