//! The signer contract's account on the simulated chain: near/mpc's deployed
//! `v1.signer` binary executed by [`crate::wasm`]. The chain hands it every
//! action receipt addressed to the contract and every block; each receipt the
//! binary executes (the transaction's own, the callbacks and yields it
//! created, transfers it sent) comes back as a chain receipt with a NEAR
//! outcome, so blocks, chunks, transaction status and light-client proofs
//! show exactly what the binary did.
//!
//! Receipt ids: the transaction's receipt keeps the chain's id; a receipt the
//! contract creates gets `sha256("created-receipt" ‖ parent id ‖ u64 index)`,
//! so `sign`'s yield id (the request id) is known when `sign` is submitted.
//! Receipts created by the binary run inside it as soon as they are ready
//! (in the block of their parent, or of the resume / timeout), not a block
//! later as on NEAR.

use std::collections::HashMap;

use serde_json::{json, Value};
use sha3::{Digest, Sha3_256};

use crate::hash::Hash;
use crate::hex;
use crate::keys::PublicKey;
use crate::runtime::{ExecContext, Outcome, OutcomeStatus, Receipt, ReceiptBody, ACTION_GAS, FUNCTION_CALL_GAS, GAS_PRICE};
use crate::tx::Action as TxAction;
use crate::wasm::deployed::ContractChoice;
use crate::wasm::host::Action as WasmAction;
use crate::wasm::{ContractCode, ContractRuntime, IncomingReceipt, ReceiptOutcome, RuntimeConfig};

/// The id of the `index`-th receipt created by receipt `parent`.
pub fn created_receipt_id(parent: &Hash, index: u64) -> Hash {
    Hash::digest_parts(&[b"created-receipt", &parent.0, &index.to_le_bytes()])
}

/// near/mpc's tweak: SHA3-256("near-mpc-recovery v0.1.0 epsilon derivation:" ‖ predecessor ‖ "," ‖ path).
pub fn derive_tweak(predecessor: &str, path: &str) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(b"near-mpc-recovery v0.1.0 epsilon derivation:");
    h.update(predecessor.as_bytes());
    h.update(b",");
    h.update(path.as_bytes());
    h.finalize().into()
}

/// Where a request stands (for the admin API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Responded { responder: String, response: Value, height: u64 },
    TimedOut { height: u64 },
}

/// One `sign` call that yielded, as the admin API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The yield receipt id (`SuccessReceiptId`): the request id nodes use.
    pub request_id: Hash,
    /// The receipt that executed `sign`.
    pub sign_receipt_id: Hash,
    pub predecessor: String,
    pub path: String,
    pub payload: [u8; 32],
    pub tweak: [u8; 32],
    pub domain_id: u64,
    pub created_height: u64,
    pub status: RequestStatus,
}

impl RequestRecord {
    /// The request as near/mpc's `respond` names it (the tweak as a JSON
    /// array of 32 bytes, as the contract serialises it).
    pub fn respond_request(&self) -> Value {
        json!({"tweak": self.tweak.to_vec(), "payload": {"Ecdsa": hex::encode(&self.payload)}, "domain_id": self.domain_id})
    }
}

/// Where a transaction executing in the binary came from.
#[derive(Clone, Debug)]
struct Origin {
    tx: Hash,
    signer_id: String,
    signer_pk: PublicKey,
}

/// A receipt the binary executed, with its chain outcome.
#[derive(Clone, Debug)]
pub struct Executed {
    pub receipt: Receipt,
    pub outcome: Outcome,
}

/// The contract account: the binary, its state, and the id maps.
pub struct ContractAccount {
    pub account_id: String,
    runtime: ContractRuntime,
    /// What the simulator prints about the binary (file, version, sha256).
    pub description: String,
    pub code_sha256: [u8; 32],
    ids: HashMap<u64, Hash>,
    origins: HashMap<u64, Origin>,
    seen: usize,
    requests: Vec<RequestRecord>,
    request_by_receipt: HashMap<u64, usize>,
}

impl ContractAccount {
    pub fn new(account_id: String, code: ContractCode, description: String, config: RuntimeConfig) -> Self {
        let code_sha256 = code.sha256;
        let runtime = ContractRuntime::new(code, RuntimeConfig { contract_account: account_id.clone(), ..config });
        ContractAccount {
            account_id,
            runtime,
            description,
            code_sha256,
            ids: HashMap::new(),
            origins: HashMap::new(),
            seen: 0,
            requests: Vec::new(),
            request_by_receipt: HashMap::new(),
        }
    }

    /// Loads `choice` from `fixtures_dir` (releases are sha256-checked).
    pub fn load(account_id: String, choice: &ContractChoice, fixtures_dir: &std::path::Path, config: RuntimeConfig) -> Result<Self, String> {
        let code = choice.load(fixtures_dir).map_err(|e| e.to_string())?;
        let description = choice.describe(&code);
        Ok(Self::new(account_id, code, description, config))
    }

    /// The contract's committed storage (raw keys → values).
    pub fn storage(&self) -> &std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
        self.runtime.storage()
    }

    pub fn balance(&self) -> u128 {
        self.runtime.balance
    }

    pub fn requests(&self) -> &[RequestRecord] {
        &self.requests
    }

    /// A view call on the current state.
    pub fn view(&self, method: &str, args: &[u8]) -> Result<Vec<u8>, String> {
        self.runtime.view(method, args).map(|v| v.value).map_err(|e| e.to_string())
    }

    /// Wasm instructions executed so far (all receipts).
    pub fn instructions(&self) -> u64 {
        self.runtime.outcomes.iter().map(|o| o.instructions).sum()
    }

    /// Moves the binary to `ctx`'s block: timed-out yields run their callbacks.
    pub fn enter_block(&mut self, ctx: ExecContext) -> (Vec<Executed>, Vec<(String, u128)>) {
        self.runtime.enter_block(ctx.height, ctx.timestamp_ns);
        self.collect(ctx.height)
    }

    /// Executes an action receipt addressed to the contract (only
    /// FunctionCall and Transfer actions). Returns every receipt executed,
    /// the given one first, and the balances credited to other accounts.
    pub fn apply(&mut self, r: &Receipt, signer_id: &str, signer_pk: &PublicKey, actions: &[TxAction], ctx: ExecContext) -> (Vec<Executed>, Vec<(String, u128)>) {
        let (mut before, mut credits) = self.enter_block(ctx);
        let wasm_actions = actions
            .iter()
            .filter_map(|a| match a {
                TxAction::FunctionCall { method_name, args, gas, deposit } => {
                    Some(WasmAction::FunctionCall { method: method_name.clone(), args: args.clone(), deposit: *deposit, gas: *gas, gas_weight: 0 })
                }
                TxAction::Transfer { deposit } => Some(WasmAction::Transfer { deposit: *deposit }),
                _ => None,
            })
            .collect();
        let tx = self.runtime.submit_receipt(IncomingReceipt {
            predecessor_id: r.predecessor_id.clone(),
            signer_id: signer_id.to_string(),
            signer_pk: borsh_public_key(signer_pk),
            actions: wasm_actions,
        });
        if let Some(first) = self.runtime.first_receipt(tx) {
            self.ids.insert(first, r.id);
        }
        self.origins.insert(tx, Origin { tx: r.origin_tx, signer_id: signer_id.to_string(), signer_pk: *signer_pk });
        let (mut executed, more) = self.collect(ctx.height);
        credits.extend(more);
        // The given receipt first.
        if let Some(pos) = executed.iter().position(|e| e.receipt.id == r.id) {
            let own = executed.remove(pos);
            executed.insert(0, own);
        }
        before.append(&mut executed);
        if let Some(pos) = before.iter().position(|e| e.receipt.id == r.id) {
            let own = before.remove(pos);
            before.insert(0, own);
        }
        (before, credits)
    }

    /// Turns the binary's new outcomes into chain receipts and outcomes.
    fn collect(&mut self, height: u64) -> (Vec<Executed>, Vec<(String, u128)>) {
        let new: Vec<ReceiptOutcome> = self.runtime.outcomes.get(self.seen..).unwrap_or_default().to_vec();
        self.seen = self.runtime.outcomes.len();
        let mut out = Vec::with_capacity(new.len());
        let mut last_responder = String::new();
        for o in new {
            let Some(id) = self.ids.get(&o.receipt_id).copied() else { continue };
            for (index, child) in o.created.iter().enumerate() {
                self.ids.insert(*child, created_receipt_id(&id, index as u64));
            }
            let Some(origin) = self.origins.get(&o.tx).cloned() else { continue };
            if o.methods.first().map(String::as_str) == Some("respond") {
                last_responder = o.predecessor_id.clone();
            }
            self.track_request(&o, id, height, &last_responder);
            out.push(self.executed(&o, id, &origin));
        }
        let credits = self.runtime.take_credited().into_iter().collect();
        (out, credits)
    }

    fn executed(&self, o: &ReceiptOutcome, id: Hash, origin: &Origin) -> Executed {
        let status = match &o.outcome {
            crate::wasm::Outcome::Value(v) => OutcomeStatus::SuccessValue(v.clone()),
            crate::wasm::Outcome::Receipt(next) => match self.ids.get(next) {
                Some(h) => OutcomeStatus::SuccessReceiptId(*h),
                None => OutcomeStatus::SuccessValue(Vec::new()),
            },
            crate::wasm::Outcome::Failure(e) => OutcomeStatus::Failure(json!({"ActionError": {"index": 0, "kind": {"FunctionCallError": {"ExecutionError": e}}}})),
        };
        let gas_burnt = if o.calls.is_empty() { ACTION_GAS } else { FUNCTION_CALL_GAS };
        let receipt_ids = o.created.iter().filter_map(|c| self.ids.get(c).copied()).collect();
        let actions = o.calls.iter().map(|(m, a)| TxAction::FunctionCall { method_name: m.clone(), args: a.clone(), gas: 0, deposit: 0 }).collect();
        let receipt = Receipt {
            id,
            predecessor_id: o.predecessor_id.clone(),
            receiver_id: o.receiver_id.clone(),
            origin_tx: origin.tx,
            body: ReceiptBody::Action { signer_id: origin.signer_id.clone(), signer_public_key: origin.signer_pk, gas_price: GAS_PRICE, actions },
        };
        let outcome = Outcome {
            logs: o.logs.clone(),
            receipt_ids,
            gas_burnt,
            tokens_burnt: u128::from(gas_burnt) * GAS_PRICE,
            executor_id: o.receiver_id.clone(),
            status,
        };
        Executed { receipt, outcome }
    }

    /// Records `sign` calls that yielded and the end of their callbacks.
    fn track_request(&mut self, o: &ReceiptOutcome, id: Hash, height: u64, responder: &str) {
        if let Some(&i) = self.request_by_receipt.get(&o.receipt_id) {
            if let Some(rec) = self.requests.get_mut(i) {
                rec.status = match &o.outcome {
                    crate::wasm::Outcome::Value(v) => RequestStatus::Responded {
                        responder: responder.to_string(),
                        response: serde_json::from_slice(v).unwrap_or(Value::Null),
                        height,
                    },
                    _ => RequestStatus::TimedOut { height },
                };
            }
            return;
        }
        let (Some((method, args)), crate::wasm::Outcome::Receipt(yield_receipt)) = (o.calls.first(), &o.outcome) else { return };
        if method != "sign" {
            return;
        }
        let Some(request_id) = self.ids.get(yield_receipt).copied() else { return };
        let v: Value = serde_json::from_slice(args).unwrap_or(Value::Null);
        let req = &v["request"];
        let path = req["path"].as_str().unwrap_or_default().to_string();
        let payload = req["payload_v2"]["Ecdsa"].as_str().and_then(hex::decode_fixed::<32>).unwrap_or_default();
        let domain_id = req["domain_id"].as_u64().or_else(|| req["key_version"].as_u64()).unwrap_or(0);
        self.request_by_receipt.insert(*yield_receipt, self.requests.len());
        self.requests.push(RequestRecord {
            request_id,
            sign_receipt_id: id,
            tweak: derive_tweak(&o.predecessor_id, &path),
            predecessor: o.predecessor_id.clone(),
            path,
            payload,
            domain_id,
            created_height: height,
            status: RequestStatus::Pending,
        });
    }
}

/// Borsh `PublicKey`: key type byte, then the key bytes.
fn borsh_public_key(pk: &PublicKey) -> Vec<u8> {
    match pk {
        PublicKey::Ed25519(k) => [&[0u8][..], &k[..]].concat(),
        PublicKey::Secp256k1(k) => [&[1u8][..], &k[..]].concat(),
    }
}
