//! CaitSith (OT-based ECDSA) triple generation, message-compatible with near's
//! `generate_triple_many`: a batch of committed Beaver triples (a, b, c = a·b, with A = a·G,
//! B = b·G, C = c·G public) shared with threshold t among exactly the participants of the run.
//!
//! - [`strobe`]: near's STROBE-128 transcript and seeded RNG;
//! - [`proofs`]: dlog and dlogeq proofs with near's statement encodings;
//! - [`bits`]: 128-bit blocks, GF(2^128) carry-less products, PRG expansion/transpose;
//! - [`ot`]: batch random OT, random OT extension with its check, MTA;
//! - [`multiplication`]: one (triple, peer) multiplication over the private child channels;
//! - [`generation`]: the whole batch protocol (shared channel waitpoints 0–6).
//!
//! `no_std + alloc`, sans-IO ([`crate::near_compat::Protocol`]).

pub mod bits;
pub mod generation;
pub mod multiplication;
pub mod ot;
pub mod proofs;
pub mod strobe;
pub mod wire;

pub use generation::{max_headers, TripleGeneration, MAX_COUNT};

use k256::{ProjectivePoint, Scalar};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// near's generic hash: SHA-256 over its label and a MessagePack encoding.
pub(crate) fn generic_hash(msgpack: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"Near threshold signature generic hash");
    h.update(msgpack);
    h.finalize().into()
}

/// Our shares of one triple.
#[derive(Clone)]
pub struct TripleShare {
    pub a: Scalar,
    pub b: Scalar,
    pub c: Scalar,
}

impl Drop for TripleShare {
    fn drop(&mut self) {
        self.a.zeroize();
        self.b.zeroize();
        self.c.zeroize();
    }
}

impl core::fmt::Debug for TripleShare {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TripleShare(..)")
    }
}

/// The public part of one triple, identical at every participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriplePub {
    pub big_a: ProjectivePoint,
    pub big_b: ProjectivePoint,
    pub big_c: ProjectivePoint,
    /// Sorted participants of the run.
    pub participants: alloc::vec::Vec<u32>,
    pub threshold: usize,
}
