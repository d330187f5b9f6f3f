//! Placeholder until this subcommand group is written; it refuses to run.

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Not written yet.
    NotImplemented,
}

pub fn run(_cmd: Command) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(2)
}
