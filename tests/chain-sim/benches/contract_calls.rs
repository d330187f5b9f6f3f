//! Contract calls per second on the deployed `v1.signer` binary (3.14.1) in
//! the simulator's wasmi runtime (run: `cargo bench -p tdsigner-chain-sim
//! --bench contract_calls`): the `state` view, and `sign` transactions (each
//! one call that logs, checks and yields). Single thread; each call
//! instantiates the module afresh, as nearcore does.

use std::time::Instant;

use serde_json::json;
use tdsigner_chain_sim::keys::SecretKey;
use tdsigner_chain_sim::wasm::{ContractCode, ContractRuntime, FunctionCallTx, RuntimeConfig, TxStatus};

const CONTRACT: &str = "v1.signer-sim.test";

fn tx(signer: &str, method: &str, args: serde_json::Value, deposit: u128) -> FunctionCallTx {
    FunctionCallTx {
        signer_id: signer.into(),
        signer_pk: [&[0u8][..], &[42u8; 32]].concat(),
        method: method.into(),
        args: args.to_string().into_bytes(),
        deposit,
        gas: 300_000_000_000_000,
    }
}

fn main() {
    let path = format!("{}/../../../shared/fixtures/near-mpc/contracts/signer-3_14_1.wasm", env!("CARGO_MANIFEST_DIR"));
    let wasm = std::fs::read(&path).expect("fixture binary");
    let t = Instant::now();
    let code = ContractCode::load(&wasm).expect("loads");
    println!("load (validate + link) {} bytes: {:.1} ms", wasm.len(), t.elapsed().as_secs_f64() * 1e3);
    let mut rt =
        ContractRuntime::new(code, RuntimeConfig { contract_account: CONTRACT.into(), ..RuntimeConfig::default() });
    let participants: Vec<_> = (0..4)
        .map(|i| json!([format!("p{i}.sim.test"), i, {"url": "https://p.sim.test", "tls_public_key": SecretKey::from_seed(&[i as u8 + 1; 32]).public_key().to_text()}]))
        .collect();
    let root = k256::ecdsa::SigningKey::from_slice(&[5u8; 32]).expect("key");
    let point = root.verifying_key().to_encoded_point(false);
    let near_pk = format!("secp256k1:{}", bs58::encode(&point.as_bytes()[1..]).into_string());
    let init = json!({
        "domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": 3, "purpose": "Sign"}],
        "next_domain_id": 1,
        "keyset": {"epoch_id": 0, "domains": [{"domain_id": 0, "key": {"Secp256k1": {"near_public_key": near_pk}}, "attempt": 0}]},
        "parameters": {"participants": {"next_id": 4, "participants": participants}, "threshold": 3},
        "init_config": null,
    });
    let id = rt.submit(tx(CONTRACT, "init_running", init, 0));
    assert!(matches!(rt.tx_status(id), TxStatus::Success(_)), "{:?}", rt.tx_status(id));

    let n = 200;
    let t = Instant::now();
    let mut instructions = 0;
    for _ in 0..n {
        instructions += rt.view("state", b"{}").expect("state view").instructions;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "view `state`: {:.0} calls/s ({} instructions/call) [emulated chain, wasmi interpreter]",
        n as f64 / secs,
        instructions / n
    );

    let t = Instant::now();
    let mut tiny = 0;
    for _ in 0..n {
        tiny += rt.view("version", b"{}").expect("version view").instructions;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("view `version` (instantiation-bound): {:.0} calls/s ({} instructions/call)", n as f64 / secs, tiny / n);

    let t = Instant::now();
    let before = rt.outcomes.len();
    for i in 0..n {
        let payload = tdsigner_chain_sim::hex::encode(&[(i % 250) as u8 + 1; 32]);
        let args = json!({"request": {"path": format!("p{i}"), "payload_v2": {"Ecdsa": payload}, "domain_id": 0}});
        let s = rt.submit(tx("user.sim.test", "sign", args, 1));
        assert_eq!(rt.tx_status(s), TxStatus::Pending);
    }
    let secs = t.elapsed().as_secs_f64();
    let executed = &rt.outcomes[before..];
    let per_sign = executed.iter().map(|o| o.instructions).sum::<u64>() / n;
    println!(
        "sign tx (yield created; {} receipts executed): {:.0} tx/s ({} instructions/tx), {} yields open",
        executed.len(),
        n as f64 / secs,
        per_sign,
        rt.open_yields().len()
    );
}
