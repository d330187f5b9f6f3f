//! Running threshold-protocol instances: one per session, each a tdsigner-tss state machine
//! with what it is for, who takes part, and when it last made progress. [`Instance::pump`] advances one as far
//! as it goes and returns what to send and how it ended; the node carries that out.

use alloc::boxed::Box;
use alloc::vec::Vec;

use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use tdsigner_near::CryptoHash;
use tdsigner_p2p::{Channel, ParticipantId, SessionId};
use tdsigner_tss::{
    Action, Dkg, FullSignature, KeyShare, Presign, PresignatureShare, Protocol, ProtocolError, Sign, TripleGeneration, TripleShare,
};

/// Why a run exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    Keygen { epoch: u64, attempt: u64 },
    Reshare { epoch: u64, attempt: u64 },
    Refresh { round: u64 },
    Triples { owner: ParticipantId },
    Presign { owner: ParticipantId },
    Sign { request_id: CryptoHash, leader: ParticipantId },
}

impl Purpose {
    /// Metric label.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Keygen { .. } => "keygen",
            Self::Reshare { .. } => "reshare",
            Self::Refresh { .. } => "refresh",
            Self::Triples { .. } => "triples",
            Self::Presign { .. } => "presign",
            Self::Sign { .. } => "sign",
        }
    }

    /// The participant that started the run and may abort it (key events have none: the
    /// contract drives them).
    pub fn owner(&self) -> Option<ParticipantId> {
        match self {
            Self::Triples { owner } | Self::Presign { owner } => Some(*owner),
            Self::Sign { leader, .. } => Some(*leader),
            _ => None,
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Self::Keygen { .. } | Self::Reshare { .. } | Self::Refresh { .. } => Channel::DKG,
            Self::Triples { .. } => Channel::TRIPLES,
            Self::Presign { .. } => Channel::PRESIGN,
            Self::Sign { .. } => Channel::SIGN,
        }
    }
}

/// The protocol state machine of a run.
pub enum Proto {
    Dkg(Dkg),
    Triples(TripleGeneration<ChaCha20Rng>),
    Presign(Presign),
    Sign(Sign),
}

/// What a run produced.
pub enum Output {
    Key(Option<Box<KeyShare>>),
    Triples(Vec<TripleShare>),
    Presignature(Box<PresignatureShare>),
    Signature(Option<FullSignature>),
}

/// One step's effects.
pub enum Pumped {
    /// Messages to send: (recipient, bytes).
    Send(Vec<(ParticipantId, Vec<u8>)>),
    Done(Output),
    Failed(ProtocolError),
}

/// A running protocol.
pub struct Instance {
    pub purpose: Purpose,
    pub proto: Proto,
    /// Everyone in the run, this node included.
    pub participants: Vec<ParticipantId>,
    pub me: ParticipantId,
    pub started_ms: u64,
    /// When the run last made progress (a peer message accepted, or messages sent).
    pub last_progress_ms: u64,
}

fn poke_one<P: Protocol>(p: &mut P, me: ParticipantId, all: &[ParticipantId], wrap: impl Fn(P::Output) -> Output) -> Vec<Pumped> {
    let mut sends = Vec::new();
    let mut out = Vec::new();
    // Bounded: each protocol has a handful of rounds; a poke that keeps returning sends
    // without waiting would be a bug, not an input, but we still cap it.
    for _ in 0..64 {
        match p.poke() {
            Ok(Action::Wait) => break,
            Ok(Action::SendMany(bytes)) => {
                for to in all.iter().copied().filter(|p| *p != me) {
                    sends.push((to, bytes.clone()));
                }
            }
            Ok(Action::SendPrivate(to, bytes)) => sends.push((to, bytes)),
            Ok(Action::Return(o)) => {
                out.push(Pumped::Done(wrap(o)));
                break;
            }
            Err(e) => {
                out.push(Pumped::Failed(e));
                break;
            }
        }
    }
    let mut all_steps = Vec::new();
    if !sends.is_empty() {
        all_steps.push(Pumped::Send(sends));
    }
    all_steps.extend(out);
    all_steps
}

impl Instance {
    /// Advances the run; sends come first, then at most one terminal step.
    pub fn pump(&mut self) -> Vec<Pumped> {
        let (me, all) = (self.me, self.participants.clone());
        match &mut self.proto {
            Proto::Dkg(p) => poke_one(p, me, &all, |k| Output::Key(k.map(Box::new))),
            Proto::Triples(p) => poke_one(p, me, &all, Output::Triples),
            Proto::Presign(p) => poke_one(p, me, &all, |p| Output::Presignature(Box::new(p))),
            Proto::Sign(p) => poke_one(p, me, &all, Output::Signature),
        }
    }

    /// Feeds one message from an authenticated peer.
    pub fn message(&mut self, from: ParticipantId, bytes: &[u8]) -> Result<(), ProtocolError> {
        match &mut self.proto {
            Proto::Dkg(p) => p.message(from, bytes),
            Proto::Triples(p) => p.message(from, bytes),
            Proto::Presign(p) => p.message(from, bytes),
            Proto::Sign(p) => p.message(from, bytes),
        }
    }
}

/// A session id: SHA-256 over a domain tag and length-prefixed parts. Every kind of run has
/// its own tag, so no two kinds can share an id.
pub fn session_id(kind: &[u8], parts: &[&[u8]]) -> SessionId {
    let mut h = Sha256::new();
    h.update(b"tdsigner-node/session/v1/");
    h.update((kind.len() as u32).to_le_bytes());
    h.update(kind);
    for p in parts {
        h.update((p.len() as u32).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// near/mpc's leader order for a request: participants sorted by
/// `u64_le(sha256(u32_le(id) ‖ request_id)[0..8])` (ties by id).
pub fn leader_order(participants: &[ParticipantId], request_id: &CryptoHash) -> Vec<ParticipantId> {
    let mut keyed: Vec<(u64, ParticipantId)> = participants
        .iter()
        .map(|p| {
            let mut h = Sha256::new();
            h.update(p.0.to_le_bytes());
            h.update(request_id.0);
            let d: [u8; 32] = h.finalize().into();
            let mut first = [0u8; 8];
            first.copy_from_slice(&d[..8]);
            (u64::from_le_bytes(first), *p)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_order_is_near_mpc_rule() {
        let req = CryptoHash([0xab; 32]);
        let ids: Vec<ParticipantId> = (0..5).map(ParticipantId).collect();
        let order = leader_order(&ids, &req);
        // Recompute by hand for each participant and check the order is by that key.
        let key = |id: u32| {
            let mut buf = Vec::new();
            buf.extend_from_slice(&id.to_le_bytes());
            buf.extend_from_slice(&[0xab; 32]);
            let d = Sha256::digest(&buf);
            u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
        };
        for w in order.windows(2) {
            assert!(key(w[0].0) <= key(w[1].0));
        }
        assert_eq!(order.len(), 5);
        // Independent of input order.
        let mut rev = ids.clone();
        rev.reverse();
        assert_eq!(leader_order(&rev, &req), order);
        // Pinned (computed independently with Python's hashlib):
        // sha256(u32_le(i) ‖ 0xab×32)[0..8] as u64 LE orders 0..5 as 4, 1, 0, 3, 2.
        let pinned: Vec<u32> = order.iter().map(|p| p.0).collect();
        assert_eq!(pinned, alloc::vec![4, 1, 0, 3, 2]);
    }

    #[test]
    fn sessions_are_domain_separated() {
        assert_ne!(session_id(b"sign", &[b"ab"]), session_id(b"presign", &[b"ab"]));
        assert_ne!(session_id(b"sign", &[b"a", b"b"]), session_id(b"sign", &[b"ab"]));
    }
}
