//! Figures for the simulator (run: `cargo bench -p tdsigner-chain-sim`):
//! block production rate, the cost of a light-client block, an execution
//! proof and a sign request's round trip, and memory per block. There is no
//! peer implementation to compare against (nearcore's test loop is not a
//! standalone simulator), so no ratio is printed.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tdsigner_chain_sim::chain::{Chain, ChainConfig};
use tdsigner_chain_sim::{ListenConfig, RequireNonEmptyQuote, SimConfig, Simulator};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn produce_rate(validators: usize, blocks: u64) -> (f64, u64) {
    let cfg = ChainConfig { validators, epoch_length: 100, ..ChainConfig::default() };
    let before = rss_kib();
    let mut c = Chain::new(cfg, Arc::new(RequireNonEmptyQuote)).unwrap();
    let t = Instant::now();
    for _ in 0..blocks {
        c.produce_block();
    }
    let rate = blocks as f64 / t.elapsed().as_secs_f64();
    let kib = rss_kib().saturating_sub(before);
    drop(c);
    (rate, kib)
}

fn main() {
    for (v, n) in [(4, 5_000), (100, 1_000)] {
        let (rate, kib) = produce_rate(v, n);
        println!("produce_block, {v:>3} validators, 4 shards, no txs: {rate:>8.0} blocks/s; RSS growth {:.1} KiB/block", kib as f64 / n as f64);
    }

    // A light-client block, a receipt proof at a 10k-block head, and sign requests end to end.
    let sim = Simulator::start(SimConfig {
        listen: vec![ListenConfig { addr: "127.0.0.1:0".parse().unwrap(), hostile: vec![] }],
        auto_produce: false,
        ..SimConfig::default()
    })
    .unwrap();
    sim.call(0, "sim_create_account", json!({"account_id": "alice.sim.test"})).unwrap();
    let p = |i: u8| json!({"account_id": format!("n{i}.sim.test"), "url": format!("u{i}"), "tls_public_key": format!("ed25519:{}", bs58::encode([i + 1; 32]).into_string())});
    let root = "secp256k1:".to_owned() + &bs58::encode(hex(&"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8")).into_string();
    sim.call(0, "sim_init_contract", json!({"participants": [p(0), p(1)], "threshold": 2, "root_public_key": root})).unwrap();
    sim.produce_blocks(10_000);
    let state = sim.call(0, "sim_contract_state", json!({})).unwrap();
    assert!(state["state"].get("Running").is_some(), "{state}");
    let requests = 1000;
    let t = Instant::now();
    let mut receipts = Vec::new();
    for i in 0..requests {
        let r = sim.call(0, "sim_sign", json!({"account_id": "alice.sim.test", "path": format!("p{i}"), "payload": "01".repeat(32)})).unwrap();
        receipts.push(r["sign_receipt_id"].as_str().unwrap().to_owned());
    }
    sim.produce_blocks(6);
    let pending = sim.call(0, "sim_requests", json!({"status": "pending"})).unwrap();
    assert_eq!(pending["requests"].as_array().map(Vec::len), Some(requests), "every sign yielded");
    let secs = t.elapsed().as_secs_f64();
    let binary = sim.with_chain(|c| c.runtime.deployed().map(|d| d.description.clone())).unwrap_or_else(|| "model".into());
    println!("{requests} sign requests: submitted and executed in {:.1} ms ({:.0} sign transactions/s through the chain; {binary})", secs * 1e3, requests as f64 / secs);
    let views = 200;
    let t = Instant::now();
    for _ in 0..views {
        sim.call(0, "query", json!({"request_type": "call_function", "account_id": "v1.signer-sim.test", "method_name": "state", "args_base64": "", "finality": "final"})).unwrap();
    }
    println!("`state` view over RPC: {:.0} calls/s", views as f64 / t.elapsed().as_secs_f64());
    let head = sim.with_chain(|c| c.light_client_head_index().map(|i| c.blocks()[i].hash.to_base58())).unwrap();
    let genesis = sim.with_chain(|c| c.genesis().hash.to_base58());
    let n = 200;
    let t = Instant::now();
    for r in receipts.iter().take(n) {
        sim.call(0, "light_client_proof", json!({"type": "receipt", "receipt_id": r, "receiver_id": "v1.signer-sim.test", "light_client_head": head})).unwrap();
    }
    println!("light_client_proof at a 10k-block head: {:.2} ms each", t.elapsed().as_secs_f64() * 1e3 / n as f64);
    let t = Instant::now();
    for _ in 0..n {
        sim.call(0, "next_light_client_block", json!({"last_block_hash": genesis})).unwrap();
    }
    println!("next_light_client_block (4 validators): {:.3} ms each", t.elapsed().as_secs_f64() * 1e3 / n as f64);
}

fn hex(s: &str) -> Vec<u8> {
    tdsigner_chain_sim::hex::decode(s).unwrap()
}
