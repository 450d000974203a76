//! The energy pass: a run's manifest and its configurations with the energy of every
//! repetition, from `run.json`, `repetitions.csv`, `baselines.csv` and `sampler_gaps.csv`
//! alone. It writes nothing; `compare` and `trend` need no more than this.

use crate::ReportError;
use crate::configs::{self, Configuration};
use records::manifest::{DerivationPolicy, RunManifest};
use std::path::Path;

/// A run's manifest and configurations, as the energy pass reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct EnergyRun {
    /// The run's manifest.
    pub manifest: RunManifest,
    /// Configurations with their repetitions, in id order.
    pub configs: Vec<Configuration>,
}

impl EnergyRun {
    /// Reads a run folder's energy records, deriving net energy and validity under
    /// `policy` (else the policy the run recorded).
    pub fn load(dir: &Path, policy: Option<&DerivationPolicy>) -> Result<Self, ReportError> {
        let manifest = RunManifest::load(dir)?;
        let configs = configs::load(dir, &manifest, policy)?;
        Ok(Self { manifest, configs })
    }
}
