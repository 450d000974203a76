//! Energy from power samples, integrated over the samples' own timestamps.

use super::device::GpuError;

/// Trapezoidal integration of power over time; repeated timestamps add nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PowerIntegrator {
    last: Option<(f64, f64)>,
    joules: f64,
}

impl PowerIntegrator {
    /// Adds a sample of `watts` taken at `t_s` seconds; returns the energy so far (J).
    ///
    /// A sample not newer than the last (the driver had no new value) is ignored. A power
    /// or time that is NaN, infinite or (power) negative is an error and leaves the
    /// integral as it was, never a zero: the next valid sample integrates across it.
    pub fn add(&mut self, t_s: f64, watts: f64) -> Result<f64, GpuError> {
        if !(watts.is_finite() && watts >= 0.0) {
            return Err(GpuError::Failed(format!(
                "power reading of {watts} W is not a finite, non-negative number"
            )));
        }
        if !t_s.is_finite() {
            return Err(GpuError::Failed(format!(
                "power sample timestamp {t_s} s is not a finite number"
            )));
        }
        match self.last {
            Some((t0, w0)) if t_s > t0 => {
                self.joules += (w0 + watts) / 2.0 * (t_s - t0);
                self.last = Some((t_s, watts));
            }
            Some(_) => {}
            None => self.last = Some((t_s, watts)),
        }
        Ok(self.joules)
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
        assert_eq!(p.add(10.0, 100.0), Ok(0.0));
        assert_eq!(p.add(11.0, 200.0), Ok(150.0));
        assert_eq!(p.add(11.0, 999.0), Ok(150.0)); // same timestamp: stale value
        assert_eq!(p.add(10.5, 999.0), Ok(150.0)); // older: ignored
        assert_eq!(p.add(13.0, 200.0), Ok(550.0));
        assert_eq!(p.last_watts(), Some(200.0));
    }

    #[test]
    fn nan_infinite_or_negative_power_is_an_error_not_zero_watts() {
        let mut p = PowerIntegrator::default();
        assert_eq!(p.add(10.0, 100.0), Ok(0.0));
        for bad in [f64::NAN, f64::INFINITY, -5.0] {
            let e = p.add(11.0, bad).expect_err("invalid power");
            assert!(e.to_string().contains("not a finite, non-negative"), "{e}");
        }
        assert!(p.add(f64::NAN, 100.0).is_err());
        // Nothing was taken from the bad samples: the next good one spans the whole time
        // from the last good one, at their mean power (not 0 W for the bad stretch).
        assert_eq!(p.last_watts(), Some(100.0));
        assert_eq!(p.add(12.0, 300.0), Ok(400.0));
    }
}
