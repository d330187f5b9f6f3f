//! Light-client block types and their hashing: inner_lite (V1, and V2 with
//! `chunk_execution_root`), the block hash, the approval message, validator
//! stakes and `next_bp_hash` in the versioned and legacy layouts.

use alloc::string::String;
use alloc::vec::Vec;

use crate::borsh::{DecodeError, Reader, Writer};
use crate::crypto::{PublicKey, Signature};
use crate::hash::CryptoHash;

/// Longest NEAR account id.
pub const MAX_ACCOUNT_ID_LEN: usize = 64;
/// Upper bound on a block-producer set (mainnet has 100 seats); bounds memory
/// and verification work for hostile input.
pub const MAX_PRODUCERS: usize = 1024;

/// A block producer and its stake (`ValidatorStakeV1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorStake {
    pub account_id: String,
    pub public_key: PublicKey,
    /// yoctoNEAR.
    pub stake: u128,
}

impl ValidatorStake {
    fn encode_fields(&self, w: &mut Writer) {
        w.string(&self.account_id);
        self.public_key.encode(w);
        w.u128(self.stake);
    }

    /// Versioned layout: enum tag 0 (`V1`) then the fields.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(0);
        self.encode_fields(w);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.tag(0)?;
        Ok(Self {
            account_id: r.string(MAX_ACCOUNT_ID_LEN as u32)?,
            public_key: PublicKey::decode(r)?,
            stake: r.u128()?,
        })
    }
}

/// Which borsh layout `next_bp_hash` was computed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpHashLayout {
    /// `Vec<ValidatorStake>` with the enum tag byte per entry (current).
    Versioned,
    /// `Vec<ValidatorStakeV1>` without the tag (blocks before header V3).
    Legacy,
}

/// `sha256(borsh(producers))` in the given layout.
pub fn bp_hash(producers: &[ValidatorStake], layout: BpHashLayout) -> CryptoHash {
    let mut w = Writer::new();
    w.len(producers.len());
    for p in producers {
        match layout {
            BpHashLayout::Versioned => p.encode(&mut w),
            BpHashLayout::Legacy => p.encode_fields(&mut w),
        }
    }
    CryptoHash::digest(&w.bytes)
}

/// Encodes a producer list (versioned layout) for persistence.
pub fn encode_producers(producers: &[ValidatorStake], w: &mut Writer) {
    w.len(producers.len());
    for p in producers {
        p.encode(w);
    }
}

pub fn decode_producers(r: &mut Reader<'_>) -> Result<Vec<ValidatorStake>, DecodeError> {
    let n = r.len(MAX_PRODUCERS as u32)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(ValidatorStake::decode(r)?);
    }
    Ok(out)
}

/// `BlockHeaderInnerLite` (V1, 208 bytes) or `BlockHeaderInnerLiteV2` (V1 plus
/// `chunk_execution_root`, 240 bytes; SPICE headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerLite {
    pub height: u64,
    pub epoch_id: CryptoHash,
    pub next_epoch_id: CryptoHash,
    pub prev_state_root: CryptoHash,
    pub outcome_root: CryptoHash,
    /// Nanoseconds (the view's `timestamp_nanosec`).
    pub timestamp: u64,
    pub next_bp_hash: CryptoHash,
    pub block_merkle_root: CryptoHash,
    /// Present only in V2 headers. NOTE: the position (appended after
    /// `block_merkle_root`) follows nearcore's description of V2; no V2 block
    /// fixture pins it yet.
    pub chunk_execution_root: Option<CryptoHash>,
}

impl InnerLite {
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.height)
            .raw(&self.epoch_id.0)
            .raw(&self.next_epoch_id.0)
            .raw(&self.prev_state_root.0)
            .raw(&self.outcome_root.0)
            .u64(self.timestamp)
            .raw(&self.next_bp_hash.0)
            .raw(&self.block_merkle_root.0);
        if let Some(r) = &self.chunk_execution_root {
            w.raw(&r.0);
        }
    }

    /// Decodes the persisted form: a presence byte for `chunk_execution_root`
    /// comes first so both layouts round-trip.
    pub fn decode_persisted(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v2 = r.bool()?;
        Ok(Self {
            height: r.u64()?,
            epoch_id: CryptoHash(r.array()?),
            next_epoch_id: CryptoHash(r.array()?),
            prev_state_root: CryptoHash(r.array()?),
            outcome_root: CryptoHash(r.array()?),
            timestamp: r.u64()?,
            next_bp_hash: CryptoHash(r.array()?),
            block_merkle_root: CryptoHash(r.array()?),
            chunk_execution_root: if v2 { Some(CryptoHash(r.array()?)) } else { None },
        })
    }

    pub fn encode_persisted(&self, w: &mut Writer) {
        w.bool(self.chunk_execution_root.is_some());
        self.encode(w);
    }

    /// `sha256(borsh(inner_lite))`.
    pub fn hash(&self) -> CryptoHash {
        let mut w = Writer::new();
        self.encode(&mut w);
        CryptoHash::digest(&w.bytes)
    }
}

/// `LightClientBlockLiteView`: enough to compute a block hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeaderLite {
    pub prev_block_hash: CryptoHash,
    pub inner_rest_hash: CryptoHash,
    pub inner_lite: InnerLite,
}

impl BlockHeaderLite {
    /// `sha256(sha256(sha256(borsh(inner_lite)) ‖ inner_rest_hash) ‖ prev_block_hash)`.
    pub fn hash(&self) -> CryptoHash {
        block_hash(&self.inner_lite.hash(), &self.inner_rest_hash, &self.prev_block_hash)
    }

    pub fn encode_persisted(&self, w: &mut Writer) {
        w.raw(&self.prev_block_hash.0).raw(&self.inner_rest_hash.0);
        self.inner_lite.encode_persisted(w);
    }

    pub fn decode_persisted(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            prev_block_hash: CryptoHash(r.array()?),
            inner_rest_hash: CryptoHash(r.array()?),
            inner_lite: InnerLite::decode_persisted(r)?,
        })
    }
}

/// The block hash from its three parts.
pub fn block_hash(inner_lite_hash: &CryptoHash, inner_rest_hash: &CryptoHash, prev: &CryptoHash) -> CryptoHash {
    CryptoHash::combine(&CryptoHash::combine(inner_lite_hash, inner_rest_hash), prev)
}

/// `LightClientBlockView`: a block plus what is needed to check the approvals
/// its grandchild carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LightClientBlock {
    pub prev_block_hash: CryptoHash,
    pub next_block_inner_hash: CryptoHash,
    pub inner_lite: InnerLite,
    pub inner_rest_hash: CryptoHash,
    pub next_bps: Option<Vec<ValidatorStake>>,
    pub approvals_after_next: Vec<Option<Signature>>,
}

impl LightClientBlock {
    pub fn header(&self) -> BlockHeaderLite {
        BlockHeaderLite {
            prev_block_hash: self.prev_block_hash,
            inner_rest_hash: self.inner_rest_hash,
            inner_lite: self.inner_lite.clone(),
        }
    }

    pub fn hash(&self) -> CryptoHash {
        block_hash(&self.inner_lite.hash(), &self.inner_rest_hash, &self.prev_block_hash)
    }

    /// The hash of the next block: `sha256(next_block_inner_hash ‖ this hash)`.
    pub fn next_block_hash(&self) -> CryptoHash {
        CryptoHash::combine(&self.next_block_inner_hash, &self.hash())
    }

    /// The 41 bytes block producers sign: `borsh(ApprovalInner::Endorsement(next
    /// block hash))` ‖ `u64_le(height + 2)`. `None` if the height overflows.
    pub fn approval_message(&self) -> Option<[u8; 41]> {
        let target = self.inner_lite.height.checked_add(2)?;
        let mut msg = [0u8; 41];
        // msg[0] = 0: the Endorsement tag.
        msg[1..33].copy_from_slice(&self.next_block_hash().0);
        msg[33..41].copy_from_slice(&target.to_le_bytes());
        Some(msg)
    }
}
