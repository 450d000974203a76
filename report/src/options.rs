//! Settings of a report.

/// What a report computes and draws.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOptions {
    /// Coefficient of variation above which a configuration is flagged (0.10 = 10%).
    pub cv_bound: f64,
    /// Bootstrap resamples for a percentile CI of the mean; `None` for no bootstrap.
    pub bootstrap_resamples: Option<usize>,
    /// Seed of the bootstrap, so a report is reproducible.
    pub bootstrap_seed: u64,
    /// Configurations (in id order) that get a power timeline plot.
    pub timeline_configs: usize,
    /// Points per timeline.
    pub timeline_points: usize,
    /// Whether to draw plots at all.
    pub plots: bool,
    /// How to derive net energy and validity, instead of the policy the run recorded
    /// (also for a version-1 folder, whose runner recorded its derived figures).
    pub policy: Option<records::manifest::DerivationPolicy>,
    /// Bounds past which window states are flagged (temperature rise, clock spread).
    pub state_bounds: crate::fidelity::StateBounds,
    /// Bounds of the cross-checks between counters.
    pub cross_check_bounds: crate::fidelity::CrossCheckBounds,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            cv_bound: 0.10,
            bootstrap_resamples: None,
            bootstrap_seed: 0x6a6f_756c_6562_656e,
            timeline_configs: 24,
            timeline_points: 600,
            plots: true,
            policy: None,
            state_bounds: crate::fidelity::StateBounds::default(),
            cross_check_bounds: crate::fidelity::CrossCheckBounds::default(),
        }
    }
}
