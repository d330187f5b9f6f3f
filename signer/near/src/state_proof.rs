//! nearcore state-trie proofs: a value (or its absence) proven against a shard's state root.
//!
//! The format is nearcore's: every trie node is `borsh(RawTrieNodeWithSize)` and is named by the
//! SHA-256 of those bytes; values are referenced from nodes by `(length u32, sha256)`. Paths are
//! nibbles of the raw trie key; leaf and extension keys carry nibbles in hex-prefix encoding
//! (first byte: `0x20` leaf flag, `0x10` odd flag with the first nibble in its low half).
//! Keys of contract storage are `9 ‖ account ‖ ',' ‖ key` (`TrieKey::ContractData`), of accounts
//! `0 ‖ account` (`TrieKey::Account`).
//!
//! A proof is a bag of nodes (as `view_state` with `include_proof` returns it). Nothing in it is
//! believed: a node is used only when reached from the root by hash, so a proof can withhold
//! (a needed node missing: [`StateProofError::MissingNode`]) but never make a wrong value or a
//! wrong absence verify. Every walk is bounded by the key length or by [`MAX_VISITS`].

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use crate::borsh::{DecodeError, Reader, Writer};
use crate::hash::CryptoHash;

/// `TrieKey::Account` column byte.
pub const COL_ACCOUNT: u8 = 0;
/// `TrieKey::ContractData` column byte.
pub const COL_CONTRACT_DATA: u8 = 9;
/// Separator between account and key in `ContractData` keys.
pub const ACCOUNT_DATA_SEPARATOR: u8 = b',';
/// Longest hex-prefix key accepted in one node. nearcore bounds storage keys at 2 KiB
/// (`max_length_storage_key`), plus the column, account and separator.
pub const MAX_NODE_KEY_BYTES: u32 = 4096;
/// Longest trie key walked (bytes).
pub const MAX_TRIE_KEY_BYTES: usize = 4096;
/// Nodes a subtree enumeration may visit (a DAG of shared subtrees cannot blow up).
pub const MAX_VISITS: usize = 100_000;
/// Entries accepted in one proof.
pub const MAX_PROOF_ENTRIES: usize = 100_000;

/// Reference from a node to a value: its length and SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueRef {
    pub length: u32,
    pub hash: CryptoHash,
}

impl ValueRef {
    /// The reference nearcore stores for `value`.
    pub fn of(value: &[u8]) -> Self {
        Self { length: u32::try_from(value.len()).unwrap_or(u32::MAX), hash: CryptoHash::digest(value) }
    }
    /// Whether `value` is the referenced value (length and hash).
    pub fn matches(&self, value: &[u8]) -> bool {
        usize::try_from(self.length).ok() == Some(value.len()) && self.hash == CryptoHash::digest(value)
    }
}

/// nearcore's `RawTrieNode`; keys are kept hex-prefix encoded, as hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawTrieNode {
    /// Tag 0: the rest of the key (leaf-flagged) and the value.
    Leaf { key: Vec<u8>, value: ValueRef },
    /// Tag 1 (no value) or 2 (with value): sixteen optional children by nibble.
    Branch { value: Option<ValueRef>, children: [Option<CryptoHash>; 16] },
    /// Tag 3: a shared key segment (not leaf-flagged) and the one child.
    Extension { key: Vec<u8>, child: CryptoHash },
}

/// nearcore's `RawTrieNodeWithSize`: the node and the memory usage of its subtree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTrieNodeWithSize {
    pub node: RawTrieNode,
    pub memory_usage: u64,
}

impl RawTrieNodeWithSize {
    /// Decodes exactly one node (trailing bytes refused).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let node = match r.tag(3)? {
            0 => {
                let key = r.bytes(MAX_NODE_KEY_BYTES)?.to_vec();
                RawTrieNode::Leaf { key, value: read_value_ref(&mut r)? }
            }
            tag @ (1 | 2) => {
                let value = if tag == 2 { Some(read_value_ref(&mut r)?) } else { None };
                let bitmap = u16::from_le_bytes(r.array()?);
                let mut children = [None; 16];
                for (i, child) in children.iter_mut().enumerate() {
                    if bitmap & (1 << i) != 0 {
                        *child = Some(CryptoHash(r.array()?));
                    }
                }
                RawTrieNode::Branch { value, children }
            }
            _ => {
                let key = r.bytes(MAX_NODE_KEY_BYTES)?.to_vec();
                RawTrieNode::Extension { key, child: CryptoHash(r.array()?) }
            }
        };
        let memory_usage = r.u64()?;
        r.finish()?;
        Ok(Self { node, memory_usage })
    }

    /// `borsh(self)`, the bytes whose SHA-256 names the node.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match &self.node {
            RawTrieNode::Leaf { key, value } => {
                w.u8(0).bytes(key).u32(value.length).raw(&value.hash.0);
            }
            RawTrieNode::Branch { value, children } => {
                match value {
                    None => w.u8(1),
                    Some(v) => w.u8(2).u32(v.length).raw(&v.hash.0),
                };
                let bitmap = children.iter().enumerate().fold(0u16, |m, (i, c)| if c.is_some() { m | (1 << i) } else { m });
                w.raw(&bitmap.to_le_bytes());
                for c in children.iter().flatten() {
                    w.raw(&c.0);
                }
            }
            RawTrieNode::Extension { key, child } => {
                w.u8(3).bytes(key).raw(&child.0);
            }
        }
        w.u64(self.memory_usage);
        w.finish()
    }

    /// SHA-256 of the encoding: the node's name in the trie.
    pub fn hash(&self) -> CryptoHash {
        CryptoHash::digest(&self.encode())
    }
}

fn read_value_ref(r: &mut Reader<'_>) -> Result<ValueRef, DecodeError> {
    let length = r.u32()?;
    Ok(ValueRef { length, hash: CryptoHash(r.array()?) })
}

/// Splits bytes into nibbles, high half first.
pub fn nibbles(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|b| [b >> 4, b & 0x0f]).collect()
}

/// Packs an even number of nibbles back into bytes (`None` if odd).
pub fn pack_nibbles(n: &[u8]) -> Option<Vec<u8>> {
    if n.len() % 2 != 0 {
        return None;
    }
    Some(n.chunks(2).map(|p| (p[0] << 4) | (p[1] & 0x0f)).collect())
}

/// Hex-prefix encoding of `nibbles`, as nearcore's `NibbleSlice::encode_nibbles`.
pub fn encode_hex_prefix(nibbles: &[u8], is_leaf: bool) -> Vec<u8> {
    let odd = nibbles.len() % 2 == 1;
    let flags = if is_leaf { 0x20 } else { 0 };
    let mut out = Vec::with_capacity(nibbles.len() / 2 + 1);
    let rest = match nibbles.split_first() {
        Some((first, rest)) if odd => {
            out.push(flags | 0x10 | (first & 0x0f));
            rest
        }
        _ => {
            out.push(flags);
            nibbles
        }
    };
    out.extend(rest.chunks(2).map(|p| (p[0] << 4) | (p.get(1).copied().unwrap_or(0) & 0x0f)));
    out
}

/// Decodes a hex-prefix key into nibbles and its leaf flag. Strict: unknown flag bits and a
/// non-zero pad nibble are refused (nearcore never writes them, and a node's hash pins its bytes).
pub fn decode_hex_prefix(encoded: &[u8]) -> Result<(Vec<u8>, bool), StateProofError> {
    let (&first, rest) = encoded.split_first().ok_or(StateProofError::BadNodeKey)?;
    if first & 0xc0 != 0 {
        return Err(StateProofError::BadNodeKey);
    }
    let is_leaf = first & 0x20 != 0;
    let mut out = Vec::with_capacity(rest.len() * 2 + 1);
    if first & 0x10 != 0 {
        out.push(first & 0x0f);
    } else if first & 0x0f != 0 {
        return Err(StateProofError::BadNodeKey);
    }
    out.extend(nibbles(rest));
    Ok((out, is_leaf))
}

/// `TrieKey::ContractData { account_id, key }` as raw trie-key bytes.
pub fn contract_data_key(account_id: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + account_id.len() + key.len());
    out.push(COL_CONTRACT_DATA);
    out.extend_from_slice(account_id.as_bytes());
    out.push(ACCOUNT_DATA_SEPARATOR);
    out.extend_from_slice(key);
    out
}

/// `TrieKey::Account { account_id }` as raw trie-key bytes.
pub fn account_key(account_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + account_id.len());
    out.push(COL_ACCOUNT);
    out.extend_from_slice(account_id.as_bytes());
    out
}

/// Why a proof did not settle a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateProofError {
    /// The walk needs a node the proof does not hold (withheld, or a wrong root).
    MissingNode { hash: CryptoHash },
    /// A node reached by hash is not a `RawTrieNodeWithSize`.
    BadNode { hash: CryptoHash, error: DecodeError },
    /// A leaf or extension key that is not valid hex-prefix, or flagged for the other kind.
    BadNodeKey,
    /// An extension with an empty key (would loop; never written by nearcore).
    EmptyExtension { hash: CryptoHash },
    /// A trie key longer than [`MAX_TRIE_KEY_BYTES`].
    KeyTooLong { bytes: usize },
    /// A subtree enumeration exceeded [`MAX_VISITS`].
    TooManyVisits,
    /// A key under the prefix has an odd number of nibbles (cannot be a byte key).
    OddKey,
    /// The proven value reference does not match the claimed value.
    ValueMismatch { expected: ValueRef, claimed_len: usize },
    /// The key is proven absent, yet a value was claimed for it.
    ProvenAbsent,
    /// More proof entries than [`MAX_PROOF_ENTRIES`].
    TooManyEntries { count: usize },
}

impl fmt::Display for StateProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingNode { hash } => write!(f, "proof lacks trie node {hash}"),
            Self::BadNode { hash, error } => write!(f, "trie node {hash} does not decode: {error}"),
            Self::BadNodeKey => f.write_str("trie node key is not valid hex-prefix for its kind"),
            Self::EmptyExtension { hash } => write!(f, "extension node {hash} has an empty key"),
            Self::KeyTooLong { bytes } => write!(f, "trie key of {bytes} bytes is too long"),
            Self::TooManyVisits => write!(f, "subtree walk exceeded {MAX_VISITS} nodes"),
            Self::OddKey => f.write_str("key under the prefix has an odd number of nibbles"),
            Self::ValueMismatch { expected, claimed_len } => write!(
                f,
                "value does not match the trie (trie: {} bytes, sha256 {}; claimed: {claimed_len} bytes)",
                expected.length, expected.hash
            ),
            Self::ProvenAbsent => f.write_str("the trie proves the key absent"),
            Self::TooManyEntries { count } => write!(f, "{count} proof entries exceed {MAX_PROOF_ENTRIES}"),
        }
    }
}

/// A proof's entries by their SHA-256. Entries are decoded only when reached from a root.
#[derive(Clone, Debug, Default)]
pub struct ProofNodes {
    by_hash: BTreeMap<CryptoHash, Vec<u8>>,
    bytes: usize,
}

impl ProofNodes {
    /// Indexes `entries` by hash (duplicates collapse).
    pub fn new(entries: Vec<Vec<u8>>) -> Result<Self, StateProofError> {
        if entries.len() > MAX_PROOF_ENTRIES {
            return Err(StateProofError::TooManyEntries { count: entries.len() });
        }
        let mut out = Self::default();
        for e in entries {
            out.bytes += e.len();
            out.by_hash.insert(CryptoHash::digest(&e), e);
        }
        Ok(out)
    }
    /// Distinct entries held.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
    /// Total bytes of the entries as given (duplicates included).
    pub fn total_bytes(&self) -> usize {
        self.bytes
    }
    /// The node named `hash`, decoded.
    pub fn node(&self, hash: &CryptoHash) -> Result<RawTrieNode, StateProofError> {
        let bytes = self.by_hash.get(hash).ok_or(StateProofError::MissingNode { hash: *hash })?;
        RawTrieNodeWithSize::decode(bytes).map(|n| n.node).map_err(|error| StateProofError::BadNode { hash: *hash, error })
    }
}

/// nearcore's empty trie root (all zeros): the trie holds nothing.
pub const EMPTY_ROOT: CryptoHash = CryptoHash([0; 32]);

/// Looks `key` up under `root`: `Ok(Some(ref))` proves the value reference, `Ok(None)` proves
/// the key absent, an error means the proof does not settle it.
pub fn lookup(root: &CryptoHash, nodes: &ProofNodes, key: &[u8]) -> Result<Option<ValueRef>, StateProofError> {
    if key.len() > MAX_TRIE_KEY_BYTES {
        return Err(StateProofError::KeyTooLong { bytes: key.len() });
    }
    let path = nibbles(key);
    let mut rest: &[u8] = &path;
    let mut hash = *root;
    // Every step but the last consumes at least one nibble, so the loop ends.
    loop {
        if hash == EMPTY_ROOT {
            return Ok(None);
        }
        match nodes.node(&hash)? {
            RawTrieNode::Leaf { key, value } => {
                let (leaf, is_leaf) = decode_hex_prefix(&key)?;
                if !is_leaf {
                    return Err(StateProofError::BadNodeKey);
                }
                return Ok((leaf.as_slice() == rest).then_some(value));
            }
            RawTrieNode::Branch { value, children } => {
                let Some((&nib, tail)) = rest.split_first() else { return Ok(value) };
                match children.get(usize::from(nib)).copied().flatten() {
                    Some(child) => {
                        hash = child;
                        rest = tail;
                    }
                    None => return Ok(None),
                }
            }
            RawTrieNode::Extension { key, child } => {
                let (seg, is_leaf) = decode_hex_prefix(&key)?;
                if is_leaf {
                    return Err(StateProofError::BadNodeKey);
                }
                if seg.is_empty() {
                    return Err(StateProofError::EmptyExtension { hash });
                }
                match rest.strip_prefix(seg.as_slice()) {
                    Some(tail) => {
                        hash = child;
                        rest = tail;
                    }
                    None => return Ok(None),
                }
            }
        }
    }
}

/// Proves that `key` holds exactly `value` under `root`.
pub fn prove_value(root: &CryptoHash, nodes: &ProofNodes, key: &[u8], value: &[u8]) -> Result<(), StateProofError> {
    match lookup(root, nodes, key)? {
        None => Err(StateProofError::ProvenAbsent),
        Some(r) if r.matches(value) => Ok(()),
        Some(expected) => Err(StateProofError::ValueMismatch { expected, claimed_len: value.len() }),
    }
}

/// Every `(key, value reference)` whose key starts with `prefix`, in key order, proven complete:
/// each node of the subtree must be in the proof. This is what makes a `view_state` answer's
/// key list, not only its values, trustworthy.
pub fn entries_with_prefix(
    root: &CryptoHash,
    nodes: &ProofNodes,
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, ValueRef)>, StateProofError> {
    if prefix.len() > MAX_TRIE_KEY_BYTES {
        return Err(StateProofError::KeyTooLong { bytes: prefix.len() });
    }
    let want = nibbles(prefix);
    let mut out = Vec::new();
    let mut visits = 0usize;
    // Stack of (node hash, nibbles of the path up to this node).
    let mut stack: Vec<(CryptoHash, Vec<u8>)> = alloc::vec![(*root, Vec::new())];
    while let Some((hash, path)) = stack.pop() {
        visits += 1;
        if visits > MAX_VISITS {
            return Err(StateProofError::TooManyVisits);
        }
        if hash == EMPTY_ROOT {
            continue;
        }
        // Fail closed: a walk that claims completeness may not skip a subtree.
        if path.len() > 2 * MAX_TRIE_KEY_BYTES {
            return Err(StateProofError::KeyTooLong { bytes: path.len().div_ceil(2) });
        }
        // A node whose path diverges from the prefix holds nothing under it.
        let common = path.len().min(want.len());
        if path[..common] != want[..common] {
            continue;
        }
        match nodes.node(&hash)? {
            RawTrieNode::Leaf { key, value } => {
                let (leaf, is_leaf) = decode_hex_prefix(&key)?;
                if !is_leaf {
                    return Err(StateProofError::BadNodeKey);
                }
                let full = [path.as_slice(), leaf.as_slice()].concat();
                if full.starts_with(&want) {
                    out.push((pack_nibbles(&full).ok_or(StateProofError::OddKey)?, value));
                }
            }
            RawTrieNode::Branch { value, children } => {
                if let Some(v) = value {
                    if path.starts_with(&want) {
                        out.push((pack_nibbles(&path).ok_or(StateProofError::OddKey)?, v));
                    }
                }
                // Pushed in reverse so nibble 0 is walked first: key order.
                for (nib, child) in children.iter().enumerate().rev() {
                    if let Some(c) = child {
                        let mut p = path.clone();
                        p.push(nib as u8);
                        stack.push((*c, p));
                    }
                }
            }
            RawTrieNode::Extension { key, child } => {
                let (seg, is_leaf) = decode_hex_prefix(&key)?;
                if is_leaf {
                    return Err(StateProofError::BadNodeKey);
                }
                if seg.is_empty() {
                    return Err(StateProofError::EmptyExtension { hash });
                }
                stack.push((child, [path.as_slice(), seg.as_slice()].concat()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn node_encoding_matches_nearcore_examples() {
        // The byte layouts of nearcore's raw_node.rs encode/decode test, memory usage 42.
        let value = ValueRef { length: 3, hash: CryptoHash::digest(&[123, 245, 255]) };
        let leaf = RawTrieNodeWithSize { node: RawTrieNode::Leaf { key: vec![1, 2, 3], value }, memory_usage: 42 };
        let mut want = vec![0, 3, 0, 0, 0, 1, 2, 3, 3, 0, 0, 0];
        want.extend_from_slice(&value.hash.0);
        want.extend_from_slice(&42u64.to_le_bytes());
        assert_eq!(leaf.encode(), want);
        assert_eq!(RawTrieNodeWithSize::decode(&want).unwrap(), leaf);
        let mut children = [None; 16];
        children[3] = Some(CryptoHash([1; 32]));
        children[5] = Some(CryptoHash([2; 32]));
        let branch = RawTrieNodeWithSize { node: RawTrieNode::Branch { value: None, children }, memory_usage: 42 };
        let enc = branch.encode();
        assert_eq!(&enc[..3], &[1, 40, 0]);
        assert_eq!(enc.len(), 1 + 2 + 64 + 8);
        assert_eq!(RawTrieNodeWithSize::decode(&enc).unwrap(), branch);
        let mut last = [None; 16];
        last[15] = Some(CryptoHash([1; 32]));
        let with_value = RawTrieNodeWithSize { node: RawTrieNode::Branch { value: Some(value), children: last }, memory_usage: 42 };
        let enc = with_value.encode();
        assert_eq!(enc[0], 2);
        assert_eq!(&enc[37..39], &[0, 128]);
        assert_eq!(RawTrieNodeWithSize::decode(&enc).unwrap(), with_value);
        let ext = RawTrieNodeWithSize {
            node: RawTrieNode::Extension { key: vec![123, 245, 255], child: EMPTY_ROOT },
            memory_usage: 42,
        };
        let enc = ext.encode();
        assert_eq!(&enc[..8], &[3, 3, 0, 0, 0, 123, 245, 255]);
        assert_eq!(RawTrieNodeWithSize::decode(&enc).unwrap(), ext);
        let mut trailing = enc.clone();
        trailing.push(b'!');
        assert!(RawTrieNodeWithSize::decode(&trailing).is_err());
        assert!(RawTrieNodeWithSize::decode(&[4]).is_err());
    }

    #[test]
    fn hex_prefix_matches_nearcore_examples() {
        // nearcore nibble_slice.rs: 0x012345 → [00 01 23 45] / leaf [20 01 23 45];
        // from nibble 1 → [11 23 45] / leaf [31 23 45].
        let n = nibbles(&[0x01, 0x23, 0x45]);
        assert_eq!(encode_hex_prefix(&n, false), [0x00, 0x01, 0x23, 0x45]);
        assert_eq!(encode_hex_prefix(&n, true), [0x20, 0x01, 0x23, 0x45]);
        assert_eq!(encode_hex_prefix(&n[1..], false), [0x11, 0x23, 0x45]);
        assert_eq!(encode_hex_prefix(&n[1..], true), [0x31, 0x23, 0x45]);
        assert_eq!(decode_hex_prefix(&[0x31, 0x23, 0x45]).unwrap(), (n[1..].to_vec(), true));
        assert_eq!(decode_hex_prefix(&[32, 116, 101, 115, 116]).unwrap().0, [7, 4, 6, 5, 7, 3, 7, 4]);
        assert!(decode_hex_prefix(&[]).is_err());
        assert!(decode_hex_prefix(&[0x05, 0x12]).is_err(), "even key with a non-zero pad nibble");
        assert!(decode_hex_prefix(&[0x40]).is_err(), "unknown flag bit");
    }

    /// Builds the trie of `pairs` (distinct keys) bottom-up; returns its root and every node.
    fn build(pairs: &[(&[u8], &[u8])]) -> (CryptoHash, Vec<Vec<u8>>) {
        fn go(items: &[(Vec<u8>, ValueRef)], depth: usize, out: &mut Vec<Vec<u8>>) -> CryptoHash {
            let node = if items.len() == 1 && items[0].0.len() > depth {
                RawTrieNode::Leaf { key: encode_hex_prefix(&items[0].0[depth..], true), value: items[0].1 }
            } else {
                // Shared segment first: an extension when all keys continue with the same nibble.
                let common = (depth..)
                    .take_while(|&i| items.iter().all(|(k, _)| k.len() > i && k[i] == items[0].0[i]))
                    .count();
                if common > 0 && items.len() > 1 {
                    let child = go(items, depth + common, out);
                    RawTrieNode::Extension { key: encode_hex_prefix(&items[0].0[depth..depth + common], false), child }
                } else {
                    let value = items.iter().find(|(k, _)| k.len() == depth).map(|(_, v)| *v);
                    let mut children = [None; 16];
                    for (nib, child) in children.iter_mut().enumerate() {
                        let sub: Vec<_> = items.iter().filter(|(k, _)| k.len() > depth && k[depth] == nib as u8).cloned().collect();
                        if !sub.is_empty() {
                            *child = Some(go(&sub, depth + 1, out));
                        }
                    }
                    RawTrieNode::Branch { value, children }
                }
            };
            let n = RawTrieNodeWithSize { node, memory_usage: 7 };
            out.push(n.encode());
            n.hash()
        }
        let items: Vec<_> = pairs.iter().map(|(k, v)| (nibbles(k), ValueRef::of(v))).collect();
        let mut out = Vec::new();
        let root = go(&items, 0, &mut out);
        (root, out)
    }

    #[test]
    fn proves_values_absence_and_prefix_sets() {
        let a = contract_data_key("mpc.near", b"STATE");
        let b = contract_data_key("mpc.near", b"STATF");
        let c = contract_data_key("mpc.near", b"ST");
        let other = contract_data_key("mpc.nearx", b"STATE");
        let pairs: Vec<(&[u8], &[u8])> = vec![(&a, b"one"), (&b, b"two"), (&c, b"three"), (&other, b"four")];
        let (root, all) = build(&pairs);
        let nodes = ProofNodes::new(all.clone()).unwrap();
        prove_value(&root, &nodes, &a, b"one").unwrap();
        prove_value(&root, &nodes, &c, b"three").unwrap();
        assert!(matches!(prove_value(&root, &nodes, &a, b"two"), Err(StateProofError::ValueMismatch { .. })));
        assert_eq!(lookup(&root, &nodes, &contract_data_key("mpc.near", b"STATG")).unwrap(), None);
        assert_eq!(lookup(&root, &nodes, &contract_data_key("mpc.near", b"S")).unwrap(), None);
        let under = entries_with_prefix(&root, &nodes, &contract_data_key("mpc.near", b"")).unwrap();
        let keys: Vec<_> = under.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![c.clone(), a.clone(), b.clone()]);
        // A wrong root, a withheld node and a tampered node each fail closed.
        assert!(matches!(lookup(&CryptoHash([7; 32]), &nodes, &a), Err(StateProofError::MissingNode { .. })));
        for skip in 0..all.len() {
            let fewer: Vec<_> = all.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, n)| n.clone()).collect();
            let nodes = ProofNodes::new(fewer).unwrap();
            assert!(entries_with_prefix(&root, &nodes, &[]).is_err(), "withheld node {skip} must not pass a full walk");
        }
        let mut tampered = all.clone();
        let last = tampered.len() - 1;
        tampered[last][5] ^= 1;
        assert!(lookup(&root, &ProofNodes::new(tampered).unwrap(), &a).is_err());
    }

    #[test]
    fn empty_root_proves_absence() {
        let nodes = ProofNodes::new(Vec::new()).unwrap();
        assert_eq!(lookup(&EMPTY_ROOT, &nodes, b"x").unwrap(), None);
        assert!(entries_with_prefix(&EMPTY_ROOT, &nodes, b"").unwrap().is_empty());
    }
}
