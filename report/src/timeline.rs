//! Power over time within repetitions, reduced to a fixed number of points while the
//! samples stream past, with the start of each request as a mark.

use crate::configs::{Configuration, DomainKey};
use std::collections::HashMap;

/// Most request marks kept per repetition.
pub const MAX_MARKS: usize = 5000;

/// The power of every domain over one repetition's window.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Configuration index.
    pub config: usize,
    /// Repetition number.
    pub repetition: u32,
    /// Window start (ns).
    pub t_start_ns: u64,
    /// Window end (ns).
    pub t_end_ns: u64,
    /// Per domain (index into [`Timelines::domains`]), per bucket: sum of power and count.
    pub buckets: Vec<Vec<(f64, u32)>>,
    /// Request starts, seconds from the window start.
    pub marks_s: Vec<f32>,
}

impl Timeline {
    /// Seconds from the window start to the middle of bucket `i` of `n`.
    pub fn bucket_time_s(&self, i: usize, n: usize) -> f64 {
        let span = (self.t_end_ns - self.t_start_ns) as f64 * 1e-9;
        span * (i as f64 + 0.5) / n as f64
    }

    /// Mean power per bucket of domain `d` (W), `None` where no sample fell.
    pub fn power_w(&self, d: usize) -> Vec<Option<f64>> {
        self.buckets
            .get(d)
            .map(|b| {
                b.iter()
                    .map(|(s, n)| (*n > 0).then(|| s / f64::from(*n)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The timelines of the repetitions chosen for plotting, filled in one pass.
#[derive(Debug, Default)]
pub struct Timelines {
    /// Chosen windows, in start order.
    pub windows: Vec<Timeline>,
    /// Domains seen in `samples.csv`, by index.
    pub domains: Vec<DomainKey>,
    points: usize,
    cursor: usize,
    last: Vec<Option<(u64, f64)>>,
    by_key: HashMap<(usize, u32), usize>,
}

impl Timelines {
    /// Chooses the usable repetitions of the first `configs` configurations.
    pub fn plan(all: &[Configuration], configs: usize, points: usize) -> Self {
        let mut windows: Vec<Timeline> = all
            .iter()
            .enumerate()
            .take(configs)
            .flat_map(|(i, c)| {
                c.usable().map(move |r| Timeline {
                    config: i,
                    repetition: r.number,
                    t_start_ns: r.t_start_ns,
                    t_end_ns: r.t_end_ns.max(r.t_start_ns + 1),
                    buckets: Vec::new(),
                    marks_s: Vec::new(),
                })
            })
            .collect();
        windows.sort_by_key(|w| w.t_start_ns);
        let by_key = windows
            .iter()
            .enumerate()
            .map(|(i, w)| ((w.config, w.repetition), i))
            .collect();
        Self {
            windows,
            domains: Vec::new(),
            points: points.max(2),
            cursor: 0,
            last: Vec::new(),
            by_key,
        }
    }

    /// Points per timeline.
    pub fn points(&self) -> usize {
        self.points
    }

    /// The timeline of a repetition, when it was chosen.
    pub fn get(&self, config: usize, repetition: u32) -> Option<&Timeline> {
        self.by_key
            .get(&(config, repetition))
            .map(|&i| &self.windows[i])
    }

    /// Records the names of the sampled domains once the pass is over.
    pub fn set_domains(&mut self, domains: Vec<DomainKey>) {
        self.domains = domains;
    }

    /// Feeds one sample (time-ordered) of sampled domain `d`.
    pub fn sample(&mut self, d: usize, t_ns: u64, energy_j: f64, power_w: Option<f64>) {
        if self.last.len() <= d {
            self.last.resize(d + 1, None);
        }
        let previous = self.last[d].replace((t_ns, energy_j));
        while self.cursor < self.windows.len() && self.windows[self.cursor].t_end_ns < t_ns {
            self.cursor += 1;
        }
        let Some(w) = self.windows.get_mut(self.cursor) else {
            return;
        };
        // A sample stands for the interval that ends at it: one at the window's start
        // describes the time before the window.
        if t_ns <= w.t_start_ns {
            return;
        }
        let power = match previous {
            Some((t0, e0)) if t_ns > t0 && energy_j >= e0 => {
                Some((energy_j - e0) / ((t_ns - t0) as f64 * 1e-9))
            }
            _ => power_w,
        };
        let Some(p) = power.filter(|p| p.is_finite()) else {
            return;
        };
        let span = (w.t_end_ns - w.t_start_ns) as f64;
        let i = (((t_ns - w.t_start_ns) as f64 / span) * self.points as f64) as usize;
        let i = i.min(self.points - 1);
        if w.buckets.len() <= d {
            w.buckets.resize(d + 1, Vec::new());
        }
        let b = &mut w.buckets[d];
        if b.is_empty() {
            b.resize(self.points, (0.0, 0));
        }
        b[i].0 += p;
        b[i].1 += 1;
    }

    /// Marks the start of a request of a repetition.
    pub fn mark(&mut self, config: usize, repetition: u32, t_start_ns: u64) {
        if let Some(&i) = self.by_key.get(&(config, repetition)) {
            let w = &mut self.windows[i];
            if w.marks_s.len() < MAX_MARKS && t_start_ns >= w.t_start_ns {
                w.marks_s
                    .push(((t_start_ns - w.t_start_ns) as f64 * 1e-9) as f32);
            }
        }
    }
}
