//! An end-to-end cluster: the NEAR chain simulator (in this process, on
//! loopback) and N tdsigner images under QEMU TCG (emulated TDX), wired the way
//! operators wire real nodes — every node reaches the chain only through the
//! simulator's JSON-RPC (light-client verified), and its peers only through
//! mutual TLS between the keys registered on chain.
//!
//! Networking on one host: each QEMU forwards 127.0.0.1:`http_port` → guest
//! 8080 and 127.0.0.1:`p2p_port` → guest 9000; a guest reaches the host's
//! loopback (the simulator, the other nodes' P2P forwards) at 10.0.2.2. So a
//! node's URL on chain is `http://10.0.2.2:<its p2p_port>`.
//!
//! The simulator executes near/mpc's deployed `v1.signer` binary (3.14.1,
//! testnet's; the demo prints its file name and sha256). That contract accepts
//! no Dstack attestation of ours, so the nodes run `attestation=mock-testnet`:
//! they submit `{"Mock":"Valid"}` and the contract does NOT verify their TEE.
//! They act only on contract STATE proven against their light client: the
//! simulator serves `view_state` proofs under its contract shard's chunk root
//! (`contract_state=proven:INDEX/COUNT`, the simulator's shard layout pinned).
//! The simulator's trie holds the contract's storage only (no accounts), and
//! the contract's code hash is a cross-checked view, not proven.
//! The network's flows are signed transactions: the deployer's `init`, each
//! participant operator's `vote_add_domains` (keys the simulator holds), the
//! nodes' own keygen votes.
//!
//! Every QEMU started here is stopped by PID when the cluster is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tdsigner_chain_sim::chain::ChainConfig;
use tdsigner_chain_sim::contract::ContractConfig;
use tdsigner_chain_sim::{ListenConfig, SimConfig, Simulator};
use tdsigner_near::crypto::PublicKey;

use crate::launch::{self, LaunchOptions, Node};

/// The signer contract's account on the simulated chain.
pub const CONTRACT: &str = "v1.signer-sim.test";
/// The user that submits sign requests.
pub const USER: &str = "user.sim.test";
const GUEST_HTTP: u16 = 8080;
const GUEST_P2P: u16 = 9000;

/// How to run the cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub source_root: PathBuf,
    pub image: PathBuf,
    /// Scratch directory for disks and serial logs.
    pub work_dir: PathBuf,
    pub nodes: usize,
    pub threshold: u64,
    pub memory: String,
    pub block_time_ms: u64,
    /// Extra `key=value` tokens for every node's command line (tuning keys; the image
    /// refuses unknown ones).
    pub node_args: Vec<String>,
}

/// One node of the cluster.
pub struct Member {
    pub account: String,
    pub http_port: u16,
    pub p2p_port: u16,
    pub disk: PathBuf,
    pub log: PathBuf,
    pub cmdline: String,
    pub node: Option<Node>,
    pub account_public: Option<[u8; 32]>,
    pub tls_public: Option<[u8; 32]>,
}

/// Blocks a sign request waits on chain for its response (the contract's yield timeout);
/// every node is told the same (`request_max_age_blocks`), or it would give up first.
pub const YIELD_TIMEOUT_BLOCKS: u64 = 600;

/// The running cluster.
pub struct Cluster {
    pub sim: Simulator,
    pub opts: ClusterOptions,
    pub members: Vec<Member>,
    pub sim_port: u16,
    /// The contract's shard (index, count) in the simulator's layout: the nodes' state pin.
    pub contract_shard: (usize, usize),
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn ed25519_from_text(text: &str) -> Option<[u8; 32]> {
    match PublicKey::parse(text).ok()? {
        PublicKey::Ed25519(k) => Some(k),
        PublicKey::Secp256k1(_) => None,
    }
}

impl Cluster {
    /// Starts the simulator (no nodes yet).
    pub fn start_chain(opts: ClusterOptions) -> Result<Cluster, String> {
        let chain = ChainConfig {
            seed: 7,
            validators: 4,
            epoch_length: 30,
            block_time_ms: opts.block_time_ms,
            contract_account: CONTRACT.into(),
            contract: ContractConfig { key_event_timeout_blocks: 600, yield_timeout_blocks: YIELD_TIMEOUT_BLOCKS },
            ..ChainConfig::default()
        };
        let cfg = SimConfig {
            chain,
            listen: vec![ListenConfig { addr: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?, hostile: Vec::new() }],
            auto_produce: true,
            ..SimConfig::default()
        };
        let sim = Simulator::start(cfg).map_err(|e| format!("simulator: {e:?}"))?;
        let sim_port = sim.addrs().first().map(|a| a.port()).ok_or("simulator has no listener")?;
        let contract_shard = sim.with_chain(|c| (c.shard_of(CONTRACT), c.cfg.shards));
        Ok(Cluster { sim, opts, members: Vec::new(), sim_port, contract_shard })
    }

    /// Calls an RPC or admin method on the simulator.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.sim.call(0, method, params).map_err(|e| format!("{method}: {e:?}"))
    }

    /// The light-client trust anchor every node starts from: the head and its
    /// epoch's producers, as `LightClientState` bytes in hex.
    pub fn trust_hex(&self) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = self.call("sim_trusted_start", json!({})) {
                let header = tdsigner_near::view::header_lite_from_value(v["header"].clone()).map_err(|e| format!("{e:?}"))?;
                // Both epochs' producers: nodes ask long after this (boot takes seconds to
                // minutes under TCG), when the chain may be epochs further on.
                let set = |ids: &str, ps: &str| -> Result<tdsigner_near::light_client::EpochProducers, String> {
                    Ok(tdsigner_near::light_client::EpochProducers {
                        epoch_id: tdsigner_near::CryptoHash::from_base58(v[ids].as_str().unwrap_or("")).map_err(|e| format!("{e:?}"))?,
                        producers: tdsigner_near::view::producers_from_value(v[ps].clone()).map_err(|e| format!("{e:?}"))?,
                    })
                };
                let state = tdsigner_near::LightClientState::from_trusted_header_and_next(
                    header,
                    set("epoch_id", "producers")?,
                    set("next_epoch_id", "next_producers")?,
                )
                .map_err(|e| format!("{e:?}"))?;
                return Ok(hex(&state.to_bytes()));
            }
            if Instant::now() > deadline {
                return Err("the simulator has no light-client head".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Prepares member `i` (ports, disk, command line) without starting it.
    pub fn add_member(&mut self, trust_hex: &str) -> Result<usize, String> {
        let i = self.members.len();
        let account = format!("node{i}.tdsigner.test");
        let key = hex(&[i as u8 + 1; 32]);
        let mut cmdline = format!(
            "net=dhcp http={GUEST_HTTP} account={account} key_source=test:{key} contract={CONTRACT} rpc=http://10.0.2.2:{} p2p={GUEST_P2P} trust={trust_hex} request_max_age_blocks={YIELD_TIMEOUT_BLOCKS} attestation=mock-testnet contract_state=proven:{}/{}",
            self.sim_port,
            self.contract_shard.0,
            self.contract_shard.1
        );
        for arg in &self.opts.node_args {
            cmdline.push(' ');
            cmdline.push_str(arg);
        }
        std::fs::create_dir_all(&self.opts.work_dir).map_err(|e| e.to_string())?;
        self.members.push(Member {
            account,
            http_port: free_port()?,
            p2p_port: free_port()?,
            disk: self.opts.work_dir.join(format!("node{i}.disk")),
            log: self.opts.work_dir.join(format!("node{i}.serial.log")),
            cmdline,
            node: None,
            account_public: None,
            tls_public: None,
        });
        Ok(i)
    }

    /// Boots member `i` (its disk persists across restarts).
    pub fn boot(&mut self, i: usize) -> Result<(), String> {
        let m = &self.members[i];
        let opts = LaunchOptions {
            source_root: self.opts.source_root.clone(),
            image: self.opts.image.clone(),
            disk: m.disk.clone(),
            log: m.log.clone(),
            http_port: m.http_port,
            memory: self.opts.memory.clone(),
            cmdline: Some(m.cmdline.clone()),
            p2p_port: Some(m.p2p_port),
        };
        let node = launch::start(&opts)?;
        self.members[i].node = Some(node);
        Ok(())
    }

    /// Waits for member `i`'s /health, then reads its keys from /public_data.
    pub fn wait_ready(&mut self, i: usize, timeout: Duration) -> Result<(), String> {
        let node = self.members[i].node.as_ref().ok_or("not started")?;
        node.wait_for_health(timeout).map_err(|e| format!("node {i}: {e}\n{}", tail(&node.serial(), 15)))?;
        let public = self.public_data(i)?;
        let account = ed25519_from_text(public["node"]["account_public_key"].as_str().unwrap_or(""));
        let tls = ed25519_from_text(public["node"]["tls_public_key"].as_str().unwrap_or(""));
        let m = &mut self.members[i];
        m.account_public = Some(account.ok_or("no account key in /public_data")?);
        m.tls_public = Some(tls.ok_or("no TLS key in /public_data")?);
        Ok(())
    }

    /// Member `i`'s /public_data.
    pub fn public_data(&self, i: usize) -> Result<Value, String> {
        let node = self.members[i].node.as_ref().ok_or("not started")?;
        let r = get_patiently(node.http, "/public_data")?;
        serde_json::from_slice(&r.body).map_err(|e| format!("/public_data: {e}"))
    }

    /// Member `i`'s `/metrics` (Prometheus text). Fetch it once and read
    /// every gauge needed from it with [`gauge`]: the samples then come from
    /// one moment, and a busy guest answers one request, not one per gauge.
    pub fn metrics_text(&self, i: usize) -> Result<String, String> {
        let node = self.members[i].node.as_ref().ok_or("not started")?;
        Ok(get_patiently(node.http, "/metrics")?.text())
    }

    /// Creates member `i`'s account with its key as a function-call key.
    pub fn register(&self, i: usize) -> Result<(), String> {
        let m = &self.members[i];
        let key = m.account_public.ok_or("keys unknown")?;
        // The operator's full-access key (the simulator holds it and signs the operator's
        // votes), then the node's key for contract calls only.
        self.call("sim_create_account", json!({"account_id": m.account}))?;
        self.call(
            "sim_add_key",
            json!({
                "account_id": m.account,
                "public_key": PublicKey::Ed25519(key).to_text(),
                "permission": {"FunctionCall": {"receiver_id": CONTRACT, "method_names": []}},
            }),
        )?;
        Ok(())
    }

    /// The contract binary the simulator runs (file name, version, sha256).
    pub fn contract_binary(&self) -> String {
        self.sim.with_chain(|c| c.runtime.deployed().map(|d| d.description.clone())).unwrap_or_else(|| "the hand-written model".into())
    }

    /// Waits until transaction `tx_hash` of `sender` has executed; `Err` if it failed.
    fn wait_tx(&self, tx_hash: &Value, sender: &str) -> Result<Value, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(v) = self.call("tx", json!({"tx_hash": tx_hash, "sender_account_id": sender, "wait_until": "EXECUTED_OPTIMISTIC"})) {
                if v["status"].get("SuccessValue").is_some() {
                    return Ok(v);
                }
                if v["status"].get("Failure").is_some() {
                    return Err(format!("transaction {tx_hash} of {sender} failed: {}", v["status"]));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("transaction {tx_hash} of {sender} did not execute"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The network's own start: the deployer's signed `init` with members `0..n` and
    /// `threshold` (the contract's rule: t ≥ max(2, ⌈0.6·n⌉)), then `vote_add_domains`
    /// (domain 0, Secp256k1/CaitSith) by every member's operator; the nodes then run keygen.
    pub fn init_contract(&self, n: usize, threshold: u64) -> Result<(), String> {
        let parts: Vec<Value> = (0..n).map(|i| self.participant_json(i)).collect::<Result<_, _>>()?;
        let v = self.call("sim_init_contract", json!({"participants": parts, "threshold": threshold}))?;
        self.wait_tx(&v["tx_hash"], CONTRACT).map_err(|e| format!("init: {e}"))?;
        let domains = json!({"domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": threshold, "purpose": "Sign"}]});
        for m in &self.members[..n] {
            let v = self.call("sim_call", json!({"account_id": m.account, "method": "vote_add_domains", "args": domains}))?;
            self.wait_tx(&v["tx_hash"], &m.account).map_err(|e| format!("vote_add_domains: {e}"))?;
        }
        Ok(())
    }

    /// Member `i` as a contract participant.
    pub fn participant_json(&self, i: usize) -> Result<Value, String> {
        let m = &self.members[i];
        Ok(json!({
            "account_id": m.account,
            "id": i,
            "url": format!("http://10.0.2.2:{}", m.p2p_port),
            "tls_public_key": PublicKey::Ed25519(m.tls_public.ok_or("keys unknown")?).to_text(),
        }))
    }

    /// The contract's state.
    pub fn contract_state(&self) -> Result<Value, String> {
        Ok(self.call("sim_contract_state", json!({}))?["state"].clone())
    }

    /// The contract's root public key, once keygen finished.
    pub fn root_key(&self) -> Option<String> {
        let st = self.contract_state().ok()?;
        let running = st.get("Running").or_else(|| st.get("Resharing").and_then(|r| r.get("previous_running_state")))?;
        running["keyset"]["domains"][0]["key"]["Secp256k1"]["near_public_key"].as_str().map(String::from)
    }

    /// Waits until the contract runs and members `idx` report its key.
    pub fn wait_running(&self, idx: &[usize], timeout: Duration, progress: &dyn Fn(&str)) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let state = self.contract_state()?;
            let phase = state.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
            if phase != last {
                progress(&format!("contract state: {phase}"));
                last = phase;
            }
            if let Some(root) = self.root_key() {
                let ready = idx.iter().all(|&i| {
                    self.public_data(i).ok().and_then(|p| p["signer"]["public_key"].as_str().map(String::from)).as_deref()
                        == Some(root.as_str())
                });
                if ready {
                    return Ok(root);
                }
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = idx
                    .iter()
                    .map(|&i| format!("node {i}:\n{}", self.members[i].node.as_ref().map(|n| tail(&n.serial(), 8)).unwrap_or_default()))
                    .collect();
                return Err(format!("keygen did not finish within {timeout:?}: {state}\n{}", logs.join("\n")));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Creates the user account that submits requests.
    pub fn create_user(&self) -> Result<(), String> {
        self.call("sim_create_account", json!({"account_id": USER})).map(|_| ())
    }

    /// Submits sign request `k` as the user; returns its request id.
    pub fn submit(&self, k: usize) -> Result<String, String> {
        let payload: Vec<u8> = (0..32u8).map(|j| (k as u8).wrapping_mul(31).wrapping_add(j).wrapping_add(1) & 0x7f).collect();
        let v = self.call("sim_sign", json!({"account_id": USER, "path": format!("demo/{k}"), "payload": hex(&payload)}))?;
        v["request_id"].as_str().map(String::from).ok_or_else(|| format!("sim_sign: {v}"))
    }

    /// Every sign request the contract saw.
    pub fn requests(&self) -> Result<Vec<Value>, String> {
        Ok(self.call("sim_requests", json!({}))?["requests"].as_array().cloned().unwrap_or_default())
    }

    /// Waits until every request in `ids` is responded; returns the records.
    pub fn wait_answered(&self, ids: &[String], timeout: Duration) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.requests()?;
            let mine: Vec<Value> = all.iter().filter(|r| ids.iter().any(|i| r["request_id"] == *i)).cloned().collect();
            if let Some(t) = mine.iter().find(|r| r["status"] == "timed_out") {
                return Err(format!("request timed out on chain: {t}"));
            }
            if mine.len() == ids.len() && mine.iter().all(|r| r["status"] == "responded") {
                return Ok(mine);
            }
            if Instant::now() > deadline {
                let done = mine.iter().filter(|r| r["status"] == "responded").count();
                let logs: Vec<String> = (0..self.members.len())
                    .filter_map(|i| self.members[i].node.as_ref().map(|n| format!("node {i}:\n{}", tail(&n.serial(), 6))))
                    .collect();
                return Err(format!("{done}/{} requests answered within {timeout:?}\n{}", ids.len(), logs.join("\n")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops member `i`'s QEMU (by PID).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut n) = self.members[i].node.take() {
            n.stop();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.stop(i);
        }
    }
}

/// Checks a responded request's signature against the key derived from
/// `root` for its predecessor and path, independently of the nodes (k256).
pub fn verify_response(root: &str, rec: &Value) -> Result<(), String> {
    use k256::elliptic_curve::sec1::FromEncodedPoint;
    use k256::elliptic_curve::PrimeField;
    let pk = tdsigner_tss::near::parse_public_key_string(root).map_err(|e| format!("root key: {e:?}"))?;
    let tweak = tdsigner_tss::near::derive_tweak(
        rec["predecessor"].as_str().unwrap_or(""),
        rec["path"].as_str().unwrap_or(""),
    )
    .map_err(|e| format!("tweak: {e:?}"))?;
    let derived = tdsigner_tss::sign::derived_public_key(&pk, &tweak);
    let payload: [u8; 32] = decode_hex(rec["payload"].as_str().unwrap_or(""))
        .and_then(|v| v.try_into().ok())
        .ok_or("payload is not 32 hex bytes")?;
    let resp = &rec["result"]["response"];
    if resp["scheme"] != "Secp256k1" {
        return Err(format!("unexpected response scheme: {resp}"));
    }
    let r_bytes = decode_hex(resp["big_r"]["affine_point"].as_str().unwrap_or("")).ok_or("big_r not hex")?;
    let enc = k256::EncodedPoint::from_bytes(&r_bytes).map_err(|_| "big_r not a point encoding")?;
    let big_r: k256::AffinePoint =
        Option::from(k256::AffinePoint::from_encoded_point(&enc)).ok_or("big_r not on the curve")?;
    let s_bytes: [u8; 32] = decode_hex(resp["s"]["scalar"].as_str().unwrap_or(""))
        .and_then(|v| v.try_into().ok())
        .ok_or("s is not 32 hex bytes")?;
    let s: k256::Scalar = Option::from(k256::Scalar::from_repr(s_bytes.into())).ok_or("s out of range")?;
    let recovery_id = u8::try_from(resp["recovery_id"].as_u64().unwrap_or(255)).map_err(|_| "bad recovery id")?;
    let sig = tdsigner_tss::FullSignature { big_r, s, recovery_id };
    if !sig.verify(&derived, &payload) {
        return Err("signature does not verify against the derived key".into());
    }
    if sig.recover(&payload) != Some(derived) {
        return Err("recovery id does not recover the derived key".into());
    }
    Ok(())
}

/// GET with a few retries: a busy guest's small TCP stack can refuse or reset a
/// connection now and then (eight TCG guests on two cores did), which is not a failure of
/// the node.
fn get_patiently(addr: std::net::SocketAddr, path: &str) -> Result<crate::http::HttpResponse, String> {
    let mut last = String::new();
    for attempt in 0..5u64 {
        match crate::http::get(addr, path, Duration::from_secs(10)) {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(500 * (attempt + 1)));
    }
    Err(format!("GET {path} failed 5 times, last: {last}"))
}

/// The value of gauge `name` in a Prometheus text: the first unlabelled
/// sample line `name VALUE [TIMESTAMP]`, VALUE a non-negative integer (what
/// the image exports). `None` if there is no such line or its value is not an
/// integer.
pub fn gauge(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The last `n` lines of a serial log.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What the demo measured.
#[derive(Clone, Debug)]
pub struct DemoSummary {
    pub requests: usize,
    pub signed: usize,
    pub verified: usize,
    pub latencies_ms: Vec<u64>,
    pub keygen_ms: u64,
    pub ready_ms: u64,
    /// First submission to last verified response.
    pub signing_window_ms: u64,
    pub rss_kib: Vec<Option<u64>>,
    /// Each node's kernel-heap high-water mark (`tdsigner_heap_peak_bytes`) and heap size.
    pub heap: Vec<Option<(u64, u64)>>,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

impl DemoSummary {
    /// The summary table.
    pub fn table(&self) -> String {
        let mut l = self.latencies_ms.clone();
        l.sort_unstable();
        let rss: Vec<String> = self
            .rss_kib
            .iter()
            .enumerate()
            .map(|(i, r)| format!("node{i} {}", r.map_or("-".to_string(), |k| format!("{} MiB", k / 1024))))
            .collect();
        let heap: Vec<String> = self
            .heap
            .iter()
            .enumerate()
            .map(|(i, h)| {
                format!("node{i} {}", h.map_or("-".to_string(), |(peak, size)| format!("{:.1}/{} MiB", peak as f64 / 1048576.0, size >> 20)))
            })
            .collect();
        let per_s = if self.signing_window_ms == 0 { 0.0 } else { self.verified as f64 * 1000.0 / self.signing_window_ms as f64 };
        format!(
            "platform: emulated TDX (QEMU TCG, emulated quotes); not a hardware measurement\n\
             | requests | signed | verified | signatures/s | p50 latency | p95 latency | nodes ready | keygen |\n\
             |---|---|---|---|---|---|---|---|\n\
             | {} | {} | {} | {:.3} | {} ms | {} ms | {:.1} s | {:.1} s |\n\
             QEMU RSS: {}\n\
             kernel heap peak/size: {}",
            self.requests,
            self.signed,
            self.verified,
            per_s,
            percentile(&l, 0.5),
            percentile(&l, 0.95),
            self.ready_ms as f64 / 1000.0,
            self.keygen_ms as f64 / 1000.0,
            rss.join(", "),
            heap.join(", ")
        )
    }
}

/// Runs the demo: N nodes, keygen, K requests, every signature verified.
pub fn run_demo(opts: ClusterOptions, requests: usize, progress: &dyn Fn(&str), stop: &dyn Fn() -> bool) -> Result<DemoSummary, String> {
    let start = Instant::now();
    let n = opts.nodes;
    let threshold = opts.threshold;
    let mut cluster = Cluster::start_chain(opts)?;
    progress(&format!("chain simulator on 127.0.0.1:{} (contract {CONTRACT}: {})", cluster.sim_port, cluster.contract_binary()));
    progress("nodes run attestation=mock-testnet: the contract does NOT verify their TEE (EMULATED TDX)");
    progress(&format!(
        "nodes act on contract STATE proven against their light client (view_state proofs under shard {} of {}'s chunk root; the code hash is a cross-checked view, not proven)",
        cluster.contract_shard.0, cluster.contract_shard.1
    ));
    let trust = cluster.trust_hex()?;
    for _ in 0..n {
        cluster.add_member(&trust)?;
    }
    for i in 0..n {
        cluster.boot(i)?;
        let m = &cluster.members[i];
        progress(&format!(
            "node{i}: qemu pid {} (http 127.0.0.1:{}, p2p 127.0.0.1:{}, serial {})",
            m.node.as_ref().map_or(0, |n| n.pid),
            m.http_port,
            m.p2p_port,
            m.log.display()
        ));
    }
    for i in 0..n {
        cluster.wait_ready(i, Duration::from_secs(180))?;
        cluster.register(i)?;
        if stop() {
            return Err("interrupted".into());
        }
    }
    let ready_ms = start.elapsed().as_millis() as u64;
    progress(&format!("{n} nodes booted and registered after {:.1} s", ready_ms as f64 / 1000.0));
    cluster.init_contract(n, threshold)?;
    progress(&format!("contract initialised with {n} participants, threshold {threshold}, domain 0 voted in by every participant: keygen"));
    let keygen_start = Instant::now();
    let root = cluster.wait_running(&(0..n).collect::<Vec<_>>(), Duration::from_secs(600), progress)?;
    let keygen_ms = keygen_start.elapsed().as_millis() as u64;
    progress(&format!("keygen done in {:.1} s: root key {root}", keygen_ms as f64 / 1000.0));

    cluster.create_user()?;
    let mut submitted: Vec<(String, Instant)> = Vec::new();
    let signing_start = Instant::now();
    for k in 0..requests {
        submitted.push((cluster.submit(k)?, Instant::now()));
    }
    progress(&format!("{requests} sign requests submitted by {USER}"));
    let mut latencies = vec![None; requests];
    let mut verified = 0;
    // The contract decides when a request has failed (its yield timeout); wait that long plus
    // a margin for the last blocks to be produced and read.
    let block_time_ms = cluster.opts.block_time_ms;
    let deadline = Instant::now() + Duration::from_millis(YIELD_TIMEOUT_BLOCKS * block_time_ms) + Duration::from_secs(60);
    while latencies.iter().any(Option::is_none) {
        if stop() {
            return Err("interrupted".into());
        }
        let all = cluster.requests()?;
        for (k, (id, at)) in submitted.iter().enumerate() {
            if latencies[k].is_some() {
                continue;
            }
            if let Some(rec) = all.iter().find(|r| r["request_id"] == *id) {
                match rec["status"].as_str() {
                    Some("responded") => {
                        latencies[k] = Some(at.elapsed().as_millis() as u64);
                        verify_response(&root, rec).map_err(|e| format!("request {id}: {e}"))?;
                        verified += 1;
                        progress(&format!("request {k} signed in {} ms, signature verified", latencies[k].unwrap_or(0)));
                    }
                    Some("timed_out") => return Err(format!("request {id} timed out on chain")),
                    _ => {}
                }
            }
        }
        if Instant::now() > deadline {
            let done = latencies.iter().filter(|l| l.is_some()).count();
            return Err(format!("only {done}/{requests} requests answered in time"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let signing_window_ms = signing_start.elapsed().as_millis() as u64;
    let rss_kib = cluster.members.iter().map(|m| m.node.as_ref().and_then(Node::rss_kib)).collect();
    let heap = (0..n)
        .map(|i| {
            let text = cluster.metrics_text(i).ok()?;
            Some((gauge(&text, "tdsigner_heap_peak_bytes")?, gauge(&text, "tdsigner_heap_bytes")?))
        })
        .collect();
    Ok(DemoSummary {
        signing_window_ms,
        requests,
        signed: latencies.iter().filter(|l| l.is_some()).count(),
        verified,
        latencies_ms: latencies.into_iter().flatten().collect(),
        keygen_ms,
        ready_ms,
        rss_kib,
        heap,
    })
}

/// Default scratch directory for a cluster under the source tree.
pub fn default_work_dir(root: &Path) -> PathBuf {
    root.join("out/cluster")
}

#[cfg(test)]
mod tests {
    use super::gauge;

    const METRICS: &str = "# HELP tdsigner_heap_bytes Kernel heap size.\n\
        # TYPE tdsigner_heap_bytes gauge\n\
        tdsigner_heap_bytes_peak 7\n\
        tdsigner_heap_bytes 67108864\n\
        tdsigner_heap_in_use_bytes 1048576 1700000000000\n\
        tdsigner_requests{kind=\"sign\"} 3\n\
        tdsigner_bad -1\n\
        tdsigner_float 1.5\n\
        tdsigner_empty \n";

    #[test]
    fn gauge_reads_the_named_unlabelled_sample() {
        // Present; a longer name sharing the prefix (listed first) is not taken for it.
        assert_eq!(gauge(METRICS, "tdsigner_heap_bytes"), Some(67_108_864));
        assert_eq!(gauge(METRICS, "tdsigner_heap_bytes_peak"), Some(7));
        // An optional timestamp after the value is ignored.
        assert_eq!(gauge(METRICS, "tdsigner_heap_in_use_bytes"), Some(1_048_576));
        // Absent, or a prefix of a present name only, or only as a labelled sample.
        assert_eq!(gauge(METRICS, "tdsigner_heap_peak_bytes"), None);
        assert_eq!(gauge(METRICS, "tdsigner_heap"), None);
        assert_eq!(gauge(METRICS, "tdsigner_requests"), None);
        assert_eq!(gauge("", "tdsigner_heap_bytes"), None);
        // Malformed values.
        assert_eq!(gauge(METRICS, "tdsigner_bad"), None);
        assert_eq!(gauge(METRICS, "tdsigner_float"), None);
        assert_eq!(gauge(METRICS, "tdsigner_empty"), None);
    }
}
