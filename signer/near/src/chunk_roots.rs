//! Shard state roots tied to a block: the merkle root (nearcore's `merklize`) of the chunks'
//! `prev_state_root`s, in shard order, is the header's `prev_state_root`, which the block hash
//! commits through `inner_lite`. With a header the light client verified, this proves the state
//! root of every shard, and so anything a state proof ([`crate::state_proof`]) shows under it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::hash::CryptoHash;
use crate::header::{self, FullHeader, HeaderViewError};
use crate::view::{self, ViewError};

/// Largest `block` document accepted (JSON text).
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;
/// Shards accepted in one block (mainnet has under 10; the header's chunk mask is bounded alike).
pub const MAX_SHARDS: usize = 1024;

/// nearcore's `merklize` root over already-hashed leaves: pairs combined level by level,
/// a lone last node promoted unchanged; one leaf is its own root; no leaf gives zeros.
pub fn merkle_root_of_hashes(leaves: &[CryptoHash]) -> CryptoHash {
    let mut level: Vec<CryptoHash> = leaves.to_vec();
    if level.is_empty() {
        return CryptoHash::default();
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [a, b] => CryptoHash::combine(a, b),
                [a] => *a,
                _ => CryptoHash::default(),
            })
            .collect();
    }
    level[0]
}

/// `merklize(state_roots).0`: each leaf is `sha256(borsh(root))`, i.e. of its 32 bytes.
pub fn state_roots_merkle_root(state_roots: &[CryptoHash]) -> CryptoHash {
    let leaves: Vec<CryptoHash> = state_roots.iter().map(|r| CryptoHash::digest(&r.0)).collect();
    merkle_root_of_hashes(&leaves)
}

/// The chunk fields this check reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRoot {
    pub shard_id: u64,
    pub prev_state_root: CryptoHash,
}

/// A parsed `block` answer, unchecked.
#[derive(Clone, Debug)]
pub struct BlockRoots {
    pub hash: CryptoHash,
    pub height: u64,
    pub header_prev_state_root: CryptoHash,
    /// In the order of the answer, which is shard order.
    pub chunks: Vec<ChunkRoot>,
    /// The header re-hashed from its fields, when it carries them all; or why not.
    pub full_header: Result<FullHeader, HeaderViewError>,
}

#[derive(Deserialize)]
struct ChunkJson {
    shard_id: u64,
    prev_state_root: String,
}

#[derive(Deserialize)]
struct HeaderMinJson {
    hash: String,
    height: u64,
    prev_state_root: String,
}

#[derive(Deserialize)]
struct BlockJson {
    header: Value,
    chunks: Vec<ChunkJson>,
}

fn json(context: &'static str, e: serde_json::Error) -> ViewError {
    let mut message = alloc::string::ToString::to_string(&e);
    message.truncate(200);
    ViewError::Json { context, message }
}

/// Parses a `block` answer (bare result or JSON-RPC envelope).
pub fn block_roots_from_value(v: Value) -> Result<BlockRoots, ViewError> {
    let v = view::unwrap_result(v)?;
    let b: BlockJson = serde_json::from_value(v).map_err(|e| json("block answer", e))?;
    if b.chunks.len() > MAX_SHARDS {
        return Err(ViewError::TooMany { field: "chunks", count: b.chunks.len(), max: MAX_SHARDS });
    }
    let min: HeaderMinJson = serde_json::from_value(b.header.clone()).map_err(|e| json("block header", e))?;
    let chunks = b
        .chunks
        .iter()
        .map(|c| Ok(ChunkRoot { shard_id: c.shard_id, prev_state_root: view::hash("chunks.prev_state_root", &c.prev_state_root)? }))
        .collect::<Result<Vec<_>, ViewError>>()?;
    Ok(BlockRoots {
        hash: view::hash("header.hash", &min.hash)?,
        height: min.height,
        header_prev_state_root: view::hash("header.prev_state_root", &min.prev_state_root)?,
        chunks,
        full_header: header::full_header_from_value(b.header),
    })
}

/// Parses a `block` answer from bytes, bounded.
pub fn parse_block_roots(bytes: &[u8]) -> Result<BlockRoots, ViewError> {
    block_roots_from_value(view::parse_json(bytes, MAX_BLOCK_BYTES)?)
}

/// What the header-hash part of the check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderHashCheck {
    /// Re-hashed to `header.hash` under this layout.
    Matches(header::InnerRestLayout),
    /// The header lacks fields needed to re-hash it (not checked).
    NotAllFields(String),
    /// It carries the fields, but no known layout reproduces its hash.
    Mismatch(String),
}

/// The outcome of [`check_block_roots`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRootsReport {
    pub computed: CryptoHash,
    pub claimed: CryptoHash,
    pub header_hash: HeaderHashCheck,
    /// The shard state roots, proven when [`ChunkRootsReport::ok`] and the header is trusted.
    pub state_roots: Vec<ChunkRoot>,
}

impl ChunkRootsReport {
    /// The merkle root matches and the header hash did not fail.
    pub fn ok(&self) -> bool {
        self.computed == self.claimed && !matches!(self.header_hash, HeaderHashCheck::Mismatch(_))
    }
}

/// Recomputes the chunks' state-root merkle root and, when possible, the block hash.
pub fn check_block_roots(b: &BlockRoots) -> ChunkRootsReport {
    let roots: Vec<CryptoHash> = b.chunks.iter().map(|c| c.prev_state_root).collect();
    let header_hash = match &b.full_header {
        Ok(h) if h.hash == b.hash && h.lite.inner_lite.prev_state_root == b.header_prev_state_root => {
            HeaderHashCheck::Matches(h.layout)
        }
        Ok(_) => HeaderHashCheck::Mismatch(String::from("re-hashed header differs from the fields read")),
        Err(HeaderViewError::View(e)) => HeaderHashCheck::NotAllFields(alloc::string::ToString::to_string(e)),
        Err(e) => HeaderHashCheck::Mismatch(alloc::string::ToString::to_string(e)),
    };
    ChunkRootsReport {
        computed: state_roots_merkle_root(&roots),
        claimed: b.header_prev_state_root,
        header_hash,
        state_roots: b.chunks.clone(),
    }
}

/// Why a shard's state root could not be taken from a verified header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardRootError {
    /// The chunks' roots do not merklize to the header's `prev_state_root`.
    RootMismatch { computed: CryptoHash, claimed: CryptoHash },
    /// No chunk at this shard index.
    NoSuchShard { index: usize, shards: usize },
}

impl fmt::Display for ShardRootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RootMismatch { computed, claimed } => {
                write!(f, "chunk state roots merklize to {computed}, header says {claimed}")
            }
            Self::NoSuchShard { index, shards } => write!(f, "shard index {index} of {shards} shards"),
        }
    }
}

/// The state root of shard `index` (position in shard order), given `header_prev_state_root`
/// from a header the caller has verified (light client, or the block hash re-derived).
pub fn shard_state_root(
    header_prev_state_root: &CryptoHash,
    chunk_roots: &[CryptoHash],
    index: usize,
) -> Result<CryptoHash, ShardRootError> {
    let computed = state_roots_merkle_root(chunk_roots);
    if computed != *header_prev_state_root {
        return Err(ShardRootError::RootMismatch { computed, claimed: *header_prev_state_root });
    }
    chunk_roots.get(index).copied().ok_or(ShardRootError::NoSuchShard { index, shards: chunk_roots.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkle_shapes_match_the_path_shapes() {
        let l: Vec<CryptoHash> = (0u8..5).map(|i| CryptoHash::digest(&[i])).collect();
        assert_eq!(merkle_root_of_hashes(&l[..1]), l[0]);
        assert_eq!(merkle_root_of_hashes(&l[..2]), CryptoHash::combine(&l[0], &l[1]));
        let ab = CryptoHash::combine(&l[0], &l[1]);
        assert_eq!(merkle_root_of_hashes(&l[..3]), CryptoHash::combine(&ab, &l[2]));
        let cd = CryptoHash::combine(&l[2], &l[3]);
        assert_eq!(merkle_root_of_hashes(&l[..5]), CryptoHash::combine(&CryptoHash::combine(&ab, &cd), &l[4]));
        assert_eq!(merkle_root_of_hashes(&[]), CryptoHash::default());
    }
}
