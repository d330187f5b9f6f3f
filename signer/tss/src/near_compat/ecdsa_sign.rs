//! near's CaitSith (OT-based ECDSA) signing, message compatible, as near's node runs it:
//! the presignature is rerandomized for the request (δ from [`Rerandomization`]: R' = δR,
//! k' = k/δ, σ' = (σ + tweak·k)/δ, so the signature is under the derived key pk + tweak·G), then
//! one waitpoint on the shared channel: every follower sends s_i = h·λ_i·k'_i + r·λ_i·σ'_i
//! privately to the leader and returns at once; the leader sums, normalises s to the low half and
//! verifies the signature against the derived key before returning it.

use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::vec::Vec;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::channel::{ChannelTag, Header, Inbox, HEADER_LEN};
use super::ecdsa::{
    decode_scalar, lagrange, normalize_s, write_scalar, x_coordinate, EcdsaError, Rerandomization,
    Signature,
};
use super::error::ProtocolError;
use super::msgpack::Writer;
use super::presign::PresignOutput;
use super::protocol::{Action, Outgoing, Participants, Protocol};

/// Distinct headers a sign run buffers at most (near: 1 at the leader).
pub const SIGN_MAX_HEADERS: usize = 1;

/// A presignature rerandomized for one request.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RerandomizedPresign {
    #[zeroize(skip)]
    pub big_r: AffinePoint,
    pub k: Scalar,
    pub sigma: Scalar,
}

impl RerandomizedPresign {
    /// near's `rerandomize_presign`: refuses a presignature whose R is not the one hashed.
    pub fn new(presig: &PresignOutput, args: &Rerandomization) -> Result<Self, ProtocolError> {
        if presig.big_r != args.big_r {
            return Err(ProtocolError::Ecdsa(EcdsaError::RerandomizationMismatch));
        }
        let delta = args.delta();
        let inv = Option::<Scalar>::from(delta.invert()).ok_or(ProtocolError::Ecdsa(
            EcdsaError::ZeroScalar { what: "delta" },
        ))?;
        Ok(Self {
            big_r: (ProjectivePoint::from(presig.big_r) * delta).to_affine(),
            k: presig.k * inv,
            sigma: (presig.sigma + args.tweak * presig.k) * inv,
        })
    }
}

/// One signer's run of near's CaitSith signing.
pub struct EcdsaSign {
    me: u32,
    participants: Participants,
    /// The derived key the signature must verify under.
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

impl Drop for EcdsaSign {
    fn drop(&mut self) {
        self.s.zeroize();
    }
}

fn header() -> Header {
    Header::new(ChannelTag::shared(), 0)
}

impl EcdsaSign {
    /// `public_key` is the derived key; `presig` already rerandomized for this request.
    pub fn new(
        participants: &[u32],
        leader: u32,
        threshold: usize,
        me: u32,
        public_key: AffinePoint,
        presig: &RerandomizedPresign,
        msg_hash: Scalar,
    ) -> Result<Self, ProtocolError> {
        let bad = |s: &str| Err(ProtocolError::BadInput(s.to_string()));
        if participants.len() < 2 {
            return bad("signing needs at least 2 participants");
        }
        let Some(set) = Participants::new(participants) else {
            return bad("duplicate participants");
        };
        if !set.contains(me) || !set.contains(leader) {
            return bad("me and the leader must be participants");
        }
        if set.len() < threshold {
            return bad("fewer participants than the threshold");
        }
        let lambda = lagrange(&set, me);
        let r = x_coordinate(&presig.big_r);
        let s_i = msg_hash * (lambda * presig.k) + r * (lambda * presig.sigma);
        let mut out = VecDeque::new();
        let mut received = alloc::vec![false; set.len()];
        if let Some(i) = set.index(me) {
            received[i] = true;
        }
        if me != leader {
            let mut w = Writer::with_prefix(&header().to_bytes());
            write_scalar(&mut w, &s_i);
            out.push_back(Outgoing::Private(leader, w.into_vec()));
        }
        Ok(Self {
            me,
            public_key,
            big_r: presig.big_r,
            msg_hash,
            s: s_i,
            received,
            inbox: Inbox::new(SIGN_MAX_HEADERS),
            out,
            done: me != leader,
            signature: None,
            failed: false,
            returned: false,
            participants: set,
        })
    }

    /// Leader: every share in → normalise and verify.
    fn aggregate(&mut self) -> Result<(), ProtocolError> {
        let sig = Signature {
            big_r: self.big_r,
            s: normalize_s(self.s),
        };
        if !sig.verify(&self.public_key, &self.msg_hash) {
            return Err(ProtocolError::Ecdsa(EcdsaError::SignatureInvalid));
        }
        self.signature = Some(sig);
        self.done = true;
        Ok(())
    }

    fn advance(&mut self) -> Result<(), ProtocolError> {
        while !self.done {
            let Some((from, msg)) = self.inbox.pop(header()) else {
                return Ok(());
            };
            let s_j =
                decode_scalar(&msg[HEADER_LEN..]).map_err(|error| ProtocolError::Malformed {
                    from,
                    waitpoint: 0,
                    error,
                })?;
            match self.participants.index(from) {
                Some(i) if !self.received[i] => self.received[i] = true,
                _ => continue,
            }
            self.s += s_j;
            if self.received.iter().all(|r| *r) {
                self.aggregate()?;
            }
        }
        Ok(())
    }
}

impl Protocol for EcdsaSign {
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
