//! Prefill and decode energy per request, apportioned: the counted machine energy of each
//! span between request events shared equally among the requests in flight over it. An
//! attribution under equal sharing, not a measurement (labelled `apportioned` everywhere).

use super::requests::LoadRequest;

/// The instants at which the number of requests in flight, or a request's phase, changes:
/// every start, first token and end, sorted and unique. Consecutive instants bound the
/// segments whose energy [`apportion`] shares.
pub fn boundaries(requests: &[LoadRequest]) -> Vec<u64> {
    let mut out: Vec<u64> = requests
        .iter()
        .flat_map(|r| [Some(r.t_start_ns), r.t_first_token_ns(), Some(r.t_end_ns)])
        .flatten()
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// One request's apportioned energy (J).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shares {
    /// From its start to its first token.
    pub prefill_j: f64,
    /// From its first token to its end.
    pub decode_j: f64,
}

/// Each request's share of the segment energies (`segment_j[i]` over `bounds[i]` to
/// `bounds[i + 1]`, from [`boundaries`] of the same requests): the integral of P(t)/n(t)
/// over its prefill and its decode, n(t) the requests in flight. `Err` says why a request
/// has none: its answer was not streamed, or a segment it spans has no known energy.
pub fn apportion(
    requests: &[LoadRequest],
    bounds: &[u64],
    segment_j: &[Option<f64>],
) -> Vec<Result<Shares, String>> {
    let segments = bounds.len().saturating_sub(1);
    let at = |t: u64| bounds.partition_point(|&b| b < t);
    // Requests in flight over each segment: +1 from a start's segment, −1 from an end's.
    let mut delta = vec![0i64; segments + 1];
    for r in requests {
        delta[at(r.t_start_ns).min(segments)] += 1;
        delta[at(r.t_end_ns).min(segments)] -= 1;
    }
    // Prefix sums of each segment's share per request, and of segments of unknown energy.
    let mut share = vec![0.0f64; segments + 1];
    let mut unknown = vec![0usize; segments + 1];
    let mut in_flight = 0i64;
    for i in 0..segments {
        in_flight += delta[i];
        let (s, u) = match segment_j.get(i).copied().flatten() {
            Some(e) if in_flight > 0 => (e / in_flight as f64, 0),
            Some(_) => (0.0, 0),
            None => (0.0, usize::from(in_flight > 0)),
        };
        share[i + 1] = share[i] + s;
        unknown[i + 1] = unknown[i] + u;
    }
    let sum = |a: u64, b: u64| -> Option<f64> {
        let (i, j) = (at(a).min(segments), at(b).min(segments));
        (unknown[j] == unknown[i]).then(|| share[j] - share[i])
    };
    requests
        .iter()
        .map(|r| {
            let first = r.t_first_token_ns().ok_or_else(|| {
                "answers not streamed: no first-token time to split prefill from decode"
                    .to_string()
            })?;
            match (sum(r.t_start_ns, first), sum(first, r.t_end_ns)) {
                (Some(prefill_j), Some(decode_j)) => Ok(Shares {
                    prefill_j,
                    decode_j,
                }),
                _ => Err("no known energy over part of the request (no samples around it, or a counter gap)".to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(start: u64, first: u64, end: u64) -> LoadRequest {
        LoadRequest {
            t_start_ns: start,
            t_end_ns: end,
            ttft_ms: Some((first - start) as f64 * 1e-6),
            ok: true,
            ..LoadRequest::default()
        }
    }

    /// Constant power `w` (J per ns here) over every segment.
    fn constant(bounds: &[u64], w: f64) -> Vec<Option<f64>> {
        bounds
            .windows(2)
            .map(|p| Some((p[1] - p[0]) as f64 * w))
            .collect()
    }

    #[test]
    fn two_overlapping_requests_each_get_half_of_the_overlap() {
        // A: 0..100, first token at 20. B: 50..150, first token at 60. Power 1 J/ns.
        let reqs = vec![streamed(0, 20, 100), streamed(50, 60, 150)];
        let bounds = boundaries(&reqs);
        assert_eq!(bounds, vec![0, 20, 50, 60, 100, 150]);
        let shares = apportion(&reqs, &bounds, &constant(&bounds, 1.0));
        let a = shares[0].as_ref().expect("a");
        let b = shares[1].as_ref().expect("b");
        // A alone over 0..50, shared over 50..100.
        assert!((a.prefill_j - 20.0).abs() < 1e-9);
        assert!((a.decode_j - (30.0 + 25.0)).abs() < 1e-9);
        // B: prefill 50..60 shared (5), decode 60..100 shared (20) + 100..150 alone (50).
        assert!((b.prefill_j - 5.0).abs() < 1e-9);
        assert!((b.decode_j - 70.0).abs() < 1e-9);
        // Everything is attributed exactly once.
        assert!((a.prefill_j + a.decode_j + b.prefill_j + b.decode_j - 150.0).abs() < 1e-9);
    }

    #[test]
    fn alone_it_is_the_integral_over_the_request() {
        let reqs = vec![streamed(0, 30, 100)];
        let bounds = boundaries(&reqs);
        let s = apportion(&reqs, &bounds, &constant(&bounds, 2.0));
        let s = s[0].as_ref().expect("shares");
        assert_eq!((s.prefill_j, s.decode_j), (60.0, 140.0));
    }

    #[test]
    fn unknown_energy_or_no_stream_says_why() {
        let mut plain = streamed(0, 10, 100);
        plain.ttft_ms = None;
        let reqs = vec![streamed(0, 10, 50), streamed(60, 70, 100), plain];
        let bounds = boundaries(&reqs);
        let mut energy = constant(&bounds, 1.0);
        // The segment 60..70 (B's prefill) is unknown.
        let i = bounds.iter().position(|&b| b == 60).expect("60");
        energy[i] = None;
        let shares = apportion(&reqs, &bounds, &energy);
        assert!(shares[0].is_ok());
        assert!(
            shares[1]
                .as_ref()
                .expect_err("gap")
                .contains("no known energy")
        );
        assert!(
            shares[2]
                .as_ref()
                .expect_err("plain")
                .contains("not streamed")
        );
    }
}
