//! The energy pass: a run's manifest and its configurations with the energy of every
//! repetition, from `run.json`, `repetitions.csv`, `baselines.csv` and `sampler_gaps.csv`
//! alone. It writes nothing; `compare` and `trend` need no more than this.

use crate::ReportError;
use crate::configs::{self, Configuration};
use records::RecordsError;
use records::files::REPETITIONS_CSV;
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
    /// `policy` (else the policy the run recorded). A 0-byte `repetitions.csv` is an error
    /// ([`RecordsError::Empty`]); a header-only one (or none) gives no configuration.
    pub fn load(dir: &Path, policy: Option<&DerivationPolicy>) -> Result<Self, ReportError> {
        let manifest = RunManifest::load(dir)?;
        // A header-only file is a run that has not finished a repetition; a 0-byte one
        // lost its header and cannot be told from a damaged file.
        let repetitions = dir.join(REPETITIONS_CSV);
        if std::fs::metadata(&repetitions).is_ok_and(|m| m.len() == 0) {
            return Err(RecordsError::Empty { path: repetitions }.into());
        }
        let configs = configs::load(dir, &manifest, policy)?;
        Ok(Self { manifest, configs })
    }
}
