//! The raw records of a joulebench run folder: what the harness writes as it measures and
//! the reporter reads back, with the manifest (`run.json`), the folder's file names, and
//! the study tables a suite may name. Serde and CSV only: no statistics, no plots.

pub mod answers;
pub mod carbon;
pub mod config_id;
pub mod error;
pub mod files;
pub mod finite;
pub mod labels;
pub mod load;
pub mod manifest;
pub mod models;
pub mod number;
pub mod raw;
pub mod reference;
pub mod scoring;
pub mod state_keys;
pub mod study;
pub mod study_quality;
pub mod table_io;
pub mod tokens;

pub use config_id::ConfigId;
pub use error::RecordsError;

/// The most shards a suite may be split into (`--shard I/N`, `slurm --shards N`): Slurm's
/// default `MaxArraySize` (1001) takes array indices 0 to 1000, and no suite needs more
/// shards than it has configurations.
pub const MAX_SHARDS: u32 = 1000;
