//! The environment boundary: everything the node state machine needs from the outside world,
//! as one small trait that the image's kernel and the host driver ([`super::host`]) both
//! implement. The node itself does no I/O.
//!
//! Division of labour:
//! - **RPC** is a *blocking* call to one configured endpoint (by index): the implementation
//!   frames the JSON-RPC body as an HTTP POST (TLS if the endpoint asks for it), waits for the
//!   answer and returns its body. While a call is pending, the kernel keeps pumping its network
//!   (P2P bytes keep flowing). Failover between endpoints and cross-checking are the node's job
//!   (tdsigner-near's `rpc::pool`), so one endpoint per call here.
//! - **P2P** is a non-blocking queue in both directions. The implementation owns the connection
//!   manager (tdsigner-p2p's `Manager`: mutual TLS between registered keys, framing, channels,
//!   acknowledgements, reconnection) and delivers authenticated messages. The node tells it the
//!   participant set with [`Env::set_participants`]; all channels are delivered without session
//!   gating (the node holds early messages itself, bounded).
//! - **Attestation**: a TDX quote over the given `report_data` plus the event log.
//! - **Randomness**: the platform's RNG (RDSEED/RDRAND in the image); the node seeds its own
//!   ChaCha20 generator from it and reseeds periodically.
//! - **Time**: a monotonic millisecond clock. Wall-clock time is taken from the light-client
//!   head (block timestamps are committed by the verified header), never from the host.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use tdsigner_near::rpc::stream::CallError;
use tdsigner_p2p::{Channel, ParticipantId, ParticipantSet, SessionId};

/// Something that arrived from the P2P layer.
#[derive(Clone, PartialEq, Eq)]
pub enum P2pEvent {
    /// An authenticated message: `from` is the participant the TLS key is registered for.
    Message { from: ParticipantId, channel: Channel, session: SessionId, payload: Vec<u8> },
    /// An authenticated connection to the peer came up.
    PeerUp(ParticipantId),
    /// The peer's connection is gone.
    PeerDown(ParticipantId),
}

impl fmt::Debug for P2pEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message { from, channel, payload, .. } => {
                write!(f, "Message {{ from: {from}, channel: {}, len: {} }}", channel.number(), payload.len())
            }
            Self::PeerUp(p) => write!(f, "PeerUp({p})"),
            Self::PeerDown(p) => write!(f, "PeerDown({p})"),
        }
    }
}

/// Why a P2P send was refused (the message is dropped; protocols time out and retry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum P2pSendError {
    /// No participant set, or `to` is not in it.
    UnknownPeer(ParticipantId),
    /// The per-peer queue is full.
    QueueFull(ParticipantId),
    /// Larger than the transport accepts.
    TooLarge { len: usize },
    /// The transport is gone (driver shut down).
    Closed,
}

impl fmt::Display for P2pSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPeer(p) => write!(f, "{p} is not a known peer"),
            Self::QueueFull(p) => write!(f, "send queue to {p} is full"),
            Self::TooLarge { len } => write!(f, "message of {len} bytes is too large"),
            Self::Closed => f.write_str("P2P transport closed"),
        }
    }
}

/// A TDX attestation as the contract takes it (dstack shape): the quote, and the JSON the
/// platform publishes with it.
#[derive(Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The TD quote (binary).
    pub quote: Vec<u8>,
    /// Quote collateral as JSON text (`None` when the platform does not fetch it; the contract
    /// then gets `null`).
    pub collateral_json: Option<String>,
    /// `tcb_info` JSON text: mrtd, rtmr0-3 and the event log.
    pub tcb_info_json: String,
}

impl fmt::Debug for Attestation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attestation")
            .field("quote_len", &self.quote.len())
            .field("collateral", &self.collateral_json.as_ref().map(String::len))
            .field("tcb_info_len", &self.tcb_info_json.len())
            .finish()
    }
}

/// Why no attestation could be produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttestationError {
    /// The platform has no quoting (e.g. no TDX); the node keeps running but cannot be a
    /// participant the contract accepts.
    Unavailable,
    /// The platform tried and failed (its words).
    Failed(String),
}

impl fmt::Display for AttestationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable => f.write_str("attestation unavailable on this platform"),
            Self::Failed(why) => write!(f, "attestation failed: {why}"),
        }
    }
}

/// The node's outside world. See the module docs for who does what; see the
/// [`super`] module docs for the call sequence a driver must follow.
pub trait Env {
    /// Monotonic milliseconds (any origin; never goes back).
    fn now_ms(&self) -> u64;

    /// Fills `out` from the platform's cryptographic RNG.
    fn fill_random(&mut self, out: &mut [u8]);

    /// Number of configured RPC endpoints (fixed for the node's lifetime).
    fn rpc_endpoints(&self) -> usize;

    /// One blocking JSON-RPC call: POSTs `body` to endpoint `endpoint` and returns the HTTP
    /// response body (status 200 only). The answer is parsed and checked by the node.
    fn rpc(&mut self, endpoint: usize, body: &[u8]) -> Result<Vec<u8>, CallError>;

    /// Queues a message to `to` (never blocks).
    fn p2p_send(&mut self, to: ParticipantId, channel: Channel, session: SessionId, payload: Vec<u8>) -> Result<(), P2pSendError>;

    /// The next P2P event, if any (never blocks).
    fn p2p_recv(&mut self) -> Option<P2pEvent>;

    /// Sets who this node talks to: `Some((me, set))` where `set` has been validated
    /// (tdsigner-p2p's `ParticipantSet` refuses duplicate ids, accounts, keys and endpoints) and
    /// contains `me` with this node's TLS key; `None` when this node is not a participant.
    /// Called only when the set changes.
    fn set_participants(&mut self, participants: Option<(ParticipantId, &ParticipantSet)>);

    /// A quote over `report_data` (64 bytes, report_data v1 of this node's keys).
    fn attestation(&mut self, report_data: [u8; 64]) -> Result<Attestation, AttestationError>;
}
