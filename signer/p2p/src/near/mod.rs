//! near/mpc's P2P wire (release 3.14, protocol version 8 "Jan2026"), as sans-IO pieces.
//!
//! Layers, bottom up, each its own module:
//! - [`cert`]: the X.509 certificates near's TLS carries (fixed dummy CA), and reading a
//!   peer's Ed25519 key from its chain;
//! - [`tls`]: rustls configurations with near's certificates and checks;
//! - [`handshake`]: the post-TLS `0xCC` handshake with versions and connection ids;
//! - [`framing`]: `u32` big-endian length frames;
//! - [`packet`]: the borsh `Packet` inside each frame, with every MPC task id;
//! - [`mesh`]: near's connection rules for a participant set (dial, accept, ids, pings).
//!
//! Specified by `../shared/oracles/P2P.md`; every layout is pinned to near's golden vectors
//! (`p2p-vectors.json`) in `tests/near_wire.rs`, and `tests/near_oracle.rs` runs it against
//! near's own endpoint. The node layer above [`mesh`] (channels, tasks, indexer-height
//! liveness) is not here yet (see DESIGN.md).
pub mod cert;
pub mod framing;
pub mod handshake;
pub mod mesh;
pub mod packet;
pub mod tls;
