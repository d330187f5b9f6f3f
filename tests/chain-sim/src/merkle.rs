//! Merkle trees as nearcore builds them.
//!
//! - [`merklize`]: nearcore's `merklize` over already-hashed leaves (callers
//!   hash their items, e.g. `sha256(borsh(outcome hashes))`): pairs are
//!   combined left to right, a lone last node is promoted to the next level
//!   without a path entry. Used for chunk outcome roots and block outcome roots.
//! - [`BlockMerkleTree`]: the incremental tree over all block hashes whose root
//!   each header carries as `block_merkle_root` (nearcore's
//!   `PartialMerkleTree`: a stack of perfect-subtree roots folded right to
//!   left). Its root equals [`merklize`]'s root over the same leaves, so block
//!   proofs are `merklize` paths over the first `n` block hashes; a test pins
//!   the equality.

use crate::hash::Hash;

/// Which side the sibling is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `sha256(sibling ‖ current)`.
    Left,
    /// `sha256(current ‖ sibling)`.
    Right,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Left => "Left",
            Self::Right => "Right",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathItem {
    pub hash: Hash,
    pub direction: Direction,
}

/// Root of `leaves` and the path of every leaf. Empty input: zero root.
pub fn merklize(leaves: &[Hash]) -> (Hash, Vec<Vec<PathItem>>) {
    if leaves.is_empty() {
        return (Hash::ZERO, Vec::new());
    }
    let mut paths: Vec<Vec<PathItem>> = vec![Vec::new(); leaves.len()];
    // Which node of the current level each leaf sits under.
    let mut position: Vec<usize> = (0..leaves.len()).collect();
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        for (leaf, pos) in position.iter_mut().enumerate() {
            let p = *pos;
            let sibling = if p % 2 == 1 {
                level.get(p - 1).map(|h| PathItem { hash: *h, direction: Direction::Left })
            } else {
                level.get(p + 1).map(|h| PathItem { hash: *h, direction: Direction::Right })
            };
            if let (Some(s), Some(path)) = (sibling, paths.get_mut(leaf)) {
                path.push(s);
            }
            *pos = p / 2;
        }
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => Hash::combine(a, b),
                [a] => *a,
                _ => Hash::ZERO,
            })
            .collect();
    }
    (level.first().copied().unwrap_or(Hash::ZERO), paths)
}

/// Root and the path of leaf `index` only (same tree as [`merklize`],
/// without building every leaf's path).
pub fn merkle_path(leaves: &[Hash], index: usize) -> Option<(Hash, Vec<PathItem>)> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    let mut pos = index;
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        let sibling = if pos % 2 == 1 {
            level.get(pos - 1).map(|h| PathItem { hash: *h, direction: Direction::Left })
        } else {
            level.get(pos + 1).map(|h| PathItem { hash: *h, direction: Direction::Right })
        };
        path.extend(sibling);
        pos /= 2;
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => Hash::combine(a, b),
                [a] => *a,
                _ => Hash::ZERO,
            })
            .collect();
    }
    Some((level.first().copied().unwrap_or(Hash::ZERO), path))
}

/// Folds `leaf` up `path` (what a verifier does).
pub fn fold(leaf: Hash, path: &[PathItem]) -> Hash {
    path.iter().fold(leaf, |cur, item| match item.direction {
        Direction::Left => Hash::combine(&item.hash, &cur),
        Direction::Right => Hash::combine(&cur, &item.hash),
    })
}

/// nearcore's `PartialMerkleTree`: roots of the perfect subtrees, biggest
/// first, and the number of leaves.
#[derive(Clone, Debug, Default)]
pub struct BlockMerkleTree {
    peaks: Vec<Hash>,
    size: u64,
}

impl BlockMerkleTree {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn insert(&mut self, leaf: Hash) {
        let mut s = self.size;
        let mut node = leaf;
        while s % 2 == 1 {
            match self.peaks.pop() {
                Some(left) => node = Hash::combine(&left, &node),
                None => break,
            }
            s /= 2;
        }
        self.peaks.push(node);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut it = self.peaks.iter().rev();
        let Some(last) = it.next() else { return Hash::ZERO };
        it.fold(*last, |acc, peak| Hash::combine(peak, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| Hash::digest(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn paths_fold_to_root() {
        for n in 1..40 {
            let l = leaves(n);
            let (root, paths) = merklize(&l);
            for (i, p) in paths.iter().enumerate() {
                assert_eq!(fold(l[i], p), root, "n={n} i={i}");
                assert_eq!(merkle_path(&l, i), Some((root, p.clone())));
            }
            assert_eq!(merkle_path(&l, n), None);
        }
        assert_eq!(merklize(&[]).0, Hash::ZERO);
        let one = leaves(1);
        assert_eq!(merklize(&one).0, one[0]);
    }

    #[test]
    fn promoted_last_leaf_has_no_step_at_that_level() {
        let l = leaves(3);
        let (_, paths) = merklize(&l);
        assert_eq!(paths[2].len(), 1);
        assert_eq!(paths[2][0].direction, Direction::Left);
        assert_eq!(paths[0].iter().map(|p| p.direction).collect::<Vec<_>>(), [Direction::Right, Direction::Right]);
    }

    #[test]
    fn partial_tree_root_equals_merklize_root() {
        let l = leaves(70);
        let mut t = BlockMerkleTree::default();
        assert_eq!(t.root(), Hash::ZERO);
        for n in 1..=l.len() {
            t.insert(l[n - 1]);
            assert_eq!(t.size(), n as u64);
            assert_eq!(t.root(), merklize(&l[..n]).0, "n={n}");
        }
    }
}
