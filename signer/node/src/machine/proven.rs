//! The signer contract's state, proven: the `STATE` value of the contract's storage, checked
//! by a nearcore trie proof against the state root of the contract's shard at the
//! light-client head, and decoded with the 3.14 layout ([`super::state_borsh`]).
//!
//! The chain of trust, per read:
//! 1. the light-client head `H` is verified (signatures of the epoch's producers); its
//!    `inner_lite.prev_state_root` is the merkle root of the `prev_state_root`s of `H`'s chunks;
//! 2. `block H` (any endpoint) gives those chunk roots; they must merklize to the verified value
//!    and there must be exactly the pinned number of shards; the pinned shard index selects the
//!    contract's shard root (the chunk list's order is shard order and is fixed by the merkle
//!    root; shard ids in the answer are not trusted);
//! 3. `query view_state` with `include_proof` at `H`'s parent (a chunk of `H` carries the state
//!    root its parent block's execution produced) must prove the `STATE` value under that root.
//!
//! A liar can withhold (the node then keeps its last proven state and says why) but cannot
//! make a forged state verify. If `H`'s chunk for the shard was missed, its root is an older one
//! and the proof fails: the next head is tried (liveness only).
//!
//! **The contract's code is not proven.** Its account record (`code_hash`) lives in the same
//! trie, but no standard RPC method returns a proof for it: `view_account`, `view_code` and
//! `view_access_key` have no `include_proof` in nearcore's `query`, and a `view_state` proof
//! only covers the nodes on the way to `9 ‖ account ‖ ','`, which part from the account
//! record's path (`0 ‖ account`) below the root. So the node pins the code hashes of the
//! layouts it decodes (measured config) and asks every endpoint (`view_account`, quorum as for
//! views) which code runs: an endpoint naming another hash stops the node from acting, naming
//! it. A lying endpoint can claim a pinned hash for an upgraded contract; the strict decoder is
//! then the remaining guard. Closing this needs an RPC that proves trie keys (nearcore
//! `EXPERIMENTAL_` methods offer none for accounts), or the contract publishing its own version
//! in storage.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde_json::{json, Value};
use tdsigner_near::chunk_roots::{block_roots_from_value, shard_state_root};
use tdsigner_near::state_proof::{self, ProofNodes};
use tdsigner_near::state_view::{view_state_from_value, ViewStateAnswer};
use tdsigner_near::CryptoHash;
use tdsigner_store::BlockDevice;

use super::contract::ContractState;
use super::env::Env;
use super::node::Node;
use super::state_borsh::{decode_state, StateDecodeError};

/// The storage key near-sdk keeps a contract's state under.
pub const STATE_KEY: &[u8] = b"STATE";

/// Code hashes (sha256 of the wasm) of the releases whose `STATE` layout the node decodes:
/// near/mpc 3.14.0 (mainnet `v1.signer`) and 3.14.1 (testnet), the binaries in
/// `shared/fixtures/near-mpc/contracts`.
pub const KNOWN_CODE_HASHES: [[u8; 32]; 2] = [
    hex32(b"c64ecba185096c6a52aad8477a2a1e6eecd74c8350328bedf5a60ee738807422"),
    hex32(b"d1e760b1056232e3853d214b301c7d82d8e8911f9bf22078d3c8da00d61f636b"),
];

const fn hex32(s: &[u8; 64]) -> [u8; 32] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not lower-case hex"),
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nib(s[2 * i]) << 4) | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// Where the node's contract state comes from (measured config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractStateSource {
    /// Proven against the light client, under the pinned shard layout and code hashes.
    Proven(StatePin),
    /// The `state` view, cross-checked across endpoints but NOT proven. Only for simulators
    /// that cannot serve proofs yet; every status says so.
    UnprovenViews,
}

impl ContractStateSource {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Proven(_) => "proven",
            Self::UnprovenViews => "unproven-views",
        }
    }
}

/// The shard layout in force and the contract code, as pinned in config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatePin {
    /// Position of the contract's shard in the block's chunk list (shard order).
    pub shard_index: usize,
    /// Number of shards of the layout; a block with another count is refused (a resharing of
    /// the chain needs a new pin).
    pub shard_count: usize,
    /// Accepted `code_hash`es of the contract account (empty: not checked).
    pub code_hashes: Vec<CryptoHash>,
}

impl Default for StatePin {
    fn default() -> Self {
        StatePin { shard_index: 0, shard_count: 1, code_hashes: KNOWN_CODE_HASHES.iter().map(|h| CryptoHash(*h)).collect() }
    }
}

/// Why no proven state was obtained this time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvenStateError {
    /// No endpoint gave a block whose chunk roots match the verified head.
    ShardRoot(String),
    /// No endpoint gave a `view_state` answer proving `STATE`.
    Proof(String),
    /// The trie proves the contract has no `STATE`.
    NoState,
    /// An endpoint reports a contract code the node does not know the layout of.
    UnknownCodeHash(CryptoHash),
    /// The endpoints did not agree on (or did not tell) the code hash.
    CodeHash(String),
    Decode(StateDecodeError),
}

impl fmt::Display for ProvenStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShardRoot(e) => write!(f, "contract shard root not proven: {e}"),
            Self::Proof(e) => write!(f, "contract STATE not proven: {e}"),
            Self::NoState => f.write_str("the trie proves the contract has no STATE"),
            Self::UnknownCodeHash(h) => {
                write!(f, "contract code hash {h} is not a pinned release (3.14.0/3.14.1 layout): not acting on its state")
            }
            Self::CodeHash(e) => write!(f, "contract code hash unknown: {e}"),
            Self::Decode(e) => write!(f, "{e}"),
        }
    }
}

fn query(id: u64, params: Value) -> tdsigner_near::rpc::request::Request {
    let v = json!({ "jsonrpc": "2.0", "id": id, "method": "query", "params": params });
    tdsigner_near::rpc::request::Request { id, method: "query", body: serde_json::to_vec(&v).unwrap_or_default() }
}

/// `query view_state` of `account_id`'s keys under `prefix`, with proof, at `block`.
pub fn view_state_request(id: u64, account_id: &str, prefix: &[u8], block: &CryptoHash) -> tdsigner_near::rpc::request::Request {
    use base64::Engine;
    let prefix_base64 = base64::engine::general_purpose::STANDARD.encode(prefix);
    query(
        id,
        json!({ "request_type": "view_state", "account_id": account_id, "prefix_base64": prefix_base64,
                "include_proof": true, "block_id": block.to_base58() }),
    )
}

/// `query view_account` at `block` (not provable: a hint).
pub fn view_account_request(id: u64, account_id: &str, block: &CryptoHash) -> tdsigner_near::rpc::request::Request {
    query(id, json!({ "request_type": "view_account", "account_id": account_id, "block_id": block.to_base58() }))
}

/// The `STATE` value proven by `answer` under `root`: `Ok(None)` if proven absent.
pub fn proven_state_value(root: &CryptoHash, contract_id: &str, answer: &ViewStateAnswer) -> Result<Option<Vec<u8>>, String> {
    if !tdsigner_near::view::is_valid_account_id(contract_id) {
        return Err("invalid contract account id".into());
    }
    let nodes = ProofNodes::new(answer.proof.clone()).map_err(|e| e.to_string())?;
    let key = state_proof::contract_data_key(contract_id, STATE_KEY);
    let proven = state_proof::lookup(root, &nodes, &key).map_err(|e| e.to_string())?;
    let listed = answer.values.iter().find(|(k, _)| k.as_slice() == STATE_KEY).map(|(_, v)| v);
    match (proven, listed) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("STATE listed but proven absent".into()),
        (Some(_), None) => Err("STATE withheld".into()),
        (Some(r), Some(v)) if r.matches(v) => Ok(Some(v.clone())),
        (Some(_), Some(_)) => Err("STATE value does not match the trie".into()),
    }
}

impl<D: BlockDevice> Node<D> {
    /// Reads the contract state proven at the light-client head.
    pub(super) fn proven_contract_state<E: Env + ?Sized>(&mut self, env: &mut E, pin: &StatePin) -> Result<ContractState, ProvenStateError> {
        let head = self.lc.head().clone();
        let head_hash = head.hash();
        let verified_root = head.inner_lite.prev_state_root;
        let req = tdsigner_near::rpc::request::block_by_hash(self.rpc.id(), &head_hash);
        let shard_root = self
            .rpc
            .call_with(env, &req, |v| {
                let b = block_roots_from_value(v).map_err(|e| e.to_string())?;
                if b.chunks.len() != pin.shard_count {
                    return Err(alloc::format!("{} shards, pinned layout has {}", b.chunks.len(), pin.shard_count));
                }
                let roots: Vec<CryptoHash> = b.chunks.iter().map(|c| c.prev_state_root).collect();
                shard_state_root(&verified_root, &roots, pin.shard_index).map_err(|e| e.to_string())
            })
            .map_err(|e| ProvenStateError::ShardRoot(super::rpc::describe(&e)))?;
        let parent = head.prev_block_hash;
        if !pin.code_hashes.is_empty() {
            let req = view_account_request(self.rpc.id(), &self.cfg.contract_id, &parent);
            let hash = self
                .rpc
                .cross_check(env, &req, self.cfg.view_quorum, &self.cfg.views_exclude, |v| v.get("code_hash")?.as_str().map(String::from))
                .map_err(|e| ProvenStateError::CodeHash(super::rpc::describe(&e)))?;
            let hash = CryptoHash::from_base58(&hash).map_err(|_| ProvenStateError::CodeHash("not a hash".into()))?;
            if !pin.code_hashes.contains(&hash) {
                return Err(ProvenStateError::UnknownCodeHash(hash));
            }
        }
        let req = view_state_request(self.rpc.id(), &self.cfg.contract_id, STATE_KEY, &parent);
        let contract = self.cfg.contract_id.clone();
        let value = self
            .rpc
            .call_with(env, &req, |v| {
                let answer = view_state_from_value(v).map_err(|e| e.to_string())?;
                proven_state_value(&shard_root, &contract, &answer)
            })
            .map_err(|e| ProvenStateError::Proof(super::rpc::describe(&e)))?;
        let value = value.ok_or(ProvenStateError::NoState)?;
        decode_state(&value, self.cfg.domain_id).map_err(ProvenStateError::Decode)
    }
}

#[cfg(test)]
mod tests {
    //! The node's contract-state path against a chain whose storage is a real nearcore-format
    //! trie (tdsigner-near's builder, whose proofs are checked against mainnet's in that
    //! crate): what a lying endpoint can and cannot make the node believe.
    use super::*;
    use crate::config::KeySourceConfig;
    use crate::machine::contract::{KeyEvent, KeyEventInstance, Parameters, ParticipantInfo, RunningState};
    use crate::machine::contract::DomainConfig;
    use crate::machine::env::{Attestation, AttestationError, P2pEvent, P2pSendError};
    use crate::machine::state_borsh::encode_state;
    use crate::machine::MachineConfig;
    use crate::test_rng::Rng;
    use alloc::collections::BTreeMap;
    use alloc::vec;
    use tdsigner_near::chunk_roots::state_roots_merkle_root;
    use tdsigner_near::light_client::EpochProducers;
    use tdsigner_near::rpc::stream::{CallError, StreamError};
    use tdsigner_near::state_proof::{account_key, contract_data_key};
    use tdsigner_near::trie_builder::BuiltTrie;
    use tdsigner_near::types::{BlockHeaderLite, InnerLite};
    use tdsigner_near::LightClientState;
    use tdsigner_p2p::{Channel, ParticipantId, ParticipantSet, SessionId};
    use tdsigner_store::device::MemDevice;
    use zeroize::Zeroizing;

    const CONTRACT: &str = "v1.signer.test";
    const ME: &str = "node0.test";

    /// One endpoint's view of the chain: the trie it draws `view_state` answers from, the
    /// chunk roots it reports, the code hash it names.
    #[derive(Clone)]
    struct Endpoint {
        trie: BuiltTrie,
        chunk_roots: Vec<CryptoHash>,
        code_hash: CryptoHash,
    }

    struct Chain {
        endpoints: Vec<Endpoint>,
        head: BlockHeaderLite,
        participants_set: Vec<Option<u32>>,
        sent: usize,
    }

    fn answer(id: &Value, result: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({ "jsonrpc": "2.0", "id": id, "result": result })).unwrap()
    }

    fn b64(b: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    impl Env for Chain {
        fn now_ms(&self) -> u64 {
            0
        }
        fn fill_random(&mut self, out: &mut [u8]) {
            out.fill(7);
        }
        fn rpc_endpoints(&self) -> usize {
            self.endpoints.len()
        }
        fn rpc(&mut self, endpoint: usize, body: &[u8]) -> Result<Vec<u8>, CallError> {
            let req: Value = serde_json::from_slice(body).unwrap();
            let (id, p) = (&req["id"], &req["params"]);
            let e = &self.endpoints[endpoint];
            match (req["method"].as_str().unwrap(), p["request_type"].as_str()) {
                ("block", _) => {
                    let chunks: Vec<Value> = e
                        .chunk_roots
                        .iter()
                        .enumerate()
                        .map(|(i, r)| json!({ "shard_id": i, "prev_state_root": r.to_base58() }))
                        .collect();
                    let header = json!({ "hash": self.head.hash().to_base58(), "height": self.head.inner_lite.height,
                                          "prev_state_root": self.head.inner_lite.prev_state_root.to_base58() });
                    Ok(answer(id, json!({ "header": header, "chunks": chunks })))
                }
                ("query", Some("view_account")) => Ok(answer(id, json!({ "code_hash": e.code_hash.to_base58() }))),
                ("query", Some("view_state")) => {
                    assert_eq!(p["block_id"], json!(self.head.prev_block_hash.to_base58()), "state read at the head's parent");
                    let a = e.trie.view_state(CONTRACT, STATE_KEY);
                    let values: Vec<Value> = a.values.iter().map(|(k, v)| json!({ "key": b64(k), "value": b64(v) })).collect();
                    let proof: Vec<Value> = a.proof.iter().map(|n| json!(b64(n))).collect();
                    Ok(answer(id, json!({ "values": values, "proof": proof })))
                }
                _ => Err(CallError::Stream(StreamError::Connect)),
            }
        }
        fn p2p_send(&mut self, _: ParticipantId, _: Channel, _: SessionId, _: Vec<u8>) -> Result<(), P2pSendError> {
            self.sent += 1;
            Ok(())
        }
        fn p2p_recv(&mut self) -> Option<P2pEvent> {
            None
        }
        fn set_participants(&mut self, set: Option<(ParticipantId, &ParticipantSet)>) {
            self.participants_set.push(set.map(|(me, _)| me.0));
        }
        fn attestation(&mut self, _: [u8; 64]) -> Result<Attestation, AttestationError> {
            Err(AttestationError::Unavailable)
        }
    }

    fn lc(state_root_merkle: CryptoHash, height: u64) -> LightClientState {
        let inner_lite = InnerLite {
            height,
            epoch_id: CryptoHash([1; 32]),
            next_epoch_id: CryptoHash([2; 32]),
            prev_state_root: state_root_merkle,
            outcome_root: CryptoHash::default(),
            timestamp: 1,
            next_bp_hash: CryptoHash::default(),
            block_merkle_root: CryptoHash::default(),
            chunk_execution_root: None,
        };
        let head = BlockHeaderLite { prev_block_hash: CryptoHash([height as u8; 32]), inner_rest_hash: CryptoHash::default(), inner_lite };
        LightClientState::from_trusted_header(head, EpochProducers { epoch_id: CryptoHash([1; 32]), producers: Vec::new() }).unwrap()
    }

    /// A valid ed25519 point from a seed (the P2P layer refuses non-points).
    fn key(seed: u8) -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key().to_bytes()
    }

    fn participant(account: &str, id: u32, key: [u8; 32]) -> ParticipantInfo {
        ParticipantInfo { account_id: account.into(), id, url: alloc::format!("http://127.0.0.1:{}", 2000 + id), tls_public_key: key }
    }

    fn chain_trie(state: &ContractState) -> BuiltTrie {
        let mut entries = BTreeMap::new();
        entries.insert(contract_data_key(CONTRACT, STATE_KEY), encode_state(state, 0, b"\x00rest of MpcContract"));
        entries.insert(contract_data_key(CONTRACT, b"\x01pending"), b"request".to_vec());
        entries.insert(contract_data_key("other.test", STATE_KEY), b"other contract".to_vec());
        entries.insert(account_key(CONTRACT), vec![1; 72]);
        BuiltTrie::new(entries)
    }

    fn honest(trie: &BuiltTrie) -> Endpoint {
        // Two shards: the contract's is index 1.
        Endpoint { trie: trie.clone(), chunk_roots: vec![CryptoHash([9; 32]), trie.root], code_hash: CryptoHash(KNOWN_CODE_HASHES[1]) }
    }

    fn node_with(lc_state: LightClientState) -> (Node<&'static mut MemDevice>, [u8; 32]) {
        let dev = alloc::boxed::Box::leak(alloc::boxed::Box::new(MemDevice::new(8192)));
        let key = KeySourceConfig::Test(Zeroizing::new([4; 32]));
        let b = crate::bootstrap::bootstrap(dev, &key, ME, &mut Rng(5), &mut |_e: &tdsigner_store::RuntimeEvent| Ok::<(), &str>(()))
            .unwrap();
        let mut cfg = MachineConfig::new(ME.into(), CONTRACT.into());
        cfg.contract_state = ContractStateSource::Proven(StatePin { shard_index: 1, shard_count: 2, ..StatePin::default() });
        let empty = Chain { endpoints: Vec::new(), head: lc_state.head().clone(), participants_set: Vec::new(), sent: 0 };
        let mut env = empty;
        let node = Node::new(cfg, b.store, &b.identity, lc_state, &mut env).unwrap();
        let tls = node.tls_public;
        (node, tls)
    }

    fn running(epoch: u64, members: Vec<ParticipantInfo>, threshold: u64) -> ContractState {
        ContractState::Running(RunningState { keyset_epoch: epoch, root_key: Some([5; 64]), parameters: Parameters { participants: members, threshold } })
    }

    #[test]
    fn proven_state_is_acted_on_and_forged_state_is_not() {
        let (mut node, tls) = node_with(lc(CryptoHash::default(), 100));
        let me = participant(ME, 0, tls);
        let peer = participant("node1.test", 1, key(2));
        let honest_state = running(4, vec![me.clone(), peer.clone()], 2);
        let trie = chain_trie(&honest_state);
        node.lc = lc(state_roots_merkle_root(&[CryptoHash([9; 32]), trie.root]), 100);

        // Attack A: a forged resharing to {this node, attacker} with threshold 1, served with a
        // proof from a trie of the liar's making (its chunk roots claim that trie's root).
        let attacker = participant("attacker.test", 1, key(66));
        let forged_event = KeyEvent {
            epoch_id: 5,
            domain_id: 0,
            domain: DomainConfig { id: 0, protocol: "CaitSith".into(), reconstruction_threshold: 1 },
            parameters: Parameters { participants: vec![me.clone(), attacker.clone()], threshold: 1 },
            instance: Some(KeyEventInstance { attempt_id: 0, started_in: 90, expires_on: 10_000, completed: Vec::new() }),
            next_attempt_id: 1,
        };
        let forged = ContractState::Resharing {
            previous: RunningState { keyset_epoch: 4, root_key: Some([5; 64]), parameters: Parameters { participants: vec![me.clone(), attacker], threshold: 1 } },
            resharing: forged_event,
        };
        let liar_trie = chain_trie(&forged);
        let liar = Endpoint { trie: liar_trie.clone(), chunk_roots: vec![CryptoHash([9; 32]), liar_trie.root], code_hash: CryptoHash(KNOWN_CODE_HASHES[1]) };
        // The same forged trie served against the honest chunk roots (only the proof lies).
        let proof_liar = Endpoint { trie: liar_trie, ..honest(&trie) };
        let mut env = Chain { endpoints: vec![liar.clone(), proof_liar.clone()], head: node.lc.head().clone(), participants_set: Vec::new(), sent: 0 };
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract, None, "a forged state was believed");
        assert!(env.participants_set.is_empty() && env.sent == 0, "the node acted on a forged state");
        assert_eq!(node.metrics.contract_state_unproven, 1);
        assert!(node.contract_proof_note.as_deref().unwrap().contains("not proven"), "{:?}", node.contract_proof_note);
        node.key_events_step(&mut env, 0);
        assert_eq!(env.sent, 0, "a forged resharing was dealt to");

        // With one honest endpoint among liars, the proven state is taken.
        env.endpoints = vec![liar, proof_liar, honest(&trie)];
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract.as_ref(), Some(&honest_state));
        assert_eq!(env.participants_set, vec![Some(0)]);
        assert_eq!(node.contract_proof_note, None);

        // Attack C: a forged Running at a higher epoch without this node, then a proven one.
        let without_me = running(9, vec![peer.clone(), participant("node2.test", 2, key(3))], 2);
        let liar_trie = chain_trie(&without_me);
        env.endpoints = vec![Endpoint { trie: liar_trie, ..honest(&trie) }];
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract.as_ref(), Some(&honest_state), "the last proven state must stay");
        // The chain really moves on (a new verified head whose root commits the new trie).
        let changed = running(5, vec![me, peer, participant("node2.test", 2, key(3))], 2);
        let trie2 = chain_trie(&changed);
        node.lc = lc(state_roots_merkle_root(&[CryptoHash([9; 32]), trie2.root]), 101);
        env.head = node.lc.head().clone();
        env.endpoints = vec![honest(&trie2)];
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract.as_ref(), Some(&changed), "a proven change was not acted upon");
    }

    /// Even proven, a key event whose thresholds are below the contract's floor or below the
    /// running state's is not taken part in (defence in depth), and says why.
    #[test]
    fn proven_events_with_low_thresholds_are_refused() {
        use crate::machine::keys::min_governance_threshold;
        assert_eq!([1, 2, 3, 4, 5, 10].map(min_governance_threshold), [2, 2, 2, 3, 3, 6]);
        let (mut node, tls) = node_with(lc(CryptoHash::default(), 100));
        let members = vec![participant(ME, 0, tls), participant("node1.test", 1, key(2)), participant("node2.test", 2, key(3))];
        let event = |t: u64, rt: u64| KeyEvent {
            epoch_id: 5,
            domain_id: 0,
            domain: DomainConfig { id: 0, protocol: "CaitSith".into(), reconstruction_threshold: rt },
            parameters: Parameters { participants: members.clone(), threshold: t },
            instance: Some(KeyEventInstance { attempt_id: 0, started_in: 90, expires_on: 10_000, completed: Vec::new() }),
            next_attempt_id: 1,
        };
        let previous = RunningState { keyset_epoch: 4, root_key: Some([5; 64]), parameters: Parameters { participants: members.clone(), threshold: 3 } };
        for (state, why) in [
            (ContractState::Initializing { generating: event(1, 1) }, "outside the contract's 2..=3"),
            (ContractState::Initializing { generating: event(2, 3) }, "reconstruction threshold 3 is outside 2..=2"),
            (ContractState::Resharing { previous: previous.clone(), resharing: event(2, 2) }, "below the previous 3"),
        ] {
            let trie = chain_trie(&state);
            node.lc = lc(state_roots_merkle_root(&[CryptoHash([9; 32]), trie.root]), 100);
            let mut env = Chain { endpoints: vec![honest(&trie)], head: node.lc.head().clone(), participants_set: Vec::new(), sent: 0 };
            node.refresh_contract(&mut env, 0);
            assert_eq!(node.contract.as_ref(), Some(&state), "proven state not read");
            node.key_events_step(&mut env, 0);
            assert_eq!(env.sent, 0);
            let note = node.key_event_note.clone().unwrap_or_default();
            assert!(note.contains(why), "{note}");
        }
    }

    #[test]
    fn unknown_code_wrong_layout_and_missing_state_are_refused_by_name() {
        let (mut node, tls) = node_with(lc(CryptoHash::default(), 100));
        let state = running(4, vec![participant(ME, 0, tls)], 1);
        let trie = chain_trie(&state);
        node.lc = lc(state_roots_merkle_root(&[CryptoHash([9; 32]), trie.root]), 100);
        let head = node.lc.head().clone();
        let unknown = CryptoHash([0xab; 32]);
        let mut env = Chain { endpoints: vec![Endpoint { code_hash: unknown, ..honest(&trie) }], head, participants_set: Vec::new(), sent: 0 };
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract, None);
        assert!(node.contract_proof_note.as_deref().unwrap().contains(&unknown.to_string()), "the unknown hash is named");
        // An excluded endpoint (plain HTTP on TDX) is not asked for the code hash, and does
        // not count toward the quorum: with it excluded, the honest one decides.
        env.endpoints = vec![Endpoint { code_hash: unknown, ..honest(&trie) }, honest(&trie)];
        node.cfg.views_exclude = vec![0];
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract.as_ref(), Some(&state));
        node.cfg.view_quorum = 2;
        node.contract = None;
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract, None, "an excluded endpoint counted toward the quorum");
        assert!(node.contract_proof_note.as_deref().unwrap().contains("code hash unknown"), "{:?}", node.contract_proof_note);
        node.cfg.view_quorum = 1;
        node.cfg.views_exclude.clear();
        // A block with another shard count (a resharing of the chain) is not mapped onto the pin.
        env.endpoints = vec![Endpoint { chunk_roots: vec![trie.root], ..honest(&trie) }];
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract, None);
        assert!(node.contract_proof_note.as_deref().unwrap().contains("shard root"));
        // A proven absence of STATE is not "NotInitialized" to act on; it is refused.
        let mut entries = BTreeMap::new();
        entries.insert(account_key(CONTRACT), vec![1; 72]);
        let bare = BuiltTrie::new(entries);
        node.lc = lc(state_roots_merkle_root(&[CryptoHash([9; 32]), bare.root]), 100);
        env.head = node.lc.head().clone();
        env.endpoints = vec![honest(&bare)];
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract_proof_note.as_deref(), Some("the trie proves the contract has no STATE"));
        // The same state served correctly is taken.
        node.lc = lc(state_roots_merkle_root(&[CryptoHash([9; 32]), trie.root]), 100);
        env.head = node.lc.head().clone();
        env.endpoints = vec![honest(&trie)];
        node.refresh_contract(&mut env, 0);
        assert_eq!(node.contract.as_ref(), Some(&state));
    }
}
