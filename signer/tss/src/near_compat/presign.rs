//! near's CaitSith (OT-based ECDSA) presign, message compatible. Inputs: a pair of Beaver
//! triples (k, d, e = kd) and (a, b, c = ab) shared by exactly this participant set with the
//! key's threshold, and the keygen share x. Shared channel, two waitpoints:
//! 0. everyone broadcasts λ_i·e_i; the sum e must open E (e·G = E) and no share may be zero;
//! 1. everyone broadcasts (λ_i(k_i + a_i), λ_i(x_i + b_i)); the sums α, β must open K + A and
//!    X + B.
//!
//! Output (per participant): R = e⁻¹·D = k⁻¹·G, our share k_i, and σ_i = α·x_i − (β·a_i − c_i),
//! a share of k·x. A presignature may be used once; rerandomize it per request before signing.

use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::vec::Vec;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::channel::{ChannelTag, Header, Inbox, HEADER_LEN};
use super::ecdsa::{decode_scalar, decode_scalar_pair, lagrange, write_scalar, EcdsaError};
use super::error::{DecodeError, ProtocolError};
use super::msgpack::Writer;
use super::protocol::{Action, Outgoing, Participants, Protocol};

/// Distinct headers a presign run buffers at most (near: 2).
pub const PRESIGN_MAX_HEADERS: usize = 2;

/// Our shares of one triple (a, b, c = a·b).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TripleShare {
    pub a: Scalar,
    pub b: Scalar,
    pub c: Scalar,
}

/// The public side of one triple: A = a·G, B = b·G, C = c·G, who shares it and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriplePub {
    pub big_a: AffinePoint,
    pub big_b: AffinePoint,
    pub big_c: AffinePoint,
    pub participants: Vec<u32>,
    pub threshold: usize,
}

/// A presignature share: R, our nonce share k_i and σ_i.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PresignOutput {
    #[zeroize(skip)]
    pub big_r: AffinePoint,
    pub k: Scalar,
    pub sigma: Scalar,
}

/// The inputs of one presign run.
pub struct PresignArgs {
    /// The pair's first triple, used as (k, d, e).
    pub triple0: (TripleShare, TriplePub),
    /// The pair's second triple, used as (a, b, c).
    pub triple1: (TripleShare, TriplePub),
    pub private_share: Scalar,
    pub public_key: ProjectivePoint,
    /// Must equal both triples' threshold.
    pub threshold: usize,
}

impl Drop for PresignArgs {
    fn drop(&mut self) {
        self.private_share.zeroize();
    }
}

enum Stage {
    /// Collecting λ_j·e_j.
    KdShares,
    /// Collecting (α_j, β_j).
    AlphaBeta,
    Done,
}

/// One participant's run of near's CaitSith presign.
pub struct Presign {
    me: u32,
    participants: Participants,
    args: PresignArgs,
    lambda: Scalar,
    received: Vec<bool>,
    e: Scalar,
    alpha: Scalar,
    beta: Scalar,
    inbox: Inbox,
    out: VecDeque<Outgoing>,
    stage: Stage,
    output: Option<PresignOutput>,
    failed: bool,
    returned: bool,
}

impl Drop for Presign {
    fn drop(&mut self) {
        self.e.zeroize();
        self.alpha.zeroize();
        self.beta.zeroize();
    }
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

impl Presign {
    /// Checks the inputs as near's `presign` does and queues our round-1 message.
    pub fn new(participants: &[u32], me: u32, args: PresignArgs) -> Result<Self, ProtocolError> {
        let bad = |s: &str| Err(ProtocolError::BadInput(s.to_string()));
        if participants.len() < 2 {
            return bad("presign needs at least 2 participants");
        }
        if args.threshold > participants.len() {
            return bad("threshold exceeds the number of participants");
        }
        if args.threshold != args.triple0.1.threshold || args.threshold != args.triple1.1.threshold
        {
            return bad("threshold must match the threshold of both triples");
        }
        let Some(set) = Participants::new(participants) else {
            return bad("duplicate participants");
        };
        if !set.contains(me) {
            return bad("me is not a participant");
        }
        let lambda = lagrange(&set, me);
        let mut e_i = lambda * args.triple0.0.c;
        let mut w = Writer::with_prefix(&header(0).to_bytes());
        write_scalar(&mut w, &e_i);
        let mut received = alloc::vec![false; set.len()];
        if let Some(i) = set.index(me) {
            received[i] = true;
        }
        let s = Self {
            me,
            lambda,
            received,
            e: e_i,
            alpha: Scalar::ZERO,
            beta: Scalar::ZERO,
            inbox: Inbox::new(PRESIGN_MAX_HEADERS),
            out: VecDeque::from([Outgoing::Many(w.into_vec())]),
            stage: Stage::KdShares,
            output: None,
            failed: false,
            returned: false,
            participants: set,
            args,
        };
        e_i.zeroize();
        Ok(s)
    }

    /// Marks `from` as heard at this waitpoint; false for a repeated sender (ignored, as near).
    fn first_from(&mut self, from: u32) -> bool {
        match self.participants.index(from) {
            Some(i) if !self.received[i] => {
                self.received[i] = true;
                true
            }
            _ => false,
        }
    }

    fn all_received(&self) -> bool {
        self.received.iter().all(|r| *r)
    }

    fn reset_received(&mut self) {
        self.received.iter_mut().for_each(|r| *r = false);
        if let Some(i) = self.participants.index(self.me) {
            self.received[i] = true;
        }
    }

    /// Round 1 complete: check E = e·G, then broadcast (α_i, β_i).
    fn start_round_two(&mut self) -> Result<(), ProtocolError> {
        let big_e = ProjectivePoint::from(self.args.triple0.1.big_c);
        if big_e != ProjectivePoint::GENERATOR * self.e {
            return Err(ProtocolError::Ecdsa(EcdsaError::InconsistentShares {
                what: "kd",
            }));
        }
        let (k, a) = (&self.args.triple0.0.a, &self.args.triple1.0.a);
        let mut alpha_i = self.lambda * (k + a);
        let mut beta_i = self.lambda * (self.args.private_share + self.args.triple1.0.b);
        let mut w = Writer::with_prefix(&header(1).to_bytes());
        w.array(2);
        write_scalar(&mut w, &alpha_i);
        write_scalar(&mut w, &beta_i);
        self.out.push_back(Outgoing::Many(w.into_vec()));
        self.alpha = alpha_i;
        self.beta = beta_i;
        alpha_i.zeroize();
        beta_i.zeroize();
        self.reset_received();
        Ok(())
    }

    /// Round 2 complete: check the openings and compute the presignature.
    fn finish(&mut self) -> Result<PresignOutput, ProtocolError> {
        let g = ProjectivePoint::GENERATOR;
        let (t0, t1) = (&self.args.triple0.1, &self.args.triple1.1);
        let big_k_plus_a = ProjectivePoint::from(t0.big_a) + ProjectivePoint::from(t1.big_a);
        let big_x_plus_b = self.args.public_key + ProjectivePoint::from(t1.big_b);
        if g * self.alpha != big_k_plus_a || g * self.beta != big_x_plus_b {
            return Err(ProtocolError::Ecdsa(EcdsaError::InconsistentShares {
                what: "additive triple phase",
            }));
        }
        let e_inv = Option::<Scalar>::from(self.e.invert())
            .ok_or(ProtocolError::Ecdsa(EcdsaError::ZeroScalar { what: "kd" }))?;
        let big_r = (ProjectivePoint::from(t0.big_b) * e_inv).to_affine();
        let (a_i, c_i) = (&self.args.triple1.0.a, &self.args.triple1.0.c);
        let sigma = self.alpha * self.args.private_share - (self.beta * a_i - c_i);
        Ok(PresignOutput {
            big_r,
            k: self.args.triple0.0.a,
            sigma,
        })
    }

    fn advance(&mut self) -> Result<(), ProtocolError> {
        loop {
            match self.stage {
                Stage::KdShares => {
                    let Some((from, msg)) = self.inbox.pop(header(0)) else {
                        return Ok(());
                    };
                    let e_j = decode_scalar(&msg[HEADER_LEN..]).map_err(malformed(from, 0))?;
                    if !self.first_from(from) {
                        continue;
                    }
                    if bool::from(e_j.is_zero()) {
                        return Err(ProtocolError::Ecdsa(EcdsaError::ZeroShare { from }));
                    }
                    self.e += e_j;
                    if self.all_received() {
                        self.start_round_two()?;
                        self.stage = Stage::AlphaBeta;
                    }
                }
                Stage::AlphaBeta => {
                    let Some((from, msg)) = self.inbox.pop(header(1)) else {
                        return Ok(());
                    };
                    let (a_j, b_j) =
                        decode_scalar_pair(&msg[HEADER_LEN..]).map_err(malformed(from, 1))?;
                    if !self.first_from(from) {
                        continue;
                    }
                    self.alpha += a_j;
                    self.beta += b_j;
                    if self.all_received() {
                        self.output = Some(self.finish()?);
                        self.stage = Stage::Done;
                    }
                }
                Stage::Done => return Ok(()),
            }
        }
    }
}

impl Protocol for Presign {
    type Output = PresignOutput;

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
