//! Key material the node keeps: the public side of a key sharing on the wire (a new member of
//! a resharing needs the old sharing's commitments and gets them from every dealer), and the
//! sealed-store record of a key share with the contract event it came from.

use alloc::vec::Vec;

use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::{AffinePoint, EncodedPoint, ProjectivePoint};
use tdsigner_tss::participants::MAX_PARTICIPANTS;
use tdsigner_tss::{KeyShare, ParticipantId, ParticipantList, PublicSharing};
use zeroize::Zeroizing;

use super::codec::{CodecError, Reader, Writer};

const SHARING_VERSION: u8 = 1;

fn point_bytes(p: &ProjectivePoint) -> Option<[u8; 33]> {
    let enc = p.to_affine().to_encoded_point(true);
    enc.as_bytes().try_into().ok()
}

fn point_from(bytes: &[u8; 33]) -> Result<ProjectivePoint, CodecError> {
    // Compressed SEC1 only (SEC1 also has a 33-byte "compact" form, tag 5: refused, so each
    // point has exactly one accepted encoding).
    if !matches!(bytes[0], 2 | 3) {
        return Err(CodecError::BadValue { what: "commitment point" });
    }
    let enc = EncodedPoint::from_bytes(bytes).map_err(|_| CodecError::BadValue { what: "commitment point" })?;
    let p: Option<AffinePoint> = AffinePoint::from_encoded_point(&enc).into();
    match p {
        Some(p) if p != AffinePoint::IDENTITY => Ok(ProjectivePoint::from(p)),
        _ => Err(CodecError::BadValue { what: "commitment point" }),
    }
}

/// Encodes the public side of a sharing; `None` if a commitment is the identity (a
/// negligible-probability event the decoder refuses).
pub fn encode_public_sharing(s: &PublicSharing) -> Option<Vec<u8>> {
    let mut w = Writer::new();
    w.u8(SHARING_VERSION);
    w.u16(u16::try_from(s.participants.len()).ok()?);
    for p in s.participants.iter() {
        w.u32(p.0);
    }
    w.u16(u16::try_from(s.threshold).ok()?);
    if s.commitments.len() != s.threshold {
        return None;
    }
    for c in &s.commitments {
        w.raw(&point_bytes(c)?);
    }
    w.raw(&s.sharing_id).u64(s.epoch);
    Some(w.finish())
}

/// Decodes and checks a public sharing (hostile bytes from a peer).
pub fn decode_public_sharing(bytes: &[u8]) -> Result<PublicSharing, CodecError> {
    let mut r = Reader::new(bytes);
    if r.u8("version")? != SHARING_VERSION {
        return Err(CodecError::BadValue { what: "sharing version" });
    }
    let n = r.u16("participant count")? as usize;
    if n == 0 || n > MAX_PARTICIPANTS {
        return Err(CodecError::BadValue { what: "participant count" });
    }
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(ParticipantId(r.u32("participant id")?));
    }
    let participants = ParticipantList::new(&ids).ok_or(CodecError::BadValue { what: "participants" })?;
    let threshold = r.u16("threshold")? as usize;
    if threshold == 0 || threshold > n {
        return Err(CodecError::BadValue { what: "threshold" });
    }
    let mut commitments = Vec::with_capacity(threshold);
    for _ in 0..threshold {
        commitments.push(point_from(&r.array("commitment")?)?);
    }
    let sharing_id = r.array("sharing id")?;
    let epoch = r.u64("epoch")?;
    r.finish()?;
    Ok(PublicSharing { participants, threshold, commitments, sharing_id, epoch })
}

/// Where a stored key share came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyOrigin {
    /// Contract keygen: `epoch` = the contract's keyset epoch, `attempt` = the key event attempt.
    Keygen,
    /// Contract resharing: same fields.
    Reshare,
    /// Scheduled refresh: `epoch` = the contract keyset epoch, `attempt` = the refresh round.
    Refresh,
}

impl KeyOrigin {
    fn tag(self) -> u8 {
        match self {
            Self::Keygen => 1,
            Self::Reshare => 2,
            Self::Refresh => 3,
        }
    }
    fn from_tag(t: u8) -> Option<Self> {
        match t {
            1 => Some(Self::Keygen),
            2 => Some(Self::Reshare),
            3 => Some(Self::Refresh),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Keygen => "keygen",
            Self::Reshare => "reshare",
            Self::Refresh => "refresh",
        }
    }
}

/// A key share and the event that produced it. Never printed beyond ids.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub origin: KeyOrigin,
    pub contract_epoch: u64,
    pub attempt: u64,
    pub share: KeyShare,
}

const KEY_RECORD_VERSION: u8 = 1;

impl StoredKey {
    /// The sealed-store value (contains the secret share).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let share = self.share.to_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(share.len() + 24));
        out.push(KEY_RECORD_VERSION);
        out.push(self.origin.tag());
        out.extend_from_slice(&self.contract_epoch.to_le_bytes());
        out.extend_from_slice(&self.attempt.to_le_bytes());
        out.extend_from_slice(&share);
        out
    }

    /// Parses a stored record; the share is checked against its commitments by tdsigner-tss.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        if r.u8("key record version")? != KEY_RECORD_VERSION {
            return Err(CodecError::BadValue { what: "key record version" });
        }
        let origin = KeyOrigin::from_tag(r.u8("key origin")?).ok_or(CodecError::BadValue { what: "key origin" })?;
        let contract_epoch = r.u64("contract epoch")?;
        let attempt = r.u64("attempt")?;
        let rest = bytes.get(18..).ok_or(CodecError::Truncated { what: "key share" })?;
        let share = KeyShare::from_bytes(rest).map_err(|_| CodecError::BadValue { what: "key share" })?;
        Ok(StoredKey { origin, contract_epoch, attempt, share })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_sharing_round_trip_and_refusals() {
        let ids = ParticipantList::new(&[ParticipantId(0), ParticipantId(3), ParticipantId(7)]).unwrap();
        let g = ProjectivePoint::GENERATOR;
        let s = PublicSharing { participants: ids, threshold: 2, commitments: alloc::vec![g, g + g], sharing_id: [9; 32], epoch: 4 };
        let bytes = encode_public_sharing(&s).unwrap();
        assert_eq!(decode_public_sharing(&bytes).unwrap(), s);
        // Every truncation fails, as do trailing bytes.
        for n in 0..bytes.len() {
            assert!(decode_public_sharing(&bytes[..n]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode_public_sharing(&long), Err(CodecError::TrailingBytes));
        // A commitment that is not a point (invalid SEC1 tag; x not on the curve).
        let mut bad = bytes.clone();
        bad[1 + 2 + 12 + 2] = 0x05;
        assert!(decode_public_sharing(&bad).is_err());
        let mut bad = bytes.clone();
        bad[1 + 2 + 12 + 2 + 1..1 + 2 + 12 + 2 + 33].copy_from_slice(&[0xff; 32]);
        assert!(decode_public_sharing(&bad).is_err());
        // Threshold above the participant count.
        let mut bad = bytes;
        bad[1 + 2 + 12] = 4;
        assert!(decode_public_sharing(&bad).is_err());
    }
}

#[cfg(test)]
mod key_record_tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use tdsigner_tss::Dkg;

    fn shares() -> Vec<KeyShare> {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let list = ParticipantList::range(3).unwrap();
        let parties: Vec<(ParticipantId, Dkg)> = list.iter().map(|p| (p, Dkg::keygen([1; 32], &list, 2, p, &mut rng).unwrap())).collect();
        let (out, _) = tdsigner_tss::sim::run(parties, &mut rng).unwrap();
        out.into_iter().map(|(_, s)| s.unwrap()).collect()
    }

    #[test]
    fn stored_key_round_trip_and_strictness() {
        let share = shares().remove(1);
        let k = StoredKey { origin: KeyOrigin::Reshare, contract_epoch: 7, attempt: 2, share };
        let bytes = k.encode();
        let back = StoredKey::decode(&bytes).unwrap();
        assert_eq!((back.origin, back.contract_epoch, back.attempt), (KeyOrigin::Reshare, 7, 2));
        assert_eq!(back.share.sharing_id(), k.share.sharing_id());
        assert_eq!(back.share.public_key(), k.share.public_key());
        let mut bad = bytes.to_vec();
        bad[1] = 9;
        assert_eq!(StoredKey::decode(&bad).unwrap_err(), CodecError::BadValue { what: "key origin" });
        // A flipped bit in the secret no longer matches the commitments.
        let mut bad = bytes.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(StoredKey::decode(&bad).is_err());
        assert!(StoredKey::decode(&bytes[..17]).is_err());
        // The public sharing of a real key share travels intact.
        let public = encode_public_sharing(&k.share.public).unwrap();
        assert_eq!(decode_public_sharing(&public).unwrap(), k.share.public);
    }
}
