//! NEAR chain-signature conventions: the derivation tweak, derived keys, NEAR key strings and
//! the `SignatureResponse` JSON the near/mpc `v1.signer` contract accepts in `respond`.
//!
//! - tweak = SHA3-256("near-mpc-recovery v0.1.0 epsilon derivation:" ‖ predecessor ‖ "," ‖ path),
//!   read big-endian as a scalar; values ≥ n are rejected (not reduced).
//! - derived key = root + tweak·G.
//! - key string: `secp256k1:` + base58 of the 64-byte uncompressed x ‖ y.
//! - response: `{"scheme":"Secp256k1","big_r":{"affine_point":"<hex33>"},"s":{"scalar":"<hex32>"},"recovery_id":N}`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use k256::elliptic_curve::group::GroupEncoding;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, EncodedPoint, Scalar};
use sha3::{Digest, Sha3_256};

use crate::sign::FullSignature;

/// The derivation prefix near/mpc hashes before `predecessor,path`.
pub const TWEAK_PREFIX: &str = "near-mpc-recovery v0.1.0 epsilon derivation:";

/// Errors from NEAR-format inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NearFormatError {
    /// The tweak hash is not a canonical scalar (probability ~2^-128).
    TweakOutOfRange,
    /// The key string does not start with `secp256k1:`.
    WrongKeyType,
    /// The key string is longer than any valid one.
    TooLong,
    /// The base58 part does not decode.
    BadBase58,
    /// The decoded key is not 64 bytes.
    BadLength(usize),
    /// The 64 bytes are not a point on secp256k1 (or are the identity).
    NotOnCurve,
}

impl fmt::Display for NearFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NearFormatError::TweakOutOfRange => write!(f, "tweak is not below the group order"),
            NearFormatError::WrongKeyType => {
                write!(f, "expected a key string starting with secp256k1:")
            }
            NearFormatError::TooLong => write!(f, "key string too long"),
            NearFormatError::BadBase58 => write!(f, "key string is not valid base58"),
            NearFormatError::BadLength(n) => write!(f, "key is {n} bytes, expected 64"),
            NearFormatError::NotOnCurve => write!(f, "key is not a secp256k1 point"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NearFormatError {}

/// The raw 32-byte tweak hash for `(predecessor, path)`.
pub fn tweak_bytes(predecessor: &str, path: &str) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(TWEAK_PREFIX.as_bytes());
    h.update(predecessor.as_bytes());
    h.update(b",");
    h.update(path.as_bytes());
    h.finalize().into()
}

/// The tweak as a scalar; rejects a hash ≥ n as near/mpc does.
pub fn derive_tweak(predecessor: &str, path: &str) -> Result<Scalar, NearFormatError> {
    let b = tweak_bytes(predecessor, path);
    Option::from(Scalar::from_repr(b.into())).ok_or(NearFormatError::TweakOutOfRange)
}

/// `root + tweak(predecessor, path)·G`.
pub fn derive_public_key(
    root: &AffinePoint,
    predecessor: &str,
    path: &str,
) -> Result<AffinePoint, NearFormatError> {
    Ok(crate::sign::derived_public_key(
        root,
        &derive_tweak(predecessor, path)?,
    ))
}

/// `secp256k1:<base58 of x ‖ y>`.
pub fn public_key_string(pk: &AffinePoint) -> String {
    let enc = pk.to_encoded_point(false);
    let bytes = enc.as_bytes();
    let xy = bytes.get(1..).unwrap_or(&[]);
    let mut s = String::from("secp256k1:");
    s.push_str(&bs58::encode(xy).into_string());
    s
}

/// Parses `secp256k1:<base58 of x ‖ y>` into a curve point.
pub fn parse_public_key_string(s: &str) -> Result<AffinePoint, NearFormatError> {
    let body = s
        .strip_prefix("secp256k1:")
        .ok_or(NearFormatError::WrongKeyType)?;
    // 64 bytes are at most 88 base58 characters.
    if body.len() > 90 {
        return Err(NearFormatError::TooLong);
    }
    let raw = bs58::decode(body)
        .into_vec()
        .map_err(|_| NearFormatError::BadBase58)?;
    if raw.len() != 64 {
        return Err(NearFormatError::BadLength(raw.len()));
    }
    let mut sec1 = [0u8; 65];
    sec1[0] = 4;
    sec1[1..].copy_from_slice(&raw);
    let enc = EncodedPoint::from_bytes(sec1).map_err(|_| NearFormatError::NotOnCurve)?;
    let p: Option<AffinePoint> = AffinePoint::from_encoded_point(&enc).into();
    match p {
        Some(p) if p != AffinePoint::IDENTITY => Ok(p),
        _ => Err(NearFormatError::NotOnCurve),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The contract's `SignatureResponse` for a secp256k1 signature, as compact JSON.
pub fn signature_response_json(sig: &FullSignature) -> String {
    let r = sig.big_r.to_bytes();
    let s = sig.s.to_repr();
    let mut out = String::new();
    out.push_str("{\"scheme\":\"Secp256k1\",\"big_r\":{\"affine_point\":\"");
    out.push_str(&hex(&r));
    out.push_str("\"},\"s\":{\"scalar\":\"");
    out.push_str(&hex(&s));
    out.push_str("\"},\"recovery_id\":");
    let mut digits = Vec::new();
    let mut v = sig.recovery_id;
    loop {
        digits.push(b'0' + v % 10);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for d in digits.iter().rev() {
        out.push(*d as char);
    }
    out.push('}');
    out
}

/// The tweak as the contract serializes it: a JSON array of 32 integers.
pub fn tweak_json(tweak: &[u8; 32]) -> String {
    let mut out = String::from("[");
    for (i, b) in tweak.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let v = *b;
        if v >= 100 {
            out.push((b'0' + v / 100) as char);
        }
        if v >= 10 {
            out.push((b'0' + (v / 10) % 10) as char);
        }
        out.push((b'0' + v % 10) as char);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tweak_vector_from_facts() {
        // FACTS.md (near/mpc): ("dwefqwg", "frwewegwegweg").
        assert_eq!(
            hex(&tweak_bytes("dwefqwg", "frwewegwegweg")),
            "ad2d6fc1f445a1b43830415e7e6e3d03cd077673047848a085f130c24f53ee00"
        );
    }

    #[test]
    fn key_string_round_trip_and_rejects() {
        let g = AffinePoint::GENERATOR;
        let s = public_key_string(&g);
        assert!(s.starts_with("secp256k1:"));
        assert_eq!(parse_public_key_string(&s), Ok(g));
        assert_eq!(
            parse_public_key_string("ed25519:abc"),
            Err(NearFormatError::WrongKeyType)
        );
        assert_eq!(
            parse_public_key_string("secp256k1:0OIl"),
            Err(NearFormatError::BadBase58)
        );
        assert!(matches!(
            parse_public_key_string("secp256k1:1111"),
            Err(NearFormatError::BadLength(_))
        ));
        let bad = alloc::format!("secp256k1:{}", bs58::encode([1u8; 64]).into_string());
        assert_eq!(
            parse_public_key_string(&bad),
            Err(NearFormatError::NotOnCurve)
        );
    }

    #[test]
    fn tweak_json_format() {
        let mut t = [0u8; 32];
        t[0] = 255;
        t[1] = 7;
        t[2] = 10;
        let j = tweak_json(&t);
        assert!(j.starts_with("[255,7,10,0,"));
        assert!(j.ends_with(",0]"));
    }
}
