//! Building nearcore-format state tries: a set of `(trie key, value)` pairs to the root and the
//! nodes nearcore would store for it, and `view_state`-shaped answers with proofs drawn from it.
//!
//! Used by tests (the node's proven-state path), and meant for the chain simulator so that it
//! can serve real proofs whose root is the `prev_state_root` of the chunks it produces. The
//! shape is nearcore's canonical one: a leaf for a lone key (its rest may be empty), an
//! extension for a segment every key under a node shares, a branch where keys diverge (with
//! the value of a key that ends there). `memory_usage` is computed as nearcore does
//! (`TrieNode::memory_usage_direct` with `TRIE_COSTS`: 50 per node, 2 per byte of the encoded
//! node key, 1 per value byte plus 50 per value, plus the children's totals); the real
//! mainnet proofs in `tests/data` check the formula. Trusted input only: this module builds,
//! it never verifies (that is [`crate::state_proof`]).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::hash::CryptoHash;
use crate::state_proof::{
    contract_data_key, encode_hex_prefix, nibbles, RawTrieNode, RawTrieNodeWithSize, ValueRef, EMPTY_ROOT,
};
use crate::state_view::ViewStateAnswer;

/// nearcore's `TRIE_COSTS.node_cost`.
pub const NODE_COST: u64 = 50;
/// nearcore's `TRIE_COSTS.byte_of_key` (per byte of the hex-prefix-encoded node key).
pub const BYTE_OF_KEY: u64 = 2;
/// nearcore's `TRIE_COSTS.byte_of_value`.
pub const BYTE_OF_VALUE: u64 = 1;

/// The memory usage nearcore charges a node itself, without its children.
pub fn direct_memory_usage(node: &RawTrieNode) -> u64 {
    let value_cost = |v: &ValueRef| u64::from(v.length) * BYTE_OF_VALUE + NODE_COST;
    match node {
        RawTrieNode::Leaf { key, value } => NODE_COST + key.len() as u64 * BYTE_OF_KEY + value_cost(value),
        RawTrieNode::Branch { value, .. } => NODE_COST + value.as_ref().map_or(0, value_cost),
        RawTrieNode::Extension { key, .. } => NODE_COST + key.len() as u64 * BYTE_OF_KEY,
    }
}

/// A built trie: its root and every node by hash (with its path, for proofs).
#[derive(Clone, Debug, Default)]
pub struct BuiltTrie {
    pub root: CryptoHash,
    /// Encoded `RawTrieNodeWithSize` by hash.
    nodes: BTreeMap<CryptoHash, Vec<u8>>,
    /// Hash and nibble path (from the root to the node) of every node, in build order.
    paths: Vec<(Vec<u8>, CryptoHash)>,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

struct Item {
    path: Vec<u8>,
    value: ValueRef,
}

impl BuiltTrie {
    /// Builds the trie of `entries` (raw trie keys → values).
    pub fn new(entries: BTreeMap<Vec<u8>, Vec<u8>>) -> Self {
        let items: Vec<Item> = entries.iter().map(|(k, v)| Item { path: nibbles(k), value: ValueRef::of(v) }).collect();
        let mut out = BuiltTrie { root: EMPTY_ROOT, nodes: BTreeMap::new(), paths: Vec::new(), entries: BTreeMap::new() };
        if !items.is_empty() {
            let refs: Vec<&Item> = items.iter().collect();
            out.root = out.build(&refs, 0).0;
        }
        out.entries = entries;
        out
    }

    /// Builds the node for `items` (sorted, distinct, all sharing `path[..depth]`); returns its
    /// hash and total memory usage.
    fn build(&mut self, items: &[&Item], depth: usize) -> (CryptoHash, u64) {
        let here = items.first().map(|i| i.path[..depth].to_vec()).unwrap_or_default();
        let (node, children_usage) = match items {
            [one] => (RawTrieNode::Leaf { key: encode_hex_prefix(&one.path[depth..], true), value: one.value }, 0),
            _ => {
                let first = &items[0].path;
                let common = (depth..)
                    .take_while(|&i| items.iter().all(|it| it.path.len() > i && it.path[i] == first[i]))
                    .count();
                if common > 0 {
                    let (child, usage) = self.build(items, depth + common);
                    (RawTrieNode::Extension { key: encode_hex_prefix(&first[depth..depth + common], false), child }, usage)
                } else {
                    let value = items.iter().find(|it| it.path.len() == depth).map(|it| it.value);
                    let mut children = [None; 16];
                    let mut usage = 0u64;
                    for (nib, slot) in children.iter_mut().enumerate() {
                        let sub: Vec<&Item> =
                            items.iter().copied().filter(|it| it.path.get(depth) == Some(&(nib as u8))).collect();
                        if !sub.is_empty() {
                            let (h, u) = self.build(&sub, depth + 1);
                            *slot = Some(h);
                            usage += u;
                        }
                    }
                    (RawTrieNode::Branch { value, children }, usage)
                }
            }
        };
        let memory_usage = direct_memory_usage(&node) + children_usage;
        let n = RawTrieNodeWithSize { node, memory_usage };
        let bytes = n.encode();
        let hash = CryptoHash::digest(&bytes);
        self.nodes.insert(hash, bytes);
        self.paths.push((here, hash));
        (hash, memory_usage)
    }

    /// Distinct nodes stored.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The encoded node named `hash`.
    pub fn node(&self, hash: &CryptoHash) -> Option<&[u8]> {
        self.nodes.get(hash).map(Vec::as_slice)
    }

    /// The nodes a proof for every key under `prefix` needs: those on the path from the root
    /// to the prefix, and the whole subtree under it (nearcore's `view_state` proof: the nodes
    /// its iterator visits). With an empty trie, none.
    pub fn proof_for_prefix(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        let want = nibbles(prefix);
        let mut picked = BTreeSet::new();
        for (path, hash) in &self.paths {
            let n = path.len().min(want.len());
            if path[..n] == want[..n] {
                picked.insert(*hash);
            }
        }
        picked.iter().filter_map(|h| self.nodes.get(h).cloned()).collect()
    }

    /// A `view_state` answer for `account_id`'s storage under `prefix`: the values and the
    /// proof, as nearcore's `query` returns them.
    pub fn view_state(&self, account_id: &str, prefix: &[u8]) -> ViewStateAnswer {
        let full = contract_data_key(account_id, prefix);
        let head = full.len() - prefix.len();
        let values = self
            .entries
            .range(full.clone()..)
            .take_while(|(k, _)| k.starts_with(&full))
            .map(|(k, v)| (k[head..].to_vec(), v.clone()))
            .collect();
        ViewStateAnswer { block_hash: None, block_height: None, values, proof: self.proof_for_prefix(&full) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_proof::{entries_with_prefix, lookup, prove_value, ProofNodes};
    use crate::state_view::verify_complete;
    use alloc::vec;

    fn trie(pairs: &[(&[u8], &[u8])]) -> BuiltTrie {
        BuiltTrie::new(pairs.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect())
    }

    #[test]
    fn builds_canonical_shapes_and_proofs_the_verifier_accepts() {
        let a = contract_data_key("mpc.near", b"STATE");
        let b = contract_data_key("mpc.near", b"STATF");
        let c = contract_data_key("mpc.near", b"ST");
        let d = contract_data_key("mpc.nearx", b"\x61");
        let e = contract_data_key("mpc.nearx", b"\x62");
        let t = trie(&[(&a, b"one"), (&b, b"two"), (&c, b"three"), (&d, b"4"), (&e, b"5")]);
        let nodes = ProofNodes::new(t.proof_for_prefix(&[])).unwrap();
        for (k, v) in [(&a, &b"one"[..]), (&b, b"two"), (&c, b"three"), (&d, b"4"), (&e, b"5")] {
            prove_value(&t.root, &nodes, k, v).unwrap();
        }
        assert_eq!(entries_with_prefix(&t.root, &nodes, &[]).unwrap().len(), 5);
        // 0x61 / 0x62 and "STATE" / "STATF" diverge at their last nibble: leaves with empty keys, as nearcore.
        let leaves_with_empty_key = t
            .nodes
            .values()
            .filter(|n| matches!(RawTrieNodeWithSize::decode(n).unwrap().node, RawTrieNode::Leaf { ref key, .. } if key == &[0x20]))
            .count();
        assert_eq!(leaves_with_empty_key, 4);
        // A prefix answer verifies as complete; its proof is smaller than the whole trie.
        let answer = t.view_state("mpc.near", b"STAT");
        assert_eq!(answer.values.len(), 2);
        assert!(answer.proof.len() < t.node_count());
        let proven = verify_complete(&t.root, "mpc.near", b"STAT", &answer).unwrap();
        assert_eq!(proven.get(&b"STATE"[..].to_vec()).map(Vec::as_slice), Some(&b"one"[..]));
        // Absence of a key with no entry is proven by the same nodes.
        let absent = t.view_state("mpc.near", b"NOPE");
        assert!(absent.values.is_empty());
        assert!(verify_complete(&t.root, "mpc.near", b"NOPE", &absent).unwrap().is_empty());
        assert_eq!(lookup(&t.root, &ProofNodes::new(absent.proof).unwrap(), &contract_data_key("mpc.near", b"NOPE")).unwrap(), None);
    }

    #[test]
    fn memory_usage_sums_over_the_subtree() {
        let t = trie(&[(b"\x01", b"ab"), (b"\x02", b"c")]);
        let root = RawTrieNodeWithSize::decode(t.node(&t.root).unwrap()).unwrap();
        // Extension [0] → branch → two leaves of empty key.
        let leaf = |vlen: u64| NODE_COST + BYTE_OF_KEY + vlen + NODE_COST;
        let branch = NODE_COST + leaf(2) + leaf(1);
        assert_eq!(root.memory_usage, NODE_COST + BYTE_OF_KEY + branch);
        assert!(matches!(root.node, RawTrieNode::Extension { ref key, .. } if key == &vec![0x10]));
    }

    #[test]
    fn empty_trie_has_the_empty_root() {
        let t = BuiltTrie::new(BTreeMap::new());
        assert_eq!(t.root, EMPTY_ROOT);
        assert!(verify_complete(&t.root, "a.near", b"", &t.view_state("a.near", b"")).unwrap().is_empty());
    }
}
