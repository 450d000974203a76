//! NVML logic through fake GPUs: counter, power integration, failures, selection.

use probes::nvml::fake::{FakeGpu, FakeGpuState, FakeLibrary};
use probes::nvml::{GpuDevice, GpuError, GpuLibrary, GpuSelection, PowerSample, open_gpus};
use probes::{EnergySource, MonotonicClock, ProbeError};
use std::sync::{Arc, Mutex};

type Handle = Arc<Mutex<FakeGpuState>>;

fn library(states: Vec<FakeGpuState>) -> (FakeLibrary, Vec<Handle>) {
    let (gpus, handles) = states.into_iter().map(FakeGpu::new).unzip();
    (FakeLibrary { gpus }, handles)
}

fn set(handle: &Handle, f: impl FnOnce(&mut FakeGpuState)) {
    f(&mut handle.lock().expect("fake state"));
}

fn all() -> GpuSelection {
    GpuSelection::new(&[], None)
}

#[test]
fn counter_supported_gives_counter_deltas_and_context() {
    let (lib, h) = library(vec![FakeGpuState::with_counter(0, 1_000_000)]);
    let opening = open_gpus(&lib, &all());
    assert!(opening.missing.is_empty(), "{:?}", opening.missing);
    let inv = &opening.inventory;
    assert_eq!(inv.driver_version.as_deref(), Some("550.00-fake"));
    assert_eq!(inv.gpus[0].uuid, "GPU-fake-0");
    assert_eq!(inv.gpus[0].domain.as_deref(), Some("gpu-0"));
    assert!(opening.method.contains("total_energy_consumption"));
    let mut s = opening.source.expect("source");
    let clock = MonotonicClock::new();
    assert_eq!(s.read(&clock).expect("read").joules, [0.0]);
    set(&h[0], |g| g.energy_mj = Ok(1_250_500));
    assert_eq!(s.read(&clock).expect("read").joules, [250.5]);
    assert_eq!(s.raw_counters()[0].expect("raw").joules, 1250.5);
    assert_eq!(s.max_read_interval(), None);
    let metrics: Vec<_> = s.read_context().iter().map(|c| c.metric).collect();
    assert_eq!(
        metrics,
        [
            "power_w",
            "utilization_pct",
            "sm_clock_mhz",
            "memory_used_mib",
            "temperature_c"
        ]
    );
}

#[test]
fn counter_unsupported_integrates_instant_power_over_its_own_timestamps() {
    let mut state = FakeGpuState::with_counter(0, 0);
    state.energy_mj = Err(GpuError::NotSupported);
    state.instant = Ok(PowerSample {
        watts: 100.0,
        timestamp_us: 1_000_000,
    });
    let (lib, h) = library(vec![state]);
    let opening = open_gpus(&lib, &all());
    assert!(opening.method.contains("NVML_FI_DEV_POWER_INSTANT"));
    let mut s = opening.source.expect("source");
    let clock = MonotonicClock::new();
    assert_eq!(s.read(&clock).expect("read").joules, [0.0]);
    set(&h[0], |g| {
        g.instant = Ok(PowerSample {
            watts: 300.0,
            timestamp_us: 2_000_000,
        })
    });
    assert_eq!(s.read(&clock).expect("read").joules, [200.0]);
    // No new driver sample: the same timestamp adds nothing.
    assert_eq!(s.read(&clock).expect("read").joules, [200.0]);
    assert!(
        s.max_read_interval().is_some(),
        "integration needs keep-up reads"
    );
    assert_eq!(s.resolution().as_secs(), 5);
    assert_eq!(s.raw_counters(), [None]);
    let power = s.read_context().into_iter().find(|c| c.metric == "power_w");
    assert_eq!(power.map(|c| c.value), Some(300.0));
}

#[test]
fn no_counter_nor_instant_field_integrates_power_usage_on_our_clock() {
    let mut state = FakeGpuState::with_counter(0, 0);
    state.energy_mj = Err(GpuError::NotSupported);
    state.instant = Err(GpuError::NotSupported);
    state.power_usage_w = Ok(150.0);
    let (lib, _h) = library(vec![state]);
    let opening = open_gpus(&lib, &all());
    assert!(opening.method.contains("power_usage"));
    let mut s = opening.source.expect("source");
    let clock = MonotonicClock::new();
    let a = s.read(&clock).expect("read");
    let b = s.read(&clock).expect("read");
    let expected = 150.0 * (b.t_ns - a.t_ns) as f64 / 1e9;
    assert!((b.joules[0] - expected).abs() < 1e-9);
}

#[test]
fn one_gpu_failing_leaves_the_others_measured() {
    let mut bad = FakeGpuState::with_counter(1, 0);
    bad.energy_mj = Err(GpuError::Failed("GPU is lost".into()));
    let (lib, _h) = library(vec![FakeGpuState::with_counter(0, 5), bad]);
    let opening = open_gpus(&lib, &all());
    let s = opening.source.expect("gpu-0 still measured");
    let names: Vec<_> = s.domains().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["gpu-0"]);
    assert_eq!(opening.missing.len(), 1);
    assert_eq!(opening.missing[0].probe, "nvml gpu-1");
    assert!(opening.missing[0].reason.contains("GPU is lost"));
    assert_eq!(opening.inventory.gpus.len(), 2);
    assert_eq!(opening.inventory.gpus[1].domain, None);
}

#[test]
fn a_gpu_lost_mid_run_is_a_read_error_naming_it() {
    let (lib, h) = library(vec![FakeGpuState::with_counter(0, 5)]);
    let mut s = open_gpus(&lib, &all()).source.expect("source");
    set(&h[0], |g| {
        g.energy_mj = Err(GpuError::Failed("GPU is lost".into()))
    });
    let e = s.read(&MonotonicClock::new()).expect_err("lost");
    assert!(matches!(e, ProbeError::Device { .. }));
    assert!(e.to_string().contains("gpu-0") && e.to_string().contains("GPU is lost"));
}

#[test]
fn a_counter_going_back_is_an_error() {
    let (lib, h) = library(vec![FakeGpuState::with_counter(0, 5_000)]);
    let mut s = open_gpus(&lib, &all()).source.expect("source");
    set(&h[0], |g| g.energy_mj = Ok(10));
    assert!(s.read(&MonotonicClock::new()).is_err());
}

#[test]
fn a_gpu_without_any_power_reading_is_missing_not_zero() {
    let mut state = FakeGpuState::with_counter(0, 0);
    state.energy_mj = Err(GpuError::NotSupported);
    state.instant = Err(GpuError::NotSupported);
    state.power_usage_w = Err(GpuError::NotSupported);
    let (lib, _h) = library(vec![state]);
    let opening = open_gpus(&lib, &all());
    assert!(opening.source.is_none());
    assert!(opening.missing[0].reason.contains("no energy counter"));
}

#[test]
fn selection_by_index_uuid_and_mig_instance() {
    let mut g1 = FakeGpuState::with_counter(1, 0);
    g1.mig = true;
    g1.mig_uuids = vec!["MIG-aaaa".into()];
    let states = vec![
        FakeGpuState::with_counter(0, 0),
        g1,
        FakeGpuState::with_counter(2, 0),
    ];
    let (lib, _h) = library(states);
    let domains = |sel: GpuSelection| -> Vec<String> {
        open_gpus(&lib, &sel)
            .source
            .map(|s| s.domains().iter().map(|d| d.name.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(domains(GpuSelection::new(&[], Some("2"))), ["gpu-2"]);
    assert_eq!(
        domains(GpuSelection::new(
            &["GPU-fake-2".into(), "0".into()],
            Some("1")
        )),
        ["gpu-2", "gpu-0"]
    );
    assert_eq!(domains(GpuSelection::new(&[], Some("MIG-aaaa"))), ["gpu-1"]);
    assert!(domains(GpuSelection::new(&[], Some("-1"))).is_empty());
    let opening = open_gpus(&lib, &GpuSelection::new(&["7".into()], None));
    assert!(opening.missing[0].reason.contains("Index(7)"));
    let mig = open_gpus(&lib, &GpuSelection::new(&["1".into()], None));
    assert!(mig.method.contains("whole physical GPU"), "{}", mig.method);
    assert!(mig.inventory.gpus[0].mig_enabled);
}

#[test]
fn a_nan_instant_power_is_a_read_error_not_zero_watts() {
    let mut state = FakeGpuState::with_counter(0, 0);
    state.energy_mj = Err(GpuError::NotSupported);
    state.instant = Ok(PowerSample {
        watts: 100.0,
        timestamp_us: 1_000_000,
    });
    let (lib, h) = library(vec![state]);
    let mut s = open_gpus(&lib, &all()).source.expect("source");
    let clock = MonotonicClock::new();
    assert_eq!(s.read(&clock).expect("read").joules, [0.0]);
    for (watts, timestamp_us) in [(f64::NAN, 2_000_000), (-3.0, 2_500_000)] {
        set(&h[0], |g| {
            g.instant = Ok(PowerSample {
                watts,
                timestamp_us,
            })
        });
        let e = s.read(&clock).expect_err("an invalid power is no reading");
        assert!(matches!(e, ProbeError::Device { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("gpu-0") && msg.contains("not a finite"),
            "{msg}"
        );
    }
    // The context leaves the invalid power out rather than reporting it.
    let context = s.read_context();
    assert!(context.iter().all(|c| c.value.is_finite()), "{context:?}");
    // The next good sample integrates from the last good one: (100 + 300) / 2 × 2 s.
    set(&h[0], |g| {
        g.instant = Ok(PowerSample {
            watts: 300.0,
            timestamp_us: 3_000_000,
        })
    });
    assert_eq!(s.read(&clock).expect("read").joules, [400.0]);
}

#[test]
fn a_nan_power_usage_is_a_read_error_not_zero_watts() {
    let mut state = FakeGpuState::with_counter(0, 0);
    state.energy_mj = Err(GpuError::NotSupported);
    state.instant = Err(GpuError::NotSupported);
    state.power_usage_w = Ok(150.0);
    let (lib, h) = library(vec![state]);
    let mut s = open_gpus(&lib, &all()).source.expect("source");
    let clock = MonotonicClock::new();
    let a = s.read(&clock).expect("read");
    set(&h[0], |g| g.power_usage_w = Ok(f64::NAN));
    let e = s.read(&clock).expect_err("NaN power");
    assert!(e.to_string().contains("not a finite"), "{e}");
    set(&h[0], |g| g.power_usage_w = Ok(150.0));
    let b = s.read(&clock).expect("read");
    let expected = 150.0 * (b.t_ns - a.t_ns) as f64 / 1e9;
    assert!(
        (b.joules[0] - expected).abs() < 1e-9,
        "{b:?} vs {expected} J"
    );
}

#[test]
fn a_nan_context_metric_is_left_out() {
    let mut state = FakeGpuState::with_counter(0, 0);
    state.utilization_pct = Ok(f64::NAN);
    let (lib, h) = library(vec![state]);
    let mut s = open_gpus(&lib, &all()).source.expect("source");
    set(&h[0], |g| g.power_usage_w = Ok(f64::INFINITY));
    set(&h[0], |g| {
        g.instant = Ok(PowerSample {
            watts: f64::NAN,
            timestamp_us: 0,
        })
    });
    let context = s.read_context();
    let metrics: Vec<_> = context.iter().map(|c| c.metric).collect();
    assert!(!metrics.contains(&"utilization_pct"), "{context:?}");
    assert!(!metrics.contains(&"power_w"), "{context:?}");
    assert!(metrics.contains(&"temperature_c"), "{context:?}");
}

#[test]
fn a_power_limit_off_its_default_is_noted_with_the_command_that_restores_it() {
    let mut lowered = FakeGpuState::with_counter(1, 0);
    lowered.power_limit_w = Ok(250.0);
    let mut unknown = FakeGpuState::with_counter(2, 0);
    unknown.power_limit_default_w = Err(GpuError::NotSupported);
    unknown.power_limit_w = Ok(300.0);
    let (lib, _) = library(vec![FakeGpuState::with_counter(0, 0), lowered, unknown]);
    let inv = open_gpus(&lib, &all()).inventory;
    assert_eq!(inv.gpus[0].power_limit_w, Some(400.0));
    assert_eq!(inv.gpus[0].power_limit_default_w, Some(400.0));
    assert_eq!(inv.gpus[0].power_limit_note(), None, "at its default");
    let note = inv.gpus[1].power_limit_note().expect("a note");
    assert!(
        note.contains("250 W") && note.contains("default 400 W"),
        "{note}"
    );
    assert!(note.contains("sudo nvidia-smi -i 1 -pl 400"), "{note}");
    // Without a readable default nothing can be said: no note, never a guess.
    assert_eq!(inv.gpus[2].power_limit_default_w, None);
    assert_eq!(inv.gpus[2].power_limit_note(), None);
}

#[test]
fn the_fake_records_every_power_limit_set_and_refuses_as_the_driver_does() {
    let (lib, h) = library(vec![FakeGpuState::with_counter(0, 0)]);
    let gpu = &lib.devices().expect("devices")[0];
    assert_eq!(gpu.power_limit_constraints_w(), Ok((100.0, 400.0)));
    assert_eq!(gpu.power_management_limit_w(), Ok(400.0));
    gpu.set_power_limit_w(250.0).expect("in range");
    assert_eq!(gpu.power_limit_w(), Ok(250.0));
    // Out of the constraints: an invalid argument, the limit unchanged.
    assert!(matches!(
        gpu.set_power_limit_w(500.0),
        Err(GpuError::Failed(_))
    ));
    // Without root: its own error, so the caller can say what to do.
    set(&h[0], |g| {
        g.set_power_limit_error = Some(GpuError::NoPermission)
    });
    assert_eq!(gpu.set_power_limit_w(300.0), Err(GpuError::NoPermission));
    assert!(GpuError::NoPermission.to_string().contains("root"));
    assert_eq!(gpu.power_limit_w(), Ok(250.0));
    assert_eq!(
        h[0].lock().expect("state").power_limit_sets,
        [250.0, 500.0, 300.0]
    );
}

#[test]
fn a_fake_power_limit_kept_in_a_file_outlives_the_gpu_that_set_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("gpu0.limit");
    let mut state = FakeGpuState::with_counter(0, 0);
    state.power_limit_file = Some(file.clone());
    let (first, _) = FakeGpu::new(state.clone());
    assert_eq!(
        first.power_limit_w(),
        Ok(400.0),
        "no file yet: the state's limit"
    );
    first.set_power_limit_w(275.0).expect("set");
    drop(first);
    // Another process's view of the same GPU: the limit it left.
    let (second, _) = FakeGpu::new(state);
    assert_eq!(second.power_limit_w(), Ok(275.0));
    let inv = open_gpus(&FakeLibrary { gpus: vec![second] }, &all()).inventory;
    assert!(
        inv.gpus[0]
            .power_limit_note()
            .is_some_and(|n| n.contains("275 W"))
    );
}
