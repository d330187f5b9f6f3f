//! `tdsigner build` and `tdsigner run`: placeholder until written.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BuildArgs {}

#[derive(clap::Args)]
pub struct RunArgs {}

pub fn build(_args: BuildArgs) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(2)
}

pub fn run(_args: RunArgs) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(2)
}
