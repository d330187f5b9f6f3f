//! Block production: heights without gaps, epochs of fixed length with a
//! changing producer set, approvals signed by the producers' ed25519 keys,
//! shards with chunks (some may be missing), chunk application through the
//! [`Runtime`], outcome roots, the block Merkle tree, light-client blocks and
//! the proofs the light client checks.
//!
//! Layouts follow nearcore: `inner_lite` V1 (208 bytes); `inner_rest` V5
//! (default), V4 or V6; block hash = `sha256(sha256(sha256(lite) ‖
//! sha256(rest)) ‖ prev_hash)`; approvals in block `X` endorse `X-1` with
//! target height `X` (`0 ‖ hash(X-1) ‖ u64_le(X)`), ordered as the producers of
//! `X`'s epoch; at an epoch's last block the next epoch's new producers'
//! approvals are appended (light clients ignore them). `next_bp_hash` is
//! `sha256(borsh(Vec<ValidatorStake V1>))` of the next epoch's producers.
//! A chunk's `prev_outcome_root` commits the outcomes of that shard's previous
//! application; `outcome_root` = merklize(sha256(prev_outcome_root) per shard);
//! `block_merkle_root` = root over the hashes of all earlier blocks.
//!
//! Epoch ids: epoch 0 = zero hash, epoch 1 = a seed-derived hash, epoch k ≥ 2 =
//! hash of the last block of epoch k-2 (nearcore's rule; the genesis special
//! case differs because a genesis cannot name its own hash).
//!
//! Not nearcore-exact (no verifier reads them, but they are hashed into
//! `inner_rest`): chunk hashes and the chunk/receipt/tx roots, block body
//! hash, the state roots of shards other than the contract's (a running hash of
//! applied outcomes), `random_value` (seed-derived, not a VRF).
//!
//! State roots: the contract shard's root is the trie root of the contract's
//! storage ([`crate::state_trie`]) after the shard's last applied chunk; a
//! chunk's `prev_state_root` is its shard's root before it is applied, and the
//! header's `prev_state_root` is nearcore's `merklize` of the chunks'
//! `prev_state_root`s (leaves `sha256(root)`), in shard order.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use crate::account::ShardLayout;
use crate::attestation::AttestationVerifier;
use crate::borsh::Encoder;
use crate::contract::{ContractConfig, SignerContract};
use crate::contract_account::ContractAccount;
use crate::runtime::ContractEngine;
use crate::state_trie::{ContractTries, TrieAtError};
use tdsigner_near::state_view::ViewStateAnswer;
use crate::wasm::deployed::ContractChoice;
use crate::hash::Hash;
use crate::keys::{PublicKey, SecretKey, Signature};
use crate::merkle::{merkle_path, merklize, BlockMerkleTree, PathItem};
use crate::runtime::{ExecContext, InvalidTx, Outcome, OutcomeStatus, Receipt, Runtime, GAS_PRICE};
use crate::tx::SignedTransaction;

/// Which `BlockHeaderInnerRest` layout headers are hashed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderLayout {
    V4,
    V5,
    /// nearcore's description (V5 without challenges, `shard_split`
    /// appended); not pinned by a real block.
    V6,
}

impl HeaderLayout {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "v4" => Some(Self::V4),
            "v5" => Some(Self::V5),
            "v6" => Some(Self::V6),
            _ => None,
        }
    }
}

/// Chain parameters.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    pub seed: u64,
    /// Validator pool size (each epoch's producers are drawn from it).
    pub validators: usize,
    pub epoch_length: u64,
    pub genesis_height: u64,
    pub shards: usize,
    /// The first `offline_validators` of the pool never approve.
    pub offline_validators: usize,
    /// Per block and shard, the chance (in percent) that the chunk is missing.
    pub missing_chunk_percent: u8,
    /// Timestamp step between blocks (also the production interval when
    /// blocks are produced on a timer).
    pub block_time_ms: u64,
    pub header_layout: HeaderLayout,
    /// How many blocks a transaction's `block_hash` stays valid.
    pub tx_validity_blocks: u64,
    pub contract_account: String,
    /// What the contract account runs: a deployed binary (default 3.14.1) or the model.
    pub contract_code: ContractKind,
    /// Where the deployed releases are (`shared/fixtures/near-mpc/contracts`).
    pub contract_fixtures: std::path::PathBuf,
    pub contract: ContractConfig,
    pub chain_id: String,
    pub protocol_version: u32,
    pub max_txs_per_chunk: usize,
    /// Timestamp of the genesis block, in nanoseconds since the Unix epoch
    /// (fixed, so timestamps never depend on the host's clock).
    pub genesis_timestamp_ns: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            validators: 4,
            epoch_length: 20,
            genesis_height: 1000,
            shards: 4,
            offline_validators: 0,
            missing_chunk_percent: 0,
            block_time_ms: 500,
            header_layout: HeaderLayout::V5,
            tx_validity_blocks: 86_400,
            contract_account: "v1.signer-sim.test".into(),
            contract_code: ContractKind::default(),
            contract_fixtures: default_contract_fixtures(),
            contract: ContractConfig::default(),
            chain_id: "tdsigner-sim".into(),
            protocol_version: 78,
            max_txs_per_chunk: 1000,
            genesis_timestamp_ns: GENESIS_TIMESTAMP_NS,
        }
    }
}

/// What the contract account runs (`--contract 3.14.0|3.14.1|PATH|model`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractKind {
    Deployed(ContractChoice),
    /// The hand-written model, for consumers not yet moved to the binary.
    Model,
}

impl Default for ContractKind {
    fn default() -> Self {
        ContractKind::Deployed(ContractChoice::parse(crate::wasm::deployed::DEFAULT_VERSION))
    }
}

impl ContractKind {
    pub fn parse(text: &str) -> Self {
        if text == "model" {
            ContractKind::Model
        } else {
            ContractKind::Deployed(ContractChoice::parse(text))
        }
    }
}

/// The fixtures directory next to the repository (`../shared/…`), as this
/// crate was built; `TDSIGNER_CONTRACT_FIXTURES` overrides it.
pub fn default_contract_fixtures() -> std::path::PathBuf {
    match std::env::var_os("TDSIGNER_CONTRACT_FIXTURES") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/near-mpc/contracts"),
    }
}

/// Why a configuration cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Validators(usize),
    EpochLength(u64),
    Shards(usize),
    Offline { offline: usize, validators: usize },
    ContractAccount(String),
    Contract(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Validators(n) => write!(f, "--validators {n}: need 1..=100"),
            Self::EpochLength(n) => write!(f, "--epoch-length {n}: need at least 5 blocks"),
            Self::Shards(n) => write!(f, "--shards {n}: need 1..=16"),
            Self::Offline { offline, validators } => {
                write!(f, "--offline-validators {offline} of {validators}: the rest cannot reach 2/3 of the stake in some epoch")
            }
            Self::ContractAccount(a) => write!(f, "--contract-account {a:?} is not a valid account id"),
            Self::Contract(e) => write!(f, "--contract: {e}"),
        }
    }
}

/// A validator of the pool.
#[derive(Debug)]
pub struct Validator {
    pub account_id: String,
    key: SecretKey,
}

impl Validator {
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }
}

/// A block producer of an epoch with its stake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Producer {
    /// Index into the validator pool.
    pub validator: usize,
    pub account_id: String,
    pub public_key: PublicKey,
    pub stake: u128,
}

/// `sha256(borsh(Vec<ValidatorStake>))`, each entry tagged V1 (0).
pub fn bp_hash(producers: &[Producer]) -> Hash {
    let mut e = Encoder::new();
    e.len(producers.len());
    for p in producers {
        e.u8(0).string(&p.account_id);
        p.public_key.encode(&mut e);
        e.u128(p.stake);
    }
    Hash::digest(&e.bytes)
}

/// `BlockHeaderInnerLite` (V1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerLite {
    pub height: u64,
    pub epoch_id: Hash,
    pub next_epoch_id: Hash,
    pub prev_state_root: Hash,
    pub outcome_root: Hash,
    pub timestamp: u64,
    pub next_bp_hash: Hash,
    pub block_merkle_root: Hash,
}

impl InnerLite {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(self.height)
            .raw(&self.epoch_id.0)
            .raw(&self.next_epoch_id.0)
            .raw(&self.prev_state_root.0)
            .raw(&self.outcome_root.0)
            .u64(self.timestamp)
            .raw(&self.next_bp_hash.0)
            .raw(&self.block_merkle_root.0);
        e.finish()
    }
}

/// The `inner_rest` fields the simulator fills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerRest {
    pub block_body_hash: Hash,
    pub prev_chunk_outgoing_receipts_root: Hash,
    pub chunk_headers_root: Hash,
    pub chunk_tx_root: Hash,
    pub random_value: Hash,
    pub chunk_mask: Vec<bool>,
    pub next_gas_price: u128,
    pub total_supply: u128,
    pub last_final_block: Hash,
    pub last_ds_final_block: Hash,
    pub block_ordinal: u64,
    pub prev_height: u64,
    pub epoch_sync_data_hash: Option<Hash>,
    pub approvals: Vec<Option<Signature>>,
    pub latest_protocol_version: u32,
    /// One bitmap per shard (V5, V6).
    pub chunk_endorsements: Vec<Vec<u8>>,
}

impl InnerRest {
    /// borsh in `layout`; challenges_root and challenges_result are always
    /// zero/empty (V4, V5), validator proposals always empty, shard_split None (V6).
    pub fn to_bytes(&self, layout: HeaderLayout) -> Vec<u8> {
        let mut e = Encoder::new();
        e.raw(&self.block_body_hash.0)
            .raw(&self.prev_chunk_outgoing_receipts_root.0)
            .raw(&self.chunk_headers_root.0)
            .raw(&self.chunk_tx_root.0);
        if layout != HeaderLayout::V6 {
            e.raw(&Hash::ZERO.0);
        }
        e.raw(&self.random_value.0);
        e.len(0); // prev_validator_proposals
        e.len(self.chunk_mask.len());
        for &m in &self.chunk_mask {
            e.bool(m);
        }
        e.u128(self.next_gas_price).u128(self.total_supply);
        if layout != HeaderLayout::V6 {
            e.len(0); // challenges_result
        }
        e.raw(&self.last_final_block.0).raw(&self.last_ds_final_block.0).u64(self.block_ordinal).u64(self.prev_height);
        match &self.epoch_sync_data_hash {
            None => e.u8(0),
            Some(h) => e.u8(1).raw(&h.0),
        };
        e.len(self.approvals.len());
        for a in &self.approvals {
            match a {
                None => {
                    e.u8(0);
                }
                Some(s) => {
                    e.u8(1);
                    s.encode(&mut e);
                }
            }
        }
        e.u32(self.latest_protocol_version);
        if layout != HeaderLayout::V4 {
            e.len(self.chunk_endorsements.len());
            for b in &self.chunk_endorsements {
                e.bytes(b);
            }
        }
        if layout == HeaderLayout::V6 {
            e.u8(0); // shard_split: None
        }
        e.finish()
    }
}

/// A chunk header as blocks carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    pub chunk_hash: Hash,
    pub shard_id: usize,
    pub prev_block_hash: Hash,
    pub height_created: u64,
    pub height_included: u64,
    /// Outcome root of this shard's previous application.
    pub prev_outcome_root: Hash,
    pub prev_state_root: Hash,
    pub tx_root: Hash,
    pub outgoing_receipts_root: Hash,
    pub gas_used: u64,
    pub signature: Signature,
}

/// What a chunk holds (for the `chunk` RPC).
#[derive(Clone, Debug)]
pub struct ChunkBody {
    pub header: ChunkHeader,
    pub transactions: Vec<Hash>,
    /// Receipts produced by the shard's previous application (nearcore's
    /// `prev_outgoing_receipts`).
    pub receipts: Vec<Hash>,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub hash: Hash,
    pub prev_hash: Hash,
    pub lite: InnerLite,
    pub rest: InnerRest,
    pub inner_rest_hash: Hash,
    pub epoch: u64,
    pub author: String,
    pub signature: Signature,
    pub chunks: Vec<ChunkHeader>,
}

impl Block {
    pub fn height(&self) -> u64 {
        self.lite.height
    }
    /// `sha256(sha256(lite) ‖ sha256(rest))`: what the previous light-client
    /// block calls `next_block_inner_hash`.
    pub fn inner_hash(&self) -> Hash {
        Hash::combine(&Hash::digest(&self.lite.to_bytes()), &self.inner_rest_hash)
    }
}

/// Whether an outcome belongs to a transaction or a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    Transaction,
    Receipt,
}

/// An outcome with where it was produced and its path in the chunk's tree.
#[derive(Clone, Debug)]
pub struct OutcomeRecord {
    pub id: Hash,
    pub outcome: Outcome,
    pub kind: OutcomeKind,
    /// Index of the block whose chunk application produced it.
    pub executed_in: usize,
    pub shard: usize,
    pub proof: Vec<PathItem>,
    pub origin_tx: Hash,
}

/// Where a submitted transaction stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxState {
    Pending,
    /// Failed its re-check at inclusion; dropped as nearcore drops it.
    Dropped(InvalidTx),
    Included { block: usize },
}

#[derive(Clone, Debug)]
pub struct TxRecord {
    pub tx: SignedTransaction,
    pub state: TxState,
}

struct ShardState {
    header: ChunkHeader,
    /// The shard's state root after its last applied chunk (the next chunk's `prev_state_root`).
    state_root: Hash,
    last_outcome_root: Hash,
    last_outgoing: Vec<Hash>,
    pending_txs: VecDeque<Hash>,
    incoming: VecDeque<(u64, Hash)>,
}

/// Errors of the proof and light-client queries, named as nearcore's RPC names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    UnknownBlock(String),
    UnknownTransactionOrReceipt(Hash),
    /// Executed, but no later block with a new chunk for the shard yet.
    NotConfirmed(Hash),
    /// nearcore's `Other` errors (e.g. a block ahead of the head).
    Internal(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownBlock(b) => write!(f, "DB Not Found Error: BLOCK: {b}"),
            Self::UnknownTransactionOrReceipt(h) => write!(f, "{h} has not been confirmed"),
            Self::NotConfirmed(h) => write!(f, "{h} has not been confirmed"),
            Self::Internal(m) => f.write_str(m),
        }
    }
}

/// A `light_client_proof` answer.
#[derive(Clone, Debug)]
pub struct ExecutionProof {
    pub id: Hash,
    pub outcome: Outcome,
    pub outcome_proof: Vec<PathItem>,
    /// The block whose header commits the outcome root (not the executing one).
    pub block: usize,
    pub outcome_root_proof: Vec<PathItem>,
    pub block_proof: Vec<PathItem>,
}

/// The chain and everything it executes.
pub struct Chain {
    pub cfg: ChainConfig,
    validators: Vec<Validator>,
    blocks: Vec<Block>,
    by_hash: HashMap<Hash, usize>,
    merkle: BlockMerkleTree,
    /// Epoch id → index of the light-client block stored for that epoch.
    epoch_lc_blocks: HashMap<Hash, usize>,
    epoch_ids: Vec<Hash>,
    pub runtime: Runtime,
    shards: Vec<ShardState>,
    chunks: HashMap<Hash, ChunkBody>,
    outcomes: HashMap<Hash, OutcomeRecord>,
    receipts: HashMap<Hash, Receipt>,
    txs: HashMap<Hash, TxRecord>,
    tx_receipts: HashMap<Hash, Vec<Hash>>,
    /// The contract shard's state tries (its roots are that shard's state roots).
    contract_tries: ContractTries,
    genesis_timestamp_ns: u64,
}

const MIN_STAKE_UNITS: u128 = 10;
const TOTAL_SUPPLY: u128 = 1_000_000_000 * 1_000_000_000_000_000_000_000_000;
/// 2025-01-01T00:00:00Z: the default genesis time.
const GENESIS_TIMESTAMP_NS: u64 = 1_735_689_600_000_000_000;

impl Chain {
    pub fn new(cfg: ChainConfig, verifier: Arc<dyn AttestationVerifier>) -> Result<Self, ConfigError> {
        if cfg.validators == 0 || cfg.validators > 100 {
            return Err(ConfigError::Validators(cfg.validators));
        }
        if cfg.epoch_length < 5 {
            return Err(ConfigError::EpochLength(cfg.epoch_length));
        }
        if cfg.shards == 0 || cfg.shards > 16 {
            return Err(ConfigError::Shards(cfg.shards));
        }
        if !crate::account::is_valid_account_id(&cfg.contract_account) {
            return Err(ConfigError::ContractAccount(cfg.contract_account.clone()));
        }
        let validators: Vec<Validator> = (0..cfg.validators)
            .map(|i| Validator { account_id: format!("validator-{i}.sim.test"), key: SecretKey::derive(cfg.seed, &format!("validator {i}")) })
            .collect();
        let layout = ShardLayout::spread(cfg.shards);
        let engine = match &cfg.contract_code {
            ContractKind::Model => ContractEngine::Model(Box::new(SignerContract::new(cfg.contract_account.clone(), cfg.contract.clone(), verifier))),
            ContractKind::Deployed(choice) => {
                let config = crate::wasm::RuntimeConfig {
                    genesis_height: cfg.genesis_height,
                    genesis_timestamp_ns: cfg.genesis_timestamp_ns,
                    block_time_ns: cfg.block_time_ms.saturating_mul(1_000_000),
                    epoch_length: cfg.epoch_length,
                    yield_timeout_blocks: cfg.contract.yield_timeout_blocks,
                    ..crate::wasm::RuntimeConfig::default()
                };
                let account = ContractAccount::load(cfg.contract_account.clone(), choice, &cfg.contract_fixtures, config).map_err(ConfigError::Contract)?;
                ContractEngine::Deployed(Box::new(account))
            }
        };
        let runtime = Runtime::new(engine, layout);
        let epoch_1 = Hash::digest_parts(&[b"tdsigner-chain-sim epoch 1", &cfg.seed.to_le_bytes()]);
        let mut chain = Self {
            validators,
            blocks: Vec::new(),
            by_hash: HashMap::new(),
            merkle: BlockMerkleTree::default(),
            epoch_lc_blocks: HashMap::new(),
            epoch_ids: vec![Hash::ZERO, epoch_1],
            runtime,
            shards: Vec::new(),
            chunks: HashMap::new(),
            outcomes: HashMap::new(),
            receipts: HashMap::new(),
            txs: HashMap::new(),
            tx_receipts: HashMap::new(),
            contract_tries: ContractTries::new(cfg.contract_account.clone()),
            genesis_timestamp_ns: cfg.genesis_timestamp_ns,
            cfg,
        };
        // Every epoch must finalize without the offline validators. Offline
        // validators get the minimum stake and online ones at least it, so
        // counting suffices: the online producers of any epoch (one validator
        // may be dropped) must outnumber twice the offline ones.
        let (n, off) = (chain.cfg.validators, chain.cfg.offline_validators);
        let online_min = n.saturating_sub(off).saturating_sub(usize::from(n >= 4));
        if off > 0 && online_min <= 2 * off {
            return Err(ConfigError::Offline { offline: off, validators: n });
        }
        chain.produce_genesis();
        Ok(chain)
    }

    // ----- epochs and producers -------------------------------------------

    pub fn epoch_of(&self, height: u64) -> u64 {
        height.saturating_sub(self.cfg.genesis_height) / self.cfg.epoch_length
    }

    fn epoch_start(&self, epoch: u64) -> u64 {
        self.cfg.genesis_height + epoch * self.cfg.epoch_length
    }

    fn is_last_of_epoch(&self, height: u64) -> bool {
        self.epoch_of(height + 1) != self.epoch_of(height)
    }

    /// Epoch id of epoch `k`; `None` if it depends on a block not produced yet.
    pub fn epoch_id(&self, k: u64) -> Option<Hash> {
        if let Some(h) = usize::try_from(k).ok().and_then(|i| self.epoch_ids.get(i)) {
            return Some(*h);
        }
        // Epoch k ≥ 2: the hash of the last block of epoch k-2.
        let last = self.epoch_start(k.checked_sub(1)?).checked_sub(1)?;
        self.block_by_height(last).map(|b| b.hash)
    }

    /// The producers of epoch `k`: the pool minus one rotating validator
    /// (pools of 4 or more), stakes varying per epoch, sorted by stake.
    pub fn producers(&self, epoch: u64) -> Vec<Producer> {
        let n = self.validators.len();
        let dropped = if n >= 4 { Some((epoch % n as u64) as usize) } else { None };
        let mut out: Vec<Producer> = self
            .validators
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != dropped)
            .map(|(i, v)| {
                let h = Hash::digest_parts(&[b"stake", &self.cfg.seed.to_le_bytes(), &(i as u64).to_le_bytes(), &epoch.to_le_bytes()]);
                // Offline validators hold the minimum stake (see `new`).
                let units = if i < self.cfg.offline_validators { MIN_STAKE_UNITS } else { MIN_STAKE_UNITS + u128::from(h.0[0] % 40) };
                Producer { validator: i, account_id: v.account_id.clone(), public_key: v.public_key(), stake: units * 100_000 * 10u128.pow(24) }
            })
            .collect();
        out.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.account_id.cmp(&b.account_id)));
        out
    }

    pub fn validator(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    // ----- reading blocks ---------------------------------------------------

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn head(&self) -> &Block {
        // The genesis is produced in `new`, so the list is never empty.
        self.blocks.last().unwrap_or_else(|| unreachable_genesis())
    }

    pub fn genesis(&self) -> &Block {
        self.blocks.first().unwrap_or_else(|| unreachable_genesis())
    }

    pub fn index_of(&self, hash: &Hash) -> Option<usize> {
        self.by_hash.get(hash).copied()
    }

    pub fn block(&self, index: usize) -> Option<&Block> {
        self.blocks.get(index)
    }

    pub fn block_by_hash(&self, hash: &Hash) -> Option<&Block> {
        self.index_of(hash).and_then(|i| self.blocks.get(i))
    }

    pub fn block_by_height(&self, height: u64) -> Option<&Block> {
        let i = height.checked_sub(self.cfg.genesis_height)?;
        self.blocks.get(usize::try_from(i).ok()?)
    }

    /// The newest block with doomslug + BFT finality (head - 2).
    pub fn final_head(&self) -> &Block {
        let i = self.blocks.len().saturating_sub(3);
        self.blocks.get(i).unwrap_or_else(|| self.genesis())
    }

    pub fn chunk(&self, chunk_hash: &Hash) -> Option<&ChunkBody> {
        self.chunks.get(chunk_hash)
    }

    pub fn receipt(&self, id: &Hash) -> Option<&Receipt> {
        self.receipts.get(id)
    }

    pub fn outcome(&self, id: &Hash) -> Option<&OutcomeRecord> {
        self.outcomes.get(id)
    }

    pub fn tx(&self, hash: &Hash) -> Option<&TxRecord> {
        self.txs.get(hash)
    }

    pub fn tx_receipt_ids(&self, hash: &Hash) -> &[Hash] {
        self.tx_receipts.get(hash).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn shard_of(&self, account: &str) -> usize {
        self.runtime.layout.shard_of(account)
    }

    /// Height of `block_hash` if a transaction may reference it at `height`.
    fn reference_height(&self, block_hash: &Hash, height: u64) -> Option<u64> {
        let b = self.block_by_hash(block_hash)?;
        (height.saturating_sub(b.height()) <= self.cfg.tx_validity_blocks).then_some(b.height())
    }

    // ----- transactions ------------------------------------------------------

    /// Validates and queues a transaction for the signer's shard. A known
    /// hash is accepted again without queueing twice.
    pub fn submit_tx(&mut self, st: SignedTransaction) -> Result<Hash, InvalidTx> {
        let hash = st.hash;
        if self.txs.contains_key(&hash) {
            return Ok(hash);
        }
        let next_height = self.head().height() + 1;
        let reference = self.reference_height(&st.transaction.block_hash, next_height);
        self.runtime.check_tx(&st, reference, next_height)?;
        let shard = self.shard_of(&st.transaction.signer_id);
        if let Some(s) = self.shards.get_mut(shard) {
            s.pending_txs.push_back(hash);
        }
        self.txs.insert(hash, TxRecord { tx: st, state: TxState::Pending });
        Ok(hash)
    }

    // ----- production -------------------------------------------------------

    fn chunk_missing(&self, height: u64, shard: usize) -> bool {
        if self.cfg.missing_chunk_percent == 0 {
            return false;
        }
        let h = Hash::digest_parts(&[b"missing-chunk", &self.cfg.seed.to_le_bytes(), &height.to_le_bytes(), &(shard as u64).to_le_bytes()]);
        h.0[0] % 100 < self.cfg.missing_chunk_percent
    }

    fn timestamp(&self, height: u64) -> u64 {
        let step = self.cfg.block_time_ms.max(1).saturating_mul(1_000_000);
        self.genesis_timestamp_ns.saturating_add(height.saturating_sub(self.cfg.genesis_height).saturating_mul(step))
    }

    fn author_of(&self, height: u64, producers: &[Producer]) -> usize {
        let n = producers.len().max(1);
        producers.get((height % n as u64) as usize).map_or(0, |p| p.validator)
    }

    fn sign_chunk_header(&self, h: &mut ChunkHeader, author: usize) {
        let mut e = Encoder::new();
        e.u64(h.shard_id as u64)
            .raw(&h.prev_block_hash.0)
            .u64(h.height_created)
            .raw(&h.prev_outcome_root.0)
            .raw(&h.prev_state_root.0)
            .raw(&h.tx_root.0)
            .raw(&h.outgoing_receipts_root.0)
            .u64(h.gas_used);
        h.chunk_hash = Hash::digest(&e.bytes);
        if let Some(v) = self.validators.get(author) {
            h.signature = v.sign(&h.chunk_hash.0);
        }
    }

    fn produce_genesis(&mut self) {
        let g = self.cfg.genesis_height;
        let producers = self.producers(0);
        let author = self.author_of(g, &producers);
        let contract_shard = self.shard_of(&self.runtime.contract_id.clone());
        let contract_root = self.contract_state_root();
        for shard in 0..self.cfg.shards {
            let state_root = if shard == contract_shard {
                contract_root
            } else {
                Hash::digest_parts(&[b"tdsigner-chain-sim genesis state", &(shard as u64).to_le_bytes()])
            };
            let mut header = ChunkHeader {
                chunk_hash: Hash::ZERO,
                shard_id: shard,
                prev_block_hash: Hash::ZERO,
                height_created: g,
                height_included: g,
                prev_outcome_root: Hash::ZERO,
                prev_state_root: state_root,
                tx_root: Hash::ZERO,
                outgoing_receipts_root: Hash::ZERO,
                gas_used: 0,
                signature: Signature::Ed25519([0; 64]),
            };
            self.sign_chunk_header(&mut header, author);
            self.chunks.insert(header.chunk_hash, ChunkBody { header: header.clone(), transactions: Vec::new(), receipts: Vec::new() });
            self.shards.push(ShardState {
                header,
                state_root,
                last_outcome_root: Hash::ZERO,
                last_outgoing: Vec::new(),
                pending_txs: VecDeque::new(),
                incoming: VecDeque::new(),
            });
        }
        self.seal_block(g, vec![true; self.cfg.shards], Hash::digest_parts(&[b"random", &self.cfg.seed.to_le_bytes()]));
    }

    /// Produces the next block: applies the shards that get a new chunk,
    /// then seals the header.
    pub fn produce_block(&mut self) {
        let prev = self.head().clone();
        let height = prev.height() + 1;
        let index = self.blocks.len();
        let ctx = ExecContext { height, timestamp_ns: self.timestamp(height) };
        let author = self.author_of(height, &self.producers(self.epoch_of(height)));
        let contract_shard = self.shard_of(&self.runtime.contract_id.clone());
        let mut mask = Vec::with_capacity(self.cfg.shards);
        for shard in 0..self.cfg.shards {
            if self.chunk_missing(height, shard) {
                mask.push(false);
                continue;
            }
            mask.push(true);
            let Some(st) = self.shards.get_mut(shard) else { continue };
            let take = st.pending_txs.len().min(self.cfg.max_txs_per_chunk);
            let tx_hashes: Vec<Hash> = st.pending_txs.drain(..take).collect();
            let prev_outgoing = std::mem::take(&mut st.last_outgoing);
            let mut header = ChunkHeader {
                chunk_hash: Hash::ZERO,
                shard_id: shard,
                prev_block_hash: prev.hash,
                height_created: height,
                height_included: height,
                prev_outcome_root: st.last_outcome_root,
                prev_state_root: st.state_root,
                tx_root: merklize(&tx_hashes).0,
                outgoing_receipts_root: merklize(&prev_outgoing).0,
                gas_used: 0,
                signature: Signature::Ed25519([0; 64]),
            };
            let mut incoming = Vec::new();
            while let Some(&(available, id)) = st.incoming.front() {
                if available > height {
                    break;
                }
                st.incoming.pop_front();
                incoming.push(id);
            }
            // Apply: transactions become receipts, then incoming receipts run.
            let mut applied: Vec<(Hash, Outcome, OutcomeKind, Hash)> = Vec::new();
            let mut outgoing = Vec::new();
            for tx_hash in &tx_hashes {
                let Some(rec) = self.txs.get(tx_hash) else { continue };
                let st_tx = rec.tx.clone();
                let reference = self.reference_height(&st_tx.transaction.block_hash, height);
                match self.runtime.apply_tx(&st_tx, reference, height) {
                    Ok((outcome, receipt)) => {
                        applied.push((*tx_hash, outcome, OutcomeKind::Transaction, *tx_hash));
                        outgoing.push(receipt.id);
                        self.route(receipt, height);
                        if let Some(r) = self.txs.get_mut(tx_hash) {
                            r.state = TxState::Included { block: index };
                        }
                    }
                    Err(e) => {
                        if let Some(r) = self.txs.get_mut(tx_hash) {
                            r.state = TxState::Dropped(e);
                        }
                    }
                }
            }
            let mut to_run: Vec<Receipt> = incoming.iter().filter_map(|id| self.receipts.get(id).cloned()).collect();
            if shard == contract_shard {
                self.runtime.enter_block(ctx);
                self.record_inline(&mut applied);
                for r in self.runtime.due_yield_timeouts(height) {
                    self.tx_receipts.entry(r.origin_tx).or_default().push(r.id);
                    self.receipts.insert(r.id, r.clone());
                    to_run.push(r);
                }
            }
            for r in to_run {
                let (outcome, created) = self.runtime.apply_receipt(&r, ctx);
                applied.push((r.id, outcome, OutcomeKind::Receipt, r.origin_tx));
                self.record_inline(&mut applied);
                for c in created {
                    outgoing.push(c.id);
                    self.route(c, height);
                }
            }
            let leaves: Vec<Hash> = applied.iter().map(|(id, o, _, _)| o.leaf(id)).collect();
            let (root, paths) = merklize(&leaves);
            for ((id, outcome, kind, origin_tx), proof) in applied.into_iter().zip(paths) {
                header.gas_used = header.gas_used.saturating_add(outcome.gas_burnt);
                self.outcomes.insert(id, OutcomeRecord { id, outcome, kind, executed_in: index, shard, proof, origin_tx });
            }
            self.sign_chunk_header(&mut header, author);
            self.chunks.insert(header.chunk_hash, ChunkBody { header: header.clone(), transactions: tx_hashes, receipts: prev_outgoing });
            let contract_root = (shard == contract_shard).then(|| self.contract_state_root());
            if let Some(st) = self.shards.get_mut(shard) {
                st.header = header;
                st.last_outcome_root = root;
                st.last_outgoing = outgoing;
                // The contract shard's root is its storage trie's; the others' a running hash.
                st.state_root = contract_root.unwrap_or_else(|| Hash::combine(&st.state_root, &root));
            }
        }
        let random_value = Hash::digest_parts(&[b"random", &self.cfg.seed.to_le_bytes(), &prev.rest.random_value.0, &height.to_le_bytes()]);
        self.seal_block(height, mask, random_value);
        // nearcore stores a light-client block per epoch when the next epoch's
        // first block arrives: the final block of the previous epoch's last block.
        if self.epoch_of(height) != self.epoch_of(height - 1) {
            if let Some(f) = index.checked_sub(3) {
                let prev_epoch_id = prev.lite.epoch_id;
                self.epoch_lc_blocks.insert(prev_epoch_id, f);
            }
        }
    }

    /// Records the receipts the deployed binary ran inside the last call.
    fn record_inline(&mut self, applied: &mut Vec<(Hash, Outcome, OutcomeKind, Hash)>) {
        for (r, outcome) in std::mem::take(&mut self.runtime.executed_inline) {
            self.tx_receipts.entry(r.origin_tx).or_default().push(r.id);
            applied.push((r.id, outcome, OutcomeKind::Receipt, r.origin_tx));
            self.receipts.insert(r.id, r);
        }
    }

    fn route(&mut self, receipt: Receipt, height: u64) {
        let shard = self.shard_of(&receipt.receiver_id);
        self.tx_receipts.entry(receipt.origin_tx).or_default().push(receipt.id);
        if let Some(s) = self.shards.get_mut(shard) {
            s.incoming.push_back((height + 1, receipt.id));
        }
        self.receipts.insert(receipt.id, receipt);
    }

    /// The contract's storage trie root (its storage now; the model keeps none).
    fn contract_state_root(&mut self) -> Hash {
        let empty = std::collections::BTreeMap::new();
        let storage = self.runtime.contract_storage().unwrap_or(&empty);
        self.contract_tries.update(storage)
    }

    /// `view_state` of the contract's storage under `prefix` after block `index`, with the
    /// proof against the contract shard's root (the next block's chunk `prev_state_root`).
    pub fn contract_view_state(&self, index: usize, prefix: &[u8]) -> Result<ViewStateAnswer, TrieAtError> {
        self.contract_tries.view_state(index, prefix)
    }

    fn seal_block(&mut self, height: u64, chunk_mask: Vec<bool>, random_value: Hash) {
        let index = self.blocks.len();
        let epoch = self.epoch_of(height);
        let producers = self.producers(epoch);
        let next_producers = self.producers(epoch + 1);
        let prev = self.blocks.last().cloned();
        let prev_hash = prev.as_ref().map_or(Hash::ZERO, |b| b.hash);
        let chunks: Vec<ChunkHeader> = self.shards.iter().map(|s| s.header.clone()).collect();
        let outcome_leaves: Vec<Hash> = chunks.iter().map(|c| Hash::digest(&c.prev_outcome_root.0)).collect();
        // nearcore: merklize(chunks' prev_state_root), each leaf sha256(borsh(root)).
        let state_leaves: Vec<Hash> = chunks.iter().map(|c| Hash::digest(&c.prev_state_root.0)).collect();
        let prev_state_root = merklize(&state_leaves).0;
        let author = self.author_of(height, &producers);
        let mut approvals: Vec<Option<Signature>> = Vec::new();
        if let Some(p) = &prev {
            let mut msg = [0u8; 41];
            msg[1..33].copy_from_slice(&p.hash.0);
            msg[33..].copy_from_slice(&height.to_le_bytes());
            let sign = |v: usize| (v >= self.cfg.offline_validators).then(|| self.validators.get(v).map(|val| val.sign(&msg))).flatten();
            approvals = producers.iter().map(|pr| sign(pr.validator)).collect();
            if self.is_last_of_epoch(height) {
                for q in &next_producers {
                    if !producers.iter().any(|pr| pr.validator == q.validator) {
                        approvals.push(sign(q.validator));
                    }
                }
            }
        }
        let at = |back: usize| index.checked_sub(back).and_then(|i| self.blocks.get(i)).map_or(Hash::ZERO, |b| b.hash);
        let chunk_hashes: Vec<Hash> = chunks.iter().map(|c| Hash::combine(&c.chunk_hash, &Hash::digest(&c.height_included.to_le_bytes()))).collect();
        let mut body = Encoder::new();
        for c in &chunks {
            body.raw(&c.chunk_hash.0);
        }
        body.raw(&random_value.0);
        let rest = InnerRest {
            block_body_hash: Hash::digest(&body.bytes),
            prev_chunk_outgoing_receipts_root: merklize(&chunks.iter().map(|c| c.outgoing_receipts_root).collect::<Vec<_>>()).0,
            chunk_headers_root: merklize(&chunk_hashes).0,
            chunk_tx_root: merklize(&chunks.iter().map(|c| c.tx_root).collect::<Vec<_>>()).0,
            random_value,
            chunk_endorsements: chunk_mask.iter().map(|&m| if m { vec![0xff] } else { Vec::new() }).collect(),
            chunk_mask,
            next_gas_price: GAS_PRICE,
            total_supply: TOTAL_SUPPLY,
            last_final_block: at(2),
            last_ds_final_block: at(1),
            block_ordinal: index as u64 + 1,
            prev_height: prev.as_ref().map_or(0, |b| b.height()),
            epoch_sync_data_hash: (index > 0 && height == self.epoch_start(epoch))
                .then(|| Hash::digest_parts(&[b"epoch-sync", &height.to_le_bytes()])),
            approvals,
            latest_protocol_version: self.cfg.protocol_version,
        };
        let lite = InnerLite {
            height,
            epoch_id: self.epoch_id(epoch).unwrap_or(Hash::ZERO),
            next_epoch_id: self.epoch_id(epoch + 1).unwrap_or(Hash::ZERO),
            prev_state_root,
            outcome_root: merklize(&outcome_leaves).0,
            timestamp: self.timestamp(height),
            next_bp_hash: bp_hash(&next_producers),
            block_merkle_root: self.merkle.root(),
        };
        let inner_rest_hash = Hash::digest(&rest.to_bytes(self.cfg.header_layout));
        let hash = Hash::combine(&Hash::combine(&Hash::digest(&lite.to_bytes()), &inner_rest_hash), &prev_hash);
        let signature = self.validators.get(author).map_or(Signature::Ed25519([0; 64]), |v| v.sign(&hash.0));
        let block = Block {
            hash,
            prev_hash,
            lite,
            rest,
            inner_rest_hash,
            epoch,
            author: self.validators.get(author).map_or_else(String::new, |v| v.account_id.clone()),
            signature,
            chunks,
        };
        self.by_hash.insert(hash, index);
        self.merkle.insert(hash);
        self.blocks.push(block);
        let contract_shard = self.shard_of(&self.runtime.contract_id.clone());
        self.contract_tries.record_block(self.shards.get(contract_shard).map_or(Hash::ZERO, |s| s.state_root));
    }

    // ----- light client -----------------------------------------------------

    /// The light-client block for the head: the newest final block whose
    /// block two heights on shares its epoch (so the approvals it needs are
    /// by its own epoch's producers).
    pub fn light_client_head_index(&self) -> Option<usize> {
        let mut f = self.blocks.len().checked_sub(3)?;
        loop {
            let (a, b) = (self.blocks.get(f)?, self.blocks.get(f + 2)?);
            if a.epoch == b.epoch {
                return Some(f);
            }
            f = f.checked_sub(1)?;
        }
    }

    /// A light-client block of the epoch before the head's: the one nearcore
    /// stores for that epoch. `None` while the head is in the first epoch.
    pub fn trusted_checkpoint_index(&self) -> Option<usize> {
        let epoch = self.head().epoch.checked_sub(1)?;
        self.epoch_lc_blocks.get(&self.epoch_id(epoch)?).copied()
    }

    /// nearcore's `next_light_client_block` choice: `Ok(None)` = nothing newer.
    pub fn next_light_client_block(&self, last_block_hash: &Hash) -> Result<Option<usize>, QueryError> {
        let last = self.block_by_hash(last_block_hash).ok_or_else(|| QueryError::UnknownBlock(last_block_hash.to_base58()))?;
        let head = self.head();
        if last.lite.epoch_id == head.lite.epoch_id || last.lite.next_epoch_id == head.lite.epoch_id {
            Ok(self.light_client_head_index().filter(|&f| self.blocks.get(f).is_some_and(|b| b.height() > last.height())))
        } else {
            Ok(self.epoch_lc_blocks.get(&last.lite.next_epoch_id).copied())
        }
    }

    /// The `LightClientBlockView` parts of block `f`: needs `f+1` and `f+2`.
    pub fn light_client_block(&self, f: usize) -> Option<LightClientBlock> {
        let b = self.blocks.get(f)?;
        let next = self.blocks.get(f + 1)?;
        let after = self.blocks.get(f + 2)?;
        Some(LightClientBlock {
            block: f,
            next_block_inner_hash: next.inner_hash(),
            next_bps: self.producers(b.epoch + 1),
            approvals_after_next: after.rest.approvals.clone(),
        })
    }

    fn block_tree_path(&self, block: usize, head: usize) -> Result<Vec<PathItem>, QueryError> {
        if block == head {
            // nearcore's special case: an empty path (it cannot fold to the root).
            return Ok(Vec::new());
        }
        if block > head {
            let (b, h) = (self.blocks.get(block), self.blocks.get(head));
            return Err(QueryError::Internal(format!(
                "block {} is ahead of head block {}",
                b.map_or_else(String::new, |b| b.hash.to_base58()),
                h.map_or_else(String::new, |b| b.hash.to_base58())
            )));
        }
        let leaves: Vec<Hash> = self.blocks.iter().take(head).map(|b| b.hash).collect();
        merkle_path(&leaves, block).map(|(_, p)| p).ok_or_else(|| QueryError::Internal("block index outside the tree".into()))
    }

    fn final_head_index(&self, head: &Hash) -> Result<usize, QueryError> {
        let i = self.index_of(head).ok_or_else(|| QueryError::UnknownBlock(head.to_base58()))?;
        if i + 2 >= self.blocks.len() && i != 0 {
            return Err(QueryError::Internal(format!("block {head} is not final")));
        }
        Ok(i)
    }

    /// `EXPERIMENTAL_light_client_block_proof`.
    pub fn block_proof(&self, block_hash: &Hash, head: &Hash) -> Result<(usize, Vec<PathItem>), QueryError> {
        let b = self.index_of(block_hash).ok_or_else(|| QueryError::UnknownBlock(block_hash.to_base58()))?;
        let h = self.final_head_index(head)?;
        Ok((b, self.block_tree_path(b, h)?))
    }

    /// `light_client_proof` for a transaction (account = sender) or a receipt
    /// (account = receiver): the outcome's path, the next block with a new
    /// chunk for the account's shard, its outcome-root path, and its path in
    /// the head's block tree.
    pub fn execution_proof(&self, id: &Hash, account: &str, head: &Hash) -> Result<ExecutionProof, QueryError> {
        let rec = self.outcomes.get(id).ok_or(QueryError::UnknownTransactionOrReceipt(*id))?;
        let head_index = self.final_head_index(head)?;
        let shard = self.shard_of(account);
        let block = (rec.executed_in + 1..self.blocks.len())
            .find(|&i| self.blocks.get(i).is_some_and(|b| b.rest.chunk_mask.get(shard).copied().unwrap_or(false)))
            .ok_or(QueryError::NotConfirmed(*id))?;
        let b = self.blocks.get(block).ok_or(QueryError::NotConfirmed(*id))?;
        let leaves: Vec<Hash> = b.chunks.iter().map(|c| Hash::digest(&c.prev_outcome_root.0)).collect();
        let (_, outcome_root_proof) = merkle_path(&leaves, shard).ok_or_else(|| QueryError::Internal("shard outside the block".into()))?;
        Ok(ExecutionProof {
            id: *id,
            outcome: rec.outcome.clone(),
            outcome_proof: rec.proof.clone(),
            block,
            outcome_root_proof,
            block_proof: self.block_tree_path(block, head_index)?,
        })
    }

    /// The final status of a transaction, following `SuccessReceiptId` links.
    pub fn final_status(&self, tx_hash: &Hash) -> Option<FinalStatus> {
        let rec = self.outcomes.get(tx_hash)?;
        let mut status = rec.outcome.status.clone();
        for _ in 0..64 {
            match status {
                OutcomeStatus::SuccessReceiptId(next) => match self.outcomes.get(&next) {
                    Some(r) => status = r.outcome.status.clone(),
                    None => return Some(FinalStatus::Started),
                },
                OutcomeStatus::SuccessValue(v) => return Some(FinalStatus::SuccessValue(v)),
                OutcomeStatus::Failure(e) => return Some(FinalStatus::Failure(e)),
                OutcomeStatus::Unknown => return Some(FinalStatus::Started),
            }
        }
        Some(FinalStatus::Started)
    }
}

/// A transaction's overall status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinalStatus {
    Started,
    SuccessValue(Vec<u8>),
    Failure(serde_json::Value),
}

/// What a `LightClientBlockView` is made of.
#[derive(Clone, Debug)]
pub struct LightClientBlock {
    pub block: usize,
    pub next_block_inner_hash: Hash,
    pub next_bps: Vec<Producer>,
    pub approvals_after_next: Vec<Option<Signature>>,
}

#[cold]
fn unreachable_genesis() -> ! {
    // `Chain::new` always produces the genesis before returning.
    unreachable!("chain without genesis")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::RequireNonEmptyQuote;
    use crate::merkle::fold;

    fn chain(cfg: ChainConfig) -> Chain {
        Chain::new(cfg, Arc::new(RequireNonEmptyQuote)).unwrap()
    }

    #[test]
    fn block_merkle_roots_and_proofs() {
        let mut c = chain(ChainConfig { epoch_length: 5, ..ChainConfig::default() });
        for _ in 0..40 {
            c.produce_block();
        }
        for (i, b) in c.blocks().iter().enumerate() {
            let leaves: Vec<Hash> = c.blocks()[..i].iter().map(|b| b.hash).collect();
            assert_eq!(b.lite.block_merkle_root, merklize(&leaves).0);
        }
        let head = c.final_head().hash;
        let hi = c.index_of(&head).unwrap();
        for i in 0..hi {
            let (_, p) = c.block_proof(&c.blocks()[i].hash, &head).unwrap();
            assert_eq!(fold(c.blocks()[i].hash, &p), c.blocks()[hi].lite.block_merkle_root);
        }
    }

    #[test]
    fn epochs_change_ids_and_producers() {
        let mut c = chain(ChainConfig { epoch_length: 5, validators: 5, ..ChainConfig::default() });
        for _ in 0..30 {
            c.produce_block();
        }
        let b = |h: u64| c.block_by_height(1000 + h).unwrap();
        assert_eq!(b(0).lite.epoch_id, Hash::ZERO);
        assert_eq!(b(5).lite.epoch_id, b(4).lite.next_epoch_id);
        assert_eq!(b(10).lite.epoch_id, b(4).hash);
        assert_eq!(b(15).lite.epoch_id, b(9).hash);
        assert_ne!(c.producers(1), c.producers(2));
        assert_eq!(b(7).lite.next_bp_hash, bp_hash(&c.producers(2)));
        // Trailing approvals at an epoch's last block.
        assert!(b(9).rest.approvals.len() > c.producers(1).len());
        assert_eq!(b(8).rest.approvals.len(), c.producers(1).len());
    }

    #[test]
    fn offline_validators_must_leave_a_quorum() {
        let cfg = ChainConfig { validators: 4, offline_validators: 2, ..ChainConfig::default() };
        assert!(matches!(Chain::new(cfg, Arc::new(RequireNonEmptyQuote)), Err(ConfigError::Offline { .. })));
    }
}
