//! The steady-state window of one repetition at a load level, and what happened inside it
//! (completions, tokens generated). See `docs/load.md` for the definition and how it
//! relates to ML.ENERGY's.

use super::requests::LoadRequest;
use records::load::LoadLevel;

/// A steady-state window on the run's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Start (ns).
    pub start_ns: u64,
    /// End (ns).
    pub end_ns: u64,
}

impl Window {
    /// Its length (s).
    pub fn duration_s(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 * 1e-9
    }

    /// How much of `[a, b]` lies inside it (ns).
    pub fn overlap_ns(&self, a: u64, b: u64) -> u64 {
        b.min(self.end_ns).saturating_sub(a.max(self.start_ns))
    }

    /// The share of `[a, b]` inside it; an instant (`a == b`) counts whole when it falls
    /// after its start, up to its end.
    pub fn share(&self, a: u64, b: u64) -> f64 {
        if b > a {
            self.overlap_ns(a, b) as f64 / (b - a) as f64
        } else if b > self.start_ns && b <= self.end_ns {
            1.0
        } else {
            0.0
        }
    }

    /// Successful requests that ended inside it (after its start, up to its end).
    pub fn completions(&self, requests: &[LoadRequest]) -> usize {
        requests
            .iter()
            .filter(|r| r.ok && r.t_end_ns > self.start_ns && r.t_end_ns <= self.end_ns)
            .count()
    }

    /// Request-equivalents served in it: each successful request counted by the share of
    /// its interval (start to end) that lies inside, so work begun before the window or
    /// finished after it counts for the part done inside.
    pub fn served(&self, requests: &[LoadRequest]) -> f64 {
        requests
            .iter()
            .filter(|r| r.ok)
            .map(|r| self.share(r.t_start_ns, r.t_end_ns))
            .sum()
    }

    /// Whether `r` is one of the steady-state requests of a repetition at `level`: in a
    /// closed loop, wholly inside the window (sent at or after its start, ended by its
    /// end, so all N clients were in flight throughout); in an open loop, whose window
    /// bounds arrivals, sent inside it.
    pub fn holds(&self, level: LoadLevel, r: &LoadRequest) -> bool {
        r.t_start_ns >= self.start_ns
            && if level.is_open() {
                r.t_start_ns <= self.end_ns
            } else {
                r.t_end_ns <= self.end_ns
            }
    }

    /// Output tokens generated inside it: each successful request's completion tokens
    /// spread uniformly over its decode interval (first token, or start, to end) and
    /// counted by that interval's overlap with the window; `Err` with the reason when a
    /// request that overlaps it has no token count, or none overlaps it.
    pub fn tokens(&self, requests: &[LoadRequest]) -> Result<f64, String> {
        let mut tokens = 0.0;
        let mut uncounted = 0usize;
        let mut any = false;
        for r in requests.iter().filter(|r| r.ok) {
            let inside = self.share(r.decode_start_ns(), r.t_end_ns);
            if inside <= 0.0 {
                continue;
            }
            match r.completion_tokens {
                Some(t) => {
                    any = true;
                    tokens += t as f64 * inside;
                }
                None => uncounted += 1,
            }
        }
        let counted = requests
            .iter()
            .any(|r| r.ok && r.completion_tokens.is_some());
        match (counted, any, uncounted) {
            (false, _, _) => Err(
                "no completion tokens: not a generator, or the server reported no counts"
                    .to_string(),
            ),
            (true, _, n) if n > 0 => Err(format!(
                "{n} requests in the steady window have no completion-token count"
            )),
            (true, false, _) => Err(
                "no successful request was generating tokens inside the steady window".to_string(),
            ),
            (true, true, _) => Ok(tokens),
        }
    }
}

/// The steady-state window of one repetition (`requests` in start order, every status):
///
/// - closed loop `cN`: from the N-th start (all N clients in flight) to the first end after
///   the last start (the drain: from then on an answer is not followed by a new request);
/// - open loop `pR`: from the arrival at position ⌈K × `ramp_share`⌉ (0-based) of the K
///   arrivals to the last arrival (the drain after it excluded).
///
/// `Err` says why there is none.
pub fn steady(
    level: LoadLevel,
    requests: &[LoadRequest],
    ramp_share: f64,
) -> Result<Window, String> {
    let k = requests.len();
    let window = match level {
        LoadLevel::Closed(n) => {
            let n = n as usize;
            if k < n + 1 {
                return Err(format!(
                    "{k} measured requests: {n} closed-loop clients need at least {} to reach a steady state",
                    n + 1
                ));
            }
            let last_start = requests[k - 1].t_start_ns;
            let drain = requests
                .iter()
                .map(|r| r.t_end_ns)
                .filter(|&t| t > last_start)
                .min()
                .ok_or_else(|| {
                    "no request ended after the last one was sent: no drain to bound the window"
                        .to_string()
                })?;
            Window {
                start_ns: requests[n - 1].t_start_ns,
                end_ns: drain,
            }
        }
        LoadLevel::Open(_) => {
            if !(ramp_share.is_finite() && (0.0..1.0).contains(&ramp_share)) {
                return Err(format!(
                    "open-loop ramp share {ramp_share} is not in [0, 1) (run.json `load`)"
                ));
            }
            let first = (k as f64 * ramp_share).ceil() as usize;
            if k < 2 || first + 1 >= k {
                return Err(format!(
                    "{k} arrivals: after the ramp-up ({first} arrivals) none is left to bound a window"
                ));
            }
            Window {
                start_ns: requests[first].t_start_ns,
                end_ns: requests[k - 1].t_start_ns,
            }
        }
    };
    if window.end_ns <= window.start_ns {
        return Err(match level {
            LoadLevel::Closed(n) => format!(
                "empty: the drain began before all {n} clients were in flight (the server never held {n} requests at once)"
            ),
            LoadLevel::Open(_) => {
                "empty: the arrivals after the ramp-up all came at once".to_string()
            }
        });
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(start: u64, end: u64) -> LoadRequest {
        LoadRequest {
            t_start_ns: start,
            t_end_ns: end,
            ok: true,
            ..LoadRequest::default()
        }
    }

    #[test]
    fn a_closed_loop_window_runs_from_the_nth_start_to_the_first_end_after_the_last_start() {
        // Two clients: A sends at 0, 10, 20 (each takes 10); B at 3, 13 (each takes 10,
        // then stops). Last start 20; ends after it: 23 (B), 30 (A) → drain at 23.
        let mut reqs = vec![
            req(0, 10),
            req(10, 20),
            req(20, 30),
            req(3, 13),
            req(13, 23),
        ];
        reqs.sort_by_key(|r| r.t_start_ns);
        let w = steady(LoadLevel::Closed(2), &reqs, 0.0).expect("window");
        assert_eq!(
            w,
            Window {
                start_ns: 3,
                end_ns: 23
            }
        );
        // Ends in (3, 23]: 10, 13, 20, 23.
        assert_eq!(w.completions(&reqs), 4);
        // An end at the same instant as the last start released it: not the drain.
        let reqs = vec![req(0, 10), req(2, 12), req(10, 20), req(12, 22)];
        let w = steady(LoadLevel::Closed(2), &reqs, 0.0).expect("window");
        assert_eq!(
            w,
            Window {
                start_ns: 2,
                end_ns: 20
            }
        );
    }

    #[test]
    fn too_few_requests_or_an_empty_window_say_why() {
        let reqs = vec![req(0, 10), req(1, 11)];
        let e = steady(LoadLevel::Closed(2), &reqs, 0.0).expect_err("too few");
        assert!(e.contains("need at least 3"), "{e}");
        // The last request took no time and nothing else ended after it was sent.
        let reqs = vec![req(0, 5), req(1, 6), req(10, 10)];
        let e = steady(LoadLevel::Closed(2), &reqs, 0.0).expect_err("no drain");
        assert!(e.contains("no request ended after"), "{e}");
    }

    #[test]
    fn an_open_loop_window_skips_the_ramp_and_the_drain() {
        // Ten arrivals 0, 10, …, 90; share 0.25 → position ⌈2.5⌉ = 3 (t = 30) to 90.
        let reqs: Vec<_> = (0..10).map(|i| req(i * 10, i * 10 + 35)).collect();
        let w = steady(LoadLevel::Open(100.0), &reqs, 0.25).expect("window");
        assert_eq!(
            w,
            Window {
                start_ns: 30,
                end_ns: 90
            }
        );
        assert!(steady(LoadLevel::Open(1.0), &reqs, 0.95).is_err());
        assert!(steady(LoadLevel::Open(1.0), &reqs, f64::NAN).is_err());
    }

    #[test]
    fn tokens_are_spread_over_the_decode_interval() {
        let w = Window {
            start_ns: 100,
            end_ns: 200,
        };
        let mut a = req(50, 150); // TTFT 10 ns → decode 60..150, 90 ns; 50 ns inside
        a.ttft_ms = Some(10.0 * 1e-6);
        a.completion_tokens = Some(9);
        let mut b = req(150, 250); // not streamed: 150..250, half inside
        b.completion_tokens = Some(10);
        let t = w.tokens(&[a.clone(), b.clone()]).expect("tokens");
        assert!((t - (9.0 * 50.0 / 90.0 + 5.0)).abs() < 1e-9, "{t}");
        b.completion_tokens = None;
        let e = w.tokens(&[a, b]).expect_err("uncounted");
        assert!(e.contains("1 requests"), "{e}");
        let e = w.tokens(&[req(0, 300)]).expect_err("no counts");
        assert!(e.contains("not a generator"), "{e}");
    }

    #[test]
    fn counted_tokens_outside_the_window_are_not_called_a_missing_generator() {
        let w = Window {
            start_ns: 100,
            end_ns: 200,
        };
        let mut before = req(0, 90);
        before.completion_tokens = Some(5);
        let e = w.tokens(&[before.clone()]).expect_err("none inside");
        assert!(
            e.contains("no successful request was generating tokens"),
            "{e}"
        );
        // An uncounted request inside says so, whatever the others outside it counted.
        let inside = req(120, 180);
        let e = w.tokens(&[before, inside]).expect_err("uncounted");
        assert!(e.contains("1 requests in the steady window"), "{e}");
    }

    #[test]
    fn requests_served_count_the_share_of_each_request_inside() {
        let w = Window {
            start_ns: 100,
            end_ns: 200,
        };
        // Half of a, all of b, a quarter of c, none of d; e took no time and ended inside;
        // f failed.
        let mut f = req(120, 150);
        f.ok = false;
        let reqs = [
            req(50, 150),
            req(110, 190),
            req(175, 275),
            req(200, 300),
            req(160, 160),
            f,
        ];
        assert_eq!(w.served(&reqs), 0.5 + 1.0 + 0.25 + 1.0);
        assert_eq!(w.completions(&reqs), 3);
    }

    #[test]
    fn steady_state_requests_are_wholly_inside_a_closed_loop_and_arrived_inside_an_open_one() {
        let w = Window {
            start_ns: 100,
            end_ns: 200,
        };
        let (closed, open) = (LoadLevel::Closed(4), LoadLevel::Open(1.0));
        assert!(w.holds(closed, &req(100, 200)) && w.holds(open, &req(100, 200)));
        assert!(!w.holds(closed, &req(99, 150)) && !w.holds(open, &req(99, 150)));
        assert!(!w.holds(closed, &req(150, 201)) && w.holds(open, &req(150, 201)));
        assert!(w.holds(open, &req(200, 900)) && !w.holds(open, &req(201, 900)));
    }
}
