//! A background thread per source that reads it at a fixed rate and streams samples.

use crate::discovery::{SharedSource, lock};
use crate::{MonotonicClock, ProbeError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Duration;

/// One sampled read of one domain.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Clock time of the read (ns).
    pub t_ns: u64,
    /// Index of the source in the probe set.
    pub source: usize,
    /// Index of the domain within the source.
    pub domain: usize,
    /// Cumulative energy (J).
    pub energy_j: f64,
    /// Mean power since the previous sample of this domain (W); `None` for the first.
    pub power_w: Option<f64>,
}

/// A context reading that is not energy (GPU power, utilisation, clock, memory, temperature).
#[derive(Clone, Debug, PartialEq)]
pub struct ContextSample {
    /// Clock time of the read (ns).
    pub t_ns: u64,
    /// Index of the source in the probe set.
    pub source: usize,
    /// Index of the domain within the source.
    pub domain: usize,
    /// What was read, e.g. `power_w`, `utilization_pct`, `sm_clock_mhz`, `memory_used_mib`, `temperature_c`.
    pub metric: &'static str,
    /// The value, in the unit the metric's name ends with.
    pub value: f64,
}

/// What the sampler threads stream to the writer.
#[derive(Clone, Debug, PartialEq)]
pub enum SamplerEvent {
    /// A cumulative energy read of one domain.
    Energy(Sample),
    /// A context reading.
    Context(ContextSample),
}

/// Running sampler threads; stopping joins them.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<(), ProbeError>>>,
}

impl Sampler {
    /// Starts one thread per source reading at `hz`, sending samples into `sink`.
    ///
    /// The channel is bounded: a slow writer makes samplers wait rather than grow memory.
    pub fn start(
        sources: &[SharedSource],
        clock: MonotonicClock,
        hz: f64,
        sink: SyncSender<SamplerEvent>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let period = Duration::from_secs_f64(1.0 / hz.clamp(0.1, 1000.0));
        let threads = sources
            .iter()
            .enumerate()
            .map(|(index, source)| {
                let source = Arc::clone(source);
                let stop = Arc::clone(&stop);
                let sink = sink.clone();
                std::thread::Builder::new()
                    .name(format!("sampler-{index}"))
                    .spawn(move || run(index, &source, clock, period, &stop, &sink))
                    .expect("spawning a sampler thread")
            })
            .collect();
        Self { stop, threads }
    }

    /// Stops every thread and returns the first read error any of them met.
    pub fn stop(self) -> Result<(), ProbeError> {
        self.stop.store(true, Ordering::SeqCst);
        let mut first = Ok(());
        for t in self.threads {
            if let Ok(Err(e)) = t.join() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

fn run(
    index: usize,
    source: &SharedSource,
    clock: MonotonicClock,
    period: Duration,
    stop: &AtomicBool,
    sink: &SyncSender<SamplerEvent>,
) -> Result<(), ProbeError> {
    let mut previous: Option<(u64, Vec<f64>)> = None;
    let mut next = clock.now_ns();
    let period_ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
    while !stop.load(Ordering::SeqCst) {
        let reading = lock(source).read(&clock)?;
        for (domain, &energy_j) in reading.joules.iter().enumerate() {
            let power_w = previous.as_ref().and_then(|(t0, e0)| {
                let dt = reading.t_ns.saturating_sub(*t0) as f64 / 1e9;
                (dt > 0.0).then(|| (energy_j - e0[domain]) / dt)
            });
            let sample = Sample {
                t_ns: reading.t_ns,
                source: index,
                domain,
                energy_j,
                power_w,
            };
            if sink.send(SamplerEvent::Energy(sample)).is_err() {
                return Ok(()); // the writer has gone: the run is over
            }
        }
        previous = Some((reading.t_ns, reading.joules));
        next = next.saturating_add(period_ns);
        let now = clock.now_ns();
        if next > now {
            std::thread::sleep(Duration::from_nanos(next - now));
        } else {
            next = now; // fell behind: do not burst to catch up
        }
    }
    Ok(())
}
