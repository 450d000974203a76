//! Errors of energy sources: each says what failed and how to fix it.

use std::path::PathBuf;

/// Why a probe could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A file of the source could not be read for lack of permission.
    #[error("permission denied reading {path}: {fix}")]
    PermissionDenied {
        /// The file that could not be read.
        path: PathBuf,
        /// How to grant access.
        fix: String,
    },
    /// A file of the source could not be read or parsed.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The source is not present on this machine.
    #[error("{probe} unavailable: {reason}")]
    Unavailable {
        /// Which probe.
        probe: String,
        /// Why it is absent, and how to make it present where that can be done.
        reason: String,
    },
    /// A device call failed while reading.
    #[error("{probe}: {reason}")]
    Device {
        /// Which probe.
        probe: String,
        /// What the device said.
        reason: String,
    },
    /// A counter without a known wrap range went down: the energy in between is unknowable.
    #[error(
        "counter {path} went from {previous} to {now} and its wrap range is unknown \
         (no max_energy_range_uj): the energy of this interval cannot be known"
    )]
    CounterWentBackwards {
        /// The counter file.
        path: PathBuf,
        /// The previous raw value.
        previous: u64,
        /// The new, lower raw value.
        now: u64,
    },
}
