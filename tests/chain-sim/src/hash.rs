//! 32-byte hashes as NEAR uses them: SHA-256, `combine` (sha256 of two
//! hashes), and the base58 text form of RPC answers.

use std::fmt;

use sha2::{Digest, Sha256};

/// A NEAR `CryptoHash`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    pub fn digest(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// SHA-256 over several pieces, without concatenating them first.
    pub fn digest_parts(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Self(h.finalize().into())
    }

    /// `sha256(a ‖ b)`.
    pub fn combine(a: &Hash, b: &Hash) -> Self {
        Self::digest_parts(&[&a.0, &b.0])
    }

    pub fn to_base58(&self) -> String {
        bs58::encode(self.0).into_string()
    }

    /// Parses base58 text; refuses anything that is not exactly 32 bytes.
    pub fn from_base58(text: &str) -> Option<Self> {
        if text.is_empty() || text.len() > 44 {
            return None;
        }
        let mut out = [0u8; 32];
        match bs58::decode(text).onto(&mut out) {
            Ok(32) => Some(Self(out)),
            _ => None,
        }
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_base58())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58_round_trip() {
        let h = Hash::digest(b"x");
        assert_eq!(Hash::from_base58(&h.to_base58()), Some(h));
        assert_eq!(Hash::from_base58("11111111111111111111111111111111"), Some(Hash::ZERO));
        assert_eq!(Hash::from_base58("abc"), None);
        assert_eq!(Hash::from_base58("0OIl"), None);
        assert_eq!(Hash::from_base58(&"z".repeat(45)), None);
    }
}
