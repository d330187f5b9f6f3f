//! tdsigner-near: NEAR reached only through light-client-verified RPC.
//!
//! The core is `no_std + alloc` and sans-IO: it turns untrusted bytes (RPC
//! answers, persisted state) into verified values or typed errors.
//!
//! - [`hash`], [`borsh`], [`crypto`], [`types`]: NEAR hashes, the borsh subset,
//!   keys/signatures, light-client block types and their hashing.
//! - [`view`]: RPC-shaped JSON to typed values, bounded.
//! - [`light_client`]: header verification (stricter stake rule) and the
//!   persistable light-client state.
//! - [`proof`]: outcome and block proofs against a verified head.
//! - [`state_proof`], [`state_view`]: nearcore state-trie proofs (`view_state` with
//!   `include_proof`) checked against a shard state root; [`chunk_roots`]: shard state roots
//!   tied to a header by the merkle root of the chunks' `prev_state_root`s; [`trie_builder`]:
//!   nearcore-format tries built from key/value pairs, with `view_state`-shaped proofs.
//! - [`header`]: full block headers (`block` RPC) re-hashed, to read
//!   `random_value` and `chunk_mask` only when committed by a proven hash.
//! - [`sign_request`]: turning a proven receipt outcome of the signer contract
//!   into a [`sign_request::SignRequest`] the node may act on.
//! - [`tx`]: transactions, signing, `respond` arguments, nonces.
//! - [`rpc`]: JSON-RPC requests/answers (sans-IO), HTTP/1.1 framing, TLS over
//!   any byte stream, endpoint failover and cross-checking; a std transport.
//!
//! The trust model is written down in `signer/near/TRUST.md`.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod borsh;
pub mod chunk_roots;
pub mod crypto;
pub mod hash;
pub mod header;
pub mod light_client;
pub mod proof;
pub mod rpc;
pub mod sign_request;
pub mod state_proof;
pub mod state_view;
pub mod trie_builder;
pub mod tx;
pub mod types;
pub mod view;

pub use hash::CryptoHash;
pub use light_client::{HeaderError, LightClientState};
pub use proof::{ExecutionProof, ProofError, ProvenOutcome};
pub use sign_request::SignRequest;
