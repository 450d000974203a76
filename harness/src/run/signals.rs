//! Ctrl-C and SIGTERM ask the run to stop after the current request; pauses wake on them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Sets `stop` on Ctrl-C or SIGTERM, so the current request finishes and records are kept.
pub fn watch_signals(stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("cannot watch SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        stop.store(true, Ordering::SeqCst);
    });
}

/// Sleeps up to `seconds`, waking early when `stop` is set.
pub async fn pause(seconds: f64, stop: &AtomicBool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
    while !stop.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
        let left = deadline - tokio::time::Instant::now();
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
}
