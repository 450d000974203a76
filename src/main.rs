//! `joulebench`: measure the energy of one inference of a model behind a model server.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::quiet_on_closed_pipe(&args.command);
    cli::init_logging(args.verbose);
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            // One clear line per cause, never a backtrace for a user mistake.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
