//! The `tdsigner-chain-sim` command line (clap), turned into a [`SimConfig`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::chain::{ChainConfig, HeaderLayout};
use crate::contract::ContractConfig;
use crate::hostile::HostileMode;
use crate::server::{ListenConfig, SimConfig};

/// NEAR chain simulator for tdsigner tests: light-client-verifiable blocks,
/// outcome proofs, transactions and a v1.signer contract model, over
/// JSON-RPC on loopback.
#[derive(Parser, Debug, Clone)]
#[command(name = "tdsigner-chain-sim", version)]
pub struct Args {
    /// Loopback address to serve JSON-RPC on (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:3030")]
    pub listen: SocketAddr,
    /// Lie on --listen: unproven-requests, tampered-proofs, altered-entropy,
    /// forked-headers, dropped-responses (repeatable).
    #[arg(long = "hostile", value_name = "MODE")]
    pub hostile: Vec<String>,
    /// Another endpoint on the same chain: ADDR or ADDR=MODE,MODE (repeatable).
    #[arg(long = "extra-listen", value_name = "ADDR[=MODES]")]
    pub extra_listen: Vec<String>,
    /// Validator pool size (each epoch drops one of them when there are 4 or more).
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Blocks per epoch (at least 5).
    #[arg(long, default_value_t = 20)]
    pub epoch_length: u64,
    /// Block interval; 0 = produce blocks only on `sim_produce_blocks`.
    #[arg(long, default_value_t = 500)]
    pub block_time_ms: u64,
    /// Seed of every key and choice; the same seed gives the same chain.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 4)]
    pub shards: usize,
    #[arg(long, default_value_t = 1000)]
    pub genesis_height: u64,
    /// Genesis block time, seconds since the Unix epoch (default 2025-01-01T00:00:00Z).
    #[arg(long)]
    pub genesis_time: Option<u64>,
    /// The first K validators never approve.
    #[arg(long, default_value_t = 0)]
    pub offline_validators: usize,
    /// Chance per block and shard that the chunk is missing.
    #[arg(long, default_value_t = 0)]
    pub missing_chunk_percent: u8,
    /// inner_rest layout: v4, v5 or v6.
    #[arg(long, default_value = "v5")]
    pub header_layout: String,
    #[arg(long, default_value = "v1.signer-sim.test")]
    pub contract_account: String,
    /// The contract binary: 3.14.0 (mainnet's v1.signer), 3.14.1 (testnet's),
    /// a path to a .wasm, or `model` (the hand-written model, being retired).
    #[arg(long, default_value = crate::wasm::deployed::DEFAULT_VERSION)]
    pub contract: String,
    /// Where the 3.14.0 / 3.14.1 binaries are (default: ../shared/fixtures/near-mpc/contracts
    /// next to the repository, or $TDSIGNER_CONTRACT_FIXTURES).
    #[arg(long)]
    pub contract_fixtures: Option<std::path::PathBuf>,
    #[arg(long, default_value = "tdsigner-sim")]
    pub chain_id: String,
    /// Blocks before an unanswered sign request times out (NEAR: 200).
    #[arg(long, default_value_t = 200)]
    pub yield_timeout_blocks: u64,
    /// Blocks a keygen/reshare attempt stays open (near/mpc: 30).
    #[arg(long, default_value_t = 30)]
    pub key_event_timeout_blocks: u64,
    /// How long a transaction's block_hash stays valid.
    #[arg(long, default_value_t = 86_400)]
    pub tx_validity_blocks: u64,
    /// How long send_tx / tx / broadcast_tx_commit wait.
    #[arg(long, default_value_t = 10_000)]
    pub tx_wait_timeout_ms: u64,
    /// Do not serve the sim_* admin methods.
    #[arg(long)]
    pub no_admin: bool,
    #[arg(long, default_value_t = 64)]
    pub max_connections: usize,
}

fn modes(list: &[&str]) -> Result<Vec<HostileMode>, String> {
    list.iter().filter(|m| !m.is_empty()).map(|m| HostileMode::parse(m).ok_or_else(|| format!("unknown hostile mode {m:?}"))).collect()
}

impl Args {
    pub fn into_config(self) -> Result<SimConfig, String> {
        let header_layout = HeaderLayout::parse(&self.header_layout).ok_or_else(|| format!("--header-layout {:?}: use v4, v5 or v6", self.header_layout))?;
        if self.missing_chunk_percent > 90 {
            return Err("--missing-chunk-percent must be at most 90".into());
        }
        let hostile: Vec<&str> = self.hostile.iter().map(String::as_str).collect();
        let mut listen = vec![ListenConfig { addr: self.listen, hostile: modes(&hostile)? }];
        for e in &self.extra_listen {
            let (addr, m) = e.split_once('=').unwrap_or((e.as_str(), ""));
            let addr: SocketAddr = addr.parse().map_err(|_| format!("--extra-listen {e:?}: not an address"))?;
            listen.push(ListenConfig { addr, hostile: modes(&m.split(',').collect::<Vec<_>>())? });
        }
        Ok(SimConfig {
            chain: ChainConfig {
                seed: self.seed,
                validators: self.validators,
                epoch_length: self.epoch_length,
                genesis_height: self.genesis_height,
                shards: self.shards,
                offline_validators: self.offline_validators,
                missing_chunk_percent: self.missing_chunk_percent,
                block_time_ms: if self.block_time_ms == 0 { 1000 } else { self.block_time_ms },
                header_layout,
                tx_validity_blocks: self.tx_validity_blocks,
                contract_account: self.contract_account,
                contract_code: crate::chain::ContractKind::parse(&self.contract),
                contract_fixtures: self.contract_fixtures.unwrap_or_else(crate::chain::default_contract_fixtures),
                contract: ContractConfig { key_event_timeout_blocks: self.key_event_timeout_blocks, yield_timeout_blocks: self.yield_timeout_blocks },
                chain_id: self.chain_id,
                genesis_timestamp_ns: match self.genesis_time {
                    Some(secs) => secs.checked_mul(1_000_000_000).ok_or("--genesis-time is too far in the future")?,
                    None => ChainConfig::default().genesis_timestamp_ns,
                },
                ..ChainConfig::default()
            },
            listen,
            auto_produce: self.block_time_ms > 0,
            admin: !self.no_admin,
            tx_wait_timeout: Duration::from_millis(self.tx_wait_timeout_ms),
            max_connections: self.max_connections,
            ..SimConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_listeners() {
        let a = Args::try_parse_from([
            "x",
            "--listen",
            "127.0.0.1:0",
            "--hostile",
            "forked-headers",
            "--extra-listen",
            "127.0.0.1:0=unproven-requests,dropped-responses",
            "--block-time-ms",
            "0",
        ])
        .unwrap();
        let c = a.into_config().unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.listen[0].hostile, vec![HostileMode::ForkedHeaders]);
        assert_eq!(c.listen[1].hostile, vec![HostileMode::UnprovenRequests, HostileMode::DroppedResponses]);
        assert!(!c.auto_produce);
        let bad = Args::try_parse_from(["x", "--hostile", "nope"]).unwrap();
        assert!(bad.into_config().is_err());
    }

    #[test]
    fn genesis_time_sets_block_times_and_withheld_head_parses() {
        let a = Args::try_parse_from(["x", "--genesis-time", "2208988800", "--hostile", "withheld-head"]).unwrap();
        let c = a.into_config().unwrap();
        assert_eq!(c.chain.genesis_timestamp_ns, 2_208_988_800_000_000_000);
        assert_eq!(c.listen[0].hostile, vec![HostileMode::WithheldHead]);
        let default = Args::try_parse_from(["x"]).unwrap().into_config().unwrap();
        assert_eq!(default.chain.genesis_timestamp_ns, 1_735_689_600_000_000_000, "the default genesis moved");
        let huge = Args::try_parse_from(["x", "--genesis-time", "18446744073709551615"]).unwrap();
        assert!(huge.into_config().is_err());
    }
}
