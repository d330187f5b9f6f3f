//! NEAR public keys and signatures: the `ed25519:<base58>` / `secp256k1:<base58>`
//! text forms, their borsh layout (one type byte, then the key bytes), and
//! ed25519 verification of approvals.

use alloc::string::String;
use core::fmt;

use crate::borsh::{DecodeError, Reader, Writer};

/// A NEAR public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// Type byte 0.
    Ed25519([u8; 32]),
    /// Type byte 1; uncompressed x‖y without the 0x04 prefix.
    Secp256k1([u8; 64]),
}

/// A NEAR signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Ed25519([u8; 64]),
    /// r‖s‖v.
    Secp256k1([u8; 65]),
}

/// Why a key or signature string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyParseError {
    /// No `ed25519:` / `secp256k1:` prefix.
    UnknownType,
    NotBase58,
    /// Decoded to the wrong number of bytes for its type.
    WrongLength { bytes: usize },
}

impl fmt::Display for KeyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType => f.write_str("key/signature type is not ed25519 or secp256k1"),
            Self::NotBase58 => f.write_str("key/signature is not base58"),
            Self::WrongLength { bytes } => write!(f, "key/signature decodes to {bytes} bytes"),
        }
    }
}

fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], KeyParseError> {
    // base58 needs fewer than 1.4 characters per byte; refuse oversize text first.
    if text.len() > N * 14 / 10 + 2 {
        return Err(KeyParseError::WrongLength { bytes: text.len() });
    }
    let mut out = [0u8; N];
    match bs58::decode(text).onto(&mut out) {
        Ok(n) if n == N => Ok(out),
        Ok(n) => Err(KeyParseError::WrongLength { bytes: n }),
        Err(bs58::decode::Error::BufferTooSmall) => Err(KeyParseError::WrongLength { bytes: N + 1 }),
        Err(_) => Err(KeyParseError::NotBase58),
    }
}

impl PublicKey {
    /// Parses `ed25519:<base58>` or `secp256k1:<base58>`. A bare base58 string
    /// is ed25519, as nearcore reads it.
    pub fn parse(text: &str) -> Result<Self, KeyParseError> {
        if let Some(rest) = text.strip_prefix("ed25519:") {
            Ok(Self::Ed25519(decode_fixed(rest)?))
        } else if let Some(rest) = text.strip_prefix("secp256k1:") {
            Ok(Self::Secp256k1(decode_fixed(rest)?))
        } else if text.contains(':') {
            Err(KeyParseError::UnknownType)
        } else {
            Ok(Self::Ed25519(decode_fixed(text)?))
        }
    }

    pub fn encode(&self, w: &mut Writer) {
        match self {
            Self::Ed25519(k) => w.u8(0).raw(k),
            Self::Secp256k1(k) => w.u8(1).raw(k),
        };
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.tag(1)? {
            0 => Ok(Self::Ed25519(r.array()?)),
            _ => Ok(Self::Secp256k1(r.array()?)),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            Self::Ed25519(k) => alloc::format!("ed25519:{}", bs58::encode(k).into_string()),
            Self::Secp256k1(k) => alloc::format!("secp256k1:{}", bs58::encode(k).into_string()),
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
    pub fn parse(text: &str) -> Result<Self, KeyParseError> {
        if let Some(rest) = text.strip_prefix("ed25519:") {
            Ok(Self::Ed25519(decode_fixed(rest)?))
        } else if let Some(rest) = text.strip_prefix("secp256k1:") {
            Ok(Self::Secp256k1(decode_fixed(rest)?))
        } else {
            Err(KeyParseError::UnknownType)
        }
    }

    pub fn encode(&self, w: &mut Writer) {
        match self {
            Self::Ed25519(s) => w.u8(0).raw(s),
            Self::Secp256k1(s) => w.u8(1).raw(s),
        };
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.tag(1)? {
            0 => Ok(Self::Ed25519(r.array()?)),
            _ => Ok(Self::Secp256k1(r.array()?)),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            Self::Ed25519(s) => alloc::format!("ed25519:{}", bs58::encode(s).into_string()),
            Self::Secp256k1(s) => alloc::format!("secp256k1:{}", bs58::encode(s).into_string()),
        }
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Outcome of checking one approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Key and signature are of different types, or secp256k1 (block producers
    /// sign approvals with ed25519; nearcore cannot verify a 41-byte message
    /// with secp256k1, so such an approval can never be valid).
    UnsupportedKeyType,
    /// The public key bytes are not a valid ed25519 point.
    BadPublicKey,
    /// The signature does not verify.
    BadSignature,
}

/// Verifies `sig` over `msg` with `key`, as nearcore does (ed25519-dalek `verify`).
pub fn verify(key: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), VerifyError> {
    use ed25519_dalek::Verifier;
    match (key, sig) {
        (PublicKey::Ed25519(k), Signature::Ed25519(s)) => {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(k).map_err(|_| VerifyError::BadPublicKey)?;
            let sig = ed25519_dalek::Signature::from_bytes(s);
            vk.verify(msg, &sig).map_err(|_| VerifyError::BadSignature)
        }
        _ => Err(VerifyError::UnsupportedKeyType),
    }
}
