//! Signing: one round in which each participant sends its signature share to a coordinator,
//! which combines, normalizes to low-s, computes the recovery id and verifies.
//!
//! The presignature is first rerandomized (Groth–Shoup 2021/1330 style) with
//! `δ = H(pk, tweak, msg_hash, R, participants, entropy)`: `R' = δ·R`, `k' = k/δ`,
//! `σ' = (σ + tweak·k)/δ`. The tweak term moves the presignature to the NEAR-derived key
//! `pk + tweak·G` (every share `x_i` effectively becomes `x_i + tweak`), and δ makes `R'`
//! depend on the request, so a presignature can never be steered onto a chosen `R'`.
//! Share `s_i = h·k'_i + r·σ'_i`; `s = Σ λ_i s_i = k'(h + r·x') `. If the combined signature does
//! not verify, the coordinator checks each share against the presignature's commitments and
//! names the first participant whose share is wrong.

use alloc::vec::Vec;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar, U256};
use zeroize::Zeroize;

use crate::engine::{impl_protocol, Engine, Rounds};
use crate::error::ProtocolError;
use crate::keygen::KeyShare;
use crate::math::{base_mul, eval_commitment, Transcript};
use crate::participants::ParticipantId;
use crate::presign::PresignatureShare;
use crate::wire::{ProtocolKind, Reader, Writer};
use crate::SessionId;

/// What is signed, and under which derived key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignRequest {
    /// The 32-byte payload (already a hash), as in the contract's `payload_v2.Ecdsa`.
    pub msg_hash: [u8; 32],
    /// The NEAR derivation tweak (see [`crate::near::derive_tweak`]); zero for the root key.
    pub tweak: Scalar,
    /// Public randomness agreed by all signers (near/mpc: the block's `random_value`).
    pub entropy: [u8; 32],
}

/// A complete ECDSA signature with its recovery id; `s` is low (≤ n/2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FullSignature {
    pub big_r: AffinePoint,
    pub s: Scalar,
    pub recovery_id: u8,
}

impl FullSignature {
    /// `r`: the x-coordinate of `R` reduced modulo n.
    pub fn r(&self) -> Scalar {
        <Scalar as Reduce<U256>>::reduce_bytes(&self.big_r.x())
    }

    /// Verifies against `public_key` with k256's ECDSA verifier (which requires low s).
    pub fn verify(&self, public_key: &AffinePoint, msg_hash: &[u8; 32]) -> bool {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        let Ok(vk) = VerifyingKey::from_affine(*public_key) else {
            return false;
        };
        let Ok(sig) = Signature::from_scalars(self.r().to_repr(), self.s.to_repr()) else {
            return false;
        };
        vk.verify_prehash(msg_hash, &sig).is_ok()
    }

    /// Recovers the public key from the signature and recovery id (what a chain does).
    pub fn recover(&self, msg_hash: &[u8; 32]) -> Option<AffinePoint> {
        let sig = Signature::from_scalars(self.r().to_repr(), self.s.to_repr()).ok()?;
        let rid = RecoveryId::from_byte(self.recovery_id)?;
        VerifyingKey::recover_from_prehash(msg_hash, &sig, rid)
            .ok()
            .map(|vk| *vk.as_affine())
    }
}

/// The NEAR-derived public key `pk + tweak·G`.
pub fn derived_public_key(root: &AffinePoint, tweak: &Scalar) -> AffinePoint {
    (ProjectivePoint::from(*root) + base_mul(tweak)).to_affine()
}

const R_SHARE: u8 = 1;

/// The signing protocol for one participant; consumes the presignature. Output: `Some` at the
/// coordinator, `None` elsewhere.
pub struct Sign {
    engine: Engine,
    output: Option<Option<FullSignature>>,
    coordinator: ParticipantId,
    presig: PresignatureShare,
    root: AffinePoint,
    request: SignRequest,
    delta_inv: Scalar,
    big_r: AffinePoint,
    my_share: Scalar,
}

impl Drop for Sign {
    fn drop(&mut self) {
        self.my_share.zeroize();
    }
}

impl Sign {
    /// `key` supplies the public key and the sharing the presignature must belong to.
    pub fn new(
        session: SessionId,
        key: &KeyShare,
        presig: PresignatureShare,
        request: SignRequest,
        coordinator: ParticipantId,
    ) -> Result<Self, ProtocolError> {
        if presig.sharing_id != key.public.sharing_id {
            return Err(ProtocolError::BadInput(
                "presignature belongs to another key sharing",
            ));
        }
        if presig.me != key.me || !presig.participants.contains(coordinator) {
            return Err(ProtocolError::BadInput(
                "participant or coordinator not in the presignature",
            ));
        }
        let root = key.public_key();
        let mut t = Transcript::new(b"presignature rerandomization");
        t.append_point(&root.into())
            .append_scalar(&request.tweak)
            .append(&request.msg_hash)
            .append_point(&presig.big_r.into());
        let mut ids = Vec::new();
        presig.participants.encode_into(&mut ids);
        t.append(&ids).append(&request.entropy);
        let delta = t.challenge();
        let delta_inv: Option<Scalar> = delta.invert().into();
        let delta_inv = delta_inv.ok_or(ProtocolError::Degenerate("rerandomizer is zero"))?;
        let big_r = (ProjectivePoint::from(presig.big_r) * delta).to_affine();
        let engine = Engine::new(
            ProtocolKind::Sign,
            session,
            key.me,
            presig.participants.clone(),
            R_SHARE,
        )?;
        Ok(Sign {
            engine,
            output: None,
            coordinator,
            presig,
            root,
            request,
            delta_inv,
            big_r,
            my_share: Scalar::ZERO,
        })
    }

    fn r(&self) -> Scalar {
        <Scalar as Reduce<U256>>::reduce_bytes(&self.big_r.x())
    }

    fn h(&self) -> Scalar {
        <Scalar as Reduce<U256>>::reduce_bytes(&FieldBytes::from(self.request.msg_hash))
    }

    fn start(&mut self) -> Option<Option<FullSignature>> {
        let (h, r) = (self.h(), self.r());
        let mut k = self.presig.k * self.delta_inv;
        let mut sigma = (self.presig.sigma + self.request.tweak * self.presig.k) * self.delta_inv;
        self.my_share = h * k + r * sigma;
        k.zeroize();
        sigma.zeroize();
        if self.engine.me != self.coordinator {
            let mut w = Writer::new();
            w.scalar(&self.my_share);
            self.engine.send_to(R_SHARE, self.coordinator, &w.buf);
            return Some(None);
        }
        let others: Vec<_> = self.engine.participants().others(self.engine.me).collect();
        self.engine.expect(R_SHARE, &[], &others);
        None
    }

    fn on_shares(&mut self) -> Result<FullSignature, ProtocolError> {
        let me = self.engine.me;
        let set = self.engine.participants().clone();
        let mut shares = Vec::with_capacity(set.len());
        shares.push((me, self.my_share));
        for j in set.others(me) {
            let bytes = self.engine.take_private(j);
            let mut r = Reader::new(&bytes);
            let s = r
                .scalar("signature share")
                .and_then(|s| r.finish().map(|()| s));
            shares.push((
                j,
                s.map_err(|error| ProtocolError::Malformed { from: j, error })?,
            ));
        }
        let mut s = Scalar::ZERO;
        for (p, s_p) in &shares {
            s += set.lagrange(*p).unwrap_or(Scalar::ZERO) * s_p;
        }
        let pk = derived_public_key(&self.root, &self.request.tweak);
        if let Some(sig) = finalize(self.big_r, s) {
            if sig.verify(&pk, &self.request.msg_hash) {
                return Ok(sig);
            }
        }
        // Blame: s_j·δ·G must equal (h + r·tweak)·K(j) + r·Σ(j).
        let (h, r) = (self.h(), self.r());
        let delta = self.delta_inv.invert().unwrap_or(Scalar::ZERO);
        for (p, s_p) in &shares {
            let expected = eval_commitment(&self.presig.k_commitments, *p)
                * (h + r * self.request.tweak)
                + self.presig.sigma_commitment(*p) * r;
            if base_mul(&(*s_p * delta)) != expected {
                return Err(ProtocolError::BadShare { culprit: *p });
            }
        }
        Err(ProtocolError::InvalidSignature)
    }
}

/// Builds the low-s signature and recovery id from `R` and raw `s`; `None` if r or s is zero.
pub fn finalize(big_r: AffinePoint, s: Scalar) -> Option<FullSignature> {
    let x = big_r.x();
    let r = <Scalar as Reduce<U256>>::reduce_bytes(&x);
    if bool::from(r.is_zero()) || bool::from(s.is_zero()) {
        return None;
    }
    let x_reduced = r.to_repr() != x;
    let mut recovery_id = u8::from(bool::from(big_r.y_is_odd())) | (u8::from(x_reduced) << 1);
    let s = if bool::from(s.is_high()) {
        recovery_id ^= 1;
        -s
    } else {
        s
    };
    Some(FullSignature {
        big_r,
        s,
        recovery_id,
    })
}

impl Rounds for Sign {
    type Output = Option<FullSignature>;

    fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    fn output_slot(&mut self) -> &mut Option<Self::Output> {
        &mut self.output
    }

    fn step(&mut self) -> Result<Option<Self::Output>, ProtocolError> {
        match self.engine.round() {
            0 => Ok(self.start()),
            _ => self.on_shares().map(|s| Some(Some(s))),
        }
    }
}

impl_protocol!(plain Sign, Option<FullSignature>);
