//! Hostile modes: an endpoint that lies. Each listener has its own set of
//! modes (CLI `--hostile`, `--extra-listen ADDR=MODE,…`, or `sim_set_hostile`).
//!
//! - `unproven-requests`: every `chunk` answer carries an extra, well-formed
//!   `sign` receipt to the signer contract that never executed; its
//!   `light_client_proof` is forged, rotating through: an outcome that does
//!   not fold to the real header's `outcome_root`; a fabricated header whose
//!   outcome root matches but which is not under the head's
//!   `block_merkle_root`; the same fabricated header claiming a real block
//!   hash; or no proof at all (an error).
//! - `tampered-proofs`: real `light_client_proof` answers are altered (sign
//!   log path, status, executor), rotating.
//! - `altered-entropy`: `block` answers carry a different `random_value`
//!   (the header's `hash` field is left as it was).
//! - `forked-headers`: `next_light_client_block` answers a fork, rotating
//!   through: approvals by keys that are not the producers'; an altered
//!   `inner_lite` field with the honest approvals; an approval list truncated
//!   below half the stake; `next_bps` swapped for other keys; an old block.
//! - `withheld-head`: `next_light_client_block` always answers `{}` ("nothing
//!   newer"), so a client that trusts it stays at an old head (and an old time).
//! - `dropped-responses`: `send_tx` / `broadcast_tx_*` accept a transaction,
//!   answer a fabricated success, and never include it; `tx` repeats the lie
//!   and `light_client_proof` for it is forged (fabricated header).
//!
//! Lies are deterministic (counters and hashes, no randomness) so tests can
//! expect each kind.

use std::collections::{BTreeSet, HashMap, VecDeque};

use base64::Engine;
use serde_json::{json, Value};

use crate::chain::{Block, Chain, Producer};
use crate::hash::Hash;
use crate::keys::SecretKey;
use crate::rpc::RpcError;
use crate::runtime::{Outcome, OutcomeStatus};
use crate::tx::SignedTransaction;
use crate::view;

/// A way to lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostileMode {
    UnprovenRequests,
    TamperedProofs,
    AlteredEntropy,
    ForkedHeaders,
    DroppedResponses,
    WithheldHead,
}

impl HostileMode {
    pub const ALL: [HostileMode; 6] =
        [Self::UnprovenRequests, Self::TamperedProofs, Self::AlteredEntropy, Self::ForkedHeaders, Self::DroppedResponses, Self::WithheldHead];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::UnprovenRequests => "unproven-requests",
            Self::TamperedProofs => "tampered-proofs",
            Self::AlteredEntropy => "altered-entropy",
            Self::ForkedHeaders => "forked-headers",
            Self::DroppedResponses => "dropped-responses",
            Self::WithheldHead => "withheld-head",
        }
    }
}

/// Kinds of forked light-client blocks, in rotation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkKind {
    ForeignSigners,
    AlteredField,
    TruncatedApprovals,
    SwappedNextBps,
    Replay,
}

pub const FORK_KINDS: [ForkKind; 5] = [ForkKind::ForeignSigners, ForkKind::AlteredField, ForkKind::TruncatedApprovals, ForkKind::SwappedNextBps, ForkKind::Replay];

/// Kinds of forged execution proofs, in rotation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForgeKind {
    UnrootedOutcome,
    FabricatedBlock,
    BlockHashLie,
    Withheld,
}

pub const FORGE_KINDS: [ForgeKind; 4] = [ForgeKind::UnrootedOutcome, ForgeKind::FabricatedBlock, ForgeKind::BlockHashLie, ForgeKind::Withheld];

const MAX_REMEMBERED: usize = 4096;

#[derive(Clone, Debug)]
struct FakeRequest {
    kind: ForgeKind,
    outcome: Outcome,
}

/// Per-listener lying state.
#[derive(Default)]
pub struct HostileState {
    modes: BTreeSet<HostileMode>,
    fork_counter: usize,
    forge_counter: usize,
    tamper_counter: usize,
    fakes: HashMap<Hash, FakeRequest>,
    fake_order: VecDeque<Hash>,
    dropped: HashMap<Hash, SignedTransaction>,
    dropped_order: VecDeque<Hash>,
}

fn forger_key(seed: u64, i: usize) -> SecretKey {
    SecretKey::derive(seed, &format!("forger {i}"))
}

fn b58(h: &Hash) -> Value {
    json!(h.to_base58())
}

impl HostileState {
    pub fn new(modes: &[HostileMode]) -> Self {
        Self { modes: modes.iter().copied().collect(), ..Self::default() }
    }

    pub fn modes(&self) -> Vec<HostileMode> {
        self.modes.iter().copied().collect()
    }

    pub fn set_modes(&mut self, modes: &[HostileMode]) {
        self.modes = modes.iter().copied().collect();
    }

    pub fn is_active(&self) -> bool {
        !self.modes.is_empty()
    }

    fn on(&self, m: HostileMode) -> bool {
        self.modes.contains(&m)
    }

    /// `altered-entropy`: a different `random_value` under the same `hash`.
    pub fn alter_block(&mut self, v: &mut Value) {
        if !self.on(HostileMode::AlteredEntropy) {
            return;
        }
        if let Some(rv) = v.pointer_mut("/header/random_value") {
            let old = rv.as_str().unwrap_or_default().to_owned();
            *rv = b58(&Hash::digest_parts(&[b"forged entropy", old.as_bytes()]));
        }
    }

    /// `forked-headers`: the next lie in rotation, built around the honest
    /// answer (or the light-client head when there is nothing newer).
    pub fn forked_light_client_block(&mut self, chain: &Chain, last: &Hash, honest: Option<usize>) -> Option<Value> {
        if !self.on(HostileMode::ForkedHeaders) {
            return None;
        }
        let kind = FORK_KINDS[self.fork_counter % FORK_KINDS.len()];
        self.fork_counter += 1;
        let f = honest.or_else(|| chain.light_client_head_index())?;
        let lc = chain.light_client_block(f)?;
        let block = chain.block(f)?;
        let mut v = view::light_client_block_json(chain, &lc);
        let seed = chain.cfg.seed;
        match kind {
            ForkKind::ForeignSigners => {
                let next = chain.block(f + 1)?;
                let mut msg = [0u8; 41];
                msg[1..33].copy_from_slice(&next.hash.0);
                msg[33..].copy_from_slice(&(block.height() + 2).to_le_bytes());
                let forged: Vec<Value> = lc
                    .approvals_after_next
                    .iter()
                    .enumerate()
                    .map(|(i, a)| a.map_or(Value::Null, |_| json!(forger_key(seed, i).sign(&msg).to_text())))
                    .collect();
                v["approvals_after_next"] = Value::Array(forged);
            }
            ForkKind::AlteredField => {
                let old = block.lite.prev_state_root;
                v["inner_lite"]["prev_state_root"] = b58(&Hash::digest_parts(&[b"forged state", &old.0]));
            }
            ForkKind::TruncatedApprovals => {
                let producers = chain.producers(block.epoch);
                let total: u128 = producers.iter().map(|p| p.stake).sum();
                let mut kept = Vec::new();
                let mut sum = 0u128;
                for (a, p) in lc.approvals_after_next.iter().zip(&producers) {
                    if sum + p.stake > total / 2 {
                        break;
                    }
                    sum += p.stake;
                    kept.push(a.map_or(Value::Null, |s| json!(s.to_text())));
                }
                v["approvals_after_next"] = Value::Array(kept);
            }
            ForkKind::SwappedNextBps => {
                let swapped: Vec<Producer> = lc
                    .next_bps
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Producer { public_key: forger_key(seed, i).public_key(), ..p.clone() })
                    .collect();
                v["next_bps"] = view::producers_json(&swapped);
            }
            ForkKind::Replay => {
                // The client's own head (or the oldest block that can be rendered).
                let i = chain.index_of(last).unwrap_or(0);
                let lc = chain.light_client_block(i).or_else(|| chain.light_client_block(0))?;
                v = view::light_client_block_json(chain, &lc);
            }
        }
        Some(v)
    }

    /// `unproven-requests`: one fake `sign` receipt per chunk answer.
    pub fn inject_fake_requests(&mut self, chain: &Chain, chunk_hash: &Hash, v: &mut Value) {
        if !self.on(HostileMode::UnprovenRequests) {
            return;
        }
        let id = Hash::digest_parts(&[b"fake-sign-receipt", &chunk_hash.0]);
        let contract = chain.runtime.contract_id.clone();
        let payload = Hash::digest_parts(&[b"fake payload", &id.0]).0.map(|b| b & 0x7f);
        let path = format!("fake/{}", &id.to_base58()[..8]);
        let predecessor = "mallory.sim.test";
        let args = json!({"request": {"path": path, "payload_v2": {"Ecdsa": crate::hex::encode(&payload)}, "domain_id": 0}});
        let receipt = json!({
            "predecessor_id": predecessor,
            "receiver_id": contract,
            "receipt_id": id.to_base58(),
            "receipt": {"Action": {
                "signer_id": predecessor,
                "signer_public_key": forger_key(chain.cfg.seed, 0).public_key().to_text(),
                "gas_price": crate::runtime::GAS_PRICE.to_string(),
                "output_data_receivers": [],
                "input_data_ids": [],
                "actions": [{"FunctionCall": {"method_name": "sign", "args": base64::engine::general_purpose::STANDARD.encode(args.to_string()), "gas": 50_000_000_000_000u64, "deposit": "1"}}],
                "is_promise_yield": false,
            }},
            "priority": 0,
        });
        if let Some(list) = v.get_mut("receipts").and_then(Value::as_array_mut) {
            list.push(receipt);
        }
        if !self.fakes.contains_key(&id) {
            let kind = FORGE_KINDS[self.forge_counter % FORGE_KINDS.len()];
            self.forge_counter += 1;
            let yield_id = Hash::digest_parts(&[b"fake-yield", &id.0]);
            let outcome = Outcome {
                logs: vec![format!(
                    "sign: predecessor=AccountId({predecessor:?}), request=SignRequestArgs {{ path: {path:?}, payload: Ecdsa(BoundedVec {{ inner: {:?}, witness: NonEmpty(()) }}), domain_id: DomainId(0) }}",
                    payload.to_vec()
                )],
                receipt_ids: vec![yield_id],
                gas_burnt: 5_000_000_000_000,
                tokens_burnt: 500_000_000_000_000_000_000,
                executor_id: contract,
                status: OutcomeStatus::SuccessReceiptId(yield_id),
            };
            remember(&mut self.fakes, &mut self.fake_order, id, FakeRequest { kind, outcome });
        }
    }

    /// A forged `light_client_proof` for a fake request or a dropped
    /// transaction; `None` for ids this listener did not make up.
    pub fn forged_execution_proof(&mut self, chain: &Chain, id: &Hash, head: &Hash) -> Option<Result<Value, RpcError>> {
        let (kind, outcome) = if let Some(f) = self.fakes.get(id).filter(|_| self.on(HostileMode::UnprovenRequests)) {
            (f.kind, f.outcome.clone())
        } else if let Some(st) = self.dropped.get(id).filter(|_| self.on(HostileMode::DroppedResponses)) {
            (ForgeKind::FabricatedBlock, fabricated_tx_outcome(st))
        } else {
            return None;
        };
        Some(forge_proof(chain, id, head, kind, &outcome))
    }

    /// `tampered-proofs`: alter a real proof answer.
    pub fn tamper_execution_proof(&mut self, v: &mut Value) {
        if !self.on(HostileMode::TamperedProofs) {
            return;
        }
        let n = self.tamper_counter;
        self.tamper_counter += 1;
        let Some(outcome) = v.pointer_mut("/outcome_proof/outcome") else { return };
        let has_sign_log = outcome.get("logs").and_then(Value::as_array).is_some_and(|l| l.iter().any(|x| x.as_str().is_some_and(|s| s.starts_with("sign: "))));
        match (n % 3, has_sign_log) {
            (0, true) => {
                if let Some(logs) = outcome.get_mut("logs").and_then(Value::as_array_mut) {
                    for l in logs.iter_mut() {
                        if let Some(s) = l.as_str().filter(|s| s.starts_with("sign: ")) {
                            *l = json!(s.replacen("path: \"", "path: \"tampered/", 1));
                        }
                    }
                }
            }
            (1, _) | (0, false) => {
                outcome["status"] = json!({"SuccessReceiptId": Hash::digest(b"tampered status").to_base58()});
            }
            _ => {
                outcome["executor_id"] = json!("tampered.sim.test");
            }
        }
    }

    /// `dropped-responses`: swallow the transaction. `true` = dropped.
    pub fn drop_tx(&mut self, st: &SignedTransaction) -> bool {
        if !self.on(HostileMode::DroppedResponses) {
            return false;
        }
        remember(&mut self.dropped, &mut self.dropped_order, st.hash, st.clone());
        true
    }

    /// The fabricated status of a dropped transaction.
    pub fn dropped_tx_status(&self, hash: &Hash) -> Option<Value> {
        if !self.on(HostileMode::DroppedResponses) {
            return None;
        }
        self.dropped.get(hash).map(|st| fabricated_success(st, "FINAL"))
    }
}

fn remember<V>(map: &mut HashMap<Hash, V>, order: &mut VecDeque<Hash>, k: Hash, v: V) {
    if map.insert(k, v).is_none() {
        order.push_back(k);
        while order.len() > MAX_REMEMBERED {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }
}

fn fabricated_tx_outcome(st: &SignedTransaction) -> Outcome {
    Outcome {
        logs: Vec::new(),
        receipt_ids: Vec::new(),
        gas_burnt: crate::runtime::TX_CONVERSION_GAS,
        tokens_burnt: 0,
        executor_id: st.transaction.signer_id.clone(),
        status: OutcomeStatus::SuccessValue(Vec::new()),
    }
}

/// The answer a lying endpoint gives for a transaction it dropped.
pub fn fabricated_success(st: &SignedTransaction, wait_until: &str) -> Value {
    if wait_until == "NONE" {
        return json!({"final_execution_status": "NONE"});
    }
    let o = fabricated_tx_outcome(st);
    let forged_block = Hash::digest_parts(&[b"dropped", &st.hash.0]);
    json!({
        "status": {"SuccessValue": ""},
        "transaction": view::signed_tx_json(st),
        "transaction_outcome": {"proof": [], "block_hash": forged_block.to_base58(), "id": st.hash.to_base58(), "outcome": o.to_json()},
        "receipts_outcome": [],
        "final_execution_status": if wait_until == "INCLUDED" || wait_until == "INCLUDED_FINAL" { wait_until } else { "FINAL" },
    })
}

/// Builds a forged proof of `outcome` (id `id`) against real blocks below `head`.
fn forge_proof(chain: &Chain, id: &Hash, head: &Hash, kind: ForgeKind, outcome: &Outcome) -> Result<Value, RpcError> {
    if kind == ForgeKind::Withheld {
        return Err(RpcError::handler("UNKNOWN_TRANSACTION_OR_RECEIPT", json!({"transaction_or_receipt_id": id.to_base58()})));
    }
    let head_index = chain.index_of(head).ok_or_else(|| RpcError::handler("UNKNOWN_BLOCK", json!({"error_message": format!("DB Not Found Error: BLOCK HEADER: {head}")})))?;
    let anchor_index = head_index.saturating_sub(1);
    let anchor = chain.block(anchor_index).ok_or_else(|| RpcError::internal("no anchor block"))?;
    let (_, block_path) = chain.block_proof(&anchor.hash, head).map_err(|e| RpcError::internal(e.to_string()))?;
    let leaf = outcome.leaf(id);
    let outcome_json = json!({"proof": [], "block_hash": Value::Null, "id": id.to_base58(), "outcome": outcome.to_json()});
    let (header, claimed) = match kind {
        ForgeKind::UnrootedOutcome => (view::header_lite_json(anchor), anchor.hash),
        ForgeKind::FabricatedBlock | ForgeKind::BlockHashLie => {
            let mut fake: Block = anchor.clone();
            fake.lite.outcome_root = Hash::digest(&leaf.0);
            let fake_hash = Hash::combine(&Hash::combine(&Hash::digest(&fake.lite.to_bytes()), &fake.inner_rest_hash), &fake.prev_hash);
            let claimed = if kind == ForgeKind::FabricatedBlock { fake_hash } else { anchor.hash };
            (view::header_lite_json(&fake), claimed)
        }
        ForgeKind::Withheld => return Err(RpcError::internal("unreachable forge kind")),
    };
    let mut outcome_proof = outcome_json;
    outcome_proof["block_hash"] = b58(&claimed);
    Ok(json!({
        "outcome_proof": outcome_proof,
        "outcome_root_proof": [],
        "block_header_lite": header,
        "block_proof": view::path_json(&block_path),
    }))
}
