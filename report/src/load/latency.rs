//! The latency of one repetition's steady state: end-to-end, time to first token and
//! inter-token latency percentiles, and the mean end-to-end latency, of its successful
//! steady-state requests ([`Window::holds`]), so that latency and energy describe the
//! same state of the server.

use super::repetition::{Known, percentiles};
use super::requests::LoadRequest;
use super::window::Window;
use crate::stats::mean;
use records::load::LoadLevel;

/// The latency figures of one repetition.
#[derive(Clone, Debug)]
pub struct Latency {
    /// End-to-end latency p50, p90, p99 (ms).
    pub e2e: [Known; 3],
    /// Time to first token p50, p90, p99 (ms).
    pub ttft: [Known; 3],
    /// Inter-token latency p50, p90, p99 (ms).
    pub itl: [Known; 3],
    /// Mean end-to-end latency (ms).
    pub e2e_mean: Known,
}

/// The latency of the successful steady-state requests of `requests` at `level` in
/// `window`, or the reason (`why_window`) there is no window.
pub fn steady(
    level: LoadLevel,
    requests: &[LoadRequest],
    window: Option<&Window>,
    why_window: &str,
) -> Latency {
    let steady: Vec<&LoadRequest> = match window {
        Some(w) => requests
            .iter()
            .filter(|r| r.ok && w.holds(level, r))
            .collect(),
        None => Vec::new(),
    };
    let none = match window {
        None => why_window.to_string(),
        Some(_) if level.is_open() => {
            "no successful request arrived inside the steady window".to_string()
        }
        Some(_) => "no successful request lies wholly inside the steady window".to_string(),
    };
    let e2e: Vec<f64> = steady.iter().map(|r| r.latency_ms).collect();
    let e2e_mean = if e2e.is_empty() {
        Err(none.clone())
    } else {
        Ok(mean(&e2e))
    };
    let or_none = |why: &str| {
        if steady.is_empty() {
            none.clone()
        } else {
            why.to_string()
        }
    };
    Latency {
        e2e: percentiles(e2e, &none),
        ttft: percentiles(
            steady.iter().filter_map(|r| r.ttft_ms).collect(),
            &or_none("answers not streamed: no time to first token"),
        ),
        itl: percentiles(
            steady.iter().filter_map(|r| r.itl_ms).collect(),
            &or_none("no inter-token latency (answers not streamed, or of one token)"),
        ),
        e2e_mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(start: u64, end: u64) -> LoadRequest {
        LoadRequest {
            t_start_ns: start,
            t_end_ns: end,
            ok: true,
            latency_ms: (end - start) as f64,
            ttft_ms: Some(1.0),
            itl_ms: Some((end - start) as f64 / 10.0),
            ..LoadRequest::default()
        }
    }

    #[test]
    fn only_the_steady_state_requests_count() {
        // Window [10, 100]: a fast ramp request (0..5), a slow one straddling the start
        // (5..40) and one straddling the end (90..200) are left out of a closed loop.
        let w = Window {
            start_ns: 10,
            end_ns: 100,
        };
        let reqs = [
            req(0, 5),
            req(5, 40),
            req(10, 60),
            req(40, 90),
            req(50, 100),
            req(90, 200),
        ];
        let l = steady(LoadLevel::Closed(2), &reqs, Some(&w), "");
        assert_eq!(l.e2e_mean, Ok(50.0));
        assert_eq!(l.e2e[0], Ok(50.0));
        assert_eq!(l.e2e[2], Ok(50.0));
        assert_eq!(l.itl[1], Ok(5.0));
        // An open loop's window bounds arrivals: 10, 40, 50 and 90 arrived inside.
        let l = steady(LoadLevel::Open(1.0), &reqs, Some(&w), "");
        assert_eq!(l.e2e_mean, Ok((3.0 * 50.0 + 110.0) / 4.0));
    }

    #[test]
    fn no_steady_request_or_no_window_says_why() {
        let w = Window {
            start_ns: 10,
            end_ns: 20,
        };
        let l = steady(LoadLevel::Closed(2), &[req(0, 30)], Some(&w), "");
        let e = l.e2e_mean.expect_err("none inside");
        assert!(e.contains("wholly inside"), "{e}");
        assert!(
            l.ttft[0]
                .as_ref()
                .expect_err("none")
                .contains("wholly inside")
        );
        let l = steady(
            LoadLevel::Closed(2),
            &[req(0, 30)],
            None,
            "no steady-state window",
        );
        assert_eq!(l.itl[1], Err("no steady-state window".to_string()));
        let mut unstreamed = req(12, 18);
        unstreamed.ttft_ms = None;
        let l = steady(LoadLevel::Closed(2), &[unstreamed], Some(&w), "");
        assert!(
            l.ttft[0]
                .as_ref()
                .expect_err("none")
                .contains("not streamed")
        );
    }
}
