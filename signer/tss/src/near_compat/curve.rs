//! The groups near's DKG runs on (secp256k1, ed25519, BLS12-381 G2), with the encodings near's crate (frost-core ciphersuites)
//! uses: scalars as 32 bytes (big-endian for secp256k1, little-endian for ed25519), points
//! compressed (33-byte SEC1 for secp256k1, 32-byte Edwards y for ed25519), the identity never
//! encoded, and the ciphersuite's `HDKG` hash for the DKG proof of knowledge.

use alloc::vec::Vec;
use ff::{Field, PrimeField};
use group::{Group, GroupEncoding};
use rand_core::CryptoRngCore;
use zeroize::Zeroize;

/// A prime-order group with near's encodings.
pub trait Curve: Sized + 'static {
    type Scalar: PrimeField + Zeroize;
    type Point: Group<Scalar = Self::Scalar> + GroupEncoding + Copy + PartialEq + core::fmt::Debug;
    /// Name used on the command line and in files (`secp256k1`, `ed25519`).
    const NAME: &'static str;
    /// Length of a compressed point.
    const POINT_LEN: usize;

    /// Decodes a compressed point; `None` for malformed, non-canonical, identity or
    /// small-order encodings (what the frost ciphersuites refuse).
    fn point_from_bytes(bytes: &[u8]) -> Option<Self::Point>;

    /// The ciphersuite's `HDKG(m)` hash to a scalar.
    fn hash_dkg(preimage: &[u8]) -> Self::Scalar;

    /// Compressed encoding; `None` for the identity, which near never serializes.
    fn point_to_bytes(p: &Self::Point) -> Option<Vec<u8>> {
        if bool::from(p.is_identity()) {
            return None;
        }
        Some(p.to_bytes().as_ref().to_vec())
    }

    fn scalar_to_bytes(s: &Self::Scalar) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(s.to_repr().as_ref());
        out
    }

    /// Canonical 32-byte scalar encoding only (no reduction).
    fn scalar_from_bytes(bytes: &[u8; 32]) -> Option<Self::Scalar> {
        let mut repr = <Self::Scalar as PrimeField>::Repr::default();
        repr.as_mut().copy_from_slice(bytes);
        Option::from(Self::Scalar::from_repr(repr))
    }

    /// Participant `id` as a polynomial evaluation point: `id + 1`.
    fn participant_scalar(id: u32) -> Self::Scalar {
        Self::Scalar::from(u64::from(id) + 1)
    }

    /// A uniformly random non-zero scalar.
    fn random_nonzero(rng: &mut impl CryptoRngCore) -> Self::Scalar {
        loop {
            let s = Self::Scalar::random(&mut *rng);
            if !bool::from(s.is_zero()) {
                return s;
            }
        }
    }
}

/// secp256k1 as frost-secp256k1 (`FROST-secp256k1-SHA256-v1`) encodes it.
pub struct Secp256k1;

impl Curve for Secp256k1 {
    type Scalar = k256::Scalar;
    type Point = k256::ProjectivePoint;
    const NAME: &'static str = "secp256k1";
    const POINT_LEN: usize = 33;

    fn point_from_bytes(bytes: &[u8]) -> Option<Self::Point> {
        if bytes.len() != 33 || !matches!(bytes[0], 2 | 3) {
            return None;
        }
        let repr = k256::CompressedPoint::clone_from_slice(bytes);
        let p: Option<k256::ProjectivePoint> = k256::ProjectivePoint::from_bytes(&repr).into();
        p.filter(|p| !bool::from(p.is_identity()))
    }

    fn hash_dkg(preimage: &[u8]) -> Self::Scalar {
        use k256::elliptic_curve::hash2curve::{hash_to_field, ExpandMsgXmd};
        let mut out = [k256::Scalar::ZERO];
        // Cannot fail: one 48-byte output is far below the expander's limit.
        let _ = hash_to_field::<ExpandMsgXmd<sha2::Sha256>, k256::Scalar>(
            &[preimage],
            &[b"FROST-secp256k1-SHA256-v1", b"dkg"],
            &mut out,
        );
        out[0]
    }
}

/// Ed25519 as frost-ed25519 (`FROST-ED25519-SHA512-v1`) encodes it.
pub struct Ed25519;

impl Curve for Ed25519 {
    type Scalar = curve25519_dalek::Scalar;
    type Point = curve25519_dalek::EdwardsPoint;
    const NAME: &'static str = "ed25519";
    const POINT_LEN: usize = 32;

    fn point_from_bytes(bytes: &[u8]) -> Option<Self::Point> {
        let compressed = curve25519_dalek::edwards::CompressedEdwardsY::from_slice(bytes).ok()?;
        let p = compressed.decompress()?;
        let canonical = p.compress() == compressed;
        (canonical && !bool::from(p.is_identity()) && p.is_torsion_free()).then_some(p)
    }

    fn hash_dkg(preimage: &[u8]) -> Self::Scalar {
        use sha2::{Digest, Sha512};
        let mut h = Sha512::new();
        h.update(b"FROST-ED25519-SHA512-v1");
        h.update(b"dkg");
        h.update(preimage);
        curve25519_dalek::Scalar::from_bytes_mod_order_wide(&h.finalize().into())
    }
}

/// BLS12-381 with keys in G2, as near's CKD ciphersuite (`NEAR-BLS12381-G2-SHA256-v1`)
/// encodes it: little-endian scalars, 96-byte compressed G2 points.
pub struct Bls12381G2;

/// `hash_to_field` output for the BLS scalar field: 48 bytes read big-endian, reduced mod r.
#[derive(Default)]
struct BlsOkm(bls12_381::Scalar);

impl k256::elliptic_curve::hash2curve::FromOkm for BlsOkm {
    type Length = k256::elliptic_curve::consts::U48;

    fn from_okm(okm: &k256::elliptic_curve::generic_array::GenericArray<u8, Self::Length>) -> Self {
        let mut wide = [0u8; 64];
        for (dst, src) in wide.iter_mut().zip(okm.iter().rev()) {
            *dst = *src;
        }
        Self(bls12_381::Scalar::from_bytes_wide(&wide))
    }
}

impl Curve for Bls12381G2 {
    type Scalar = bls12_381::Scalar;
    type Point = bls12_381::G2Projective;
    const NAME: &'static str = "bls12381";
    const POINT_LEN: usize = 96;

    fn point_from_bytes(bytes: &[u8]) -> Option<Self::Point> {
        let arr: [u8; 96] = bytes.try_into().ok()?;
        let p: Option<bls12_381::G2Affine> = bls12_381::G2Affine::from_compressed(&arr).into();
        p.filter(|p| !bool::from(p.is_identity())).map(Into::into)
    }

    fn hash_dkg(preimage: &[u8]) -> Self::Scalar {
        use k256::elliptic_curve::hash2curve::{hash_to_field, ExpandMsgXmd};
        let mut out = [BlsOkm::default()];
        let _ = hash_to_field::<ExpandMsgXmd<sha2::Sha256>, BlsOkm>(
            &[preimage],
            &[b"NEAR-BLS12381-G2-SHA256-v1", b"dkg"],
            &mut out,
        );
        out[0].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_scalar_byte_order() {
        let s = Secp256k1::scalar_to_bytes(&Secp256k1::participant_scalar(0));
        assert_eq!(s[31], 1);
        let e = Ed25519::scalar_to_bytes(&Ed25519::participant_scalar(0));
        assert_eq!(e[0], 1);
    }

    #[test]
    fn identity_and_garbage_points_are_refused() {
        assert!(Secp256k1::point_from_bytes(&[0u8; 33]).is_none());
        let id = curve25519_dalek::EdwardsPoint::identity()
            .compress()
            .to_bytes();
        assert!(Ed25519::point_from_bytes(&id).is_none());
        let g = Secp256k1::point_to_bytes(&k256::ProjectivePoint::GENERATOR).unwrap();
        assert!(Secp256k1::point_from_bytes(&g).is_some());
    }
}
