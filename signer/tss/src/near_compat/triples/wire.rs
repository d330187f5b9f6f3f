//! MessagePack forms of the values triple generation exchanges, as near's serde derives emit
//! them through rmp-serde: compressed points (33 bytes) and scalars (32 bytes, big-endian) as
//! integer arrays, blocks as arrays of two `u64`, 256-bit values as arrays of four, proofs as
//! `[e, s]`. Every reader is bounded by the input (see `msgpack::Reader`) and checks the
//! exact lengths the protocol fixes; scalars must be canonical and points valid, non-identity.

use alloc::vec::Vec;
use k256::{ProjectivePoint, Scalar};

use super::bits::{double_from_words, double_words, KAPPA};
use super::ot::{EXTENDED_ROWS, MTA_SIZE};
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

/// The correlated-OT matrix `u`: exactly the extended row count of blocks.
pub fn get_ext_matrix(r: &mut Reader<'_>) -> Result<Vec<u128>, DecodeError> {
    get_array(r, EXTENDED_ROWS, "OT extension matrix", |r| {
        get_block(r, "OT extension row")
    })
}

/// The extension check `(x̃, [t̃_j; 128])`.
pub fn get_ext_check(r: &mut Reader<'_>) -> Result<([u128; 2], Vec<[u128; 2]>), DecodeError> {
    r.tuple(2, "OT extension check")?;
    let x = get_double(r, "check x")?;
    let t = get_array(r, KAPPA, "check t", |r| get_double(r, "check t"))?;
    Ok((x, t))
}

/// The MTA sender's pairs.
pub fn get_mta_pairs(r: &mut Reader<'_>) -> Result<Vec<(Scalar, Scalar)>, DecodeError> {
    get_array(r, MTA_SIZE, "MTA pairs", |r| {
        r.tuple(2, "MTA pair")?;
        Ok((get_scalar(r, "MTA c0")?, get_scalar(r, "MTA c1")?))
    })
}

/// The MTA receiver's reply `(chi1, seed)`.
pub fn get_mta_reply(r: &mut Reader<'_>) -> Result<(Scalar, [u8; 32]), DecodeError> {
    r.tuple(2, "MTA reply")?;
    Ok((get_scalar(r, "MTA chi1")?, r.byte_array::<32>("MTA seed")?))
}

/// Runs the decoder of message kind `kind % 12` of triple generation (batch size `count`)
/// on a payload, as the protocol does; for fuzzing and decode tests.
pub fn decode_kind(kind: u8, payload: &[u8], count: usize) -> Result<(), DecodeError> {
    use super::generation as g;
    match kind % 12 {
        0 => decode(payload, |r| g::get_hashes(r, count)).map(drop),
        1 => decode(payload, g::get_confirmations).map(drop),
        2 => decode(payload, |r| g::get_revealed(r, count)).map(drop),
        3 => decode(payload, |r| g::get_ab_shares(r, count)).map(drop),
        4 => decode(payload, |r| g::get_points_and_proofs(r, count)).map(drop),
        5 => decode(payload, |r| g::get_c_shares(r, count)).map(drop),
        6 => decode(payload, |r| get_point(r, "point")).map(drop),
        7 => decode(payload, get_ext_matrix).map(drop),
        8 => decode(payload, get_ext_check).map(drop),
        9 => decode(payload, |r| r.byte_array::<32>("seed")).map(drop),
        10 => decode(payload, get_mta_pairs).map(drop),
        _ => decode(payload, get_mta_reply).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::near_compat::channel::{ChannelTag, Header, HEADER_LEN};

    fn channel(path: &str) -> ChannelTag {
        let mut parts = path.split('/');
        let root = parts.next().unwrap_or_default();
        let mut tag = match root.strip_prefix("private(") {
            Some(pair) => {
                let (a, b) = pair.trim_end_matches(')').split_once(',').unwrap();
                ChannelTag::private(a.parse().unwrap(), b.parse().unwrap())
            }
            None => ChannelTag::shared(),
        };
        for child in parts {
            tag = tag.child(child.parse().unwrap());
        }
        tag
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// One message of every kind recorded from near's own implementation (ts-oracle,
    /// 2 parties, count 2): our channel tags and waitpoints name them, our decoders accept
    /// them, and a truncated payload is refused.
    #[test]
    fn recorded_near_messages_decode() {
        let text = include_str!("testdata/near_messages.txt");
        let mut kinds = alloc::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            let (kind, path, wp, msg) = (f[0].parse::<u8>().unwrap(), f[2], f[3], unhex(f[4]));
            let (header, payload) = Header::split(&msg).unwrap();
            assert_eq!(
                header,
                Header::new(channel(path), wp.parse().unwrap()),
                "{path}"
            );
            decode_kind(kind, payload, 2).unwrap_or_else(|e| panic!("kind {kind} {path}: {e}"));
            assert!(decode_kind(kind, &payload[..payload.len() - 1], 2).is_err());
            assert!(msg.len() > HEADER_LEN);
            kinds.insert(kind);
        }
        assert_eq!(kinds.len(), 12);
    }
}
