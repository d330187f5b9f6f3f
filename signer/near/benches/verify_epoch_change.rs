//! Verification time of an epoch-change block (main_2: 101 approvals for 100
//! producers, 72 signatures) and bytes fetched per epoch to stay in sync.
//! The same-run comparison against another Rust light client is a separate
//! program built outside the repository (see signer/near/BENCH.md).

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tdsigner_near::light_client::LightClientState;
use tdsigner_near::view::parse_light_client_block;

fn fixtures() -> PathBuf {
    if let Ok(p) = std::env::var("TDSIGNER_FIXTURES") {
        return PathBuf::from(p).join("near-light-client");
    }
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap_or_default();
    loop {
        let c = dir.join("../shared/fixtures/near-light-client");
        if c.is_dir() {
            return c;
        }
        assert!(dir.pop(), "../shared/fixtures not found; set TDSIGNER_FIXTURES");
    }
}

/// Runs `f` repeatedly for about `budget` and prints the best mean over five
/// rounds (the least disturbed by other load on the machine).
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
    let read = |n: &str| std::fs::read(fixtures().join(n)).unwrap();
    let b0 = parse_light_client_block(&read("main_0.json")).unwrap();
    let b1 = parse_light_client_block(&read("main_1.json")).unwrap();
    let raw2 = read("main_2.json");
    let b2 = parse_light_client_block(&raw2).unwrap();
    let mut state = LightClientState::from_trusted_block(&b0).unwrap();
    state.advance(&b1).unwrap();

    // Bytes per epoch: one next_light_client_block answer (compact JSON, as
    // nodes send it) plus a JSON-RPC envelope; the request is ~150 bytes.
    for name in ["main_1.json", "main_2.json"] {
        let v: serde_json::Value = serde_json::from_slice(&read(name)).unwrap();
        let body = serde_json::to_vec(&v["body"]).unwrap();
        let envelope = serde_json::to_vec(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": v["body"]})).unwrap();
        println!("bytes per epoch ({name}): result {} B, JSON-RPC answer {} B", body.len(), envelope.len());
    }

    let budget = Duration::from_secs(2);
    time("verify epoch-change block main_2 (100 producers)", budget, || {
        state.verify(std::hint::black_box(&b2)).unwrap();
    });
    time("parse + verify main_2 JSON", budget, || {
        let blk = parse_light_client_block(std::hint::black_box(&raw2)).unwrap();
        state.verify(&blk).unwrap();
    });
    let bytes = state.to_bytes();
    println!("persisted light-client state: {} B", bytes.len());
    time("resume state from bytes", budget, || {
        LightClientState::from_bytes(std::hint::black_box(&bytes)).unwrap();
    });
}
