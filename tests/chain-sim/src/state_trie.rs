//! The contract shard's state as a nearcore-format trie, so that `query view_state` can
//! answer with real proofs.
//!
//! The contract account's storage (the deployed binary's storage map, every key, under
//! nearcore's `TrieKey::ContractData` = `9 ‖ account ‖ ',' ‖ key`) is built into a trie with
//! `tdsigner_near::trie_builder` (whose node encoding, hashing and memory usage are checked
//! against mainnet proofs in that crate). Its root is the contract shard's state root: the
//! `prev_state_root` of the shard's next chunk, so `view_state` at block `B` is proven against
//! the chunk roots of the block after `B`, as on nearcore.
//!
//! What the trie does not hold: accounts, access keys and code (the simulator keeps them
//! outside a trie) and other accounts of the shard. The root is therefore not the root a
//! nearcore node would compute for the same chain; it is a real root over the keys it holds,
//! which is what the node's proof verifier checks. With the hand-written model contract the
//! storage is empty (the model keeps Rust structures, not storage).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tdsigner_near::state_proof::contract_data_key;
use tdsigner_near::trie_builder::BuiltTrie;
use tdsigner_near::state_view::ViewStateAnswer;

use crate::hash::Hash;

/// Distinct tries kept for historical `view_state` (older ones answer as garbage collected).
pub const KEPT_TRIES: usize = 64;

/// The contract's tries, by block.
pub struct ContractTries {
    account: String,
    /// The storage the newest trie was built from (rebuilt only when it changes).
    built_from: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Recent distinct tries, newest last.
    recent: VecDeque<Arc<BuiltTrie>>,
    /// The contract shard's state root after each block (block index → root).
    after_block: Vec<Hash>,
}

/// Why a `view_state` could not be answered at a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrieAtError {
    UnknownBlock,
    /// The block's trie is no longer kept.
    GarbageCollected,
}

impl ContractTries {
    /// The tries of `account`, whose storage starts empty.
    pub fn new(account: String) -> Self {
        let empty = Arc::new(BuiltTrie::new(BTreeMap::new()));
        ContractTries { account, built_from: BTreeMap::new(), recent: VecDeque::from([empty]), after_block: Vec::new() }
    }

    /// The root of the newest trie.
    pub fn root(&self) -> Hash {
        self.recent.back().map_or(Hash::ZERO, |t| Hash(t.root.0))
    }

    /// Builds the trie of `storage` (the contract's raw keys) if it changed; returns its root.
    pub fn update(&mut self, storage: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
        if *storage != self.built_from {
            let entries = storage.iter().map(|(k, v)| (contract_data_key(&self.account, k), v.clone())).collect();
            self.recent.push_back(Arc::new(BuiltTrie::new(entries)));
            while self.recent.len() > KEPT_TRIES {
                self.recent.pop_front();
            }
            self.built_from = storage.clone();
        }
        self.root()
    }

    /// Records the contract shard's root after the block just sealed (call once per block).
    pub fn record_block(&mut self, root: Hash) {
        self.after_block.push(root);
    }

    /// The trie of the contract shard's state after block `index`.
    pub fn at_block(&self, index: usize) -> Result<Arc<BuiltTrie>, TrieAtError> {
        let root = self.after_block.get(index).ok_or(TrieAtError::UnknownBlock)?;
        self.recent.iter().rev().find(|t| t.root.0 == root.0).cloned().ok_or(TrieAtError::GarbageCollected)
    }

    /// nearcore's `view_state` answer for `prefix` of the contract's storage after block
    /// `index` (keys without the account part; the proof covers every key under the prefix).
    pub fn view_state(&self, index: usize, prefix: &[u8]) -> Result<ViewStateAnswer, TrieAtError> {
        Ok(self.at_block(index)?.view_state(&self.account, prefix))
    }
}
