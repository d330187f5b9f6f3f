//! Beaver triple generation: random `a`, `b` and `c = a·b`, Shamir-shared with threshold `t`
//! among a fixed participant set, with Feldman commitments to all three sharings.
//!
//! Security holds against any number of corrupted participants below `n` for privacy of the
//! triple... up to `t - 1` colluders (dishonest majority allowed: no honest-majority
//! multiplication is used). The product is computed with pairwise OT-based MtA (see `ot`),
//! and its correctness is checked publicly: every participant proves with Chaum–Pedersen that
//! `C_i = e_i·F` for its committed `E_i = e_i·G`, and the committed sharing of `c` must open to
//! `Σ C_i = a·b·G`. Cheating in the commitments, shares, proofs or OT check is attributed;
//! cheating inside the MtA values is detected (abort) but not attributed.
//!
//! Rounds (all vectorised over a batch of triples):
//! 1. broadcast `H(E_i, F_i, nonce)`; to each peer, base-OT `Y` (peer as OT sender).
//! 2. broadcast the opening; to each peer, its shares `e_i(j)`, `f_i(j)` and base-OT `X_l`.
//! 3. to each peer, the OT extension matrix and KOS check values.
//! 4. to each peer, the correlated-OT corrections `τ`.
//! 5. broadcast commitments `L_i` to a sharing of own additive product share, `C_i`, proof;
//!    to each peer, `l_i(j)`.
//! 6. broadcast a digest of every broadcast seen; output when all agree.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_core::CryptoRngCore;
use zeroize::Zeroize;

use crate::engine::{impl_protocol, Engine, Rounds};
use crate::error::{DecodeError, ProtocolError};
use crate::math::{
    add_commitments, base_mul, ct_eq32, eval_commitment, DleqProof, SecretPolynomial, Transcript,
};
use crate::ot::{extension_len, PairContext, ReceiverSide, SenderSide, KAPPA, MTA_OTS};
use crate::participants::{ParticipantId, ParticipantList, MAX_PARTICIPANTS};
use crate::wire::{ProtocolKind, Reader, Writer};
use crate::SessionId;

/// Most triples one run may generate (bounds message sizes, ~0.8 MB per peer per round).
pub const MAX_BATCH: usize = 64;

/// One participant's share of a Beaver triple. Use each triple once; secrets wiped on drop.
#[derive(Clone)]
pub struct TripleShare {
    /// Unique identifier of the triple (same at every participant).
    pub id: [u8; 32],
    pub participants: ParticipantList,
    pub threshold: usize,
    /// The key sharing this triple is bound to; refused under any other sharing.
    pub sharing_id: [u8; 32],
    pub me: ParticipantId,
    pub(crate) a: Scalar,
    pub(crate) b: Scalar,
    pub(crate) c: Scalar,
    /// Feldman commitments (threshold points each) to the sharings of `a`, `b`, `c`.
    pub a_commitments: Vec<ProjectivePoint>,
    pub b_commitments: Vec<ProjectivePoint>,
    pub c_commitments: Vec<ProjectivePoint>,
}

impl Drop for TripleShare {
    fn drop(&mut self) {
        self.a.zeroize();
        self.b.zeroize();
        self.c.zeroize();
    }
}

impl fmt::Debug for TripleShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TripleShare")
            .field("id", &self.id)
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

const TRIPLE_MAGIC: &[u8; 8] = b"tdss-tr1";

impl TripleShare {
    /// Serializes the share for sealed storage (contains secrets: seal it).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(TRIPLE_MAGIC);
        w.bytes(&self.id);
        w.len(self.participants.len());
        for p in self.participants.iter() {
            w.u32(p.0);
        }
        w.u32(self.threshold as u32);
        w.bytes(&self.sharing_id);
        w.u32(self.me.0);
        w.scalar(&self.a);
        w.scalar(&self.b);
        w.scalar(&self.c);
        w.points(&self.a_commitments);
        w.points(&self.b_commitments);
        w.points(&self.c_commitments);
        zeroize::Zeroizing::new(w.into_vec())
    }

    /// Parses a stored share and checks the secrets against the commitments.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.bytes(8, "magic")? != TRIPLE_MAGIC {
            return Err(DecodeError::BadValue { what: "magic" });
        }
        let id = r.array32("triple id")?;
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
        let (a, b, c) = (r.scalar("a")?, r.scalar("b")?, r.scalar("c")?);
        let mut read_points = |what| -> Result<Vec<ProjectivePoint>, DecodeError> {
            r.exact_len(threshold, 33, what)?;
            (0..threshold).map(|_| r.point(what)).collect()
        };
        let a_commitments = read_points("a commitments")?;
        let b_commitments = read_points("b commitments")?;
        let c_commitments = read_points("c commitments")?;
        r.finish()?;
        let t = TripleShare {
            id,
            participants,
            threshold,
            sharing_id,
            me,
            a,
            b,
            c,
            a_commitments,
            b_commitments,
            c_commitments,
        };
        if !t.participants.contains(me)
            || base_mul(&t.a) != eval_commitment(&t.a_commitments, me)
            || base_mul(&t.b) != eval_commitment(&t.b_commitments, me)
            || base_mul(&t.c) != eval_commitment(&t.c_commitments, me)
        {
            return Err(DecodeError::BadValue {
                what: "triple does not match commitments",
            });
        }
        Ok(t)
    }

    /// `a·G`, `b·G`, `c·G` of the whole triple.
    pub fn public_points(&self) -> (ProjectivePoint, ProjectivePoint, ProjectivePoint) {
        (
            self.a_commitments[0],
            self.b_commitments[0],
            self.c_commitments[0],
        )
    }
}

const R_COMMIT: u8 = 1;
const R_OPEN: u8 = 2;
const R_EXTEND: u8 = 3;
const R_CORRECT: u8 = 4;
const R_PRODUCT: u8 = 5;
const R_ECHO: u8 = 6;

/// Commitments to the `c` sharings, my `c` shares and the echo digest, held for the echo round.
type PendingOutput = (Vec<Vec<ProjectivePoint>>, Vec<Scalar>, [u8; 32]);

/// Per-peer values received in the opening round.
struct PeerOpening {
    e: Vec<Vec<ProjectivePoint>>,
}

/// Generates a batch of triples among `participants`; output: one [`TripleShare`] per triple.
pub struct TripleGeneration<R> {
    engine: Engine,
    rng: R,
    output: Option<Vec<TripleShare>>,
    threshold: usize,
    sharing_id: [u8; 32],
    count: usize,
    e_polys: Vec<SecretPolynomial>,
    f_polys: Vec<SecretPolynomial>,
    e_comm: Vec<Vec<ProjectivePoint>>,
    f_comm: Vec<Vec<ProjectivePoint>>,
    nonce: [u8; 32],
    commit_hashes: BTreeMap<ParticipantId, [u8; 32]>,
    receivers: BTreeMap<ParticipantId, ReceiverSide>,
    senders: BTreeMap<ParticipantId, SenderSide>,
    openings: BTreeMap<ParticipantId, PeerOpening>,
    e_sum: Vec<Vec<ProjectivePoint>>,
    f_sum: Vec<Vec<ProjectivePoint>>,
    a_shares: Vec<Scalar>,
    b_shares: Vec<Scalar>,
    gamma: Vec<Scalar>,
    l_polys: Vec<SecretPolynomial>,
    l_comm: Vec<Vec<ProjectivePoint>>,
    my_cs: Vec<ProjectivePoint>,
    pending: Option<PendingOutput>,
}

impl<R> Drop for TripleGeneration<R> {
    fn drop(&mut self) {
        self.a_shares.zeroize();
        self.b_shares.zeroize();
        self.gamma.zeroize();
        if let Some((_, c, _)) = &mut self.pending {
            c.zeroize();
        }
    }
}

impl<R: CryptoRngCore> TripleGeneration<R> {
    /// `sharing_id` binds the triples to the key sharing they will be used with.
    pub fn new(
        session: SessionId,
        participants: &ParticipantList,
        threshold: usize,
        sharing_id: [u8; 32],
        count: usize,
        me: ParticipantId,
        rng: R,
    ) -> Result<Self, ProtocolError> {
        if threshold == 0 || threshold > participants.len() || participants.len() < 2 {
            return Err(ProtocolError::BadInput(
                "need 2 or more participants and 1 <= threshold <= n",
            ));
        }
        if count == 0 || count > MAX_BATCH {
            return Err(ProtocolError::BadInput("batch size must be 1..=64"));
        }
        let engine = Engine::new(
            ProtocolKind::Triples,
            session,
            me,
            participants.clone(),
            R_ECHO,
        )?;
        Ok(TripleGeneration {
            engine,
            rng,
            output: None,
            threshold,
            sharing_id,
            count,
            e_polys: Vec::new(),
            f_polys: Vec::new(),
            e_comm: Vec::new(),
            f_comm: Vec::new(),
            nonce: [0; 32],
            commit_hashes: BTreeMap::new(),
            receivers: BTreeMap::new(),
            senders: BTreeMap::new(),
            openings: BTreeMap::new(),
            e_sum: Vec::new(),
            f_sum: Vec::new(),
            a_shares: Vec::new(),
            b_shares: Vec::new(),
            gamma: Vec::new(),
            l_polys: Vec::new(),
            l_comm: Vec::new(),
            my_cs: Vec::new(),
            pending: None,
        })
    }

    fn others(&self) -> Vec<ParticipantId> {
        self.engine.participants().others(self.engine.me).collect()
    }

    /// Peers for which I am the OT sender (higher ids: they receive).
    fn my_receivers(&self) -> Vec<ParticipantId> {
        let me = self.engine.me;
        self.engine
            .participants()
            .iter()
            .filter(|p| *p > me)
            .collect()
    }

    /// Peers for which I am the OT receiver (lower ids: they send).
    fn my_senders(&self) -> Vec<ParticipantId> {
        let me = self.engine.me;
        self.engine
            .participants()
            .iter()
            .filter(|p| *p < me)
            .collect()
    }

    /// My two MtA inputs as OT sender: `e` against the peer's `f`, then `f` against its `e`.
    fn sender_inputs(&self) -> Vec<Scalar> {
        self.e_polys
            .iter()
            .chain(self.f_polys.iter())
            .map(|p| p.constant())
            .collect()
    }

    /// As OT receiver: `f` (paired with the sender's `e`), then `e` (with its `f`).
    fn receiver_inputs(&self) -> Vec<Scalar> {
        self.f_polys
            .iter()
            .chain(self.e_polys.iter())
            .map(|p| p.constant())
            .collect()
    }

    fn all(&self) -> Vec<ParticipantId> {
        self.engine.participants().iter().collect()
    }

    fn commit_hash(
        &self,
        who: ParticipantId,
        e: &[Vec<ProjectivePoint>],
        f: &[Vec<ProjectivePoint>],
        nonce: &[u8; 32],
    ) -> [u8; 32] {
        let mut t = Transcript::new(b"triple commit");
        t.append(self.engine.session())
            .append(&self.sharing_id)
            .append_u32(who.0);
        for c in e.iter().chain(f.iter()).flatten() {
            t.append_point(c);
        }
        t.append(nonce);
        t.finish()
    }

    fn dleq_context(&self, who: ParticipantId, index: usize) -> Transcript {
        let mut t = Transcript::new(b"triple dleq");
        t.append(self.engine.session())
            .append_u32(who.0)
            .append_u32(index as u32);
        t
    }

    fn start(&mut self) {
        let t = self.threshold;
        for _ in 0..self.count {
            let e = SecretPolynomial::random(t, Scalar::random(&mut self.rng), &mut self.rng);
            let f = SecretPolynomial::random(t, Scalar::random(&mut self.rng), &mut self.rng);
            self.e_comm.push(e.commit());
            self.f_comm.push(f.commit());
            self.e_polys.push(e);
            self.f_polys.push(f);
        }
        self.rng.fill_bytes(&mut self.nonce);
        let h = self.commit_hash(self.engine.me, &self.e_comm, &self.f_comm, &self.nonce);
        self.engine.send_all(R_COMMIT, h.to_vec());
        for j in self.my_senders() {
            let side = ReceiverSide::new(&mut self.rng);
            let mut w = Writer::new();
            w.bytes(side.y_bytes());
            self.engine.send_to(R_COMMIT, j, &w.buf);
            self.receivers.insert(j, side);
        }
        let all = self.all();
        let receivers = self.my_receivers();
        self.engine.expect(R_COMMIT, &all, &receivers);
    }

    fn on_commit(&mut self) -> Result<(), ProtocolError> {
        let me = self.engine.me;
        let session = *self.engine.session();
        for j in self.others() {
            let b = self.engine.take_broadcast(j);
            let mut r = Reader::new(&b);
            let h = r
                .array32("commitment hash")
                .and_then(|h| r.finish().map(|()| h));
            self.commit_hashes.insert(
                j,
                h.map_err(|error| ProtocolError::Malformed { from: j, error })?,
            );
            // For a higher-id peer I am the OT sender: answer its Y with the X_l.
            let xs = if j > me {
                let p = self.engine.take_private(j);
                let mut r = Reader::new(&p);
                let y = r
                    .point_with_bytes("base OT Y")
                    .and_then(|y| r.finish().map(|()| y));
                let y = y.map_err(|error| ProtocolError::Malformed { from: j, error })?;
                let ctx = PairContext::new(&session, me, j);
                let (side, xs) = SenderSide::new(&ctx, &y, &mut self.rng);
                self.senders.insert(j, side);
                xs
            } else {
                Vec::new()
            };
            let mut w = Writer::new();
            let x = j.scalar();
            for k in 0..self.count {
                let mut e = self.e_polys[k].eval(&x);
                let mut f = self.f_polys[k].eval(&x);
                w.scalar(&e);
                w.scalar(&f);
                e.zeroize();
                f.zeroize();
            }
            for p in &xs {
                w.bytes(p);
            }
            self.engine.send_to(R_OPEN, j, &w.buf);
            w.buf.zeroize();
        }
        let mut w = Writer::new();
        for k in 0..self.count {
            for p in self.e_comm[k].iter().chain(self.f_comm[k].iter()) {
                w.point(p);
            }
        }
        w.bytes(&self.nonce);
        self.engine.send_all(R_OPEN, w.into_vec());
        let all = self.all();
        self.engine.expect(R_OPEN, &all, &all);
        Ok(())
    }

    fn on_open(&mut self) -> Result<(), ProtocolError> {
        let me = self.engine.me;
        let session = *self.engine.session();
        let (t, count) = (self.threshold, self.count);
        self.e_sum = self.e_comm.clone();
        self.f_sum = self.f_comm.clone();
        self.a_shares = self.e_polys.iter().map(|p| p.eval(&me.scalar())).collect();
        self.b_shares = self.f_polys.iter().map(|p| p.eval(&me.scalar())).collect();
        for j in self.others() {
            let bytes = self.engine.take_broadcast(j);
            let mut r = Reader::new(&bytes);
            let opened = (|| {
                let mut e = Vec::with_capacity(count);
                let mut f = Vec::with_capacity(count);
                for _ in 0..count {
                    e.push(
                        (0..t)
                            .map(|_| r.point("e commitment"))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                    f.push(
                        (0..t)
                            .map(|_| r.point("f commitment"))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                }
                let nonce = r.array32("nonce")?;
                r.finish()?;
                Ok((e, f, nonce))
            })();
            let (e, f, nonce) =
                opened.map_err(|error| ProtocolError::Malformed { from: j, error })?;
            let expected = self.commit_hashes.get(&j).copied().unwrap_or([0; 32]);
            if !ct_eq32(&self.commit_hash(j, &e, &f, &nonce), &expected) {
                return Err(ProtocolError::BadCommitment { culprit: j });
            }
            let bytes = self.engine.take_private(j);
            let mut r = Reader::new(&bytes);
            let private = (|| {
                let mut shares = Vec::with_capacity(count);
                for _ in 0..count {
                    shares.push((r.scalar("e share")?, r.scalar("f share")?));
                }
                let n_x = if j < me { KAPPA } else { 0 };
                let xs = (0..n_x)
                    .map(|_| r.point_with_bytes("base OT X"))
                    .collect::<Result<Vec<_>, _>>()?;
                r.finish()?;
                Ok((shares, xs))
            })();
            let (mut shares, xs) =
                private.map_err(|error| ProtocolError::Malformed { from: j, error })?;
            for k in 0..count {
                let (es, fs) = shares[k];
                if base_mul(&es) != eval_commitment(&e[k], me)
                    || base_mul(&fs) != eval_commitment(&f[k], me)
                {
                    shares.zeroize_pairs();
                    return Err(ProtocolError::BadShare { culprit: j });
                }
                self.a_shares[k] += es;
                self.b_shares[k] += fs;
                add_commitments(&mut self.e_sum[k], &e[k]);
                add_commitments(&mut self.f_sum[k], &f[k]);
            }
            shares.zeroize_pairs();
            // Pair (S = j, R = me) for lower-id peers: one extension carries both cross
            // products, my f against j's e and my e against j's f.
            if j < me {
                let ctx = PairContext::new(&session, j, me);
                let inputs = self.receiver_inputs();
                let side = self
                    .receivers
                    .get_mut(&j)
                    .ok_or(ProtocolError::BadInput("internal: missing OT state"))?;
                let (u, cx, ct) = side.extend(&ctx, &xs, &inputs, &mut self.rng);
                let mut w = Writer::new();
                w.bytes(&u);
                w.bytes(&cx.to_le_bytes());
                w.bytes(&ct.to_le_bytes());
                self.engine.send_to(R_EXTEND, j, &w.buf);
            }
            self.openings.insert(j, PeerOpening { e });
        }
        let receivers = self.my_receivers();
        self.engine.expect(R_EXTEND, &[], &receivers);
        Ok(())
    }

    fn on_extend(&mut self) -> Result<(), ProtocolError> {
        let me = self.engine.me;
        let session = *self.engine.session();
        let inputs = self.sender_inputs();
        let count = self.count;
        self.gamma = self
            .e_polys
            .iter()
            .zip(&self.f_polys)
            .map(|(e, f)| e.constant() * f.constant())
            .collect();
        let ulen = KAPPA * extension_len(2 * count) / 8;
        for j in self.my_receivers() {
            let bytes = self.engine.take_private(j);
            let mut r = Reader::new(&bytes);
            let parsed = (|| {
                let u = r.bytes(ulen, "OT extension matrix")?;
                let x = u128::from_le_bytes(r.bytes(16, "KOS x")?.try_into().unwrap_or([0; 16]));
                let t = u128::from_le_bytes(r.bytes(16, "KOS t")?.try_into().unwrap_or([0; 16]));
                r.finish()?;
                Ok((u, x, t))
            })();
            let (u, x, t) = parsed.map_err(|error| ProtocolError::Malformed { from: j, error })?;
            let ctx = PairContext::new(&session, me, j);
            let side = self
                .senders
                .get(&j)
                .ok_or(ProtocolError::BadInput("internal: missing OT state"))?;
            let (taus, alphas) = side
                .respond(&ctx, u, x, t, &inputs)
                .map_err(|()| ProtocolError::BadOtExtension { culprit: j })?;
            for (k, g) in self.gamma.iter_mut().enumerate() {
                *g += alphas[k] + alphas[count + k];
            }
            let mut w = Writer::new();
            for tau in &taus {
                w.scalar(tau);
            }
            self.engine.send_to(R_CORRECT, j, &w.buf);
        }
        self.senders.clear();
        let senders = self.my_senders();
        self.engine.expect(R_CORRECT, &[], &senders);
        Ok(())
    }

    fn on_correct(&mut self) -> Result<(), ProtocolError> {
        let me = self.engine.me;
        let session = *self.engine.session();
        let count = self.count;
        let n_tau = 2 * count * MTA_OTS;
        for j in self.my_senders() {
            let bytes = self.engine.take_private(j);
            let mut r = Reader::new(&bytes);
            let taus = (0..n_tau)
                .map(|_| r.scalar("tau"))
                .collect::<Result<Vec<_>, _>>();
            let taus = taus.and_then(|t| r.finish().map(|()| t));
            let taus = taus.map_err(|error| ProtocolError::Malformed { from: j, error })?;
            let ctx = PairContext::new(&session, j, me);
            let side = self
                .receivers
                .get(&j)
                .ok_or(ProtocolError::BadInput("internal: missing OT state"))?;
            let betas = side.finish(&ctx, &taus);
            for (k, g) in self.gamma.iter_mut().enumerate() {
                *g += betas[k] + betas[count + k];
            }
        }
        self.receivers.clear();
        let t = self.threshold;
        let mut w = Writer::new();
        for k in 0..self.count {
            let l = SecretPolynomial::random(t, self.gamma[k], &mut self.rng);
            let lc = l.commit();
            let e0 = self.e_polys[k].constant();
            let f_total = self.f_sum[k][0];
            let c_i = f_total * e0;
            let ctx = self.dleq_context(me, k);
            let proof =
                DleqProof::prove(&ctx, &e0, &f_total, &self.e_comm[k][0], &c_i, &mut self.rng);
            for p in &lc {
                w.point(p);
            }
            w.point(&c_i);
            proof.write(&mut w);
            self.my_cs.push(c_i);
            self.l_comm.push(lc);
            self.l_polys.push(l);
        }
        self.engine.send_all(R_PRODUCT, w.into_vec());
        for j in self.others() {
            let mut w = Writer::new();
            for l in &self.l_polys {
                w.scalar(&l.eval(&j.scalar()));
            }
            self.engine.send_to(R_PRODUCT, j, &w.buf);
            w.buf.zeroize();
        }
        let all = self.all();
        self.engine.expect(R_PRODUCT, &all, &all);
        Ok(())
    }

    fn on_product(&mut self) -> Result<(), ProtocolError> {
        let me = self.engine.me;
        let (t, count) = (self.threshold, self.count);
        let mut l_sum = self.l_comm.clone();
        let mut c_sum = self.my_cs.clone();
        let mut c_shares: Vec<Scalar> = self.l_polys.iter().map(|l| l.eval(&me.scalar())).collect();
        for j in self.others() {
            let bytes = self.engine.take_broadcast(j);
            let mut r = Reader::new(&bytes);
            let parsed = (|| {
                let mut out = Vec::with_capacity(count);
                for _ in 0..count {
                    let lc = (0..t)
                        .map(|_| r.point("l commitment"))
                        .collect::<Result<Vec<_>, _>>()?;
                    let c = r.point("product point")?;
                    let proof = DleqProof::read(&mut r)?;
                    out.push((lc, c, proof));
                }
                r.finish()?;
                Ok(out)
            })();
            let parsed = parsed.map_err(|error| ProtocolError::Malformed { from: j, error })?;
            let bytes = self.engine.take_private(j);
            let mut r = Reader::new(&bytes);
            let shares = (0..count)
                .map(|_| r.scalar("l share"))
                .collect::<Result<Vec<_>, _>>();
            let mut shares = shares
                .and_then(|s| r.finish().map(|()| s))
                .map_err(|error| ProtocolError::Malformed { from: j, error })?;
            let opening = self
                .openings
                .get(&j)
                .ok_or(ProtocolError::BadInput("internal: missing opening"))?;
            for (k, (lc, c, proof)) in parsed.iter().enumerate() {
                let ctx = self.dleq_context(j, k);
                if !proof.verify(&ctx, &self.f_sum[k][0], &opening.e[k][0], c) {
                    shares.zeroize();
                    return Err(ProtocolError::BadProof { culprit: j });
                }
                if base_mul(&shares[k]) != eval_commitment(lc, me) {
                    shares.zeroize();
                    return Err(ProtocolError::BadShare { culprit: j });
                }
                c_shares[k] += shares[k];
                add_commitments(&mut l_sum[k], lc);
                c_sum[k] += c;
            }
            shares.zeroize();
        }
        for k in 0..count {
            if l_sum[k][0] != c_sum[k] {
                c_shares.zeroize();
                return Err(ProtocolError::MultiplicationCheckFailed);
            }
        }
        let digest = self.engine.broadcast_digest();
        self.engine.send_all(R_ECHO, digest.to_vec());
        let all = self.all();
        self.engine.expect(R_ECHO, &all, &[]);
        self.pending = Some((l_sum, c_shares, digest));
        Ok(())
    }

    fn on_echo(&mut self) -> Result<Vec<TripleShare>, ProtocolError> {
        let Some((l_sum, mut c_shares, digest)) = self.pending.take() else {
            return Err(ProtocolError::BadInput(
                "internal: echo without pending output",
            ));
        };
        for j in self.others() {
            let b = self.engine.take_broadcast(j);
            if b.len() != 32 || !ct_eq32(&digest, b.as_slice().try_into().unwrap_or(&[0u8; 32])) {
                c_shares.zeroize();
                return Err(ProtocolError::InconsistentBroadcast { culprit: j });
            }
        }
        let mut out = Vec::with_capacity(self.count);
        for (k, c_comm) in l_sum.into_iter().enumerate() {
            let mut t = Transcript::new(b"triple id");
            t.append(&digest).append_u32(k as u32);
            out.push(TripleShare {
                id: t.finish(),
                participants: self.engine.participants().clone(),
                threshold: self.threshold,
                sharing_id: self.sharing_id,
                me: self.engine.me,
                a: self.a_shares[k],
                b: self.b_shares[k],
                c: c_shares[k],
                a_commitments: self.e_sum[k].clone(),
                b_commitments: self.f_sum[k].clone(),
                c_commitments: c_comm,
            });
        }
        c_shares.zeroize();
        Ok(out)
    }
}

trait ZeroizePairs {
    fn zeroize_pairs(&mut self);
}

impl ZeroizePairs for Vec<(Scalar, Scalar)> {
    fn zeroize_pairs(&mut self) {
        for (a, b) in self.iter_mut() {
            a.zeroize();
            b.zeroize();
        }
    }
}

impl<R: CryptoRngCore> Rounds for TripleGeneration<R> {
    type Output = Vec<TripleShare>;

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
            R_COMMIT => self.on_commit().map(|()| None),
            R_OPEN => self.on_open().map(|()| None),
            R_EXTEND => self.on_extend().map(|()| None),
            R_CORRECT => self.on_correct().map(|()| None),
            R_PRODUCT => self.on_product().map(|()| None),
            _ => self.on_echo().map(Some),
        }
    }
}

impl_protocol!(TripleGeneration, Vec<TripleShare>);
