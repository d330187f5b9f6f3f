//! Full block headers (the `header` of a `block` RPC answer), re-hashed from
//! their fields so that `random_value` and `chunk_mask` are read only when a
//! proven block hash commits them, and the entropy rule for sign requests.
//!
//! `inner_rest` has changed layout over protocol versions. This module encodes
//! the fields under each layout it knows (V3, V4, V5, V6) and accepts a header
//! only if *exactly one* layout reproduces the block hash: a wrong guess can
//! then only reject (withhold), never let a value through that the chain did
//! not commit. V3–V5 follow nearcore's `BlockHeaderInnerRestV3..V5`; V6
//! (V5 without `challenges_root`/`challenges_result`, with `shard_split`
//! appended) follows nearcore's description and is NOT pinned by a real block
//! fixture yet.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::borsh::Writer;
use crate::crypto::Signature;
use crate::hash::{CryptoHash, Direction, MerklePathItem};
use crate::proof::ProvenOutcome;
use crate::types::{block_hash, BlockHeaderLite, InnerLite, ValidatorStake, MAX_PRODUCERS};
use crate::view::{self, ViewError};

/// Layouts of `BlockHeaderInnerRest` this crate can re-encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerRestLayout {
    V3,
    V4,
    V5,
    V6,
}

/// The `inner_rest` fields of a header view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerRest {
    pub block_body_hash: Option<CryptoHash>,
    pub chunk_receipts_root: CryptoHash,
    pub chunk_headers_root: CryptoHash,
    pub chunk_tx_root: CryptoHash,
    pub challenges_root: CryptoHash,
    pub random_value: CryptoHash,
    pub validator_proposals: Vec<ValidatorStake>,
    pub chunk_mask: Vec<bool>,
    pub gas_price: u128,
    pub total_supply: u128,
    pub last_final_block: CryptoHash,
    pub last_ds_final_block: CryptoHash,
    pub block_ordinal: u64,
    pub prev_height: u64,
    pub epoch_sync_data_hash: Option<CryptoHash>,
    pub approvals: Vec<Option<Signature>>,
    pub latest_protocol_version: u32,
    pub chunk_endorsements: Option<Vec<Vec<u8>>>,
    pub shard_split: Option<(u64, String)>,
}

impl InnerRest {
    /// `borsh(inner_rest)` in `layout`, or `None` if the fields cannot be that layout.
    pub fn encode(&self, layout: InnerRestLayout) -> Option<Vec<u8>> {
        let mut w = Writer::new();
        match layout {
            InnerRestLayout::V3 => {
                if self.block_body_hash.is_some() || self.chunk_endorsements.is_some() {
                    return None;
                }
            }
            InnerRestLayout::V4 => {
                w.raw(&self.block_body_hash?.0);
                if self.chunk_endorsements.is_some() {
                    return None;
                }
            }
            InnerRestLayout::V5 | InnerRestLayout::V6 => {
                w.raw(&self.block_body_hash?.0);
                self.chunk_endorsements.as_ref()?;
            }
        }
        if layout != InnerRestLayout::V6 && self.shard_split.is_some() {
            return None;
        }
        w.raw(&self.chunk_receipts_root.0).raw(&self.chunk_headers_root.0).raw(&self.chunk_tx_root.0);
        if layout != InnerRestLayout::V6 {
            w.raw(&self.challenges_root.0);
        }
        w.raw(&self.random_value.0);
        w.len(self.validator_proposals.len());
        for p in &self.validator_proposals {
            p.encode(&mut w);
        }
        w.len(self.chunk_mask.len());
        for &m in &self.chunk_mask {
            w.bool(m);
        }
        w.u128(self.gas_price).u128(self.total_supply);
        if layout != InnerRestLayout::V6 {
            // challenges_result: always empty on chain (challenges were never enabled).
            w.len(0);
        }
        w.raw(&self.last_final_block.0).raw(&self.last_ds_final_block.0);
        w.u64(self.block_ordinal).u64(self.prev_height);
        match &self.epoch_sync_data_hash {
            None => w.u8(0),
            Some(h) => w.u8(1).raw(&h.0),
        };
        w.len(self.approvals.len());
        for a in &self.approvals {
            match a {
                None => {
                    w.u8(0);
                }
                Some(s) => {
                    w.u8(1);
                    s.encode(&mut w);
                }
            }
        }
        w.u32(self.latest_protocol_version);
        if matches!(layout, InnerRestLayout::V5 | InnerRestLayout::V6) {
            let e = self.chunk_endorsements.as_ref()?;
            w.len(e.len());
            for shard in e {
                w.bytes(shard);
            }
        }
        if layout == InnerRestLayout::V6 {
            match &self.shard_split {
                None => w.u8(0),
                Some((shard, account)) => w.u8(1).u64(*shard).string(account),
            };
        }
        Some(w.finish())
    }
}

/// A full header whose fields reproduce its hash under exactly one layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullHeader {
    pub hash: CryptoHash,
    pub lite: BlockHeaderLite,
    pub rest: InnerRest,
    pub layout: InnerRestLayout,
}

/// Why a header or the entropy rule was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderViewError {
    View(ViewError),
    /// No known layout reproduces the claimed hash.
    NoLayoutMatches { claimed: CryptoHash },
    /// More than one layout reproduces it (refused rather than guessed).
    AmbiguousLayout,
    /// Non-empty `challenges_result` (never seen on chain; not encoded here).
    UnsupportedChallenges,
    /// The first header is not the block that commits the outcome.
    NotTheProvenBlock { expected: CryptoHash, got: CryptoHash },
    /// A header does not link to its successor by `prev_hash`.
    BrokenLink { index: usize },
    /// The outcome's shard cannot be identified from the proof path.
    ShardNotIdentified,
    /// The proven block carries no new chunk for the shard (so it cannot be
    /// the block that commits that shard's last outcomes).
    NoNewChunk,
    /// Ran out of supplied headers before finding the executing block.
    ExecutingBlockNotSupplied,
    /// The shard count changed along the walk (resharding); not handled.
    ShardCountChanged,
}

impl From<ViewError> for HeaderViewError {
    fn from(e: ViewError) -> Self {
        Self::View(e)
    }
}

impl fmt::Display for HeaderViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::View(e) => write!(f, "{e}"),
            Self::NoLayoutMatches { claimed } => write!(f, "no inner_rest layout reproduces block hash {claimed}"),
            Self::AmbiguousLayout => f.write_str("several inner_rest layouts reproduce the block hash"),
            Self::UnsupportedChallenges => f.write_str("non-empty challenges_result"),
            Self::NotTheProvenBlock { expected, got } => write!(f, "header {got} is not the proven block {expected}"),
            Self::BrokenLink { index } => write!(f, "header {index} does not link to its successor"),
            Self::ShardNotIdentified => f.write_str("shard of the outcome not identified"),
            Self::NoNewChunk => f.write_str("proven block has no new chunk for the shard"),
            Self::ExecutingBlockNotSupplied => f.write_str("executing block not among the supplied headers"),
            Self::ShardCountChanged => f.write_str("shard count changed between blocks"),
        }
    }
}

#[derive(Deserialize)]
struct HeaderJson {
    hash: String,
    prev_hash: String,
    height: u64,
    epoch_id: String,
    next_epoch_id: String,
    prev_state_root: String,
    outcome_root: String,
    #[serde(default)]
    timestamp: Option<view::U64Json>,
    #[serde(default)]
    timestamp_nanosec: Option<view::U64Json>,
    next_bp_hash: String,
    block_merkle_root: String,
    #[serde(default)]
    chunk_execution_root: Option<String>,
    #[serde(default)]
    block_body_hash: Option<String>,
    chunk_receipts_root: String,
    chunk_headers_root: String,
    chunk_tx_root: String,
    #[serde(default)]
    challenges_root: Option<String>,
    random_value: String,
    #[serde(default)]
    validator_proposals: Vec<Value>,
    chunk_mask: Vec<bool>,
    gas_price: String,
    total_supply: String,
    #[serde(default)]
    challenges_result: Vec<Value>,
    last_final_block: String,
    last_ds_final_block: String,
    block_ordinal: Option<u64>,
    prev_height: Option<u64>,
    #[serde(default)]
    epoch_sync_data_hash: Option<String>,
    #[serde(default)]
    approvals: Vec<Option<String>>,
    latest_protocol_version: u32,
    #[serde(default)]
    chunk_endorsements: Option<Vec<Vec<u8>>>,
    #[serde(default)]
    shard_split: Option<(u64, String)>,
}

/// Parses a `block` answer (or its `header`) and re-derives its hash.
pub fn full_header_from_value(v: Value) -> Result<FullHeader, HeaderViewError> {
    let mut v = view::unwrap_result(v)?;
    if let Some(h) = v.get_mut("header") {
        v = h.take();
    }
    let j: HeaderJson = serde_json::from_value(v).map_err(|e| {
        let mut message = alloc::string::ToString::to_string(&e);
        message.truncate(200);
        HeaderViewError::View(ViewError::Json { context: "block header", message })
    })?;
    if !j.challenges_result.is_empty() {
        return Err(HeaderViewError::UnsupportedChallenges);
    }
    let h = view::hash;
    let timestamp = match (&j.timestamp_nanosec, &j.timestamp) {
        (Some(t), _) => t.get("timestamp_nanosec")?,
        (None, Some(t)) => t.get("timestamp")?,
        (None, None) => return Err(ViewError::Number { field: "timestamp_nanosec" }.into()),
    };
    let inner_lite = InnerLite {
        height: j.height,
        epoch_id: h("epoch_id", &j.epoch_id)?,
        next_epoch_id: h("next_epoch_id", &j.next_epoch_id)?,
        prev_state_root: h("prev_state_root", &j.prev_state_root)?,
        outcome_root: h("outcome_root", &j.outcome_root)?,
        timestamp,
        next_bp_hash: h("next_bp_hash", &j.next_bp_hash)?,
        block_merkle_root: h("block_merkle_root", &j.block_merkle_root)?,
        chunk_execution_root: j.chunk_execution_root.as_deref().map(|s| h("chunk_execution_root", s)).transpose()?,
    };
    if j.validator_proposals.len() > MAX_PRODUCERS || j.approvals.len() > MAX_PRODUCERS || j.chunk_mask.len() > 1024 {
        return Err(ViewError::TooMany { field: "header lists", count: j.approvals.len(), max: MAX_PRODUCERS }.into());
    }
    let proposals = view::producers_from_value(Value::Array(j.validator_proposals))?;
    let approvals = j
        .approvals
        .iter()
        .map(|a| a.as_deref().map(Signature::parse).transpose().map_err(|error| ViewError::Key { field: "approvals", error }))
        .collect::<Result<Vec<_>, _>>()?;
    let rest = InnerRest {
        block_body_hash: j.block_body_hash.as_deref().map(|s| h("block_body_hash", s)).transpose()?,
        chunk_receipts_root: h("chunk_receipts_root", &j.chunk_receipts_root)?,
        chunk_headers_root: h("chunk_headers_root", &j.chunk_headers_root)?,
        chunk_tx_root: h("chunk_tx_root", &j.chunk_tx_root)?,
        challenges_root: match &j.challenges_root {
            Some(s) => h("challenges_root", s)?,
            None => CryptoHash::default(),
        },
        random_value: h("random_value", &j.random_value)?,
        validator_proposals: proposals,
        chunk_mask: j.chunk_mask,
        gas_price: view::u128_text("gas_price", &j.gas_price)?,
        total_supply: view::u128_text("total_supply", &j.total_supply)?,
        last_final_block: h("last_final_block", &j.last_final_block)?,
        last_ds_final_block: h("last_ds_final_block", &j.last_ds_final_block)?,
        block_ordinal: j.block_ordinal.unwrap_or(0),
        prev_height: j.prev_height.unwrap_or(0),
        epoch_sync_data_hash: j.epoch_sync_data_hash.as_deref().map(|s| h("epoch_sync_data_hash", s)).transpose()?,
        approvals,
        latest_protocol_version: j.latest_protocol_version,
        chunk_endorsements: j.chunk_endorsements,
        shard_split: j.shard_split,
    };
    let claimed = h("hash", &j.hash)?;
    let prev = h("prev_hash", &j.prev_hash)?;
    let lite_hash = inner_lite.hash();
    let mut found = None;
    for layout in [InnerRestLayout::V3, InnerRestLayout::V4, InnerRestLayout::V5, InnerRestLayout::V6] {
        let Some(bytes) = rest.encode(layout) else { continue };
        let rest_hash = CryptoHash::digest(&bytes);
        if block_hash(&lite_hash, &rest_hash, &prev) == claimed {
            if found.is_some() {
                return Err(HeaderViewError::AmbiguousLayout);
            }
            found = Some((layout, rest_hash));
        }
    }
    let (layout, inner_rest_hash) = found.ok_or(HeaderViewError::NoLayoutMatches { claimed })?;
    Ok(FullHeader {
        hash: claimed,
        lite: BlockHeaderLite { prev_block_hash: prev, inner_rest_hash, inner_lite },
        rest,
        layout,
    })
}

/// The directions nearcore's `merklize` puts in the path of leaf `index` of
/// `count` leaves (a lone last node is promoted without a path entry).
pub fn merklize_path_shape(count: usize, index: usize) -> Vec<Direction> {
    let mut out = Vec::new();
    let (mut len, mut pos) = (count, index);
    while len > 1 {
        if pos % 2 == 1 {
            out.push(Direction::Left);
        } else if pos + 1 < len {
            out.push(Direction::Right);
        }
        pos /= 2;
        len = len.div_ceil(2);
    }
    out
}

/// Which leaf of `count` a path belongs to, if exactly one fits.
pub fn leaf_index_from_path(count: usize, path: &[MerklePathItem]) -> Option<usize> {
    let dirs: Vec<Direction> = path.iter().map(|p| p.direction).collect();
    let mut hit = None;
    for i in 0..count {
        if merklize_path_shape(count, i) == dirs {
            if hit.is_some() {
                return None;
            }
            hit = Some(i);
        }
    }
    hit
}

/// The entropy of a proven outcome: the `random_value` of the block whose
/// chunk application produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entropy {
    pub random_value: [u8; 32],
    pub block_hash: CryptoHash,
    pub height: u64,
    pub shard_index: usize,
    /// The proven block this entropy was derived for.
    pub for_block: CryptoHash,
}

/// Finds the executing block of `proven`. `headers[0]` is the proven block
/// (the one that commits the outcome root; it must carry a new chunk for the
/// shard), `headers[1..]` its ancestors in order. The executing block is the
/// nearest ancestor with a new chunk for the same shard: its chunk's outcomes
/// are the ones the proven block's chunk commits. Every header is re-hashed
/// and linked by `prev_hash`, so `random_value` is committed by the proof.
pub fn entropy_for(proven: &ProvenOutcome, headers: &[FullHeader]) -> Result<Entropy, HeaderViewError> {
    let first = headers.first().ok_or(HeaderViewError::ExecutingBlockNotSupplied)?;
    if first.hash != proven.block_hash {
        return Err(HeaderViewError::NotTheProvenBlock { expected: proven.block_hash, got: first.hash });
    }
    let shards = first.rest.chunk_mask.len();
    let shard = leaf_index_from_path(shards, &proven.outcome_root_proof).ok_or(HeaderViewError::ShardNotIdentified)?;
    if !first.rest.chunk_mask.get(shard).copied().unwrap_or(false) {
        return Err(HeaderViewError::NoNewChunk);
    }
    for (i, pair) in headers.windows(2).enumerate() {
        let [child, parent] = pair else { continue };
        if child.lite.prev_block_hash != parent.hash {
            return Err(HeaderViewError::BrokenLink { index: i + 1 });
        }
        if parent.rest.chunk_mask.len() != shards {
            return Err(HeaderViewError::ShardCountChanged);
        }
        if parent.rest.chunk_mask.get(shard).copied().unwrap_or(false) {
            return Ok(Entropy {
                random_value: parent.rest.random_value.0,
                block_hash: parent.hash,
                height: parent.lite.inner_lite.height,
                shard_index: shard,
                for_block: first.hash,
            });
        }
    }
    Err(HeaderViewError::ExecutingBlockNotSupplied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_shapes_identify_leaves() {
        // 4 leaves: full tree.
        assert_eq!(merklize_path_shape(4, 0), [Direction::Right, Direction::Right]);
        assert_eq!(merklize_path_shape(4, 3), [Direction::Left, Direction::Left]);
        // 3 leaves: the third is promoted at the first level.
        assert_eq!(merklize_path_shape(3, 2), [Direction::Left]);
        for n in 1..20 {
            for i in 0..n {
                let path: Vec<MerklePathItem> = merklize_path_shape(n, i)
                    .into_iter()
                    .map(|direction| MerklePathItem { hash: CryptoHash::default(), direction })
                    .collect();
                assert_eq!(leaf_index_from_path(n, &path), Some(i), "n={n} i={i}");
            }
        }
    }

    #[test]
    fn fixture_outcome_root_proofs_have_a_shard() {
        // old.json/new.json: outcome_root_proof is [Right, Left]: leaf 2 of 4 shards.
        let p = [
            MerklePathItem { hash: CryptoHash::default(), direction: Direction::Right },
            MerklePathItem { hash: CryptoHash::default(), direction: Direction::Left },
        ];
        assert_eq!(leaf_index_from_path(4, &p), Some(2));
    }
}
