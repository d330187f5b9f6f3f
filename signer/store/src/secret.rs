//! Secret byte containers: the sealing key and record plaintexts. Both are zeroized on drop and
//! print only their length in `Debug`, so a stray `{:?}` cannot leak them.

use alloc::vec::Vec;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The 32-byte root key everything in the store is derived from. Obtained from a
/// [`crate::keysource::SealingKeySource`]; never written anywhere.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SealingKey([u8; 32]);

impl SealingKey {
    /// Wraps raw key bytes. Callers should pass key material straight from a key source.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key bytes, for deriving subkeys.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

/// A record value. Zeroized on drop; `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes` (they are zeroized when this value is dropped).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret buffer.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The plaintext. Do not log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn debug_never_prints_secret_bytes() {
        let key = SealingKey::from_bytes([0xAB; 32]);
        let value = SecretBytes::copy_from(b"very secret share");
        let shown = format!("{key:?} {value:?}");
        assert!(!shown.contains("ab") && !shown.contains("AB") && !shown.contains("171"));
        assert!(!shown.contains("secret share"));
        assert!(shown.contains("17 bytes"));
    }
}
