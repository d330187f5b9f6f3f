//! Polynomials over the secp256k1 scalar field, their Feldman commitments, hashing to the
//! field, hash commitments and the Chaum–Pedersen discrete-log-equality proof.

use alloc::vec::Vec;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::{Field, Group};
use k256::{ProjectivePoint, Scalar, U256};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::participants::ParticipantId;
use crate::wire::{Reader, Writer};
use crate::DecodeError;

/// A secret polynomial; coefficients are wiped on drop.
pub struct SecretPolynomial {
    coeffs: Vec<Scalar>,
}

impl Drop for SecretPolynomial {
    fn drop(&mut self) {
        self.coeffs.zeroize();
    }
}

impl SecretPolynomial {
    /// A random polynomial with `len` coefficients (degree `len - 1`) and the given constant.
    pub fn random(len: usize, constant: Scalar, rng: &mut impl CryptoRngCore) -> Self {
        let mut coeffs = Vec::with_capacity(len);
        coeffs.push(constant);
        for _ in 1..len {
            coeffs.push(Scalar::random(&mut *rng));
        }
        SecretPolynomial { coeffs }
    }

    pub fn constant(&self) -> Scalar {
        self.coeffs[0]
    }

    pub fn eval(&self, x: &Scalar) -> Scalar {
        let mut acc = Scalar::ZERO;
        for c in self.coeffs.iter().rev() {
            acc = acc * x + c;
        }
        acc
    }

    pub fn commit(&self) -> Vec<ProjectivePoint> {
        self.coeffs.iter().map(base_mul).collect()
    }
}

/// `s·G`, using k256's precomputed tables when its `precomputed-tables` feature is on.
pub fn base_mul(s: &Scalar) -> ProjectivePoint {
    use k256::elliptic_curve::ops::MulByGenerator;
    ProjectivePoint::mul_by_generator(s)
}

/// `k·P` for a small public `k` (participant evaluation points): plain double-and-add, which
/// is far cheaper than a full-width scalar multiplication. `k` is public, so branching is fine.
pub fn mul_small(p: &ProjectivePoint, k: u64) -> ProjectivePoint {
    let mut acc = ProjectivePoint::IDENTITY;
    for i in (0..64 - k.leading_zeros()).rev() {
        acc = acc.double();
        if (k >> i) & 1 == 1 {
            acc += p;
        }
    }
    acc
}

/// Evaluates a committed polynomial (coefficients as points) at participant `p`'s point.
pub fn eval_commitment(coeffs: &[ProjectivePoint], p: ParticipantId) -> ProjectivePoint {
    let x = u64::from(p.0) + 1;
    let mut acc = ProjectivePoint::IDENTITY;
    for c in coeffs.iter().rev() {
        acc = mul_small(&acc, x) + c;
    }
    acc
}

/// Adds `b` into `a` coefficient-wise (both have the same length).
pub fn add_commitments(a: &mut [ProjectivePoint], b: &[ProjectivePoint]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// A domain-separated SHA-256 transcript. Every field is length-prefixed so that
/// concatenations cannot collide.
#[derive(Clone)]
pub struct Transcript {
    h: Sha256,
}

impl Transcript {
    pub fn new(domain: &[u8]) -> Self {
        let mut t = Transcript { h: Sha256::new() };
        t.append(b"tdsigner-tss v1");
        t.append(domain);
        t
    }
    pub fn append(&mut self, data: &[u8]) -> &mut Self {
        self.h.update((data.len() as u64).to_le_bytes());
        self.h.update(data);
        self
    }
    pub fn append_u32(&mut self, v: u32) -> &mut Self {
        self.append(&v.to_le_bytes())
    }
    pub fn append_point(&mut self, p: &ProjectivePoint) -> &mut Self {
        use k256::elliptic_curve::group::GroupEncoding;
        self.append(&p.to_affine().to_bytes())
    }
    pub fn append_scalar(&mut self, s: &Scalar) -> &mut Self {
        self.append(&s.to_bytes())
    }
    pub fn finish(self) -> [u8; 32] {
        self.h.finalize().into()
    }
    pub fn challenge(self) -> Scalar {
        bytes_to_scalar(&self.finish())
    }
}

/// Interprets 32 bytes big-endian modulo the group order (bias below 2^-127).
pub fn bytes_to_scalar(b: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&(*b).into())
}

/// Proof that `log_G(P) = log_H(Q)` (Chaum–Pedersen, Fiat–Shamir over `context`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DleqProof {
    e: Scalar,
    z: Scalar,
}

impl DleqProof {
    pub fn prove(
        context: &Transcript,
        x: &Scalar,
        h: &ProjectivePoint,
        p: &ProjectivePoint,
        q: &ProjectivePoint,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut k = Scalar::random(&mut *rng);
        let k1 = base_mul(&k);
        let k2 = *h * k;
        let e = Self::challenge(context, h, p, q, &k1, &k2);
        let z = k + e * x;
        k.zeroize();
        DleqProof { e, z }
    }

    pub fn verify(
        &self,
        context: &Transcript,
        h: &ProjectivePoint,
        p: &ProjectivePoint,
        q: &ProjectivePoint,
    ) -> bool {
        let k1 = base_mul(&self.z) - *p * self.e;
        let k2 = *h * self.z - *q * self.e;
        bool::from(!h.is_identity()) && Self::challenge(context, h, p, q, &k1, &k2) == self.e
    }

    fn challenge(
        context: &Transcript,
        h: &ProjectivePoint,
        p: &ProjectivePoint,
        q: &ProjectivePoint,
        k1: &ProjectivePoint,
        k2: &ProjectivePoint,
    ) -> Scalar {
        let mut t = context.clone();
        t.append(b"dleq")
            .append_point(h)
            .append_point(p)
            .append_point(q)
            .append_point(k1)
            .append_point(k2);
        t.challenge()
    }

    pub fn write(&self, w: &mut Writer) {
        w.scalar(&self.e);
        w.scalar(&self.z);
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DleqProof {
            e: r.scalar("proof challenge")?,
            z: r.scalar("proof response")?,
        })
    }
}

/// Constant-time equality of two 32-byte strings.
pub fn ct_eq32(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut d = 0u8;
    for (x, y) in a.iter().zip(b) {
        d |= x ^ y;
    }
    d == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn dleq_accepts_honest_and_rejects_wrong() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let x = Scalar::random(&mut rng);
        let h = ProjectivePoint::GENERATOR * Scalar::random(&mut rng);
        let p = ProjectivePoint::GENERATOR * x;
        let q = h * x;
        let ctx = Transcript::new(b"test");
        let proof = DleqProof::prove(&ctx, &x, &h, &p, &q, &mut rng);
        assert!(proof.verify(&ctx, &h, &p, &q));
        assert!(!proof.verify(&ctx, &h, &p, &(q + ProjectivePoint::GENERATOR)));
        assert!(!proof.verify(&Transcript::new(b"other"), &h, &p, &q));
    }

    #[test]
    fn commitment_matches_evaluation() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let f = SecretPolynomial::random(4, Scalar::from(9u64), &mut rng);
        let c = f.commit();
        let p = ParticipantId(4);
        assert_eq!(
            eval_commitment(&c, p),
            ProjectivePoint::GENERATOR * f.eval(&p.scalar())
        );
        assert_eq!(mul_small(&c[1], 300), c[1] * Scalar::from(300u64));
        assert_eq!(mul_small(&c[1], 0), ProjectivePoint::IDENTITY);
    }
}
