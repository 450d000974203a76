//! RAPL over powercap, on fake trees written to a temp dir.

use probes::fake::{AMD_MAX_RANGE_UJ, FakePowercap, INTEL_MAX_RANGE_UJ};
use probes::rapl::PowercapSource;
use probes::rapl::powercap::ASSUMED_MAX_ZONE_POWER_W;
use probes::{DomainKind, EnergySource, MonotonicClock, ProbeError};
use std::fs::File;
use std::io;
use std::path::Path;

fn names(source: &PowercapSource) -> Vec<&str> {
    source.domains().iter().map(|d| d.name.as_str()).collect()
}

fn read(source: &mut PowercapSource, clock: &MonotonicClock) -> Vec<f64> {
    source.read(clock).expect("read").joules
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn one_socket_with_dram() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, true).expect("tree");
    let clock = MonotonicClock::new();
    let mut s = PowercapSource::open(tree.root()).expect("open");
    assert_eq!(names(&s), ["cpu-package-0", "dram-0", "cpu-core-0"]);
    let kinds: Vec<_> = s.domains().iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            DomainKind::CpuPackage,
            DomainKind::Dram,
            DomainKind::CpuCore
        ]
    );
    assert!(!s.domains()[2].counts_in_total(), "core is detail only");
    assert_eq!(read(&mut s, &clock), [0.0, 0.0, 0.0]);
    tree.set_energy("intel-rapl:0", 1_000_000 + 12_500_000)
        .expect("set");
    tree.set_energy("intel-rapl:0:1", 200_000 + 3_000_000)
        .expect("set");
    tree.set_energy("intel-rapl:0:0", 500_000 + 7_000_000)
        .expect("set");
    assert_eq!(read(&mut s, &clock), [12.5, 3.0, 7.0]);
    let raw = s.raw_counters();
    assert!(close(raw[0].expect("raw").joules, 13.5));
    assert!(close(
        raw[0].expect("raw").wrap_j.expect("range"),
        (INTEL_MAX_RANGE_UJ as f64 + 1.0) / 1e6
    ));
}

#[test]
fn two_sockets_read_each_package_and_dram() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 2, true).expect("tree");
    let clock = MonotonicClock::new();
    let mut s = PowercapSource::open(tree.root()).expect("open");
    assert_eq!(
        names(&s),
        [
            "cpu-package-0",
            "dram-0",
            "cpu-core-0",
            "cpu-package-1",
            "dram-1",
            "cpu-core-1"
        ]
    );
    tree.set_energy("intel-rapl:1", 1_000_000 + 40_000_000)
        .expect("set");
    tree.set_energy("intel-rapl:1:1", 200_000 + 2_000_000)
        .expect("set");
    let j = read(&mut s, &clock);
    assert_eq!(j, [0.0, 0.0, 0.0, 40.0, 2.0, 0.0]);
}

#[test]
fn dram_absent_gives_no_dram_domain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, false).expect("tree");
    let s = PowercapSource::open(tree.root()).expect("open");
    assert_eq!(names(&s), ["cpu-package-0", "cpu-core-0"]);
}

#[test]
fn psys_is_named_by_its_zone_and_mmio_duplicates_are_skipped() {
    // A laptop: intel-rapl:1 is psys, not a second package; MMIO repeats package-0.
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::new(dir.path()).expect("tree");
    let max = Some(INTEL_MAX_RANGE_UJ);
    tree.add_zone("intel-rapl:0", "package-0", 10, max)
        .expect("zone");
    tree.add_zone("intel-rapl:0:0", "core", 10, max)
        .expect("zone");
    tree.add_zone("intel-rapl:0:1", "uncore", 10, max)
        .expect("zone");
    tree.add_zone("intel-rapl:1", "psys", 10, max)
        .expect("zone");
    tree.add_zone("intel-rapl-mmio:0", "package-0", 99, max)
        .expect("zone");
    let s = PowercapSource::open(tree.root()).expect("open");
    assert_eq!(
        names(&s),
        ["cpu-package-0", "cpu-core-0", "cpu-uncore-0", "psys"]
    );
    let psys = &s.domains()[3];
    assert_eq!(psys.kind, DomainKind::Psys);
    assert!(
        !psys.counts_in_total(),
        "psys is an alternative, not an addend"
    );
    assert!(s.notes().iter().any(|n| n.contains("intel-rapl-mmio:0")));
}

#[test]
fn amd_layout_has_package_and_core_but_no_dram() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::amd(dir.path(), 2).expect("tree");
    let s = PowercapSource::open(tree.root()).expect("open");
    assert_eq!(
        names(&s),
        ["cpu-package-0", "cpu-core-0", "cpu-package-1", "cpu-core-1"]
    );
    let keep = s.max_read_interval().expect("keep-alive").as_secs_f64();
    let wrap_at_max_power = AMD_MAX_RANGE_UJ as f64 / 1e6 / ASSUMED_MAX_ZONE_POWER_W;
    assert!(
        keep < wrap_at_max_power,
        "{keep} s vs wrap in {wrap_at_max_power} s"
    );
}

#[test]
fn nested_devices_layout_is_found_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::new(dir.path()).expect("tree");
    let max = Some(INTEL_MAX_RANGE_UJ);
    tree.add_zone("intel-rapl:0", "package-0", 10, max)
        .expect("zone");
    tree.add_zone("intel-rapl:0/intel-rapl:0:0", "dram", 10, max)
        .expect("zone");
    let s = PowercapSource::open(tree.root()).expect("open");
    assert_eq!(names(&s), ["cpu-package-0", "dram-0"]);
}

#[test]
fn a_wrap_between_two_reads_keeps_energy_right() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, false).expect("tree");
    tree.set_energy("intel-rapl:0", INTEL_MAX_RANGE_UJ - 2_000_000)
        .expect("set");
    let clock = MonotonicClock::new();
    let mut s = PowercapSource::open(tree.root()).expect("open");
    // 2 J to the top, 1 µJ across to zero, then 3 J.
    tree.set_energy("intel-rapl:0", 3_000_000).expect("set");
    let j = read(&mut s, &clock)[0];
    assert!(close(j, 5.000_001), "{j}");
    assert!(j > 0.0);
    assert_eq!(s.wraps()[0], 1);
}

#[test]
fn several_wraps_over_a_long_run_with_keep_alive_reads() {
    // A simulated 2-hour run at 250 W on AMD's short range, read at the keep-alive
    // interval the source asks for: every wrap is seen, none is lost.
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::amd(dir.path(), 1).expect("tree");
    let clock = MonotonicClock::new();
    let mut s = PowercapSource::open(tree.root()).expect("open");
    let interval_s = s.max_read_interval().expect("keep-alive").as_secs_f64();
    let step_uj = (250.0 * interval_s * 1e6) as u64;
    let modulus = AMD_MAX_RANGE_UJ + 1;
    let mut raw = 3_000_000u64;
    let mut expected_uj = 0u64;
    let steps = (7200.0 / interval_s) as usize;
    for _ in 0..steps {
        raw = (raw + step_uj) % modulus;
        expected_uj += step_uj;
        tree.set_energy("intel-rapl:0", raw).expect("set");
        let j = read(&mut s, &clock)[0];
        assert!(close(j, expected_uj as f64 / 1e6), "{j} vs {expected_uj}");
    }
    assert!(s.wraps()[0] >= 20, "wraps seen: {}", s.wraps()[0]);
    assert!(expected_uj as f64 / 1e6 > 1_700_000.0); // 250 W × 2 h = 1.8 MJ
}

#[test]
fn dangling_energy_uj_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, true).expect("tree");
    let file = dir.path().join("intel-rapl:0:1/energy_uj");
    std::fs::remove_file(&file).expect("rm");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &file).expect("symlink");
    let e = PowercapSource::open(tree.root()).expect_err("unreadable");
    assert!(e.to_string().contains("intel-rapl:0:1/energy_uj"), "{e}");
}

#[test]
fn energy_uj_that_cannot_be_read_is_an_error_not_a_zero() {
    // Opening a directory succeeds; reading it fails (EISDIR), as a broken sysfs read would.
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, false).expect("tree");
    let file = dir.path().join("intel-rapl:0/energy_uj");
    std::fs::remove_file(&file).expect("rm");
    std::fs::create_dir(&file).expect("dir");
    let e = PowercapSource::open(tree.root()).expect_err("unreadable");
    assert!(matches!(e, ProbeError::Read { .. }), "{e:?}");
    assert!(e.to_string().contains("intel-rapl:0/energy_uj"), "{e}");
}

#[test]
fn an_empty_or_garbled_read_mid_run_is_an_error_and_costs_no_energy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, false).expect("tree");
    let clock = MonotonicClock::new();
    let mut s = PowercapSource::open(tree.root()).expect("open");
    tree.set_energy("intel-rapl:0", 3_000_000).expect("set");
    assert_eq!(read(&mut s, &clock)[0], 2.0);
    for garbage in ["", "\n", "12ab\n", "-5\n", "NaN\n"] {
        std::fs::write(dir.path().join("intel-rapl:0/energy_uj"), garbage).expect("write");
        let e = s.read(&clock).expect_err("no value is not zero");
        assert!(e.to_string().contains("intel-rapl:0/energy_uj"), "{e}");
        // The failed read left the accumulator where it was.
        assert!(close(s.raw_counters()[0].expect("raw").joules, 3.0));
    }
    tree.set_energy("intel-rapl:0", 4_500_000).expect("set");
    assert_eq!(read(&mut s, &clock)[0], 3.5);
}

/// Gives the kernel's answer to a non-root open of a root-only energy_uj (tests run as root).
fn deny_energy(path: &Path) -> io::Result<File> {
    if path.ends_with("energy_uj") {
        Err(io::Error::from_raw_os_error(libc_eacces()))
    } else {
        File::open(path)
    }
}

fn libc_eacces() -> i32 {
    13 // EACCES on Linux
}

#[test]
fn permission_denied_names_the_file_and_the_fixes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, true).expect("tree");
    let e = PowercapSource::open_with(tree.root(), deny_energy).expect_err("denied");
    let msg = e.to_string();
    assert!(matches!(e, ProbeError::PermissionDenied { .. }), "{e:?}");
    assert!(msg.contains("intel-rapl:0/energy_uj"), "{msg}");
    for fix in ["root", "udev", "sysfs.conf", "group", "perf_event_paranoid"] {
        assert!(msg.contains(fix), "missing {fix}: {msg}");
    }
}

#[test]
fn zone_without_max_range_reads_up_and_refuses_to_guess_a_wrap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::new(dir.path()).expect("tree");
    tree.add_zone("intel-rapl:0", "package-0", 5_000_000, None)
        .expect("zone");
    let clock = MonotonicClock::new();
    let mut s = PowercapSource::open(tree.root()).expect("open");
    assert!(
        s.notes()
            .iter()
            .any(|n| n.contains("no max_energy_range_uj"))
    );
    assert_eq!(s.max_read_interval(), None);
    assert!(!s.raw_counters()[0].expect("raw").wrap_known);
    tree.set_energy("intel-rapl:0", 9_000_000).expect("set");
    assert_eq!(read(&mut s, &clock), [4.0]);
    tree.set_energy("intel-rapl:0", 1_000).expect("set");
    let e = s.read(&clock).expect_err("backwards without range");
    assert!(
        matches!(e, ProbeError::CounterWentBackwards { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("intel-rapl:0/energy_uj"), "{e}");
}

#[test]
fn an_empty_root_says_where_it_looked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = PowercapSource::open(dir.path()).expect_err("no zones");
    assert!(
        e.to_string().contains(&dir.path().display().to_string()),
        "{e}"
    );
    assert!(e.to_string().contains("--powercap-root"), "{e}");
}
