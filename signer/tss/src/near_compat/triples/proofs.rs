//! The two Schnorr-style proofs of triple generation, with near's statement encodings and
//! transcript labels: `dlog` (knowledge of x with X = x·G) and `dlogeq` (the same x in
//! X0 = x·G and X1 = x·H). The challenge is a non-zero scalar drawn from an RNG keyed by the
//! transcript, so a proof verifies only under exactly near's transcript.

use k256::elliptic_curve::subtle::ConstantTimeEq;
use k256::{ProjectivePoint, Scalar};
use rand_core::CryptoRngCore;

use super::strobe::Transcript;
use crate::near_compat::curve::{Curve, Secp256k1};

/// A proof: challenge `e` and response `s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proof {
    pub e: Scalar,
    pub s: Scalar,
}

/// Why a proof could not be made or checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// A point of the statement or commitment is the identity (not encodable).
    Identity,
    /// The recomputed challenge differs.
    Invalid,
}

fn enc(p: &ProjectivePoint) -> Result<alloc::vec::Vec<u8>, ProofError> {
    Secp256k1::point_to_bytes(p).ok_or(ProofError::Identity)
}

fn dlog_statement(public: &ProjectivePoint) -> Result<alloc::vec::Vec<u8>, ProofError> {
    let mut out = b"statement:public:".to_vec();
    out.extend_from_slice(&enc(public)?);
    Ok(out)
}

fn dlog_challenge(
    t: &mut Transcript,
    public: &ProjectivePoint,
    big_k: &ProjectivePoint,
) -> Result<Scalar, ProofError> {
    t.message(b"dlog proof statement", &dlog_statement(public)?);
    t.message(b"dlog proof commitment", &enc(big_k)?);
    let mut rng = t.challenge_rng(b"dlog proof challenge");
    Ok(Secp256k1::random_nonzero(&mut rng))
}

/// Proves knowledge of `x` for `public = x·G` on `transcript` (a fork made by the caller).
pub fn dlog_prove(
    mut transcript: Transcript,
    public: &ProjectivePoint,
    x: &Scalar,
    rng: &mut impl CryptoRngCore,
) -> Result<Proof, ProofError> {
    let k = Secp256k1::random_nonzero(rng);
    let e = dlog_challenge(&mut transcript, public, &(ProjectivePoint::GENERATOR * k))?;
    Ok(Proof { e, s: k + e * x })
}

pub fn dlog_verify(
    mut transcript: Transcript,
    public: &ProjectivePoint,
    proof: &Proof,
) -> Result<(), ProofError> {
    let big_k = ProjectivePoint::GENERATOR * proof.s - *public * proof.e;
    let e = dlog_challenge(&mut transcript, public, &big_k)?;
    if bool::from(e.ct_eq(&proof.e)) {
        Ok(())
    } else {
        Err(ProofError::Invalid)
    }
}

/// The dlogeq statement: `public0 = x·G`, `public1 = x·generator1`.
pub struct EqStatement<'a> {
    pub public0: &'a ProjectivePoint,
    pub generator1: &'a ProjectivePoint,
    pub public1: &'a ProjectivePoint,
}

fn dlogeq_challenge(
    t: &mut Transcript,
    st: &EqStatement<'_>,
    big_k0: &ProjectivePoint,
    big_k1: &ProjectivePoint,
) -> Result<Scalar, ProofError> {
    let mut statement = b"statement:public 0:".to_vec();
    statement.extend_from_slice(&enc(st.public0)?);
    statement.extend_from_slice(b"generator 1:");
    statement.extend_from_slice(&enc(st.generator1)?);
    statement.extend_from_slice(b"public 1:");
    statement.extend_from_slice(&enc(st.public1)?);
    t.message(b"dlogeq proof statement", &statement);
    let mut commitment = enc(big_k0)?;
    commitment.extend_from_slice(b" and ");
    commitment.extend_from_slice(&enc(big_k1)?);
    t.message(b"dlogeq proof commitment", &commitment);
    let mut rng = t.challenge_rng(b"dlogeq proof challenge");
    Ok(Secp256k1::random_nonzero(&mut rng))
}

pub fn dlogeq_prove(
    mut transcript: Transcript,
    st: &EqStatement<'_>,
    x: &Scalar,
    rng: &mut impl CryptoRngCore,
) -> Result<Proof, ProofError> {
    let k = Secp256k1::random_nonzero(rng);
    let big_k0 = ProjectivePoint::GENERATOR * k;
    let big_k1 = *st.generator1 * k;
    let e = dlogeq_challenge(&mut transcript, st, &big_k0, &big_k1)?;
    Ok(Proof { e, s: k + e * x })
}

pub fn dlogeq_verify(
    mut transcript: Transcript,
    st: &EqStatement<'_>,
    proof: &Proof,
) -> Result<(), ProofError> {
    let big_k0 = ProjectivePoint::GENERATOR * proof.s - *st.public0 * proof.e;
    let big_k1 = *st.generator1 * proof.s - *st.public1 * proof.e;
    let e = dlogeq_challenge(&mut transcript, st, &big_k0, &big_k1)?;
    if bool::from(e.ct_eq(&proof.e)) {
        Ok(())
    } else {
        Err(ProofError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::PrimeField;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn scalar(hex: &str) -> Scalar {
        let mut b = [0u8; 32];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        Scalar::from_repr(b.into()).unwrap()
    }

    /// The fixed proof published in near's crate (dlog test "verify fixed randomness"): it
    /// verifies only if our STROBE transcript, labels, encodings and challenge sampling are
    /// byte-for-byte near's.
    #[test]
    fn near_published_dlog_proof_verifies() {
        let x = scalar("FC9A011DF3753BD79D841C11F6521F25AD2AB1DECEB96B7E8C28D87EA3303A06");
        let proof = Proof {
            e: scalar("BA7718DDF60BC62FC6081B658322E908CD4FF161AB754748EC170CBC66898CDB"),
            s: scalar("5086B275DC32C8CD1AAD377918E0B622BAF92844BDC46808BD5568D6E304DB33"),
        };
        let public = ProjectivePoint::GENERATOR * x;
        let t = Transcript::new(b"protocol").fork(b"party", &[1]);
        dlog_verify(t.clone(), &public, &proof).unwrap();
        let wrong = Transcript::new(b"protocol").fork(b"party", &[2]);
        assert_eq!(
            dlog_verify(wrong, &public, &proof),
            Err(ProofError::Invalid)
        );
    }

    #[test]
    fn dlogeq_round_trip_and_rejects_other_statement() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let x = Secp256k1::random_nonzero(&mut rng);
        let h = ProjectivePoint::GENERATOR * Secp256k1::random_nonzero(&mut rng);
        let (p0, p1) = (ProjectivePoint::GENERATOR * x, h * x);
        let st = EqStatement {
            public0: &p0,
            generator1: &h,
            public1: &p1,
        };
        let t = Transcript::new(b"t");
        let proof = dlogeq_prove(t.clone(), &st, &x, &mut rng).unwrap();
        dlogeq_verify(t.clone(), &st, &proof).unwrap();
        let other = p1 + ProjectivePoint::GENERATOR;
        let bad = EqStatement {
            public1: &other,
            ..st
        };
        assert_eq!(dlogeq_verify(t, &bad, &proof), Err(ProofError::Invalid));
    }
}
