//! `joulebench serve`: the embedded reference model server.

use std::process::ExitCode;

/// Arguments of `joulebench serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}

/// Runs `joulebench serve`.
pub fn run(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    super::not_implemented("serve")
}
