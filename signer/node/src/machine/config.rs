//! What the node state machine is configured with. The image maps its measured command line
//! onto this (the lead's `config` module); tests build it directly. Every field has a
//! conservative default except the identities.

use alloc::string::String;

/// Node configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// This node's NEAR account (signs every transaction with the node's account key).
    pub account_id: String,
    /// The signer contract's account (e.g. `v1.signer`).
    pub contract_id: String,
    /// The key domain this node signs for (the contract's domain 0: secp256k1).
    pub domain_id: u64,
    /// Contract views are asked of every endpoint and must agree among at least this many
    /// answers (clamped to 1..=endpoints).
    pub view_quorum: usize,
    /// Endpoints never asked for unproven views (they neither answer nor count): on TDX the
    /// plain-HTTP ones, which the host can answer itself ([`crate::config::SignerConfig::apply`]).
    pub views_exclude: alloc::vec::Vec<usize>,
    /// How often to ask for a newer light-client head.
    pub chain_poll_ms: u64,
    /// How often to read the contract state.
    pub contract_poll_ms: u64,
    /// Most blocks scanned for sign-request candidates per poll.
    pub scan_blocks_per_poll: usize,
    /// Most candidates whose proof is requested per poll.
    pub proofs_per_poll: usize,
    /// Requests older than this many blocks are dropped (NEAR's yield timeout is 200).
    pub request_max_age_blocks: u64,
    /// Candidates not provable after this many blocks are dropped as unproven.
    pub candidate_max_age_blocks: u64,
    /// Persist the light-client state at most this often (an older persisted head only means
    /// re-verifying a few blocks after a restart).
    pub persist_light_client_ms: u64,
    /// Triples this node owns: generate a batch when fewer than `triples_low`, up to
    /// `triples_high`. Each presignature consumes two.
    pub triples_low: usize,
    pub triples_high: usize,
    /// Triples per generation run (1..=64).
    pub triple_batch: usize,
    /// Presignatures this node owns (as signing leader): low/high water marks.
    pub presignatures_low: usize,
    pub presignatures_high: usize,
    /// Presign runs this node leads at once.
    pub max_concurrent_presigns: usize,
    /// Triple generations this node leads at once.
    pub max_concurrent_triple_runs: usize,
    /// Shares of other owners' triples/presignatures held at most (bounds memory against peers
    /// that keep starting generations).
    pub max_foreign_items: usize,
    /// A protocol run that has made no progress (no message accepted from a peer, nothing
    /// sent) for this long is aborted. Progress, not age: on slow or crowded hosts a large
    /// batch legitimately takes minutes, and a run that still exchanges messages is alive.
    pub protocol_idle_ms: u64,
    /// ... and any run older than this is aborted regardless (a peer trickling messages
    /// cannot hold this node's resources forever).
    pub protocol_max_ms: u64,
    /// A participant blamed for an abort is not chosen for new runs for this long.
    pub blame_cooldown_ms: u64,
    /// A leader re-checks and retries an unanswered request after this long.
    pub sign_retry_ms: u64,
    /// Start messages for requests this node has not proven yet are held this long.
    pub hold_start_ms: u64,
    /// Start messages naming a triple/presignature this node does not hold (yet: its own run
    /// may finish a moment after the owner's) are held this long, then declined.
    pub hold_item_ms: u64,
    /// Early P2P messages (for sessions not started yet) kept per peer, in bytes.
    pub early_bytes_per_peer: usize,
    /// ... and for how long.
    pub early_ttl_ms: u64,
    /// Key refresh every this many blocks of chain height (0 = never).
    pub refresh_interval_blocks: u64,
    /// Re-submit the attestation this long after the last accepted submission
    /// (chain time, seconds), or earlier when the contract reports an expiry within
    /// `attestation_margin_s`.
    pub attestation_resubmit_s: u64,
    pub attestation_margin_s: u64,
    /// A transaction (vote, start, respond) is re-sent at most this often per purpose.
    pub tx_retry_ms: u64,
    /// What `submit_participant_info` carries (`attestation` config key): the platform's
    /// quote (dstack shape) or, on testnet only, `{"Mock":"Valid"}`.
    pub attestation: super::attestation::AttestationMode,
    /// Where the contract state the node acts on comes from: proven (default; the pinned
    /// shard layout and code hashes) or, for simulators without proofs, unproven views.
    pub contract_state: super::proven::ContractStateSource,
}

impl MachineConfig {
    /// Defaults for everything but the identities.
    pub fn new(account_id: String, contract_id: String) -> Self {
        MachineConfig {
            account_id,
            contract_id,
            domain_id: 0,
            view_quorum: 1,
            views_exclude: alloc::vec::Vec::new(),
            chain_poll_ms: 500,
            contract_poll_ms: 1_000,
            scan_blocks_per_poll: 8,
            proofs_per_poll: 8,
            request_max_age_blocks: 200,
            candidate_max_age_blocks: 30,
            persist_light_client_ms: 10_000,
            triples_low: 8,
            triples_high: 16,
            triple_batch: 8,
            presignatures_low: 4,
            presignatures_high: 8,
            max_concurrent_presigns: 2,
            max_concurrent_triple_runs: 1,
            max_foreign_items: 512,
            protocol_idle_ms: 30_000,
            protocol_max_ms: 600_000,
            blame_cooldown_ms: 120_000,
            sign_retry_ms: 5_000,
            hold_start_ms: 20_000,
            hold_item_ms: 3_000,
            early_bytes_per_peer: 4 << 20,
            early_ttl_ms: 30_000,
            refresh_interval_blocks: 0,
            attestation_resubmit_s: 7 * 24 * 3600,
            attestation_margin_s: 24 * 3600,
            tx_retry_ms: 4_000,
            attestation: super::attestation::AttestationMode::Dstack,
            contract_state: super::proven::ContractStateSource::Proven(super::proven::StatePin::default()),
        }
    }
}
