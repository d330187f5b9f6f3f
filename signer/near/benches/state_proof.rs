//! Figures for proven contract state: verification time of one real mainnet `view_state` proof
//! (9 nodes, one value), the whole answer from JSON, the chunk-roots check of a real 6-shard
//! testnet block, and bytes per proof. Data: tests/data (sources in its README).

use std::time::{Duration, Instant};
use tdsigner_near::{chunk_roots, state_view, CryptoHash};

fn time(label: &str, budget: Duration, mut f: impl FnMut()) {
    let mut iters = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed() * 5 >= budget || iters >= 1 << 20 {
            break;
        }
        iters *= 2;
    }
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed() / iters
        })
        .min()
        .unwrap_or_default();
    println!("{label}: {best:?} per iteration ({iters} iterations x 5 rounds, best round)");
}

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    let raw = std::fs::read(format!("{dir}view_state_mainnet_lockup_a.json")).unwrap();
    let root = CryptoHash::from_base58("EAf6x6aQ79pQ5c21Q9NhsF3Jf64hwjPVqQmgNDydDV5W").unwrap();
    let account = "c3e5988357bc5ffe511fff286e03d05505a76bc1.lockup.near";
    let answer = state_view::parse_view_state(&raw).unwrap();
    let node_bytes: usize = answer.proof.iter().map(Vec::len).sum();
    let compact = serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&raw).unwrap()).unwrap();
    println!(
        "view_state proof: {} nodes, {node_bytes} bytes of nodes, {} bytes of compact JSON answer (value {} bytes)",
        answer.proof.len(),
        compact.len(),
        answer.values[0].1.len()
    );
    let budget = Duration::from_millis(500);
    time("verify one value (proof already parsed)", budget, || {
        let v = state_view::verify_values(&root, account, &answer).unwrap();
        assert!(v[0].result.is_ok());
    });
    time("verify key list complete under prefix STATE", budget, || {
        state_view::verify_complete(&root, account, b"STATE", &answer).unwrap();
    });
    time("parse JSON answer + verify", budget, || {
        let a = state_view::parse_view_state(&raw).unwrap();
        assert!(state_view::verify_values(&root, account, &a).unwrap()[0].result.is_ok());
    });
    let block = std::fs::read(format!("{dir}block_testnet_187310138.json")).unwrap();
    time("block answer: parse + chunk-roots merkle + header re-hash (6 shards)", budget, || {
        let b = chunk_roots::parse_block_roots(&block).unwrap();
        assert!(chunk_roots::check_block_roots(&b).ok());
    });
}
