//! A background thread per source that reads it at a fixed rate and streams samples.
//!
//! Each thread also reads its source as often as `max_read_interval()` demands (keep-alive
//! reads, not streamed), so a slow sample rate never lets a RAPL counter wrap twice unseen.

use crate::discovery::{SharedSource, lock};
use crate::{MonotonicClock, ProbeError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Duration;

/// Default sampling rate (Hz).
pub const DEFAULT_HZ: f64 = 10.0;
/// Highest sampling rate any source is read at (Hz).
pub const MAX_HZ: f64 = 1000.0;
/// Lowest sampling rate (Hz).
pub const MIN_HZ: f64 = 0.01;

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
    plans: Vec<ThreadPlan>,
}

/// How one source's thread reads: its sample period and keep-alive period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThreadPlan {
    /// Time between streamed samples.
    pub sample_period: Duration,
    /// Time between reads at most (keep-alive), when shorter than the sample period.
    pub keep_alive: Option<Duration>,
}

impl ThreadPlan {
    /// The plan for a source read at `hz` (capped by the source's own limit and `MAX_HZ`).
    pub fn new(hz: f64, source_max_hz: f64, max_read_interval: Option<Duration>) -> Self {
        let cap = source_max_hz.clamp(MIN_HZ, MAX_HZ);
        let hz = if hz.is_finite() { hz } else { DEFAULT_HZ };
        let sample_period = Duration::from_secs_f64(1.0 / hz.clamp(MIN_HZ, cap));
        let keep_alive = max_read_interval.filter(|k| *k < sample_period);
        Self {
            sample_period,
            keep_alive,
        }
    }
}

impl Sampler {
    /// Starts one thread per source reading at `hz`, sending samples into `sink`.
    ///
    /// The channel is bounded: a slow writer makes samplers wait rather than grow memory.
    /// Keep the sampler running for the whole run (idle windows and cooldowns included):
    /// its keep-alive reads are what guarantee no counter wrap is missed.
    pub fn start(
        sources: &[SharedSource],
        clock: MonotonicClock,
        hz: f64,
        sink: SyncSender<SamplerEvent>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut plans = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let plan = {
                let s = lock(source);
                ThreadPlan::new(hz, s.max_sample_hz(), s.max_read_interval())
            };
            plans.push(plan);
            let source = Arc::clone(source);
            let thread_stop = Arc::clone(&stop);
            let sink = sink.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sampler-{index}"))
                .spawn(move || run(index, &source, clock, plan, &thread_stop, &sink));
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    // Without a thread this source is read only at window edges: say so at stop.
                    let err = ProbeError::Device {
                        probe: format!("sampler-{index}"),
                        reason: format!("cannot start the sampler thread: {e}"),
                    };
                    if let Ok(handle) = std::thread::Builder::new().spawn(move || Err(err)) {
                        threads.push(handle);
                    }
                }
            }
        }
        Self {
            stop,
            threads,
            plans,
        }
    }

    /// The read plan of each source's thread, in source order.
    pub fn plans(&self) -> &[ThreadPlan] {
        &self.plans
    }

    /// Stops every thread and returns the first read error any of them met.
    pub fn stop(self) -> Result<(), ProbeError> {
        self.stop.store(true, Ordering::SeqCst);
        for t in &self.threads {
            t.thread().unpark();
        }
        let mut first = Ok(());
        for t in self.threads {
            if let Ok(Err(e)) = t.join()
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }
}

fn as_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn run(
    index: usize,
    source: &SharedSource,
    clock: MonotonicClock,
    plan: ThreadPlan,
    stop: &AtomicBool,
    sink: &SyncSender<SamplerEvent>,
) -> Result<(), ProbeError> {
    let mut previous: Option<(u64, Vec<f64>)> = None;
    let sample_ns = as_ns(plan.sample_period);
    let keep_ns = plan.keep_alive.map(as_ns);
    let mut next_sample = clock.now_ns();
    let mut next_read = next_sample;
    while !stop.load(Ordering::SeqCst) {
        let now = clock.now_ns();
        if now < next_read {
            std::thread::park_timeout(Duration::from_nanos(next_read - now));
            continue;
        }
        let reading = lock(source).read(&clock)?;
        let streamed = reading.t_ns >= next_sample;
        if streamed {
            if !send_energy(index, &reading, previous.as_ref(), sink) {
                return Ok(()); // the writer has gone: the run is over
            }
            let context = lock(source).read_context();
            for c in context {
                let event = SamplerEvent::Context(ContextSample {
                    t_ns: reading.t_ns,
                    source: index,
                    domain: c.domain,
                    metric: c.metric,
                    value: c.value,
                });
                if sink.send(event).is_err() {
                    return Ok(());
                }
            }
            next_sample = next_sample.saturating_add(sample_ns);
            if next_sample <= reading.t_ns {
                next_sample = reading.t_ns.saturating_add(sample_ns); // fell behind: no burst
            }
            previous = Some((reading.t_ns, reading.joules));
        }
        next_read = match keep_ns {
            Some(k) => next_sample.min(clock.now_ns().saturating_add(k)),
            None => next_sample,
        };
    }
    Ok(())
}

/// Streams one energy sample per domain; false when the writer has gone.
fn send_energy(
    index: usize,
    reading: &crate::Reading,
    previous: Option<&(u64, Vec<f64>)>,
    sink: &SyncSender<SamplerEvent>,
) -> bool {
    for (domain, &energy_j) in reading.joules.iter().enumerate() {
        let power_w = previous.and_then(|(t0, e0)| {
            let dt = reading.t_ns.saturating_sub(*t0) as f64 / 1e9;
            let e0 = e0.get(domain)?;
            (dt > 0.0).then(|| (energy_j - e0) / dt)
        });
        let sample = crate::Sample {
            t_ns: reading.t_ns,
            source: index,
            domain,
            energy_j,
            power_w,
        };
        if sink.send(SamplerEvent::Energy(sample)).is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_caps_rate_and_adds_keep_alive_only_when_needed() {
        let p = ThreadPlan::new(0.1, 1000.0, Some(Duration::from_secs(2)));
        assert_eq!(p.sample_period, Duration::from_secs(10));
        assert_eq!(p.keep_alive, Some(Duration::from_secs(2)));
        let p = ThreadPlan::new(10.0, 1000.0, Some(Duration::from_secs(2)));
        assert_eq!(p.keep_alive, None);
        let p = ThreadPlan::new(5000.0, 1000.0, None);
        assert_eq!(p.sample_period, Duration::from_millis(1));
        let p = ThreadPlan::new(1000.0, 10.0, None);
        assert_eq!(p.sample_period, Duration::from_millis(100));
        let p = ThreadPlan::new(f64::NAN, 1000.0, None);
        assert_eq!(p.sample_period, Duration::from_millis(100));
    }
}
