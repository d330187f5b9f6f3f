//! Errors: what went wrong, and, when the protocol can tell, which participant caused it.

use crate::participants::ParticipantId;
use core::fmt;

/// A malformed byte string (message, stored share, key string). Carries where it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the field `what` could be read.
    Truncated { what: &'static str },
    /// Bytes were left over after the last field.
    TrailingBytes { extra: usize },
    /// A length prefix for `what` exceeded its bound.
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A scalar was not canonical (≥ the group order).
    BadScalar { what: &'static str },
    /// A point did not decode to a curve point.
    BadPoint { what: &'static str },
    /// A field had a value outside its domain.
    BadValue { what: &'static str },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { what } => write!(f, "input ends inside {what}"),
            DecodeError::TrailingBytes { extra } => write!(f, "{extra} trailing bytes"),
            DecodeError::TooLong { what, len, max } => {
                write!(f, "{what}: length {len} exceeds {max}")
            }
            DecodeError::BadScalar { what } => write!(f, "{what}: scalar not canonical"),
            DecodeError::BadPoint { what } => write!(f, "{what}: not a curve point"),
            DecodeError::BadValue { what } => write!(f, "{what}: value out of range"),
        }
    }
}

/// Why a protocol stopped. Variants with a `from`/`culprit` field name the participant whose
/// message caused the abort; honest participants never produce these variants about each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The caller's inputs are inconsistent (wrong participant set, threshold, reused triple...).
    BadInput(&'static str),
    /// A message from `from` could not be decoded.
    Malformed {
        from: ParticipantId,
        error: DecodeError,
    },
    /// A message from `from` belongs to another session or protocol (replay or misroute).
    WrongSession { from: ParticipantId },
    /// `from` sent a message whose header names another sender or recipient.
    Misrouted { from: ParticipantId },
    /// `from` is not a participant of this protocol or not expected to speak in `round`.
    UnexpectedSender { from: ParticipantId, round: u8 },
    /// `from` sent a second message for the same round (a replay or an equivocation attempt).
    Duplicate { from: ParticipantId, round: u8 },
    /// `from` sent a message for a round that has already been processed or does not exist.
    StaleRound { from: ParticipantId, round: u8 },
    /// `culprit` revealed values that do not match its earlier commitment.
    BadCommitment { culprit: ParticipantId },
    /// `culprit` sent a secret share inconsistent with its public commitments.
    BadShare { culprit: ParticipantId },
    /// `culprit` sent a zero-knowledge proof that does not verify.
    BadProof { culprit: ParticipantId },
    /// `culprit` failed the oblivious-transfer extension consistency check.
    BadOtExtension { culprit: ParticipantId },
    /// `culprit` reports a different view of the broadcast messages than ours: either it or the
    /// sender of some broadcast equivocated. The protocol cannot tell which.
    InconsistentBroadcast { culprit: ParticipantId },
    /// The triple multiplication check failed: some participant cheated inside the pairwise
    /// multiplication, which the protocol detects but cannot attribute.
    MultiplicationCheckFailed,
    /// The combined signature does not verify, and no single share could be blamed.
    InvalidSignature,
    /// A degenerate value appeared (zero nonce product, zero signature); retry with new inputs.
    Degenerate(&'static str),
    /// `poke` was called after the protocol returned its output or failed.
    Finished,
}

impl ProtocolError {
    /// The participant this error blames, if any.
    pub fn culprit(&self) -> Option<ParticipantId> {
        match *self {
            ProtocolError::Malformed { from, .. }
            | ProtocolError::WrongSession { from }
            | ProtocolError::Misrouted { from }
            | ProtocolError::UnexpectedSender { from, .. }
            | ProtocolError::Duplicate { from, .. }
            | ProtocolError::StaleRound { from, .. } => Some(from),
            ProtocolError::BadCommitment { culprit }
            | ProtocolError::BadShare { culprit }
            | ProtocolError::BadProof { culprit }
            | ProtocolError::BadOtExtension { culprit }
            | ProtocolError::InconsistentBroadcast { culprit } => Some(culprit),
            _ => None,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadInput(why) => write!(f, "bad input: {why}"),
            ProtocolError::Malformed { from, error } => {
                write!(f, "malformed message from {from}: {error}")
            }
            ProtocolError::WrongSession { from } => {
                write!(f, "message from {from} belongs to another session")
            }
            ProtocolError::Misrouted { from } => write!(f, "misrouted message from {from}"),
            ProtocolError::UnexpectedSender { from, round } => {
                write!(f, "{from} not expected in round {round}")
            }
            ProtocolError::Duplicate { from, round } => {
                write!(f, "duplicate round {round} message from {from}")
            }
            ProtocolError::StaleRound { from, round } => {
                write!(f, "stale or unknown round {round} from {from}")
            }
            ProtocolError::BadCommitment { culprit } => {
                write!(f, "{culprit} opened a commitment wrongly")
            }
            ProtocolError::BadShare { culprit } => {
                write!(f, "{culprit} sent an inconsistent share")
            }
            ProtocolError::BadProof { culprit } => write!(f, "{culprit} sent an invalid proof"),
            ProtocolError::BadOtExtension { culprit } => {
                write!(f, "{culprit} failed the OT extension check")
            }
            ProtocolError::InconsistentBroadcast { culprit } => {
                write!(
                    f,
                    "{culprit} saw different broadcasts (it or a sender equivocated)"
                )
            }
            ProtocolError::MultiplicationCheckFailed => {
                write!(f, "triple multiplication check failed")
            }
            ProtocolError::InvalidSignature => write!(f, "combined signature does not verify"),
            ProtocolError::Degenerate(what) => write!(f, "degenerate value: {what}"),
            ProtocolError::Finished => write!(f, "protocol already finished"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}
