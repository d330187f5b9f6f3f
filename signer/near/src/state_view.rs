//! `query` answers with proofs (`view_state` / `view_account` with `include_proof`) checked
//! against a shard state root, using [`crate::state_proof`].
//!
//! `view_state` answers carry `values` (`{key, value}` base64) and `proof` (base64 nodes, or
//! the integer arrays of nearcore before 1.35). Each value is proven on its own; when the caller
//! also names the prefix it asked for, the answer's key list is proven complete (the trie holds
//! no other key under that prefix), so a withheld key cannot pass either.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::hash::CryptoHash;
use crate::state_proof::{self, ProofNodes, StateProofError, ValueRef};
use crate::view::{self, ViewError};

/// Largest `view_state` document accepted (JSON text).
pub const MAX_VIEW_STATE_BYTES: usize = 32 * 1024 * 1024;
/// Values accepted in one answer.
pub const MAX_VALUES: usize = 10_000;
/// One key (contract storage keys are at most 2 KiB on NEAR).
pub const MAX_KEY_BYTES: usize = 2048;
/// One value or proof entry, decoded.
pub const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;

/// A parsed `view_state` answer; nothing in it is proven yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewStateAnswer {
    pub block_hash: Option<CryptoHash>,
    pub block_height: Option<u64>,
    /// `(key, value)` as the endpoint listed them.
    pub values: Vec<(Vec<u8>, Vec<u8>)>,
    /// Proof entries as given.
    pub proof: Vec<Vec<u8>>,
}

#[derive(Deserialize)]
struct ItemJson {
    key: String,
    value: String,
}

/// nearcore ≥ 1.35 writes proof entries as base64; earlier as arrays of byte values.
#[derive(Deserialize)]
#[serde(untagged)]
enum EntryJson {
    Base64(String),
    Bytes(Vec<u8>),
}

#[derive(Deserialize)]
struct AnswerJson {
    #[serde(default)]
    block_hash: Option<String>,
    #[serde(default)]
    block_height: Option<u64>,
    values: Vec<ItemJson>,
    #[serde(default)]
    proof: Vec<EntryJson>,
}

fn b64(field: &'static str, s: &str, max: usize) -> Result<Vec<u8>, ViewError> {
    use base64::Engine;
    // 4 base64 characters carry 3 bytes: refuse oversized text before decoding it.
    if s.len() / 4 * 3 > max + 3 {
        return Err(ViewError::TooLarge { bytes: s.len(), max });
    }
    let out = base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).map_err(|_| ViewError::Base64 { field })?;
    if out.len() > max {
        return Err(ViewError::TooLarge { bytes: out.len(), max });
    }
    Ok(out)
}

/// Parses a `view_state` answer (bare result or JSON-RPC envelope).
pub fn view_state_from_value(v: Value) -> Result<ViewStateAnswer, ViewError> {
    let v = view::unwrap_result(v)?;
    let j: AnswerJson = serde_json::from_value(v).map_err(|e| {
        let mut message = alloc::string::ToString::to_string(&e);
        message.truncate(200);
        ViewError::Json { context: "view_state answer", message }
    })?;
    if j.values.len() > MAX_VALUES {
        return Err(ViewError::TooMany { field: "values", count: j.values.len(), max: MAX_VALUES });
    }
    if j.proof.len() > state_proof::MAX_PROOF_ENTRIES {
        return Err(ViewError::TooMany { field: "proof", count: j.proof.len(), max: state_proof::MAX_PROOF_ENTRIES });
    }
    let values = j
        .values
        .iter()
        .map(|it| Ok((b64("values.key", &it.key, MAX_KEY_BYTES)?, b64("values.value", &it.value, MAX_ENTRY_BYTES)?)))
        .collect::<Result<Vec<_>, ViewError>>()?;
    let proof = j
        .proof
        .into_iter()
        .map(|e| match e {
            EntryJson::Base64(s) => b64("proof", &s, MAX_ENTRY_BYTES),
            EntryJson::Bytes(b) if b.len() <= MAX_ENTRY_BYTES => Ok(b),
            EntryJson::Bytes(b) => Err(ViewError::TooLarge { bytes: b.len(), max: MAX_ENTRY_BYTES }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let block_hash = j.block_hash.as_deref().map(|s| view::hash("block_hash", s)).transpose()?;
    Ok(ViewStateAnswer { block_hash, block_height: j.block_height, values, proof })
}

/// Parses a `view_state` answer from bytes, bounded.
pub fn parse_view_state(bytes: &[u8]) -> Result<ViewStateAnswer, ViewError> {
    view_state_from_value(view::parse_json(bytes, MAX_VIEW_STATE_BYTES)?)
}

/// The verdict on one listed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueVerdict {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub result: Result<(), StateProofError>,
}

/// Why an answer as a whole was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateViewError {
    /// The account id breaks NEAR's rules (it would build a different trie key).
    BadAccountId,
    Proof(StateProofError),
    /// The same key listed twice with different values.
    DuplicateKey,
    /// A listed key lies outside the prefix asked for.
    OutsidePrefix,
    /// The trie holds a key under the prefix that the answer did not list.
    Withheld { key: Vec<u8> },
    /// The answer lists a key the trie does not hold under the prefix.
    NotInTrie { key: Vec<u8> },
    /// A listed value disagrees with the trie.
    ValueMismatch { key: Vec<u8> },
}

impl From<StateProofError> for StateViewError {
    fn from(e: StateProofError) -> Self {
        Self::Proof(e)
    }
}

impl fmt::Display for StateViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadAccountId => f.write_str("invalid account id"),
            Self::Proof(e) => write!(f, "{e}"),
            Self::DuplicateKey => f.write_str("a key is listed twice"),
            Self::OutsidePrefix => f.write_str("a listed key is outside the requested prefix"),
            Self::Withheld { key } => write!(f, "the answer withholds key {}", hex(key)),
            Self::NotInTrie { key } => write!(f, "key {} is not in the trie", hex(key)),
            Self::ValueMismatch { key } => write!(f, "value of key {} disagrees with the trie", hex(key)),
        }
    }
}

/// Lower-case hex, for messages and the CLI.
pub fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Proves each listed value of `account_id`'s storage under `state_root`, one verdict each.
pub fn verify_values(
    state_root: &CryptoHash,
    account_id: &str,
    answer: &ViewStateAnswer,
) -> Result<Vec<ValueVerdict>, StateViewError> {
    if !view::is_valid_account_id(account_id) {
        return Err(StateViewError::BadAccountId);
    }
    let nodes = ProofNodes::new(answer.proof.clone())?;
    Ok(answer
        .values
        .iter()
        .map(|(key, value)| {
            let trie_key = state_proof::contract_data_key(account_id, key);
            let result = state_proof::prove_value(state_root, &nodes, &trie_key, value);
            ValueVerdict { key: key.clone(), value: value.clone(), result }
        })
        .collect())
}

/// Proves that the answer lists exactly the storage of `account_id` under `prefix` (every key,
/// every value) at `state_root`. Returns the proven map, key → value.
pub fn verify_complete(
    state_root: &CryptoHash,
    account_id: &str,
    prefix: &[u8],
    answer: &ViewStateAnswer,
) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StateViewError> {
    if !view::is_valid_account_id(account_id) {
        return Err(StateViewError::BadAccountId);
    }
    let mut listed = BTreeMap::new();
    for (k, v) in &answer.values {
        if !k.starts_with(prefix) {
            return Err(StateViewError::OutsidePrefix);
        }
        if let Some(old) = listed.insert(k.clone(), v.clone()) {
            if &old != v {
                return Err(StateViewError::DuplicateKey);
            }
        }
    }
    let nodes = ProofNodes::new(answer.proof.clone())?;
    let full_prefix = state_proof::contract_data_key(account_id, prefix);
    let head = full_prefix.len() - prefix.len();
    let in_trie = state_proof::entries_with_prefix(state_root, &nodes, &full_prefix)?;
    let mut trie: BTreeMap<Vec<u8>, ValueRef> = BTreeMap::new();
    for (full, vref) in in_trie {
        // Every entry starts with the full prefix, so the split cannot fail; be total anyway.
        let key = full.get(head..).unwrap_or_default().to_vec();
        if !listed.contains_key(&key) {
            return Err(StateViewError::Withheld { key });
        }
        trie.insert(key, vref);
    }
    for (key, value) in &listed {
        match trie.get(key) {
            None => return Err(StateViewError::NotInTrie { key: key.clone() }),
            Some(r) if !r.matches(value) => return Err(StateViewError::ValueMismatch { key: key.clone() }),
            Some(_) => {}
        }
    }
    Ok(listed)
}

/// The fields of a proven account record the node needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    pub amount: u128,
    pub locked: u128,
    pub code_hash: CryptoHash,
    pub storage_usage: u64,
}

/// Why an account record was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRecordError {
    /// Not the 72-byte V1 layout.
    BadLength { bytes: usize },
    /// nearcore's versioned layout (sentinel `u128::MAX` first: global contracts,
    /// uninitialized accounts). Not decoded here: the node does not act on such an account.
    VersionedLayout,
}

impl fmt::Display for AccountRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength { bytes } => write!(f, "account record of {bytes} bytes is not the V1 layout"),
            Self::VersionedLayout => f.write_str("account record uses the versioned (V2+) layout, not decoded"),
        }
    }
}

/// Decodes `borsh(AccountV1)`: amount u128, locked u128, code_hash, storage_usage u64.
pub fn decode_account_record(bytes: &[u8]) -> Result<AccountRecord, AccountRecordError> {
    let mut r = crate::borsh::Reader::new(bytes);
    let amount = r.u128().map_err(|_| AccountRecordError::BadLength { bytes: bytes.len() })?;
    if amount == u128::MAX {
        return Err(AccountRecordError::VersionedLayout);
    }
    let bad = |_| AccountRecordError::BadLength { bytes: bytes.len() };
    let locked = r.u128().map_err(bad)?;
    let code_hash = CryptoHash(r.array().map_err(bad)?);
    let storage_usage = r.u64().map_err(bad)?;
    r.finish().map_err(bad)?;
    Ok(AccountRecord { amount, locked, code_hash, storage_usage })
}

/// Proves `account_id`'s record (`TrieKey::Account`) from proof entries and the record bytes.
pub fn prove_account(
    state_root: &CryptoHash,
    account_id: &str,
    record: &[u8],
    proof: Vec<Vec<u8>>,
) -> Result<(), StateViewError> {
    if !view::is_valid_account_id(account_id) {
        return Err(StateViewError::BadAccountId);
    }
    let nodes = ProofNodes::new(proof)?;
    state_proof::prove_value(state_root, &nodes, &state_proof::account_key(account_id), record)?;
    Ok(())
}
