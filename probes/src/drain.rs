//! Taking the sampler's events in batches on a timer, so their consumer wakes a few times
//! a second instead of once per event.

use crate::SamplerEvent;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

/// How often a consumer of sampler events wakes to take what is queued.
///
/// At 1 kHz with 6 domains a quarter second queues 1,500 events: size the channel above
/// what the sampler sends in this time, or its threads wait for the next wake-up.
pub const DRAIN_PERIOD: Duration = Duration::from_millis(250);

/// The events queued at one wake-up, taken one by one without waiting.
pub struct Batch<'a> {
    events: &'a Receiver<SamplerEvent>,
    ended: &'a mut bool,
}

impl Iterator for Batch<'_> {
    type Item = SamplerEvent;

    fn next(&mut self) -> Option<SamplerEvent> {
        match self.events.try_recv() {
            Ok(event) => Some(event),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                *self.ended = true;
                None
            }
        }
    }
}

/// Wakes every `period` (or when the calling thread is unparked) and hands what is queued
/// on `events` to `batch`; returns once every sender has gone and the queue is empty, or
/// on the first error `batch` returns.
///
/// Whoever drops the last sender should unpark the draining thread, so it ends at once
/// rather than at its next wake-up.
pub fn drain_every<E>(
    events: &Receiver<SamplerEvent>,
    period: Duration,
    mut batch: impl FnMut(Batch<'_>) -> Result<(), E>,
) -> Result<(), E> {
    loop {
        std::thread::park_timeout(period);
        let mut ended = false;
        batch(Batch {
            events,
            ended: &mut ended,
        })?;
        if ended {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sample, SamplerEvent};
    use std::sync::mpsc::sync_channel;

    fn event(t_ns: u64) -> SamplerEvent {
        SamplerEvent::Energy(Sample {
            t_ns,
            source: 0,
            domain: 0,
            energy_j: 1.0,
            power_w: None,
        })
    }

    #[test]
    fn every_event_is_taken_in_order_and_the_drain_ends_when_the_senders_go() {
        let (tx, rx) = sync_channel(16);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let drainer = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let done = drain_every::<()>(&rx, Duration::from_secs(3600), |batch| {
                for e in batch {
                    if let SamplerEvent::Energy(s) = e {
                        seen.push(s.t_ns);
                    }
                }
                Ok(())
            });
            let _ = done_tx.send((done, seen));
        });
        for t in 0..10 {
            tx.send(event(t)).expect("queued");
        }
        drop(tx);
        // An hour-long period: only the unpark can end the drain within the test.
        drainer.thread().unpark();
        let (done, seen) = done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the unpark ends the drain (its period is an hour)");
        assert_eq!(done, Ok(()));
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_error_ends_the_drain() {
        let (tx, rx) = sync_channel(16);
        for t in 0..3 {
            tx.send(event(t)).expect("queued");
        }
        // Gone: without the error the drain would end at Disconnected after all three.
        drop(tx);
        let mut taken = 0;
        let done = drain_every(&rx, Duration::from_millis(1), |batch| {
            for _ in batch {
                taken += 1;
                if taken == 2 {
                    return Err("disk full");
                }
            }
            Ok(())
        });
        assert_eq!(done, Err("disk full"));
        assert_eq!(taken, 2);
    }
}
