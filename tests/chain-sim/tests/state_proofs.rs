//! The simulator's `view_state` proofs against the node's verifier: the deployed 3.14.1
//! binary's storage, proven under the contract shard's chunk root of the block after the one
//! read, that root committed by the (re-hashed) header; a tampered value, a withheld key and
//! a proof against another block's root are refused.

use base64::Engine;
use serde_json::{json, Value};
use tdsigner_chain_sim::keys::SecretKey;
use tdsigner_chain_sim::{ChainConfig, ListenConfig, SimConfig, Simulator};
use tdsigner_near::chunk_roots::{block_roots_from_value, shard_state_root, state_roots_merkle_root};
use tdsigner_near::state_proof::{contract_data_key, entries_with_prefix, ProofNodes};
use tdsigner_near::state_view::{view_state_from_value, ViewStateAnswer};
use tdsigner_near::CryptoHash;
use tdsigner_node::machine::contract::ContractState;
use tdsigner_node::machine::proven::{proven_state_value, KNOWN_CODE_HASHES, STATE_KEY};
use tdsigner_node::machine::state_borsh::decode_state;

const CONTRACT: &str = "v1.signer-sim.test";

fn sim() -> Simulator {
    let chain = ChainConfig { seed: 3, contract_account: CONTRACT.into(), ..ChainConfig::default() };
    let listen = vec![ListenConfig { addr: "127.0.0.1:0".parse().unwrap(), hostile: Vec::new() }];
    Simulator::start(SimConfig { chain, listen, auto_produce: false, ..SimConfig::default() }).expect("simulator")
}

fn call(s: &Simulator, method: &str, params: Value) -> Value {
    s.call(0, method, params).unwrap_or_else(|e| panic!("{method}: {e:?}"))
}

fn hash_of(v: &Value) -> CryptoHash {
    CryptoHash::from_base58(v.as_str().expect("hash text")).expect("base58")
}

/// The contract shard's root committed by block `h` (re-hashed header, merklized chunk roots).
fn shard_root_of(s: &Simulator, h: &CryptoHash, shard: usize) -> CryptoHash {
    let v = call(s, "block", json!({"block_id": h.to_base58()}));
    let b = block_roots_from_value(v).expect("block parses");
    let header = b.full_header.as_ref().expect("the header re-hashes from its fields");
    assert_eq!(header.hash, *h, "header hash");
    assert_eq!(header.lite.inner_lite.prev_state_root, b.header_prev_state_root);
    let roots: Vec<CryptoHash> = b.chunks.iter().map(|c| c.prev_state_root).collect();
    assert_eq!(state_roots_merkle_root(&roots), b.header_prev_state_root, "header commits the chunk roots");
    shard_state_root(&b.header_prev_state_root, &roots, shard).expect("shard root")
}

fn view_state(s: &Simulator, at: &CryptoHash, prefix: &[u8]) -> ViewStateAnswer {
    let prefix_base64 = base64::engine::general_purpose::STANDARD.encode(prefix);
    let v = call(
        s,
        "query",
        json!({"request_type": "view_state", "account_id": CONTRACT, "prefix_base64": prefix_base64, "include_proof": true, "block_id": at.to_base58()}),
    );
    view_state_from_value(v).expect("view_state parses")
}

#[test]
fn the_simulators_state_proofs_verify_with_the_nodes_verifier_and_tampering_is_refused() {
    let s = sim();
    let shard = s.with_chain(|c| c.shard_of(CONTRACT));
    // The code hash is the binary's sha256, base58 as nearcore prints it, and a pinned release.
    let acc = call(&s, "query", json!({"request_type": "view_account", "account_id": CONTRACT, "finality": "final"}));
    assert!(KNOWN_CODE_HASHES.iter().any(|h| CryptoHash(*h) == hash_of(&acc["code_hash"])), "{acc}");

    // Before init the contract has no STATE: proven absent.
    call(&s, "sim_produce_blocks", json!({"count": 3}));
    let (p0, h0) = s.with_chain(|c| (c.blocks()[c.blocks().len() - 2].hash, c.head().hash));
    let root0 = shard_root_of(&s, &CryptoHash(h0.0), shard);
    let empty = view_state(&s, &CryptoHash(p0.0), STATE_KEY);
    assert_eq!(proven_state_value(&root0, CONTRACT, &empty), Ok(None));

    let parts: Vec<Value> = (0..3)
        .map(|i| {
            let tls = SecretKey::from_seed(&[i as u8 + 50; 32]).public_key().to_text();
            json!({"account_id": format!("n{i}.sim.test"), "id": i, "url": format!("https://n{i}.sim.test"), "tls_public_key": tls})
        })
        .collect();
    call(&s, "sim_init_contract", json!({"participants": parts, "threshold": 2}));
    call(&s, "sim_produce_blocks", json!({"count": 4}));
    let (parent, head) = s.with_chain(|c| (c.blocks()[c.blocks().len() - 2].hash, c.head().hash));
    let (parent, head) = (CryptoHash(parent.0), CryptoHash(head.0));
    let root = shard_root_of(&s, &head, shard);
    assert_ne!(root, root0, "init changed the contract shard's root");

    // STATE at the head's parent, proven under the head's chunk root, decodes as 3.14.
    let answer = view_state(&s, &parent, STATE_KEY);
    let value = proven_state_value(&root, CONTRACT, &answer).expect("proof verifies").expect("STATE present");
    match decode_state(&value, 0).expect("3.14 layout") {
        ContractState::Running(r) => assert_eq!(r.parameters.participants.len(), 3),
        ContractState::Initializing { .. } => {}
        other => panic!("unexpected state {other:?}"),
    }

    // The whole storage: the listed keys are exactly the proven ones.
    let all = view_state(&s, &parent, b"");
    assert!(all.values.len() > 1, "{} keys", all.values.len());
    let nodes = ProofNodes::new(all.proof.clone()).unwrap();
    let prefix = contract_data_key(CONTRACT, b"");
    let proven = entries_with_prefix(&root, &nodes, &prefix).expect("complete proof");
    assert_eq!(proven.len(), all.values.len());
    for ((k, r), (lk, lv)) in proven.iter().zip(&all.values) {
        assert_eq!(&k[prefix.len()..], lk.as_slice());
        assert!(r.matches(lv));
    }

    // A tampered value, a withheld STATE, and the proof of another block are refused.
    let mut tampered = answer.clone();
    let last = tampered.values[0].1.len() - 1;
    tampered.values[0].1[last] ^= 1;
    assert_eq!(proven_state_value(&root, CONTRACT, &tampered), Err("STATE value does not match the trie".into()));
    let mut withheld = answer.clone();
    withheld.values.clear();
    assert_eq!(proven_state_value(&root, CONTRACT, &withheld), Err("STATE withheld".into()));
    assert!(proven_state_value(&root0, CONTRACT, &answer).is_err(), "a proof verified under an older root");
    let mut bad_node = answer.clone();
    let n = bad_node.proof.len() - 1;
    let b = bad_node.proof[n].len() - 1;
    bad_node.proof[n][b] ^= 1;
    assert!(proven_state_value(&root, CONTRACT, &bad_node).is_err(), "a tampered proof node verified");
}
