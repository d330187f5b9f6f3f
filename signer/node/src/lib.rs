//! The tdsigner guest program: everything the image does above the kernel's
//! drivers, written without I/O so it runs unchanged in the image and in host
//! tests.
//!
//! This crate owns:
//! - [`config`]: the measured kernel command line, parsed strictly;
//! - [`http`]: a bounded HTTP/1.1 request-head parser and response writer;
//! - [`health`]: the `GET /health` document;
//! - [`boot_counter`]: the boot-counter sector that proves the block path;
//! - [`public_data`]: the `GET /public_data` document (measurements, event log);
//! - [`bootstrap`]: sealing key, sealed store and node identity at boot;
//! - [`chain_time`]: a lower bound on real time from a light-client walk to
//!   the chain's head (the `local-sgx` collateral check time);
//! - [`provider_quote`]: the local key provider's SGX quote (parser, and the
//!   verifier for the emulated platform);
//! - [`machine`]: the node state machine — follows the signer contract through
//!   the light client, runs the threshold protocols over P2P, answers proven
//!   sign requests — behind the small `Env` trait the kernel (and, on the
//!   host, `machine::host`) implements.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod boot_counter;
pub mod bootstrap;
pub mod chain_time;
pub mod config;
pub mod health;
pub mod http;
pub mod machine;
pub mod provider_quote;
pub mod public_data;
#[cfg(test)]
mod test_rng;

/// The version every output of the image reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
