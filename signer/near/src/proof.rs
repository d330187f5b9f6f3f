//! Outcome proofs (`light_client_proof`, transaction or receipt) and block
//! proofs (`EXPERIMENTAL_light_client_block_proof`), checked against the
//! `block_merkle_root` of a verified head.
//!
//! Outcome: leaf = `sha256(borsh([id, sha256(borsh(PartialExecutionOutcome)),
//! sha256(log)…]))`; shard root = fold(leaf, outcome_proof.proof); block
//! outcome root = fold(sha256(shard root), outcome_root_proof) must equal the
//! header's `outcome_root`; the header must hash to `outcome_proof.block_hash`;
//! fold(header hash, block_proof) must equal the head's `block_merkle_root`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::borsh::Writer;
use crate::hash::{merkle_root_from_path, CryptoHash, MerklePathItem};
use crate::types::BlockHeaderLite;

/// Execution status as committed in the outcome (`PartialExecutionStatus`):
/// failures commit no detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutionStatus {
    Unknown,
    Failure,
    SuccessValue(Vec<u8>),
    SuccessReceiptId(CryptoHash),
}

/// The committed parts of an execution outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionOutcome {
    pub logs: Vec<String>,
    pub receipt_ids: Vec<CryptoHash>,
    pub gas_burnt: u64,
    pub tokens_burnt: u128,
    pub executor_id: String,
    pub status: ExecutionStatus,
}

impl ExecutionOutcome {
    /// `borsh(PartialExecutionOutcome)`.
    pub fn partial_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.len(self.receipt_ids.len());
        for r in &self.receipt_ids {
            w.raw(&r.0);
        }
        w.u64(self.gas_burnt).u128(self.tokens_burnt).string(&self.executor_id);
        match &self.status {
            ExecutionStatus::Unknown => {
                w.u8(0);
            }
            ExecutionStatus::Failure => {
                w.u8(1);
            }
            ExecutionStatus::SuccessValue(v) => {
                w.u8(2).bytes(v);
            }
            ExecutionStatus::SuccessReceiptId(h) => {
                w.u8(3).raw(&h.0);
            }
        }
        w.finish()
    }

    /// The Merkle leaf of this outcome with id `id`.
    pub fn leaf(&self, id: &CryptoHash) -> CryptoHash {
        let mut w = Writer::new();
        w.len(2 + self.logs.len());
        w.raw(&id.0).raw(&CryptoHash::digest(&self.partial_bytes()).0);
        for log in &self.logs {
            w.raw(&CryptoHash::digest(log.as_bytes()).0);
        }
        CryptoHash::digest(&w.bytes)
    }
}

/// `ExecutionOutcomeWithIdView` as it appears in a proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeWithProof {
    pub proof: Vec<MerklePathItem>,
    /// The block whose header commits the outcome root.
    pub block_hash: CryptoHash,
    /// Transaction hash or receipt id.
    pub id: CryptoHash,
    pub outcome: ExecutionOutcome,
}

/// A `light_client_proof` result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionProof {
    pub outcome_proof: OutcomeWithProof,
    pub outcome_root_proof: Vec<MerklePathItem>,
    pub block_header_lite: BlockHeaderLite,
    pub block_proof: Vec<MerklePathItem>,
}

/// An `EXPERIMENTAL_light_client_block_proof` result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockProof {
    pub block_header_lite: BlockHeaderLite,
    pub proof: Vec<MerklePathItem>,
}

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The outcome does not fold up to the header's outcome_root.
    OutcomeRootMismatch { computed: CryptoHash, header: CryptoHash },
    /// The header does not hash to `outcome_proof.block_hash`.
    BlockHashMismatch { computed: CryptoHash, claimed: CryptoHash },
    /// The block is not under the head's block_merkle_root.
    NotUnderHead { computed: CryptoHash, head_root: CryptoHash },
    /// A block proof for a different block than asked for.
    WrongBlock { expected: CryptoHash, got: CryptoHash },
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutcomeRootMismatch { computed, header } => write!(f, "outcome root {computed} does not match header outcome_root {header}"),
            Self::BlockHashMismatch { computed, claimed } => write!(f, "header hashes to {computed}, proof claims block {claimed}"),
            Self::NotUnderHead { computed, head_root } => write!(f, "block merkle root {computed} does not match head's {head_root}"),
            Self::WrongBlock { expected, got } => write!(f, "proof is for block {got}, expected {expected}"),
        }
    }
}

/// An outcome proven to be on chain under a verified head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenOutcome {
    pub id: CryptoHash,
    pub outcome: ExecutionOutcome,
    /// Header of the block that commits the outcome root (proven).
    pub block: BlockHeaderLite,
    pub block_hash: CryptoHash,
    /// Leaf index path of the shard in that block's outcome roots (as given).
    pub outcome_root_proof: Vec<MerklePathItem>,
}

impl ExecutionProof {
    /// The outcome root this proof implies.
    pub fn computed_outcome_root(&self) -> CryptoHash {
        let op = &self.outcome_proof;
        let shard_root = merkle_root_from_path(op.outcome.leaf(&op.id), &op.proof);
        merkle_root_from_path(CryptoHash::digest(&shard_root.0), &self.outcome_root_proof)
    }

    /// Checks the outcome against its header, and the header against
    /// `block_merkle_root` (the verified head's).
    pub fn verify(&self, block_merkle_root: &CryptoHash) -> Result<ProvenOutcome, ProofError> {
        let computed = self.computed_outcome_root();
        let header_root = self.block_header_lite.inner_lite.outcome_root;
        if computed != header_root {
            return Err(ProofError::OutcomeRootMismatch { computed, header: header_root });
        }
        let block_hash = self.block_header_lite.hash();
        if block_hash != self.outcome_proof.block_hash {
            return Err(ProofError::BlockHashMismatch { computed: block_hash, claimed: self.outcome_proof.block_hash });
        }
        check_block_under_root(&block_hash, &self.block_proof, block_merkle_root)?;
        Ok(ProvenOutcome {
            id: self.outcome_proof.id,
            outcome: self.outcome_proof.outcome.clone(),
            block: self.block_header_lite.clone(),
            block_hash,
            outcome_root_proof: self.outcome_root_proof.clone(),
        })
    }
}

/// `fold(block_hash, path) == root`.
pub fn check_block_under_root(block_hash: &CryptoHash, path: &[MerklePathItem], root: &CryptoHash) -> Result<(), ProofError> {
    let computed = merkle_root_from_path(*block_hash, path);
    if &computed != root {
        return Err(ProofError::NotUnderHead { computed, head_root: *root });
    }
    Ok(())
}

impl BlockProof {
    /// Proves the header is on chain under `block_merkle_root`; if `expected`
    /// is given, it must be that block. Returns the proven hash.
    pub fn verify(&self, block_merkle_root: &CryptoHash, expected: Option<&CryptoHash>) -> Result<CryptoHash, ProofError> {
        let h = self.block_header_lite.hash();
        if let Some(e) = expected {
            if e != &h {
                return Err(ProofError::WrongBlock { expected: *e, got: h });
            }
        }
        check_block_under_root(&h, &self.proof, block_merkle_root)?;
        Ok(h)
    }
}
