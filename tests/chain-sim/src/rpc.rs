//! JSON-RPC 2.0: the request envelope (parsed with bounds and typed
//! errors), nearcore's error shape, and the dispatch of every method the
//! simulator serves, including the `sim_*` admin methods.
//!
//! nearcore error shape: `{"name": "HANDLER_ERROR" | "REQUEST_VALIDATION_ERROR"
//! | "INTERNAL_ERROR", "cause": {"name": …, "info": {…}}, "code": -32000 |
//! -32700 | -32601, "message": …, "data": …}`.

use std::fmt;
use std::time::Instant;

use base64::Engine;
use serde_json::{json, Value};

use crate::account::is_valid_account_id;
use crate::chain::{Chain, QueryError, TxState};
use crate::contract::{yield_ids, Parameters, Participant, RequestStatus};
use crate::contract_account::created_receipt_id;
use crate::hash::Hash;
use crate::hex;
use crate::hostile::{self, HostileMode};
use crate::keys::{PublicKey, SecretKey};
use crate::runtime::{permission_json, tx_receipt_id, AccessKey, Account, InvalidTx};
use crate::server::{Listener, Shared};
use crate::state_trie::TrieAtError;
use crate::tx::{decode_signed_transaction, Action, Permission, SignedTransaction, Transaction, MAX_TX_BYTES};
use crate::view;

/// Largest request body accepted (a 1.5 MiB transaction in base64 fits).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Longest method name accepted.
const MAX_METHOD_LEN: usize = 128;

/// A parsed JSON-RPC call.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcCall {
    /// Echoed back as given (number, string or null).
    pub id: Value,
    pub method: String,
    pub params: Value,
}

/// A JSON-RPC error in nearcore's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub name: &'static str,
    pub cause: &'static str,
    /// Boxed to keep `Result<_, RpcError>` small.
    pub info: Box<Value>,
    pub message: &'static str,
    pub data: Box<Value>,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.name, self.cause, self.data)
    }
}

impl RpcError {
    pub fn parse(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        Self {
            code: -32700,
            name: "REQUEST_VALIDATION_ERROR",
            cause: "PARSE_ERROR",
            info: Box::new(json!({"error_message": msg})),
            message: "Parse error",
            data: Box::new(json!(msg)),
        }
    }
    pub fn method_not_found(method: &str) -> Self {
        Self {
            code: -32601,
            name: "REQUEST_VALIDATION_ERROR",
            cause: "METHOD_NOT_FOUND",
            info: Box::new(json!({"method_name": method})),
            message: "Method not found",
            data: Box::new(json!(method)),
        }
    }
    pub fn handler(cause: &'static str, info: Value) -> Self {
        let data = Box::new(json!(format!("{cause}: {info}")));
        Self { code: -32000, name: "HANDLER_ERROR", cause, info: Box::new(info), message: "Server error", data }
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        Self {
            code: -32000,
            name: "INTERNAL_ERROR",
            cause: "INTERNAL_ERROR",
            info: Box::new(json!({"error_message": msg})),
            message: "Server error",
            data: Box::new(json!(msg)),
        }
    }
    fn unknown_block(reference: impl Into<String>) -> Self {
        Self::handler("UNKNOWN_BLOCK", json!({"block_reference": reference.into()}))
    }
    fn invalid_tx(e: &InvalidTx) -> Self {
        let info = json!({"TxExecutionError": e.to_tx_execution_error()});
        let mut err = Self::handler("INVALID_TRANSACTION", info.clone());
        err.data = Box::new(info);
        err
    }
    fn admin(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        Self::handler("SIM_ADMIN_ERROR", json!({"error_message": msg}))
    }

    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "cause": {"name": self.cause, "info": self.info}, "code": self.code, "message": self.message, "data": self.data})
    }
}

/// A whole answer body.
pub fn answer(id: &Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()}),
    }
}

/// Parses a request body. On error, the id (if one could be read) comes back
/// with the error so the answer can carry it.
pub fn parse_call(body: &[u8]) -> Result<RpcCall, (Value, RpcError)> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err((Value::Null, RpcError::parse(format!("request of {} bytes exceeds {MAX_REQUEST_BYTES}", body.len()))));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        let mut m = e.to_string();
        m.truncate(200);
        (Value::Null, RpcError::parse(m))
    })?;
    let Value::Object(mut map) = v else {
        return Err((Value::Null, RpcError::parse("request is not a JSON object (batches are not supported)")));
    };
    let id = match map.remove("id") {
        Some(id @ (Value::Number(_) | Value::String(_) | Value::Null)) => id,
        None => Value::Null,
        Some(_) => return Err((Value::Null, RpcError::parse("id must be a number, a string or null"))),
    };
    if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((id, RpcError::parse("jsonrpc must be \"2.0\"")));
    }
    let method = match map.remove("method") {
        Some(Value::String(m)) if !m.is_empty() && m.len() <= MAX_METHOD_LEN => m,
        _ => return Err((id, RpcError::parse("method must be a short non-empty string"))),
    };
    let params = match map.remove("params") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(p @ (Value::Object(_) | Value::Array(_))) => p,
        Some(_) => return Err((id, RpcError::parse("params must be an object or an array"))),
    };
    Ok(RpcCall { id, method, params })
}

// ----- parameter helpers ------------------------------------------------------

/// `params.name` (object form) or `params[pos]` (array form).
fn param<'a>(params: &'a Value, name: &str, pos: usize) -> Option<&'a Value> {
    match params {
        Value::Object(m) => m.get(name),
        Value::Array(a) => a.get(pos),
        _ => None,
    }
    .filter(|v| !v.is_null())
}

fn str_param<'a>(params: &'a Value, name: &str, pos: usize) -> Result<&'a str, RpcError> {
    param(params, name, pos).and_then(Value::as_str).ok_or_else(|| RpcError::parse(format!("missing string parameter `{name}`")))
}

fn hash_param(params: &Value, name: &str, pos: usize) -> Result<Hash, RpcError> {
    let s = str_param(params, name, pos)?;
    Hash::from_base58(s).ok_or_else(|| RpcError::parse(format!("`{name}` is not a base58 32-byte hash")))
}

fn account_param<'a>(params: &'a Value, name: &str, pos: usize) -> Result<&'a str, RpcError> {
    let s = str_param(params, name, pos)?;
    if !is_valid_account_id(s) {
        return Err(RpcError::parse(format!("`{name}` is not a valid account id")));
    }
    Ok(s)
}

fn u64_param(params: &Value, name: &str) -> Option<u64> {
    param(params, name, usize::MAX).and_then(Value::as_u64)
}

/// Resolves `finality` / `block_id` / `sync_checkpoint` to a block index.
fn block_reference(chain: &Chain, params: &Value) -> Result<usize, RpcError> {
    if let Some(f) = param(params, "finality", usize::MAX) {
        return match f.as_str() {
            Some("optimistic") => Ok(chain.blocks().len() - 1),
            Some("near-final") => Ok(chain.blocks().len().saturating_sub(2)),
            Some("final") => Ok(chain.blocks().len().saturating_sub(3)),
            _ => Err(RpcError::parse("finality must be optimistic, near-final or final")),
        };
    }
    if let Some(c) = param(params, "sync_checkpoint", usize::MAX) {
        return match c.as_str() {
            Some("genesis" | "earliest_available") => Ok(0),
            _ => Err(RpcError::parse("unknown sync_checkpoint")),
        };
    }
    let id = param(params, "block_id", 0).ok_or_else(|| RpcError::parse("one of finality, block_id or sync_checkpoint is required"))?;
    match id {
        Value::Number(n) => {
            let h = n.as_u64().ok_or_else(|| RpcError::parse("block height must be a u64"))?;
            chain.block_by_height(h).and_then(|b| chain.index_of(&b.hash)).ok_or_else(|| RpcError::unknown_block(h.to_string()))
        }
        Value::String(s) => {
            let h = Hash::from_base58(s).ok_or_else(|| RpcError::parse("block hash is not base58"))?;
            chain.index_of(&h).ok_or_else(|| RpcError::unknown_block(s.clone()))
        }
        _ => Err(RpcError::parse("block_id must be a height or a hash")),
    }
}

fn query_error(e: QueryError, proof: bool) -> RpcError {
    match e {
        QueryError::UnknownBlock(b) => {
            if proof {
                RpcError::handler("UNKNOWN_BLOCK", json!({"error_message": format!("DB Not Found Error: BLOCK HEADER: {b}")}))
            } else {
                RpcError::unknown_block(b)
            }
        }
        QueryError::UnknownTransactionOrReceipt(h) => RpcError::handler("UNKNOWN_TRANSACTION_OR_RECEIPT", json!({"transaction_or_receipt_id": h.to_base58()})),
        QueryError::NotConfirmed(h) => RpcError::handler("NOT_CONFIRMED", json!({"transaction_or_receipt_id": h.to_base58()})),
        QueryError::Internal(m) => RpcError::internal(m),
    }
}

// ----- dispatch ---------------------------------------------------------------

/// Runs one call on behalf of `listener`.
pub fn dispatch(shared: &Shared, listener: &Listener, call: &RpcCall) -> Result<Value, RpcError> {
    let p = &call.params;
    if call.method.starts_with("sim_") {
        if !shared.admin_enabled {
            return Err(RpcError::method_not_found(&call.method));
        }
        return admin(shared, listener, &call.method, p);
    }
    match call.method.as_str() {
        "status" => Ok(status(shared)),
        "block" => {
            let chain = shared.lock_chain();
            let i = block_reference(&chain, p)?;
            let b = chain.block(i).ok_or_else(|| RpcError::unknown_block(i.to_string()))?;
            let mut v = view::block_json(&chain, b);
            listener.with_hostile(|h| h.alter_block(&mut v));
            Ok(v)
        }
        "chunk" => chunk(shared, listener, p),
        "next_light_client_block" => {
            let last = hash_param(p, "last_block_hash", 0)?;
            let chain = shared.lock_chain();
            let honest = chain.next_light_client_block(&last).map_err(|e| match e {
                QueryError::UnknownBlock(b) => RpcError::handler("UNKNOWN_BLOCK", json!({"error_message": format!("DB Not Found Error: BLOCK HEADER: {b}")})),
                other => query_error(other, true),
            })?;
            if let Some(forged) = listener.with_hostile(|h| h.forked_light_client_block(&chain, &last, honest)).flatten() {
                return Ok(forged);
            }
            if listener.modes().contains(&HostileMode::WithheldHead) {
                return Ok(json!({}));
            }
            // nearcore flattens `Option<LightClientBlockView>`: nothing newer is `{}`.
            Ok(honest.and_then(|f| chain.light_client_block(f)).map_or_else(|| json!({}), |lc| view::light_client_block_json(&chain, &lc)))
        }
        "light_client_proof" => light_client_proof(shared, listener, p),
        "EXPERIMENTAL_light_client_block_proof" => {
            let block = hash_param(p, "block_hash", 0)?;
            let head = hash_param(p, "light_client_head", 1)?;
            let chain = shared.lock_chain();
            let (i, path) = chain.block_proof(&block, &head).map_err(|e| query_error(e, true))?;
            let b = chain.block(i).ok_or_else(|| RpcError::unknown_block(block.to_base58()))?;
            Ok(json!({"block_header_lite": view::header_lite_json(b), "proof": view::path_json(&path)}))
        }
        "query" => query(shared, p),
        "send_tx" => {
            let b64 = str_param(p, "signed_tx_base64", 0)?;
            let wait_until = param(p, "wait_until", 1).and_then(Value::as_str).unwrap_or("EXECUTED_OPTIMISTIC");
            send(shared, listener, b64, wait_until)
        }
        "broadcast_tx_async" => {
            let b64 = str_param(p, "signed_tx_base64", 0)?;
            let st = decode_tx(b64)?;
            if listener.with_hostile(|h| h.drop_tx(&st)).unwrap_or(false) {
                return Ok(json!(st.hash.to_base58()));
            }
            submit(shared, st).map(|h| json!(h.to_base58()))
        }
        "broadcast_tx_commit" => {
            let b64 = str_param(p, "signed_tx_base64", 0)?;
            send(shared, listener, b64, "EXECUTED_OPTIMISTIC")
        }
        "tx" | "EXPERIMENTAL_tx_status" => {
            let hash = hash_param(p, "tx_hash", 0)?;
            if let Some(v) = listener.with_hostile(|h| h.dropped_tx_status(&hash)).flatten() {
                return Ok(v);
            }
            let wait_until = param(p, "wait_until", 2).and_then(Value::as_str).unwrap_or("NONE");
            wait_for_tx(shared, &hash, wait_until)
        }
        "validators" => {
            let chain = shared.lock_chain();
            let epoch = chain.head().epoch;
            Ok(json!({
                "current_validators": view::producers_json(&chain.producers(epoch)),
                "next_validators": view::producers_json(&chain.producers(epoch + 1)),
                "epoch_start_height": chain.cfg.genesis_height + epoch * chain.cfg.epoch_length,
                "epoch_height": epoch,
            }))
        }
        "gas_price" => Ok(json!({"gas_price": crate::runtime::GAS_PRICE.to_string()})),
        "network_info" => Ok(json!({"active_peers": [], "num_active_peers": 0, "peer_max_count": 0, "known_producers": []})),
        _ => Err(RpcError::method_not_found(&call.method)),
    }
}

fn status(shared: &Shared) -> Value {
    let chain = shared.lock_chain();
    let head = chain.head();
    let genesis = chain.genesis();
    json!({
        "chain_id": chain.cfg.chain_id,
        "protocol_version": chain.cfg.protocol_version,
        "latest_protocol_version": chain.cfg.protocol_version,
        "version": {"version": env!("CARGO_PKG_VERSION"), "build": "tdsigner-chain-sim"},
        "genesis_hash": genesis.hash.to_base58(),
        "sync_info": {
            "latest_block_hash": head.hash.to_base58(),
            "latest_block_height": head.height(),
            "latest_state_root": head.lite.prev_state_root.to_base58(),
            "latest_block_time": head.lite.timestamp.to_string(),
            "syncing": false,
            "earliest_block_hash": genesis.hash.to_base58(),
            "earliest_block_height": genesis.height(),
        },
        "validators": chain.producers(head.epoch).iter().map(|p| json!({"account_id": p.account_id})).collect::<Vec<_>>(),
        "uptime_sec": shared.started.elapsed().as_secs(),
    })
}

fn chunk(shared: &Shared, listener: &Listener, p: &Value) -> Result<Value, RpcError> {
    let chain = shared.lock_chain();
    let chunk_hash = if let Some(h) = param(p, "chunk_id", 0).and_then(Value::as_str) {
        Hash::from_base58(h).ok_or_else(|| RpcError::parse("chunk_id is not base58"))?
    } else {
        let i = block_reference(&chain, p)?;
        let shard = u64_param(p, "shard_id").ok_or_else(|| RpcError::parse("shard_id is required with block_id"))?;
        let b = chain.block(i).ok_or_else(|| RpcError::unknown_block(i.to_string()))?;
        let c = usize::try_from(shard).ok().and_then(|s| b.chunks.get(s)).ok_or_else(|| RpcError::handler("INVALID_SHARD_ID", json!({"shard_id": shard})))?;
        c.chunk_hash
    };
    let mut v = view::chunk_json(&chain, &chunk_hash).ok_or_else(|| RpcError::handler("UNKNOWN_CHUNK", json!({"chunk_hash": chunk_hash.to_base58()})))?;
    listener.with_hostile(|h| h.inject_fake_requests(&chain, &chunk_hash, &mut v));
    Ok(v)
}

fn light_client_proof(shared: &Shared, listener: &Listener, p: &Value) -> Result<Value, RpcError> {
    let kind = str_param(p, "type", usize::MAX)?;
    let (id, account) = match kind {
        "transaction" => (hash_param(p, "transaction_hash", usize::MAX)?, account_param(p, "sender_id", usize::MAX)?),
        "receipt" => (hash_param(p, "receipt_id", usize::MAX)?, account_param(p, "receiver_id", usize::MAX)?),
        _ => return Err(RpcError::parse("type must be transaction or receipt")),
    };
    let head = hash_param(p, "light_client_head", usize::MAX)?;
    let chain = shared.lock_chain();
    if let Some(forged) = listener.with_hostile(|h| h.forged_execution_proof(&chain, &id, &head)).flatten() {
        return forged;
    }
    let proof = chain.execution_proof(&id, account, &head).map_err(|e| query_error(e, true))?;
    let mut v = view::execution_proof_json(&chain, &proof);
    listener.with_hostile(|h| h.tamper_execution_proof(&mut v));
    Ok(v)
}

fn query(shared: &Shared, p: &Value) -> Result<Value, RpcError> {
    let request_type = str_param(p, "request_type", usize::MAX)?;
    let chain = shared.lock_chain();
    // Views read the newest state; the answer names the head it was read at
    // (the simulator keeps no historical state; see the README). `view_state`
    // is the exception: it reads the contract's trie at the block asked for.
    let index = block_reference(&chain, p)?;
    if request_type == "view_state" {
        return view_state(&chain, index, p);
    }
    let head = chain.head();
    let at = |mut v: Value| {
        if let Some(m) = v.as_object_mut() {
            m.insert("block_height".into(), json!(head.height()));
            m.insert("block_hash".into(), json!(head.hash.to_base58()));
        }
        v
    };
    let account_id = account_param(p, "account_id", usize::MAX)?;
    let unknown_account = || RpcError::handler("UNKNOWN_ACCOUNT", json!({"requested_account_id": account_id, "block_height": head.height(), "block_hash": head.hash.to_base58()}));
    match request_type {
        "view_account" => {
            let a = chain.runtime.accounts.get(account_id).ok_or_else(unknown_account)?;
            let code_hash = match chain.runtime.deployed() {
                _ if account_id != chain.runtime.contract_id => Hash::ZERO,
                Some(c) => Hash(c.code_sha256),
                None => Hash::digest(b"v1.signer model"),
            };
            Ok(at(json!({"amount": a.balance.to_string(), "locked": "0", "code_hash": code_hash.to_base58(), "storage_usage": 0, "storage_paid_at": 0})))
        }
        "view_access_key" => {
            let pk_text = str_param(p, "public_key", usize::MAX)?;
            let pk = PublicKey::parse(pk_text).ok_or_else(|| RpcError::parse("public_key does not parse"))?;
            let a = chain.runtime.accounts.get(account_id).ok_or_else(unknown_account)?;
            let k = a.keys.get(&pk).ok_or_else(|| {
                RpcError::handler("UNKNOWN_ACCESS_KEY", json!({"public_key": pk_text, "block_height": head.height(), "block_hash": head.hash.to_base58()}))
            })?;
            Ok(at(json!({"nonce": k.nonce, "permission": permission_json(&k.permission)})))
        }
        "view_access_key_list" => {
            let a = chain.runtime.accounts.get(account_id).ok_or_else(unknown_account)?;
            let keys: Vec<Value> = a
                .keys
                .iter()
                .map(|(pk, k)| json!({"public_key": pk.to_text(), "access_key": {"nonce": k.nonce, "permission": permission_json(&k.permission)}}))
                .collect();
            Ok(at(json!({"keys": keys})))
        }
        "call_function" => {
            let method = str_param(p, "method_name", usize::MAX)?;
            let args_b64 = param(p, "args_base64", usize::MAX).and_then(Value::as_str).unwrap_or("");
            if args_b64.len() > MAX_REQUEST_BYTES {
                return Err(RpcError::parse("args_base64 too long"));
            }
            let args = base64::engine::general_purpose::STANDARD.decode(args_b64).map_err(|_| RpcError::parse("args_base64 is not base64"))?;
            if !chain.runtime.accounts.contains_key(account_id) {
                return Err(unknown_account());
            }
            if account_id != chain.runtime.contract_id {
                return Err(RpcError::handler(
                    "NO_CONTRACT_CODE",
                    json!({"contract_account_id": account_id, "block_height": head.height(), "block_hash": head.hash.to_base58()}),
                ));
            }
            match chain.runtime.view(method, &args) {
                Ok(bytes) => Ok(at(json!({"result": bytes, "logs": []}))),
                Err(e) => {
                    let e = if e.starts_with("Smart contract panicked") { e } else { format!("Smart contract panicked: {e}") };
                    Err(RpcError::handler(
                        "CONTRACT_EXECUTION_ERROR",
                        json!({"vm_error": format!("wasm execution failed with error: FunctionCallError(ExecutionError(\"{e}\"))"), "block_height": head.height(), "block_hash": head.hash.to_base58()}),
                    ))
                }
            }
        }
        other => Err(RpcError::parse(format!("unsupported request_type {other}"))),
    }
}

/// `query view_state`: the contract's storage under `prefix_base64` after the block asked
/// for, with nearcore's proof (base64 nodes) when `include_proof` is set. Other accounts
/// have no storage here (an empty answer, nothing to prove).
fn view_state(chain: &Chain, index: usize, p: &Value) -> Result<Value, RpcError> {
    let account_id = account_param(p, "account_id", usize::MAX)?;
    let block = chain.block(index).ok_or_else(|| RpcError::unknown_block(index.to_string()))?;
    let (height, hash) = (block.height(), block.hash.to_base58());
    let prefix_b64 = param(p, "prefix_base64", usize::MAX).and_then(Value::as_str).unwrap_or("");
    if prefix_b64.len() > MAX_REQUEST_BYTES {
        return Err(RpcError::parse("prefix_base64 too long"));
    }
    let prefix = base64::engine::general_purpose::STANDARD.decode(prefix_b64).map_err(|_| RpcError::parse("prefix_base64 is not base64"))?;
    let include_proof = param(p, "include_proof", usize::MAX).and_then(Value::as_bool).unwrap_or(false);
    if !chain.runtime.accounts.contains_key(account_id) {
        return Err(RpcError::handler("UNKNOWN_ACCOUNT", json!({"requested_account_id": account_id, "block_height": height, "block_hash": hash})));
    }
    if account_id != chain.runtime.contract_id {
        return Ok(json!({"values": [], "proof": [], "block_height": height, "block_hash": hash}));
    }
    let answer = chain.contract_view_state(index, &prefix).map_err(|e| match e {
        TrieAtError::UnknownBlock => RpcError::unknown_block(hash.clone()),
        TrieAtError::GarbageCollected => RpcError::handler("GARBAGE_COLLECTED_BLOCK", json!({"block_height": height, "block_hash": hash})),
    })?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let values: Vec<Value> = answer.values.iter().map(|(k, v)| json!({"key": b64(k), "value": b64(v)})).collect();
    let proof: Vec<Value> = if include_proof { answer.proof.iter().map(|n| json!(b64(n))).collect() } else { Vec::new() };
    Ok(json!({"values": values, "proof": proof, "block_height": height, "block_hash": hash}))
}

fn decode_tx(b64: &str) -> Result<SignedTransaction, RpcError> {
    if b64.len() > MAX_TX_BYTES * 4 / 3 + 4 {
        return Err(RpcError::parse("signed_tx_base64 too long"));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| RpcError::parse("Failed to decode transaction: invalid base64"))?;
    decode_signed_transaction(&bytes).map_err(|e| RpcError::parse(format!("Failed to decode transaction: {e}")))
}

fn submit(shared: &Shared, st: SignedTransaction) -> Result<Hash, RpcError> {
    let mut chain = shared.lock_chain();
    chain.submit_tx(st).map_err(|e| RpcError::invalid_tx(&e))
}

fn send(shared: &Shared, listener: &Listener, b64: &str, wait_until: &str) -> Result<Value, RpcError> {
    let st = decode_tx(b64)?;
    if !matches!(wait_until, "NONE" | "INCLUDED" | "EXECUTED_OPTIMISTIC" | "INCLUDED_FINAL" | "EXECUTED" | "FINAL") {
        return Err(RpcError::parse("unknown wait_until"));
    }
    if listener.with_hostile(|h| h.drop_tx(&st)).unwrap_or(false) {
        return Ok(hostile::fabricated_success(&st, wait_until));
    }
    let hash = submit(shared, st)?;
    if wait_until == "NONE" {
        return Ok(json!({"final_execution_status": "NONE"}));
    }
    wait_for_tx(shared, &hash, wait_until)
}

/// Waits (releasing the chain lock between blocks) until the transaction
/// reaches `wait_until`, or the configured timeout.
fn wait_for_tx(shared: &Shared, hash: &Hash, wait_until: &str) -> Result<Value, RpcError> {
    let deadline = Instant::now() + shared.tx_wait_timeout;
    let mut chain = shared.lock_chain();
    loop {
        let rec_state = chain.tx(hash).map(|r| r.state.clone());
        match rec_state {
            None => return Err(RpcError::handler("UNKNOWN_TRANSACTION", json!({"requested_transaction_hash": hash.to_base58()}))),
            Some(TxState::Dropped(e)) => return Err(RpcError::invalid_tx(&e)),
            Some(TxState::Pending) if wait_until == "NONE" => {
                return Err(RpcError::handler("UNKNOWN_TRANSACTION", json!({"requested_transaction_hash": hash.to_base58()})))
            }
            Some(TxState::Pending) => {}
            Some(TxState::Included { .. }) => {
                if let Some(v) = view::tx_status_json(&chain, hash) {
                    let reached = v.get("final_execution_status").and_then(Value::as_str).unwrap_or("NONE");
                    let rank = |s: &str| match s {
                        "NONE" => 0,
                        "INCLUDED" => 1,
                        "EXECUTED_OPTIMISTIC" => 2,
                        "INCLUDED_FINAL" => 3,
                        "EXECUTED" => 4,
                        _ => 5,
                    };
                    let done = match wait_until {
                        "EXECUTED" => matches!(reached, "EXECUTED_OPTIMISTIC" | "FINAL"),
                        "INCLUDED_FINAL" => matches!(reached, "INCLUDED_FINAL" | "FINAL"),
                        w => rank(reached) >= rank(w) || (w == "INCLUDED" && reached != "NONE"),
                    };
                    if done {
                        return Ok(v);
                    }
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(RpcError::handler("TIMEOUT_ERROR", json!({})));
        }
        chain = shared.wait_block(chain, deadline - now);
    }
}

// ----- admin ------------------------------------------------------------------

fn participants(p: &Value) -> Result<Parameters, RpcError> {
    let list = param(p, "participants", usize::MAX).and_then(Value::as_array).ok_or_else(|| RpcError::parse("participants must be an array"))?;
    if list.len() > 64 {
        return Err(RpcError::parse("at most 64 participants"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let account_id = item.get("account_id").and_then(Value::as_str).filter(|a| is_valid_account_id(a)).ok_or_else(|| RpcError::parse("participant account_id"))?;
        let url = item.get("url").and_then(Value::as_str).filter(|u| u.len() <= 512).ok_or_else(|| RpcError::parse("participant url"))?;
        let tls = item.get("tls_public_key").and_then(Value::as_str).and_then(PublicKey::parse).ok_or_else(|| RpcError::parse("participant tls_public_key"))?;
        let id = item.get("id").and_then(Value::as_u64).unwrap_or(i as u64);
        out.push(Participant { account_id: account_id.into(), id, url: url.into(), tls_public_key: tls });
    }
    let threshold = u64_param(p, "threshold").ok_or_else(|| RpcError::parse("threshold is required"))?;
    Parameters::new(out, threshold).map_err(RpcError::admin)
}

fn permission_param(p: &Value) -> Result<Permission, RpcError> {
    match param(p, "permission", usize::MAX) {
        None => Ok(Permission::FullAccess),
        Some(Value::String(s)) if s == "FullAccess" => Ok(Permission::FullAccess),
        Some(v) => {
            let fc = v.get("FunctionCall").ok_or_else(|| RpcError::parse("permission must be \"FullAccess\" or {\"FunctionCall\": …}"))?;
            let receiver_id = fc.get("receiver_id").and_then(Value::as_str).filter(|a| is_valid_account_id(a)).ok_or_else(|| RpcError::parse("receiver_id"))?;
            let method_names = match fc.get("method_names") {
                None => Vec::new(),
                Some(Value::Array(a)) if a.len() <= 64 => {
                    a.iter().map(|m| m.as_str().filter(|s| s.len() <= 256).map(str::to_owned)).collect::<Option<Vec<_>>>().ok_or_else(|| RpcError::parse("method_names"))?
                }
                Some(_) => return Err(RpcError::parse("method_names")),
            };
            Ok(Permission::FunctionCall { allowance: None, receiver_id: receiver_id.into(), method_names })
        }
    }
}

fn request_json(r: &crate::contract::RequestRecord) -> Value {
    let (status, extra) = match &r.status {
        RequestStatus::Pending => ("pending", Value::Null),
        RequestStatus::Responded { responder, response, height } => ("responded", json!({"responder": responder, "response": response, "height": height})),
        RequestStatus::TimedOut { height } => ("timed_out", json!({"height": height})),
    };
    json!({
        "request_id": r.request_id.to_base58(),
        "sign_receipt_id": r.sign_receipt_id.to_base58(),
        "predecessor": r.predecessor,
        "path": r.path,
        "payload": hex::encode(&r.request.payload),
        "tweak": hex::encode(&r.request.tweak),
        "domain_id": r.request.domain_id,
        "request": r.request.to_json(),
        "created_height": r.created_height,
        "status": status,
        "result": extra,
    })
}

fn admin(shared: &Shared, listener: &Listener, method: &str, p: &Value) -> Result<Value, RpcError> {
    match method {
        "sim_info" => {
            let chain = shared.lock_chain();
            Ok(json!({
                "chain_id": chain.cfg.chain_id,
                "seed": chain.cfg.seed,
                "genesis_hash": chain.genesis().hash.to_base58(),
                "genesis_height": chain.genesis().height(),
                "head_height": chain.head().height(),
                "epoch_length": chain.cfg.epoch_length,
                "shards": chain.cfg.shards,
                "shard_boundaries": chain.runtime.layout.boundaries(),
                "contract_account": chain.runtime.contract_id,
                "contract_shard": chain.shard_of(&chain.runtime.contract_id),
                "header_layout": format!("{:?}", chain.cfg.header_layout),
                "validators": chain.validators().iter().map(|v| json!({"account_id": v.account_id, "public_key": v.public_key().to_text()})).collect::<Vec<_>>(),
                "hostile": listener.modes().iter().map(|m| m.name()).collect::<Vec<_>>(),
                "auto_produce": shared.auto_produce,
            }))
        }
        "sim_trusted_start" => {
            // Two ways to start a light client out of band:
            // - `light_client_block`: a light-client block of the epoch before
            //   the head's (its `next_bps` are the head epoch's producers), for
            //   clients that learn producers from `next_bps` (tdsigner-near's
            //   `from_trusted_block`); null while the chain is in its first epoch;
            // - `header` with `producers` and `next_producers`: the current
            //   light-client head and both producer sets.
            let chain = shared.lock_chain();
            let lc_index = match u64_param(p, "height") {
                Some(h) => Some(chain.block_by_height(h).and_then(|b| chain.index_of(&b.hash)).ok_or_else(|| RpcError::unknown_block(h.to_string()))?),
                None => chain.trusted_checkpoint_index(),
            };
            let head_index = chain.light_client_head_index().unwrap_or(0);
            let b = chain.block(head_index).ok_or_else(|| RpcError::unknown_block(head_index.to_string()))?;
            Ok(json!({
                "light_client_block": lc_index.and_then(|i| chain.light_client_block(i)).map(|lc| view::light_client_block_json(&chain, &lc)),
                "block_hash": b.hash.to_base58(),
                "height": b.height(),
                "header": view::header_lite_json(b),
                "epoch_id": b.lite.epoch_id.to_base58(),
                "producers": view::producers_json(&chain.producers(b.epoch)),
                "next_epoch_id": b.lite.next_epoch_id.to_base58(),
                "next_producers": view::producers_json(&chain.producers(b.epoch + 1)),
            }))
        }
        "sim_produce_blocks" => {
            let n = u64_param(p, "count").unwrap_or(1);
            if n > 100_000 {
                return Err(RpcError::parse("count above 100000"));
            }
            let height = shared.produce_blocks(n);
            Ok(json!({"head_height": height}))
        }
        "sim_create_account" => {
            let account_id = account_param(p, "account_id", usize::MAX)?.to_owned();
            let balance = match param(p, "balance", usize::MAX) {
                None => 100 * 10u128.pow(24),
                Some(v) => v.as_str().and_then(|s| s.parse::<u128>().ok()).ok_or_else(|| RpcError::parse("balance must be a decimal string"))?,
            };
            let permission = permission_param(p)?;
            let (public_key, secret) = match param(p, "public_key", usize::MAX) {
                Some(v) => (v.as_str().and_then(PublicKey::parse).ok_or_else(|| RpcError::parse("public_key does not parse"))?, None),
                None => {
                    let seed = shared.lock_chain().cfg.seed;
                    let k = SecretKey::derive(seed, &format!("account {account_id}"));
                    (k.public_key(), Some(k))
                }
            };
            let mut chain = shared.lock_chain();
            if chain.runtime.accounts.contains_key(&account_id) {
                return Err(RpcError::admin(format!("account {account_id} exists")));
            }
            let nonce = chain.head().height().saturating_mul(crate::runtime::NONCE_MULTIPLIER);
            let mut acc = Account { balance, ..Account::default() };
            acc.keys.insert(public_key, AccessKey { nonce, permission });
            chain.runtime.accounts.insert(account_id.clone(), acc);
            drop(chain);
            let secret_text = secret.as_ref().map(|k| k.to_near_secret_text().to_string());
            if let Some(k) = secret {
                shared.remember_key(&account_id, k);
            }
            Ok(json!({"account_id": account_id, "public_key": public_key.to_text(), "secret_key": secret_text}))
        }
        "sim_add_key" => {
            let account_id = account_param(p, "account_id", usize::MAX)?;
            let pk = str_param(p, "public_key", usize::MAX).ok().and_then(PublicKey::parse).ok_or_else(|| RpcError::parse("public_key does not parse"))?;
            let permission = permission_param(p)?;
            let mut chain = shared.lock_chain();
            let nonce = chain.head().height().saturating_mul(crate::runtime::NONCE_MULTIPLIER);
            let acc = chain.runtime.accounts.get_mut(account_id).ok_or_else(|| RpcError::admin(format!("no account {account_id}")))?;
            acc.keys.insert(pk, AccessKey { nonce, permission });
            Ok(json!({"account_id": account_id, "public_key": pk.to_text()}))
        }
        "sim_account" => {
            let account_id = account_param(p, "account_id", usize::MAX)?;
            let chain = shared.lock_chain();
            let acc = chain.runtime.accounts.get(account_id).ok_or_else(|| RpcError::admin(format!("no account {account_id}")))?;
            Ok(json!({
                "account_id": account_id,
                "balance": acc.balance.to_string(),
                "keys": acc.keys.iter().map(|(k, a)| json!({"public_key": k.to_text(), "nonce": a.nonce, "permission": permission_json(&a.permission)})).collect::<Vec<_>>(),
            }))
        }
        "sim_init_contract" => {
            let params = participants(p)?;
            let root = match param(p, "root_public_key", usize::MAX) {
                None => None,
                Some(v) => match v.as_str().and_then(PublicKey::parse) {
                    Some(PublicKey::Secp256k1(k)) => Some(k),
                    _ => return Err(RpcError::parse("root_public_key must be secp256k1:<base58 x‖y>")),
                },
            };
            if shared.lock_chain().runtime.deployed().is_some() {
                // The deployer's signed `init` (keygen follows the participants'
                // `vote_add_domains`), or `init_running` with a given key.
                let contract_id = shared.lock_chain().runtime.contract_id.clone();
                let (method, args) = match root {
                    None => ("init", init_args(&params, shared.lock_chain().cfg.contract.key_event_timeout_blocks)),
                    Some(k) => ("init_running", init_running_args(&params, &k)),
                };
                let (hash, nonce) = admin_function_call(shared, &contract_id, &contract_id, method, args, 300_000_000_000_000, 0)?;
                return Ok(json!({"tx_hash": hash.to_base58(), "nonce": nonce, "method": method}));
            }
            let mut chain = shared.lock_chain();
            let model = chain.runtime.model_mut().ok_or_else(|| RpcError::admin("no model"))?;
            match root {
                Some(k) => model.init_running(params, k),
                None => model.init(params),
            }
            .map_err(RpcError::admin)?;
            Ok(json!({"state": model.state.name()}))
        }
        "sim_start_resharing" => {
            let params = participants(p)?;
            let mut chain = shared.lock_chain();
            let model = chain
                .runtime
                .model_mut()
                .ok_or_else(|| RpcError::admin("the deployed contract reshares on the participants' vote_new_parameters votes (sim_call)"))?;
            model.start_resharing(params).map_err(RpcError::admin)?;
            Ok(json!({"state": model.state.name()}))
        }
        "sim_contract_state" => {
            let chain = shared.lock_chain();
            if let Some(c) = chain.runtime.deployed() {
                let view = |m: &str| c.view(m, b"{}").ok().and_then(|v| serde_json::from_slice::<Value>(&v).ok()).unwrap_or(Value::Null);
                return Ok(json!({"state": view("state"), "tee_accounts": view("get_tee_accounts"), "contract": c.description}));
            }
            let c = chain.runtime.model().ok_or_else(|| RpcError::admin("no model"))?;
            Ok(json!({
                "state": c.state.to_json(),
                "attestations": c.attestations().map(|a| json!({
                    "account_id": a.account_id,
                    "account_public_key": a.account_public_key.to_text(),
                    "tls_public_key": a.tls_public_key.to_text(),
                    "verified_by": a.accepted.verified_by,
                    "submitted_height": a.submitted_height,
                    "quote_len": a.quote_len,
                })).collect::<Vec<_>>(),
            }))
        }
        "sim_requests" => {
            let chain = shared.lock_chain();
            let filter = param(p, "status", usize::MAX).and_then(Value::as_str);
            let list: Vec<Value> = match chain.runtime.deployed() {
                Some(c) => c.requests().iter().map(deployed_request_json).collect(),
                None => chain.runtime.model().map(|m| m.requests().iter().map(request_json).collect()).unwrap_or_default(),
            };
            let list = list.into_iter().filter(|r| filter.is_none_or(|f| r.get("status").and_then(Value::as_str) == Some(f))).collect::<Vec<_>>();
            Ok(json!({"requests": list}))
        }
        "sim_sign" => sim_sign(shared, p),
        "sim_call" => sim_call(shared, p),
        "sim_set_hostile" => {
            let modes = param(p, "modes", 0).and_then(Value::as_array).ok_or_else(|| RpcError::parse("modes must be an array"))?;
            let parsed = modes
                .iter()
                .map(|m| m.as_str().and_then(HostileMode::parse))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| RpcError::parse("unknown hostile mode"))?;
            listener.set_modes(&parsed);
            Ok(json!({"hostile": parsed.iter().map(|m| m.name()).collect::<Vec<_>>()}))
        }
        _ => Err(RpcError::method_not_found(method)),
    }
}

/// `init`'s arguments: near/mpc's `ThresholdParameters` and an `InitConfig`
/// with the configured key-event timeout (`--key-event-timeout-blocks`).
fn init_args(params: &Parameters, key_event_timeout_blocks: u64) -> Vec<u8> {
    let init_config = json!({"key_event_timeout_blocks": key_event_timeout_blocks});
    json!({"parameters": threshold_parameters(params), "init_config": init_config}).to_string().into_bytes()
}

/// `init_running`'s arguments: domain 0 (Secp256k1, CaitSith, Sign, the
/// threshold as reconstruction threshold) holding `root`, keyset epoch 0.
fn init_running_args(params: &Parameters, root: &[u8; 64]) -> Vec<u8> {
    let key = PublicKey::Secp256k1(*root).to_text();
    json!({
        "domains": [{"id": 0, "protocol": "CaitSith", "reconstruction_threshold": params.threshold, "purpose": "Sign"}],
        "next_domain_id": 1,
        "keyset": {"epoch_id": 0, "domains": [{"domain_id": 0, "key": {"Secp256k1": {"near_public_key": key}}, "attempt": 0}]},
        "parameters": threshold_parameters(params),
        "init_config": null,
    })
    .to_string()
    .into_bytes()
}

fn threshold_parameters(params: &Parameters) -> Value {
    let list: Vec<Value> = params
        .participants
        .iter()
        .map(|p| json!([p.account_id, p.id, {"url": p.url, "tls_public_key": p.tls_public_key.to_text()}]))
        .collect();
    json!({"participants": {"next_id": params.next_id, "participants": list}, "threshold": params.threshold})
}

/// Signs a function-call transaction with the key the simulator generated
/// for `account_id` (`sim_create_account` without `public_key`; the
/// contract account's deployer key) and submits it. Returns its hash and nonce.
fn admin_function_call(
    shared: &Shared,
    account_id: &str,
    receiver_id: &str,
    method: &str,
    args: Vec<u8>,
    gas: u64,
    deposit: u128,
) -> Result<(Hash, u64), RpcError> {
    let key = shared.key_of(account_id).ok_or_else(|| RpcError::admin(format!("no generated key for {account_id} (create it with sim_create_account without public_key)")))?;
    let mut chain = shared.lock_chain();
    let nonce = {
        let acc = chain.runtime.accounts.get(account_id).ok_or_else(|| RpcError::admin(format!("no account {account_id}")))?;
        let ak = acc.keys.get(&key.public_key()).ok_or_else(|| RpcError::admin("generated key not on the account"))?;
        // Transactions still in the pool have not bumped the stored nonce
        // yet, so count from the last nonce handed out as well; never below
        // the MPC node's floor height·1e6.
        let floor = chain.head().height().saturating_mul(crate::runtime::NONCE_MULTIPLIER);
        shared.bump_pool_nonce(account_id, ak.nonce.max(floor.saturating_sub(1)))
    };
    let tx = Transaction {
        signer_id: account_id.to_string(),
        public_key: key.public_key(),
        nonce,
        receiver_id: receiver_id.to_string(),
        block_hash: chain.head().hash,
        actions: vec![Action::FunctionCall { method_name: method.into(), args, gas, deposit }],
    };
    let st = tx.sign(&key);
    let hash = chain.submit_tx(st).map_err(|e| RpcError::invalid_tx(&e))?;
    Ok((hash, nonce))
}

fn deposit_param(p: &Value, default: u128) -> Result<u128, RpcError> {
    match param(p, "deposit", usize::MAX) {
        None => Ok(default),
        Some(v) => v.as_str().and_then(|s| s.parse::<u128>().ok()).ok_or_else(|| RpcError::parse("deposit must be a decimal string")),
    }
}

/// Admin: an account whose key the simulator holds (a participant's
/// operator key, the deployer) calls a contract method through a real signed
/// transaction: `{account_id, method, args (JSON), receiver_id?, deposit?, gas?}`.
fn sim_call(shared: &Shared, p: &Value) -> Result<Value, RpcError> {
    let account_id = account_param(p, "account_id", usize::MAX)?.to_owned();
    let method = str_param(p, "method", usize::MAX)?.to_owned();
    if method.is_empty() || method.len() > 256 {
        return Err(RpcError::parse("method must be 1..=256 bytes"));
    }
    let receiver = match param(p, "receiver_id", usize::MAX) {
        None => shared.lock_chain().runtime.contract_id.clone(),
        Some(_) => account_param(p, "receiver_id", usize::MAX)?.to_owned(),
    };
    let args = param(p, "args", usize::MAX).cloned().unwrap_or_else(|| json!({}));
    let args = serde_json::to_vec(&args).map_err(|e| RpcError::internal(e.to_string()))?;
    let deposit = deposit_param(p, 0)?;
    let gas = u64_param(p, "gas").unwrap_or(300_000_000_000_000);
    let (hash, nonce) = admin_function_call(shared, &account_id, &receiver, &method, args, gas, deposit)?;
    Ok(json!({"tx_hash": hash.to_base58(), "receipt_id": tx_receipt_id(&hash).to_base58(), "nonce": nonce}))
}

/// Admin: a test user (created by `sim_create_account` with a generated
/// key) calls `sign` through a real transaction.
fn sim_sign(shared: &Shared, p: &Value) -> Result<Value, RpcError> {
    let account_id = account_param(p, "account_id", usize::MAX)?.to_owned();
    let path = str_param(p, "path", usize::MAX)?;
    if path.len() > 4096 {
        return Err(RpcError::parse("path too long"));
    }
    let payload = str_param(p, "payload", usize::MAX)?;
    hex::decode_fixed::<32>(payload).ok_or_else(|| RpcError::parse("payload must be 32 bytes of hex"))?;
    let domain_id = u64_param(p, "domain_id").unwrap_or(0);
    let deposit = deposit_param(p, 1)?;
    let gas = u64_param(p, "gas").unwrap_or(50_000_000_000_000);
    let args = serde_json::to_vec(&json!({"request": {"path": path, "payload_v2": {"Ecdsa": payload}, "domain_id": domain_id}})).map_err(|e| RpcError::internal(e.to_string()))?;
    let contract_id = shared.lock_chain().runtime.contract_id.clone();
    let deployed = shared.lock_chain().runtime.deployed().is_some();
    let (hash, nonce) = admin_function_call(shared, &account_id, &contract_id, "sign", args, gas, deposit)?;
    let receipt = tx_receipt_id(&hash);
    // The deployed contract's yield is the first receipt `sign` creates.
    let request_id = if deployed { created_receipt_id(&receipt, 0) } else { yield_ids(&receipt).yield_receipt_id };
    Ok(json!({
        "tx_hash": hash.to_base58(),
        "sign_receipt_id": receipt.to_base58(),
        "request_id": request_id.to_base58(),
        "nonce": nonce,
    }))
}

fn deployed_request_json(r: &crate::contract_account::RequestRecord) -> Value {
    use crate::contract_account::RequestStatus as S;
    let (status, extra) = match &r.status {
        S::Pending => ("pending", Value::Null),
        S::Responded { responder, response, height } => ("responded", json!({"responder": responder, "response": response, "height": height})),
        S::TimedOut { height } => ("timed_out", json!({"height": height})),
    };
    json!({
        "request_id": r.request_id.to_base58(),
        "sign_receipt_id": r.sign_receipt_id.to_base58(),
        "predecessor": r.predecessor,
        "path": r.path,
        "payload": hex::encode(&r.payload),
        "tweak": hex::encode(&r.tweak),
        "domain_id": r.domain_id,
        "request": r.respond_request(),
        "created_height": r.created_height,
        "status": status,
        "result": extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_parsing() {
        let c = parse_call(br#"{"jsonrpc":"2.0","id":"x","method":"status","params":[]}"#).unwrap();
        assert_eq!(c.id, json!("x"));
        assert_eq!(c.method, "status");
        assert!(parse_call(b"[]").is_err());
        assert!(parse_call(b"{").is_err());
        let (id, e) = parse_call(br#"{"jsonrpc":"1.0","id":5,"method":"status"}"#).unwrap_err();
        assert_eq!(id, json!(5));
        assert_eq!(e.code, -32700);
        assert!(parse_call(br#"{"jsonrpc":"2.0","id":{},"method":"status"}"#).is_err());
        assert!(parse_call(br#"{"jsonrpc":"2.0","id":1,"method":"status","params":3}"#).is_err());
        let e = RpcError::method_not_found("nope").to_json();
        assert_eq!(e["cause"]["name"], "METHOD_NOT_FOUND");
        assert_eq!(e["code"], -32601);
    }
}
