//! RPC-shaped JSON in, typed values out. Accepts a bare `result`, a JSON-RPC
//! envelope, or the fixtures' `{last_block_hash, body}`; every malformed field
//! is a [`ViewError`] naming the field. Sizes are bounded before parsing.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::crypto::{KeyParseError, PublicKey, Signature};
use crate::hash::{CryptoHash, Direction, HashParseError, MerklePathItem};
use crate::proof::{BlockProof, ExecutionOutcome, ExecutionProof, ExecutionStatus, OutcomeWithProof};
use crate::types::{BlockHeaderLite, InnerLite, LightClientBlock, ValidatorStake, MAX_ACCOUNT_ID_LEN, MAX_PRODUCERS};

/// Largest JSON document this module parses (a light-client block with 100
/// producers is ~35 KB; a `block` answer ~50 KB; a chunk a few MB at worst).
pub const MAX_JSON_BYTES: usize = 8 * 1024 * 1024;
/// Longest Merkle path accepted (block proofs are ~log2(height) ≈ 30 steps).
pub const MAX_MERKLE_PATH: usize = 128;
/// nearcore caps logs per receipt at 100 and their total length at 16 KiB.
pub const MAX_LOGS: usize = 100;
pub const MAX_LOG_BYTES: usize = 16 * 1024;
/// Receipts produced by one outcome; generous, bounded.
pub const MAX_RECEIPT_IDS: usize = 1024;
/// Largest SuccessValue accepted (base64-decoded).
pub const MAX_SUCCESS_VALUE: usize = 64 * 1024;

/// Why a JSON answer was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewError {
    /// Larger than the bound for its kind.
    TooLarge { bytes: usize, max: usize },
    /// Not JSON, or not the expected shape (serde's message, without input).
    Json { context: &'static str, message: String },
    /// The endpoint answered a JSON-RPC error.
    Rpc { code: i64, name: String, message: String },
    /// An envelope with neither `result` nor `error`, or an empty result.
    EmptyResult,
    Hash { field: &'static str, error: HashParseError },
    Key { field: &'static str, error: KeyParseError },
    /// A decimal integer that does not parse or overflows.
    Number { field: &'static str },
    /// A list longer than its bound.
    TooMany { field: &'static str, count: usize, max: usize },
    /// A field holding a value this crate does not know.
    Unsupported { field: &'static str, what: String },
    /// Base64 that does not decode.
    Base64 { field: &'static str },
    /// An account id that breaks NEAR's rules.
    AccountId { field: &'static str },
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { bytes, max } => write!(f, "document of {bytes} bytes exceeds {max}"),
            Self::Json { context, message } => write!(f, "malformed {context}: {message}"),
            Self::Rpc { code, name, message } => write!(f, "RPC error {code} {name}: {message}"),
            Self::EmptyResult => f.write_str("empty result"),
            Self::Hash { field, error } => write!(f, "{field}: {error}"),
            Self::Key { field, error } => write!(f, "{field}: {error}"),
            Self::Number { field } => write!(f, "{field}: not a valid integer"),
            Self::TooMany { field, count, max } => write!(f, "{field}: {count} entries exceed {max}"),
            Self::Unsupported { field, what } => write!(f, "{field}: unsupported {what}"),
            Self::Base64 { field } => write!(f, "{field}: invalid base64"),
            Self::AccountId { field } => write!(f, "{field}: invalid account id"),
        }
    }
}

/// Parses bytes into a JSON value, bounded in size.
pub fn parse_json(bytes: &[u8], max: usize) -> Result<Value, ViewError> {
    if bytes.len() > max {
        return Err(ViewError::TooLarge { bytes: bytes.len(), max });
    }
    serde_json::from_slice(bytes).map_err(|e| json_err("JSON", e))
}

fn json_err(context: &'static str, e: serde_json::Error) -> ViewError {
    // serde_json's message names line/column and the expected type, not the input.
    let mut message = e.to_string();
    message.truncate(200);
    ViewError::Json { context, message }
}

/// Strips a JSON-RPC envelope or the fixtures' `{last_block_hash, body}`.
pub fn unwrap_result(v: Value) -> Result<Value, ViewError> {
    let Value::Object(mut map) = v else { return Ok(v) };
    if let Some(err) = map.remove("error") {
        return Err(rpc_error(&err));
    }
    if map.contains_key("jsonrpc") || (map.contains_key("result") && map.contains_key("id")) {
        return match map.remove("result") {
            Some(Value::Null) | None => Err(ViewError::EmptyResult),
            Some(r) => Ok(r),
        };
    }
    if map.contains_key("last_block_hash") && map.contains_key("body") {
        return match map.remove("body") {
            Some(Value::Null) | None => Err(ViewError::EmptyResult),
            Some(b) => Ok(b),
        };
    }
    Ok(Value::Object(map))
}

fn rpc_error(err: &Value) -> ViewError {
    let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
    let name = err
        .get("cause")
        .and_then(|c| c.get("name"))
        .or_else(|| err.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(80)
        .collect();
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    ViewError::Rpc { code, name, message }
}

fn typed<T: for<'de> Deserialize<'de>>(v: Value, context: &'static str) -> Result<T, ViewError> {
    serde_json::from_value(v).map_err(|e| json_err(context, e))
}

pub(crate) fn hash(field: &'static str, s: &str) -> Result<CryptoHash, ViewError> {
    CryptoHash::from_base58(s).map_err(|error| ViewError::Hash { field, error })
}

pub(crate) fn u128_text(field: &'static str, s: &str) -> Result<u128, ViewError> {
    if s.is_empty() || s.len() > 39 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ViewError::Number { field });
    }
    s.parse::<u128>().map_err(|_| ViewError::Number { field })
}

/// A u64 given either as a JSON number or as a decimal string.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum U64Json {
    Num(u64),
    Text(String),
}

impl U64Json {
    pub(crate) fn get(&self, field: &'static str) -> Result<u64, ViewError> {
        match self {
            Self::Num(n) => Ok(*n),
            Self::Text(s) => {
                if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ViewError::Number { field });
                }
                s.parse().map_err(|_| ViewError::Number { field })
            }
        }
    }
}

/// NEAR account-id rules: 2..=64 chars of `a-z0-9_-.`, separators not at the
/// ends nor adjacent.
pub fn is_valid_account_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || b.len() > MAX_ACCOUNT_ID_LEN {
        return false;
    }
    let mut prev_sep = true;
    for &c in b {
        let sep = matches!(c, b'-' | b'_' | b'.');
        if sep {
            if prev_sep {
                return false;
            }
        } else if !(c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return false;
        }
        prev_sep = sep;
    }
    !prev_sep
}

pub(crate) fn account(field: &'static str, s: String) -> Result<String, ViewError> {
    if is_valid_account_id(&s) {
        Ok(s)
    } else {
        Err(ViewError::AccountId { field })
    }
}

fn bounded<T>(field: &'static str, v: Vec<T>, max: usize) -> Result<Vec<T>, ViewError> {
    if v.len() > max {
        return Err(ViewError::TooMany { field, count: v.len(), max });
    }
    Ok(v)
}

#[derive(Deserialize)]
struct InnerLiteJson {
    height: u64,
    epoch_id: String,
    next_epoch_id: String,
    prev_state_root: String,
    outcome_root: String,
    #[serde(default)]
    timestamp: Option<U64Json>,
    #[serde(default)]
    timestamp_nanosec: Option<U64Json>,
    next_bp_hash: String,
    block_merkle_root: String,
    #[serde(default)]
    chunk_execution_root: Option<String>,
}

impl InnerLiteJson {
    fn into_typed(self) -> Result<InnerLite, ViewError> {
        // timestamp_nanosec is exact text; `timestamp` may have been through a float.
        let timestamp = match (&self.timestamp_nanosec, &self.timestamp) {
            (Some(t), _) => t.get("inner_lite.timestamp_nanosec")?,
            (None, Some(t)) => t.get("inner_lite.timestamp")?,
            (None, None) => return Err(ViewError::Number { field: "inner_lite.timestamp_nanosec" }),
        };
        Ok(InnerLite {
            height: self.height,
            epoch_id: hash("inner_lite.epoch_id", &self.epoch_id)?,
            next_epoch_id: hash("inner_lite.next_epoch_id", &self.next_epoch_id)?,
            prev_state_root: hash("inner_lite.prev_state_root", &self.prev_state_root)?,
            outcome_root: hash("inner_lite.outcome_root", &self.outcome_root)?,
            timestamp,
            next_bp_hash: hash("inner_lite.next_bp_hash", &self.next_bp_hash)?,
            block_merkle_root: hash("inner_lite.block_merkle_root", &self.block_merkle_root)?,
            chunk_execution_root: match &self.chunk_execution_root {
                Some(s) => Some(hash("inner_lite.chunk_execution_root", s)?),
                None => None,
            },
        })
    }
}

#[derive(Deserialize)]
struct ValidatorStakeJson {
    account_id: String,
    public_key: String,
    stake: String,
    #[serde(default)]
    validator_stake_struct_version: Option<String>,
}

impl ValidatorStakeJson {
    fn into_typed(self) -> Result<ValidatorStake, ViewError> {
        if let Some(v) = &self.validator_stake_struct_version {
            if v != "V1" {
                return Err(ViewError::Unsupported { field: "validator_stake_struct_version", what: v.chars().take(16).collect() });
            }
        }
        Ok(ValidatorStake {
            account_id: account("bps.account_id", self.account_id)?,
            public_key: PublicKey::parse(&self.public_key).map_err(|error| ViewError::Key { field: "bps.public_key", error })?,
            stake: u128_text("bps.stake", &self.stake)?,
        })
    }
}

fn producers(list: Vec<ValidatorStakeJson>, field: &'static str) -> Result<Vec<ValidatorStake>, ViewError> {
    bounded(field, list, MAX_PRODUCERS)?.into_iter().map(ValidatorStakeJson::into_typed).collect()
}

#[derive(Deserialize)]
struct LightClientBlockJson {
    prev_block_hash: String,
    next_block_inner_hash: String,
    inner_lite: InnerLiteJson,
    inner_rest_hash: String,
    #[serde(default)]
    next_bps: Option<Vec<ValidatorStakeJson>>,
    approvals_after_next: Vec<Option<String>>,
}

#[derive(Deserialize)]
struct HeaderLiteJson {
    prev_block_hash: String,
    inner_rest_hash: String,
    inner_lite: InnerLiteJson,
}

impl HeaderLiteJson {
    fn into_typed(self) -> Result<BlockHeaderLite, ViewError> {
        Ok(BlockHeaderLite {
            prev_block_hash: hash("prev_block_hash", &self.prev_block_hash)?,
            inner_rest_hash: hash("inner_rest_hash", &self.inner_rest_hash)?,
            inner_lite: self.inner_lite.into_typed()?,
        })
    }
}

/// Whether a `next_light_client_block` result means "nothing newer": nearcore
/// answers `{}` when it has no block newer than the one asked about, and also
/// when it lacks that block's history. (`null` does not reach here:
/// [`unwrap_result`] refuses an empty result.)
pub fn is_nothing_newer(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.is_empty())
}

/// A `next_light_client_block` result.
pub fn light_client_block_from_value(v: Value) -> Result<LightClientBlock, ViewError> {
    let j: LightClientBlockJson = typed(unwrap_result(v)?, "light client block")?;
    let approvals = bounded("approvals_after_next", j.approvals_after_next, MAX_PRODUCERS)?
        .into_iter()
        .map(|a| match a {
            None => Ok(None),
            Some(s) => Signature::parse(&s).map(Some).map_err(|error| ViewError::Key { field: "approvals_after_next", error }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LightClientBlock {
        prev_block_hash: hash("prev_block_hash", &j.prev_block_hash)?,
        next_block_inner_hash: hash("next_block_inner_hash", &j.next_block_inner_hash)?,
        inner_lite: j.inner_lite.into_typed()?,
        inner_rest_hash: hash("inner_rest_hash", &j.inner_rest_hash)?,
        next_bps: match j.next_bps {
            Some(list) => Some(producers(list, "next_bps")?),
            None => None,
        },
        approvals_after_next: approvals,
    })
}

pub fn parse_light_client_block(bytes: &[u8]) -> Result<LightClientBlock, ViewError> {
    light_client_block_from_value(parse_json(bytes, MAX_JSON_BYTES)?)
}

/// A light-client block or a `LightClientBlockLiteView` (prev_block_hash,
/// inner_rest_hash, inner_lite): the head a proof or block is checked against.
pub fn header_lite_from_value(v: Value) -> Result<BlockHeaderLite, ViewError> {
    typed::<HeaderLiteJson>(unwrap_result(v)?, "block header lite")?.into_typed()
}

pub fn parse_header_lite(bytes: &[u8]) -> Result<BlockHeaderLite, ViewError> {
    header_lite_from_value(parse_json(bytes, MAX_JSON_BYTES)?)
}

/// A JSON array of validator stake views (or an envelope around one).
pub fn producers_from_value(v: Value) -> Result<Vec<ValidatorStake>, ViewError> {
    let list: Vec<ValidatorStakeJson> = typed(unwrap_result(v)?, "block producer list")?;
    producers(list, "bps")
}

pub fn parse_producers(bytes: &[u8]) -> Result<Vec<ValidatorStake>, ViewError> {
    producers_from_value(parse_json(bytes, MAX_JSON_BYTES)?)
}

#[derive(Deserialize)]
struct PathItemJson {
    hash: String,
    direction: String,
}

fn merkle_path(field: &'static str, items: Vec<PathItemJson>) -> Result<Vec<MerklePathItem>, ViewError> {
    bounded(field, items, MAX_MERKLE_PATH)?
        .into_iter()
        .map(|i| {
            let direction = match i.direction.as_str() {
                "Left" => Direction::Left,
                "Right" => Direction::Right,
                other => return Err(ViewError::Unsupported { field, what: other.chars().take(16).collect() }),
            };
            Ok(MerklePathItem { hash: hash(field, &i.hash)?, direction })
        })
        .collect()
}

#[derive(Deserialize)]
struct OutcomeJson {
    #[serde(default)]
    logs: Vec<String>,
    #[serde(default)]
    receipt_ids: Vec<String>,
    gas_burnt: U64Json,
    tokens_burnt: String,
    executor_id: String,
    status: Value,
}

#[derive(Deserialize)]
struct OutcomeWithProofJson {
    proof: Vec<PathItemJson>,
    block_hash: String,
    id: String,
    outcome: OutcomeJson,
}

fn status(v: Value) -> Result<ExecutionStatus, ViewError> {
    const F: &str = "outcome.status";
    match v {
        Value::String(s) if s == "Unknown" => Ok(ExecutionStatus::Unknown),
        Value::Object(map) if map.len() == 1 => {
            let (k, val) = map.into_iter().next().ok_or(ViewError::Unsupported { field: F, what: String::from("empty") })?;
            match (k.as_str(), val) {
                ("Failure", _) => Ok(ExecutionStatus::Failure),
                ("SuccessValue", Value::String(b64)) => {
                    use base64::Engine;
                    if b64.len() > MAX_SUCCESS_VALUE * 4 / 3 + 4 {
                        return Err(ViewError::TooMany { field: F, count: b64.len(), max: MAX_SUCCESS_VALUE });
                    }
                    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).map_err(|_| ViewError::Base64 { field: F })?;
                    Ok(ExecutionStatus::SuccessValue(bytes))
                }
                ("SuccessReceiptId", Value::String(h)) => Ok(ExecutionStatus::SuccessReceiptId(hash(F, &h)?)),
                (other, _) => Err(ViewError::Unsupported { field: F, what: other.chars().take(32).collect() }),
            }
        }
        _ => Err(ViewError::Unsupported { field: F, what: String::from("shape") }),
    }
}

impl OutcomeWithProofJson {
    fn into_typed(self) -> Result<OutcomeWithProof, ViewError> {
        let o = self.outcome;
        let logs = bounded("outcome.logs", o.logs, MAX_LOGS)?;
        let total: usize = logs.iter().map(String::len).sum();
        if total > MAX_LOG_BYTES {
            return Err(ViewError::TooMany { field: "outcome.logs bytes", count: total, max: MAX_LOG_BYTES });
        }
        Ok(OutcomeWithProof {
            proof: merkle_path("outcome_proof.proof", self.proof)?,
            block_hash: hash("outcome_proof.block_hash", &self.block_hash)?,
            id: hash("outcome_proof.id", &self.id)?,
            outcome: ExecutionOutcome {
                logs,
                receipt_ids: bounded("outcome.receipt_ids", o.receipt_ids, MAX_RECEIPT_IDS)?
                    .iter()
                    .map(|r| hash("outcome.receipt_ids", r))
                    .collect::<Result<_, _>>()?,
                gas_burnt: o.gas_burnt.get("outcome.gas_burnt")?,
                tokens_burnt: u128_text("outcome.tokens_burnt", &o.tokens_burnt)?,
                executor_id: account("outcome.executor_id", o.executor_id)?,
                status: status(o.status)?,
            },
        })
    }
}

#[derive(Deserialize)]
struct ExecutionProofJson {
    outcome_proof: OutcomeWithProofJson,
    outcome_root_proof: Vec<PathItemJson>,
    block_header_lite: HeaderLiteJson,
    block_proof: Vec<PathItemJson>,
}

/// A `light_client_proof` (transaction or receipt) result.
pub fn execution_proof_from_value(v: Value) -> Result<ExecutionProof, ViewError> {
    let j: ExecutionProofJson = typed(unwrap_result(v)?, "light client proof")?;
    Ok(ExecutionProof {
        outcome_proof: j.outcome_proof.into_typed()?,
        outcome_root_proof: merkle_path("outcome_root_proof", j.outcome_root_proof)?,
        block_header_lite: j.block_header_lite.into_typed()?,
        block_proof: merkle_path("block_proof", j.block_proof)?,
    })
}

pub fn parse_execution_proof(bytes: &[u8]) -> Result<ExecutionProof, ViewError> {
    execution_proof_from_value(parse_json(bytes, MAX_JSON_BYTES)?)
}

#[derive(Deserialize)]
struct BlockProofJson {
    block_header_lite: HeaderLiteJson,
    proof: Vec<PathItemJson>,
}

/// An `EXPERIMENTAL_light_client_block_proof` result.
pub fn block_proof_from_value(v: Value) -> Result<BlockProof, ViewError> {
    let j: BlockProofJson = typed(unwrap_result(v)?, "light client block proof")?;
    Ok(BlockProof { block_header_lite: j.block_header_lite.into_typed()?, proof: merkle_path("proof", j.proof)? })
}

pub fn parse_block_proof(bytes: &[u8]) -> Result<BlockProof, ViewError> {
    block_proof_from_value(parse_json(bytes, MAX_JSON_BYTES)?)
}

/// Which kind of proof a document holds (for the CLI's single `verify-proof`).
pub enum AnyProof {
    Execution(ExecutionProof),
    Block(BlockProof),
}

pub fn parse_any_proof(bytes: &[u8]) -> Result<AnyProof, ViewError> {
    let v = unwrap_result(parse_json(bytes, MAX_JSON_BYTES)?)?;
    if v.get("outcome_proof").is_some() {
        Ok(AnyProof::Execution(execution_proof_from_value(v)?))
    } else {
        Ok(AnyProof::Block(block_proof_from_value(v)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_rules() {
        for ok in ["ab", "alice.near", "v1.signer", "a-b_c.d", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"] {
            assert!(is_valid_account_id(ok), "{ok}");
        }
        for bad in ["a", "", "Alice.near", ".a", "a.", "a..b", "a-_b", "a b", "ä.near", &"a".repeat(65)] {
            assert!(!is_valid_account_id(bad), "{bad}");
        }
    }

    #[test]
    fn envelopes() {
        let v: Value = serde_json::from_str(r#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#).unwrap();
        assert_eq!(unwrap_result(v).unwrap(), serde_json::json!({"a":1}));
        let v: Value = serde_json::from_str(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"m","cause":{"name":"UNKNOWN_BLOCK"}}}"#).unwrap();
        assert!(matches!(unwrap_result(v), Err(ViewError::Rpc { code: -32000, .. })));
        let v: Value = serde_json::from_str(r#"{"last_block_hash":"x","body":{"b":2}}"#).unwrap();
        assert_eq!(unwrap_result(v).unwrap(), serde_json::json!({"b":2}));
        assert!(matches!(parse_json(&[b' '; 10], 5), Err(ViewError::TooLarge { .. })));
    }

    #[test]
    fn nothing_newer_is_only_the_empty_object() {
        assert!(is_nothing_newer(&serde_json::json!({})));
        for v in [serde_json::json!(null), serde_json::json!([]), serde_json::json!({"prev_block_hash": "x"}), serde_json::json!("")] {
            assert!(!is_nothing_newer(&v), "{v}");
        }
    }
}
