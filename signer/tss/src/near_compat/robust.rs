//! near's DamgardEtAl robust ECDSA presign and sign, message compatible. With
//! `max_malicious = t_m` (near's node: domain threshold − 1), both run with exactly 2·t_m + 1
//! participants (near refuses any other count, against split-view attacks). Shared channel:
//! - presign waitpoint 0: each participant sends every other, privately, its evaluations of five
//!   fresh polynomials: f_k, f_a of degree t_m (random constants) and f_b, f_d, f_e of degree
//!   2·t_m with zero constants; everyone sums what it receives into shares k, a, b, d, e;
//! - waitpoint 1: everyone broadcasts (R_i = k_i·G, w_i = a_i·k_i + b_i); the R_i of the first
//!   t_m + 1 participants (sorted ids) fix a polynomial in the exponent that every other R_i must
//!   lie on; R is its value at 0, w the degree-2·t_m interpolation of the w_i at 0 (w = a·k);
//! - waitpoint 2: everyone broadcasts W_i = a_i·R, checked the same way; W must equal w·G.
//!   Output: R, c_i = a_i/w, e_i, α_i = c_i + d_i, β_i = c_i·x_i.
//!
//! Sign (waitpoint 0, followers → leader privately): after rerandomization (R' = δR,
//! α' = α/δ, β' = (β + c·tweak)/δ) each sends λ_i·(h·α'_i + r·β'_i + e_i); the leader sums,
//! refuses s = 0, normalises to low s and verifies against the derived key.

use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::vec::Vec;
use k256::elliptic_curve::Field;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use rand_core::CryptoRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::channel::{ChannelTag, Header, Inbox, HEADER_LEN};
use super::curve::{Curve, Secp256k1};
use super::ecdsa::{
    decode_scalar, lagrange, normalize_s, read_scalar, write_scalar, x_coordinate, EcdsaError,
    Rerandomization, Signature,
};
use super::error::{DecodeError, ProtocolError};
use super::msgpack::{Reader, Writer};
use super::protocol::{Action, Outgoing, Participants, Protocol};

/// Distinct headers a robust presign run buffers at most (near: 3).
pub const ROBUST_PRESIGN_MAX_HEADERS: usize = 3;
/// Distinct headers a robust sign run buffers at most (near: 1).
pub const ROBUST_SIGN_MAX_HEADERS: usize = 1;

/// A robust presignature share.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RobustPresignOutput {
    #[zeroize(skip)]
    pub big_r: AffinePoint,
    pub c: Scalar,
    pub e: Scalar,
    pub alpha: Scalar,
    pub beta: Scalar,
}

fn header(waitpoint: u64) -> Header {
    Header::new(ChannelTag::shared(), waitpoint)
}

fn malformed(from: u32, waitpoint: u64) -> impl FnOnce(DecodeError) -> ProtocolError {
    move |error| ProtocolError::Malformed {
        from,
        waitpoint,
        error,
    }
}

fn x_of(id: u32) -> Scalar {
    Scalar::from(u64::from(id) + 1)
}

/// Lagrange coefficients at `at` (0 if `None`) for the points `xs`.
fn lagrange_at(xs: &[Scalar], at: Option<&Scalar>) -> Vec<Scalar> {
    let at = at.copied().unwrap_or(Scalar::ZERO);
    xs.iter()
        .map(|xi| {
            let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
            for xj in xs.iter().filter(|xj| *xj != xi) {
                num *= at - xj;
                den *= *xi - xj;
            }
            num * Option::<Scalar>::from(den.invert()).unwrap_or(Scalar::ZERO)
        })
        .collect()
}

fn exponent_interpolate(
    xs: &[Scalar],
    points: &[ProjectivePoint],
    at: Option<&Scalar>,
) -> ProjectivePoint {
    lagrange_at(xs, at)
        .iter()
        .zip(points)
        .fold(ProjectivePoint::IDENTITY, |acc, (l, p)| acc + *p * l)
}

fn evaluate(coefficients: &[Scalar], id: u32) -> Scalar {
    let x = x_of(id);
    coefficients
        .iter()
        .rev()
        .fold(Scalar::ZERO, |acc, c| acc * x + c)
}

/// Checks that every point beyond the first `t + 1` lies on their polynomial; returns its value at 0.
fn check_on_polynomial(
    ids: &[u32],
    points: &[ProjectivePoint],
    t: usize,
) -> Result<ProjectivePoint, ProtocolError> {
    let xs: Vec<Scalar> = ids.iter().map(|id| x_of(*id)).collect();
    let (base_x, base_p) = (&xs[..t + 1], &points[..t + 1]);
    for ((id, x), p) in ids.iter().zip(&xs).zip(points).skip(t + 1) {
        if exponent_interpolate(base_x, base_p, Some(x)) != *p {
            return Err(ProtocolError::Ecdsa(EcdsaError::ExponentInterpolation {
                from: *id,
            }));
        }
    }
    Ok(exponent_interpolate(base_x, base_p, None))
}

/// Decodes a round-1 payload: five scalars (k, a, b, d, e evaluations).
pub fn decode_evaluations(payload: &[u8]) -> Result<[Scalar; 5], DecodeError> {
    let mut r = Reader::new(payload);
    r.tuple(5, "polynomial evaluations")?;
    let mut out = [Scalar::ZERO; 5];
    for s in out.iter_mut() {
        *s = read_scalar(&mut r, "evaluation")?;
    }
    r.finish()?;
    Ok(out)
}

fn read_point(r: &mut Reader<'_>, what: &'static str) -> Result<ProjectivePoint, DecodeError> {
    let bytes = r.byte_array::<33>(what)?;
    Secp256k1::point_from_bytes(&bytes).ok_or(DecodeError::BadPoint { what })
}

fn write_point(w: &mut Writer, p: &ProjectivePoint) {
    // A uniformly random share is the identity with negligible probability; near's frost
    // serialization would refuse it too, so send 33 zero bytes (which every receiver refuses).
    w.byte_array(&Secp256k1::point_to_bytes(p).unwrap_or_else(|| alloc::vec![0u8; 33]));
}

/// Decodes a round-2 payload: (R_i, w_i).
pub fn decode_r_and_w(payload: &[u8]) -> Result<(ProjectivePoint, Scalar), DecodeError> {
    let mut r = Reader::new(payload);
    r.tuple(2, "R and w shares")?;
    let p = read_point(&mut r, "R share")?;
    let w = read_scalar(&mut r, "w share")?;
    r.finish()?;
    Ok((p, w))
}

/// Decodes a round-3 payload: W_i.
pub fn decode_point(payload: &[u8]) -> Result<ProjectivePoint, DecodeError> {
    let mut r = Reader::new(payload);
    let p = read_point(&mut r, "W share")?;
    r.finish()?;
    Ok(p)
}

/// Checks near's participant count rule: exactly 2·max_malicious + 1, with us in the set.
fn robust_set(
    participants: &[u32],
    me: u32,
    max_malicious: usize,
) -> Result<Participants, ProtocolError> {
    let bad = |s: &str| Err(ProtocolError::BadInput(s.to_string()));
    if participants.len() < 2 {
        return bad("needs at least 2 participants");
    }
    let Some(set) = Participants::new(participants) else {
        return bad("duplicate participants");
    };
    if !set.contains(me) {
        return bad("me is not a participant");
    }
    let needed = max_malicious.checked_mul(2).and_then(|v| v.checked_add(1));
    if needed != Some(set.len()) {
        return bad("the number of participants must be exactly 2*max_malicious+1");
    }
    Ok(set)
}

enum Stage {
    Evaluations,
    RShares,
    WShares,
    Done,
}

/// One participant's run of near's robust ECDSA presign.
pub struct RobustPresign {
    me: u32,
    max_malicious: usize,
    participants: Participants,
    private_share: Scalar,
    /// Our shares k, a, b, d, e (sums of everyone's evaluations at our point).
    shares: [Scalar; 5],
    heard: Vec<bool>,
    r_shares: Vec<Option<(ProjectivePoint, Scalar)>>,
    w_shares: Vec<Option<ProjectivePoint>>,
    big_r: ProjectivePoint,
    w: Scalar,
    inbox: Inbox,
    out: VecDeque<Outgoing>,
    stage: Stage,
    output: Option<RobustPresignOutput>,
    failed: bool,
    returned: bool,
}

impl Drop for RobustPresign {
    fn drop(&mut self) {
        self.private_share.zeroize();
        self.shares.iter_mut().for_each(Zeroize::zeroize);
        self.w.zeroize();
    }
}

impl RobustPresign {
    /// Checks near's rules and queues our round-1 evaluations for every other participant.
    pub fn new(
        participants: &[u32],
        me: u32,
        max_malicious: usize,
        private_share: Scalar,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, ProtocolError> {
        let set = robust_set(participants, me, max_malicious)?;
        let t = max_malicious;
        let random_poly =
            |constant: Option<Scalar>, degree: usize, rng: &mut dyn rand_core::RngCore| {
                let mut c = Vec::with_capacity(degree + 1);
                c.push(constant.unwrap_or_else(|| Scalar::random(&mut *rng)));
                c.extend((0..degree).map(|_| Scalar::random(&mut *rng)));
                c
            };
        let mut polys = [
            random_poly(None, t, rng),
            random_poly(None, t, rng),
            random_poly(Some(Scalar::ZERO), 2 * t, rng),
            random_poly(Some(Scalar::ZERO), 2 * t, rng),
            random_poly(Some(Scalar::ZERO), 2 * t, rng),
        ];
        let mut out = VecDeque::new();
        for p in set.others(me) {
            let mut w = Writer::with_prefix(&header(0).to_bytes());
            w.array(5);
            for poly in &polys {
                let mut v = evaluate(poly, p);
                write_scalar(&mut w, &v);
                v.zeroize();
            }
            out.push_back(Outgoing::Private(p, w.into_vec()));
        }
        let shares = [0, 1, 2, 3, 4].map(|i| evaluate(&polys[i], me));
        polys
            .iter_mut()
            .for_each(|p| p.iter_mut().for_each(Zeroize::zeroize));
        let n = set.len();
        let mut s = Self {
            me,
            max_malicious,
            private_share,
            shares,
            heard: alloc::vec![false; n],
            r_shares: alloc::vec![None; n],
            w_shares: alloc::vec![None; n],
            big_r: ProjectivePoint::IDENTITY,
            w: Scalar::ZERO,
            inbox: Inbox::new(ROBUST_PRESIGN_MAX_HEADERS),
            out,
            stage: Stage::Evaluations,
            output: None,
            failed: false,
            returned: false,
            participants: set,
        };
        let i = s.index(me);
        s.heard[i] = true;
        Ok(s)
    }

    fn index(&self, p: u32) -> usize {
        self.participants.index(p).unwrap_or(0)
    }

    /// Round 1 done: broadcast (R_i, w_i).
    fn send_r_and_w(&mut self) {
        let [k, a, b, _, _] = self.shares;
        let big_r_me = ProjectivePoint::GENERATOR * k;
        let mut w_me = a * k + b;
        let mut w = Writer::with_prefix(&header(1).to_bytes());
        w.array(2);
        write_point(&mut w, &big_r_me);
        write_scalar(&mut w, &w_me);
        self.out.push_back(Outgoing::Many(w.into_vec()));
        let i = self.index(self.me);
        self.r_shares[i] = Some((big_r_me, w_me));
        w_me.zeroize();
    }

    /// Round 2 done: check the R shares, interpolate R and w, broadcast W_i = a_i·R.
    fn send_w(&mut self) -> Result<(), ProtocolError> {
        let ids = self.participants.ids().to_vec();
        let (points, ws): (Vec<ProjectivePoint>, Vec<Scalar>) =
            self.r_shares.iter().flatten().copied().unzip();
        let big_r = check_on_polynomial(&ids, &points, self.max_malicious)?;
        if bool::from(k256::elliptic_curve::group::Group::is_identity(&big_r)) {
            return Err(ProtocolError::Ecdsa(EcdsaError::ZeroScalar { what: "R" }));
        }
        let xs: Vec<Scalar> = ids.iter().map(|id| x_of(*id)).collect();
        let w = lagrange_at(&xs, None)
            .iter()
            .zip(&ws)
            .fold(Scalar::ZERO, |acc, (l, w)| acc + l * w);
        if bool::from(w.is_zero()) {
            return Err(ProtocolError::Ecdsa(EcdsaError::ZeroScalar { what: "w" }));
        }
        let big_w_me = big_r * self.shares[1];
        let mut m = Writer::with_prefix(&header(2).to_bytes());
        write_point(&mut m, &big_w_me);
        self.out.push_back(Outgoing::Many(m.into_vec()));
        let i = self.index(self.me);
        self.w_shares[i] = Some(big_w_me);
        self.big_r = big_r;
        self.w = w;
        Ok(())
    }

    /// Round 3 done: check W = w·G and compute the output.
    fn finish(&mut self) -> Result<RobustPresignOutput, ProtocolError> {
        let ids = self.participants.ids().to_vec();
        let points: Vec<ProjectivePoint> = self.w_shares.iter().flatten().copied().collect();
        let big_w = check_on_polynomial(&ids, &points, self.max_malicious)?;
        if big_w != ProjectivePoint::GENERATOR * self.w {
            return Err(ProtocolError::Ecdsa(EcdsaError::InconsistentShares {
                what: "W",
            }));
        }
        let w_inv = Option::<Scalar>::from(self.w.invert())
            .ok_or(ProtocolError::Ecdsa(EcdsaError::ZeroScalar { what: "w" }))?;
        let [_, a, _, d, e] = self.shares;
        let c = w_inv * a;
        Ok(RobustPresignOutput {
            big_r: self.big_r.to_affine(),
            c,
            e,
            alpha: c + d,
            beta: c * self.private_share,
        })
    }

    /// Handles one queued message of the current stage; false when none is queued.
    fn step(&mut self) -> Result<bool, ProtocolError> {
        let wp = match self.stage {
            Stage::Evaluations => 0,
            Stage::RShares => 1,
            Stage::WShares => 2,
            Stage::Done => return Ok(false),
        };
        let Some((from, msg)) = self.inbox.pop(header(wp)) else {
            return Ok(false);
        };
        let payload = &msg[HEADER_LEN..];
        let i = self.index(from);
        match self.stage {
            Stage::Evaluations => {
                let mut ev = decode_evaluations(payload).map_err(malformed(from, 0))?;
                if !self.heard[i] {
                    self.heard[i] = true;
                    self.shares.iter_mut().zip(&ev).for_each(|(s, v)| *s += v);
                }
                ev.iter_mut().for_each(Zeroize::zeroize);
                if self.heard.iter().all(|h| *h) {
                    self.send_r_and_w();
                    self.stage = Stage::RShares;
                }
            }
            Stage::RShares => {
                let rw = decode_r_and_w(payload).map_err(malformed(from, 1))?;
                self.r_shares[i].get_or_insert(rw);
                if self.r_shares.iter().all(Option::is_some) {
                    self.send_w()?;
                    self.stage = Stage::WShares;
                }
            }
            Stage::WShares => {
                let p = decode_point(payload).map_err(malformed(from, 2))?;
                self.w_shares[i].get_or_insert(p);
                if self.w_shares.iter().all(Option::is_some) {
                    self.output = Some(self.finish()?);
                    self.stage = Stage::Done;
                }
            }
            Stage::Done => {}
        }
        Ok(true)
    }
}

impl Protocol for RobustPresign {
    type Output = RobustPresignOutput;

    fn poke(&mut self) -> Result<Action<Self::Output>, ProtocolError> {
        if self.failed || self.returned {
            return Err(ProtocolError::Finished);
        }
        if let Some(o) = self.out.pop_front() {
            return Ok(o.into_action());
        }
        loop {
            match self.step() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        if let Some(o) = self.out.pop_front() {
            return Ok(o.into_action());
        }
        if let Some(out) = self.output.take() {
            self.returned = true;
            return Ok(Action::Return(out));
        }
        Ok(Action::Wait)
    }

    fn message(&mut self, from: u32, data: Vec<u8>) -> Result<(), ProtocolError> {
        if self.failed || self.returned {
            return Ok(());
        }
        if from == self.me || !self.participants.contains(from) {
            return Err(ProtocolError::UnknownSender { from });
        }
        self.inbox
            .push(from, data)
            .inspect_err(|_| self.failed = true)
    }
}

/// A robust presignature rerandomized for one request.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RerandomizedRobustPresign {
    #[zeroize(skip)]
    pub big_r: AffinePoint,
    pub e: Scalar,
    pub alpha: Scalar,
    pub beta: Scalar,
}

impl RerandomizedRobustPresign {
    /// near's robust `rerandomize_presign`.
    pub fn new(
        presig: &RobustPresignOutput,
        args: &Rerandomization,
    ) -> Result<Self, ProtocolError> {
        if presig.big_r != args.big_r {
            return Err(ProtocolError::Ecdsa(EcdsaError::RerandomizationMismatch));
        }
        let delta = args.delta();
        let inv = Option::<Scalar>::from(delta.invert()).ok_or(ProtocolError::Ecdsa(
            EcdsaError::ZeroScalar { what: "delta" },
        ))?;
        Ok(Self {
            big_r: (ProjectivePoint::from(presig.big_r) * delta).to_affine(),
            e: presig.e,
            alpha: presig.alpha * inv,
            beta: (presig.beta + presig.c * args.tweak) * inv,
        })
    }
}

/// One signer's run of near's robust ECDSA signing.
pub struct RobustSign {
    me: u32,
    participants: Participants,
    public_key: AffinePoint,
    big_r: AffinePoint,
    msg_hash: Scalar,
    s: Scalar,
    received: Vec<bool>,
    inbox: Inbox,
    out: VecDeque<Outgoing>,
    done: bool,
    signature: Option<Signature>,
    failed: bool,
    returned: bool,
}

impl Drop for RobustSign {
    fn drop(&mut self) {
        self.s.zeroize();
    }
}

impl RobustSign {
    /// `public_key` is the derived key; `presig` already rerandomized for this request.
    pub fn new(
        participants: &[u32],
        leader: u32,
        max_malicious: usize,
        me: u32,
        public_key: AffinePoint,
        presig: &RerandomizedRobustPresign,
        msg_hash: Scalar,
    ) -> Result<Self, ProtocolError> {
        let set = robust_set(participants, me, max_malicious)?;
        if !set.contains(leader) {
            return Err(ProtocolError::BadInput(
                "the leader must be a participant".to_string(),
            ));
        }
        if bool::from(msg_hash.is_zero()) {
            return Err(ProtocolError::BadInput("msg_hash cannot be 0".to_string()));
        }
        let r = x_coordinate(&presig.big_r);
        let s_i = (msg_hash * presig.alpha + presig.beta * r + presig.e) * lagrange(&set, me);
        let mut out = VecDeque::new();
        if me != leader {
            let mut w = Writer::with_prefix(&header(0).to_bytes());
            write_scalar(&mut w, &s_i);
            out.push_back(Outgoing::Private(leader, w.into_vec()));
        }
        let mut received = alloc::vec![false; set.len()];
        if let Some(i) = set.index(me) {
            received[i] = true;
        }
        Ok(Self {
            me,
            public_key,
            big_r: presig.big_r,
            msg_hash,
            s: s_i,
            received,
            inbox: Inbox::new(ROBUST_SIGN_MAX_HEADERS),
            out,
            done: me != leader,
            signature: None,
            failed: false,
            returned: false,
            participants: set,
        })
    }

    fn advance(&mut self) -> Result<(), ProtocolError> {
        while !self.done {
            let Some((from, msg)) = self.inbox.pop(header(0)) else {
                return Ok(());
            };
            let s_j = decode_scalar(&msg[HEADER_LEN..]).map_err(malformed(from, 0))?;
            match self.participants.index(from) {
                Some(i) if !self.received[i] => self.received[i] = true,
                _ => continue,
            }
            self.s += s_j;
            if self.received.iter().all(|r| *r) {
                if bool::from(self.s.is_zero()) {
                    return Err(ProtocolError::Ecdsa(EcdsaError::ZeroScalar { what: "s" }));
                }
                let sig = Signature {
                    big_r: self.big_r,
                    s: normalize_s(self.s),
                };
                if !sig.verify(&self.public_key, &self.msg_hash) {
                    return Err(ProtocolError::Ecdsa(EcdsaError::SignatureInvalid));
                }
                self.signature = Some(sig);
                self.done = true;
            }
        }
        Ok(())
    }
}

impl Protocol for RobustSign {
    /// The leader's signature; `None` at followers.
    type Output = Option<Signature>;

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
        if self.done {
            self.returned = true;
            return Ok(Action::Return(self.signature.take()));
        }
        Ok(Action::Wait)
    }

    fn message(&mut self, from: u32, data: Vec<u8>) -> Result<(), ProtocolError> {
        if self.failed || self.returned {
            return Ok(());
        }
        if from == self.me || !self.participants.contains(from) {
            return Err(ProtocolError::UnknownSender { from });
        }
        self.inbox
            .push(from, data)
            .inspect_err(|_| self.failed = true)
    }
}
