//! Errors of the near-compatible protocol family: malformed bytes (with where they failed) and
//! protocol aborts (with the participant at fault when the protocol can tell).

use alloc::string::String;
use core::fmt;

/// A malformed MessagePack payload or message header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside `what`.
    Truncated { what: &'static str },
    /// `what` was expected but the MessagePack marker byte `marker` was found at `offset`.
    UnexpectedMarker {
        what: &'static str,
        marker: u8,
        offset: usize,
    },
    /// A length (array, map, string) of `what` was `got`, `expected` was required.
    WrongLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A length exceeded its bound.
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// An integer did not fit its field.
    IntOutOfRange { what: &'static str },
    /// A scalar was not a canonical encoding.
    BadScalar { what: &'static str },
    /// A point did not decode to a valid (non-identity, prime-order) group element.
    BadPoint { what: &'static str },
    /// An enum variant name was not one of the known ones.
    UnknownVariant { what: &'static str },
    /// Bytes were left after the value.
    TrailingBytes { extra: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what } => write!(f, "input ends inside {what}"),
            Self::UnexpectedMarker {
                what,
                marker,
                offset,
            } => write!(
                f,
                "{what}: unexpected marker 0x{marker:02x} at offset {offset}"
            ),
            Self::WrongLength {
                what,
                expected,
                got,
            } => write!(f, "{what}: length {got}, expected {expected}"),
            Self::TooLong { what, len, max } => write!(f, "{what}: length {len} exceeds {max}"),
            Self::IntOutOfRange { what } => write!(f, "{what}: integer out of range"),
            Self::BadScalar { what } => write!(f, "{what}: scalar not canonical"),
            Self::BadPoint { what } => write!(f, "{what}: not a valid group element"),
            Self::UnknownVariant { what } => write!(f, "{what}: unknown enum variant"),
            Self::TrailingBytes { extra } => write!(f, "{extra} trailing bytes"),
        }
    }
}

/// Why a protocol run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The caller's inputs are inconsistent (threshold, participant set, missing share...).
    BadInput(String),
    /// A message was shorter than the 40-byte header.
    MessageTooShort { from: u32, len: usize },
    /// `from` is not a participant of this run (or is ourselves).
    UnknownSender { from: u32 },
    /// Accepting the message would exceed the bound on distinct (channel, waitpoint) headers.
    BufferFull { from: u32, capacity: usize },
    /// A message from `from` at `waitpoint` could not be decoded.
    Malformed {
        from: u32,
        waitpoint: u64,
        error: DecodeError,
    },
    /// `from`'s proof of knowledge of its constant term failed.
    InvalidProofOfKnowledge { from: u32 },
    /// `from`'s commitment does not hash to the hash it committed to.
    InvalidCommitmentHash { from: u32 },
    /// `from`'s commitment has the wrong number of coefficients.
    WrongCommitmentLength {
        from: u32,
        got: usize,
        expected: usize,
    },
    /// `from` sent (or omitted) a proof inconsistent with its role (old member / joiner).
    WrongRole { from: u32 },
    /// The private share `from` sent does not match its commitment.
    InvalidShare { from: u32 },
    /// The echo broadcast of session `session` cannot reach agreement (its sender equivocated).
    BroadcastFailed { session: usize },
    /// The broadcast output of our own session differs from what we sent.
    OwnBroadcastAltered,
    /// A check of triple generation failed (`from`: the peer at fault when known).
    TripleCheckFailed {
        from: Option<u32>,
        check: &'static str,
    },
    /// A participant reported failure or another session in the final vote.
    FinalVoteFailed,
    /// The resulting public key is the identity or differs from the expected one.
    PublicKeyMismatch,
    /// The protocol was already finished or aborted.
    Finished,
    /// An ECDSA presign/sign check failed.
    Ecdsa(super::ecdsa::EcdsaError),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadInput(s) => write!(f, "bad input: {s}"),
            Self::MessageTooShort { from, len } => {
                write!(f, "message from {from} has {len} bytes, shorter than the header")
            }
            Self::UnknownSender { from } => write!(f, "{from} is not another participant"),
            Self::BufferFull { from, capacity } => write!(
                f,
                "message from {from} rejected: incoming message buffer is full (capacity: {capacity})"
            ),
            Self::Malformed {
                from,
                waitpoint,
                error,
            } => write!(f, "message from {from} at waitpoint {waitpoint}: {error}"),
            Self::InvalidProofOfKnowledge { from } => {
                write!(f, "invalid proof of knowledge from {from}")
            }
            Self::InvalidCommitmentHash { from } => {
                write!(f, "commitment of {from} does not match its hash")
            }
            Self::WrongCommitmentLength {
                from,
                got,
                expected,
            } => write!(f, "commitment of {from} has {got} coefficients, expected {expected}"),
            Self::WrongRole { from } => {
                write!(f, "{from} sent a proof inconsistent with being old member or joiner")
            }
            Self::InvalidShare { from } => write!(f, "share from {from} does not match its commitment"),
            Self::BroadcastFailed { session } => {
                write!(f, "echo broadcast session {session} cannot reach agreement")
            }
            Self::OwnBroadcastAltered => write!(f, "our own broadcast was delivered altered"),
            Self::TripleCheckFailed { from: Some(p), check } => {
                write!(f, "triple generation: {check} (participant {p})")
            }
            Self::TripleCheckFailed { from: None, check } => write!(f, "triple generation: {check}"),
            Self::FinalVoteFailed => write!(f, "a participant reported failure in the final vote"),
            Self::PublicKeyMismatch => write!(f, "public key is the identity or differs from the expected one"),
            Self::Finished => write!(f, "protocol already finished or aborted"),
            Self::Ecdsa(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}
#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
