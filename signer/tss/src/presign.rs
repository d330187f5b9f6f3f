//! Presigning: turns two triples and the key share into a presignature `(R, k_i, σ_i)` with
//! `R = k⁻¹·G` and `σ = k·x`, in one broadcast round.
//!
//! With triples `(a, b, c = ab)` and `(a', b', c' = a'b')`: `k = a`, `d = b`, `kd = c` is opened
//! (safe: `d` is uniform), and `k·x` is a Beaver multiplication that opens `ε = k − a'` and
//! `ρ = x − b'`. Then `R = (kd)⁻¹·D` (with `D = d·G`) and `σ = c' + ε·b' + ρ·a' + ερ`. Every
//! opened share is checked against the Feldman commitments of the triples and of the key, so
//! a participant who sends a wrong value is named. The output also carries commitments to the
//! sharings of `k` and `σ`, which lets the signing coordinator blame a wrong signature share.

use alloc::vec::Vec;
use core::fmt;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use zeroize::Zeroize;

use crate::engine::{impl_protocol, Engine, Rounds};
use crate::error::{DecodeError, ProtocolError};
use crate::keygen::KeyShare;
use crate::math::{base_mul, eval_commitment, Transcript};
use crate::participants::{ParticipantId, ParticipantList, MAX_PARTICIPANTS};
use crate::triples::TripleShare;
use crate::wire::{ProtocolKind, Reader, Writer};
use crate::SessionId;

/// One participant's share of a presignature. Use once; secrets wiped on drop.
#[derive(Clone)]
pub struct PresignatureShare {
    /// Identifier (hash of the two triples' ids), equal at every participant.
    pub id: [u8; 32],
    pub participants: ParticipantList,
    pub threshold: usize,
    /// The key sharing this presignature was made with; refused under any other sharing.
    pub sharing_id: [u8; 32],
    pub me: ParticipantId,
    /// `R = k⁻¹·G`.
    pub big_r: AffinePoint,
    pub(crate) k: Scalar,
    pub(crate) sigma: Scalar,
    /// Commitments to the sharing of `k` (threshold points).
    pub k_commitments: Vec<ProjectivePoint>,
    /// What the commitment to the sharing of `σ = k·x` is computed from, only when needed
    /// (blame at signing, stored-share checks): the second triple's commitments and the
    /// public openings `ε`, `ρ`, with `Σ = C' + ε·B' + ρ·A' + ερ·G`.
    pub a1_commitments: Vec<ProjectivePoint>,
    pub b1_commitments: Vec<ProjectivePoint>,
    pub c1_commitments: Vec<ProjectivePoint>,
    pub epsilon: Scalar,
    pub rho: Scalar,
}

impl Drop for PresignatureShare {
    fn drop(&mut self) {
        self.k.zeroize();
        self.sigma.zeroize();
    }
}

impl fmt::Debug for PresignatureShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignatureShare")
            .field("id", &self.id)
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

const PRESIG_MAGIC: &[u8; 8] = b"tdss-ps2";

impl PresignatureShare {
    /// `σ_p·G` for participant `p`.
    pub fn sigma_commitment(&self, p: ParticipantId) -> ProjectivePoint {
        eval_commitment(&self.c1_commitments, p)
            + eval_commitment(&self.b1_commitments, p) * self.epsilon
            + eval_commitment(&self.a1_commitments, p) * self.rho
            + base_mul(&(self.epsilon * self.rho))
    }

    /// Serializes the share for sealed storage (contains secrets: seal it).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(PRESIG_MAGIC);
        w.bytes(&self.id);
        w.len(self.participants.len());
        for p in self.participants.iter() {
            w.u32(p.0);
        }
        w.u32(self.threshold as u32);
        w.bytes(&self.sharing_id);
        w.u32(self.me.0);
        w.point(&ProjectivePoint::from(self.big_r));
        w.scalar(&self.k);
        w.scalar(&self.sigma);
        w.points(&self.k_commitments);
        w.points(&self.a1_commitments);
        w.points(&self.b1_commitments);
        w.points(&self.c1_commitments);
        w.scalar(&self.epsilon);
        w.scalar(&self.rho);
        zeroize::Zeroizing::new(w.into_vec())
    }

    /// Parses a stored share and checks the secrets against the commitments.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.bytes(8, "magic")? != PRESIG_MAGIC {
            return Err(DecodeError::BadValue { what: "magic" });
        }
        let id = r.array32("presignature id")?;
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
        let sharing_id = r.array32("sharing id")?;
        let me = ParticipantId(r.u32("own id")?);
        let big_r = r.point("R")?.to_affine();
        let k = r.scalar("k")?;
        let sigma = r.scalar("sigma")?;
        let mut read_points = |what| -> Result<Vec<ProjectivePoint>, DecodeError> {
            r.exact_len(threshold, 33, what)?;
            (0..threshold).map(|_| r.point(what)).collect()
        };
        let k_commitments = read_points("k commitments")?;
        let a1_commitments = read_points("a' commitments")?;
        let b1_commitments = read_points("b' commitments")?;
        let c1_commitments = read_points("c' commitments")?;
        let epsilon = r.scalar("epsilon")?;
        let rho = r.scalar("rho")?;
        r.finish()?;
        let p = PresignatureShare {
            id,
            participants,
            threshold,
            sharing_id,
            me,
            big_r,
            k,
            sigma,
            k_commitments,
            a1_commitments,
            b1_commitments,
            c1_commitments,
            epsilon,
            rho,
        };
        if !p.participants.contains(me)
            || big_r == AffinePoint::IDENTITY
            || base_mul(&p.k) != eval_commitment(&p.k_commitments, me)
            || base_mul(&p.sigma) != p.sigma_commitment(me)
        {
            return Err(DecodeError::BadValue {
                what: "presignature does not match commitments",
            });
        }
        Ok(p)
    }
}

const R_OPEN: u8 = 1;

/// The presigning protocol for one participant. Consumes the two triples.
pub struct Presign {
    engine: Engine,
    output: Option<PresignatureShare>,
    key_public: crate::keygen::PublicSharing,
    t0: TripleShare,
    t1: TripleShare,
    x: Scalar,
}

impl Drop for Presign {
    fn drop(&mut self) {
        self.x.zeroize();
    }
}

impl Presign {
    /// All participants of both triples take part. The triples must have been generated for
    /// this key sharing (`sharing_id`) among the same participants with the key's threshold.
    pub fn new(
        session: SessionId,
        key: &KeyShare,
        t0: TripleShare,
        t1: TripleShare,
    ) -> Result<Self, ProtocolError> {
        let public = &key.public;
        if t0.sharing_id != public.sharing_id || t1.sharing_id != public.sharing_id {
            return Err(ProtocolError::BadInput(
                "triple belongs to another key sharing",
            ));
        }
        if t0.participants != t1.participants
            || t0.threshold != public.threshold
            || t1.threshold != public.threshold
        {
            return Err(ProtocolError::BadInput(
                "triples disagree on participants or threshold",
            ));
        }
        if t0.id == t1.id {
            return Err(ProtocolError::BadInput("the two triples must differ"));
        }
        if t0.me != key.me || t1.me != key.me {
            return Err(ProtocolError::BadInput(
                "triples belong to another participant",
            ));
        }
        if !t0.participants.is_subset_of(&public.participants)
            || t0.participants.len() < public.threshold
        {
            return Err(ProtocolError::BadInput(
                "presign participants must be at least threshold key holders",
            ));
        }
        let engine = Engine::new(
            ProtocolKind::Presign,
            session,
            key.me,
            t0.participants.clone(),
            R_OPEN,
        )?;
        Ok(Presign {
            engine,
            output: None,
            key_public: public.clone(),
            t0,
            t1,
            x: *key.secret(),
        })
    }

    fn start(&mut self) {
        let mut w = Writer::new();
        let mut eps = self.t0.a - self.t1.a;
        let mut rho = self.x - self.t1.b;
        w.scalar(&self.t0.c);
        w.scalar(&eps);
        w.scalar(&rho);
        eps.zeroize();
        rho.zeroize();
        self.engine.send_all(R_OPEN, w.into_vec());
        let all: Vec<_> = self.engine.participants().iter().collect();
        self.engine.expect(R_OPEN, &all, &[]);
    }

    fn on_open(&mut self) -> Result<PresignatureShare, ProtocolError> {
        let me = self.engine.me;
        let set = self.engine.participants().clone();
        let lam = |p| set.lagrange(p).unwrap_or(Scalar::ZERO);
        let mut opened = Vec::with_capacity(set.len());
        opened.push((me, self.t0.c, self.t0.a - self.t1.a, self.x - self.t1.b));
        for j in set.others(me) {
            let bytes = self.engine.take_broadcast(j);
            let mut r = Reader::new(&bytes);
            let parsed = (|| {
                let v = (
                    r.scalar("kd share")?,
                    r.scalar("epsilon share")?,
                    r.scalar("rho share")?,
                );
                r.finish()?;
                Ok(v)
            })();
            let (kd_j, eps_j, rho_j) =
                parsed.map_err(|error| ProtocolError::Malformed { from: j, error })?;
            opened.push((j, kd_j, eps_j, rho_j));
        }
        let (mut kd, mut eps, mut rho) = (Scalar::ZERO, Scalar::ZERO, Scalar::ZERO);
        for (p, kd_p, eps_p, rho_p) in &opened {
            let l = lam(*p);
            kd += l * kd_p;
            eps += l * eps_p;
            rho += l * rho_p;
        }
        // Optimistic check of the opened values against the public points; only if it fails are
        // the individual shares checked against the commitments to find who sent a wrong one.
        let (a0, a1, b1, c0) = (
            self.t0.a_commitments[0],
            self.t1.a_commitments[0],
            self.t1.b_commitments[0],
            self.t0.c_commitments[0],
        );
        let pk = self.key_public.commitments[0];
        if base_mul(&kd) != c0 || base_mul(&eps) != a0 - a1 || base_mul(&rho) != pk - b1 {
            for (j, kd_j, eps_j, rho_j) in opened.iter().skip(1) {
                let j = *j;
                let ok = base_mul(kd_j) == eval_commitment(&self.t0.c_commitments, j)
                    && base_mul(eps_j)
                        == eval_commitment(&self.t0.a_commitments, j)
                            - eval_commitment(&self.t1.a_commitments, j)
                    && base_mul(rho_j)
                        == self.key_public.share_commitment(j)
                            - eval_commitment(&self.t1.b_commitments, j);
                if !ok {
                    return Err(ProtocolError::BadShare { culprit: j });
                }
            }
            return Err(ProtocolError::BadInput(
                "own triple or key share does not match its commitments",
            ));
        }
        for (_, _, e, r) in opened.iter_mut() {
            e.zeroize();
            r.zeroize();
        }
        let kd_inv: Option<Scalar> = kd.invert().into();
        let kd_inv = kd_inv.ok_or(ProtocolError::Degenerate("k·d is zero"))?;
        let big_r = (self.t0.b_commitments[0] * kd_inv).to_affine();
        let sigma = self.t1.c + eps * self.t1.b + rho * self.t1.a + eps * rho;
        let mut t = Transcript::new(b"presignature id");
        t.append(&self.t0.id)
            .append(&self.t1.id)
            .append(self.engine.session());
        let out = PresignatureShare {
            id: t.finish(),
            participants: set.clone(),
            threshold: self.t0.threshold,
            sharing_id: self.t0.sharing_id,
            me,
            big_r,
            k: self.t0.a,
            sigma,
            k_commitments: self.t0.a_commitments.clone(),
            a1_commitments: self.t1.a_commitments.clone(),
            b1_commitments: self.t1.b_commitments.clone(),
            c1_commitments: self.t1.c_commitments.clone(),
            epsilon: eps,
            rho,
        };
        Ok(out)
    }
}

impl Rounds for Presign {
    type Output = PresignatureShare;

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
            _ => self.on_open().map(Some),
        }
    }
}

impl_protocol!(plain Presign, PresignatureShare);
