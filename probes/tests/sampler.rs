//! The sampler: streaming, keep-alive reads at low rates, context events, errors and gaps.
//!
//! Tests of timing run on a manual clock: time moves only when the test steps it, and
//! each step waits until the sampler thread has done all that was due, so every read
//! and its time are exact.

use probes::clock::ManualClock;
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
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A source that reports each read (its number, from 1, and clock time) on a channel,
/// fails the reads numbered in `fail`, and otherwise reads `energy(number)` joules.
struct CountingSource {
    domains: Vec<Domain>,
    reads: u64,
    fail: RangeInclusive<u64>,
    energy: fn(u64) -> f64,
    told: Sender<(u64, u64)>,
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
        let t_ns = clock.now_ns();
        let _ = self.told.send((self.reads, t_ns));
        if self.fail.contains(&self.reads) {
            return Err(ProbeError::Device {
                probe: "counting".into(),
                reason: "scripted failure".into(),
            });
        }
        Ok(Reading {
            t_ns,
            joules: vec![(self.energy)(self.reads)],
        })
    }
    fn resolution(&self) -> Duration {
        ms(1)
    }
    fn max_read_interval(&self) -> Option<Duration> {
        Some(ms(2))
    }
}

/// Never fails (reads are numbered from 1).
const NEVER: RangeInclusive<u64> = 0..=0;

type Told = Receiver<(u64, u64)>;

/// A counting source whose energy is its read number.
fn counting(fail: RangeInclusive<u64>) -> (SharedSource, Told) {
    scripted(fail, |n| n as f64)
}

fn scripted(fail: RangeInclusive<u64>, energy: fn(u64) -> f64) -> (SharedSource, Told) {
    let (told, reads) = channel();
    let source = CountingSource {
        domains: vec![Domain::new(
            "x",
            DomainKind::CpuPackage,
            Provenance::Measured,
        )],
        reads: 0,
        fail,
        energy,
        told,
    };
    (Arc::new(Mutex::new(Box::new(source))), reads)
}

/// The reads told since the last call, as (number, clock ms).
fn told(reads: &Told) -> Vec<(u64, u64)> {
    reads.try_iter().map(|(n, t)| (n, t / 1_000_000)).collect()
}

/// Moves the manual clock 1 ms at a time, `n` times, letting the sampler catch up each time.
fn steps(clock: &ManualClock, n: u64) {
    for _ in 0..n {
        assert!(clock.step(ms(1)), "the sampler thread never settled");
    }
}

fn energy_samples(rx: &Receiver<SamplerEvent>) -> Vec<Sample> {
    rx.try_iter()
        .filter_map(|e| match e {
            SamplerEvent::Energy(s) => Some(s),
            SamplerEvent::Context(_) => None,
        })
        .collect()
}

#[test]
fn keep_alive_reads_happen_between_slow_samples_and_are_not_streamed() {
    let (source, reads) = counting(NEVER);
    let (tx, rx) = sync_channel(64);
    let manual = ManualClock::new();
    let sampler = Sampler::start(&[source], manual.clock(), 0.01, tx);
    assert_eq!(sampler.plans()[0].keep_alive, Some(ms(2)));
    assert!(manual.settle());
    assert_eq!(told(&reads), [(1, 0)]);
    steps(&manual, 20);
    // A keep-alive read every 2 ms, none in between.
    let expected: Vec<(u64, u64)> = (2..=11).map(|n| (n, 2 * (n - 1))).collect();
    assert_eq!(told(&reads), expected);
    sampler.stop().expect("no error");
    let streamed = energy_samples(&rx);
    assert_eq!(
        streamed.len(),
        1,
        "only the first read is a sample at 0.01 Hz"
    );
    assert_eq!((streamed[0].t_ns, streamed[0].energy_j), (0, 1.0));
}

#[test]
fn a_transient_read_error_is_a_gap_and_keep_alive_reads_go_on() {
    // Reads 3 to 5 fail; at 0.01 Hz only keep-alive reads (every 2 ms) follow the first,
    // and retries wait no longer than the keep-alive.
    let (source, reads) = counting(3..=5);
    let (tx, rx) = sync_channel(64);
    let manual = ManualClock::new();
    let sampler = Sampler::start(&[source], manual.clock(), 0.01, tx);
    assert!(manual.settle());
    steps(&manual, 6);
    let live = sampler.stats().remove(0);
    assert_eq!((live.errors, live.consecutive_errors), (2, 2), "{live:?}");
    assert!(live.gaps[0].open && !live.gave_up);
    steps(&manual, 14);
    let expected: Vec<(u64, u64)> = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
        .into_iter()
        .zip(1..)
        .map(|(t, n)| (n, t))
        .collect();
    assert_eq!(told(&reads), expected);
    let live = sampler.stats().remove(0);
    assert_eq!(
        (live.reads, live.errors, live.consecutive_errors),
        (8, 3, 0)
    );
    let report = sampler.stop().expect("transient errors are not a failure");
    let gaps = report.gaps();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let gap = &gaps[0];
    assert_eq!((gap.source, gap.errors, gap.open), (0, 3, false));
    assert!(gap.error.contains("scripted failure"), "{}", gap.error);
    // From the last good read (2 ms) to the next good one (10 ms): past the keep-alive.
    assert_eq!((gap.t_start_ns, gap.t_end_ns), (2_000_000, 10_000_000));
    assert!(gap.keep_alive_missed);
    assert_eq!(
        energy_samples(&rx).len(),
        1,
        "keep-alive reads are still not streamed"
    );
}

#[test]
fn samples_resume_after_a_transient_error_with_power_over_the_gap() {
    // At 1000 Hz: reads 1-2 at 0 and 1 ms, 3-5 fail at 2-4 ms, then one read a ms.
    let (source, reads) = counting(3..=5);
    let (tx, rx) = sync_channel(1024);
    let manual = ManualClock::new();
    let sampler = Sampler::start(&[source], manual.clock(), 1000.0, tx);
    assert!(manual.settle());
    steps(&manual, 9);
    let report = sampler.stop().expect("transient errors are not a failure");
    assert_eq!(report.errors(), 3);
    assert_eq!(told(&reads).len(), 10);
    let samples = energy_samples(&rx);
    // The source's energy is its read number: reads 3-5 never became samples.
    let seen: Vec<(u64, f64)> = samples
        .iter()
        .map(|s| (s.t_ns / 1_000_000, s.energy_j))
        .collect();
    assert_eq!(
        seen,
        [
            (0, 1.0),
            (1, 2.0),
            (5, 6.0),
            (6, 7.0),
            (7, 8.0),
            (8, 9.0),
            (9, 10.0)
        ]
    );
    assert_eq!(samples[0].power_w, None);
    // One joule a read, one read a ms: 1000 W, across the gap (4 J over 4 ms) too.
    for s in &samples[1..] {
        let p = s.power_w.expect("power after the first sample");
        assert!((p - 1000.0).abs() < 1e-6, "{s:?}");
    }
    let gap = &report.gaps()[0];
    assert_eq!((gap.t_start_ns, gap.t_end_ns), (1_000_000, 5_000_000));
}

#[test]
fn a_backwards_counter_gives_a_sample_no_power_never_zero_or_negative() {
    // Energy 1, 2, then 1.5 (backwards), then 2.5, 3.5, ...
    let (source, _reads) = scripted(NEVER, |n| match n {
        1 | 2 => n as f64,
        n => n as f64 - 1.5,
    });
    let (tx, rx) = sync_channel(64);
    let manual = ManualClock::new();
    let sampler = Sampler::start(&[source], manual.clock(), 1000.0, tx);
    assert!(manual.settle());
    steps(&manual, 4);
    sampler.stop().expect("no error");
    let power: Vec<Option<f64>> = energy_samples(&rx).iter().map(|s| s.power_w).collect();
    assert_eq!(power.len(), 5);
    assert_eq!(power[2], None, "1.5 J after 2 J: {power:?}");
    for p in [power[1], power[3], power[4]] {
        assert!(p.is_some_and(|w| (w - 1000.0).abs() < 1e-6), "{power:?}");
    }
}

#[test]
fn a_persistent_read_error_gives_up_and_is_returned_at_stop() {
    // At 1000 Hz reads 1-2 succeed (0 and 1 ms); from 2 ms every read fails, retried
    // every 1 ms, until 5 failures spanning 20 ms: the 21st failure, at 22 ms.
    let (source, reads) = counting(3..=u64::MAX);
    let (tx, _rx) = sync_channel(64);
    let policy = RetryPolicy {
        initial_backoff: ms(1),
        max_backoff: ms(2),
        give_up_after_errors: 5,
        give_up_after: ms(20),
    };
    let manual = ManualClock::new();
    let sampler = Sampler::start_with(&[source], manual.clock(), 1000.0, tx, policy);
    assert!(manual.settle());
    steps(&manual, 21);
    assert!(!sampler.stats()[0].gave_up, "not before 20 ms of failures");
    steps(&manual, 1);
    let stats = sampler.stats().remove(0);
    assert!(stats.gave_up);
    assert_eq!(
        (stats.reads, stats.errors, stats.consecutive_errors),
        (2, 21, 21)
    );
    assert_eq!(manual.threads(), 0, "the thread has ended");
    assert_eq!(told(&reads).last(), Some(&(23, 22)));
    let gap = &stats.gaps[0];
    assert_eq!(stats.gaps.len(), 1);
    assert!(gap.open && gap.errors == 21 && gap.keep_alive_missed);
    assert_eq!((gap.t_start_ns, gap.t_end_ns), (1_000_000, 22_000_000));
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
        initial_backoff: ms(1),
        max_backoff: ms(1),
        give_up_after_errors: 3,
        give_up_after: Duration::ZERO,
    };
    let manual = ManualClock::new();
    let sampler = Sampler::start_with(&[source], manual.clock(), 1000.0, tx, policy);
    assert!(manual.settle());
    steps(&manual, 2);
    assert_eq!(
        manual.threads(),
        0,
        "gave up after the third failure, at 2 ms"
    );
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
