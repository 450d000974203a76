//! The sampler: streaming, keep-alive reads at low rates, context events, errors and gaps.

extern crate joulebench_probes as probes;

use probes::discovery::SharedSource;
use probes::fake::{FakePowercap, INTEL_MAX_RANGE_UJ};
use probes::nvml::fake::{FakeGpu, FakeGpuState, FakeLibrary};
use probes::nvml::{GpuSelection, open_gpus};
use probes::rapl::PowercapSource;
use probes::{
    Domain, DomainKind, EnergySource, MonotonicClock, ProbeError, Provenance, Reading, RetryPolicy,
    Sample, Sampler, SamplerEvent,
};
use std::ops::RangeInclusive;
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// A source that reports each read on a channel and fails the reads numbered in `fail`.
struct CountingSource {
    domains: Vec<Domain>,
    reads: u64,
    fail: RangeInclusive<u64>,
    told: Sender<u64>,
}

impl EnergySource for CountingSource {
    fn name(&self) -> &str {
        "counting"
    }
    fn domains(&self) -> &[Domain] {
        &self.domains
    }
    fn read(&mut self, clock: &MonotonicClock) -> Result<Reading, ProbeError> {
        self.reads += 1;
        let _ = self.told.send(self.reads);
        if self.fail.contains(&self.reads) {
            return Err(ProbeError::Device {
                probe: "counting".into(),
                reason: "scripted failure".into(),
            });
        }
        Ok(Reading {
            t_ns: clock.now_ns(),
            joules: vec![self.reads as f64],
        })
    }
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn max_read_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(2))
    }
}

/// Never fails (reads are numbered from 1).
const NEVER: RangeInclusive<u64> = 0..=0;

fn counting(fail: RangeInclusive<u64>) -> (SharedSource, std::sync::mpsc::Receiver<u64>) {
    let (told, reads) = channel();
    let source = CountingSource {
        domains: vec![Domain::new(
            "x",
            DomainKind::CpuPackage,
            Provenance::Measured,
        )],
        reads: 0,
        fail,
        told,
    };
    (Arc::new(Mutex::new(Box::new(source))), reads)
}

#[test]
fn keep_alive_reads_happen_between_slow_samples_and_are_not_streamed() {
    let (source, reads) = counting(NEVER);
    let (tx, rx) = sync_channel(64);
    let sampler = Sampler::start(&[source], MonotonicClock::new(), 0.01, tx);
    assert_eq!(
        sampler.plans()[0].keep_alive,
        Some(Duration::from_millis(2))
    );
    for expected in 1..=10 {
        assert_eq!(
            reads.recv_timeout(WAIT).expect("a keep-alive read"),
            expected
        );
    }
    sampler.stop().expect("no error");
    let streamed: Vec<_> = rx.try_iter().collect();
    assert_eq!(
        streamed.len(),
        1,
        "only the first read is a sample at 0.01 Hz"
    );
}

/// Waits for reads numbered up to `n` (panics after `WAIT` without them).
fn wait_for_read(reads: &Receiver<u64>, n: u64) {
    loop {
        let got = reads.recv_timeout(WAIT).expect("the thread keeps reading");
        if got >= n {
            return;
        }
    }
}

#[test]
fn a_transient_read_error_is_a_gap_and_keep_alive_reads_go_on() {
    // Reads 3 to 5 fail; at 0.01 Hz only keep-alive reads (every 2 ms) follow the first.
    let (source, reads) = counting(3..=5);
    let (tx, rx) = sync_channel(64);
    let clock = MonotonicClock::new();
    let sampler = Sampler::start(&[source], clock, 0.01, tx);
    wait_for_read(&reads, 30);
    let live = sampler.stats();
    assert_eq!(live[0].errors, 3, "{live:?}");
    assert_eq!(live[0].consecutive_errors, 0);
    assert!(!live[0].gave_up);
    let report = sampler.stop().expect("transient errors are not a failure");
    let stats = &report.sources[0];
    assert_eq!(stats.errors, 3);
    assert!(stats.reads >= 27, "{stats:?}");
    let gaps = report.gaps();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let gap = &gaps[0];
    assert_eq!((gap.source, gap.errors, gap.open), (0, 3, false));
    assert!(gap.error.contains("scripted failure"), "{}", gap.error);
    assert!(gap.t_start_ns < gap.t_end_ns && gap.t_end_ns <= clock.now_ns());
    // Retries wait no longer than the 2 ms keep-alive; under load the gap may still
    // exceed it, and must then say so.
    let span = Duration::from_nanos(gap.t_end_ns - gap.t_start_ns);
    assert_eq!(gap.keep_alive_missed, span > Duration::from_millis(2));
    let streamed: Vec<_> = rx.try_iter().collect();
    assert_eq!(streamed.len(), 1, "keep-alive reads are still not streamed");
}

#[test]
fn samples_resume_after_a_transient_error_with_power_over_the_gap() {
    let (source, reads) = counting(3..=5);
    let (tx, rx) = sync_channel(1024);
    let sampler = Sampler::start(&[source], MonotonicClock::new(), 1000.0, tx);
    wait_for_read(&reads, 20);
    let report = sampler.stop().expect("transient errors are not a failure");
    assert_eq!(report.errors(), 3);
    let samples: Vec<_> = rx
        .try_iter()
        .filter_map(|e| match e {
            SamplerEvent::Energy(s) => Some(s),
            SamplerEvent::Context(_) => None,
        })
        .collect();
    // The counting source's energy is its read number: reads 3-5 never became samples.
    let energies: Vec<f64> = samples.iter().map(|s| s.energy_j).collect();
    assert!(
        energies.iter().all(|e| !(3.0..=5.0).contains(e)),
        "{energies:?}"
    );
    assert!(
        energies.iter().any(|&e| e >= 6.0),
        "sampling resumed: {energies:?}"
    );
    let gap = &report.gaps()[0];
    for w in samples.windows(2) {
        let dt = (w[1].t_ns - w[0].t_ns) as f64 / 1e9;
        let expected = (w[1].energy_j - w[0].energy_j) / dt;
        let p = w[1].power_w.expect("power after the first sample");
        assert!((p - expected).abs() <= 1e-9 * expected.abs().max(1.0));
        if w[0].energy_j < 3.0 && w[1].energy_j > 5.0 {
            assert!(w[0].t_ns <= gap.t_start_ns && w[1].t_ns >= gap.t_end_ns);
        }
    }
}

#[test]
fn a_persistent_read_error_gives_up_and_is_returned_at_stop() {
    let (source, reads) = counting(3..=u64::MAX);
    let (tx, _rx) = sync_channel(64);
    let policy = RetryPolicy {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        give_up_after_errors: 5,
        give_up_after: Duration::from_millis(20),
    };
    let sampler = Sampler::start_with(&[source], MonotonicClock::new(), 1000.0, tx, policy);
    let deadline = Instant::now() + WAIT;
    while !sampler.stats()[0].gave_up {
        assert!(Instant::now() < deadline, "never gave up");
        std::thread::sleep(Duration::from_millis(1));
    }
    let stats = sampler.stats().remove(0);
    assert!(stats.errors >= 5, "{stats:?}");
    assert_eq!(stats.errors, stats.consecutive_errors);
    assert_eq!(stats.gaps.len(), 1);
    let gap = &stats.gaps[0];
    assert!(gap.open && gap.errors == stats.errors);
    assert!(Duration::from_nanos(gap.t_end_ns - gap.t_start_ns) >= Duration::from_millis(20));
    // The thread has ended: no read after the last failure.
    let last = reads.try_iter().last().expect("reads were told");
    std::thread::sleep(Duration::from_millis(20));
    assert!(reads.try_iter().next().is_none(), "read after giving up");
    assert_eq!(last, stats.reads + stats.errors);
    let e = sampler.stop().expect_err("the persistent failure");
    let msg = e.to_string();
    assert!(
        msg.contains("scripted failure") && msg.contains("gave up"),
        "{msg}"
    );
}

#[test]
fn finish_reports_the_give_up_error_with_the_stats() {
    let (source, _reads) = counting(1..=u64::MAX);
    let (tx, _rx) = sync_channel(64);
    let policy = RetryPolicy {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        give_up_after_errors: 3,
        give_up_after: Duration::ZERO,
    };
    let sampler = Sampler::start_with(&[source], MonotonicClock::new(), 1000.0, tx, policy);
    let deadline = Instant::now() + WAIT;
    while !sampler.stats()[0].gave_up {
        assert!(Instant::now() < deadline, "never gave up");
        std::thread::sleep(Duration::from_millis(1));
    }
    let report = sampler.finish();
    assert!(report.error.is_some());
    assert_eq!(report.sources[0].reads, 0);
    assert_eq!(report.sources[0].errors, 3);
    assert!(report.gaps()[0].open);
}

/// Powercap over a fake tree whose counters this source rewrites before each read so
/// that each zone draws a constant, known power: counter = base + P × (t − t_first),
/// modulo the zone's range. The reading is stamped with the `t` the counters were set for.
struct RampingPowercap {
    tree: FakePowercap,
    inner: PowercapSource,
    /// Per domain of `inner`: zone directory, power (W), counter at the first read (µJ).
    zones: Vec<(&'static str, f64, u64)>,
    t_first: Option<u64>,
}

impl RampingPowercap {
    fn counter_at(&self, zone: usize, t_ns: u64) -> u64 {
        let (_, watts, base) = self.zones[zone];
        let elapsed_ns = t_ns - self.t_first.unwrap_or(t_ns);
        let uj = base as f64 + watts * elapsed_ns as f64 / 1e3;
        (uj as u64) % (INTEL_MAX_RANGE_UJ + 1)
    }
}

impl EnergySource for RampingPowercap {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn domains(&self) -> &[Domain] {
        self.inner.domains()
    }
    fn read(&mut self, clock: &MonotonicClock) -> Result<Reading, ProbeError> {
        let t_ns = clock.now_ns();
        self.t_first.get_or_insert(t_ns);
        for zone in 0..self.zones.len() {
            let raw = self.counter_at(zone, t_ns);
            self.tree
                .set_energy(self.zones[zone].0, raw)
                .map_err(|e| ProbeError::Device {
                    probe: "ramping".into(),
                    reason: e.to_string(),
                })?;
        }
        let joules = self.inner.read(clock)?.joules;
        Ok(Reading { t_ns, joules })
    }
    fn resolution(&self) -> Duration {
        self.inner.resolution()
    }
    fn max_read_interval(&self) -> Option<Duration> {
        self.inner.max_read_interval()
    }
}

#[test]
fn powercap_samples_carry_the_power_the_counters_rose_at() {
    const WRAP_AFTER_S: f64 = 0.05;
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, true).expect("tree");
    // The package starts 50 ms of energy below its wrap, so it wraps during the test.
    let package_base = INTEL_MAX_RANGE_UJ - (250.0 * WRAP_AFTER_S * 1e6) as u64;
    let plan = [
        ("cpu-package-0", "intel-rapl:0", 250.0, package_base),
        ("dram-0", "intel-rapl:0:1", 12.5, 200_000),
        ("cpu-core-0", "intel-rapl:0:0", 180.0, 500_000),
    ];
    for (_, zone, _, base) in plan {
        tree.set_energy(zone, base).expect("set");
    }
    let inner = PowercapSource::open(tree.root()).expect("open");
    let zones = inner
        .domains()
        .iter()
        .map(|d| {
            let (_, zone, watts, base) = plan
                .iter()
                .find(|p| p.0 == d.name)
                .copied()
                .expect("a known domain");
            (zone, watts, base)
        })
        .collect::<Vec<_>>();
    let watts: Vec<f64> = zones.iter().map(|z| z.1).collect();
    let source: SharedSource = Arc::new(Mutex::new(Box::new(RampingPowercap {
        tree,
        inner,
        zones,
        t_first: None,
    })));
    let (tx, rx) = sync_channel(64);
    let sampler = Sampler::start(&[source], MonotonicClock::new(), 200.0, tx);
    let mut samples: Vec<Sample> = Vec::new();
    loop {
        match rx.recv_timeout(WAIT).expect("sample") {
            SamplerEvent::Energy(s) => samples.push(s),
            SamplerEvent::Context(c) => panic!("RAPL has no context: {c:?}"),
        }
        let first = samples[0].t_ns;
        let package = samples.iter().filter(|s| s.domain == 0);
        let span_s = samples.last().map_or(0, |s| s.t_ns - first) as f64 / 1e9;
        if package.count() >= 15 && span_s > 2.0 * WRAP_AFTER_S {
            break;
        }
    }
    drop(rx);
    let report = sampler.stop().expect("no error");
    assert!(report.gaps().is_empty(), "{:?}", report.gaps());
    let t_first = samples[0].t_ns;
    for (domain, &w) in watts.iter().enumerate() {
        let of_domain: Vec<&Sample> = samples.iter().filter(|s| s.domain == domain).collect();
        assert_eq!(of_domain[0].power_w, None);
        assert!(of_domain.windows(2).all(|p| p[0].t_ns < p[1].t_ns));
        for s in &of_domain {
            // Cumulative energy since the first read, the package's wrap corrected.
            let expected_j = w * (s.t_ns - t_first) as f64 / 1e9;
            assert!(
                (s.energy_j - expected_j).abs() < 1e-5,
                "{s:?} vs {expected_j} J"
            );
        }
        for s in &of_domain[1..] {
            let p = s.power_w.expect("power after the first sample");
            // µJ truncation: at most 2 µJ over ≥ 1 ms.
            assert!(
                (p - w).abs() < 2e-3,
                "domain {domain}: {p} W, expected {w} W"
            );
        }
    }
    assert!(
        samples.last().map_or(0, |s| s.t_ns - t_first) as f64 / 1e9 > WRAP_AFTER_S,
        "the package counter wrapped during the test"
    );
}

#[test]
fn gpu_context_is_streamed_per_gpu() {
    let (gpu, _h) = FakeGpu::new(FakeGpuState::with_counter(0, 0));
    let lib = FakeLibrary { gpus: vec![gpu] };
    let source = open_gpus(&lib, &GpuSelection::new(&[], None))
        .source
        .expect("source");
    let shared: SharedSource = Arc::new(Mutex::new(Box::new(source)));
    let (tx, rx) = sync_channel(64);
    let sampler = Sampler::start(&[shared], MonotonicClock::new(), 100.0, tx);
    let mut metrics = Vec::new();
    while metrics.len() < 5 {
        if let SamplerEvent::Context(c) = rx.recv_timeout(WAIT).expect("event") {
            assert_eq!((c.source, c.domain), (0, 0));
            metrics.push((c.metric, c.value));
        }
    }
    drop(rx);
    sampler.stop().expect("no error");
    assert!(metrics.contains(&("utilization_pct", 50.0)));
    assert!(metrics.contains(&("temperature_c", 45.0)));
}
