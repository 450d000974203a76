//! The one monotonic clock that probes and the request loop both timestamp with.

use std::time::{Duration, Instant, SystemTime};

/// A monotonic clock counting nanoseconds from an epoch fixed at creation.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    epoch: Instant,
    epoch_wall: SystemTime,
}

impl MonotonicClock {
    /// Starts a clock whose zero is now.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
        }
    }

    /// Nanoseconds elapsed since the clock's epoch.
    pub fn now_ns(&self) -> u64 {
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
        self.epoch.elapsed()
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
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
}
