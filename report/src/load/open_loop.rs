//! An open-loop repetition's offered and achieved rates and the client's lag.

use super::repetition::{Known, percentiles};
use super::requests::LoadRequest;
use records::load::LoadLevel;

/// The mean rate of `times` (ns) between the first and the last: K events span K − 1
/// gaps, so the rate is (K − 1) / (last − first); `Err` with the reason below two events
/// or when they all fell at one instant.
fn rate(times: &[u64], what: &str) -> Known {
    let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
        return Err(format!("no {what}"));
    };
    if times.len() < 2 {
        return Err(format!("one {what}: no gap between two to give a rate"));
    }
    if last <= first {
        return Err(format!("every {what} fell at the same instant"));
    }
    Ok((times.len() - 1) as f64 / ((last - first) as f64 * 1e-9))
}

/// Offered rate (scheduled arrivals), achieved rate (successful answers) and the client's
/// lag p50 and p99 (ms) of an open-loop repetition; each `Err` with the reason for a
/// closed loop or missing data.
pub fn rates(level: LoadLevel, requests: &[LoadRequest]) -> (Known, Known, [Known; 2]) {
    let closed = || Err("closed loop: no arrival schedule".to_string());
    if !level.is_open() {
        return (closed(), closed(), [closed(), closed()]);
    }
    let ends: Vec<u64> = requests
        .iter()
        .filter(|r| r.ok)
        .map(|r| r.t_end_ns)
        .collect();
    let achieved = rate(&ends, "successful answer");
    let scheduled: Option<Vec<u64>> = requests.iter().map(|r| r.t_scheduled_ns).collect();
    let Some(scheduled) = scheduled.filter(|s| !s.is_empty()) else {
        let why = "no scheduled arrival times (requests.csv without t_scheduled_ns)";
        return (
            Err(why.to_string()),
            achieved,
            [Err(why.to_string()), Err(why.to_string())],
        );
    };
    let offered = rate(&scheduled, "scheduled arrival");
    let lags: Vec<f64> = requests
        .iter()
        .zip(&scheduled)
        .map(|(r, &s)| (i128::from(r.t_start_ns) - i128::from(s)) as f64 * 1e-6)
        .collect();
    let [p50, _, p99] = percentiles(lags, "no arrival");
    (offered, achieved, [p50, p99])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(due_s: u64, end_s: u64, ok: bool) -> LoadRequest {
        LoadRequest {
            t_scheduled_ns: Some(due_s * 1_000_000_000),
            t_start_ns: due_s * 1_000_000_000,
            t_end_ns: end_s * 1_000_000_000,
            ok,
            ..LoadRequest::default()
        }
    }

    #[test]
    fn rates_count_the_gaps_between_events_not_the_events() {
        // Arrivals at 0, 1, 2 s: one a second. Answers at 5, 7, 9 s: one every 2 s.
        let reqs = [
            arrival(0, 5, true),
            arrival(1, 7, true),
            arrival(2, 9, true),
        ];
        let (offered, achieved, _) = rates(LoadLevel::Open(1.0), &reqs);
        assert_eq!(offered, Ok(1.0));
        assert_eq!(achieved, Ok(0.5));
        // A failed answer is not achieved: two successes 4 s apart.
        let reqs = [
            arrival(0, 5, true),
            arrival(1, 7, false),
            arrival(2, 9, true),
        ];
        assert_eq!(rates(LoadLevel::Open(1.0), &reqs).1, Ok(0.25));
    }

    #[test]
    fn too_few_events_or_a_closed_loop_say_why() {
        let (offered, achieved, _) = rates(LoadLevel::Open(1.0), &[arrival(0, 1, true)]);
        assert!(offered.expect_err("one").contains("one scheduled arrival"));
        assert!(achieved.expect_err("one").contains("one successful answer"));
        let same = [arrival(3, 4, true), arrival(3, 4, true)];
        let (offered, achieved, _) = rates(LoadLevel::Open(1.0), &same);
        assert!(offered.expect_err("instant").contains("same instant"));
        assert!(achieved.expect_err("instant").contains("same instant"));
        let (offered, _, lag) = rates(LoadLevel::Closed(2), &same);
        assert!(offered.expect_err("closed").contains("closed loop"));
        assert!(lag[0].is_err());
    }
}
