//! Energy of each request: the sampled energy of every counted domain integrated over the
//! request's interval, one sample at a time (the samples are never held in memory).
//!
//! Between two samples of a domain the energy grows linearly (constant mean power over the
//! interval, which is what a sample's `power_w` states), so the energy at any instant is an
//! interpolation of the cumulative counter. A request's energy is the sum over domains of
//! the energy at its end minus the energy at its start.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The energy found for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Integrated<T> {
    /// What the caller attached to the request.
    pub payload: T,
    /// Start (ns).
    pub t_start_ns: u64,
    /// End (ns).
    pub t_end_ns: u64,
    /// Energy over the interval summed over domains (J); `None` when a domain had no
    /// sample before the start or after the end.
    pub energy_j: Option<f64>,
}

struct Pending<T> {
    payload: T,
    t_start_ns: u64,
    t_end_ns: u64,
    start: Vec<(f64, u64)>,
    end: Vec<(f64, u64)>,
    remaining: usize,
}

#[derive(Default)]
struct DomainState {
    /// Time, accumulated energy and raw counter of the last sample.
    last: Option<(u64, f64, f64)>,
    /// Gaps of unknown energy so far (a counter that went back with no stated power): an
    /// interval that spans one has no known energy.
    gaps: u64,
    /// Queries waiting for a later sample: (time, slot, is end).
    queue: BinaryHeap<Reverse<(u64, u64, bool)>>,
}

/// Integrates sampled energy over request intervals in one pass over time-ordered samples.
pub struct Integrator<T> {
    domains: Vec<DomainState>,
    pending: HashMap<u64, Pending<T>>,
    next_slot: u64,
    done: Vec<Integrated<T>>,
}

impl<T> Integrator<T> {
    /// An integrator over `domains` counted domains (indices 0..domains).
    pub fn new(domains: usize) -> Self {
        Self {
            domains: (0..domains).map(|_| DomainState::default()).collect(),
            pending: HashMap::new(),
            next_slot: 0,
            done: Vec::new(),
        }
    }

    /// Registers a request; call before feeding any sample later than its start.
    pub fn open(&mut self, payload: T, t_start_ns: u64, t_end_ns: u64) {
        let n = self.domains.len();
        let slot = self.next_slot;
        self.next_slot += 1;
        let t_end_ns = t_end_ns.max(t_start_ns);
        if n == 0 {
            self.done.push(Integrated {
                payload,
                t_start_ns,
                t_end_ns,
                energy_j: None,
            });
            return;
        }
        for d in &mut self.domains {
            d.queue.push(Reverse((t_start_ns, slot, false)));
            d.queue.push(Reverse((t_end_ns, slot, true)));
        }
        self.pending.insert(
            slot,
            Pending {
                payload,
                t_start_ns,
                t_end_ns,
                start: vec![(f64::NAN, 0); n],
                end: vec![(f64::NAN, 0); n],
                remaining: 2 * n,
            },
        );
    }

    /// Feeds one sample of domain `domain`: cumulative `energy_j` at `t_ns`, with the mean
    /// power since the previous sample when known (used only where the counter went back).
    ///
    /// Where the counter went back and no finite, non-negative power was stated, the energy
    /// since the previous sample is unknown: every request whose interval overlaps that gap
    /// gets no energy (`None`), never 0 J.
    pub fn sample(&mut self, domain: usize, t_ns: u64, energy_j: f64, power_w: Option<f64>) {
        let Some(state) = self.domains.get_mut(domain) else {
            return;
        };
        let mut unknown = false;
        let (t0, acc0, delta) = match state.last {
            None => (t_ns, 0.0, 0.0),
            Some((t0, acc0, raw0)) => {
                let mut delta = energy_j - raw0;
                if !(delta.is_finite() && delta >= 0.0) {
                    // The counter was reopened or went back: fall back on the stated power.
                    let dt = t_ns.saturating_sub(t0) as f64 * 1e-9;
                    match power_w.filter(|p| p.is_finite() && *p >= 0.0) {
                        Some(p) => delta = p * dt,
                        None => {
                            delta = 0.0;
                            unknown = true;
                        }
                    }
                }
                (t0, acc0, delta)
            }
        };
        if unknown {
            state.gaps += 1;
        }
        let gaps = state.gaps;
        let first = state.last.is_none();
        while let Some(Reverse((q, slot, is_end))) = state.queue.peek().copied() {
            if q > t_ns {
                break;
            }
            state.queue.pop();
            let value = if first {
                if q == t_ns { 0.0 } else { f64::NAN }
            } else if unknown && q < t_ns {
                // Inside the gap: the energy at this instant is not known.
                f64::NAN
            } else if t_ns == t0 {
                acc0 + delta
            } else {
                let frac = (q.saturating_sub(t0) as f64 / (t_ns - t0) as f64).clamp(0.0, 1.0);
                acc0 + delta * frac
            };
            resolve(
                &mut self.pending,
                &mut self.done,
                slot,
                domain,
                is_end,
                (value, gaps),
            );
        }
        state.last = Some((t_ns, acc0 + delta, energy_j));
    }

    /// Takes the requests whose energy is known so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Integrated<T>> {
        self.done.drain(..)
    }

    /// Ends the pass: requests still waiting get no energy; returns them with the others.
    pub fn finish(mut self) -> Vec<Integrated<T>> {
        let mut rest: Vec<(u64, Pending<T>)> = self.pending.drain().collect();
        rest.sort_by_key(|(slot, _)| *slot);
        for (_, p) in rest {
            self.done.push(Integrated {
                payload: p.payload,
                t_start_ns: p.t_start_ns,
                t_end_ns: p.t_end_ns,
                energy_j: None,
            });
        }
        self.done
    }
}

fn resolve<T>(
    pending: &mut HashMap<u64, Pending<T>>,
    done: &mut Vec<Integrated<T>>,
    slot: u64,
    domain: usize,
    is_end: bool,
    value: (f64, u64),
) {
    let Some(p) = pending.get_mut(&slot) else {
        return;
    };
    if is_end {
        p.end[domain] = value;
    } else {
        p.start[domain] = value;
    }
    p.remaining -= 1;
    if p.remaining > 0 {
        return;
    }
    if let Some(p) = pending.remove(&slot) {
        // An interval across a gap of unknown energy has no known energy.
        let energy: f64 = p
            .end
            .iter()
            .zip(&p.start)
            .map(|(e, s)| if e.1 == s.1 { e.0 - s.0 } else { f64::NAN })
            .sum();
        done.push(Integrated {
            payload: p.payload,
            t_start_ns: p.t_start_ns,
            t_end_ns: p.t_end_ns,
            energy_j: energy.is_finite().then_some(energy),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn integrates_constant_power_over_partial_intervals() {
        // Domain 0 at 100 W, domain 1 at 20 W, sampled each second from t = 0.
        let mut it = Integrator::new(2);
        it.open("a", S / 2, 2 * S + S / 4); // 1.75 s → 175 J + 35 J
        it.open("b", 3 * S, 3 * S); // empty interval → 0 J
        for k in 0..=4u64 {
            it.sample(0, k * S, 100.0 * k as f64, Some(100.0));
            it.sample(1, k * S, 1000.0 + 20.0 * k as f64, Some(20.0));
        }
        it.open("late", 10 * S, 11 * S);
        let out = it.finish();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].payload, "a");
        assert!((out[0].energy_j.expect("known") - 210.0).abs() < 1e-9);
        assert_eq!(out[1].energy_j, Some(0.0));
        assert_eq!(out[2].energy_j, None);
    }

    #[test]
    fn a_counter_that_goes_back_falls_back_on_power() {
        let mut it = Integrator::new(1);
        it.open((), 0, 2 * S);
        it.sample(0, 0, 50.0, Some(10.0));
        it.sample(0, S, 60.0, Some(10.0));
        it.sample(0, 2 * S, 0.5, Some(10.0)); // reopened: 10 W × 1 s
        let out = it.finish();
        assert_eq!(out[0].energy_j, Some(20.0));
    }

    #[test]
    fn a_counter_that_goes_back_with_no_power_leaves_the_energy_unknown() {
        let mut it = Integrator::new(1);
        it.open("across", 0, 2 * S); // spans the gap
        it.open("inside", S + S / 4, S + S / 2); // inside the gap
        it.open("after", 2 * S, 3 * S); // after it: known again
        it.open("before", 0, S); // before it: known
        it.sample(0, 0, 50.0, None);
        it.sample(0, S, 60.0, None);
        it.sample(0, 2 * S, 0.5, None); // reopened, no power stated: 1 s unknown
        it.sample(0, 3 * S, 10.5, None);
        let out = it.finish();
        let get = |name: &str| {
            out.iter()
                .find(|r| r.payload == name)
                .map(|r| r.energy_j)
                .expect("request")
        };
        assert_eq!(get("across"), None);
        assert_eq!(get("inside"), None);
        assert_eq!(get("before"), Some(10.0));
        assert_eq!(get("after"), Some(10.0));
        // A NaN power is no power either.
        let mut it = Integrator::new(1);
        it.open((), 0, 2 * S);
        it.sample(0, 0, 50.0, Some(f64::NAN));
        it.sample(0, S, 60.0, Some(f64::NAN));
        it.sample(0, 2 * S, 0.5, Some(f64::NAN));
        assert_eq!(it.finish()[0].energy_j, None);
    }

    #[test]
    fn a_request_before_the_first_sample_is_unknown() {
        let mut it = Integrator::new(1);
        it.open((), 0, S);
        it.sample(0, S / 2, 0.0, None);
        it.sample(0, 2 * S, 10.0, None);
        assert_eq!(it.finish()[0].energy_j, None);
    }
}
