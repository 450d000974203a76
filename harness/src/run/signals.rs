//! Ctrl-C and SIGTERM ask the run to stop after the current request; every wait wakes on them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a wait looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Sets `stop` on Ctrl-C or SIGTERM, so the current request finishes and records are kept.
/// The flag is set in the signal handler itself, as the signal arrives: the request loop
/// sees it before it sends another request, however the runtime orders its tasks. The
/// handlers are installed before this returns: a signal that comes while the first server
/// starts is not lost to the default action.
pub fn watch_signals(stop: Arc<AtomicBool>) {
    let watched = [
        (signal_hook::consts::SIGINT, "Ctrl-C"),
        (signal_hook::consts::SIGTERM, "SIGTERM"),
    ];
    for (signal, name) in watched {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            tracing::warn!("cannot watch {name}: {e}");
        }
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

    /// The flag is set by the time the signal has been handled, with no runtime turn between
    /// (a task setting it let the request loop send two more requests first, when the
    /// host was busy). The handlers stay for the rest of this test process.
    #[test]
    fn the_stop_flag_is_set_as_the_signal_arrives() {
        let stop = Arc::new(AtomicBool::new(false));
        watch_signals(Arc::clone(&stop));
        // SAFETY: raise(3) on this thread; the handler just installed only sets a flag.
        assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
        assert!(stop.load(Ordering::SeqCst));
    }

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
