//! `tdsigner-chain-sim`: runs the simulator until killed. Prints one line per
//! endpoint (`listening http://ADDR/ …`) on stdout once it serves, so a
//! harness can start it with port 0 and read the port.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tdsigner_chain_sim::cli::Args;
use tdsigner_chain_sim::Simulator;

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tdsigner-chain-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tdsigner-chain-sim: {e}");
            return ExitCode::from(1);
        }
    };
    let (genesis, height, contract) = sim.with_chain(|c| {
        let contract = match c.runtime.deployed() {
            Some(d) => d.description.clone(),
            None => "contract: the hand-written model (--contract model), not a deployed binary".to_string(),
        };
        (c.genesis().hash, c.head().height(), contract)
    });
    let mut out = std::io::stdout().lock();
    for (i, addr) in sim.addrs().iter().enumerate() {
        let modes: Vec<&str> = sim.hostile_modes(i).iter().map(|m| m.name()).collect();
        let _ = writeln!(out, "listening http://{addr}/ genesis={genesis} height={height} hostile={}", modes.join(","));
    }
    let _ = writeln!(out, "{contract}");
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
