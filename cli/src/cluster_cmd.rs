//! `tdsigner cluster demo`: the chain simulator and N emulated nodes under
//! QEMU, keygen, K sign requests as a user, every signature verified.

use std::process::ExitCode;
use std::time::Instant;

use tdsigner_cli::cluster::{self, ClusterOptions};
use tdsigner_cli::launch;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Boot N emulated nodes against the chain simulator, run keygen, sign K
    /// requests and verify every signature. Exit 0 only if all verify.
    Demo(DemoArgs),
}

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Signing threshold.
    #[arg(long, default_value_t = 3)]
    threshold: u64,
    /// Sign requests to submit.
    #[arg(long, default_value_t = 5)]
    requests: usize,
    /// Guest memory per node (QEMU -m).
    #[arg(long, default_value = "256M")]
    memory: String,
    /// Simulated block time.
    #[arg(long, default_value_t = 500)]
    block_time_ms: u64,
    /// Extra KEY=VALUE for every node's kernel command line (tuning, e.g.
    /// `--node-arg protocol_idle_ms=120000 --node-arg triple_batch=4`; see
    /// signer/node/src/config.rs). Repeatable.
    #[arg(long = "node-arg", value_name = "KEY=VALUE")]
    node_args: Vec<String>,
    /// Use the existing out/tdsigner.efi instead of building first.
    #[arg(long)]
    no_build: bool,
}

pub fn run(cmd: Command) -> ExitCode {
    let Command::Demo(args) = cmd;
    let started = Instant::now();
    let progress = move |msg: &str| eprintln!("[{:6.1}s] {msg}", started.elapsed().as_secs_f64());
    if args.nodes < 2 || args.threshold < 2 || args.threshold > args.nodes as u64 {
        eprintln!("tdsigner cluster demo: need 2 <= threshold <= nodes");
        return ExitCode::from(2);
    }
    // SIGINT, SIGTERM and SIGHUP stop every node's QEMU (by PID) at any stage, then exit.
    if let Err(e) = launch::stop_started_on_signals("tdsigner cluster demo") {
        eprintln!("tdsigner cluster demo: {e}");
        return ExitCode::FAILURE;
    }
    let root = match tdsigner_cli::source_root() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tdsigner cluster demo: {e}");
            return ExitCode::from(2);
        }
    };
    let image = if args.no_build {
        root.join("out/tdsigner.efi")
    } else {
        progress("building the image (tdsigner build)");
        let opts = tdsigner_image_build::BuildOptions { source_dir: root.clone(), out_dir: root.join("out"), target_dir: None };
        match tdsigner_image_build::build(&opts) {
            Ok(b) => b.image,
            Err(e) => {
                eprintln!("tdsigner cluster demo: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let work_dir = cluster::default_work_dir(&root);
    let _ = std::fs::remove_dir_all(&work_dir);
    let opts = ClusterOptions {
        source_root: root,
        image,
        work_dir,
        nodes: args.nodes,
        threshold: args.threshold,
        memory: args.memory,
        block_time_ms: args.block_time_ms,
        node_args: args.node_args,
    };
    let stop = launch::stopping;
    match cluster::run_demo(opts, args.requests, &progress, &stop) {
        Ok(summary) => {
            println!("{}", summary.table());
            if summary.verified == summary.requests {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("tdsigner cluster demo: {e}");
            ExitCode::FAILURE
        }
    }
}
