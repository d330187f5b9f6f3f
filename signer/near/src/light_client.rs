//! Header verification per nearcore's light-client spec, with the stricter
//! stake rule: the total is the stake of the *whole* producer set of the
//! block's epoch, and a block is accepted only if `approved·3 > total·2`.
//! A truncated approval list therefore cannot shrink the denominator; trailing
//! approvals beyond the producer set are ignored; an invalid signature rejects
//! the block (as in the spec). [`LightClientState`] keeps the verified head and
//! the producers of its current and next epoch, and persists to bytes.

use alloc::vec::Vec;
use core::fmt;

use crate::borsh::{DecodeError, Reader, Writer};
use crate::crypto::{self, VerifyError};
use crate::hash::CryptoHash;
use crate::types::{bp_hash, decode_producers, encode_producers, BlockHeaderLite, BpHashLayout, LightClientBlock, ValidatorStake};

/// Why a light-client block was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Not higher than the head.
    NotNewer { height: u64, head_height: u64 },
    /// Epoch is neither the head's epoch nor the next one.
    UnknownEpoch { epoch_id: CryptoHash },
    /// The producers of the block's epoch are not known to this state.
    NoProducersForEpoch { epoch_id: CryptoHash },
    /// A block of the next epoch came without `next_bps`.
    MissingNextBps,
    /// `next_bps` does not hash to `next_bp_hash` (in either layout).
    NextBpsMismatch { expected: CryptoHash, versioned: CryptoHash },
    /// Approval `index` does not verify against producer `index`'s key.
    InvalidSignature { index: usize, reason: VerifyError },
    /// Not more than 2/3 of the producer set's stake approved.
    InsufficientStake { approved: u128, total: u128 },
    /// Stake sums overflow u128 (impossible for real stakes; hostile input).
    StakeOverflow,
    /// The producer set is empty.
    EmptyProducerSet,
    /// `height + 2` overflows.
    HeightOverflow,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotNewer { height, head_height } => write!(f, "block height {height} is not above head height {head_height}"),
            Self::UnknownEpoch { epoch_id } => write!(f, "block epoch {epoch_id} is neither the head's epoch nor the next"),
            Self::NoProducersForEpoch { epoch_id } => write!(f, "no block producers known for epoch {epoch_id}"),
            Self::MissingNextBps => f.write_str("block of the next epoch carries no next_bps"),
            Self::NextBpsMismatch { expected, versioned } => write!(f, "next_bps hash {versioned} does not match next_bp_hash {expected}"),
            Self::InvalidSignature { index, reason } => write!(f, "approval {index} is invalid ({reason:?})"),
            Self::InsufficientStake { approved, total } => write!(f, "approved stake {approved} is not more than 2/3 of total {total}"),
            Self::StakeOverflow => f.write_str("stake sum overflows"),
            Self::EmptyProducerSet => f.write_str("empty block producer set"),
            Self::HeightOverflow => f.write_str("block height overflows"),
        }
    }
}

/// Stake tally of a verified block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StakeTally {
    pub approved: u128,
    pub total: u128,
    /// Approvals present and verified.
    pub signatures: usize,
}

/// Checks the approvals of `block` against `producers` (the set of the block's
/// epoch): every present signature within the set must verify, and
/// `approved·3 > total·2` over the whole set.
pub fn check_approvals(block: &LightClientBlock, producers: &[ValidatorStake]) -> Result<StakeTally, HeaderError> {
    if producers.is_empty() {
        return Err(HeaderError::EmptyProducerSet);
    }
    let msg = block.approval_message().ok_or(HeaderError::HeightOverflow)?;
    let mut total: u128 = 0;
    for p in producers {
        total = total.checked_add(p.stake).ok_or(HeaderError::StakeOverflow)?;
    }
    let mut approved: u128 = 0;
    let mut signatures = 0;
    // zip stops at the shorter list: missing approvals count as absent, trailing
    // ones (next epoch's producers at an epoch end) are ignored.
    for (index, (sig, producer)) in block.approvals_after_next.iter().zip(producers).enumerate() {
        let Some(sig) = sig else { continue };
        crypto::verify(&producer.public_key, &msg, sig).map_err(|reason| HeaderError::InvalidSignature { index, reason })?;
        approved = approved.checked_add(producer.stake).ok_or(HeaderError::StakeOverflow)?;
        signatures += 1;
    }
    let lhs = approved.checked_mul(3).ok_or(HeaderError::StakeOverflow)?;
    let rhs = total.checked_mul(2).ok_or(HeaderError::StakeOverflow)?;
    if lhs <= rhs {
        return Err(HeaderError::InsufficientStake { approved, total });
    }
    Ok(StakeTally { approved, total, signatures })
}

/// Checks `next_bps` against `next_bp_hash`: the versioned layout first, the
/// legacy one (pre-V3 headers) second. Both encode the same parsed list, so
/// accepting either cannot admit a set the block did not commit to.
pub fn check_next_bps(block: &LightClientBlock) -> Result<Option<BpHashLayout>, HeaderError> {
    let Some(next) = &block.next_bps else { return Ok(None) };
    let expected = block.inner_lite.next_bp_hash;
    let versioned = bp_hash(next, BpHashLayout::Versioned);
    if versioned == expected {
        return Ok(Some(BpHashLayout::Versioned));
    }
    if bp_hash(next, BpHashLayout::Legacy) == expected {
        return Ok(Some(BpHashLayout::Legacy));
    }
    Err(HeaderError::NextBpsMismatch { expected, versioned })
}

/// Producers known for one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochProducers {
    pub epoch_id: CryptoHash,
    pub producers: Vec<ValidatorStake>,
}

/// The light client: a verified head and the producers of its epoch and the
/// next one (either may be unknown right after bootstrapping from a trusted block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LightClientState {
    head: BlockHeaderLite,
    head_hash: CryptoHash,
    current: Option<EpochProducers>,
    next: Option<EpochProducers>,
}

/// What a successful [`LightClientState::advance`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advanced {
    pub height: u64,
    pub hash: CryptoHash,
    pub tally: StakeTally,
    /// The block moved the head into the next epoch.
    pub epoch_changed: bool,
}

const STATE_VERSION: u8 = 1;

impl LightClientState {
    /// Starts from a block trusted out of band (its hash is what you trust).
    /// Its `next_bps`, if any, must hash to its `next_bp_hash` and become the
    /// producers of its next epoch.
    pub fn from_trusted_block(block: &LightClientBlock) -> Result<Self, HeaderError> {
        check_next_bps(block)?;
        let head = block.header();
        Ok(Self {
            head_hash: head.hash(),
            next: block.next_bps.clone().map(|producers| EpochProducers { epoch_id: block.inner_lite.next_epoch_id, producers }),
            current: None,
            head,
        })
    }

    /// Starts from a trusted header and the producers of a given epoch (the
    /// head's own or its next), e.g. as an operator's `verify-block` input.
    pub fn from_trusted_header(head: BlockHeaderLite, epoch: EpochProducers) -> Result<Self, HeaderError> {
        let mut s = Self { head_hash: head.hash(), current: None, next: None, head };
        if epoch.epoch_id == s.head.inner_lite.epoch_id {
            s.current = Some(epoch);
        } else if epoch.epoch_id == s.head.inner_lite.next_epoch_id {
            s.next = Some(epoch);
        } else {
            return Err(HeaderError::UnknownEpoch { epoch_id: epoch.epoch_id });
        }
        Ok(s)
    }

    /// Starts from a trusted header and the producers of both its epoch and the next. A
    /// client that starts late needs both: when the chain has moved two or more epochs past
    /// the header, `next_light_client_block` answers with the last block of the header's
    /// *next* epoch, which only that epoch's producers sign.
    pub fn from_trusted_header_and_next(
        head: BlockHeaderLite,
        current: EpochProducers,
        next: EpochProducers,
    ) -> Result<Self, HeaderError> {
        if current.epoch_id != head.inner_lite.epoch_id {
            return Err(HeaderError::UnknownEpoch { epoch_id: current.epoch_id });
        }
        if next.epoch_id != head.inner_lite.next_epoch_id || next.epoch_id == current.epoch_id {
            return Err(HeaderError::UnknownEpoch { epoch_id: next.epoch_id });
        }
        Ok(Self { head_hash: head.hash(), current: Some(current), next: Some(next), head })
    }

    pub fn head(&self) -> &BlockHeaderLite {
        &self.head
    }
    pub fn head_hash(&self) -> CryptoHash {
        self.head_hash
    }
    pub fn head_height(&self) -> u64 {
        self.head.inner_lite.height
    }
    /// The root proofs are checked against.
    pub fn block_merkle_root(&self) -> CryptoHash {
        self.head.inner_lite.block_merkle_root
    }
    pub fn current_producers(&self) -> Option<&EpochProducers> {
        self.current.as_ref()
    }
    pub fn next_producers(&self) -> Option<&EpochProducers> {
        self.next.as_ref()
    }

    fn producers_for(&self, epoch_id: &CryptoHash) -> Option<&[ValidatorStake]> {
        [&self.current, &self.next]
            .into_iter()
            .flatten()
            .find(|e| &e.epoch_id == epoch_id)
            .map(|e| e.producers.as_slice())
    }

    /// Verifies `block` against this state without changing it.
    pub fn verify(&self, block: &LightClientBlock) -> Result<(StakeTally, bool), HeaderError> {
        let lite = &block.inner_lite;
        let head = &self.head.inner_lite;
        if lite.height <= head.height {
            return Err(HeaderError::NotNewer { height: lite.height, head_height: head.height });
        }
        let next_epoch = lite.epoch_id == head.next_epoch_id && lite.epoch_id != head.epoch_id;
        if lite.epoch_id != head.epoch_id && !next_epoch {
            return Err(HeaderError::UnknownEpoch { epoch_id: lite.epoch_id });
        }
        if next_epoch && block.next_bps.is_none() {
            return Err(HeaderError::MissingNextBps);
        }
        let producers = self.producers_for(&lite.epoch_id).ok_or(HeaderError::NoProducersForEpoch { epoch_id: lite.epoch_id })?;
        let tally = check_approvals(block, producers)?;
        check_next_bps(block)?;
        Ok((tally, next_epoch))
    }

    /// Verifies `block` and, if it passes, makes it the head.
    pub fn advance(&mut self, block: &LightClientBlock) -> Result<Advanced, HeaderError> {
        let (tally, epoch_changed) = self.verify(block)?;
        let epoch_id = block.inner_lite.epoch_id;
        let next_epoch_id = block.inner_lite.next_epoch_id;
        // Keep exactly the sets of the new head's epoch and its next epoch.
        let known = [self.current.take(), self.next.take()];
        let current = known.iter().flatten().find(|e| e.epoch_id == epoch_id).cloned();
        let next = match &block.next_bps {
            Some(p) => Some(EpochProducers { epoch_id: next_epoch_id, producers: p.clone() }),
            // A same-epoch block may come without next_bps (it is optional there). That says
            // nothing about the next epoch, so the set already proven for it is kept: dropping it
            // would let one endpoint strip next_bps and stall the client at the epoch boundary.
            None => known.into_iter().flatten().find(|e| e.epoch_id == next_epoch_id && next_epoch_id != epoch_id),
        };
        self.current = current;
        self.next = next;
        self.head = block.header();
        self.head_hash = self.head.hash();
        Ok(Advanced { height: block.inner_lite.height, hash: self.head_hash, tally, epoch_changed })
    }

    /// Serializes the state (versioned borsh-style layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(STATE_VERSION);
        self.head.encode_persisted(&mut w);
        for e in [&self.current, &self.next] {
            match e {
                None => {
                    w.u8(0);
                }
                Some(e) => {
                    w.u8(1).raw(&e.epoch_id.0);
                    encode_producers(&e.producers, &mut w);
                }
            }
        }
        w.finish()
    }

    /// Restores a state written by [`Self::to_bytes`]. The bytes come from
    /// storage the host can touch, so they are checked: bounded lengths, known
    /// tags, no trailing bytes, and each producer set must belong to the head's
    /// epoch or the next one. (Integrity against a host that rewrites storage is
    /// the sealing layer's job, not this parser's.)
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateDecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != STATE_VERSION {
            return Err(StateDecodeError::Version(version));
        }
        let head = BlockHeaderLite::decode_persisted(&mut r)?;
        let mut sets = [None, None];
        for slot in sets.iter_mut() {
            if r.tag(1)? == 1 {
                let epoch_id = CryptoHash(r.array()?);
                let producers = decode_producers(&mut r)?;
                *slot = Some(EpochProducers { epoch_id, producers });
            }
        }
        r.finish()?;
        let [current, next] = sets;
        if current.as_ref().is_some_and(|e| e.epoch_id != head.inner_lite.epoch_id)
            || next.as_ref().is_some_and(|e| e.epoch_id != head.inner_lite.next_epoch_id)
        {
            return Err(StateDecodeError::EpochMismatch);
        }
        Ok(Self { head_hash: head.hash(), head, current, next })
    }
}

/// Why persisted state did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDecodeError {
    Version(u8),
    Decode(DecodeError),
    /// A stored producer set is not for the head's epoch or the next one.
    EpochMismatch,
}

impl From<DecodeError> for StateDecodeError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl fmt::Display for StateDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(v) => write!(f, "unknown state version {v}"),
            Self::Decode(e) => write!(f, "state: {e}"),
            Self::EpochMismatch => f.write_str("state: producer set for a foreign epoch"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{PublicKey, Signature};
    use crate::types::InnerLite;
    use alloc::string::ToString;
    use alloc::vec;
    use ed25519_dalek::{Signer, SigningKey};

    fn producer(seed: u8) -> (SigningKey, ValidatorStake) {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let stake = ValidatorStake {
            account_id: "bp.near".to_string(),
            public_key: PublicKey::Ed25519(key.verifying_key().to_bytes()),
            stake: 100,
        };
        (key, stake)
    }

    /// A block of `epoch` at `height`, approved by `signer`, optionally carrying `next_bps`.
    fn block(
        prev: CryptoHash,
        height: u64,
        epoch: u8,
        next_bps: Option<Vec<ValidatorStake>>,
        signer: &SigningKey,
    ) -> LightClientBlock {
        let next_bp_hash = next_bps.as_ref().map(|b| bp_hash(b, BpHashLayout::Versioned)).unwrap_or(CryptoHash([9; 32]));
        let mut b = LightClientBlock {
            prev_block_hash: prev,
            next_block_inner_hash: CryptoHash([height as u8; 32]),
            inner_lite: InnerLite {
                height,
                epoch_id: CryptoHash([epoch; 32]),
                next_epoch_id: CryptoHash([epoch + 1; 32]),
                prev_state_root: CryptoHash::default(),
                outcome_root: CryptoHash::default(),
                timestamp: height,
                next_bp_hash,
                block_merkle_root: CryptoHash::default(),
                chunk_execution_root: None,
            },
            inner_rest_hash: CryptoHash::default(),
            next_bps,
            approvals_after_next: Vec::new(),
        };
        let msg = b.approval_message().unwrap();
        b.approvals_after_next = vec![Some(Signature::Ed25519(signer.sign(&msg).to_bytes()))];
        b
    }

    #[test]
    fn same_epoch_block_without_next_bps_keeps_the_next_producers() {
        let (k1, p1) = producer(1);
        let (k2, p2) = producer(2);
        let (_, p3) = producer(3);
        let head = block(CryptoHash::default(), 10, 1, Some(vec![p2.clone()]), &k1);
        let mut lc = LightClientState::from_trusted_header_and_next(
            head.header(),
            EpochProducers { epoch_id: CryptoHash([1; 32]), producers: vec![p1] },
            EpochProducers { epoch_id: CryptoHash([2; 32]), producers: vec![p2.clone()] },
        )
        .unwrap();
        // Same epoch, next_bps stripped: accepted, and the next epoch's set survives.
        let stripped = block(head.hash(), 11, 1, None, &k1);
        lc.advance(&stripped).unwrap();
        assert_eq!(lc.next_producers().map(|e| e.producers.clone()), Some(vec![p2]));
        // So the first block of the next epoch, signed by its producers, still verifies.
        let next = block(stripped.hash(), 12, 2, Some(vec![p3]), &k2);
        let adv = lc.advance(&next).unwrap();
        assert!(adv.epoch_changed);
        // And the persisted form keeps it across a reboot.
        assert_eq!(LightClientState::from_bytes(&lc.to_bytes()).unwrap(), lc);
    }
}
