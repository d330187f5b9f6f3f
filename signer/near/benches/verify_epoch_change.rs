//! Verification time of an epoch-change block (main_2: 101 approvals for 100
//! producers, 72 signatures) and bytes fetched per epoch to stay in sync.
//! The same-run comparison against another Rust light client is a separate
//! program built outside the repository (see signer/near/BENCH.md).

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
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

fn bench(c: &mut Criterion) {
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

    c.bench_function("verify epoch-change block main_2 (100 producers)", |b| b.iter(|| state.verify(std::hint::black_box(&b2)).unwrap()));
    c.bench_function("parse + verify main_2 JSON", |b| {
        b.iter(|| {
            let blk = parse_light_client_block(std::hint::black_box(&raw2)).unwrap();
            state.verify(&blk).unwrap()
        })
    });
    let bytes = state.to_bytes();
    println!("persisted light-client state: {} B", bytes.len());
    c.bench_function("resume state from bytes", |b| b.iter(|| LightClientState::from_bytes(std::hint::black_box(&bytes)).unwrap()));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
