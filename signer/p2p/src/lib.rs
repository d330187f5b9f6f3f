//! tdsigner-p2p: the peer-to-peer layer between tdsigner nodes, as sans-IO state machines.
//!
//! A node's identity is the ed25519 TLS key registered for it on chain. Nodes talk over mutually
//! authenticated TLS 1.3 (rustls's unbuffered API, RustCrypto provider, RFC 7250 raw public
//! keys), in length-prefixed frames on per-protocol channels, with per-peer sequence numbers,
//! acknowledgements and retransmission across reconnections. The transport (TCP bytes) and the
//! clock belong to the caller: the image's single-threaded polling kernel, or a test harness.
//!
//! - [`identity`]: participants as registered on chain; the validated set (duplicate ids,
//!   accounts, keys or endpoints refused); this node's secret key.
//! - [`tls`]: rustls configuration (verifiers that accept exactly the registered keys) and the
//!   sans-IO TLS session.
//! - [`frame`]: the frame layout, a bounded streaming decoder, control messages, channels.
//! - [`manager`]: the connection manager — who dials whom, backoff with jitter, hello exchange
//!   binding key to participant id, bounded per-peer queues, sequence checks, session routing.
//! - [`metrics`]: counters and their Prometheus rendering.
//!
//! Design notes and what is not done: `signer/p2p/DESIGN.md`.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod frame;
pub mod identity;
pub mod manager;
pub mod metrics;
pub mod near;
pub mod tls;

pub use frame::{route_of_tss_message, Channel, FrameDecoder, FrameError};
pub use identity::{
    AccountId, NodeKey, Participant, ParticipantSet, PeerAddr, SetError, TlsPublicKey,
};
pub use manager::{
    Action, CloseReason, Config, ConnId, DialId, Event, Manager, Message, SendError, SetupError,
};
pub use metrics::{Metrics, PeerMetrics};
pub use tdsigner_tss::{ParticipantId, SessionId};
