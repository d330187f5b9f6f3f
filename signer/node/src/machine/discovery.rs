//! Finding sign-request *candidates* in unverified `block` and `chunk` answers.
//!
//! Nothing here is trusted: an endpoint can invent receipts or hide them. A candidate is only
//! a receipt id to ask a `light_client_proof` for; it becomes a request only when that proof
//! verifies against the light-client head and `tdsigner-near` turns it into a `SignRequest`.
//! A lying endpoint can therefore cost proof requests (bounded per poll, and counted) or hide
//! requests (liveness, defeated by another endpoint), never cause a signature.
//!
//! Where the receipts are: a user's `sign` transaction becomes a receipt in the user's shard;
//! it is listed among the *outgoing* receipts of that shard's next chunk (`ChunkView.receipts`)
//! and executes in the contract's shard one block later. So every new chunk of every shard
//! is looked at, except chunks whose `outgoing_receipts_root` is the empty root.

use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;
use tdsigner_near::CryptoHash;

/// Most chunks per block looked at.
pub const MAX_CHUNKS: usize = 64;
/// Most receipts per chunk looked at.
pub const MAX_RECEIPTS: usize = 4096;

/// Why an answer was not usable for discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    Field { field: &'static str },
    TooMany { field: &'static str },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field { field } => write!(f, "missing or malformed {field}"),
            Self::TooMany { field } => write!(f, "too many entries in {field}"),
        }
    }
}

/// A chunk worth fetching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    pub shard_id: u64,
    pub chunk_hash: CryptoHash,
}

/// What a `block` answer says (unverified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSummary {
    pub hash: CryptoHash,
    pub height: u64,
    /// New chunks (included at this height) with outgoing receipts.
    pub chunks: Vec<ChunkRef>,
}

fn hash_field(v: &Value, key: &str, field: &'static str) -> Result<CryptoHash, DiscoveryError> {
    let s = v.get(key).and_then(Value::as_str).ok_or(DiscoveryError::Field { field })?;
    CryptoHash::from_base58(s).map_err(|_| DiscoveryError::Field { field })
}

/// Reads a `block` result.
pub fn block_summary(v: &Value) -> Result<BlockSummary, DiscoveryError> {
    let header = v.get("header").ok_or(DiscoveryError::Field { field: "header" })?;
    let hash = hash_field(header, "hash", "header.hash")?;
    let height = header.get("height").and_then(Value::as_u64).ok_or(DiscoveryError::Field { field: "header.height" })?;
    let chunks = v.get("chunks").and_then(Value::as_array).ok_or(DiscoveryError::Field { field: "chunks" })?;
    if chunks.len() > MAX_CHUNKS {
        return Err(DiscoveryError::TooMany { field: "chunks" });
    }
    let mut out = Vec::new();
    for c in chunks {
        let included = c.get("height_included").and_then(Value::as_u64).ok_or(DiscoveryError::Field { field: "chunk.height_included" })?;
        if included != height {
            continue;
        }
        let root = hash_field(c, "outgoing_receipts_root", "chunk.outgoing_receipts_root")?;
        if root == CryptoHash::default() {
            continue;
        }
        let shard_id = c.get("shard_id").and_then(Value::as_u64).ok_or(DiscoveryError::Field { field: "chunk.shard_id" })?;
        out.push(ChunkRef { shard_id, chunk_hash: hash_field(c, "chunk_hash", "chunk.chunk_hash")? });
    }
    Ok(BlockSummary { hash, height, chunks: out })
}

/// Receipt ids in a `chunk` result that call `sign` on `contract`.
pub fn sign_candidates(v: &Value, contract: &str) -> Result<Vec<CryptoHash>, DiscoveryError> {
    let receipts = v.get("receipts").and_then(Value::as_array).ok_or(DiscoveryError::Field { field: "receipts" })?;
    if receipts.len() > MAX_RECEIPTS {
        return Err(DiscoveryError::TooMany { field: "receipts" });
    }
    let mut out = Vec::new();
    for r in receipts {
        if r.get("receiver_id").and_then(Value::as_str) != Some(contract) {
            continue;
        }
        let Some(actions) = r.get("receipt").and_then(|b| b.get("Action")).and_then(|a| a.get("actions")).and_then(Value::as_array) else {
            continue;
        };
        let calls_sign = actions
            .iter()
            .take(64)
            .any(|a| a.get("FunctionCall").and_then(|f| f.get("method_name")).and_then(Value::as_str) == Some("sign"));
        if calls_sign {
            out.push(hash_field(r, "receipt_id", "receipt.receipt_id")?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_new_chunks_and_sign_receipts() {
        let h = |b: u8| CryptoHash([b; 32]).to_base58();
        let block = json!({"header": {"hash": h(1), "height": 10}, "chunks": [
            {"chunk_hash": h(2), "height_included": 10, "shard_id": 0, "outgoing_receipts_root": h(9)},
            {"chunk_hash": h(3), "height_included": 9, "shard_id": 1, "outgoing_receipts_root": h(9)},
            {"chunk_hash": h(4), "height_included": 10, "shard_id": 2, "outgoing_receipts_root": CryptoHash::default().to_base58()},
        ]});
        let s = block_summary(&block).unwrap();
        assert_eq!(s.height, 10);
        assert_eq!(s.chunks, alloc::vec![ChunkRef { shard_id: 0, chunk_hash: CryptoHash([2; 32]) }]);
        let chunk = json!({"receipts": [
            {"receiver_id": "c.test", "receipt_id": h(5), "receipt": {"Action": {"actions": [{"FunctionCall": {"method_name": "sign"}}]}}},
            {"receiver_id": "c.test", "receipt_id": h(6), "receipt": {"Action": {"actions": [{"FunctionCall": {"method_name": "respond"}}]}}},
            {"receiver_id": "d.test", "receipt_id": h(7), "receipt": {"Action": {"actions": [{"FunctionCall": {"method_name": "sign"}}]}}},
            {"receiver_id": "c.test", "receipt_id": h(8), "receipt": {"Data": {}}},
        ]});
        assert_eq!(sign_candidates(&chunk, "c.test").unwrap(), alloc::vec![CryptoHash([5; 32])]);
        assert!(block_summary(&json!({"header": {}})).is_err());
        assert!(sign_candidates(&json!({}), "c.test").is_err());
    }
}
