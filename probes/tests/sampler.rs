//! The sampler: streaming, keep-alive reads at low rates, context events, errors.

extern crate joulebench_probes as probes;

use probes::discovery::SharedSource;
use probes::fake::FakePowercap;
use probes::nvml::fake::{FakeGpu, FakeGpuState, FakeLibrary};
use probes::nvml::{GpuSelection, open_gpus};
use probes::rapl::PowercapSource;
use probes::{
    Domain, DomainKind, EnergySource, MonotonicClock, ProbeError, Provenance, Reading, Sampler,
    SamplerEvent,
};
use std::sync::mpsc::{Sender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// A source that reports each read on a channel and can fail after some reads.
struct CountingSource {
    domains: Vec<Domain>,
    reads: u64,
    fail_after: Option<u64>,
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
        if self.fail_after.is_some_and(|n| self.reads > n) {
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

fn counting(fail_after: Option<u64>) -> (SharedSource, std::sync::mpsc::Receiver<u64>) {
    let (told, reads) = channel();
    let source = CountingSource {
        domains: vec![Domain::new(
            "x",
            DomainKind::CpuPackage,
            Provenance::Measured,
        )],
        reads: 0,
        fail_after,
        told,
    };
    (Arc::new(Mutex::new(Box::new(source))), reads)
}

#[test]
fn keep_alive_reads_happen_between_slow_samples_and_are_not_streamed() {
    let (source, reads) = counting(None);
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

#[test]
fn a_read_error_stops_the_thread_and_is_returned() {
    let (source, reads) = counting(Some(2));
    let (tx, _rx) = sync_channel(64);
    let sampler = Sampler::start(&[source], MonotonicClock::new(), 1000.0, tx);
    for _ in 0..3 {
        reads.recv_timeout(WAIT).expect("read");
    }
    let e = sampler.stop().expect_err("the scripted failure");
    assert!(e.to_string().contains("scripted failure"));
}

#[test]
fn powercap_samples_stream_in_time_order_with_power() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = FakePowercap::intel(dir.path(), 1, true).expect("tree");
    let source: SharedSource = Arc::new(Mutex::new(Box::new(
        PowercapSource::open(tree.root()).expect("open"),
    )));
    let (tx, rx) = sync_channel(16);
    let sampler = Sampler::start(&[source], MonotonicClock::new(), 1000.0, tx);
    let mut samples = Vec::new();
    while samples.len() < 30 {
        match rx.recv_timeout(WAIT).expect("sample") {
            SamplerEvent::Energy(s) => samples.push(s),
            SamplerEvent::Context(c) => panic!("RAPL has no context: {c:?}"),
        }
    }
    drop(rx);
    sampler.stop().expect("no error");
    let package: Vec<_> = samples.iter().filter(|s| s.domain == 0).collect();
    assert!(package.len() >= 10);
    assert_eq!(package[0].power_w, None);
    assert!(package[1..].iter().all(|s| s.power_w == Some(0.0)));
    assert!(package.windows(2).all(|w| w[0].t_ns < w[1].t_ns));
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
