//! A background thread per source that reads it at a fixed rate and streams samples.
//!
//! Each thread also reads its source as often as `max_read_interval()` demands (keep-alive
//! reads, not streamed), so a slow sample rate never lets a RAPL counter wrap twice unseen.
//!
//! A failed read does not end the thread: it is counted, retried with a backoff no longer
//! than the keep-alive, and recorded as a `Gap` (see `Sampler::stats`/`gaps`). Only a
//! failure that persists past the `RetryPolicy` ends the thread; `stop` then returns it.

use crate::delta::cumulative_delta;
use crate::discovery::{SharedSource, lock};
use crate::{MonotonicClock, ProbeError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
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
    /// Mean power since the previous sample of this domain (W); `None` for the first, or
    /// when the energy in between cannot be known (the counter went backwards).
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
    stats: Vec<Arc<Mutex<SourceStats>>>,
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

    /// Longest time between reads this plan allows: the keep-alive, else the sample period.
    pub fn read_interval(&self) -> Duration {
        self.keep_alive.unwrap_or(self.sample_period)
    }
}

/// What a source's thread does when a read fails: retry with backoff, give up only on a
/// persistent failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Wait before the first retry; it doubles with each further consecutive error.
    pub initial_backoff: Duration,
    /// Longest wait between retries. Retries also never wait longer than the plan's
    /// `read_interval()`, so the source's keep-alive is honoured while it fails.
    pub max_backoff: Duration,
    /// Give up only after at least this many consecutive failed reads ...
    pub give_up_after_errors: u64,
    /// ... spanning at least this long (first to last failure of the streak).
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 10 ms doubling to 1 s; give up after 10 consecutive errors over 30 s or more.
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
            give_up_after_errors: 10,
            give_up_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Wait after the `consecutive`-th consecutive error (1 for the first) under `plan`.
    pub fn retry_delay(&self, plan: &ThreadPlan, consecutive: u64) -> Duration {
        let cap = self.max_backoff.min(plan.read_interval());
        let doublings = u32::try_from(consecutive.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(31);
        let delay = self
            .initial_backoff
            .checked_mul(1u32 << doublings)
            .unwrap_or(Duration::MAX);
        delay.min(cap).max(Duration::from_micros(1))
    }

    fn gives_up(&self, consecutive: u64, streak: Duration) -> bool {
        consecutive >= self.give_up_after_errors && streak >= self.give_up_after
    }
}

/// A stretch of time in which every read of one source failed.
///
/// Energy between `t_start_ns` and `t_end_ns` is not sampled: a counter (RAPL, the NVML
/// counter) still holds it, but integrated GPU power is interpolated across the gap, and
/// when `keep_alive_missed` is set a wrapping counter may have wrapped unseen. A window
/// overlapping a gap should be flagged.
#[derive(Clone, Debug, PartialEq)]
pub struct Gap {
    /// Index of the source in the probe set.
    pub source: usize,
    /// Clock time of the last successful read before the failures (ns); the thread's
    /// start when none had succeeded.
    pub t_start_ns: u64,
    /// Clock time of the first successful read after the failures (ns); while the gap
    /// is open, of the last failed read.
    pub t_end_ns: u64,
    /// Failed reads in the gap.
    pub errors: u64,
    /// The first error of the gap.
    pub error: String,
    /// No read has succeeded since (still failing, the sampler stopped, or it gave up).
    pub open: bool,
    /// The gap is longer than the source's `max_read_interval()`: a wrapping counter may
    /// have wrapped unseen (energy under-counted) or integrated power was under-sampled.
    pub keep_alive_missed: bool,
}

/// Read health of one source's sampler thread.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceStats {
    /// Successful reads (streamed samples and keep-alive reads).
    pub reads: u64,
    /// Failed reads, in all.
    pub errors: u64,
    /// Failed reads since the last successful one.
    pub consecutive_errors: u64,
    /// Every gap so far, in time order; the last may be open.
    pub gaps: Vec<Gap>,
    /// The thread gave up after a persistent failure; its error is returned at stop.
    pub gave_up: bool,
}

/// What the sampler threads did, from `Sampler::finish`.
#[derive(Debug, Default)]
pub struct SamplerReport {
    /// Per source, in source order.
    pub sources: Vec<SourceStats>,
    /// The first error a thread ended on (a persistent read failure, or no thread).
    pub error: Option<ProbeError>,
}

impl SamplerReport {
    /// Every gap of every source, by source then time.
    pub fn gaps(&self) -> Vec<Gap> {
        self.sources
            .iter()
            .flat_map(|s| s.gaps.iter().cloned())
            .collect()
    }

    /// Failed reads over all sources.
    pub fn errors(&self) -> u64 {
        self.sources.iter().map(|s| s.errors).sum()
    }
}

impl Sampler {
    /// Starts one thread per source reading at `hz`, sending samples into `sink`, with
    /// the default `RetryPolicy`.
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
        Self::start_with(sources, clock, hz, sink, RetryPolicy::default())
    }

    /// As `start`, with an explicit policy for failing reads.
    pub fn start_with(
        sources: &[SharedSource],
        clock: MonotonicClock,
        hz: f64,
        sink: SyncSender<SamplerEvent>,
        policy: RetryPolicy,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut plans = Vec::new();
        let mut all_stats = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let (plan, max_read_interval) = {
                let s = lock(source);
                let max = s.max_read_interval();
                (ThreadPlan::new(hz, s.max_sample_hz(), max), max)
            };
            plans.push(plan);
            let stats = Arc::new(Mutex::new(SourceStats::default()));
            all_stats.push(Arc::clone(&stats));
            let thread = Thread {
                index,
                source: Arc::clone(source),
                clock,
                plan,
                max_read_interval,
                policy,
                stop: Arc::clone(&stop),
                sink: sink.clone(),
                stats,
            };
            clock.thread_started();
            let spawned = std::thread::Builder::new()
                .name(format!("sampler-{index}"))
                .spawn(move || {
                    let _done = ThreadDone(thread.clock);
                    thread.run()
                });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    clock.thread_done();
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
            stats: all_stats,
        }
    }

    /// The read plan of each source's thread, in source order.
    pub fn plans(&self) -> &[ThreadPlan] {
        &self.plans
    }

    /// Read health of each source so far, in source order (a snapshot; gaps may be open).
    pub fn stats(&self) -> Vec<SourceStats> {
        self.stats.iter().map(|s| lock_stats(s).clone()).collect()
    }

    /// Every gap so far, by source then time (a snapshot; the last of a source may be open).
    pub fn gaps(&self) -> Vec<Gap> {
        self.stats
            .iter()
            .flat_map(|s| lock_stats(s).gaps.clone())
            .collect()
    }

    /// Stops every thread; the report, or the first error a thread ended on (a read
    /// failure that persisted past the `RetryPolicy`). Transient failures are not errors:
    /// they are in the report's gaps.
    pub fn stop(self) -> Result<SamplerReport, ProbeError> {
        let mut report = self.finish();
        match report.error.take() {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Stops every thread and reports what they did, the error included.
    pub fn finish(self) -> SamplerReport {
        self.stop.store(true, Ordering::SeqCst);
        for t in &self.threads {
            t.thread().unpark();
        }
        let mut error = None;
        for t in self.threads {
            let outcome = t.join().unwrap_or_else(|_| {
                Err(ProbeError::Device {
                    probe: "sampler".into(),
                    reason: "a sampler thread panicked".into(),
                })
            });
            if let Err(e) = outcome
                && error.is_none()
            {
                error = Some(e);
            }
        }
        let sources = self.stats.iter().map(|s| lock_stats(s).clone()).collect();
        SamplerReport { sources, error }
    }
}

fn lock_stats(s: &Mutex<SourceStats>) -> std::sync::MutexGuard<'_, SourceStats> {
    s.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn as_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Tells the clock, when dropped, that a sampler thread waits on it no more.
struct ThreadDone(MonotonicClock);

impl Drop for ThreadDone {
    fn drop(&mut self) {
        self.0.thread_done();
    }
}

/// One source's sampler thread.
struct Thread {
    index: usize,
    source: SharedSource,
    clock: MonotonicClock,
    plan: ThreadPlan,
    max_read_interval: Option<Duration>,
    policy: RetryPolicy,
    stop: Arc<AtomicBool>,
    sink: SyncSender<SamplerEvent>,
    stats: Arc<Mutex<SourceStats>>,
}

/// The failing reads since the last good one.
struct Streak {
    first_ns: u64,
    count: u64,
}

impl Thread {
    fn run(self) -> Result<(), ProbeError> {
        let clock = self.clock;
        let mut previous: Option<(u64, Vec<f64>)> = None;
        let sample_ns = as_ns(self.plan.sample_period);
        let keep_ns = self.plan.keep_alive.map(as_ns);
        let mut next_sample = clock.now_ns();
        let mut next_read = next_sample;
        let mut last_ok_ns = next_sample;
        let mut streak: Option<Streak> = None;
        while !self.stop.load(Ordering::SeqCst) {
            let now = clock.now_ns();
            if now < next_read {
                clock.wait_until(next_read, &self.stop);
                continue;
            }
            let result = lock(&self.source).read(&clock);
            let reading = match result {
                Ok(reading) => reading,
                Err(e) => {
                    let now = clock.now_ns();
                    let s = streak.get_or_insert(Streak {
                        first_ns: now,
                        count: 0,
                    });
                    s.count += 1;
                    let lasted = Duration::from_nanos(now.saturating_sub(s.first_ns));
                    let gives_up = self.policy.gives_up(s.count, lasted);
                    self.record_error(last_ok_ns, now, &e, gives_up);
                    if gives_up {
                        return Err(ProbeError::Device {
                            probe: format!("sampler of source {}", self.index),
                            reason: format!(
                                "gave up after {} consecutive failed reads over {:.1} s: {e}",
                                s.count,
                                lasted.as_secs_f64()
                            ),
                        });
                    }
                    let delay = self.policy.retry_delay(&self.plan, s.count);
                    next_read = now.saturating_add(as_ns(delay));
                    continue;
                }
            };
            self.record_success(streak.take().is_some(), last_ok_ns, reading.t_ns);
            last_ok_ns = reading.t_ns;
            let streamed = reading.t_ns >= next_sample;
            if streamed {
                if !send_energy(self.index, &reading, previous.as_ref(), &self.sink) {
                    return Ok(()); // the writer has gone: the run is over
                }
                let context = lock(&self.source).read_context();
                for c in context {
                    let event = SamplerEvent::Context(ContextSample {
                        t_ns: reading.t_ns,
                        source: self.index,
                        domain: c.domain,
                        metric: c.metric,
                        value: c.value,
                    });
                    if self.sink.send(event).is_err() {
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

    fn missed(&self, t_start_ns: u64, t_end_ns: u64) -> bool {
        self.max_read_interval
            .is_some_and(|m| t_end_ns.saturating_sub(t_start_ns) > as_ns(m))
    }

    /// Counts a failed read and opens or extends the current gap.
    fn record_error(&self, last_ok_ns: u64, now: u64, e: &ProbeError, gave_up: bool) {
        let keep_alive_missed = self.missed(last_ok_ns, now);
        let mut stats = lock_stats(&self.stats);
        stats.errors += 1;
        stats.consecutive_errors += 1;
        stats.gave_up |= gave_up;
        match stats.gaps.last_mut() {
            Some(gap) if gap.open => {
                gap.t_end_ns = now;
                gap.errors += 1;
                gap.keep_alive_missed = keep_alive_missed;
            }
            _ => stats.gaps.push(Gap {
                source: self.index,
                t_start_ns: last_ok_ns,
                t_end_ns: now,
                errors: 1,
                error: e.to_string(),
                open: true,
                keep_alive_missed,
            }),
        }
    }

    /// Counts a good read and, after failures, closes the gap at its time.
    fn record_success(&self, after_errors: bool, last_ok_ns: u64, t_ns: u64) {
        let keep_alive_missed = self.missed(last_ok_ns, t_ns);
        let mut stats = lock_stats(&self.stats);
        stats.reads += 1;
        if after_errors {
            stats.consecutive_errors = 0;
            if let Some(gap) = stats.gaps.last_mut().filter(|g| g.open) {
                gap.t_end_ns = t_ns;
                gap.open = false;
                gap.keep_alive_missed = keep_alive_missed;
            }
        }
    }
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
            let e0 = *e0.get(domain)?;
            if dt <= 0.0 {
                return None;
            }
            match cumulative_delta(e0, energy_j) {
                Ok(joules) => Some(joules / dt),
                Err(e) => {
                    tracing::warn!(
                        "sampler of source {index}, domain {domain}: no power from {e0} J at \
                         {t0} ns to {energy_j} J at {} ns: {e}",
                        reading.t_ns
                    );
                    None
                }
            }
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

    #[test]
    fn retries_back_off_but_never_past_the_keep_alive_or_sample_period() {
        let policy = RetryPolicy::default();
        let ms = Duration::from_millis;
        // A slow sample rate without keep-alive: doubling from 10 ms up to max_backoff.
        let slow = ThreadPlan::new(0.01, 1000.0, None);
        let delays: Vec<_> = (1..=9).map(|n| policy.retry_delay(&slow, n)).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000].map(ms));
        assert_eq!(policy.retry_delay(&slow, u64::MAX), ms(1000));
        // A RAPL-like keep-alive shorter than max_backoff caps every retry.
        let keep = ThreadPlan::new(0.01, 1000.0, Some(ms(25)));
        assert_eq!(keep.read_interval(), ms(25));
        assert_eq!(policy.retry_delay(&keep, 1), ms(10));
        assert_eq!(policy.retry_delay(&keep, 2), ms(20));
        assert_eq!(policy.retry_delay(&keep, 3), ms(25));
        assert_eq!(policy.retry_delay(&keep, 50), ms(25));
        // A fast sample rate: retries no slower than sampling.
        let fast = ThreadPlan::new(1000.0, 1000.0, None);
        assert_eq!(policy.retry_delay(&fast, 1), ms(1));
    }

    #[test]
    fn giving_up_needs_both_many_errors_and_a_long_streak() {
        let policy = RetryPolicy::default();
        assert!(
            !policy.gives_up(1_000, Duration::from_secs(5)),
            "fast burst"
        );
        assert!(!policy.gives_up(3, Duration::from_secs(600)), "rare errors");
        assert!(policy.gives_up(10, Duration::from_secs(30)));
    }
}
