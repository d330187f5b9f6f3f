//! The simulator against the node-side verifier: every answer goes over
//! HTTP through tdsigner-near's client and is checked by tdsigner-near's
//! light client, proof verifier, header re-hashing and sign-request
//! extraction. Blocks are produced on demand so runs are deterministic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::PrimeField;
use serde_json::{json, Value};
use tdsigner_chain_sim::{ChainConfig, HeaderLayout, HostileMode, ListenConfig, SimConfig, Simulator, StartError};
use tdsigner_near::crypto::PublicKey as NearKey;
use tdsigner_near::header::{entropy_for, full_header_from_value, Entropy, HeaderViewError};
use tdsigner_near::light_client::{EpochProducers, HeaderError, LightClientState};
use tdsigner_near::proof::{ProofError, ProvenOutcome};
use tdsigner_near::rpc::http::Limits;
use tdsigner_near::rpc::net::UrlCaller;
use tdsigner_near::rpc::pool::Caller;
use tdsigner_near::rpc::request::{self, AnswerError, Finality, Request};
use tdsigner_near::rpc::stream::CallError;
use tdsigner_near::sign_request::{derive_tweak, sign_request_from_proof, Payload, SignRequest};
use tdsigner_near::tx::{next_nonce, respond_transaction, Action, Secp256k1Response, SignedTransaction, SigningKey, Transaction};
use tdsigner_near::types::LightClientBlock;
use tdsigner_near::view::{execution_proof_from_value, header_lite_from_value, light_client_block_from_value, producers_from_value, ViewError};
use tdsigner_near::CryptoHash;

const CONTRACT: &str = "v1.signer-sim.test";

struct Sim {
    sim: Simulator,
    caller: UrlCaller,
    next_id: u64,
}

/// A node given a trusted header that first asks when the chain is two or more epochs
/// further on (slow boots: eight TCG guests on two cores) is answered with the last block of
/// the header's next epoch. With only the header epoch's producers it can never verify that
/// block (stuck for good, as seen in the 8-node QEMU demo); with the next epoch's producers
/// too it follows.
#[test]
fn a_late_start_from_a_trusted_header_needs_the_next_epochs_producers() {
    let mut s = start(cfg(12), &[]);
    s.produce(4);
    let mut only_current = s.trusted_header_state();
    let mut with_next = s.trusted_header_and_next_state();
    assert_eq!(only_current.head_hash(), with_next.head_hash());
    s.produce(30);
    let first = s.next_block(0, &only_current).expect("a block to follow");
    assert_eq!(first.inner_lite.epoch_id, only_current.head().inner_lite.next_epoch_id, "the answer is in the header's next epoch");
    assert!(only_current.advance(&first).is_err(), "verified a block without its epoch's producers");
    let (advances, epochs) = s.sync(&mut with_next);
    assert!(advances >= 2 && epochs >= 2, "{advances} advances, {epochs} epoch changes");
    let lc_head = s.sim.with_chain(|c| c.light_client_head_index().map(|i| c.blocks()[i].hash));
    assert_eq!(Some(with_next.head_hash().0), lc_head.map(|h| h.0));
    // Persisted and restored with both sets.
    let fresh = s.trusted_header_and_next_state();
    assert_eq!(LightClientState::from_bytes(&fresh.to_bytes()).unwrap(), fresh);
}

fn start(chain: ChainConfig, extra: &[&[HostileMode]]) -> Sim {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut listen = vec![ListenConfig { addr: any, hostile: Vec::new() }];
    listen.extend(extra.iter().map(|m| ListenConfig { addr: any, hostile: m.to_vec() }));
    let n = listen.len();
    let sim = Simulator::start(SimConfig { chain, listen, auto_produce: false, tx_wait_timeout: Duration::from_secs(2), ..SimConfig::default() }).unwrap();
    let urls = (0..n).map(|i| sim.url(i).unwrap()).collect();
    Sim { sim, caller: UrlCaller::new(urls, Duration::from_secs(20), None), next_id: 0 }
}

fn cfg(seed: u64) -> ChainConfig {
    ChainConfig { seed, epoch_length: 8, validators: 5, shards: 4, ..ChainConfig::default() }
}

fn cause(e: &CallError) -> String {
    match e {
        CallError::Answer(AnswerError::View(ViewError::Rpc { name, .. })) => name.clone(),
        other => format!("not an RPC error: {other}"),
    }
}

impl Sim {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn call(&mut self, endpoint: usize, req: Request) -> Result<Value, CallError> {
        self.caller.call(endpoint, &req, Limits::default())
    }

    fn raw(&mut self, endpoint: usize, method: &'static str, params: Value) -> Result<Value, CallError> {
        let id = self.id();
        let body = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).unwrap();
        self.call(endpoint, Request { id, method, body })
    }

    fn admin(&mut self, method: &'static str, params: Value) -> Value {
        self.raw(0, method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn produce(&self, n: u64) {
        self.sim.produce_blocks(n);
    }

    /// A light client started from the simulator's trusted checkpoint: a
    /// light-client block of the previous epoch, whose `next_bps` are the
    /// current producers. Produces blocks until there is one.
    fn trusted_state(&mut self) -> LightClientState {
        loop {
            let t = self.admin("sim_trusted_start", json!({}));
            if !t["light_client_block"].is_null() {
                let b = light_client_block_from_value(t["light_client_block"].clone()).unwrap();
                return LightClientState::from_trusted_block(&b).unwrap();
            }
            self.produce(4);
        }
    }

    /// The other start: the current light-client head with its epoch's producers.
    fn trusted_header_state(&mut self) -> LightClientState {
        let t = self.admin("sim_trusted_start", json!({}));
        let head = header_lite_from_value(t["header"].clone()).unwrap();
        let producers = producers_from_value(t["producers"].clone()).unwrap();
        let epoch_id = CryptoHash::from_base58(t["epoch_id"].as_str().unwrap()).unwrap();
        LightClientState::from_trusted_header(head, EpochProducers { epoch_id, producers }).unwrap()
    }

    /// The current light-client head with the producers of its epoch and the next.
    fn trusted_header_and_next_state(&mut self) -> LightClientState {
        let t = self.admin("sim_trusted_start", json!({}));
        let head = header_lite_from_value(t["header"].clone()).unwrap();
        let set = |ids: &str, ps: &str| EpochProducers {
            epoch_id: CryptoHash::from_base58(t[ids].as_str().unwrap()).unwrap(),
            producers: producers_from_value(t[ps].clone()).unwrap(),
        };
        LightClientState::from_trusted_header_and_next(head, set("epoch_id", "producers"), set("next_epoch_id", "next_producers")).unwrap()
    }

    fn next_block(&mut self, endpoint: usize, state: &LightClientState) -> Option<LightClientBlock> {
        let id = self.id();
        let v = self.call(endpoint, request::next_light_client_block(id, &state.head_hash())).unwrap();
        if v == json!({}) {
            return None;
        }
        Some(light_client_block_from_value(v).unwrap())
    }

    /// Advances `state` as far as the endpoint serves; returns (advances, epoch changes).
    fn sync(&mut self, state: &mut LightClientState) -> (usize, usize) {
        let (mut n, mut epochs) = (0, 0);
        while let Some(b) = self.next_block(0, state) {
            let a = state.advance(&b).unwrap_or_else(|e| panic!("honest block rejected: {e}"));
            n += 1;
            epochs += usize::from(a.epoch_changed);
            assert!(n < 1000);
        }
        (n, epochs)
    }

    fn head_hash(&mut self) -> CryptoHash {
        let v = self.raw(0, "block", json!({"finality": "final"})).unwrap();
        CryptoHash::from_base58(v["header"]["hash"].as_str().unwrap()).unwrap()
    }

    /// A function call signed with tdsigner-near's transaction encoder.
    fn function_call(&mut self, signer: &str, key: &SigningKey, method: &str, args: Value, deposit: u128, gas: u64) -> SignedTransaction {
        let id = self.id();
        let ak = self.call(0, request::view_access_key(id, signer, &key.public_key().to_text(), Finality::Final)).unwrap();
        let (nonce, height) = request::access_key_nonce(&ak).unwrap();
        let block_hash = self.head_hash();
        Transaction {
            signer_id: signer.into(),
            public_key: key.public_key(),
            nonce: next_nonce(height, nonce).unwrap(),
            receiver_id: CONTRACT.into(),
            block_hash,
            actions: vec![Action::FunctionCall { method_name: method.into(), args: serde_json::to_vec(&args).unwrap(), gas, deposit }],
        }
        .sign(key)
        .unwrap()
    }

    /// Sends through `endpoint`, produces blocks, returns the honest tx status.
    fn execute(&mut self, endpoint: usize, st: &SignedTransaction) -> Value {
        let id = self.id();
        self.call(endpoint, request::send_tx(id, &st.to_base64(), "NONE")).unwrap();
        for _ in 0..40 {
            self.produce(1);
            if let Ok(v) = self.raw(0, "tx", json!({"tx_hash": st.hash.to_base58(), "sender_account_id": "x", "wait_until": "NONE"})) {
                if v["status"] != "Started" {
                    return v;
                }
            }
        }
        panic!("transaction {} did not finish", st.hash)
    }

    /// Proves a receipt, re-hashes the headers for its entropy and extracts
    /// the sign request, all through `endpoint`.
    fn prove_sign_request(&mut self, endpoint: usize, state: &mut LightClientState, receipt_id: &CryptoHash) -> (SignRequest, ProvenOutcome, Entropy) {
        // As a node would: wait until the proof's block is strictly below a
        // verified head (nearcore answers NOT_CONFIRMED, "ahead of head", or an
        // empty path for the head itself until then).
        let mut tries = 0;
        let proven = loop {
            tries += 1;
            assert!(tries < 40, "receipt never provable");
            self.produce(2);
            self.sync(state);
            let id = self.id();
            let proof = match self.call(endpoint, request::receipt_proof(id, receipt_id, CONTRACT, &state.head_hash())) {
                Ok(v) => execution_proof_from_value(v).unwrap(),
                Err(e) if ["NOT_CONFIRMED", "INTERNAL_ERROR", "UNKNOWN_TRANSACTION_OR_RECEIPT"].contains(&cause(&e).as_str()) => continue,
                Err(e) => panic!("{e}"),
            };
            if proof.block_proof.is_empty() && proof.block_header_lite.hash() == state.head_hash() {
                continue;
            }
            break proof.verify(&state.block_merkle_root()).unwrap();
        };
        let entropy = self.entropy(endpoint, &proven).unwrap();
        (sign_request_from_proof(&proven, CONTRACT, &entropy).unwrap(), proven, entropy)
    }

    fn entropy(&mut self, endpoint: usize, proven: &ProvenOutcome) -> Result<Entropy, HeaderViewError> {
        let mut headers = Vec::new();
        let mut next = proven.block_hash;
        loop {
            let id = self.id();
            let v = self.call(endpoint, request::block_by_hash(id, &next)).unwrap();
            let h = full_header_from_value(v)?;
            next = h.lite.prev_block_hash;
            headers.push(h);
            match entropy_for(proven, &headers) {
                Err(HeaderViewError::ExecutingBlockNotSupplied) if headers.len() < 50 => continue,
                other => return other,
            }
        }
    }

    /// What a node does to find candidates: scan the chunks of blocks for
    /// `sign` receipts to the contract.
    fn sign_receipts_in_chunks(&mut self, endpoint: usize, from: u64, to: u64) -> Vec<CryptoHash> {
        let mut out = Vec::new();
        for h in from..=to {
            let Ok(b) = self.raw(endpoint, "block", json!({"block_id": h})) else { continue };
            let chunks: Vec<String> = b["chunks"].as_array().unwrap().iter().map(|c| c["chunk_hash"].as_str().unwrap().to_owned()).collect();
            for c in chunks {
                let v = self.raw(endpoint, "chunk", json!({"chunk_id": c})).unwrap();
                for r in v["receipts"].as_array().unwrap() {
                    let is_sign = r["receiver_id"] == CONTRACT && r["receipt"]["Action"]["actions"][0]["FunctionCall"]["method_name"] == "sign";
                    if is_sign {
                        out.push(CryptoHash::from_base58(r["receipt_id"].as_str().unwrap()).unwrap());
                    }
                }
            }
        }
        out
    }
}

/// A test MPC node: account key (function-call key on the contract) and TLS key.
struct Node {
    account: String,
    key: SigningKey,
    tls: SigningKey,
}

fn node(i: u8) -> Node {
    Node { account: format!("node-{i}.sim.test"), key: SigningKey::from_seed(&[i + 1; 32]), tls: SigningKey::from_seed(&[i + 101; 32]) }
}

fn participants(nodes: &[&Node]) -> Value {
    Value::Array(
        nodes
            .iter()
            .map(|n| json!({"account_id": n.account, "url": format!("https://{}:3000", n.account), "tls_public_key": n.tls.public_key().to_text()}))
            .collect(),
    )
}

fn create_node(s: &mut Sim, n: &Node) {
    s.admin(
        "sim_create_account",
        json!({"account_id": n.account, "public_key": n.key.public_key().to_text(), "permission": {"FunctionCall": {"receiver_id": CONTRACT, "method_names": []}}}),
    );
}

/// `submit_participant_info` with `attestation` (`{"Mock": "Valid"}` is what
/// near/mpc's contract accepts on testnet).
fn attest(s: &mut Sim, n: &Node, attestation: Value) -> Value {
    let args = json!({"proposed_participant_attestation": attestation, "tls_public_key": n.tls.public_key().to_text()});
    let st = s.function_call(&n.account, &n.key, "submit_participant_info", args, 0, 300_000_000_000_000);
    s.execute(0, &st)
}

fn root_key() -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::from_slice(&[42u8; 32]).unwrap()
}

fn secp_text(vk: &k256::ecdsa::VerifyingKey) -> String {
    let p = k256::PublicKey::from(vk).to_encoded_point(false);
    let xy: [u8; 64] = p.as_bytes()[1..].try_into().unwrap();
    NearKey::Secp256k1(xy).to_text()
}

/// Signs `payload` with `root + tweak` (what the MPC network would produce).
fn respond_signature(root: &k256::ecdsa::SigningKey, tweak: &[u8; 32], payload: &[u8; 32]) -> Secp256k1Response {
    let t: k256::Scalar = Option::from(k256::Scalar::from_repr((*tweak).into())).unwrap();
    let d = k256::NonZeroScalar::new(*root.as_nonzero_scalar().as_ref() + t).unwrap();
    let key = k256::ecdsa::SigningKey::from(d);
    let (sig, recid) = key.sign_prehash_recoverable(payload).unwrap();
    let mut big_r = [0u8; 33];
    big_r[0] = 2 + (recid.to_byte() & 1);
    big_r[1..].copy_from_slice(&sig.r().to_bytes());
    Secp256k1Response { big_r, s: sig.s().to_bytes().into(), recovery_id: recid.to_byte() }
}

fn status_kind(v: &Value) -> &str {
    match &v["status"] {
        Value::String(s) => s,
        Value::Object(m) => m.keys().next().map(String::as_str).unwrap_or(""),
        _ => "",
    }
}

fn request_status(s: &mut Sim, request_id: &str) -> String {
    let all = s.admin("sim_requests", json!({}));
    all["requests"].as_array().unwrap().iter().find(|r| r["request_id"] == request_id).map(|r| r["status"].as_str().unwrap().to_owned()).unwrap_or_default()
}

/// The deployed contract, Running (the deployer's `init_running` with
/// `root_key()`), three Mock-attested nodes; a user `alice.sim.test` with a generated key.
fn running_setup(s: &mut Sim) -> (Vec<Node>, SigningKey) {
    let nodes: Vec<Node> = (0..3).map(node).collect();
    for n in &nodes {
        create_node(s, n);
    }
    s.admin(
        "sim_init_contract",
        json!({"participants": participants(&nodes.iter().collect::<Vec<_>>()), "threshold": 2, "root_public_key": secp_text(root_key().verifying_key())}),
    );
    let alice = s.admin("sim_create_account", json!({"account_id": "alice.sim.test"}));
    let alice = SigningKey::from_near_secret(alice["secret_key"].as_str().unwrap()).unwrap();
    s.produce(2);
    for n in &nodes {
        let v = attest(s, n, json!({"Mock": "Valid"}));
        assert_eq!(status_kind(&v), "SuccessValue", "{v}");
    }
    assert!(contract_state(s).get("Running").is_some(), "{}", contract_state(s));
    (nodes, alice)
}

#[test]
fn light_client_follows_the_chain_across_epochs() {
    // One validator offline: null approvals, still a quorum.
    let mut s = start(ChainConfig { offline_validators: 1, validators: 6, ..cfg(11) }, &[]);
    s.produce(4);
    let mut state = s.trusted_header_state();
    let (mut advances, mut epochs) = (0, 0);
    for _ in 0..12 {
        s.produce(3);
        let (a, e) = s.sync(&mut state);
        advances += a;
        epochs += e;
    }
    // Fall more than two epochs behind: the stored per-epoch blocks bridge the gap.
    s.produce(30);
    let (a, e) = s.sync(&mut state);
    assert!(a >= 3, "bridged with {a} blocks");
    advances += a;
    epochs += e;
    assert!(epochs >= 6, "{epochs} epoch changes in {advances} advances");
    let lc_head = s.sim.with_chain(|c| c.light_client_head_index().map(|i| c.blocks()[i].hash));
    assert_eq!(Some(state.head_hash().0), lc_head.map(|h| h.0));
    // The persisted state resumes.
    let resumed = LightClientState::from_bytes(&state.to_bytes()).unwrap();
    assert_eq!(resumed, state);
    // The checkpoint start reaches the same head.
    let mut other = s.trusted_state();
    s.sync(&mut other);
    assert_eq!(other.head_hash(), state.head_hash());
}

#[test]
fn sign_request_is_proven_extracted_and_answered() {
    let mut s = start(cfg(21), &[]);
    let (nodes, alice) = running_setup(&mut s);
    let mut state = s.trusted_state();
    s.sync(&mut state);
    let from = s.sim.with_chain(|c| c.head().height());

    let payload = [0x5au8; 32];
    let signed = s.admin("sim_sign", json!({"account_id": "alice.sim.test", "path": "eth/1", "payload": "5a".repeat(32)}));
    s.produce(3);
    let to = s.sim.with_chain(|c| c.head().height());
    let receipt_id = CryptoHash::from_base58(signed["sign_receipt_id"].as_str().unwrap()).unwrap();
    assert_eq!(s.sign_receipts_in_chunks(0, from, to), vec![receipt_id], "a node finds the receipt in chunk answers");

    let (req, proven, entropy) = s.prove_sign_request(0, &mut state, &receipt_id);
    assert_eq!(req.predecessor, "alice.sim.test");
    assert_eq!(req.path, "eth/1");
    assert_eq!(req.payload, Payload::Ecdsa(payload));
    assert_eq!(req.domain_id, 0);
    assert_eq!(req.tweak, derive_tweak("alice.sim.test", "eth/1"));
    assert_eq!(req.request_id.to_base58(), signed["request_id"].as_str().unwrap());
    // The entropy is the random_value of the block that executed the receipt.
    let (exec_hash, exec_random) = s.sim.with_chain(|c| {
        let rec = c.outcome(&tdsigner_chain_sim::hash::Hash(receipt_id.0)).unwrap();
        let b = &c.blocks()[rec.executed_in];
        (b.hash.0, b.rest.random_value.0)
    });
    assert_eq!(entropy.block_hash.0, exec_hash);
    assert_eq!(req.entropy, exec_random);
    assert_ne!(proven.block_hash.0, exec_hash, "the proof names the next block with a chunk");
    assert_eq!(request_status(&mut s, signed["request_id"].as_str().unwrap()), "pending");

    // A wrong signature (the root key, not the derived key) is refused.
    let wrong = respond_signature(&root_key(), &[0u8; 32], &payload);
    let head = s.head_hash();
    let id = s.id();
    let ak = s.call(0, request::view_access_key(id, &nodes[0].account, &nodes[0].key.public_key().to_text(), Finality::Final)).unwrap();
    let (nonce, height) = request::access_key_nonce(&ak).unwrap();
    let tx = respond_transaction(nodes[0].account.clone(), &nodes[0].key, next_nonce(height, nonce).unwrap(), CONTRACT.into(), head, &req, &wrong);
    let v = s.execute(0, &tx.sign(&nodes[0].key).unwrap());
    assert_eq!(status_kind(&v), "Failure");
    assert!(v.to_string().contains("The provided signature is invalid"), "{v}");
    assert_eq!(request_status(&mut s, signed["request_id"].as_str().unwrap()), "pending");

    // A non-participant (the user itself) cannot respond.
    let right = respond_signature(&root_key(), &req.tweak, &payload);
    let args: Value = serde_json::from_slice(&tdsigner_near::tx::respond_args(&req, &right)).unwrap();
    let st = s.function_call("alice.sim.test", &alice, "respond", args, 0, 300_000_000_000_000);
    let v = s.execute(0, &st);
    assert_eq!(status_kind(&v), "Failure", "{v}");
    assert!(v.to_string().contains("attested participant"), "{v}");

    // The right signature from an attested participant resolves the request.
    let id = s.id();
    let ak = s.call(0, request::view_access_key(id, &nodes[1].account, &nodes[1].key.public_key().to_text(), Finality::Final)).unwrap();
    let (nonce, height) = request::access_key_nonce(&ak).unwrap();
    let head = s.head_hash();
    let tx = respond_transaction(nodes[1].account.clone(), &nodes[1].key, next_nonce(height, nonce).unwrap(), CONTRACT.into(), head, &req, &right);
    let st = tx.sign(&nodes[1].key).unwrap();
    let v = s.execute(0, &st);
    assert_eq!(status_kind(&v), "SuccessValue", "{v}");
    assert_eq!(request_status(&mut s, signed["request_id"].as_str().unwrap()), "responded");
    // The user's sign transaction ends with the signature once the yield
    // callback has run (a block later).
    s.produce(2);
    let user = s.raw(0, "tx", json!({"tx_hash": signed["tx_hash"], "sender_account_id": "alice.sim.test"})).unwrap();
    assert_eq!(status_kind(&user), "SuccessValue", "{user}");
    use base64::Engine;
    let returned: Value = serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(user["status"]["SuccessValue"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(returned["scheme"], "Secp256k1");
    assert_eq!(returned["s"]["scalar"], json!(tdsigner_chain_sim::hex::encode(&right.s)));
    // The respond transaction's outcome is provable too.
    s.produce(4);
    s.sync(&mut state);
    let id = s.id();
    let v = s.call(0, request::transaction_proof(id, &st.hash, &nodes[1].account, &state.head_hash())).unwrap();
    execution_proof_from_value(v).unwrap().verify(&state.block_merkle_root()).unwrap();
}

#[test]
fn missing_chunks_and_every_header_layout() {
    let mut gaps = 0;
    for (i, layout) in [HeaderLayout::V4, HeaderLayout::V5, HeaderLayout::V6].into_iter().enumerate() {
        let mut s = start(ChainConfig { header_layout: layout, missing_chunk_percent: 35, shards: 3, ..cfg(31 + i as u64) }, &[]);
        running_setup(&mut s);
        let mut state = s.trusted_state();
        for k in 0..4u8 {
            let signed = s.admin("sim_sign", json!({"account_id": "alice.sim.test", "path": format!("p/{k}"), "payload": format!("{:02x}", k + 1).repeat(32)}));
            s.produce(8);
            let receipt_id = CryptoHash::from_base58(signed["sign_receipt_id"].as_str().unwrap()).unwrap();
            let (req, proven, entropy) = s.prove_sign_request(0, &mut state, &receipt_id);
            assert_eq!(req.path, format!("p/{k}"));
            let (exec_height, exec_random) = s.sim.with_chain(|c| {
                let rec = c.outcome(&tdsigner_chain_sim::hash::Hash(receipt_id.0)).unwrap();
                (c.blocks()[rec.executed_in].height(), c.blocks()[rec.executed_in].rest.random_value.0)
            });
            assert_eq!(entropy.height, exec_height, "{layout:?}");
            assert_eq!(req.entropy, exec_random);
            if proven.block.inner_lite.height > exec_height + 1 {
                gaps += 1;
            }
        }
    }
    assert!(gaps > 0, "some proof had to skip blocks with a missing chunk");
}

#[test]
fn hostile_endpoints_are_caught_by_the_verifier() {
    use HostileMode::*;
    let mut s = start(cfg(41), &[&[ForkedHeaders], &[UnprovenRequests], &[TamperedProofs], &[AlteredEntropy], &[DroppedResponses]]);
    let (nodes, _) = running_setup(&mut s);
    let mut state = s.trusted_state();
    let signed = s.admin("sim_sign", json!({"account_id": "alice.sim.test", "path": "h", "payload": "11".repeat(32)}));
    let receipt_id = CryptoHash::from_base58(signed["sign_receipt_id"].as_str().unwrap()).unwrap();
    s.produce(3);
    let (req, _, _) = s.prove_sign_request(0, &mut state, &receipt_id);

    // forked-headers: every kind of fork is refused and the head stays put.
    s.produce(5);
    let before = state.clone();
    let mut errors = Vec::new();
    for _ in 0..5 {
        let b = s.next_block(1, &state).expect("the fork always answers");
        errors.push(state.verify(&b).expect_err("a forked header was accepted"));
        assert!(state.advance(&b).is_err());
    }
    assert_eq!(state, before);
    assert!(matches!(errors[0], HeaderError::InvalidSignature { .. }), "{errors:?}");
    assert!(matches!(errors[1], HeaderError::InvalidSignature { .. }), "{errors:?}");
    assert!(matches!(errors[2], HeaderError::InsufficientStake { .. }), "{errors:?}");
    assert!(matches!(errors[3], HeaderError::NextBpsMismatch { .. }), "{errors:?}");
    assert!(matches!(errors[4], HeaderError::NotNewer { .. }), "{errors:?}");
    s.sync(&mut state);

    // unproven-requests: fake sign receipts in chunk answers; no proof of them verifies.
    let (from, to) = s.sim.with_chain(|c| (c.head().height() - 4, c.head().height()));
    let fakes = s.sign_receipts_in_chunks(2, from, to);
    assert!(fakes.len() >= 4, "{} fakes", fakes.len());
    let mut proof_errors = Vec::new();
    let mut withheld = 0;
    for fake in fakes.iter().take(8) {
        let id = s.id();
        assert_eq!(cause(&s.call(0, request::receipt_proof(id, fake, CONTRACT, &state.head_hash())).unwrap_err()), "UNKNOWN_TRANSACTION_OR_RECEIPT");
        let id = s.id();
        match s.call(2, request::receipt_proof(id, fake, CONTRACT, &state.head_hash())) {
            Err(e) => {
                assert_eq!(cause(&e), "UNKNOWN_TRANSACTION_OR_RECEIPT");
                withheld += 1;
            }
            Ok(v) => proof_errors.push(execution_proof_from_value(v).unwrap().verify(&state.block_merkle_root()).expect_err("forged proof accepted")),
        }
    }
    assert!(withheld > 0);
    assert!(proof_errors.iter().any(|e| matches!(e, ProofError::OutcomeRootMismatch { .. })), "{proof_errors:?}");
    assert!(proof_errors.iter().any(|e| matches!(e, ProofError::NotUnderHead { .. })), "{proof_errors:?}");
    assert!(proof_errors.iter().any(|e| matches!(e, ProofError::BlockHashMismatch { .. })), "{proof_errors:?}");

    // tampered-proofs: real proofs, altered, never verify; the honest one does.
    for _ in 0..3 {
        let id = s.id();
        let v = s.call(3, request::receipt_proof(id, &receipt_id, CONTRACT, &state.head_hash())).unwrap();
        let e = execution_proof_from_value(v).unwrap().verify(&state.block_merkle_root()).expect_err("tampered proof accepted");
        assert!(matches!(e, ProofError::OutcomeRootMismatch { .. }), "{e:?}");
    }
    let id = s.id();
    let v = s.call(0, request::receipt_proof(id, &receipt_id, CONTRACT, &state.head_hash())).unwrap();
    let proven = execution_proof_from_value(v).unwrap().verify(&state.block_merkle_root()).unwrap();

    // altered-entropy: the header no longer hashes to its block.
    assert!(matches!(s.entropy(4, &proven), Err(HeaderViewError::NoLayoutMatches { .. })));
    assert!(s.entropy(0, &proven).is_ok());

    // dropped-responses: a correct respond "succeeds" but is never included,
    // and its forged transaction proof does not verify.
    let right = respond_signature(&root_key(), &req.tweak, &[0x11; 32]);
    let id = s.id();
    let ak = s.call(0, request::view_access_key(id, &nodes[2].account, &nodes[2].key.public_key().to_text(), Finality::Final)).unwrap();
    let (nonce, height) = request::access_key_nonce(&ak).unwrap();
    let head = s.head_hash();
    let st = respond_transaction(nodes[2].account.clone(), &nodes[2].key, next_nonce(height, nonce).unwrap(), CONTRACT.into(), head, &req, &right).sign(&nodes[2].key).unwrap();
    let id = s.id();
    let lie = s.call(5, request::send_tx(id, &st.to_base64(), "FINAL")).unwrap();
    assert_eq!(status_kind(&lie), "SuccessValue");
    s.produce(6);
    s.sync(&mut state);
    let e = s.raw(0, "tx", json!({"tx_hash": st.hash.to_base58(), "sender_account_id": nodes[2].account})).unwrap_err();
    assert_eq!(cause(&e), "UNKNOWN_TRANSACTION");
    assert_eq!(request_status(&mut s, signed["request_id"].as_str().unwrap()), "pending");
    let id = s.id();
    let forged = s.call(5, request::transaction_proof(id, &st.hash, &nodes[2].account, &state.head_hash())).unwrap();
    assert!(execution_proof_from_value(forged).unwrap().verify(&state.block_merkle_root()).is_err());
    let id = s.id();
    assert_eq!(cause(&s.call(0, request::transaction_proof(id, &st.hash, &nodes[2].account, &state.head_hash())).unwrap_err()), "UNKNOWN_TRANSACTION_OR_RECEIPT");
    // Sent honestly, the same transaction answers the request.
    let v = s.execute(0, &st);
    assert_eq!(status_kind(&v), "SuccessValue", "{v}");
    assert_eq!(request_status(&mut s, signed["request_id"].as_str().unwrap()), "responded");
}

/// Posts a raw body and returns the whole JSON answer (for error shapes).
fn post(addr: SocketAddr, body: &str) -> Value {
    let mut t = TcpStream::connect(addr).unwrap();
    write!(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = Vec::new();
    t.read_to_end(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let (_, json) = text.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(json).unwrap()
}

fn send_raw(addr: SocketAddr, b64: &str) -> Value {
    post(addr, &json!({"jsonrpc": "2.0", "id": 1, "method": "send_tx", "params": {"signed_tx_base64": b64, "wait_until": "NONE"}}).to_string())
}

fn invalid_tx(v: &Value) -> Value {
    assert_eq!(v["error"]["name"], "HANDLER_ERROR", "{v}");
    assert_eq!(v["error"]["cause"]["name"], "INVALID_TRANSACTION", "{v}");
    v["error"]["cause"]["info"]["TxExecutionError"]["InvalidTxError"].clone()
}

#[test]
fn transactions_are_checked_as_near_does() {
    let mut s = start(cfg(51), &[]);
    let (nodes, alice) = running_setup(&mut s);
    let addr = s.sim.addrs()[0];
    let n = &nodes[0];
    let good = s.function_call(&n.account, &n.key, "submit_participant_info", json!({}), 0, 10_000_000_000_000);

    // Malformed input is a parse error.
    let v = send_raw(addr, "!!!");
    assert_eq!(v["error"]["cause"]["name"], "PARSE_ERROR");
    let mut bytes = good.bytes.clone();
    bytes.truncate(bytes.len() - 10);
    use base64::Engine;
    let v = send_raw(addr, &base64::engine::general_purpose::STANDARD.encode(&bytes));
    assert_eq!(v["error"]["cause"]["name"], "PARSE_ERROR");
    assert_eq!(v["error"]["code"], -32700);

    // A flipped signature byte.
    let mut bytes = good.bytes.clone();
    *bytes.last_mut().unwrap() ^= 1;
    assert_eq!(invalid_tx(&send_raw(addr, &base64::engine::general_purpose::STANDARD.encode(&bytes))), json!("InvalidSignature"));

    let head = s.head_hash();
    let height = s.sim.with_chain(|c| c.head().height());
    let mk = |signer: &str, key: &SigningKey, nonce: u64, block_hash: CryptoHash, action: Action| {
        Transaction { signer_id: signer.into(), public_key: key.public_key(), nonce, receiver_id: CONTRACT.into(), block_hash, actions: vec![action] }.sign(key).unwrap()
    };
    let call = |deposit| Action::FunctionCall { method_name: "submit_participant_info".into(), args: b"{}".to_vec(), gas: 10_000_000_000_000, deposit };
    let cur = s.sim.with_chain(|c| c.runtime.accounts[&n.account].keys.values().next().unwrap().nonce);
    let b64 = |st: &SignedTransaction| st.to_base64();
    let cases: Vec<(SignedTransaction, &str)> = vec![
        (mk("nobody.sim.test", &n.key, height * 1_000_000, head, call(0)), "SignerDoesNotExist"),
        (mk(&n.account, &nodes[1].key, height * 1_000_000, head, call(0)), "InvalidAccessKeyError"),
        (mk(&n.account, &n.key, cur, head, call(0)), "InvalidNonce"),
        (mk(&n.account, &n.key, (height + 2) * 1_000_000, head, call(0)), "NonceTooLarge"),
        (mk(&n.account, &n.key, height * 1_000_000 + 7, CryptoHash([9; 32]), call(0)), "Expired"),
        (mk(&n.account, &n.key, height * 1_000_000 + 8, head, call(1)), "DepositWithFunctionCall"),
        (mk(&n.account, &n.key, height * 1_000_000 + 9, head, Action::Transfer { deposit: 1 }), "RequiresFullAccess"),
    ];
    for (st, expected) in cases {
        let e = invalid_tx(&send_raw(addr, &b64(&st)));
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }

    // Contract-level failures are included and fail as receipts.
    let args = json!({"request": {"path": "x", "payload_v2": {"Ecdsa": "01".repeat(32)}, "domain_id": 0}});
    let no_deposit = s.function_call("alice.sim.test", &alice, "sign", args.clone(), 0, 50_000_000_000_000);
    let v = s.execute(0, &no_deposit);
    assert_eq!(status_kind(&v), "Failure");
    assert!(v.to_string().contains("deposit"), "{v}");
    let low_gas = s.function_call("alice.sim.test", &alice, "sign", args.clone(), 1, 5_000_000_000_000);
    let v = s.execute(0, &low_gas);
    assert!(v.to_string().contains("Provided gas is lower than required"), "{v}");
    let bad_payload = json!({"request": {"path": "x", "payload_v2": {"Ecdsa": "ff".repeat(32)}, "domain_id": 0}});
    let st = s.function_call("alice.sim.test", &alice, "sign", bad_payload, 1, 50_000_000_000_000);
    let v = s.execute(0, &st);
    assert_eq!(status_kind(&v), "Failure", "{v}");
    // Failed sign calls still log the request (as near/mpc does) but do not yield.
    let rec = s.sim.with_chain(|c| c.outcome(&tdsigner_chain_sim::hash::Hash(tdsigner_chain_sim::runtime::tx_receipt_id(&tdsigner_chain_sim::hash::Hash(no_deposit.hash.0)).0)).cloned()).unwrap();
    assert_eq!(rec.outcome.logs.len(), 1);
    assert!(matches!(rec.outcome.status, tdsigner_chain_sim::runtime::OutcomeStatus::Failure(_)));
}

/// A participant's function call, executed; panics unless it succeeded.
fn call_ok(s: &mut Sim, n: &Node, method: &str, args: Value) -> Value {
    let st = s.function_call(&n.account, &n.key, method, args, 0, 300_000_000_000_000);
    let v = s.execute(0, &st);
    assert_eq!(status_kind(&v), "SuccessValue", "{method} by {}: {v}", n.account);
    v
}

/// The network's own flows on the deployed binary, all as signed
/// transactions over RPC: the deployer's `init`; Mock attestations;
/// `vote_add_domains` by every participant; keygen (`start_keygen_instance`
/// by the leader, `vote_pk`); resharing by `vote_new_parameters` votes,
/// cancelled by `vote_cancel_resharing`, voted again and completed.
#[test]
fn keygen_then_resharing_by_participant_votes() {
    for version in ["3.14.0", "3.14.1"] {
        keygen_then_resharing_on(version);
    }
}

fn keygen_then_resharing_on(version: &str) {
    let code = tdsigner_chain_sim::chain::ContractKind::parse(version);
    let mut s = start(ChainConfig { contract_code: code, ..cfg(61) }, &[]);
    let binary = s.sim.with_chain(|c| c.runtime.deployed().map(|d| d.description.clone())).unwrap();
    assert!(binary.contains(&format!("({version},")), "{binary}");
    let nodes: Vec<Node> = (0..4).map(node).collect();
    for n in &nodes {
        create_node(&mut s, n);
    }
    let first: Vec<&Node> = nodes[..3].iter().collect();
    let init = s.admin("sim_init_contract", json!({"participants": participants(&first), "threshold": 2}));
    assert_eq!(init["method"], "init", "{init}");
    s.produce(3);
    assert!(contract_state(&mut s).get("Running").is_some(), "{}", contract_state(&mut s));
    // A Dstack attestation without its collateral does not even deserialize.
    let v = attest(&mut s, &nodes[0], json!({"Dstack": {"quote": "c0ffee", "collateral": {}, "tcb_info": {}}}));
    assert_eq!(status_kind(&v), "Failure", "{v}");
    assert!(v.to_string().contains("pck_crl_issuer_chain"), "{v}");
    for n in &nodes {
        assert_eq!(status_kind(&attest(&mut s, n, json!({"Mock": "Valid"}))), "SuccessValue");
    }
    let domains = json!({"domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": 2, "purpose": "Sign"}]});
    for n in &first {
        call_ok(&mut s, n, "vote_add_domains", domains.clone());
    }
    assert!(contract_state(&mut s).get("Initializing").is_some(), "{}", contract_state(&mut s));
    let kid = |epoch: u64, attempt: u64| json!({"key_event_id": {"epoch_id": epoch, "domain_id": 0, "attempt_id": attempt}});
    // Only the leader (lowest id) starts.
    let st = s.function_call(&nodes[1].account, &nodes[1].key, "start_keygen_instance", kid(0, 0), 0, 300_000_000_000_000);
    assert_eq!(status_kind(&s.execute(0, &st)), "Failure");
    call_ok(&mut s, &nodes[0], "start_keygen_instance", kid(0, 0));
    let pk = secp_text(root_key().verifying_key());
    for (i, n) in first.iter().enumerate() {
        let mut args = kid(0, 0);
        args["public_key"] = json!(pk);
        call_ok(&mut s, n, "vote_pk", args);
        let state = contract_state(&mut s);
        assert_eq!(state.get("Running").is_some(), i == 2, "{state}");
    }
    let running = contract_state(&mut s);
    assert_eq!(running["Running"]["keyset"]["domains"][0]["key"]["Secp256k1"]["near_public_key"], json!(pk));

    // Resharing to four participants, threshold 3, by votes. Below the
    // contract's 60 % rule (threshold 2 of 4) the proposal is refused.
    let proposal = |threshold: u64| {
        let list: Vec<Value> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| json!([n.account, i, {"url": format!("https://{}:3000", n.account), "tls_public_key": n.tls.public_key().to_text()}]))
            .collect();
        let parameters = json!({"participants": {"next_id": 4, "participants": list}, "threshold": threshold});
        json!({"prospective_epoch_id": 1, "proposal": {"parameters": parameters}})
    };
    let st = s.function_call(&nodes[0].account, &nodes[0].key, "vote_new_parameters", proposal(2), 0, 300_000_000_000_000);
    assert_eq!(status_kind(&s.execute(0, &st)), "Failure");
    for n in &nodes {
        call_ok(&mut s, n, "vote_new_parameters", proposal(3));
    }
    assert!(contract_state(&mut s).get("Resharing").is_some(), "{}", contract_state(&mut s));
    // Cancelled by a threshold of the old participants, then voted again for epoch 2.
    for n in &first[..2] {
        call_ok(&mut s, n, "vote_cancel_resharing", json!({}));
    }
    let cancelled = contract_state(&mut s);
    assert!(cancelled.get("Running").is_some(), "{cancelled}");
    for n in &nodes {
        let mut p = proposal(3);
        p["prospective_epoch_id"] = json!(2);
        call_ok(&mut s, n, "vote_new_parameters", p);
    }
    assert!(contract_state(&mut s).get("Resharing").is_some(), "{}", contract_state(&mut s));
    call_ok(&mut s, &nodes[0], "start_reshare_instance", kid(2, 0));
    // Requests keep flowing during resharing; the new participant answers.
    s.admin("sim_create_account", json!({"account_id": "bob.sim.test"}));
    let signed = s.admin("sim_sign", json!({"account_id": "bob.sim.test", "path": "r", "payload": "22".repeat(32)}));
    let mut lc = s.trusted_state();
    let receipt_id = CryptoHash::from_base58(signed["sign_receipt_id"].as_str().unwrap()).unwrap();
    let (req, _, _) = s.prove_sign_request(0, &mut lc, &receipt_id);
    assert_eq!(req.request_id.to_base58(), signed["request_id"].as_str().unwrap());
    let right = respond_signature(&root_key(), &req.tweak, &[0x22; 32]);
    let id = s.id();
    let ak = s.call(0, request::view_access_key(id, &nodes[3].account, &nodes[3].key.public_key().to_text(), Finality::Final)).unwrap();
    let (nonce, height) = request::access_key_nonce(&ak).unwrap();
    let head = s.head_hash();
    let tx = respond_transaction(nodes[3].account.clone(), &nodes[3].key, next_nonce(height, nonce).unwrap(), CONTRACT.into(), head, &req, &right);
    let v = s.execute(0, &tx.sign(&nodes[3].key).unwrap());
    assert_eq!(status_kind(&v), "SuccessValue", "{v}");
    for n in &nodes {
        call_ok(&mut s, n, "vote_reshared", kid(2, 0));
    }
    let after = contract_state(&mut s);
    assert_eq!(after["Running"]["keyset"]["epoch_id"], 2, "{after}");
    assert_eq!(after["Running"]["parameters"]["participants"]["participants"].as_array().unwrap().len(), 4);
    assert_eq!(after["Running"]["parameters"]["threshold"], 3);
}

fn contract_state(s: &mut Sim) -> Value {
    let id = s.id();
    let v = s.call(0, request::call_function(id, CONTRACT, "state", b"", Finality::Final)).unwrap();
    serde_json::from_slice(&request::call_function_result(&v).unwrap()).unwrap()
}

#[test]
fn server_refuses_bad_http_and_is_deterministic() {
    let s = start(cfg(71), &[]);
    let addr = s.sim.addrs()[0];
    let raw = |req: &[u8]| {
        let mut t = TcpStream::connect(addr).unwrap();
        t.write_all(req).unwrap();
        let mut out = Vec::new();
        let _ = t.read_to_end(&mut out);
        String::from_utf8_lossy(&out).to_string()
    };
    assert!(raw(b"garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(raw(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n").starts_with("HTTP/1.1 413"));
    assert!(raw(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").starts_with("HTTP/1.1 411"));
    assert!(raw(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{{{").contains("PARSE_ERROR"));
    assert!(raw(b"GET /status HTTP/1.1\r\nConnection: close\r\n\r\n").contains("latest_block_height"));
    let v = post(addr, r#"{"jsonrpc":"2.0","id":"q","method":"no_such_method","params":{}}"#);
    assert_eq!(v["id"], "q");
    assert_eq!(v["error"]["cause"]["name"], "METHOD_NOT_FOUND");
    // Still serving after all that.
    assert!(post(addr, r#"{"jsonrpc":"2.0","id":1,"method":"status","params":[]}"#)["result"]["chain_id"] == "tdsigner-sim");

    // Loopback only.
    let public = SimConfig { listen: vec![ListenConfig { addr: "0.0.0.0:0".parse().unwrap(), hostile: vec![] }], ..SimConfig::default() };
    assert!(matches!(Simulator::start(public), Err(StartError::NotLoopback(_))));

    // Same seed, same chain; another seed, another chain.
    let hashes = |seed| {
        let s = start(cfg(seed), &[]);
        s.produce(20);
        s.sim.with_chain(|c| c.blocks().iter().map(|b| b.hash.0).collect::<Vec<_>>())
    };
    assert_eq!(hashes(5), hashes(5));
    assert_ne!(hashes(5), hashes(6));
}

#[test]
fn runs_as_a_process() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_tdsigner-chain-sim"))
        .args(["--listen", "127.0.0.1:0", "--block-time-ms", "50", "--seed", "3", "--extra-listen", "127.0.0.1:0=forked-headers"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    assert!(second.ends_with("hostile=forked-headers"), "{second}");
    let third = lines.next().unwrap().unwrap();
    assert!(third.starts_with("contract signer-3_14_1.wasm (3.14.1, testnet") && third.contains("sha256=d1e760b1"), "{third}");
    let url = first.split_whitespace().nth(1).unwrap().to_owned();
    let mut caller = UrlCaller::new(vec![url], Duration::from_secs(5), None);
    let height = |c: &mut UrlCaller| {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"status","params":[]}"#.to_vec();
        c.call(0, &Request { id: 1, method: "status", body }, Limits::default()).unwrap()["sync_info"]["latest_block_height"].as_u64().unwrap()
    };
    let h1 = height(&mut caller);
    std::thread::sleep(Duration::from_millis(400));
    let h2 = height(&mut caller);
    let _ = child.kill();
    let _ = child.wait();
    assert!(h2 > h1, "{h1} -> {h2}");
}
