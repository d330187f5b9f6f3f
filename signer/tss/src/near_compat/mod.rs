//! Protocols message-compatible with near/mpc's `threshold-signatures` crate (the code near's
//! MPC nodes link): same channel tags, waitpoints, MessagePack payloads, echo broadcast and
//! acceptance rules, so a tdsigner participant can run a protocol beside near's nodes, message
//! for message. This family is built beside the crate's older protocols so it can replace them.
//!
//! - [`channel`]: the 40-byte header (channel tag ‖ LE64 waitpoint) and the bounded inbox;
//! - [`msgpack`]: the MessagePack subset on the wire (rmp);
//! - [`echo`]: the multi-session echo broadcast;
//! - [`curve`]: secp256k1, ed25519 and BLS12-381 (G2 keys) with near's ciphersuite encodings;
//! - [`dkg`]: PedPop+ keygen, reshare and refresh;
//! - [`eddsa`]: FROST v1 EdDSA signing with near's additive tweak;
//! - [`ecdsa`]: secp256k1 ECDSA pieces (tweaks, rerandomization, low-s, recovery id);
//! - [`presign`], [`ecdsa_sign`]: CaitSith (OT-based ECDSA) presign and sign;
//! - [`robust`]: DamgardEtAl robust ECDSA presign and sign;
//! - [`ckd`]: confidential key derivation on BLS12-381, with its publicly verifiable variant.
//! - [`triples`]: CaitSith triple generation (`generate_triple_many`).
//!
//! Everything is `no_std + alloc` and sans-IO ([`protocol::Protocol`]).

pub mod channel;
pub mod ckd;
pub mod curve;
pub mod dkg;
pub mod ecdsa;
pub mod ecdsa_sign;
pub mod echo;
pub mod eddsa;
pub mod error;
pub mod msgpack;
pub mod presign;
pub mod protocol;
pub mod robust;
pub mod triples;

pub use curve::{Bls12381G2, Curve, Ed25519, Secp256k1};
pub use dkg::{Dkg, KeygenOutput, ReshareInput};
pub use ecdsa_sign::{EcdsaSign, RerandomizedPresign};
pub use eddsa::EddsaSign;
pub use error::{DecodeError, ProtocolError};
/// The field and group traits [`Curve`] is built on, for callers' generic arithmetic.
pub use ff;
pub use group;
pub use presign::{Presign, PresignArgs, PresignOutput};
pub use protocol::{Action, Protocol};
