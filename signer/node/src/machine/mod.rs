//! The node state machine: follows the signer contract through the light client, runs the
//! threshold protocols with the other participants over P2P, keeps its key share and its
//! triple/presignature pools in the sealed store, answers proven sign requests, and submits
//! its attestation. It does no I/O: everything outside goes through the [`Env`] trait, which
//! the image's kernel implements (smoltcp, virtio, TDX) and [`host`] implements on std
//! (TCP RPC, the real P2P manager over loopback TCP) so tests run several nodes in one process.
//!
//! # The environment boundary
//!
//! ```text
//! trait Env {
//!     fn now_ms(&self) -> u64;                                   // monotonic
//!     fn fill_random(&mut self, out: &mut [u8]);                 // platform CSPRNG
//!     fn rpc_endpoints(&self) -> usize;
//!     fn rpc(&mut self, endpoint: usize, body: &[u8]) -> Result<Vec<u8>, CallError>;  // blocking POST
//!     fn p2p_send(&mut self, to, channel, session, payload) -> Result<(), P2pSendError>; // non-blocking
//!     fn p2p_recv(&mut self) -> Option<P2pEvent>;                // Message / PeerUp / PeerDown
//!     fn set_participants(&mut self, Option<(ParticipantId, &ParticipantSet)>);
//!     fn attestation(&mut self, report_data: [u8; 64]) -> Result<Attestation, AttestationError>;
//! }
//! ```
//!
//! See [`mod@env`] for the contract of each method.
//!
//! # What a driver does (kernel or host)
//!
//! 1. Boot: `bootstrap::bootstrap(..)` → `Booted { store, identity, .. }`.
//! 2. Build the P2P connection manager's key from `identity.tls_key()` (the driver owns the
//!    `tdsigner_p2p::Manager`; it is created on the first `set_participants(Some(..))` and
//!    updated with `Manager::update_participants` afterwards; `None` drops every peer).
//!    Configure it with every channel session-less (`Config::sessionless_channels = !0`): the
//!    node holds early messages itself.
//! 3. `let mut node = Node::new(config, booted.store, &booted.identity, trusted_light_client, &mut env)?`
//!    (`trusted_light_client`: a `LightClientState` from the measured configuration; a newer
//!    state persisted in the store wins).
//! 4. Loop forever:
//!    - `let w = node.poll(&mut env);`
//!    - until `w.at_ms` (or sooner when a P2P event arrives): pump the network — feed TCP
//!      events and `Tick`s to the P2P manager, carry out its `Action`s, queue `Deliver`ed
//!      messages and `PeerUp`/`PeerDown` for `p2p_recv`, transmit what `p2p_send` queued;
//!      serve HTTP (`/metrics` from [`Metrics::render_prometheus`] plus the P2P manager's own
//!      counters, `/public_data` embedding [`Status::to_json`]).
//!    - While a blocking `rpc` call is in progress the driver must keep pumping P2P sockets
//!      (single-threaded kernel) so peers are not starved.
//!
//! # Trust
//!
//! - **Sign requests are proven**: the node acts only on requests obtained from a receipt
//!   outcome proven against its light-client head, with the entropy from re-hashed headers
//!   (`tdsigner-near`, see `signer/near/TRUST.md`). Candidates from unverified `block`/`chunk`
//!   answers only cost a proof request.
//! - **Contract state is proven** (see [`proven`]): the contract's `STATE` storage value is
//!   checked by a nearcore trie proof against its shard's root at the light-client head (the
//!   chunks' roots merklized to the verified header), under a pinned shard layout, and decoded
//!   with the 3.14 layout ([`state_borsh`]). Participants, TLS keys, thresholds, key events and
//!   the keyset the node acts on come only from it. The contract's code hash cannot be proven
//!   over standard RPC; it is pinned and cross-checked across endpoints (`view_quorum`;
//!   failed endpoints do not count, and on TDX plain-HTTP endpoints are not asked:
//!   `MachineConfig::views_exclude`). Key events must also pass a threshold floor (the
//!   contract's 60%-and-2 minimum, not below the running or held threshold), and the active
//!   share is replaced only by one that verifies against its commitments and the proven
//!   keyset's key and epoch, and deleted only on proven state.
//!   `contract_state=unproven-views` (simulators without proofs; refused for `v1.signer`)
//!   falls back to cross-checked `state` views, and every status says so.
//! - **P2P peers** are authenticated by the TLS keys registered on chain (the driver's
//!   manager); every message they send is hostile input to the threshold engine, which names
//!   the culprit of an abort where the protocol allows; blamed participants are not chosen for
//!   new runs for `blame_cooldown_ms`.
//! - **Transactions** (`respond`, votes, attestation) are signed locally with the account key
//!   and offered to every endpoint; nonce = `max(head_height·1e6, previous+1)`.
//!
//! # Sealed-store records
//!
//! | kind | id | value |
//! | --- | --- | --- |
//! | 0x10 | `light-client` | version, scan cursor, `LightClientState::to_bytes` |
//! | 0x11 | `active`, `pending/<origin>/<epoch><attempt>` | [`sharing::StoredKey`] (key share + origin) |
//! | 0x12 | triple id | version, owner, `TripleShare::to_bytes` |
//! | 0x13 | presignature id | version, owner, `PresignatureShare::to_bytes` |
//!
//! Triples and presignatures in the store at boot are deleted unused (a rolled-back disk would
//! otherwise bring consumed ones back; see tdsigner-store's design notes). A new key share is
//! durable before the vote that makes it count; it replaces the active share only once the
//! contract (keygen, reshare) or all participants (refresh) confirm it.
//!
//! # Protocol flow between nodes
//!
//! Each node *owns* the triples and presignatures it starts (near/mpc's model) and keeps its
//! owned pools between water marks; coordination messages ([`coord`]) start runs, and every
//! participant checks them against its own state (its key sharing, the owner of the named
//! material, its own proof of the request) before taking part, or declines. A sign request's
//! leader is the first *eligible* participant (connected, not blamed recently) in near/mpc's
//! per-request order; it signs with one of its presignatures and submits `respond`. A node
//! announces a random boot id on every connection, so peers drop the material a restarted
//! node no longer has. Refresh is started by the lowest participant id every
//! `refresh_interval_blocks` and switched to only when every participant reports the same new
//! sharing (two-phase over P2P; confirmations are repeated on reconnection).
//!
//! Timeouts: a run is aborted after `protocol_idle_ms` without progress (a peer message
//! accepted or messages sent), or after `protocol_max_ms` in all. Until stop 8 the limit was
//! 30 s of age, and eight TCG guests on two cores never finished an n=8 triple batch inside
//! it (every run aborted and restarted, no presignature made). Both limits, `triple_batch`,
//! the pool water marks and `request_max_age_blocks` are kernel command-line keys
//! (`crate::config`); the defaults suit one guest per core.
//!
//! # Not done
//!
//! - Still unproven and acted on: the attestation views (`get_attestation`,
//!   `get_tee_accounts`: when to resubmit), the access-key nonce, and the contract's code hash
//!   (pinned + cross-checked, see [`proven`]). Share activation still keys on the proven keyset's
//!   epoch and public key only (no separate check that the new share verifies beyond its
//!   public key matching), and the threshold floor is not enforced yet.
//! - Anchoring the store generation on chain (rollback of the key share itself is detected
//!   only by an external anchor; nothing publishes one yet).
//! - EdDSA / several domains: the node serves one secp256k1 domain (the contract's domain 0);
//!   other requests are dropped (counted).
//! - Attestation: renewal uses the expiry the contract reports, if any, otherwise
//!   `attestation_resubmit_s`; "attested" means `get_attestation` returned an entry naming this
//!   account (the simulator's shape; near/mpc's exact view shape is not pinned). Collateral is
//!   whatever the platform hands over.
//! - Leader eligibility is P2P connectivity and blame only (near/mpc also drops participants
//!   whose indexer lags).
//! - A malicious *authenticated* participant can make this node compute (start many triple
//!   runs); foreign material is capped (`max_foreign_items`, oldest evicted) but runs are not
//!   rate-limited per peer.
//! - The host driver's TLS RPC path builds a TLS configuration per call and is untested
//!   against real endpoints (no network here); the simulator is plain HTTP.

pub mod attestation;
pub mod codec;
pub mod config;
pub mod contract;
pub mod coord;
pub mod discovery;
pub mod env;
pub mod metrics;
pub mod protocols;
pub mod rpc;
pub mod proven;
pub mod sharing;
pub mod state_borsh;

mod chain;
mod keys;
mod node;
mod pools;
mod signing;

#[cfg(feature = "std")]
pub mod host;

pub use config::MachineConfig;
pub use env::{Attestation, AttestationError, Env, P2pEvent, P2pSendError};
pub use metrics::{Metrics, Status};
pub use node::{Node, NodeError, Wakeup, KEY_RECORD, LIGHT_CLIENT_RECORD, PRESIGNATURE_RECORD, TRIPLE_RECORD};

/// Entry points for fuzz targets: each parses hostile bytes and must never panic.
pub mod fuzz {
    /// A coordination message from a peer.
    pub fn coordination(bytes: &[u8]) {
        if let Ok(m) = super::coord::Coord::decode(bytes) {
            // Re-encoding a decoded message gives the same bytes (strict decoder).
            debug_assert_eq!(m.encode(), bytes);
        }
    }

    /// A public sharing offered by a resharing dealer.
    pub fn public_sharing(bytes: &[u8]) {
        let _ = super::sharing::decode_public_sharing(bytes);
    }

    /// The contract's `state` view.
    pub fn contract_state(bytes: &[u8]) {
        let _ = super::contract::parse_state(bytes, 0);
    }

    /// The contract's `STATE` storage value (3.14 borsh layout): decodes, and re-decodes what
    /// it encodes to the same state (the fields the node reads).
    pub fn contract_state_borsh(bytes: &[u8]) {
        if let Ok(state) = super::state_borsh::decode_state(bytes, 0) {
            let again = super::state_borsh::encode_state(&state, 0, &[]);
            debug_assert_eq!(super::state_borsh::decode_state(&again, 0).ok(), Some(state));
        }
        if let Ok(v) = tdsigner_near::view::parse_json(bytes, 1 << 20) {
            if let Ok(answer) = tdsigner_near::state_view::view_state_from_value(v) {
                // Rooted at the first entry, so the walk reaches the fuzzer's nodes.
                let root = answer.proof.first().map_or(tdsigner_near::CryptoHash([1; 32]), |n| tdsigner_near::CryptoHash::digest(n));
                let _ = super::proven::proven_state_value(&root, "v1.signer", &answer);
            }
        }
    }

    /// The contract's `get_attestation` and `get_tee_accounts` views.
    pub fn attestation_views(bytes: &[u8]) {
        let _ = super::attestation::parse_attestation_view(bytes);
        if let Ok(accounts) = super::attestation::parse_tee_accounts(bytes) {
            let _ = super::attestation::lists_node(&accounts, "a.test", &[0; 32], &[0; 32]);
        }
    }

    /// Unverified `block` and `chunk` answers for discovery.
    pub fn discovery(bytes: &[u8]) {
        if let Ok(v) = tdsigner_near::view::parse_json(bytes, 1 << 20) {
            let _ = super::discovery::block_summary(&v);
            let _ = super::discovery::sign_candidates(&v, "v1.signer");
        }
    }

    /// A stored key record (sealed, but still parsed strictly).
    pub fn key_record(bytes: &[u8]) {
        let _ = super::sharing::StoredKey::decode(bytes);
    }
}
