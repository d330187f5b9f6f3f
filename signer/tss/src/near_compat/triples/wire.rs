//! MessagePack forms of the values triple generation exchanges, as near's serde derives emit
//! them through rmp-serde: compressed points (33 bytes) and scalars (32 bytes, big-endian) as
//! integer arrays, blocks as arrays of two `u64`, 256-bit values as arrays of four, proofs as
//! `[e, s]`. Every reader is bounded by the input (see `msgpack::Reader`) and checks the
//! exact lengths the protocol fixes; scalars must be canonical and points valid, non-identity.

use alloc::vec::Vec;
use k256::{ProjectivePoint, Scalar};

use super::bits::{double_from_words, double_words};
use super::proofs::Proof;
use crate::near_compat::curve::{Curve, Secp256k1};
use crate::near_compat::error::DecodeError;
use crate::near_compat::msgpack::{Reader, Writer};

/// Writes a point; the identity never reaches here (callers reject it first), and would be
/// written as an empty array that no peer accepts.
pub fn put_point(w: &mut Writer, p: &ProjectivePoint) {
    w.byte_array(&Secp256k1::point_to_bytes(p).unwrap_or_default());
}

pub fn get_point(r: &mut Reader<'_>, what: &'static str) -> Result<ProjectivePoint, DecodeError> {
    let b = r.byte_array::<33>(what)?;
    Secp256k1::point_from_bytes(&b).ok_or(DecodeError::BadPoint { what })
}

pub fn put_scalar(w: &mut Writer, s: &Scalar) {
    w.byte_array(&Secp256k1::scalar_to_bytes(s));
}

pub fn get_scalar(r: &mut Reader<'_>, what: &'static str) -> Result<Scalar, DecodeError> {
    let b = r.byte_array::<32>(what)?;
    Secp256k1::scalar_from_bytes(&b).ok_or(DecodeError::BadScalar { what })
}

pub fn put_block(w: &mut Writer, v: u128) {
    w.array(2);
    w.uint(v as u64);
    w.uint((v >> 64) as u64);
}

pub fn get_block(r: &mut Reader<'_>, what: &'static str) -> Result<u128, DecodeError> {
    r.tuple(2, what)?;
    let lo = r.uint(what)?;
    let hi = r.uint(what)?;
    Ok(u128::from(lo) | (u128::from(hi) << 64))
}

pub fn put_double(w: &mut Writer, v: [u128; 2]) {
    w.array(4);
    for word in double_words(v) {
        w.uint(word);
    }
}

pub fn get_double(r: &mut Reader<'_>, what: &'static str) -> Result<[u128; 2], DecodeError> {
    r.tuple(4, what)?;
    let mut words = [0u64; 4];
    for word in words.iter_mut() {
        *word = r.uint(what)?;
    }
    Ok(double_from_words(words))
}

pub fn put_proof(w: &mut Writer, p: &Proof) {
    w.array(2);
    put_scalar(w, &p.e);
    put_scalar(w, &p.s);
}

pub fn get_proof(r: &mut Reader<'_>, what: &'static str) -> Result<Proof, DecodeError> {
    r.tuple(2, what)?;
    Ok(Proof {
        e: get_scalar(r, what)?,
        s: get_scalar(r, what)?,
    })
}

/// An array of exactly `n` items read by `item`.
pub fn get_array<T>(
    r: &mut Reader<'_>,
    n: usize,
    what: &'static str,
    mut item: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    r.tuple(n, what)?;
    (0..n).map(|_| item(r)).collect()
}

/// A whole payload holding one value; trailing bytes are refused.
pub fn decode<T>(
    payload: &[u8],
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut r = Reader::new(payload);
    let v = f(&mut r)?;
    r.finish()?;
    Ok(v)
}
