//! The sans-IO interface of the near-compatible protocols, shaped like near's `Protocol`:
//! the caller feeds each received message with [`Protocol::message`] and calls
//! [`Protocol::poke`] until it returns [`Action::Wait`], sending every message it returns.
//! `SendMany` goes to every other participant of the run, never to ourselves.

use alloc::vec::Vec;

use super::error::ProtocolError;

/// What the caller must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<T> {
    /// Nothing more until a message arrives.
    Wait,
    /// Deliver these bytes to every other participant.
    SendMany(Vec<u8>),
    /// Deliver these bytes to one participant only (confidentially: the transport's job).
    SendPrivate(u32, Vec<u8>),
    /// Finished with this output.
    Return(T),
}

/// One participant's run of a protocol.
pub trait Protocol {
    type Output;
    /// Advance as far as possible; returns one action per call.
    fn poke(&mut self) -> Result<Action<Self::Output>, ProtocolError>;
    /// Feed one message (header ‖ payload) received from `from`, an authenticated peer.
    fn message(&mut self, from: u32, data: Vec<u8>) -> Result<(), ProtocolError>;
}

/// A message queued for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Many(Vec<u8>),
    Private(u32, Vec<u8>),
}

impl Outgoing {
    pub fn into_action<T>(self) -> Action<T> {
        match self {
            Outgoing::Many(m) => Action::SendMany(m),
            Outgoing::Private(to, m) => Action::SendPrivate(to, m),
        }
    }
}

/// A sorted, duplicate-free participant list with our own position in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participants {
    ids: Vec<u32>,
}

impl Participants {
    /// Sorts `ids`; `None` if there are duplicates.
    pub fn new(ids: &[u32]) -> Option<Self> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        Some(Self { ids })
    }

    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn index(&self, id: u32) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    pub fn contains(&self, id: u32) -> bool {
        self.index(id).is_some()
    }

    pub fn others(&self, me: u32) -> impl Iterator<Item = u32> + '_ {
        self.ids.iter().copied().filter(move |p| *p != me)
    }

    /// Members of `self` that are also in `other`, sorted.
    pub fn intersection(&self, other: &Participants) -> Participants {
        Participants {
            ids: self
                .ids
                .iter()
                .copied()
                .filter(|p| other.contains(*p))
                .collect(),
        }
    }
}
