//! A cluster harness: the chain simulator in process, N nodes on threads (each its own disk,
//! sealed store, identity and P2P listener), registration of their keys on the simulated
//! chain, and helpers to submit sign requests as a user and check the answers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k256::elliptic_curve::sec1::FromEncodedPoint;
use k256::elliptic_curve::PrimeField;
use serde_json::{json, Value};
use tdsigner_chain_sim::chain::ChainConfig;
use tdsigner_chain_sim::contract::ContractConfig;
use tdsigner_chain_sim::{HostileMode, ListenConfig, SimConfig, Simulator};
use tdsigner_near::crypto::PublicKey;
use tdsigner_near::light_client::EpochProducers;
use tdsigner_near::LightClientState;
use tdsigner_node::config::KeySourceConfig;
use tdsigner_node::machine::host::{HostEnvConfig, HostNode, HostNodeSpec, Snapshot, Tamper};
use tdsigner_node::machine::{Attestation, MachineConfig};
use tdsigner_p2p::ParticipantId;

pub const CONTRACT: &str = "v1.signer-sim.test";
pub const USER: &str = "user.test";

/// Tests in one binary share 2 cores: run clusters one at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A disk directory on tmpfs when there is one (the store flushes on every commit).
pub fn disk_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("tdsigner-node-test").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("temp dir")
}

pub fn sim(block_time_ms: u64, hostile_first: Option<Vec<HostileMode>>) -> Simulator {
    let chain = ChainConfig {
        seed: 7,
        validators: 4,
        epoch_length: 20,
        block_time_ms,
        contract_account: CONTRACT.into(),
        contract: ContractConfig { key_event_timeout_blocks: 120, yield_timeout_blocks: 200 },
        ..ChainConfig::default()
    };
    let mut listen = vec![ListenConfig { addr: SocketAddr::from(([127, 0, 0, 1], 0)), hostile: Vec::new() }];
    if let Some(modes) = hostile_first {
        listen.insert(0, ListenConfig { addr: SocketAddr::from(([127, 0, 0, 1], 0)), hostile: modes });
    }
    let cfg = SimConfig { chain, listen, auto_produce: true, ..SimConfig::default() };
    Simulator::start(cfg).expect("simulator starts")
}

pub fn call(sim: &Simulator, method: &str, params: Value) -> Value {
    // The last listener is always the honest one.
    let honest = sim.addrs().len() - 1;
    sim.call(honest, method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// The light client's trusted start: the simulator's current light-client head with its
/// epoch's and the next epoch's producers (an operator would take these from a source
/// they trust).
pub fn trusted_start(sim: &Simulator) -> LightClientState {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(v) = sim.call(sim.addrs().len() - 1, "sim_trusted_start", json!({})) {
            let header = tdsigner_near::view::header_lite_from_value(v["header"].clone()).expect("header");
            // Both epochs' producers, as the demo does: a node that first asks an epoch or
            // more later must still verify the blocks it is given.
            let set = |ids: &str, ps: &str| EpochProducers {
                epoch_id: tdsigner_near::CryptoHash::from_base58(v[ids].as_str().expect(ids)).expect(ids),
                producers: tdsigner_near::view::producers_from_value(v[ps].clone()).expect(ps),
            };
            return LightClientState::from_trusted_header_and_next(header, set("epoch_id", "producers"), set("next_epoch_id", "next_producers"))
                .expect("trusted state");
        }
        assert!(Instant::now() < deadline, "no light-client head");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Emulated TDX quotes over the node's report_data (the simulator accepts any non-empty
/// quote; the node does not care how the platform makes it).
pub fn emulated_attestation() -> tdsigner_node::machine::host::AttestFn {
    Box::new(|report_data: [u8; 64]| {
        let qe = tdsigner_measure::emulated::EmulatedQuotingEnclave::new()
            .map_err(|e| tdsigner_node::machine::AttestationError::Failed(e.to_string()))?;
        let body = tdsigner_measure::emulated::td_report_body([1; 48], [[2; 48]; 4], report_data);
        let quote = qe.quote(&body).map_err(|e| tdsigner_node::machine::AttestationError::Failed(e.to_string()))?;
        Ok(Attestation { quote, collateral_json: None, tcb_info_json: r#"{"mrtd":"","event_log":[]}"#.into() })
    })
}

pub struct NodeSlot {
    pub account: String,
    pub key_byte: u8,
    pub disk: PathBuf,
    pub addr: Option<SocketAddr>,
    pub node: Option<HostNode>,
    pub account_public: [u8; 32],
    pub tls_public: [u8; 32],
}

pub struct Cluster {
    pub sim: Simulator,
    pub dir: tempfile::TempDir,
    pub urls: Vec<String>,
    pub trusted: LightClientState,
    pub slots: Vec<NodeSlot>,
    pub tune: fn(&mut MachineConfig),
}

pub fn test_config(account: &str) -> MachineConfig {
    let mut c = MachineConfig::new(account.into(), CONTRACT.into());
    c.chain_poll_ms = 200;
    c.contract_poll_ms = 500;
    c.triples_low = 4;
    c.triples_high = 8;
    c.triple_batch = 8;
    c.presignatures_low = 2;
    c.presignatures_high = 4;
    c.protocol_idle_ms = 20_000;
    c.sign_retry_ms = 4_000;
    c.tx_retry_ms = 3_000;
    // The simulator runs near/mpc's deployed 3.14.1 binary, which accepts `{"Mock":"Valid"}`
    // on testnet and no Dstack attestation of ours.
    c.attestation = tdsigner_node::machine::attestation::AttestationMode::MockTestnet;
    // Contract STATE proven against the light client: the simulator serves view_state proofs
    // under its contract shard's chunk root. Its layout (ChainConfig's default shard count,
    // accounts spread by first letter) is pinned as an operator pins mainnet's.
    let shards = ChainConfig::default().shards;
    let shard_index = tdsigner_chain_sim::account::ShardLayout::spread(shards).shard_of(CONTRACT);
    c.contract_state = tdsigner_node::machine::proven::ContractStateSource::Proven(tdsigner_node::machine::proven::StatePin {
        shard_index,
        shard_count: shards,
        ..Default::default()
    });
    c
}

impl Cluster {
    pub fn new(sim: Simulator, n: usize, tune: fn(&mut MachineConfig)) -> Self {
        let urls: Vec<String> = (0..sim.addrs().len()).map(|i| sim.url(i).unwrap()).collect();
        let trusted = trusted_start(&sim);
        let dir = disk_dir();
        let slots = (0..n)
            .map(|i| NodeSlot {
                account: format!("node{i}.test"),
                key_byte: i as u8 + 1,
                disk: dir.path().join(format!("node{i}.disk")),
                addr: None,
                node: None,
                account_public: [0; 32],
                tls_public: [0; 32],
            })
            .collect();
        Cluster { sim, dir, urls, trusted, slots, tune }
    }

    pub fn start_node(&mut self, i: usize, tamper: Option<Tamper>) {
        let slot = &self.slots[i];
        let mut machine = test_config(&slot.account);
        (self.tune)(&mut machine);
        let mut env = HostEnvConfig::new(self.urls.clone());
        env.attest = emulated_attestation();
        env.tamper = tamper;
        if let Some(a) = slot.addr {
            env.p2p_listen = a;
        }
        let spec = HostNodeSpec {
            machine,
            key_source: KeySourceConfig::Test(zeroize::Zeroizing::new([slot.key_byte; 32])),
            disk: slot.disk.clone(),
            disk_sectors: 32 * 1024,
            trusted: self.trusted.clone(),
            env,
        };
        let node = HostNode::spawn(spec);
        let deadline = Instant::now() + Duration::from_secs(20);
        let snap = loop {
            let s = node.snapshot();
            assert!(s.error.is_none(), "node {i}: {:?}", s.error);
            if s.p2p_addr.is_some() {
                break s;
            }
            assert!(Instant::now() < deadline, "node {i} did not boot");
            std::thread::sleep(Duration::from_millis(20));
        };
        let slot = &mut self.slots[i];
        slot.addr = snap.p2p_addr;
        slot.account_public = snap.account_public;
        slot.tls_public = snap.tls_public;
        slot.node = Some(node);
    }

    /// Creates the node's account: an operator key the simulator holds (it signs the
    /// operator's votes, `sim_call`) and the node's key as a function-call key for the contract.
    pub fn register_account(&self, i: usize) {
        let s = &self.slots[i];
        call(&self.sim, "sim_create_account", json!({"account_id": s.account}));
        call(
            &self.sim,
            "sim_add_key",
            json!({
                "account_id": s.account,
                "public_key": PublicKey::Ed25519(s.account_public).to_text(),
                "permission": {"FunctionCall": {"receiver_id": CONTRACT, "method_names": []}},
            }),
        );
    }

    /// A participant's operator calls `method` through a signed transaction.
    pub fn operator_call(&self, i: usize, method: &str, args: Value) -> Value {
        call(&self.sim, "sim_call", json!({"account_id": self.slots[i].account, "method": method, "args": args}))
    }

    /// Waits until `tx_hash` (sent by `sender`) has executed; returns its outcome.
    pub fn wait_tx(&self, tx_hash: &Value, sender: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = self.sim.call(0, "tx", json!({"tx_hash": tx_hash, "sender_account_id": sender, "wait_until": "EXECUTED_OPTIMISTIC"})) {
                if v["status"].get("SuccessValue").is_some() || v["status"].get("Failure").is_some() {
                    return v;
                }
            }
            assert!(Instant::now() < deadline, "transaction {tx_hash} did not execute");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The contract's `init` by its deployer, then `vote_add_domains` (domain 0,
    /// Secp256k1/CaitSith, reconstruction threshold `t`) by every participant `0..n`.
    pub fn init_and_add_domain(&self, n: usize, t: u64) {
        let parts: Vec<Value> = (0..n).map(|i| self.participant_json(i)).collect();
        let v = call(&self.sim, "sim_init_contract", json!({"participants": parts, "threshold": t}));
        let out = self.wait_tx(&v["tx_hash"], CONTRACT);
        assert!(out["status"].get("SuccessValue").is_some(), "init: {out}");
        let domains = json!({"domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": t, "purpose": "Sign"}]});
        for i in 0..n {
            let v = self.operator_call(i, "vote_add_domains", domains.clone());
            let out = self.wait_tx(&v["tx_hash"], &self.slots[i].account);
            assert!(out["status"].get("SuccessValue").is_some(), "vote_add_domains by {i}: {out}");
        }
    }

    /// Resharing to participants `0..n` with threshold `t`: `vote_new_parameters` by each
    /// (the current participants first, as the contract requires).
    pub fn vote_new_parameters(&self, n: usize, t: u64) {
        // The contract refuses proposals naming a participant without a valid attestation:
        // wait until every node's own submission is stored.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let tee = call(&self.sim, "sim_contract_state", json!({}))["tee_accounts"].clone();
            let listed = |a: &str| tee.as_array().is_some_and(|l| l.iter().any(|e| e["account_id"] == a));
            if (0..n).all(|i| listed(&self.slots[i].account)) {
                break;
            }
            assert!(Instant::now() < deadline, "attestations not all stored: {tee}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let state = self.contract_state();
        let epoch = state["Running"]["keyset"]["epoch_id"].as_u64().expect("Running with a keyset");
        let list: Vec<Value> = (0..n)
            .map(|i| {
                let p = self.participant_json(i);
                json!([p["account_id"], p["id"], {"url": p["url"], "tls_public_key": p["tls_public_key"]}])
            })
            .collect();
        let proposal = json!({"parameters": {"participants": {"next_id": n, "participants": list}, "threshold": t}});
        for i in 0..n {
            let v = self.operator_call(i, "vote_new_parameters", json!({"prospective_epoch_id": epoch + 1, "proposal": proposal}));
            let out = self.wait_tx(&v["tx_hash"], &self.slots[i].account);
            assert!(out["status"].get("SuccessValue").is_some(), "vote_new_parameters by {i}: {out}");
        }
    }

    pub fn participant_json(&self, i: usize) -> Value {
        let s = &self.slots[i];
        json!({
            "account_id": s.account,
            "id": i,
            "url": format!("http://{}", s.addr.expect("bound")),
            "tls_public_key": PublicKey::Ed25519(s.tls_public).to_text(),
        })
    }

    /// Boots `n` nodes, registers them, initialises the contract with threshold `t` and
    /// waits for keygen to finish on chain and at every node.
    pub fn start_with_keygen(&mut self, n: usize, t: u64, timeout: Duration) {
        for i in 0..n {
            self.start_node(i, None);
            self.register_account(i);
        }
        self.init_and_add_domain(n, t);
        self.wait_running(&(0..n).collect::<Vec<_>>(), timeout);
    }

    pub fn contract_state(&self) -> Value {
        call(&self.sim, "sim_contract_state", json!({}))["state"].clone()
    }

    pub fn root_key(&self) -> Option<String> {
        let st = self.contract_state();
        let running = st.get("Running").or_else(|| st.get("Resharing").and_then(|r| r.get("previous_running_state")))?;
        running["keyset"]["domains"][0]["key"]["Secp256k1"]["near_public_key"].as_str().map(String::from)
    }

    /// Waits until the contract is Running and nodes `idx` hold the running key.
    pub fn wait_running(&self, idx: &[usize], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.contract_state();
            if st.get("Running").is_some() {
                let root = self.root_key();
                let all = idx.iter().all(|&i| self.snapshot(i).status.public_key == root);
                if all {
                    return;
                }
            }
            if Instant::now() > deadline {
                let snaps: Vec<String> =
                    idx.iter().map(|&i| format!("{i}: {:?} {:?}", self.snapshot(i).status, self.snapshot(i).error)).collect();
                panic!("not running in time: {st}\n{}", snaps.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn snapshot(&self, i: usize) -> Snapshot {
        self.slots[i].node.as_ref().map(HostNode::snapshot).unwrap_or_default()
    }

    pub fn stop_node(&mut self, i: usize) {
        if let Some(n) = self.slots[i].node.take() {
            n.stop();
        }
    }

    pub fn create_user(&self) {
        call(&self.sim, "sim_create_account", json!({"account_id": USER}));
    }

    /// Submits a sign request as the user; returns the request id (base58).
    pub fn submit(&self, k: usize) -> String {
        let mut payload = [0u8; 32];
        for (j, b) in payload.iter_mut().enumerate() {
            *b = (k as u8).wrapping_mul(31).wrapping_add(j as u8).wrapping_add(1) & 0x7f;
        }
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        let v = call(&self.sim, "sim_sign", json!({"account_id": USER, "path": format!("path/{k}"), "payload": hex}));
        v["request_id"].as_str().unwrap().to_string()
    }

    pub fn requests(&self) -> Vec<Value> {
        call(&self.sim, "sim_requests", json!({}))["requests"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until every listed request is answered; returns their records.
    pub fn wait_answered(&self, ids: &[String], timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.requests();
            let mine: Vec<Value> = all.iter().filter(|r| ids.iter().any(|i| r["request_id"] == *i)).cloned().collect();
            let done = mine.iter().filter(|r| r["status"] == "responded").count();
            if done == ids.len() {
                return mine;
            }
            if Instant::now() > deadline {
                let pending: Vec<&Value> = mine.iter().filter(|r| r["status"] != "responded").collect();
                let snaps: Vec<String> = (0..self.slots.len())
                    .filter(|&i| self.slots[i].node.is_some())
                    .map(|i| {
                        let s = self.snapshot(i);
                        format!(
                            "node {i}: {:?}\n  signed {} proven {} aborts {:?} timeouts {:?} started {:?} completed {:?} declines {:?}/{:?} tx {:?}/{:?}",
                            s.status,
                            s.metrics.requests_signed,
                            s.metrics.requests_proven,
                            s.metrics.protocol_aborts,
                            s.metrics.protocol_timeouts,
                            s.metrics.protocols_started,
                            s.metrics.protocols_completed,
                            s.metrics.declines_sent,
                            s.metrics.declines_received,
                            s.metrics.tx_sent,
                            s.metrics.tx_failed
                        )
                    })
                    .collect();
                panic!("{done}/{} answered; pending: {pending:?}\n{}", ids.len(), snaps.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Checks a `responded` record's signature against the key derived from `root`
    /// (`secp256k1:` text) for the record's predecessor and path, independently of the node.
    pub fn verify_record(root: &str, rec: &Value) {
        let pk = tdsigner_tss::near::parse_public_key_string(root).expect("root key");
        let tweak = tdsigner_tss::near::derive_tweak(rec["predecessor"].as_str().unwrap(), rec["path"].as_str().unwrap()).unwrap();
        let derived = tdsigner_tss::sign::derived_public_key(&pk, &tweak);
        let payload: [u8; 32] = hex32(rec["payload"].as_str().unwrap());
        let resp = &rec["result"]["response"];
        assert_eq!(resp["scheme"], "Secp256k1");
        let r_bytes = hex_vec(resp["big_r"]["affine_point"].as_str().unwrap());
        let enc = k256::EncodedPoint::from_bytes(&r_bytes).unwrap();
        let big_r: k256::AffinePoint = Option::from(k256::AffinePoint::from_encoded_point(&enc)).unwrap();
        let s: k256::Scalar = Option::from(k256::Scalar::from_repr(hex32(resp["s"]["scalar"].as_str().unwrap()).into())).unwrap();
        let sig = tdsigner_tss::FullSignature { big_r, s, recovery_id: resp["recovery_id"].as_u64().unwrap() as u8 };
        assert!(sig.verify(&derived, &payload), "signature does not verify against the derived key");
        assert_eq!(sig.recover(&payload), Some(derived), "recovery id does not recover the derived key");
    }

    /// Prints each node's status and main counters (with `TDSIGNER_TEST_VERBOSE=1`).
    pub fn dump(&self, label: &str) {
        if std::env::var_os("TDSIGNER_TEST_VERBOSE").is_none() {
            return;
        }
        eprintln!("== {label}");
        for i in 0..self.slots.len() {
            if self.slots[i].node.is_none() {
                continue;
            }
            let s = self.snapshot(i);
            let m = &s.metrics;
            eprintln!(
                "node {i}: {:?}\n  seen {} proven {} unproven {} signed {} dropped {} lc+{} lc-{} rpc {}/{}/{} refresh {}\n  started {:?}\n  completed {:?}\n  aborts {:?} timeouts {:?}\n  declines sent {:?} recv {:?}\n  tx {:?} failed {:?}\n  p2p in {} out {} early {} dropped {}",
                s.status,
                m.requests_seen,
                m.requests_proven,
                m.requests_unproven,
                m.requests_signed,
                m.requests_dropped,
                m.light_client_advances,
                m.light_client_rejected,
                m.rpc_calls,
                m.rpc_failures,
                m.rpc_rejected,
                m.refreshes_completed,
                m.protocols_started,
                m.protocols_completed,
                m.protocol_aborts,
                m.protocol_timeouts,
                m.declines_sent,
                m.declines_received,
                m.tx_sent,
                m.tx_failed,
                m.p2p_messages_in,
                m.p2p_messages_out,
                m.p2p_early_held,
                m.p2p_early_dropped
            );
        }
    }

    pub fn participant(i: usize) -> ParticipantId {
        ParticipantId(i as u32)
    }
}

pub fn hex_vec(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

pub fn hex32(s: &str) -> [u8; 32] {
    hex_vec(s).try_into().unwrap()
}
