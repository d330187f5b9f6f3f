//! Keys and signatures: NEAR's text forms (`ed25519:<base58>`,
//! `secp256k1:<base58>`), their borsh layout (type byte, then the key), and
//! the simulator's deterministic ed25519 keys (validators, generated account
//! keys) derived from the seed so runs are reproducible.
//!
//! These are *test* keys: anyone who knows the seed knows them. Secrets are
//! still zeroized on drop and never printed by `Debug`.

use std::fmt;

use ed25519_dalek::{Signer, Verifier};
use zeroize::Zeroizing;

use crate::borsh::{DecodeError, Decoder, Encoder};
use crate::hash::Hash;

/// A NEAR public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PublicKey {
    /// Type byte 0.
    Ed25519([u8; 32]),
    /// Type byte 1; x‖y without the 0x04 prefix.
    Secp256k1([u8; 64]),
}

/// A NEAR signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Ed25519([u8; 64]),
    /// r‖s‖v.
    Secp256k1([u8; 65]),
}

fn decode_fixed<const N: usize>(text: &str) -> Option<[u8; N]> {
    // base58 needs < 1.4 characters per byte: refuse longer text before decoding.
    if text.is_empty() || text.len() > N * 14 / 10 + 2 {
        return None;
    }
    let mut out = [0u8; N];
    match bs58::decode(text).onto(&mut out) {
        Ok(n) if n == N => Some(out),
        _ => None,
    }
}

impl PublicKey {
    /// `ed25519:<base58>` or `secp256k1:<base58>`; bare base58 is ed25519.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(rest) = text.strip_prefix("ed25519:") {
            decode_fixed(rest).map(Self::Ed25519)
        } else if let Some(rest) = text.strip_prefix("secp256k1:") {
            decode_fixed(rest).map(Self::Secp256k1)
        } else if text.contains(':') {
            None
        } else {
            decode_fixed(text).map(Self::Ed25519)
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            Self::Ed25519(k) => format!("ed25519:{}", bs58::encode(k).into_string()),
            Self::Secp256k1(k) => format!("secp256k1:{}", bs58::encode(k).into_string()),
        }
    }

    pub fn encode(&self, e: &mut Encoder) {
        match self {
            Self::Ed25519(k) => e.u8(0).raw(k),
            Self::Secp256k1(k) => e.u8(1).raw(k),
        };
    }

    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match d.tag(1)? {
            0 => Ok(Self::Ed25519(d.array()?)),
            _ => Ok(Self::Secp256k1(d.array()?)),
        }
    }

    /// Verifies `sig` over `msg`. Only ed25519 is implemented: the simulator
    /// does not accept secp256k1 access keys (documented in the README).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        match (self, sig) {
            (Self::Ed25519(k), Signature::Ed25519(s)) => match ed25519_dalek::VerifyingKey::from_bytes(k) {
                Ok(vk) => vk.verify(msg, &ed25519_dalek::Signature::from_bytes(s)).is_ok(),
                Err(_) => false,
            },
            _ => false,
        }
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl Signature {
    pub fn to_text(&self) -> String {
        match self {
            Self::Ed25519(s) => format!("ed25519:{}", bs58::encode(s).into_string()),
            Self::Secp256k1(s) => format!("secp256k1:{}", bs58::encode(s).into_string()),
        }
    }

    pub fn encode(&self, e: &mut Encoder) {
        match self {
            Self::Ed25519(s) => e.u8(0).raw(s),
            Self::Secp256k1(s) => e.u8(1).raw(s),
        };
    }

    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match d.tag(1)? {
            0 => Ok(Self::Ed25519(d.array()?)),
            _ => Ok(Self::Secp256k1(d.array()?)),
        }
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// An ed25519 signing key (validator or test account). Zeroized on drop
/// (ed25519-dalek's `zeroize` feature); `Debug` shows only the public key.
pub struct SecretKey {
    inner: ed25519_dalek::SigningKey,
}

impl SecretKey {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { inner: ed25519_dalek::SigningKey::from_bytes(seed) }
    }

    /// A key derived from the simulator seed and a label, so the same seed
    /// always yields the same validators and generated account keys.
    pub fn derive(sim_seed: u64, label: &str) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&Hash::digest_parts(&[b"tdsigner-chain-sim key", &sim_seed.to_le_bytes(), label.as_bytes()]).0);
        Self::from_seed(&seed)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::Ed25519(self.inner.verifying_key().to_bytes())
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature::Ed25519(self.inner.sign(msg).to_bytes())
    }

    /// NEAR's secret-key text: `ed25519:<base58(seed ‖ public key)>`. Only
    /// for test accounts handed to the "user" through the admin API.
    pub fn to_near_secret_text(&self) -> Zeroizing<String> {
        let mut both = Zeroizing::new([0u8; 64]);
        both[..32].copy_from_slice(self.inner.as_bytes());
        both[32..].copy_from_slice(&self.inner.verifying_key().to_bytes());
        Zeroizing::new(format!("ed25519:{}", bs58::encode(&both[..]).into_string()))
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms() {
        let k = SecretKey::derive(1, "a");
        let pk = k.public_key();
        assert_eq!(PublicKey::parse(&pk.to_text()), Some(pk));
        assert_eq!(PublicKey::parse("ed25519:abc"), None);
        assert_eq!(PublicKey::parse("rsa:abc"), None);
        let sig = k.sign(b"m");
        assert!(pk.verify(b"m", &sig));
        assert!(!pk.verify(b"n", &sig));
        assert_eq!(format!("{k:?}"), format!("SecretKey({pk})"));
        // Deterministic.
        assert_eq!(SecretKey::derive(1, "a").public_key(), pk);
        assert_ne!(SecretKey::derive(2, "a").public_key(), pk);
    }
}
