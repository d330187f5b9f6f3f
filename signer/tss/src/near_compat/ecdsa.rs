//! secp256k1 ECDSA pieces shared by near's CaitSith (OT-based) and DamgardEtAl (robust)
//! signing, as near's node uses them:
//! - the request's tweak and message hash are big-endian scalars that must already be < n
//!   (near's node uses `from_repr`, no reduction); the derived key is `pk + tweak·G`;
//! - presignatures are rerandomized with δ from HKDF-SHA3-256 (fixed salt, the block entropy as
//!   input key material, and pk ‖ tweak ‖ msg_hash ‖ R ‖ sorted participant ids as info);
//! - signatures carry the full point R, `s` is normalised to the low half, the leader checks the
//!   signature (low-s demanded) and the recovery id is found by trial recovery against the
//!   derived key, as the node does before responding to the contract.
//!
//! Scalars travel as MessagePack arrays of 32 integers (k256's serde in a binary format).

use alloc::vec::Vec;
use core::fmt;
use hkdf::Hkdf;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, ProjectivePoint, Scalar, U256};
use sha3::Sha3_256;

use super::error::DecodeError;
use super::msgpack::{Reader, Writer};
use super::protocol::Participants;

/// Why an ECDSA presign or sign run (or its inputs) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EcdsaError {
    /// `from` sent a zero share of k·d (near: "a triple wasn't available").
    ZeroShare { from: u32 },
    /// The summed shares do not match the public value they must open (`what`).
    InconsistentShares { what: &'static str },
    /// The presignature's R differs from the R the rerandomization was computed for.
    RerandomizationMismatch,
    /// A value that must be invertible was zero (`what`).
    ZeroScalar { what: &'static str },
    /// The aggregated signature does not verify under the derived key.
    SignatureInvalid,
    /// Robust presign: a participant's R share is off the degree-t polynomial.
    ExponentInterpolation { from: u32 },
}

impl fmt::Display for EcdsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroShare { from } => write!(f, "{from} sent a zero share of kd"),
            Self::InconsistentShares { what } => write!(f, "received incorrect shares of {what}"),
            Self::RerandomizationMismatch => {
                write!(f, "rerandomization inputs do not match the presignature")
            }
            Self::ZeroScalar { what } => write!(f, "{what} is zero"),
            Self::SignatureInvalid => write!(f, "signature failed to verify"),
            Self::ExponentInterpolation { from } => {
                write!(
                    f,
                    "R share of {from} fails the exponent interpolation check"
                )
            }
        }
    }
}

/// A canonical big-endian scalar (< n), as near's node reads tweaks and message hashes.
pub fn scalar_from_be(bytes: &[u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_repr((*bytes).into()))
}

/// The contract's derived key `pk + tweak·G`.
pub fn derive_public_key(pk: &ProjectivePoint, tweak: &Scalar) -> ProjectivePoint {
    *pk + ProjectivePoint::GENERATOR * tweak
}

/// x(R) reduced mod n.
pub fn x_coordinate(point: &AffinePoint) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&point.x())
}

/// λ_me over `set` at zero, with participant p at x = p + 1.
pub fn lagrange(set: &Participants, me: u32) -> Scalar {
    let xi = Scalar::from(u64::from(me) + 1);
    let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
    for p in set.others(me) {
        let xj = Scalar::from(u64::from(p) + 1);
        num *= xj;
        den *= xj - xi;
    }
    // Distinct participants give distinct points, so den ≠ 0.
    num * Option::<Scalar>::from(den.invert()).unwrap_or(Scalar::ZERO)
}

/// An ECDSA signature with the whole nonce point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub big_r: AffinePoint,
    pub s: Scalar,
}

impl Signature {
    /// near's check: r, s non-zero, s low, and x(s⁻¹(h·G + r·P)) = r.
    pub fn verify(&self, public_key: &AffinePoint, msg_hash: &Scalar) -> bool {
        let r = x_coordinate(&self.big_r);
        if bool::from(r.is_zero()) || bool::from(self.s.is_zero()) || bool::from(self.s.is_high()) {
            return false;
        }
        let Some(s_inv) = Option::<Scalar>::from(self.s.invert()) else {
            return false;
        };
        let reproduced = ProjectivePoint::GENERATOR * (*msg_hash * s_inv)
            + ProjectivePoint::from(*public_key) * (r * s_inv);
        x_coordinate(&reproduced.to_affine()) == r
    }

    /// The recovery id as near's node finds it: trial recovery of `expected` from (r, s, hash).
    pub fn recovery_id(&self, expected: &AffinePoint, msg_hash: &[u8; 32]) -> Option<u8> {
        let r = x_coordinate(&self.big_r);
        let sig = k256::ecdsa::Signature::from_scalars(r, self.s).ok()?;
        let vk = k256::ecdsa::VerifyingKey::from_affine(*expected).ok()?;
        k256::ecdsa::RecoveryId::trial_recovery_from_prehash(&vk, msg_hash, &sig)
            .ok()
            .map(|id| id.to_byte())
    }
}

/// Replaces `s` by `-s` if it is in the high half (near's normalisation before verifying).
pub fn normalize_s(s: Scalar) -> Scalar {
    if bool::from(s.is_high()) {
        -s
    } else {
        s
    }
}

/// The inputs of near's presignature rerandomization.
#[derive(Clone, Debug)]
pub struct Rerandomization {
    /// The master public key (not the derived one).
    pub public_key: AffinePoint,
    pub tweak: Scalar,
    pub msg_hash: [u8; 32],
    /// The presignature's R.
    pub big_r: AffinePoint,
    pub participants: Participants,
    /// The request block's entropy.
    pub entropy: [u8; 32],
}

impl Rerandomization {
    const SALT: [u8; 32] = [
        0x32, 0x8a, 0x47, 0xc2, 0xb8, 0x79, 0x44, 0x45, 0x25, 0x5c, 0x16, 0x47, 0x60, 0x8d, 0xf5,
        0xdb, 0x85, 0xc6, 0x8b, 0xb0, 0xe7, 0x17, 0x0a, 0xbe, 0xc5, 0x34, 0xdf, 0x27, 0x64, 0xa4,
        0x58, 0x31,
    ];

    /// δ: HKDF-SHA3-256 expansions of the info string until one is a non-zero canonical
    /// scalar; the info's first byte counts the attempts (it starts as `0, 1`).
    pub fn delta(&self) -> Scalar {
        let mut info = Vec::with_capacity(2 + 33 + 32 + 32 + 33 + 4 * self.participants.len());
        info.extend_from_slice(&[0u8, 1]);
        info.extend_from_slice(self.public_key.to_encoded_point(true).as_bytes());
        info.extend_from_slice(&self.tweak.to_bytes());
        info.extend_from_slice(&self.msg_hash);
        info.extend_from_slice(self.big_r.to_encoded_point(true).as_bytes());
        for p in self.participants.ids() {
            info.extend_from_slice(&p.to_le_bytes());
        }
        let hk = Hkdf::<Sha3_256>::new(Some(&Self::SALT), &self.entropy);
        loop {
            let mut okm = [0u8; 32];
            // 32 bytes is far below HKDF's 255·32 limit: expand cannot fail.
            let _ = hk.expand(&info, &mut okm);
            if let Some(d) = scalar_from_be(&okm).filter(|d| !bool::from(d.is_zero())) {
                return d;
            }
            info[0] = info[0].wrapping_add(1);
        }
    }
}

/// Writes a scalar as k256's serde does in MessagePack: 32 integers, big-endian bytes.
pub fn write_scalar(w: &mut Writer, s: &Scalar) {
    w.byte_array(&s.to_bytes());
}

/// Reads a canonical scalar (k256 refuses values ≥ n).
pub fn read_scalar(r: &mut Reader<'_>, what: &'static str) -> Result<Scalar, DecodeError> {
    let bytes = r.byte_array::<32>(what)?;
    scalar_from_be(&bytes).ok_or(DecodeError::BadScalar { what })
}

/// A payload that is exactly one scalar (presign round 1, sign shares).
pub fn decode_scalar(payload: &[u8]) -> Result<Scalar, DecodeError> {
    let mut r = Reader::new(payload);
    let s = read_scalar(&mut r, "scalar")?;
    r.finish()?;
    Ok(s)
}

/// A payload that is a pair of scalars (presign round 2: α_i, β_i).
pub fn decode_scalar_pair(payload: &[u8]) -> Result<(Scalar, Scalar), DecodeError> {
    let mut r = Reader::new(payload);
    r.tuple(2, "scalar pair")?;
    let a = read_scalar(&mut r, "first scalar")?;
    let b = read_scalar(&mut r, "second scalar")?;
    r.finish()?;
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_s_and_recovery_id_match_k256() {
        use k256::ecdsa::{signature::hazmat::PrehashVerifier, SigningKey};
        let sk = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let hash = [9u8; 32];
        let (sig, rec) = sk.sign_prehash_recoverable(&hash).unwrap();
        let (r, s) = sig.split_scalars();
        // Reconstruct R from r and the recovery id's parity bit.
        let mut sec1 = [0u8; 33];
        sec1[0] = 2 + u8::from(rec.is_y_odd());
        sec1[1..].copy_from_slice(&r.to_bytes());
        let big_r = k256::PublicKey::from_sec1_bytes(&sec1).unwrap();
        let ours = Signature {
            big_r: *big_r.as_affine(),
            s: normalize_s(*s),
        };
        let pk = *sk.verifying_key().as_affine();
        let h = scalar_from_be(&hash).unwrap();
        assert!(ours.verify(&pk, &h));
        assert_eq!(ours.recovery_id(&pk, &hash), Some(rec.to_byte()));
        assert!(sk.verifying_key().verify_prehash(&hash, &sig).is_ok());
        let high = Signature {
            big_r: ours.big_r,
            s: -ours.s,
        };
        assert!(!high.verify(&pk, &h), "high s must be refused");
    }

    #[test]
    fn scalars_at_or_above_n_are_refused() {
        assert!(scalar_from_be(&[0xff; 32]).is_none());
        let mut w = Writer::new();
        w.byte_array(&[0xff; 32]);
        assert!(matches!(
            decode_scalar(w.as_slice()),
            Err(DecodeError::BadScalar { .. })
        ));
    }
}
