//! Energy from power samples, integrated over the samples' own timestamps.

/// Trapezoidal integration of power over time; repeated timestamps add nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PowerIntegrator {
    last: Option<(f64, f64)>,
    joules: f64,
}

impl PowerIntegrator {
    /// Adds a sample of `watts` taken at `t_s` seconds; returns the energy so far (J).
    ///
    /// A sample not newer than the last (the driver had no new value) is ignored.
    pub fn add(&mut self, t_s: f64, watts: f64) -> f64 {
        let watts = watts.max(0.0);
        match self.last {
            Some((t0, w0)) if t_s > t0 => {
                self.joules += (w0 + watts) / 2.0 * (t_s - t0);
                self.last = Some((t_s, watts));
            }
            Some(_) => {}
            None => self.last = Some((t_s, watts)),
        }
        self.joules
    }

    /// Energy integrated so far (J).
    pub fn joules(&self) -> f64 {
        self.joules
    }

    /// The last power taken (W).
    pub fn last_watts(&self) -> Option<f64> {
        self.last.map(|(_, w)| w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trapezoids_over_sample_times_and_repeats_ignored() {
        let mut p = PowerIntegrator::default();
        assert_eq!(p.add(10.0, 100.0), 0.0);
        assert_eq!(p.add(11.0, 200.0), 150.0);
        assert_eq!(p.add(11.0, 999.0), 150.0); // same timestamp: stale value
        assert_eq!(p.add(10.5, 999.0), 150.0); // older: ignored
        assert_eq!(p.add(13.0, 200.0), 550.0);
        assert_eq!(p.last_watts(), Some(200.0));
    }
}
