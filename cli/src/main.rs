//! `tdsigner`: the host tool operators and verifiers use.
//!
//! Each subcommand group lives in its own module and returns the process exit
//! code itself, so the groups can keep their own conventions (the verifier
//! commands use 0 = accepted, 1 = rejected, 2 = unreadable or malformed input).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cluster_cmd;
mod image;
mod measure;
mod near;
mod near_state;
mod p2p;
mod p2p_json;
mod tss;

#[derive(Parser)]
#[command(name = "tdsigner", version, about = "tdsigner host tool: build, run, measure and verify")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the image reproducibly (wraps image-build).
    Build(image::BuildArgs),
    /// Boot the image under QEMU (wraps qemu/run-emulated.sh); SIGINT, SIGTERM and SIGHUP stop it.
    Run(image::RunArgs),
    /// NEAR light client, proofs and key derivation.
    #[command(subcommand)]
    Near(near::Command),
    /// near/mpc's P2P wire: run tdsigner's transport as one peer.
    #[command(subcommand)]
    P2p(p2p::Command),
    /// Threshold ECDSA tools.
    #[command(subcommand)]
    Tss(tss::Command),
    /// TDX measurements: compute, replay, verify quotes.
    #[command(subcommand)]
    Measure(measure::Command),
    /// End-to-end clusters of emulated nodes against the chain simulator.
    #[command(subcommand)]
    Cluster(cluster_cmd::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Build(args) => image::build(args),
        Command::Run(args) => image::run(args),
        Command::Near(cmd) => near::run(cmd),
        Command::P2p(cmd) => p2p::run(cmd),
        Command::Tss(cmd) => tss::run(cmd),
        Command::Measure(cmd) => measure::run(cmd),
        Command::Cluster(cmd) => cluster_cmd::run(cmd),
    }
}
