//! Distributed key generation, resharing and refresh: one protocol (a Feldman-VSS DKG with
//! commit-then-reveal and a final echo round) in three configurations.
//!
//! - **keygen**: every participant deals a random polynomial; the key is the sum of constants.
//! - **reshare**: at least `t_old` old holders deal their Lagrange-weighted share to a new
//!   participant set with a new threshold; each dealer's constant term is checked against the
//!   old public sharing (so a dealer cannot shift the key, and is named if it tries).
//! - **refresh**: a reshare onto the same set and threshold. Every share changes, the key does
//!   not, and the new `sharing_id` makes every triple and presignature of the old sharing unusable.
//!
//! Rounds: (1) each dealer broadcasts a hash commitment to its coefficient commitments;
//! (2) dealers open them and send each new participant its share privately; (3) everyone
//! broadcasts a digest of all broadcasts seen, and outputs once all digests agree.

use alloc::vec::Vec;
use core::fmt;
use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::Field;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use rand_core::CryptoRngCore;
use zeroize::Zeroize;

use crate::engine::{impl_protocol, Engine, Rounds};
use crate::error::{DecodeError, ProtocolError};
use crate::math::{
    add_commitments, base_mul, ct_eq32, eval_commitment, SecretPolynomial, Transcript,
};
use crate::participants::{ParticipantId, ParticipantList, MAX_PARTICIPANTS};
use crate::wire::{ProtocolKind, Reader, Writer};
use crate::SessionId;

/// The public side of a key sharing: who holds shares, the threshold, the Feldman commitments
/// to the sharing polynomial (so anyone can compute `share_i · G`), and its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicSharing {
    pub participants: ParticipantList,
    /// Shares needed to sign; the polynomial has `threshold` coefficients.
    pub threshold: usize,
    /// Coefficient commitments; `commitments[0]` is the public key.
    pub commitments: Vec<ProjectivePoint>,
    /// Unique per sharing: a hash of the session and every broadcast of the run that made it.
    pub sharing_id: [u8; 32],
    /// 0 after keygen, incremented by every reshare or refresh.
    pub epoch: u64,
}

impl PublicSharing {
    pub fn public_key(&self) -> AffinePoint {
        self.commitments
            .first()
            .copied()
            .unwrap_or(ProjectivePoint::IDENTITY)
            .to_affine()
    }

    /// `share_p · G` for participant `p`.
    pub fn share_commitment(&self, p: ParticipantId) -> ProjectivePoint {
        eval_commitment(&self.commitments, p)
    }

    fn write(&self, w: &mut Writer) {
        w.len(self.participants.len());
        for p in self.participants.iter() {
            w.u32(p.0);
        }
        w.u32(self.threshold as u32);
        w.points(&self.commitments);
        w.bytes(&self.sharing_id);
        w.u64(self.epoch);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.len(MAX_PARTICIPANTS, 4, "participants")?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(ParticipantId(r.u32("participant")?));
        }
        let participants = ParticipantList::new(&ids).ok_or(DecodeError::BadValue {
            what: "participants",
        })?;
        let threshold = r.u32("threshold")? as usize;
        if threshold == 0 || threshold > participants.len() {
            return Err(DecodeError::BadValue { what: "threshold" });
        }
        r.exact_len(threshold, 33, "commitments")?;
        let mut commitments = Vec::with_capacity(threshold);
        for _ in 0..threshold {
            commitments.push(r.point("commitment")?);
        }
        if bool::from(commitments[0].is_identity()) {
            return Err(DecodeError::BadPoint { what: "public key" });
        }
        let sharing_id = r.array32("sharing id")?;
        let epoch = r.u64("epoch")?;
        Ok(PublicSharing {
            participants,
            threshold,
            commitments,
            sharing_id,
            epoch,
        })
    }
}

/// One participant's share of the key. The secret is wiped on drop and never printed.
#[derive(Clone)]
pub struct KeyShare {
    pub public: PublicSharing,
    pub me: ParticipantId,
    secret: Scalar,
}

impl Drop for KeyShare {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyShare")
            .field("public", &self.public)
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

const KEY_SHARE_MAGIC: &[u8; 8] = b"tdss-ks1";

impl KeyShare {
    pub(crate) fn secret(&self) -> &Scalar {
        &self.secret
    }

    pub fn public_key(&self) -> AffinePoint {
        self.public.public_key()
    }

    pub fn sharing_id(&self) -> &[u8; 32] {
        &self.public.sharing_id
    }

    /// Serializes the share for sealed storage (contains the secret: seal it).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(KEY_SHARE_MAGIC);
        self.public.write(&mut w);
        w.u32(self.me.0);
        w.scalar(&self.secret);
        zeroize::Zeroizing::new(w.into_vec())
    }

    /// Parses and checks a stored share: the secret must match the public commitments.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.bytes(8, "magic")? != KEY_SHARE_MAGIC {
            return Err(DecodeError::BadValue { what: "magic" });
        }
        let public = PublicSharing::read(&mut r)?;
        let me = ParticipantId(r.u32("own id")?);
        let secret = r.scalar("secret share")?;
        r.finish()?;
        let share = KeyShare { public, me, secret };
        if !share.public.participants.contains(me)
            || base_mul(&share.secret) != share.public.share_commitment(me)
        {
            return Err(DecodeError::BadValue {
                what: "share does not match commitments",
            });
        }
        Ok(share)
    }
}

/// The DKG / reshare / refresh protocol for one participant. Output: `Some(share)` for members
/// of the new set, `None` for dealers who leave.
pub struct Dkg {
    engine: Engine,
    output: Option<Option<KeyShare>>,
    dealers: ParticipantList,
    new_participants: ParticipantList,
    new_threshold: usize,
    /// For reshare: the old sharing (dealer constants are checked against it).
    old: Option<PublicSharing>,
    epoch: u64,
    /// My dealt polynomial (dealers only).
    poly: Option<SecretPolynomial>,
    my_commitments: Vec<ProjectivePoint>,
    my_nonce: [u8; 32],
    commit_hashes: Vec<(ParticipantId, [u8; 32])>,
    /// Output computed in round 2, released after the echo check of round 3.
    pending: Option<(PublicSharing, Option<Scalar>, [u8; 32])>,
}

impl Drop for Dkg {
    fn drop(&mut self) {
        if let Some((_, Some(s), _)) = &mut self.pending {
            s.zeroize();
        }
    }
}

fn check_threshold(participants: &ParticipantList, threshold: usize) -> Result<(), ProtocolError> {
    if threshold == 0 || threshold > participants.len() {
        return Err(ProtocolError::BadInput(
            "threshold must be between 1 and the number of participants",
        ));
    }
    Ok(())
}

impl Rounds for Dkg {
    type Output = Option<KeyShare>;

    fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    fn output_slot(&mut self) -> &mut Option<Self::Output> {
        &mut self.output
    }

    fn step(&mut self) -> Result<Option<Self::Output>, ProtocolError> {
        match self.engine.round() {
            0 => {
                self.start();
                Ok(None)
            }
            ROUND_COMMIT => self.on_commit().map(|()| None),
            ROUND_OPEN => self.on_open().map(|()| None),
            _ => self.on_echo().map(Some),
        }
    }
}

impl_protocol!(plain Dkg, Option<KeyShare>);

const ROUND_COMMIT: u8 = 1;
const ROUND_OPEN: u8 = 2;
const ROUND_ECHO: u8 = 3;

impl Dkg {
    /// Fresh key generation among `participants` with threshold `threshold`.
    pub fn keygen(
        session: SessionId,
        participants: &ParticipantList,
        threshold: usize,
        me: ParticipantId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        check_threshold(participants, threshold)?;
        let constant = Scalar::random(&mut *rng);
        Self::build(
            session,
            participants.clone(),
            participants.clone(),
            threshold,
            None,
            0,
            Some(constant),
            me,
            rng,
        )
    }

    /// Moves the key held under `old` to `new_participants` with `new_threshold`.
    /// `dealers` (at least `old.threshold` old holders) deal; `my_share` is required for them.
    #[allow(clippy::too_many_arguments)]
    pub fn reshare(
        session: SessionId,
        old: &PublicSharing,
        dealers: &ParticipantList,
        my_share: Option<&KeyShare>,
        new_participants: &ParticipantList,
        new_threshold: usize,
        me: ParticipantId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        check_threshold(new_participants, new_threshold)?;
        if dealers.len() < old.threshold || !dealers.is_subset_of(&old.participants) {
            return Err(ProtocolError::BadInput(
                "dealers must be at least threshold old participants",
            ));
        }
        let constant = if dealers.contains(me) {
            let share = my_share.ok_or(ProtocolError::BadInput("a dealer needs its old share"))?;
            if share.me != me || share.public != *old {
                return Err(ProtocolError::BadInput(
                    "old share does not belong to the old sharing",
                ));
            }
            let lambda = dealers
                .lagrange(me)
                .ok_or(ProtocolError::BadInput("dealer not in dealer set"))?;
            Some(lambda * share.secret)
        } else {
            None
        };
        let epoch = old
            .epoch
            .checked_add(1)
            .ok_or(ProtocolError::BadInput("epoch overflow"))?;
        Self::build(
            session,
            dealers.clone(),
            new_participants.clone(),
            new_threshold,
            Some(old.clone()),
            epoch,
            constant,
            me,
            rng,
        )
    }

    /// New shares of the same key for the same participants and threshold.
    pub fn refresh(
        session: SessionId,
        share: &KeyShare,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        let p = &share.public;
        Self::reshare(
            session,
            p,
            &p.participants,
            Some(share),
            &p.participants,
            p.threshold,
            share.me,
            rng,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        session: SessionId,
        dealers: ParticipantList,
        new_participants: ParticipantList,
        new_threshold: usize,
        old: Option<PublicSharing>,
        epoch: u64,
        constant: Option<Scalar>,
        me: ParticipantId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        let all = dealers.union(&new_participants);
        let engine = Engine::new(ProtocolKind::Dkg, session, me, all, ROUND_ECHO)?;
        let poly = constant.map(|mut c| {
            let p = SecretPolynomial::random(new_threshold, c, rng);
            c.zeroize();
            p
        });
        let my_commitments = poly.as_ref().map(|p| p.commit()).unwrap_or_default();
        let mut my_nonce = [0u8; 32];
        rng.fill_bytes(&mut my_nonce);
        Ok(Dkg {
            engine,
            output: None,
            dealers,
            new_participants,
            new_threshold,
            old,
            epoch,
            poly,
            my_commitments,
            my_nonce,
            commit_hashes: Vec::new(),
            pending: None,
        })
    }

    fn commit_hash(
        &self,
        who: ParticipantId,
        commitments: &[ProjectivePoint],
        nonce: &[u8; 32],
    ) -> [u8; 32] {
        let mut t = Transcript::new(b"dkg commit");
        t.append(self.engine.session()).append_u32(who.0);
        for c in commitments {
            t.append_point(c);
        }
        t.append(nonce);
        t.finish()
    }

    fn start(&mut self) {
        let me = self.engine.me;
        if self.poly.is_some() {
            let h = self.commit_hash(me, &self.my_commitments, &self.my_nonce);
            self.engine.send_all(ROUND_COMMIT, h.to_vec());
        }
        let dealers: Vec<_> = self.dealers.iter().collect();
        self.engine.expect(ROUND_COMMIT, &dealers, &[]);
    }

    fn on_commit(&mut self) -> Result<(), ProtocolError> {
        let me = self.engine.me;
        for d in self.dealers.clone().iter() {
            if d == me {
                continue;
            }
            let bytes = self.engine.take_broadcast(d);
            let mut r = Reader::new(&bytes);
            let h = r
                .array32("commitment hash")
                .and_then(|h| r.finish().map(|()| h));
            let h = h.map_err(|error| ProtocolError::Malformed { from: d, error })?;
            self.commit_hashes.push((d, h));
        }
        if let Some(poly) = &self.poly {
            let mut w = Writer::new();
            w.points(&self.my_commitments);
            w.bytes(&self.my_nonce);
            self.engine.send_all(ROUND_OPEN, w.into_vec());
            for p in self.new_participants.others(me) {
                let mut s = poly.eval(&p.scalar());
                self.engine.send_to(ROUND_OPEN, p, &s.to_bytes());
                s.zeroize();
            }
        }
        let dealers: Vec<_> = self.dealers.iter().collect();
        let private: &[ParticipantId] = if self.new_participants.contains(me) {
            &dealers
        } else {
            &[]
        };
        self.engine.expect(ROUND_OPEN, &dealers, private);
        Ok(())
    }

    fn on_open(&mut self) -> Result<(), ProtocolError> {
        let me = self.engine.me;
        let am_new = self.new_participants.contains(me);
        let t = self.new_threshold;
        let mut sum_commitments = self.my_commitments.clone();
        if sum_commitments.is_empty() {
            sum_commitments = alloc::vec![ProjectivePoint::IDENTITY; t];
        }
        let mut my_share = match (&self.poly, am_new) {
            (Some(p), true) => p.eval(&me.scalar()),
            _ => Scalar::ZERO,
        };
        self.check_dealer_constant(me, &self.my_commitments.clone())?;
        let hashes = core::mem::take(&mut self.commit_hashes);
        for (d, expected_hash) in hashes {
            let bytes = self.engine.take_broadcast(d);
            let mut r = Reader::new(&bytes);
            let parsed = (|| {
                r.exact_len(t, 33, "commitments")?;
                let mut cs = Vec::with_capacity(t);
                for _ in 0..t {
                    cs.push(r.point("commitment")?);
                }
                let nonce = r.array32("nonce")?;
                r.finish()?;
                Ok((cs, nonce))
            })();
            let (cs, nonce) =
                parsed.map_err(|error| ProtocolError::Malformed { from: d, error })?;
            if !ct_eq32(&self.commit_hash(d, &cs, &nonce), &expected_hash) {
                return Err(ProtocolError::BadCommitment { culprit: d });
            }
            self.check_dealer_constant(d, &cs)?;
            if am_new {
                let bytes = self.engine.take_private(d);
                let mut r = Reader::new(&bytes);
                let s = r.scalar("share").and_then(|s| r.finish().map(|()| s));
                let mut s = s.map_err(|error| ProtocolError::Malformed { from: d, error })?;
                if base_mul(&s) != eval_commitment(&cs, me) {
                    s.zeroize();
                    return Err(ProtocolError::BadShare { culprit: d });
                }
                my_share += s;
                s.zeroize();
            }
            add_commitments(&mut sum_commitments, &cs);
        }
        // Keygen: the key must not be the identity (only possible if dealers collude to cancel).
        let pk = sum_commitments[0];
        if bool::from(pk.is_identity()) {
            my_share.zeroize();
            return Err(ProtocolError::Degenerate("public key is the identity"));
        }
        if let Some(old) = &self.old {
            if pk != old.commitments[0] {
                my_share.zeroize();
                return Err(ProtocolError::Degenerate(
                    "reshared key differs from the old key",
                ));
            }
        }
        let digest = self.engine.broadcast_digest();
        self.engine.send_all(ROUND_ECHO, digest.to_vec());
        let all: Vec<_> = self.engine.participants().iter().collect();
        self.engine.expect(ROUND_ECHO, &all, &[]);
        let mut t = Transcript::new(b"sharing id");
        t.append(&digest).append(&self.epoch.to_le_bytes());
        let public = PublicSharing {
            participants: self.new_participants.clone(),
            threshold: self.new_threshold,
            commitments: sum_commitments,
            sharing_id: t.finish(),
            epoch: self.epoch,
        };
        self.pending = Some((public, am_new.then_some(my_share), digest));
        my_share.zeroize();
        Ok(())
    }

    /// In a reshare, dealer `d`'s constant must be `λ_d · share_d · G`.
    fn check_dealer_constant(
        &self,
        d: ParticipantId,
        cs: &[ProjectivePoint],
    ) -> Result<(), ProtocolError> {
        let Some(old) = &self.old else { return Ok(()) };
        if cs.is_empty() {
            return Ok(());
        }
        let lambda = self
            .dealers
            .lagrange(d)
            .ok_or(ProtocolError::UnexpectedSender {
                from: d,
                round: ROUND_OPEN,
            })?;
        if cs[0] != old.share_commitment(d) * lambda {
            return Err(ProtocolError::BadShare { culprit: d });
        }
        Ok(())
    }

    fn on_echo(&mut self) -> Result<Option<KeyShare>, ProtocolError> {
        let Some((public, secret, digest)) = self.pending.take() else {
            return Err(ProtocolError::BadInput(
                "internal: echo without pending output",
            ));
        };
        for p in self.engine.participants().clone().others(self.engine.me) {
            let bytes = self.engine.take_broadcast(p);
            if bytes.len() != 32
                || !ct_eq32(&digest, bytes.as_slice().try_into().unwrap_or(&[0u8; 32]))
            {
                return Err(ProtocolError::InconsistentBroadcast { culprit: p });
            }
        }
        Ok(secret.map(|secret| KeyShare {
            public,
            me: self.engine.me,
            secret,
        }))
    }
}
