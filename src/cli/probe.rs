//! `joulebench probe`: list, read or watch this machine's energy probes.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `joulebench probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// What to do with the probes.
    #[command(subcommand)]
    pub action: ProbeAction,
    /// Root of the powercap tree (containers often mount the host's sysfs elsewhere).
    #[arg(long, global = true, default_value = probes::discovery::DEFAULT_POWERCAP_ROOT)]
    pub powercap_root: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Probe actions.
#[derive(Debug, clap::Subcommand)]
pub enum ProbeAction {
    /// Each source: available or not, why, domains, resolution.
    List,
    /// One reading of every domain's cumulative joules.
    Read,
    /// Live watts per domain.
    Watch,
}

/// Runs `joulebench probe`.
pub fn run(_args: ProbeArgs) -> anyhow::Result<ExitCode> {
    super::not_implemented("probe")
}
