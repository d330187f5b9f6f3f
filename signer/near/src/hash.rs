//! 32-byte NEAR hashes: SHA-256, the `combine` step used by block hashes and
//! Merkle paths, and the base58 text form RPC answers use.

use alloc::string::String;
use core::fmt;

use sha2::{Digest, Sha256};

/// A NEAR `CryptoHash`: block hashes, epoch ids, Merkle roots, receipt ids.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CryptoHash(pub [u8; 32]);

impl CryptoHash {
    /// SHA-256 of `bytes`.
    pub fn digest(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// `sha256(a ‖ b)`: NEAR's `combine_hash`.
    pub fn combine(a: &CryptoHash, b: &CryptoHash) -> Self {
        let mut h = Sha256::new();
        h.update(a.0);
        h.update(b.0);
        Self(h.finalize().into())
    }

    /// Parses the base58 form. Errors carry no input (it may be long and hostile).
    pub fn from_base58(text: &str) -> Result<Self, HashParseError> {
        // 32 bytes take at most 44 base58 characters; refuse more before decoding.
        if text.is_empty() || text.len() > 44 {
            return Err(HashParseError::BadLength { chars: text.len() });
        }
        let mut out = [0u8; 32];
        match bs58::decode(text).onto(&mut out) {
            Ok(32) => Ok(Self(out)),
            Ok(n) => Err(HashParseError::WrongByteCount { bytes: n }),
            Err(bs58::decode::Error::BufferTooSmall) => Err(HashParseError::WrongByteCount { bytes: 33 }),
            Err(_) => Err(HashParseError::NotBase58),
        }
    }

    /// The base58 form.
    pub fn to_base58(&self) -> String {
        bs58::encode(self.0).into_string()
    }
}

impl fmt::Display for CryptoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for CryptoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CryptoHash({})", self.to_base58())
    }
}

/// Why a base58 hash did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashParseError {
    /// Empty or longer than any 32-byte value can be.
    BadLength { chars: usize },
    /// A character outside the base58 alphabet.
    NotBase58,
    /// Decoded, but not to exactly 32 bytes.
    WrongByteCount { bytes: usize },
}

impl fmt::Display for HashParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength { chars } => write!(f, "hash text of {chars} characters"),
            Self::NotBase58 => f.write_str("hash is not base58"),
            Self::WrongByteCount { bytes } => write!(f, "hash decodes to {bytes} bytes, not 32"),
        }
    }
}

/// Direction of a sibling in a Merkle path, as nearcore names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The sibling is on the left: `sha256(sibling ‖ current)`.
    Left,
    /// The sibling is on the right: `sha256(current ‖ sibling)`.
    Right,
}

/// One step of a Merkle path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MerklePathItem {
    pub hash: CryptoHash,
    pub direction: Direction,
}

/// Folds `leaf` up a Merkle path to the root it implies.
pub fn merkle_root_from_path(leaf: CryptoHash, path: &[MerklePathItem]) -> CryptoHash {
    path.iter().fold(leaf, |cur, item| match item.direction {
        Direction::Left => CryptoHash::combine(&item.hash, &cur),
        Direction::Right => CryptoHash::combine(&cur, &item.hash),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58_round_trip_and_rejects() {
        let h = CryptoHash::from_base58("G2zUHxU5d5mbXXCAgQdKtK3c9epb1mjqg3QYhzYSN7pZ").unwrap();
        assert_eq!(h.to_base58(), "G2zUHxU5d5mbXXCAgQdKtK3c9epb1mjqg3QYhzYSN7pZ");
        assert_eq!(CryptoHash::from_base58("11111111111111111111111111111111").unwrap(), CryptoHash([0; 32]));
        assert!(matches!(CryptoHash::from_base58("0OIl"), Err(HashParseError::NotBase58)));
        assert!(matches!(CryptoHash::from_base58("abc"), Err(HashParseError::WrongByteCount { .. })));
        assert!(matches!(CryptoHash::from_base58(""), Err(HashParseError::BadLength { .. })));
        assert!(CryptoHash::from_base58("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").is_err());
    }

    #[test]
    fn merkle_directions() {
        let a = CryptoHash::digest(b"a");
        let b = CryptoHash::digest(b"b");
        let left = [MerklePathItem { hash: b, direction: Direction::Left }];
        let right = [MerklePathItem { hash: b, direction: Direction::Right }];
        assert_eq!(merkle_root_from_path(a, &left), CryptoHash::combine(&b, &a));
        assert_eq!(merkle_root_from_path(a, &right), CryptoHash::combine(&a, &b));
        assert_eq!(merkle_root_from_path(a, &[]), a);
    }
}
