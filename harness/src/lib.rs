//! The harness: suite loading, the plan and schedule, protocol clients, server lifecycle,
//! and the run loop that writes raw records as they are taken.

pub mod arrivals;
pub mod client;
pub mod dataset;
pub mod dry_run;
pub mod power_limit;
pub mod probe_setup;
pub mod protocol;
pub mod redact;
pub mod run;
pub mod server;
pub mod shard;
pub mod shuffle;
pub mod suite;
pub mod template;
pub mod writer;

pub use suite::plan;
