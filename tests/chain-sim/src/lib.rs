//! tdsigner-chain-sim: a NEAR chain simulator for tdsigner's tests and the
//! cluster demo. It produces real light-client-verifiable data (blocks signed
//! by test validators across epochs, outcome and block Merkle proofs, full
//! headers whose `random_value` is committed by the block hash), checks
//! transactions as NEAR does, executes near/mpc's deployed `v1.signer` binary,
//! and can lie on purpose (hostile modes) so the node's verifier can be shown
//! to reject every lie.
//!
//! Modules:
//! - [`hash`], [`borsh`], [`keys`], [`merkle`], [`hex`], [`account`]: primitives;
//! - [`tx`]: `SignedTransaction` decoding (bounded, typed errors);
//! - [`runtime`]: accounts, access keys, transaction checks, receipts, outcomes;
//! - [`contract_account`]: the contract account running the deployed binary;
//! - [`contract`]: the hand-written model (`--contract model`, being retired);
//!   [`attestation`]: its pluggable attestation policy;
//! - [`chain`]: block production, epochs, chunks, light-client blocks, proofs;
//!   [`state_trie`]: the contract's storage as a nearcore trie (state proofs);
//! - [`view`]: nearcore's JSON views; [`rpc`]: JSON-RPC dispatch and errors;
//! - [`hostile`]: the lies; [`http`]: sans-IO HTTP/1.1; [`server`]: threads;
//! - [`cli`]: the command line;
//! - [`wasm`]: the NEAR host-function runtime executing the deployed binary.
//!
//! The RPC subset, admin methods and hostile modes are documented in
//! `tests/chain-sim/README.md`.
#![forbid(unsafe_code)]

pub mod account;
pub mod attestation;
pub mod borsh;
pub mod chain;
pub mod cli;
pub mod contract;
pub mod contract_account;
pub mod hash;
pub mod hex;
pub mod hostile;
pub mod http;
pub mod keys;
pub mod merkle;
pub mod rpc;
pub mod runtime;
pub mod server;
pub mod state_trie;
pub mod tx;
pub mod view;
pub mod wasm;

pub use attestation::{AttestationVerifier, RequireNonEmptyQuote};
pub use chain::{ChainConfig, HeaderLayout};
pub use hostile::HostileMode;
pub use server::{ListenConfig, SimConfig, Simulator, StartError};
