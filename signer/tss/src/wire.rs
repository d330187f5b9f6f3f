//! The wire format: message envelopes and a bounded reader/writer for payloads.
//!
//! Envelope (little-endian): version `u8` = 1, protocol kind `u8`, session id `[u8; 32]`,
//! round `u8`, sender `u32`, recipient `u32` (`u32::MAX` = everyone), payload length `u32`,
//! payload. Scalars are 32 bytes big-endian and must be canonical; points are 33-byte SEC1
//! compressed (the identity is 33 zero bytes). Every length prefix is checked against a bound
//! before anything is allocated.

use crate::error::DecodeError;
use crate::participants::ParticipantId;
use crate::SessionId;
use alloc::vec::Vec;
use k256::elliptic_curve::group::GroupEncoding;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, ProjectivePoint, Scalar};

/// Envelope format version.
pub const WIRE_VERSION: u8 = 1;
/// Largest message any protocol accepts (a batch of 64 triples stays well below it).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Recipient value meaning "every participant".
pub const BROADCAST: u32 = u32::MAX;
/// Size of the fixed envelope header.
pub const HEADER_BYTES: usize = 1 + 1 + 32 + 1 + 4 + 4 + 4;

/// Which protocol a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ProtocolKind {
    Dkg = 1,
    Triples = 2,
    Presign = 3,
    Sign = 4,
}

/// A decoded envelope; `payload` borrows from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub kind: u8,
    pub session: SessionId,
    pub round: u8,
    pub from: ParticipantId,
    /// `None` for a broadcast.
    pub to: Option<ParticipantId>,
    pub payload: &'a [u8],
}

impl<'a> Envelope<'a> {
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLong {
                what: "message",
                len: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        if r.u8("version")? != WIRE_VERSION {
            return Err(DecodeError::BadValue { what: "version" });
        }
        let kind = r.u8("kind")?;
        let session = r.array32("session")?;
        let round = r.u8("round")?;
        let from = ParticipantId(r.u32("sender")?);
        let to = match r.u32("recipient")? {
            BROADCAST => None,
            p => Some(ParticipantId(p)),
        };
        let len = r.u32("payload length")? as usize;
        let payload = r.bytes(len, "payload")?;
        r.finish()?;
        Ok(Envelope {
            kind,
            session,
            round,
            from,
            to,
            payload,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.payload.len());
        out.push(WIRE_VERSION);
        out.push(self.kind);
        out.extend_from_slice(&self.session);
        out.push(self.round);
        out.extend_from_slice(&self.from.0.to_le_bytes());
        out.extend_from_slice(&self.to.map_or(BROADCAST, |p| p.0).to_le_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(self.payload);
        out
    }
}

/// A cursor over hostile bytes; every read is bounds-checked.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { what });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn array32(&mut self, what: &'static str) -> Result<[u8; 32], DecodeError> {
        let b = self.bytes(32, what)?;
        let mut a = [0u8; 32];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// A length prefix, checked against `max` (and against the bytes left, assuming each item
    /// takes at least `min_item_bytes`) before the caller allocates.
    pub fn len(
        &mut self,
        max: usize,
        min_item_bytes: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(DecodeError::TooLong { what, len: n, max });
        }
        if n.saturating_mul(min_item_bytes) > self.remaining() {
            return Err(DecodeError::Truncated { what });
        }
        Ok(n)
    }

    /// Exactly `expected` items follow (a count prefix is still present and must match).
    pub fn exact_len(
        &mut self,
        expected: usize,
        min_item_bytes: usize,
        what: &'static str,
    ) -> Result<(), DecodeError> {
        let n = self.len(expected, min_item_bytes, what)?;
        if n != expected {
            return Err(DecodeError::BadValue { what });
        }
        Ok(())
    }

    pub fn scalar(&mut self, what: &'static str) -> Result<Scalar, DecodeError> {
        let b = self.array32(what)?;
        Option::from(Scalar::from_repr(b.into())).ok_or(DecodeError::BadScalar { what })
    }

    pub fn point(&mut self, what: &'static str) -> Result<ProjectivePoint, DecodeError> {
        let b = self.bytes(33, what)?;
        let mut repr = <AffinePoint as GroupEncoding>::Repr::default();
        repr.copy_from_slice(b);
        let p: Option<AffinePoint> = AffinePoint::from_bytes(&repr).into();
        p.map(ProjectivePoint::from)
            .ok_or(DecodeError::BadPoint { what })
    }

    /// A point together with its 33-byte encoding (saves re-encoding it for hashing).
    pub fn point_with_bytes(
        &mut self,
        what: &'static str,
    ) -> Result<(ProjectivePoint, [u8; 33]), DecodeError> {
        let b = self.bytes(33, what)?;
        let mut raw = [0u8; 33];
        raw.copy_from_slice(b);
        let mut r = Reader::new(&raw);
        Ok((r.point(what)?, raw))
    }

    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError::TrailingBytes {
                extra: self.remaining(),
            });
        }
        Ok(())
    }
}

/// Appends fields in the format [`Reader`] reads.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn scalar(&mut self, s: &Scalar) {
        self.buf.extend_from_slice(&s.to_bytes());
    }
    pub fn point(&mut self, p: &ProjectivePoint) {
        self.buf.extend_from_slice(&p.to_affine().to_bytes());
    }
    pub fn points(&mut self, ps: &[ProjectivePoint]) {
        self.len(ps.len());
        for p in ps {
            self.point(p);
        }
    }
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip_and_bounds() {
        let e = Envelope {
            kind: 2,
            session: [7; 32],
            round: 3,
            from: ParticipantId(5),
            to: None,
            payload: b"abc",
        };
        let bytes = e.encode();
        assert_eq!(Envelope::decode(&bytes).unwrap(), e);
        assert!(Envelope::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Envelope::decode(&longer),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
        // A length prefix larger than the input must not allocate or panic.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0x00]);
        assert!(r.len(usize::MAX, 33, "x").is_err());
    }

    #[test]
    fn non_canonical_scalar_rejected() {
        let mut r = Reader::new(&[0xff; 32]);
        assert_eq!(r.scalar("s"), Err(DecodeError::BadScalar { what: "s" }));
    }
}
