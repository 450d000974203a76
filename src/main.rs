//! `joulebench`: measure the energy of one inference of a model behind a model server.

mod cli;

use clap::Parser;
use std::process::ExitCode;

/// Exit code of a usage or input error (clap's own usage errors exit 2 too); a run that
/// started and failed exits 1 (`cli::run`).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::quiet_on_closed_pipe(&args.command);
    cli::init_logging(args.verbose);
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            // One clear line per cause, never a backtrace for a user mistake; the run's
            // secrets (API keys a server may echo) never reach the terminal.
            eprintln!(
                "error: {}",
                harness::redact::redact_global(&format!("{e:#}"))
            );
            ExitCode::from(EXIT_ERROR)
        }
    }
}
