//! The sans-IO protocol interface and the round bookkeeping shared by every protocol:
//! envelope checks, buffering of early messages, duplicate/replay detection, the outbox, and
//! the digest of all broadcasts used for the final echo (broadcast-consistency) check.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use crate::error::ProtocolError;
use crate::math::Transcript;
use crate::participants::{ParticipantId, ParticipantList};
use crate::wire::{Envelope, ProtocolKind};
use crate::SessionId;

/// What a protocol asks its caller to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<T> {
    /// Nothing to do until more messages arrive.
    Wait,
    /// Send these bytes to every other participant of the protocol.
    SendMany(Vec<u8>),
    /// Send these bytes to one participant, over a confidential authenticated channel.
    SendPrivate(ParticipantId, Vec<u8>),
    /// The protocol finished with this output. Further `poke`s return [`ProtocolError::Finished`].
    Return(T),
}

/// A protocol run by one participant. The caller authenticates peers: `from` must be the
/// transport-authenticated identity of the sender.
pub trait Protocol {
    type Output;
    /// Advance as far as possible without new input.
    fn poke(&mut self) -> Result<Action<Self::Output>, ProtocolError>;
    /// Feed one message received from `from`. Errors name the sender when its message is at
    /// fault; after an error the protocol is aborted.
    fn message(&mut self, from: ParticipantId, data: &[u8]) -> Result<(), ProtocolError>;
}

/// Key of a buffered message: (round, private?, sender).
type InboxKey = (u8, bool, ParticipantId);

pub(crate) struct Engine {
    kind: ProtocolKind,
    session: SessionId,
    pub me: ParticipantId,
    participants: ParticipantList,
    max_round: u8,
    /// The round whose messages are awaited; 0 before the first step.
    round: u8,
    /// The last round whose messages were consumed.
    processed: u8,
    expect_broadcast: Vec<ParticipantId>,
    expect_private: Vec<ParticipantId>,
    inbox: BTreeMap<InboxKey, Vec<u8>>,
    outbox: VecDeque<Action<()>>,
    /// SHA-256 of every broadcast payload seen (own included), by (round, sender).
    broadcast_digests: BTreeMap<(u8, ParticipantId), [u8; 32]>,
    failed: Option<ProtocolError>,
    finished: bool,
}

impl Engine {
    pub fn new(
        kind: ProtocolKind,
        session: SessionId,
        me: ParticipantId,
        participants: ParticipantList,
        max_round: u8,
    ) -> Result<Self, ProtocolError> {
        if !participants.contains(me) {
            return Err(ProtocolError::BadInput(
                "own id is not among the participants",
            ));
        }
        Ok(Engine {
            kind,
            session,
            me,
            participants,
            max_round,
            round: 0,
            processed: 0,
            expect_broadcast: Vec::new(),
            expect_private: Vec::new(),
            inbox: BTreeMap::new(),
            outbox: VecDeque::new(),
            broadcast_digests: BTreeMap::new(),
            failed: None,
            finished: false,
        })
    }

    pub fn session(&self) -> &SessionId {
        &self.session
    }

    pub fn round(&self) -> u8 {
        self.round
    }

    pub fn participants(&self) -> &ParticipantList {
        &self.participants
    }

    /// Declares what the next round needs and moves to it.
    pub fn expect(
        &mut self,
        round: u8,
        broadcast_from: &[ParticipantId],
        private_from: &[ParticipantId],
    ) {
        self.round = round;
        self.expect_broadcast = broadcast_from
            .iter()
            .copied()
            .filter(|p| *p != self.me)
            .collect();
        self.expect_private = private_from
            .iter()
            .copied()
            .filter(|p| *p != self.me)
            .collect();
    }

    fn ready(&self) -> bool {
        let r = self.round;
        self.expect_broadcast
            .iter()
            .all(|p| self.inbox.contains_key(&(r, false, *p)))
            && self
                .expect_private
                .iter()
                .all(|p| self.inbox.contains_key(&(r, true, *p)))
    }

    /// Any message buffered for the current round that nobody asked for names its sender.
    fn check_no_extras(&self) -> Result<(), ProtocolError> {
        let r = self.round;
        for &(round, private, from) in self
            .inbox
            .range((r, false, ParticipantId(0))..)
            .map(|(k, _)| k)
        {
            if round != r {
                break;
            }
            let expected = if private {
                &self.expect_private
            } else {
                &self.expect_broadcast
            };
            if !expected.contains(&from) {
                return Err(ProtocolError::UnexpectedSender { from, round });
            }
        }
        Ok(())
    }

    fn receive(&mut self, from: ParticipantId, data: &[u8]) -> Result<(), ProtocolError> {
        if from == self.me || !self.participants.contains(from) {
            return Err(ProtocolError::UnexpectedSender { from, round: 0 });
        }
        let env =
            Envelope::decode(data).map_err(|error| ProtocolError::Malformed { from, error })?;
        if env.kind != self.kind as u8 || env.session != self.session {
            return Err(ProtocolError::WrongSession { from });
        }
        if env.from != from || env.to.is_some_and(|to| to != self.me) {
            return Err(ProtocolError::Misrouted { from });
        }
        // Round 0 is never sent; rounds already processed are over.
        if env.round == 0 || env.round > self.max_round || env.round <= self.processed {
            return Err(ProtocolError::StaleRound {
                from,
                round: env.round,
            });
        }
        let key = (env.round, env.to.is_some(), from);
        if self.inbox.contains_key(&key) {
            return Err(ProtocolError::Duplicate {
                from,
                round: env.round,
            });
        }
        self.inbox.insert(key, env.payload.to_vec());
        Ok(())
    }

    /// Removes a broadcast of the current round and records it for the echo check.
    pub fn take_broadcast(&mut self, from: ParticipantId) -> Vec<u8> {
        let payload = self
            .inbox
            .remove(&(self.round, false, from))
            .unwrap_or_default();
        self.record_broadcast(self.round, from, &payload);
        payload
    }

    pub fn take_private(&mut self, from: ParticipantId) -> Vec<u8> {
        self.inbox
            .remove(&(self.round, true, from))
            .unwrap_or_default()
    }

    fn record_broadcast(&mut self, round: u8, from: ParticipantId, payload: &[u8]) {
        let mut t = Transcript::new(b"broadcast");
        t.append(payload);
        self.broadcast_digests.insert((round, from), t.finish());
    }

    /// Queues a broadcast for `round` (also recorded locally for the echo check).
    pub fn send_all(&mut self, round: u8, payload: Vec<u8>) {
        self.record_broadcast(round, self.me, &payload);
        let env = Envelope {
            kind: self.kind as u8,
            session: self.session,
            round,
            from: self.me,
            to: None,
            payload: &payload,
        };
        self.outbox.push_back(Action::SendMany(env.encode()));
    }

    pub fn send_to(&mut self, round: u8, to: ParticipantId, payload: &[u8]) {
        let env = Envelope {
            kind: self.kind as u8,
            session: self.session,
            round,
            from: self.me,
            to: Some(to),
            payload,
        };
        self.outbox.push_back(Action::SendPrivate(to, env.encode()));
    }

    /// Digest of every broadcast seen so far, in (round, sender) order, bound to the session.
    pub fn broadcast_digest(&self) -> [u8; 32] {
        let mut t = Transcript::new(b"echo");
        t.append(&self.session);
        for ((round, from), d) in &self.broadcast_digests {
            t.append(&[*round]).append_u32(from.0).append(d);
        }
        t.finish()
    }
}

/// A protocol's rounds, driven by [`drive`].
pub(crate) trait Rounds {
    type Output;
    fn engine(&mut self) -> &mut Engine;
    /// Where a finished output waits until the outbox has drained.
    fn output_slot(&mut self) -> &mut Option<Self::Output>;
    /// Runs the current round (all awaited messages are buffered): either calls
    /// [`Engine::expect`] for a later round or returns the output.
    fn step(&mut self) -> Result<Option<Self::Output>, ProtocolError>;
}

pub(crate) fn drive<R: Rounds>(r: &mut R) -> Result<Action<R::Output>, ProtocolError> {
    loop {
        let e = r.engine();
        if let Some(err) = &e.failed {
            return Err(err.clone());
        }
        if let Some(a) = e.outbox.pop_front() {
            return Ok(match a {
                Action::SendMany(b) => Action::SendMany(b),
                Action::SendPrivate(p, b) => Action::SendPrivate(p, b),
                Action::Wait | Action::Return(()) => Action::Wait,
            });
        }
        if e.finished {
            return Err(ProtocolError::Finished);
        }
        if let Some(out) = r.output_slot().take() {
            let e = r.engine();
            e.finished = true;
            e.inbox.clear();
            return Ok(Action::Return(out));
        }
        let e = r.engine();
        if !e.ready() {
            return Ok(Action::Wait);
        }
        let before = e.round;
        let result = e.check_no_extras().and_then(|()| r.step());
        let e = r.engine();
        match result {
            Err(err) => {
                e.failed = Some(err.clone());
                e.outbox.clear();
                return Err(err);
            }
            Ok(Some(out)) => {
                e.processed = before;
                *r.output_slot() = Some(out);
            }
            Ok(None) => {
                e.processed = before;
                if e.round <= before {
                    let err = ProtocolError::BadInput("internal: round did not advance");
                    e.failed = Some(err.clone());
                    return Err(err);
                }
            }
        }
    }
}

pub(crate) fn deliver<R: Rounds>(
    r: &mut R,
    from: ParticipantId,
    data: &[u8],
) -> Result<(), ProtocolError> {
    let e = r.engine();
    if let Some(err) = &e.failed {
        return Err(err.clone());
    }
    if e.finished {
        return Err(ProtocolError::Finished);
    }
    if let Err(err) = e.receive(from, data) {
        e.failed = Some(err.clone());
        e.outbox.clear();
        return Err(err);
    }
    Ok(())
}

/// Implements [`Protocol`] for a type implementing [`Rounds`].
macro_rules! impl_protocol {
    ($t:ident, $out:ty) => {
        impl<R: rand_core::CryptoRngCore> $crate::engine::Protocol for $t<R> {
            type Output = $out;
            fn poke(
                &mut self,
            ) -> Result<$crate::engine::Action<Self::Output>, $crate::error::ProtocolError> {
                $crate::engine::drive(self)
            }
            fn message(
                &mut self,
                from: $crate::participants::ParticipantId,
                data: &[u8],
            ) -> Result<(), $crate::error::ProtocolError> {
                $crate::engine::deliver(self, from, data)
            }
        }
    };
    (plain $t:ty, $out:ty) => {
        impl $crate::engine::Protocol for $t {
            type Output = $out;
            fn poke(
                &mut self,
            ) -> Result<$crate::engine::Action<Self::Output>, $crate::error::ProtocolError> {
                $crate::engine::drive(self)
            }
            fn message(
                &mut self,
                from: $crate::participants::ParticipantId,
                data: &[u8],
            ) -> Result<(), $crate::error::ProtocolError> {
                $crate::engine::deliver(self, from, data)
            }
        }
    };
}
pub(crate) use impl_protocol;
