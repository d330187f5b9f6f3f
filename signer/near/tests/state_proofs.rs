//! State-trie proofs and chunk state roots against real captured chain answers
//! (tests/data/README.md names each source), and the ways a lying endpoint could bend them.

use tdsigner_near::chunk_roots::{self, HeaderHashCheck};
use tdsigner_near::header::InnerRestLayout;
use tdsigner_near::state_proof::{self, ProofNodes, RawTrieNode, RawTrieNodeWithSize, StateProofError};
use tdsigner_near::state_view::{self, StateViewError, ViewStateAnswer};
use tdsigner_near::CryptoHash;

const LOCKUP: &str = "c3e5988357bc5ffe511fff286e03d05505a76bc1.lockup.near";
const ROOT_A: &str = "EAf6x6aQ79pQ5c21Q9NhsF3Jf64hwjPVqQmgNDydDV5W";
const ROOT_B: &str = "6qexGgUPQCQCkqfNu9td1mSZpxzZBd2G2sHwTor31U8S";

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn answer(name: &str) -> ViewStateAnswer {
    state_view::parse_view_state(&data(name)).unwrap()
}

fn root(s: &str) -> CryptoHash {
    CryptoHash::from_base58(s).unwrap()
}

#[test]
fn real_mainnet_view_state_values_are_proven() {
    for (file, r) in [("view_state_mainnet_lockup_a.json", ROOT_A), ("view_state_mainnet_lockup_b.json", ROOT_B)] {
        let a = answer(file);
        assert_eq!(a.values.len(), 1);
        assert_eq!(a.values[0].0, b"STATE");
        let verdicts = state_view::verify_values(&root(r), LOCKUP, &a).unwrap();
        assert_eq!(verdicts.len(), 1);
        assert_eq!(verdicts[0].result, Ok(()), "{file}");
        // The proof also proves the key list complete under the prefix that was asked for.
        let proven = state_view::verify_complete(&root(r), LOCKUP, b"STATE", &a).unwrap();
        assert_eq!(proven.len(), 1);
    }
}

#[test]
fn real_proof_nodes_decode_and_reencode_byte_for_byte() {
    let a = answer("view_state_mainnet_lockup_a.json");
    let mut kinds = [0usize; 3];
    for entry in &a.proof {
        let node = RawTrieNodeWithSize::decode(entry).unwrap();
        assert_eq!(&node.encode(), entry);
        match node.node {
            RawTrieNode::Leaf { .. } => kinds[0] += 1,
            RawTrieNode::Branch { .. } => kinds[1] += 1,
            RawTrieNode::Extension { .. } => kinds[2] += 1,
        }
    }
    assert_eq!(kinds, [1, 7, 1]);
}

#[test]
fn wrong_root_account_or_value_is_not_proven() {
    let a = answer("view_state_mainnet_lockup_a.json");
    // The other capture's root: every node it needs is missing from this proof.
    let v = state_view::verify_values(&root(ROOT_B), LOCKUP, &a).unwrap();
    assert!(matches!(v[0].result, Err(StateProofError::MissingNode { .. })));
    // Another account builds another trie key.
    let v = state_view::verify_values(&root(ROOT_A), "d3e5988357bc5ffe511fff286e03d05505a76bc1.lockup.near", &a).unwrap();
    assert!(v[0].result.is_err());
    // The value of capture B, listed with capture A's proof.
    let b = answer("view_state_mainnet_lockup_b.json");
    let mut swapped = a.clone();
    swapped.values[0].1 = b.values[0].1.clone();
    let v = state_view::verify_values(&root(ROOT_A), LOCKUP, &swapped).unwrap();
    assert!(matches!(v[0].result, Err(StateProofError::ValueMismatch { .. })));
    // One flipped bit anywhere in the value.
    for i in 0..a.values[0].1.len() {
        let mut t = a.clone();
        t.values[0].1[i] ^= 0x01;
        let v = state_view::verify_values(&root(ROOT_A), LOCKUP, &t).unwrap();
        assert!(v[0].result.is_err(), "tampered value byte {i} passed");
    }
    assert_eq!(state_view::verify_values(&root(ROOT_A), "Not An Account", &a), Err(StateViewError::BadAccountId));
}

#[test]
fn every_tampered_or_withheld_node_fails_closed() {
    let a = answer("view_state_mainnet_lockup_a.json");
    for n in 0..a.proof.len() {
        for i in 0..a.proof[n].len() {
            let mut t = a.clone();
            t.proof[n][i] ^= 0x80;
            let v = state_view::verify_values(&root(ROOT_A), LOCKUP, &t).unwrap();
            assert!(v[0].result.is_err(), "node {n} byte {i} tampered and still proven");
        }
        let mut w = a.clone();
        w.proof.remove(n);
        let v = state_view::verify_values(&root(ROOT_A), LOCKUP, &w).unwrap();
        assert!(matches!(v[0].result, Err(StateProofError::MissingNode { .. })), "node {n} withheld");
    }
}

#[test]
fn absence_and_withheld_keys_are_caught() {
    let a = answer("view_state_mainnet_lockup_a.json");
    let nodes = ProofNodes::new(a.proof.clone()).unwrap();
    // STATE is the lockup's only key: "STATF" and "STAT" are proven absent by the same nodes.
    for absent in [&b"STATF"[..], b"STAT", b"STATEX"] {
        let key = state_proof::contract_data_key(LOCKUP, absent);
        assert_eq!(state_proof::lookup(&root(ROOT_A), &nodes, &key).unwrap(), None);
    }
    // An answer that drops the value is caught by the completeness check.
    let mut empty = a.clone();
    empty.values.clear();
    assert!(matches!(
        state_view::verify_complete(&root(ROOT_A), LOCKUP, b"STATE", &empty),
        Err(StateViewError::Withheld { .. })
    ));
    // An answer that invents a key under the prefix is caught too.
    let mut extra = a.clone();
    extra.values.push((b"STATE2".to_vec(), b"x".to_vec()));
    assert!(matches!(
        state_view::verify_complete(&root(ROOT_A), LOCKUP, b"STATE", &extra),
        Err(StateViewError::NotInTrie { .. })
    ));
}

#[test]
fn real_testnet_block_chunk_roots_and_header_hash() {
    let b = chunk_roots::parse_block_roots(&data("block_testnet_187310138.json")).unwrap();
    assert_eq!(b.chunks.len(), 6);
    let r = chunk_roots::check_block_roots(&b);
    assert_eq!(r.computed, r.claimed);
    assert_eq!(r.header_hash, HeaderHashCheck::Matches(InnerRestLayout::V5));
    assert!(r.ok());
    let roots: Vec<CryptoHash> = b.chunks.iter().map(|c| c.prev_state_root).collect();
    assert_eq!(chunk_roots::shard_state_root(&b.header_prev_state_root, &roots, 2).unwrap(), roots[2]);
}

#[test]
fn tampered_block_roots_fail() {
    let text = String::from_utf8(data("block_testnet_187310138.json")).unwrap();
    // A different state root for shard 2.
    let t = text.replace("7bSk4ev8EhZFSjb8Zb6ftkEZAUYQdbyPPz2ZkrvjLPuK", "JDHeuYmX4kvsTPKyJYtJTrm7UK3JHTf4rw7hcHXYEfCn");
    let r = chunk_roots::check_block_roots(&chunk_roots::parse_block_roots(t.as_bytes()).unwrap());
    assert_ne!(r.computed, r.claimed);
    assert!(!r.ok());
    // The header's prev_state_root changed (chunks then agree with nothing, and the hash breaks).
    let t = text.replace("AiApSbMNq9kPPEiLLWhFpSrX5HoPToaBXztM9fePX2ap", "cRMk2zd2bWC1oBfGowgMTpqW9L5SNG2FeE72yT1wpQA");
    let r = chunk_roots::check_block_roots(&chunk_roots::parse_block_roots(t.as_bytes()).unwrap());
    assert!(!r.ok());
    assert!(matches!(r.header_hash, HeaderHashCheck::Mismatch(_)));
    // Two chunks swapped (shard order matters).
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["result"]["chunks"].as_array_mut().unwrap().swap(0, 1);
    let r = chunk_roots::check_block_roots(&chunk_roots::block_roots_from_value(v).unwrap());
    assert!(!r.ok());
    // A header stripped of a field is not re-hashed, but the merkle check still runs.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["result"]["header"].as_object_mut().unwrap().remove("random_value");
    let r = chunk_roots::check_block_roots(&chunk_roots::block_roots_from_value(v).unwrap());
    assert!(matches!(r.header_hash, HeaderHashCheck::NotAllFields(_)));
    assert!(r.ok());
    let roots: Vec<CryptoHash> = r.state_roots.iter().map(|c| c.prev_state_root).collect();
    assert!(chunk_roots::shard_state_root(&root(ROOT_A), &roots, 0).is_err());
}

/// The trie builder's memory-usage formula (nearcore's `TRIE_COSTS`) reproduces the real
/// mainnet nodes: the leaf's own figure, and the extension's as its cost plus its child's.
#[test]
fn trie_builder_memory_usage_matches_real_nodes() {
    use std::collections::BTreeMap;
    use tdsigner_near::trie_builder::direct_memory_usage;
    let mut checked = [0usize; 2];
    for file in ["view_state_mainnet_lockup_a.json", "view_state_mainnet_lockup_b.json"] {
        let a = answer(file);
        let by_hash: BTreeMap<CryptoHash, RawTrieNodeWithSize> =
            a.proof.iter().map(|e| (CryptoHash::digest(e), RawTrieNodeWithSize::decode(e).unwrap())).collect();
        for n in by_hash.values() {
            match &n.node {
                RawTrieNode::Leaf { .. } => {
                    assert_eq!(n.memory_usage, direct_memory_usage(&n.node), "{file}: leaf");
                    checked[0] += 1;
                }
                RawTrieNode::Extension { child, .. } => {
                    let c = by_hash.get(child).expect("the extension's child is on the proven path");
                    assert_eq!(n.memory_usage, direct_memory_usage(&n.node) + c.memory_usage, "{file}: extension");
                    checked[1] += 1;
                }
                RawTrieNode::Branch { .. } => {
                    // Only the children on the path are in the proof: at least its own cost.
                    assert!(n.memory_usage >= direct_memory_usage(&n.node));
                }
            }
        }
        // The real leaf re-built from its key and value hashes to the proven root's leaf.
        let (key, value) = &a.values[0];
        let trie_key = state_proof::contract_data_key(LOCKUP, key);
        let leaf = by_hash.values().find(|n| matches!(n.node, RawTrieNode::Leaf { .. })).unwrap();
        let RawTrieNode::Leaf { key: leaf_key, value: vref } = &leaf.node else { unreachable!() };
        assert!(vref.matches(value));
        let (rest, _) = state_proof::decode_hex_prefix(leaf_key).unwrap();
        assert!(state_proof::nibbles(&trie_key).ends_with(&rest));
    }
    assert_eq!(checked, [2, 3], "leaves and extensions checked in the two captures");
}

/// A trie built from the real value, served as a `view_state` answer, verifies with the
/// same code that verifies mainnet's answers; a changed value under the old root does not.
#[test]
fn trie_builder_answers_verify_and_forgeries_do_not() {
    use std::collections::BTreeMap;
    use tdsigner_near::trie_builder::BuiltTrie;
    let real = answer("view_state_mainnet_lockup_a.json");
    let mut entries = BTreeMap::new();
    entries.insert(state_proof::contract_data_key(LOCKUP, b"STATE"), real.values[0].1.clone());
    entries.insert(state_proof::contract_data_key(LOCKUP, b"other"), b"x".to_vec());
    entries.insert(state_proof::account_key(LOCKUP), vec![0; 72]);
    let t = BuiltTrie::new(entries.clone());
    let a = t.view_state(LOCKUP, b"STATE");
    let json = serde_json::json!({
        "values": a.values.iter().map(|(k, v)| serde_json::json!({"key": b64(k), "value": b64(v)})).collect::<Vec<_>>(),
        "proof": a.proof.iter().map(|p| b64(p)).collect::<Vec<_>>(),
    });
    let parsed = state_view::parse_view_state(json.to_string().as_bytes()).unwrap();
    let proven = state_view::verify_complete(&t.root, LOCKUP, b"STATE", &parsed).unwrap();
    assert_eq!(proven.len(), 1);
    let mut forged = entries;
    forged.insert(state_proof::contract_data_key(LOCKUP, b"STATE"), b"forged".to_vec());
    let f = BuiltTrie::new(forged).view_state(LOCKUP, b"STATE");
    assert!(state_view::verify_complete(&t.root, LOCKUP, b"STATE", &f).is_err());
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
