//! Threshold ECDSA over secp256k1 for NEAR chain signatures.
//!
//! This crate owns the signing core of tdsigner: distributed key generation, resharing and
//! refresh of the key, Beaver triple generation, presignatures and signing, in the Cait-Sith
//! family of protocols (triples, then one-round presign, then one-round sign), plus NEAR's
//! additive key derivation and the output formats the near/mpc `v1.signer` contract accepts.
//!
//! Design rules:
//! - Every protocol is a sans-IO state machine implementing [`Protocol`]: the caller feeds
//!   authenticated bytes with [`Protocol::message`] and drives it with [`Protocol::poke`], which
//!   returns [`Action`]s (send to all, send to one, wait, return the output). Transport,
//!   authentication of peers and confidentiality of private messages belong to the caller
//!   (in tdsigner: mutually authenticated TLS between nodes).
//! - Randomness is injected (`rand_core::CryptoRngCore`); the core never reaches for an OS RNG.
//! - Bytes from peers are hostile: every decode is bounded and a peer that sends malformed or
//!   inconsistent data is named in the [`ProtocolError`] wherever the protocol allows it.
//! - Secret scalars are zeroized on drop and never printed.
//! - Every key sharing carries a `sharing_id`; triples, presignatures and signatures are bound
//!   to it, so after a refresh or reshare every artefact of the old sharing is refused.
//!
//! Protocol and security notes are in `signer/tss/docs/DESIGN.md`.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod engine;
pub mod error;
pub mod keygen;
mod math;
pub mod near;
pub mod near_compat;
mod ot;
pub mod participants;
pub mod presign;
pub mod sign;
pub mod sim;
pub mod triples;
pub mod wire;

pub use engine::{Action, Protocol};
pub use error::{DecodeError, ProtocolError};
pub use keygen::{Dkg, KeyShare, PublicSharing};
pub use participants::{ParticipantId, ParticipantList};
pub use presign::{Presign, PresignatureShare};
pub use sign::{FullSignature, Sign, SignRequest};
pub use triples::{TripleGeneration, TripleShare};

/// A 32-byte identifier of one protocol run, chosen by the caller (for instance derived from the
/// on-chain request). Two runs must never share a session id: messages carry it, and a message
/// with another session's id is refused as a replay or misroute.
pub type SessionId = [u8; 32];
