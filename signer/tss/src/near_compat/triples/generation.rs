//! near's `generate_triple_many`: a batch of `count` committed Beaver triples among exactly
//! the given participants. On the shared channel, waitpoints 0–6 carry: commitment hashes,
//! confirmations, the revealed polynomial commitments with dlog proofs, private shares of a
//! and b, the C_i points with dlogeq proofs, the Ĉ_i points with dlog proofs and private
//! shares of c. The products e(0)·f(0) are shared with one `PairMultiplication` per
//! (triple, peer), all running beside waitpoints 1–4. Every check near makes is made here,
//! in the same order per waitpoint; messages are decoded (and malformed ones refused) before
//! a duplicate from the same sender is ignored, as near does.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::multiplication::{is_sender, PairMultiplication};
use super::proofs::{self, EqStatement, Proof};
use super::strobe::Transcript;
use super::{generic_hash, wire, TriplePub, TripleShare};
use crate::near_compat::channel::{ChannelTag, Header, Inbox, HEADER_LEN};
use crate::near_compat::curve::{Curve, Secp256k1};
use crate::near_compat::error::{DecodeError, ProtocolError};
use crate::near_compat::msgpack::{Reader, Writer};
use crate::near_compat::protocol::{Action, Outgoing, Participants, Protocol};

const COMMIT_LABEL: &[u8] = b"Near threshold signature commitment";

/// Largest batch accepted (near's node uses 64).
pub const MAX_COUNT: usize = 64;

/// Headers one run may buffer: near's bound `131·N·(P−1) + 7`.
pub fn max_headers(participants: usize, count: usize) -> usize {
    131 * count * participants.saturating_sub(1) + 7
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Commitments,
    Confirmations,
    Polynomials,
    Shares,
    CPoints,
    Products,
    HatCPoints,
    CShares,
    Done,
}

/// My secret polynomials for one triple (coefficients, constant first).
struct Secrets {
    e: Vec<Scalar>,
    f: Vec<Scalar>,
    l: Vec<Scalar>,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        self.e.zeroize();
        self.f.zeroize();
        self.l.zeroize();
    }
}

/// Public commitments to (e, f, l) of one triple.
#[derive(Clone)]
struct Commits {
    e: Vec<ProjectivePoint>,
    f: Vec<ProjectivePoint>,
    l: Vec<ProjectivePoint>,
}

/// One participant's run of near's triple generation.
pub struct TripleGeneration<R: CryptoRngCore> {
    me: u32,
    parts: Participants,
    threshold: usize,
    count: usize,
    rng: R,
    inbox: Inbox,
    out: VecDeque<Outgoing>,
    transcript: Transcript,
    stage: Stage,
    seen: BTreeSet<u32>,
    secrets: Vec<Secrets>,
    mine: Vec<Commits>,
    randomizers: Vec<[u8; 32]>,
    hashes: BTreeMap<u32, Vec<[u8; 32]>>,
    confirmations: Vec<[u8; 32]>,
    pairs: Vec<PairMultiplication>,
    routes: BTreeMap<ChannelTag, usize>,
    dirty: BTreeSet<usize>,
    sums: Vec<Commits>,
    e_zero: BTreeMap<u32, Vec<ProjectivePoint>>,
    a: Vec<Scalar>,
    b: Vec<Scalar>,
    c: Vec<Scalar>,
    big_c: Vec<ProjectivePoint>,
    hat_c: Vec<ProjectivePoint>,
    failed: bool,
    returned: bool,
}

fn eval(coefficients: &[Scalar], id: u32) -> Scalar {
    let x = Secp256k1::participant_scalar(id);
    coefficients
        .iter()
        .rev()
        .fold(Scalar::ZERO, |acc, c| acc * x + c)
}

fn eval_points(coefficients: &[ProjectivePoint], id: u32) -> ProjectivePoint {
    let x = Secp256k1::participant_scalar(id);
    coefficients
        .iter()
        .rev()
        .fold(ProjectivePoint::IDENTITY, |acc, c| acc * x + c)
}

fn put_points(w: &mut Writer, points: &[ProjectivePoint]) {
    w.array(points.len());
    points.iter().for_each(|p| wire::put_point(w, p));
}

fn commitment_hash(randomizer: &[u8; 32], c: &Commits) -> [u8; 32] {
    let mut w = Writer::new();
    w.array(3);
    for poly in [&c.e, &c.f, &c.l] {
        put_points(&mut w, poly);
    }
    let mut h = Sha256::new();
    h.update(COMMIT_LABEL);
    h.update(randomizer);
    h.update(b"start data");
    h.update(w.as_slice());
    h.finalize().into()
}

fn add_points(acc: &mut Vec<ProjectivePoint>, other: &[ProjectivePoint]) {
    if acc.len() < other.len() {
        acc.resize(other.len(), ProjectivePoint::IDENTITY);
    }
    acc.iter_mut().zip(other).for_each(|(a, o)| *a += o);
}

fn malformed(from: u32, waitpoint: u64) -> impl FnOnce(DecodeError) -> ProtocolError {
    move |error| ProtocolError::Malformed {
        from,
        waitpoint,
        error,
    }
}

fn failed(from: Option<u32>, check: &'static str) -> ProtocolError {
    ProtocolError::TripleCheckFailed { from, check }
}

impl<R: CryptoRngCore> TripleGeneration<R> {
    /// Starts a batch of `count` triples among `participants` (the node: exactly t of them,
    /// count 64) with reconstruction threshold `threshold`; sends the commitment hashes.
    pub fn new(
        participants: &[u32],
        me: u32,
        threshold: usize,
        count: usize,
        rng: R,
    ) -> Result<Self, ProtocolError> {
        let parts = Participants::new(participants)
            .ok_or_else(|| ProtocolError::BadInput("duplicate participants".into()))?;
        let n = parts.len();
        if n < 2 || !parts.contains(me) {
            return Err(ProtocolError::BadInput(
                "need ≥ 2 participants including me".into(),
            ));
        }
        if threshold < 2 || threshold > n {
            return Err(ProtocolError::BadInput(
                "threshold must be in 2..=participants".into(),
            ));
        }
        if count == 0 || count > MAX_COUNT {
            return Err(ProtocolError::BadInput("count must be in 1..=64".into()));
        }
        let transcript = start_transcript(&parts, threshold);
        let mut g = Self {
            me,
            threshold,
            count,
            inbox: Inbox::new(max_headers(n, count)),
            out: VecDeque::new(),
            transcript,
            stage: Stage::Commitments,
            seen: BTreeSet::new(),
            secrets: Vec::with_capacity(count),
            mine: Vec::with_capacity(count),
            randomizers: Vec::with_capacity(count),
            hashes: BTreeMap::new(),
            confirmations: Vec::new(),
            pairs: Vec::new(),
            routes: BTreeMap::new(),
            dirty: BTreeSet::new(),
            sums: Vec::new(),
            e_zero: BTreeMap::new(),
            a: Vec::new(),
            b: Vec::new(),
            c: Vec::new(),
            big_c: Vec::new(),
            hat_c: Vec::new(),
            failed: false,
            returned: false,
            parts,
            rng,
        };
        g.commit();
        Ok(g)
    }

    fn random_poly(&mut self, len: usize) -> Vec<Scalar> {
        (0..len).map(|_| Scalar::random(&mut self.rng)).collect()
    }

    /// Waitpoint 0: draw e, f (degree t−1) and l (degree t−2), commit to their commitments.
    fn commit(&mut self) {
        let t = self.threshold;
        let mut hashes = Vec::with_capacity(self.count);
        for _ in 0..self.count {
            let s = Secrets {
                e: self.random_poly(t),
                f: self.random_poly(t),
                l: self.random_poly(t - 1),
            };
            let g = |v: &[Scalar]| v.iter().map(|c| ProjectivePoint::GENERATOR * c).collect();
            let c = Commits {
                e: g(&s.e),
                f: g(&s.f),
                l: g(&s.l),
            };
            let mut r = [0u8; 32];
            self.rng.fill_bytes(&mut r);
            hashes.push(commitment_hash(&r, &c));
            self.secrets.push(s);
            self.mine.push(c);
            self.randomizers.push(r);
        }
        self.send_many(0, |w| {
            w.array(hashes.len());
            hashes.iter().for_each(|h| w.byte_array(h));
        });
        self.hashes.insert(self.me, hashes);
    }

    fn header(waitpoint: u64) -> Header {
        Header::new(ChannelTag::shared(), waitpoint)
    }

    fn send_many(&mut self, waitpoint: u64, body: impl FnOnce(&mut Writer)) {
        let mut w = Writer::with_prefix(&Self::header(waitpoint).to_bytes());
        body(&mut w);
        self.out.push_back(Outgoing::Many(w.into_vec()));
    }

    fn send_private(&mut self, to: u32, waitpoint: u64, body: impl FnOnce(&mut Writer)) {
        let mut w = Writer::with_prefix(&Self::header(waitpoint).to_bytes());
        body(&mut w);
        self.out.push_back(Outgoing::Private(to, w.into_vec()));
    }

    /// The next message of `waitpoint` from a sender not yet seen in this stage, decoded.
    /// Malformed messages abort even from a sender already seen (near decodes first).
    fn next<T>(
        &mut self,
        waitpoint: u64,
        decode: impl Fn(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<Option<(u32, T)>, ProtocolError> {
        while let Some((from, msg)) = self.inbox.pop(Self::header(waitpoint)) {
            let value =
                wire::decode(&msg[HEADER_LEN..], &decode).map_err(malformed(from, waitpoint))?;
            if self.seen.insert(from) {
                return Ok(Some((from, value)));
            }
        }
        Ok(None)
    }

    fn all_seen(&self) -> bool {
        self.seen.len() == self.parts.len() - 1
    }

    fn next_stage(&mut self, stage: Stage) {
        self.stage = stage;
        self.seen.clear();
    }
}

fn start_transcript(parts: &Participants, threshold: usize) -> Transcript {
    let mut t = Transcript::new(b"Near threshold signatures triple generation");
    t.message(b"group", b"Secp256K1Sha256");
    let mut w = Writer::new();
    w.array(1);
    w.array(parts.len());
    parts.ids().iter().for_each(|p| w.uint(u64::from(*p)));
    t.message(b"participants", w.as_slice());
    t.message(b"threshold", &(threshold as u64).to_be_bytes());
    t
}

impl<R: CryptoRngCore> TripleGeneration<R> {
    /// Waitpoint 0 in; then the confirmations, multiplications, waitpoints 1–3 out.
    fn on_commitments(&mut self) -> Result<bool, ProtocolError> {
        let count = self.count;
        while let Some((from, hashes)) = self.next(0, |r| get_hashes(r, count))? {
            self.hashes.insert(from, hashes);
        }
        if !self.all_seen() {
            return Ok(false);
        }
        self.confirmations = (0..count)
            .map(|i| {
                let mut w = Writer::new();
                w.array(1);
                w.array(self.parts.len());
                for p in self.parts.ids() {
                    w.byte_array(&self.hashes[p][i]);
                }
                generic_hash(w.as_slice())
            })
            .collect();
        let mut w = Writer::new();
        w.array(count);
        self.confirmations.iter().for_each(|c| w.byte_array(c));
        self.transcript.message(b"confirmation", w.as_slice());
        self.start_multiplications();
        let confirmations = self.confirmations.clone();
        self.send_many(1, |w| {
            w.array(confirmations.len());
            confirmations.iter().for_each(|c| w.byte_array(c));
        });
        self.send_polynomials()?;
        self.send_ab_shares();
        self.next_stage(Stage::Confirmations);
        Ok(true)
    }

    fn start_multiplications(&mut self) {
        let others: Vec<u32> = self.parts.others(self.me).collect();
        for i in 0..self.count {
            let (a, b) = (self.secrets[i].e[0], self.secrets[i].f[0]);
            for &p in &others {
                let sender = is_sender(i, self.me, p);
                let pair = PairMultiplication::new(
                    self.me,
                    p,
                    i,
                    self.confirmations[i],
                    a,
                    b,
                    sender,
                    &mut self.rng,
                    &mut self.out,
                );
                let idx = self.pairs.len();
                for tag in pair.tags() {
                    self.routes.insert(tag, idx);
                }
                self.pairs.push(pair);
                self.dirty.insert(idx);
            }
        }
    }

    fn fork(&self, label: &'static [u8], who: u32) -> Transcript {
        self.transcript.fork(label, &who.to_le_bytes())
    }

    /// Waitpoint 2: the revealed commitments, randomizers and dlog proofs of e(0), f(0).
    fn send_polynomials(&mut self) -> Result<(), ProtocolError> {
        let mut proofs: [Vec<Proof>; 2] = [Vec::new(), Vec::new()];
        for i in 0..self.count {
            let labels: [&'static [u8]; 2] = [b"dlog0", b"dlog1"];
            for (k, label) in labels.into_iter().enumerate() {
                let (public, x) = if k == 0 {
                    (self.mine[i].e[0], self.secrets[i].e[0])
                } else {
                    (self.mine[i].f[0], self.secrets[i].f[0])
                };
                let t = self.fork(label, self.me);
                let proof = proofs::dlog_prove(t, &public, &x, &mut self.rng)
                    .map_err(|_| failed(None, "own dlog proof"))?;
                proofs[k].push(proof);
            }
        }
        let (mine, randomizers) = (self.mine.clone(), self.randomizers.clone());
        self.send_many(2, |w| {
            w.array(6);
            w.array(mine.len());
            mine.iter().for_each(|c| put_points(w, &c.e));
            w.array(mine.len());
            mine.iter().for_each(|c| put_points(w, &c.f));
            w.array(mine.len());
            mine.iter().for_each(|c| put_points(w, &c.l));
            w.array(randomizers.len());
            randomizers.iter().for_each(|r| w.byte_array(r));
            for list in &proofs {
                w.array(list.len());
                list.iter().for_each(|p| wire::put_proof(w, p));
            }
        });
        self.sums = self.mine.clone();
        Ok(())
    }

    /// Waitpoint 3: e(p), f(p) privately to every other p; our own evaluations kept.
    fn send_ab_shares(&mut self) {
        let others: Vec<u32> = self.parts.others(self.me).collect();
        for p in others {
            let mut a: Vec<Scalar> = self.secrets.iter().map(|s| eval(&s.e, p)).collect();
            let mut b: Vec<Scalar> = self.secrets.iter().map(|s| eval(&s.f, p)).collect();
            self.send_private(p, 3, |w| {
                w.array(2);
                for v in [&a, &b] {
                    w.array(v.len());
                    v.iter().for_each(|s| wire::put_scalar(w, s));
                }
            });
            a.zeroize();
            b.zeroize();
        }
        self.a = self.secrets.iter().map(|s| eval(&s.e, self.me)).collect();
        self.b = self.secrets.iter().map(|s| eval(&s.f, self.me)).collect();
    }
}

pub(crate) fn get_hashes(r: &mut Reader<'_>, count: usize) -> Result<Vec<[u8; 32]>, DecodeError> {
    wire::get_array(r, count, "commitment hashes", |r| {
        r.byte_array::<32>("commitment")
    })
}

pub(crate) fn get_confirmations(r: &mut Reader<'_>) -> Result<Vec<[u8; 32]>, DecodeError> {
    let len = r.array_len("confirmations")?;
    (0..len)
        .map(|_| r.byte_array::<32>("confirmation"))
        .collect()
}

pub(crate) type AbShares = (Vec<Scalar>, Vec<Scalar>);

pub(crate) fn get_ab_shares(r: &mut Reader<'_>, count: usize) -> Result<AbShares, DecodeError> {
    r.tuple(2, "a and b shares")?;
    let a = wire::get_array(r, count, "a shares", |r| wire::get_scalar(r, "a share"))?;
    let b = wire::get_array(r, count, "b shares", |r| wire::get_scalar(r, "b share"))?;
    Ok((a, b))
}

pub(crate) fn get_c_shares(r: &mut Reader<'_>, count: usize) -> Result<Vec<Scalar>, DecodeError> {
    wire::get_array(r, count, "c shares", |r| wire::get_scalar(r, "c share"))
}

/// One peer's waitpoint-2 message.
pub(crate) struct Revealed {
    commits: Vec<Commits>,
    randomizers: Vec<[u8; 32]>,
    proofs: [Vec<Proof>; 2],
}

fn get_polys(r: &mut Reader<'_>, count: usize) -> Result<Vec<Vec<ProjectivePoint>>, DecodeError> {
    wire::get_array(r, count, "polynomial commitments", |r| {
        let len = r.array_len("polynomial commitment")?;
        (0..len)
            .map(|_| wire::get_point(r, "coefficient commitment"))
            .collect()
    })
}

pub(crate) fn get_revealed(r: &mut Reader<'_>, count: usize) -> Result<Revealed, DecodeError> {
    r.tuple(6, "polynomial commitments message")?;
    let (e, f, l) = (
        get_polys(r, count)?,
        get_polys(r, count)?,
        get_polys(r, count)?,
    );
    let randomizers = wire::get_array(r, count, "randomizers", |r| {
        r.byte_array::<32>("randomizer")
    })?;
    let p0 = wire::get_array(r, count, "dlog proofs", |r| {
        wire::get_proof(r, "dlog proof")
    })?;
    let p1 = wire::get_array(r, count, "dlog proofs", |r| {
        wire::get_proof(r, "dlog proof")
    })?;
    let commits = e
        .into_iter()
        .zip(f)
        .zip(l)
        .map(|((e, f), l)| Commits { e, f, l })
        .collect();
    Ok(Revealed {
        commits,
        randomizers,
        proofs: [p0, p1],
    })
}

pub(crate) fn get_points_and_proofs(
    r: &mut Reader<'_>,
    count: usize,
) -> Result<(Vec<ProjectivePoint>, Vec<Proof>), DecodeError> {
    r.tuple(2, "points and proofs")?;
    let points = wire::get_array(r, count, "points", |r| wire::get_point(r, "point"))?;
    let proofs = wire::get_array(r, count, "proofs", |r| wire::get_proof(r, "proof"))?;
    Ok((points, proofs))
}

impl<R: CryptoRngCore> TripleGeneration<R> {
    /// Waitpoint 1: every confirmation must equal ours.
    fn on_confirmations(&mut self) -> Result<bool, ProtocolError> {
        let mut moved = false;
        while let Some((from, theirs)) = self.next(1, get_confirmations)? {
            if theirs != self.confirmations {
                return Err(failed(Some(from), "confirmation does not match ours"));
            }
            moved = true;
        }
        if self.all_seen() {
            self.next_stage(Stage::Polynomials);
            return Ok(true);
        }
        Ok(moved)
    }

    /// Waitpoint 2: degrees, commitment openings and dlog proofs; sums E, F, L.
    fn on_polynomials(&mut self) -> Result<bool, ProtocolError> {
        let (count, t) = (self.count, self.threshold);
        let mut moved = false;
        while let Some((from, rev)) = self.next(2, |r| get_revealed(r, count))? {
            let mut zeros = Vec::with_capacity(count);
            for (i, c) in rev.commits.iter().enumerate() {
                for (got, expected) in [(c.e.len(), t), (c.f.len(), t), (c.l.len(), t - 1)] {
                    if got != expected {
                        return Err(ProtocolError::WrongCommitmentLength {
                            from,
                            got,
                            expected,
                        });
                    }
                }
                if commitment_hash(&rev.randomizers[i], c) != self.hashes[&from][i] {
                    return Err(ProtocolError::InvalidCommitmentHash { from });
                }
                let labels: [&'static [u8]; 2] = [b"dlog0", b"dlog1"];
                for (k, label) in labels.into_iter().enumerate() {
                    let public = if k == 0 { c.e[0] } else { c.f[0] };
                    proofs::dlog_verify(self.fork(label, from), &public, &rev.proofs[k][i])
                        .map_err(|_| ProtocolError::InvalidProofOfKnowledge { from })?;
                }
                zeros.push(c.e[0]);
                add_points(&mut self.sums[i].e, &c.e);
                add_points(&mut self.sums[i].f, &c.f);
                add_points(&mut self.sums[i].l, &c.l);
            }
            self.e_zero.insert(from, zeros);
            moved = true;
        }
        if self.all_seen() {
            self.next_stage(Stage::Shares);
            return Ok(true);
        }
        Ok(moved)
    }

    /// Waitpoint 3 in; checks our a, b shares; waitpoint 4 out (C_i = e_i(0)·F(0) + dlogeq).
    fn on_shares(&mut self) -> Result<bool, ProtocolError> {
        let count = self.count;
        let mut moved = false;
        while let Some((_, (mut a, mut b))) = self.next(3, |r| get_ab_shares(r, count))? {
            self.a.iter_mut().zip(&a).for_each(|(s, x)| *s += x);
            self.b.iter_mut().zip(&b).for_each(|(s, x)| *s += x);
            a.zeroize();
            b.zeroize();
            moved = true;
        }
        if !self.all_seen() {
            return Ok(moved);
        }
        let mut points = Vec::with_capacity(count);
        let mut eq_proofs = Vec::with_capacity(count);
        for i in 0..count {
            let sums = &self.sums[i];
            let ok_a = eval_points(&sums.e, self.me) == ProjectivePoint::GENERATOR * self.a[i];
            let ok_b = eval_points(&sums.f, self.me) == ProjectivePoint::GENERATOR * self.b[i];
            if !(ok_a && ok_b) {
                return Err(failed(None, "received bad private share"));
            }
            let big_f0 = sums.f[0];
            let e0 = self.secrets[i].e[0];
            let big_c_i = big_f0 * e0;
            let st = EqStatement {
                public0: &self.mine[i].e[0],
                generator1: &big_f0,
                public1: &big_c_i,
            };
            let t = self.fork(b"dlogeq0", self.me);
            let proof = proofs::dlogeq_prove(t, &st, &e0, &mut self.rng)
                .map_err(|_| failed(None, "own dlogeq proof"))?;
            points.push(big_c_i);
            eq_proofs.push(proof);
        }
        self.big_c = points.clone();
        self.send_many(4, |w| {
            w.array(2);
            put_points(w, &points);
            w.array(eq_proofs.len());
            eq_proofs.iter().for_each(|p| wire::put_proof(w, p));
        });
        self.next_stage(Stage::CPoints);
        Ok(true)
    }

    /// Waitpoint 4: dlogeq proofs against the sender's E(0) and the summed F(0); sums C.
    fn on_c_points(&mut self) -> Result<bool, ProtocolError> {
        let count = self.count;
        let mut moved = false;
        while let Some((from, (points, eq_proofs))) =
            self.next(4, |r| get_points_and_proofs(r, count))?
        {
            for i in 0..count {
                let st = EqStatement {
                    public0: &self.e_zero[&from][i],
                    generator1: &self.sums[i].f[0],
                    public1: &points[i],
                };
                proofs::dlogeq_verify(self.fork(b"dlogeq0", from), &st, &eq_proofs[i])
                    .map_err(|_| ProtocolError::InvalidProofOfKnowledge { from })?;
                self.big_c[i] += points[i];
            }
            moved = true;
        }
        if self.all_seen() {
            self.next_stage(Stage::Products);
            return Ok(true);
        }
        Ok(moved)
    }
}

impl<R: CryptoRngCore> TripleGeneration<R> {
    /// Once every multiplication is done: l0 = e(0)·f(0) + cross terms; waitpoint 5
    /// (Ĉ_i = l0·G with dlog proof) and waitpoint 6 (shares of l0 + x·l(x)) out.
    fn on_products(&mut self) -> Result<bool, ProtocolError> {
        if self.pairs.iter().any(|p| p.result().is_none()) {
            return Ok(false);
        }
        let peers = self.parts.len() - 1;
        let mut l0: Vec<Scalar> = (0..self.count)
            .map(|i| {
                let s = &self.secrets[i];
                let cross = self.pairs[i * peers..(i + 1) * peers]
                    .iter()
                    .filter_map(PairMultiplication::result)
                    .fold(Scalar::ZERO, |acc, r| acc + r);
                s.e[0] * s.f[0] + cross
            })
            .collect();
        self.pairs.clear();
        self.routes.clear();
        let mut points = Vec::with_capacity(self.count);
        let mut dlog_proofs = Vec::with_capacity(self.count);
        for x in &l0 {
            let public = ProjectivePoint::GENERATOR * x;
            let proof = proofs::dlog_prove(self.fork(b"dlog2", self.me), &public, x, &mut self.rng)
                .map_err(|_| failed(None, "own dlog proof"))?;
            points.push(public);
            dlog_proofs.push(proof);
        }
        self.hat_c = points.clone();
        self.send_many(5, |w| {
            w.array(2);
            put_points(w, &points);
            w.array(dlog_proofs.len());
            dlog_proofs.iter().for_each(|p| wire::put_proof(w, p));
        });
        // c's polynomial: l0 + x·l(x).
        let mut polys: Vec<Vec<Scalar>> = self
            .secrets
            .iter()
            .zip(&l0)
            .map(|(s, x)| core::iter::once(*x).chain(s.l.iter().copied()).collect())
            .collect();
        l0.zeroize();
        let others: Vec<u32> = self.parts.others(self.me).collect();
        for p in others {
            let mut shares: Vec<Scalar> = polys.iter().map(|c| eval(c, p)).collect();
            self.send_private(p, 6, |w| {
                w.array(shares.len());
                shares.iter().for_each(|s| wire::put_scalar(w, s));
            });
            shares.zeroize();
        }
        self.c = polys.iter().map(|c| eval(c, self.me)).collect();
        polys.iter_mut().for_each(|c| c.zeroize());
        self.next_stage(Stage::HatCPoints);
        Ok(true)
    }

    /// Waitpoint 5: dlog proofs of Ĉ_j; Σ Ĉ must equal Σ C.
    fn on_hat_c_points(&mut self) -> Result<bool, ProtocolError> {
        let count = self.count;
        let mut moved = false;
        while let Some((from, (points, dlog_proofs))) =
            self.next(5, |r| get_points_and_proofs(r, count))?
        {
            for i in 0..count {
                proofs::dlog_verify(self.fork(b"dlog2", from), &points[i], &dlog_proofs[i])
                    .map_err(|_| ProtocolError::InvalidProofOfKnowledge { from })?;
                self.hat_c[i] += points[i];
            }
            moved = true;
        }
        if !self.all_seen() {
            return Ok(moved);
        }
        if self.hat_c != self.big_c {
            return Err(failed(None, "final polynomial doesn't match C value"));
        }
        self.next_stage(Stage::CShares);
        Ok(true)
    }

    /// Waitpoint 6: shares of c, checked against Ĉ + x·L(x).
    fn on_c_shares(&mut self) -> Result<bool, ProtocolError> {
        let count = self.count;
        let mut moved = false;
        while let Some((_, mut shares)) = self.next(6, |r| get_c_shares(r, count))? {
            self.c.iter_mut().zip(&shares).for_each(|(c, s)| *c += s);
            shares.zeroize();
            moved = true;
        }
        if !self.all_seen() {
            return Ok(moved);
        }
        for i in 0..count {
            let big_l: Vec<ProjectivePoint> = core::iter::once(self.hat_c[i])
                .chain(self.sums[i].l.iter().copied())
                .collect();
            if eval_points(&big_l, self.me) != ProjectivePoint::GENERATOR * self.c[i] {
                return Err(failed(None, "received bad private share of c"));
            }
        }
        self.next_stage(Stage::Done);
        Ok(true)
    }

    fn output(&mut self) -> Vec<(TripleShare, TriplePub)> {
        (0..self.count)
            .map(|i| {
                let share = TripleShare {
                    a: self.a[i],
                    b: self.b[i],
                    c: self.c[i],
                };
                let public = TriplePub {
                    big_a: self.sums[i].e[0],
                    big_b: self.sums[i].f[0],
                    big_c: self.big_c[i],
                    participants: self.parts.ids().to_vec(),
                    threshold: self.threshold,
                };
                (share, public)
            })
            .collect()
    }

    fn advance_pairs(&mut self) -> Result<bool, ProtocolError> {
        let mut moved = false;
        while let Some(idx) = self.dirty.pop_first() {
            if let Some(pair) = self.pairs.get_mut(idx) {
                moved |= pair.advance(&mut self.inbox, &mut self.out)?;
            }
        }
        Ok(moved)
    }

    fn advance(&mut self) -> Result<(), ProtocolError> {
        loop {
            let mut moved = self.advance_pairs()?;
            moved |= match self.stage {
                Stage::Commitments => self.on_commitments()?,
                Stage::Confirmations => self.on_confirmations()?,
                Stage::Polynomials => self.on_polynomials()?,
                Stage::Shares => self.on_shares()?,
                Stage::CPoints => self.on_c_points()?,
                Stage::Products => self.on_products()?,
                Stage::HatCPoints => self.on_hat_c_points()?,
                Stage::CShares => self.on_c_shares()?,
                Stage::Done => false,
            };
            if !moved {
                return Ok(());
            }
        }
    }
}

impl<R: CryptoRngCore> Drop for TripleGeneration<R> {
    fn drop(&mut self) {
        self.a.zeroize();
        self.b.zeroize();
        self.c.zeroize();
    }
}

impl<R: CryptoRngCore> Protocol for TripleGeneration<R> {
    type Output = Vec<(TripleShare, TriplePub)>;

    fn poke(&mut self) -> Result<Action<Self::Output>, ProtocolError> {
        if self.failed || self.returned {
            return Err(ProtocolError::Finished);
        }
        if let Some(o) = self.out.pop_front() {
            return Ok(o.into_action());
        }
        if let Err(e) = self.advance() {
            self.failed = true;
            return Err(e);
        }
        if let Some(o) = self.out.pop_front() {
            return Ok(o.into_action());
        }
        if self.stage == Stage::Done {
            self.returned = true;
            return Ok(Action::Return(self.output()));
        }
        Ok(Action::Wait)
    }

    fn message(&mut self, from: u32, data: Vec<u8>) -> Result<(), ProtocolError> {
        if self.failed || self.returned {
            return Ok(());
        }
        if from == self.me || !self.parts.contains(from) {
            return Err(ProtocolError::UnknownSender { from });
        }
        if let Some((header, _)) = Header::split(&data) {
            if let Some(idx) = self.routes.get(&header.channel) {
                self.dirty.insert(*idx);
            }
        }
        self.inbox
            .push(from, data)
            .inspect_err(|_| self.failed = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    type Run = Vec<(u32, TripleGeneration<ChaCha20Rng>)>;

    fn start(ids: &[u32], t: usize, count: usize) -> Run {
        ids.iter()
            .map(|&p| {
                let rng = ChaCha20Rng::seed_from_u64(u64::from(p) + 40);
                (p, TripleGeneration::new(ids, p, t, count, rng).unwrap())
            })
            .collect()
    }

    /// Delivers every message (through `tamper`) until all return.
    fn run(
        mut parts: Run,
        tamper: impl Fn(&mut Vec<u8>),
    ) -> Result<Vec<(u32, Vec<(TripleShare, TriplePub)>)>, ProtocolError> {
        let ids: Vec<u32> = parts.iter().map(|p| p.0).collect();
        let mut done: BTreeMap<u32, Vec<(TripleShare, TriplePub)>> = BTreeMap::new();
        while done.len() < parts.len() {
            let mut queue = Vec::new();
            for (me, g) in parts.iter_mut() {
                if done.contains_key(me) {
                    continue;
                }
                loop {
                    match g.poke()? {
                        Action::Wait => break,
                        Action::Return(out) => {
                            done.insert(*me, out);
                            break;
                        }
                        Action::SendMany(m) => ids
                            .iter()
                            .filter(|p| *p != me)
                            .for_each(|p| queue.push((*me, *p, m.clone()))),
                        Action::SendPrivate(to, m) => queue.push((*me, to, m)),
                    }
                }
            }
            if queue.is_empty() && done.len() < parts.len() {
                return Err(ProtocolError::BadInput("stalled".into()));
            }
            for (from, to, mut m) in queue {
                tamper(&mut m);
                if let Some((_, g)) = parts.iter_mut().find(|(p, _)| *p == to) {
                    if !done.contains_key(&to) {
                        g.message(from, m)?;
                    }
                }
            }
        }
        Ok(done.into_iter().collect())
    }

    #[test]
    fn three_parties_threshold_two_make_valid_triples() {
        let out = run(start(&[0, 3, 5], 2, 2), |_| {}).unwrap();
        for k in 0..2 {
            assert!(out.iter().all(|(_, o)| o[k].1 == out[0].1[k].1));
            // Any two of the three shares interpolate to a, b, c with c = a·b.
            let subset = [&out[0], &out[2]];
            let lag = |i: u32, j: u32| {
                let (xi, xj) = (
                    Secp256k1::participant_scalar(i),
                    Secp256k1::participant_scalar(j),
                );
                xj * (xj - xi).invert().unwrap()
            };
            let (l0, l1) = (lag(subset[0].0, subset[1].0), lag(subset[1].0, subset[0].0));
            let (s0, s1) = (&subset[0].1[k].0, &subset[1].1[k].0);
            let (a, b, c) = (
                l0 * s0.a + l1 * s1.a,
                l0 * s0.b + l1 * s1.b,
                l0 * s0.c + l1 * s1.c,
            );
            assert_eq!(a * b, c);
            let public = &out[0].1[k].1;
            assert_eq!(ProjectivePoint::GENERATOR * a, public.big_a);
            assert_eq!(ProjectivePoint::GENERATOR * c, public.big_c);
        }
    }

    #[test]
    fn a_flipped_bit_in_any_waitpoint_aborts() {
        for wp in 0u8..7 {
            let res = run(start(&[0, 1], 2, 1), |m| {
                if m[..32] == ChannelTag::shared().0 && m[32] == wp && m.len() > HEADER_LEN + 3 {
                    let last = m.len() - 2;
                    m[last] ^= 1;
                }
            });
            assert!(res.is_err(), "tampered waitpoint {wp} accepted");
        }
    }
}
