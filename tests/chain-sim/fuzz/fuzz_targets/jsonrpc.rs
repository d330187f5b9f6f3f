#![no_main]
//! JSON-RPC bodies: the envelope parser, then dispatch of whatever parses on
//! an honest endpoint and on one with every hostile mode, against a small
//! live simulator (blocks on demand, no waiting).
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tdsigner_chain_sim::{rpc, ChainConfig, HostileMode, ListenConfig, SimConfig, Simulator};

fn sim() -> &'static Simulator {
    static SIM: OnceLock<Simulator> = OnceLock::new();
    SIM.get_or_init(|| {
        let any = "127.0.0.1:0".parse().unwrap();
        let sim = Simulator::start(SimConfig {
            chain: ChainConfig { epoch_length: 5, ..ChainConfig::default() },
            listen: vec![ListenConfig { addr: any, hostile: vec![] }, ListenConfig { addr: any, hostile: HostileMode::ALL.to_vec() }],
            auto_produce: false,
            tx_wait_timeout: Duration::ZERO,
            ..SimConfig::default()
        })
        .unwrap();
        sim.produce_blocks(12);
        sim
    })
}

/// Methods tried with fuzzed params (the first input byte picks one), so
/// coverage does not depend on a corpus spelling method names.
const METHODS: &[&str] = &[
    "status",
    "block",
    "chunk",
    "next_light_client_block",
    "light_client_proof",
    "EXPERIMENTAL_light_client_block_proof",
    "query",
    "send_tx",
    "broadcast_tx_async",
    "broadcast_tx_commit",
    "tx",
    "validators",
    "gas_price",
    "sim_info",
    "sim_trusted_start",
    "sim_create_account",
    "sim_add_key",
    "sim_account",
    "sim_init_contract",
    "sim_start_resharing",
    "sim_contract_state",
    "sim_requests",
    "sim_sign",
    "sim_call",
    "sim_set_hostile",
];

fuzz_target!(|data: &[u8]| {
    let sim = sim();
    if let Ok(call) = rpc::parse_call(data) {
        // Producing blocks on demand is bounded but slow; skip it here.
        if call.method != "sim_produce_blocks" {
            for listener in 0..2 {
                let _ = sim.call(listener, &call.method, call.params.clone());
            }
        }
    }
    if let Some((&pick, rest)) = data.split_first() {
        if let Ok(params) = serde_json::from_slice::<serde_json::Value>(rest) {
            let method = METHODS[usize::from(pick) % METHODS.len()];
            for listener in 0..2 {
                let _ = sim.call(listener, method, params.clone());
            }
        }
    }
});
