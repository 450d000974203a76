//! Ctrl-C and SIGTERM ask the run to stop after the current request; every wait wakes on them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// How often a wait looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Sets `stop` on Ctrl-C or SIGTERM, so the current request finishes and records are kept.
/// The handlers are installed before this returns: a signal that comes while the first
/// server starts is not lost to the default action.
pub fn watch_signals(stop: Arc<AtomicBool>) {
    let watched = |kind: SignalKind, name: &str| match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot watch {name}: {e}");
            None
        }
    };
    let mut interrupt = watched(SignalKind::interrupt(), "Ctrl-C");
    let mut term = watched(SignalKind::terminate(), "SIGTERM");
    tokio::spawn(async move {
        tokio::select! {
            Some(()) = next(&mut interrupt) => {},
            Some(()) = next(&mut term) => {},
            else => return,
        }
        stop.store(true, Ordering::SeqCst);
    });
}

/// The next delivery of a watched signal; never, when it could not be watched.
async fn next(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Returns once `stop` is set (checked every 50 ms).
pub async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(POLL).await;
    }
}

/// Sleeps up to `seconds`, waking early when `stop` is set.
pub async fn pause(seconds: f64, stop: &AtomicBool) {
    let _ = tokio::time::timeout(Duration::from_secs_f64(seconds), stopped(stop)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_ends_soon_after_stop_is_set() {
        let stop = Arc::new(AtomicBool::new(false));
        let setter = Arc::clone(&stop);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            setter.store(true, Ordering::SeqCst);
        });
        let started = std::time::Instant::now();
        pause(30.0, &stop).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(stop.load(Ordering::SeqCst));
    }
}
