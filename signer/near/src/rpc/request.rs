//! JSON-RPC request bodies for the methods the signer uses, and answer
//! parsing. Nothing here does I/O.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::{json, Value};

use crate::hash::CryptoHash;
use crate::view::{self, ViewError};

/// A request body and the id its answer must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub id: u64,
    pub method: &'static str,
    pub body: Vec<u8>,
}

fn build(id: u64, method: &'static str, params: Value) -> Request {
    let v = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    Request { id, method, body: serde_json::to_vec(&v).unwrap_or_default() }
}

/// Finality for `block` and `query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    Final,
    Optimistic,
}

impl Finality {
    fn as_str(self) -> &'static str {
        match self {
            Self::Final => "final",
            Self::Optimistic => "optimistic",
        }
    }
}

pub fn next_light_client_block(id: u64, last_block_hash: &CryptoHash) -> Request {
    build(id, "next_light_client_block", json!({ "last_block_hash": last_block_hash.to_base58() }))
}

/// `light_client_proof` for a receipt executed by `receiver_id`.
pub fn receipt_proof(id: u64, receipt_id: &CryptoHash, receiver_id: &str, head: &CryptoHash) -> Request {
    build(
        id,
        "light_client_proof",
        json!({ "type": "receipt", "receipt_id": receipt_id.to_base58(), "receiver_id": receiver_id, "light_client_head": head.to_base58() }),
    )
}

/// `light_client_proof` for a transaction sent by `sender_id`.
pub fn transaction_proof(id: u64, tx_hash: &CryptoHash, sender_id: &str, head: &CryptoHash) -> Request {
    build(
        id,
        "light_client_proof",
        json!({ "type": "transaction", "transaction_hash": tx_hash.to_base58(), "sender_id": sender_id, "light_client_head": head.to_base58() }),
    )
}

pub fn block_proof(id: u64, block_hash: &CryptoHash, head: &CryptoHash) -> Request {
    build(
        id,
        "EXPERIMENTAL_light_client_block_proof",
        json!({ "block_hash": block_hash.to_base58(), "light_client_head": head.to_base58() }),
    )
}

pub fn block_by_hash(id: u64, hash: &CryptoHash) -> Request {
    build(id, "block", json!({ "block_id": hash.to_base58() }))
}

pub fn block_by_finality(id: u64, finality: Finality) -> Request {
    build(id, "block", json!({ "finality": finality.as_str() }))
}

pub fn chunk(id: u64, block_hash: &CryptoHash, shard_id: u64) -> Request {
    build(id, "chunk", json!({ "block_id": block_hash.to_base58(), "shard_id": shard_id }))
}

pub fn view_access_key(id: u64, account_id: &str, public_key: &str, finality: Finality) -> Request {
    build(
        id,
        "query",
        json!({ "request_type": "view_access_key", "finality": finality.as_str(), "account_id": account_id, "public_key": public_key }),
    )
}

pub fn call_function(id: u64, account_id: &str, method_name: &str, args: &[u8], finality: Finality) -> Request {
    use base64::Engine;
    build(
        id,
        "query",
        json!({
            "request_type": "call_function", "finality": finality.as_str(), "account_id": account_id,
            "method_name": method_name, "args_base64": base64::engine::general_purpose::STANDARD.encode(args)
        }),
    )
}

/// `send_tx` with `wait_until` (e.g. "INCLUDED_FINAL", "EXECUTED_OPTIMISTIC", "NONE").
pub fn send_tx(id: u64, signed_tx_base64: &str, wait_until: &str) -> Request {
    build(id, "send_tx", json!({ "signed_tx_base64": signed_tx_base64, "wait_until": wait_until }))
}

/// Why an answer was not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerError {
    View(ViewError),
    /// Not a JSON-RPC 2.0 answer object.
    NotJsonRpc,
    /// Answer to another request.
    WrongId { expected: u64 },
}

impl From<ViewError> for AnswerError {
    fn from(e: ViewError) -> Self {
        Self::View(e)
    }
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::View(e) => write!(f, "{e}"),
            Self::NotJsonRpc => f.write_str("not a JSON-RPC 2.0 answer"),
            Self::WrongId { expected } => write!(f, "answer id does not match request id {expected}"),
        }
    }
}

/// Parses an answer body: bounded size, `jsonrpc: "2.0"`, matching id, then
/// `result` (a JSON-RPC `error` becomes [`ViewError::Rpc`]).
pub fn parse_answer(body: &[u8], expected_id: u64, max: usize) -> Result<Value, AnswerError> {
    let v = view::parse_json(body, max)?;
    if v.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(AnswerError::NotJsonRpc);
    }
    let id_ok = match v.get("id") {
        Some(Value::Number(n)) => n.as_u64() == Some(expected_id),
        Some(Value::String(s)) => s.parse::<u64>().ok() == Some(expected_id),
        _ => false,
    };
    if !id_ok {
        return Err(AnswerError::WrongId { expected: expected_id });
    }
    Ok(view::unwrap_result(v)?)
}

/// The `nonce` of a `view_access_key` answer and the block height it was read at.
pub fn access_key_nonce(result: &Value) -> Option<(u64, u64)> {
    Some((result.get("nonce")?.as_u64()?, result.get("block_height")?.as_u64()?))
}

/// The bytes a `call_function` returned (`result` is an array of u8).
pub fn call_function_result(result: &Value) -> Option<Vec<u8>> {
    let arr = result.get("result")?.as_array()?;
    if arr.len() > view::MAX_JSON_BYTES {
        return None;
    }
    arr.iter().map(|x| x.as_u64().and_then(|b| u8::try_from(b).ok())).collect()
}

/// The transaction hash a `send_tx` answer reports, if any.
pub fn sent_tx_hash(result: &Value) -> Option<String> {
    result.get("transaction")?.get("hash")?.as_str().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers() {
        let r = next_light_client_block(7, &CryptoHash([0; 32]));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["method"], "next_light_client_block");
        assert_eq!(v["params"]["last_block_hash"], "11111111111111111111111111111111");
        assert!(parse_answer(br#"{"jsonrpc":"2.0","id":7,"result":{"x":1}}"#, 7, 1000).is_ok());
        assert_eq!(parse_answer(br#"{"jsonrpc":"2.0","id":8,"result":{}}"#, 7, 1000), Err(AnswerError::WrongId { expected: 7 }));
        assert_eq!(parse_answer(br#"{"id":7,"result":{}}"#, 7, 1000), Err(AnswerError::NotJsonRpc));
        assert!(matches!(
            parse_answer(br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"x"}}"#, 7, 1000),
            Err(AnswerError::View(ViewError::Rpc { .. }))
        ));
        assert!(matches!(parse_answer(b"{}", 7, 1), Err(AnswerError::View(ViewError::TooLarge { .. }))));
        let q: Value = serde_json::json!({"result":[104,105],"block_height":1});
        assert_eq!(call_function_result(&q).unwrap(), b"hi");
    }
}
