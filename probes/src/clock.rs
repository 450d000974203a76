//! The one monotonic clock that probes and the request loop both timestamp with.
//!
//! With the `test-support` feature a clock can also be manual (`ManualClock`): its time
//! moves only when a test advances it, and sampler threads wait on it, so tests of the
//! sampler are deterministic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

#[cfg(any(test, feature = "test-support"))]
pub use manual::ManualClock;

/// A monotonic clock counting nanoseconds from an epoch fixed at creation.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    epoch: Instant,
    epoch_wall: SystemTime,
    #[cfg(any(test, feature = "test-support"))]
    manual: Option<&'static manual::ManualTime>,
}

impl MonotonicClock {
    /// Starts a clock whose zero is now.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            #[cfg(any(test, feature = "test-support"))]
            manual: None,
        }
    }

    /// Nanoseconds elapsed since the clock's epoch.
    pub fn now_ns(&self) -> u64 {
        #[cfg(any(test, feature = "test-support"))]
        if let Some(m) = self.manual {
            return m.now_ns();
        }
        self.ns_at(Instant::now())
    }

    /// Nanoseconds from the epoch to `instant` (zero for instants before the epoch).
    pub fn ns_at(&self, instant: Instant) -> u64 {
        let d = instant.saturating_duration_since(self.epoch);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Wall-clock time of the epoch, for mapping clock readings to UTC in manifests.
    pub fn epoch_wall(&self) -> SystemTime {
        self.epoch_wall
    }

    /// The `Instant` of the epoch.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Time elapsed since the epoch.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now_ns())
    }

    /// Blocks the calling thread until the clock reaches `deadline_ns`, `stop` is set, or
    /// the thread is unparked; it may return early, so callers check the time again.
    pub(crate) fn wait_until(&self, deadline_ns: u64, stop: &AtomicBool) {
        #[cfg(any(test, feature = "test-support"))]
        if let Some(m) = self.manual {
            return m.wait_until(deadline_ns, stop);
        }
        let now = self.now_ns();
        if now < deadline_ns && !stop.load(Ordering::SeqCst) {
            std::thread::park_timeout(Duration::from_nanos(deadline_ns - now));
        }
    }

    /// Counts a thread that will wait on this clock until `thread_done` (manual clocks
    /// only; a no-op on the real clock).
    pub(crate) fn thread_started(&self) {
        #[cfg(any(test, feature = "test-support"))]
        if let Some(m) = self.manual {
            m.thread_started();
        }
    }

    /// The calling thread, counted by `thread_started`, waits on this clock no more.
    pub(crate) fn thread_done(&self) {
        #[cfg(any(test, feature = "test-support"))]
        if let Some(m) = self.manual {
            m.thread_done();
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(test, feature = "test-support"))]
mod manual {
    use super::MonotonicClock;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Condvar, Mutex, MutexGuard};
    use std::thread::ThreadId;
    use std::time::{Duration, Instant};

    /// How long `settle` waits in real time for busy threads before it gives up.
    const SETTLE_LIMIT: Duration = Duration::from_secs(120);
    /// How often a waiting thread looks at its stop flag (real time).
    const STOP_POLL: Duration = Duration::from_millis(5);

    /// The shared state of a manual clock.
    #[derive(Debug, Default)]
    pub(super) struct ManualTime {
        state: Mutex<State>,
        changed: Condvar,
    }

    #[derive(Debug, Default)]
    struct State {
        now_ns: u64,
        /// Threads counted by `thread_started` and not yet done.
        threads: usize,
        /// The deadline each waiting thread waits for.
        waiting: HashMap<ThreadId, u64>,
    }

    impl State {
        fn settled(&self) -> bool {
            self.waiting.len() == self.threads && self.waiting.values().all(|&d| d > self.now_ns)
        }
    }

    impl ManualTime {
        fn lock(&self) -> MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(|p| p.into_inner())
        }

        pub(super) fn now_ns(&self) -> u64 {
            self.lock().now_ns
        }

        pub(super) fn thread_started(&self) {
            self.lock().threads += 1;
            self.changed.notify_all();
        }

        pub(super) fn thread_done(&self) {
            let mut s = self.lock();
            s.threads = s.threads.saturating_sub(1);
            s.waiting.remove(&std::thread::current().id());
            drop(s);
            self.changed.notify_all();
        }

        pub(super) fn wait_until(&self, deadline_ns: u64, stop: &AtomicBool) {
            let me = std::thread::current().id();
            let mut s = self.lock();
            s.waiting.insert(me, deadline_ns);
            self.changed.notify_all();
            while s.now_ns < deadline_ns && !stop.load(Ordering::SeqCst) {
                s = match self.changed.wait_timeout(s, STOP_POLL) {
                    Ok((guard, _)) => guard,
                    Err(p) => p.into_inner().0,
                };
            }
            s.waiting.remove(&me);
        }
    }

    /// A test's handle on a manual clock: time stands still until `advance`.
    ///
    /// Its state is leaked (a few bytes per clock) so that `MonotonicClock` stays `Copy`.
    #[derive(Clone, Copy, Debug)]
    pub struct ManualClock {
        time: &'static ManualTime,
        clock: MonotonicClock,
    }

    impl ManualClock {
        /// A manual clock at zero.
        pub fn new() -> Self {
            let time: &'static ManualTime = Box::leak(Box::default());
            let mut clock = MonotonicClock::new();
            clock.manual = Some(time);
            Self { time, clock }
        }

        /// The clock to hand to sources and the sampler.
        pub fn clock(&self) -> MonotonicClock {
            self.clock
        }

        /// Moves time forward by `by`.
        pub fn advance(&self, by: Duration) {
            let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            let mut s = self.time.lock();
            s.now_ns = s.now_ns.saturating_add(ns);
            drop(s);
            self.time.changed.notify_all();
        }

        /// Waits (in real time) until every thread on this clock waits for a later time or
        /// has ended: all that was due by now has been done. False if they were still busy
        /// after two minutes.
        #[must_use]
        pub fn settle(&self) -> bool {
            let limit = Instant::now() + SETTLE_LIMIT;
            let mut s = self.time.lock();
            while !s.settled() {
                if Instant::now() >= limit {
                    return false;
                }
                s = match self.time.changed.wait_timeout(s, STOP_POLL) {
                    Ok((guard, _)) => guard,
                    Err(p) => p.into_inner().0,
                };
            }
            true
        }

        /// `advance(by)` then `settle()`.
        #[must_use]
        pub fn step(&self, by: Duration) -> bool {
            self.advance(by);
            self.settle()
        }

        /// Threads still counted on this clock (a sampler thread that ended is not).
        pub fn threads(&self) -> usize {
            self.time.lock().threads
        }
    }

    impl Default for ManualClock {
        fn default() -> Self {
            Self::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_maps_instants() {
        let clock = MonotonicClock::new();
        let a = clock.now_ns();
        let later = Instant::now() + Duration::from_millis(5);
        let b = clock.now_ns();
        assert!(b >= a);
        assert!(clock.ns_at(later) >= 5_000_000);
        assert_eq!(clock.ns_at(clock.epoch() - Duration::from_millis(1)), 0);
    }

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let manual = ManualClock::new();
        let clock = manual.clock();
        assert_eq!(clock.now_ns(), 0);
        manual.advance(Duration::from_millis(3));
        assert_eq!(clock.now_ns(), 3_000_000);
        assert_eq!(clock.elapsed(), Duration::from_millis(3));
        assert!(manual.settle(), "no threads: settled at once");
    }
}
