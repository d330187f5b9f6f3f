//! The node: state, construction from what bootstrap produced, the poll loop, P2P routing to
//! protocol runs (with a bounded hold for messages that arrive before their run starts),
//! transactions with the nonce rule, and the metrics/status views. The chain, key, pool and
//! signing logic live in sibling modules as further `impl Node` blocks.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::Value;
use tdsigner_near::rpc::request::{self as near_req, Finality};
use tdsigner_near::tx::{next_nonce, Action as TxAction, SigningKey, Transaction, RESPOND_GAS};
use tdsigner_near::{CryptoHash, LightClientState, SignRequest};
use tdsigner_p2p::{Channel, ParticipantId, SessionId};
use tdsigner_store::{BlockDevice, Change, RecordKind, Store, StoreError};
use tdsigner_tss::{PresignatureShare, TripleShare};
use zeroize::Zeroizing;

use super::codec::{CodecError, Reader, Writer};
use super::config::MachineConfig;
use super::contract::{ContractState, ParticipantInfo};
use super::coord::Coord;
use super::env::{Env, P2pEvent};
use super::metrics::{bump, Metrics, Status};
use super::protocols::{Instance, Output, Pumped, Purpose};
use super::rpc::Rpc;
use super::sharing::StoredKey;
use crate::bootstrap::NodeIdentity;

/// Sealed-store record kinds the state machine writes (bootstrap uses kind 1).
pub const LIGHT_CLIENT_RECORD: RecordKind = RecordKind(0x10);
pub const KEY_RECORD: RecordKind = RecordKind(0x11);
pub const TRIPLE_RECORD: RecordKind = RecordKind(0x12);
pub const PRESIGNATURE_RECORD: RecordKind = RecordKind(0x13);
pub(super) const LIGHT_CLIENT_ID: &[u8] = b"light-client";
pub(super) const ACTIVE_KEY_ID: &[u8] = b"active";

const LC_RECORD_VERSION: u8 = 1;
const POOL_RECORD_VERSION: u8 = 1;
/// Sessions remembered as finished (late messages for them are dropped, not held).
const FINISHED_REMEMBERED: usize = 8192;
/// Request ids remembered after being handled (a re-found candidate is not re-added).
const REQUESTS_REMEMBERED: usize = 8192;
/// P2P events handled per poll.
const EVENTS_PER_POLL: usize = 512;

/// Why the node could not start.
#[derive(Debug)]
pub enum NodeError {
    /// A stored record did not decode (the store is authenticated, so this is a version
    /// mismatch or a bug, never silently ignored).
    Record {
        kind: RecordKind,
        error: CodecError,
    },
    /// The stored light-client state did not load.
    LightClient(tdsigner_near::light_client::StateDecodeError),
    Store(StoreError),
    /// The account id is not a valid NEAR account.
    Account,
    /// `attestation=mock-testnet` with mainnet's contract.
    Attestation(super::attestation::AttestationPayloadError),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Record { kind, error } => write!(f, "stored record of kind {} does not decode: {error}", kind.0),
            Self::LightClient(e) => write!(f, "stored light-client state: {e}"),
            Self::Store(e) => write!(f, "sealed store: {e}"),
            Self::Account => f.write_str("invalid account id"),
            Self::Attestation(e) => write!(f, "{e}"),
        }
    }
}

/// Why a run ended without output.
pub(super) enum Abort {
    /// A protocol error (a message failed a check); it may name a culprit.
    Error(tdsigner_tss::ProtocolError),
    /// No progress within `protocol_idle_ms`, or older than `protocol_max_ms`.
    Timeout,
    /// A participant declined to take part.
    Declined,
    /// A participant's connection went down (runs this node leads).
    PeerDown,
}

/// When the node wants to be polled again (monotonic ms, same clock as [`Env::now_ms`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wakeup {
    pub at_ms: u64,
}

/// A sign-request candidate waiting for its proof.
#[derive(Clone, Debug)]
pub(super) struct Candidate {
    pub seen_height: u64,
    pub next_try_ms: u64,
    /// The endpoint that first reported it (each endpoint has its own quota).
    pub source: usize,
    /// Proof attempts so far (fresh candidates are tried first).
    pub attempts: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ReqState {
    Idle,
    Signing { session: SessionId },
    Responded { at_ms: u64 },
}

/// A proven request.
#[derive(Clone, Debug)]
pub(super) struct PendingRequest {
    pub req: SignRequest,
    /// Height of the block that proves it (its age is measured from there).
    pub height: u64,
    pub state: ReqState,
    pub next_action_ms: u64,
    pub attempts: u32,
    /// When this node proved it (monotonic ms).
    pub known_ms: u64,
}

/// A triple or presignature share and who owns (started) it.
pub(super) struct Owned<T> {
    pub owner: ParticipantId,
    pub share: T,
    /// When this node got it (monotonic ms): the oldest foreign items are evicted first.
    pub created_ms: u64,
}

pub(super) struct Early {
    pub from: ParticipantId,
    pub session: SessionId,
    pub payload: Vec<u8>,
    pub at_ms: u64,
}

/// A start message waiting for a local precondition (a request proof).
pub(super) struct HeldStart {
    pub from: ParticipantId,
    pub msg: Coord,
    pub at_ms: u64,
}

/// A bounded set remembering recent keys.
pub(super) struct RecentSet<K: Ord + Clone> {
    set: BTreeSet<K>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Ord + Clone> RecentSet<K> {
    pub fn new(cap: usize) -> Self {
        RecentSet { set: BTreeSet::new(), order: VecDeque::new(), cap }
    }
    pub fn insert(&mut self, k: K) {
        if self.set.insert(k.clone()) {
            self.order.push_back(k);
            while self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
    pub fn contains(&self, k: &K) -> bool {
        self.set.contains(k)
    }
}

#[derive(Default)]
pub(super) struct AttestState {
    /// Monotonic time of the last submission.
    pub submitted_ms: Option<u64>,
    /// Chain time (s) of the last submission.
    pub submitted_chain_s: Option<u64>,
    /// The contract returned our attestation.
    pub confirmed: bool,
    /// Expiry the contract reported (chain seconds).
    pub expiry_s: Option<u64>,
    pub last_check_ms: u64,
    pub unavailable: bool,
    /// What the contract may not count (see [`Status::attestation_note`]).
    pub note: Option<String>,
}

/// A refresh this node finished and waits to switch to.
pub(super) struct PendingRefresh {
    pub session: SessionId,
    pub key: StoredKey,
    pub confirmed: BTreeSet<ParticipantId>,
}

#[derive(Default)]
pub(super) struct RefreshState {
    /// Highest round attempted (started or joined) this boot.
    pub attempted_round: u64,
    pub pending: Option<PendingRefresh>,
    /// Confirmations that arrived before our own run finished: session -> sender -> new id.
    pub early_done: BTreeMap<SessionId, BTreeMap<ParticipantId, [u8; 32]>>,
    /// Last time we answered a peer's confirmation for a session we switched to.
    pub replied: BTreeMap<(ParticipantId, SessionId), u64>,
    /// Sessions we switched for (to answer late confirmations).
    pub switched: Vec<(SessionId, [u8; 32])>,
}

/// The node state machine. Construct with [`Node::new`] from what bootstrap produced, then
/// call [`Node::poll`] whenever the returned wakeup passes or a P2P event arrives.
pub struct Node<D: BlockDevice> {
    pub(super) cfg: MachineConfig,
    pub(super) store: Store<D>,
    pub(super) account_key: SigningKey,
    pub(super) account_public: [u8; 32],
    pub(super) tls_public: [u8; 32],
    pub(super) rng: ChaCha20Rng,
    pub(super) boot_id: [u8; 16],
    pub(super) rpc: Rpc,
    pub(super) metrics: Metrics,
    // chain
    pub(super) lc: LightClientState,
    pub(super) lc_dirty: bool,
    /// The last light-client refusal (cleared by the next advance).
    pub(super) lc_rejection: Option<String>,
    pub(super) lc_persisted_ms: u64,
    pub(super) scan_next: Option<u64>,
    pub(super) candidates: BTreeMap<CryptoHash, Candidate>,
    pub(super) requests: BTreeMap<CryptoHash, PendingRequest>,
    pub(super) handled_requests: RecentSet<CryptoHash>,
    pub(super) proven_log: VecDeque<CryptoHash>,
    pub(super) next_chain_ms: u64,
    // contract
    pub(super) contract: Option<ContractState>,
    pub(super) next_contract_ms: u64,
    pub(super) me: Option<ParticipantId>,
    pub(super) p2p_members: Option<Vec<ParticipantInfo>>,
    pub(super) alive: BTreeSet<ParticipantId>,
    /// Each peer's boot id (from its hello).
    pub(super) peer_boots: BTreeMap<ParticipantId, [u8; 16]>,
    pub(super) blamed: BTreeMap<ParticipantId, u64>,
    // keys
    pub(super) active: Option<StoredKey>,
    pub(super) pending_keys: BTreeMap<Vec<u8>, StoredKey>,
    pub(super) attempted: BTreeSet<(u8, u64, u64)>,
    pub(super) tx_last: BTreeMap<(&'static str, u64, u64), u64>,
    pub(super) old_sharings: BTreeMap<SessionId, BTreeMap<ParticipantId, Vec<u8>>>,
    pub(super) refresh: RefreshState,
    // protocols
    pub(super) instances: BTreeMap<SessionId, Instance>,
    pub(super) early: VecDeque<Early>,
    pub(super) early_bytes: BTreeMap<ParticipantId, usize>,
    pub(super) finished: RecentSet<SessionId>,
    pub(super) held_starts: Vec<HeldStart>,
    pub(super) run_counter: u64,
    // pools
    pub(super) triples: BTreeMap<[u8; 32], Owned<TripleShare>>,
    pub(super) presigs: BTreeMap<[u8; 32], Owned<PresignatureShare>>,
    pub(super) presig_filling: bool,
    pub(super) triple_filling: bool,
    /// After a failed run this node owned, no new one of that kind before this time.
    pub(super) pool_backoff_until_ms: u64,
    // attestation, transactions
    pub(super) attest: AttestState,
    /// A key event this node cannot serve (kept until the contract moves on).
    pub(super) key_event_note: Option<String>,
    /// Why the last read of the contract state was not proven (None: it was).
    pub(super) contract_proof_note: Option<String>,
    pub(super) nonce: Option<u64>,
    pub(super) reseed_at_ms: u64,
}

fn lc_record(lc: &LightClientState, scan_next: Option<u64>) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(LC_RECORD_VERSION).u64(scan_next.unwrap_or(0));
    w.raw(&lc.to_bytes());
    w.finish()
}

fn decode_lc_record(bytes: &[u8]) -> Result<(LightClientState, Option<u64>), NodeError> {
    let mut r = Reader::new(bytes);
    let err = |error| NodeError::Record { kind: LIGHT_CLIENT_RECORD, error };
    if r.u8("light-client record version").map_err(err)? != LC_RECORD_VERSION {
        return Err(err(CodecError::BadValue { what: "light-client record version" }));
    }
    let scan = r.u64("scan cursor").map_err(err)?;
    let rest = bytes.get(9..).unwrap_or(&[]);
    let lc = LightClientState::from_bytes(rest).map_err(NodeError::LightClient)?;
    Ok((lc, (scan > 0).then_some(scan)))
}

pub(super) fn pool_record(owner: ParticipantId, share: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(share.len() + 5));
    out.push(POOL_RECORD_VERSION);
    out.extend_from_slice(&owner.0.to_le_bytes());
    out.extend_from_slice(share);
    out
}

/// The light client to start from: the persisted state if it is ahead of `trusted` (the
/// configured anchor, or a head verified at boot). The scan cursor is this node's own
/// progress through the chain's blocks: it is kept even when `trusted` is newer, so
/// requests made while the node was down are still found.
fn restore_light_client<D: BlockDevice>(
    store: &Store<D>,
    trusted: LightClientState,
) -> Result<(LightClientState, Option<u64>), NodeError> {
    let (mut lc, mut scan_next) = (trusted, None);
    if let Some(bytes) = store.get(LIGHT_CLIENT_RECORD, LIGHT_CLIENT_ID) {
        let (stored, scan) = decode_lc_record(bytes.expose())?;
        if stored.head_height() >= lc.head_height() {
            lc = stored;
        }
        // A cursor past the head is not this chain's (a test-key store reopened
        // with another `trust=`): start at the head then, rather than stall.
        scan_next = scan.filter(|&next| next <= lc.head_height().saturating_add(1));
    }
    Ok((lc, scan_next))
}

/// The active key and the pending ones (resharing, refresh) from the store.
fn restore_keys<D: BlockDevice>(store: &Store<D>) -> Result<(Option<StoredKey>, BTreeMap<Vec<u8>, StoredKey>), NodeError> {
    let mut active = None;
    let mut pending_keys = BTreeMap::new();
    let ids: Vec<Vec<u8>> = store.ids(KEY_RECORD).map(<[u8]>::to_vec).collect();
    for id in ids {
        let Some(bytes) = store.get(KEY_RECORD, &id) else { continue };
        let key = StoredKey::decode(bytes.expose()).map_err(|error| NodeError::Record { kind: KEY_RECORD, error })?;
        if id == ACTIVE_KEY_ID {
            active = Some(key);
        } else {
            pending_keys.insert(id, key);
        }
    }
    Ok((active, pending_keys))
}

/// One-time material from an earlier boot is never used (rollback safety): triples and
/// presignatures found in the store are deleted.
fn discard_one_time_material<D: BlockDevice>(store: &mut Store<D>) -> Result<(), NodeError> {
    let mut stale: Vec<(RecordKind, Vec<u8>)> = Vec::new();
    for kind in [TRIPLE_RECORD, PRESIGNATURE_RECORD] {
        stale.extend(store.ids(kind).map(|id| (kind, id.to_vec())));
    }
    for chunk in stale.chunks(256) {
        let changes: Vec<Change<'_>> = chunk.iter().map(|(kind, id)| Change::Delete { kind: *kind, id }).collect();
        store.commit(&changes).map_err(NodeError::Store)?;
    }
    Ok(())
}

/// A refresh left pending by an earlier boot, and the round to attempt next: after a
/// restart the next refresh comes at the next interval boundary.
fn restore_refresh(
    active: Option<&StoredKey>,
    pending_keys: &BTreeMap<Vec<u8>, StoredKey>,
    head_height: u64,
    refresh_interval_blocks: u64,
) -> RefreshState {
    let mut refresh = RefreshState::default();
    if let Some(k) = pending_keys.values().find(|k| k.origin == super::sharing::KeyOrigin::Refresh) {
        let session = super::protocols::session_id(
            b"refresh",
            &[&active.map(|a| *a.share.sharing_id()).unwrap_or([0; 32]), &k.attempt.to_le_bytes()],
        );
        refresh.pending = Some(PendingRefresh { session, key: k.clone(), confirmed: BTreeSet::new() });
        refresh.attempted_round = k.attempt;
    }
    if let Some(a) = active {
        if a.origin == super::sharing::KeyOrigin::Refresh {
            refresh.attempted_round = refresh.attempted_round.max(a.attempt);
        }
        if let Some(round) = head_height.checked_div(refresh_interval_blocks) {
            refresh.attempted_round = refresh.attempted_round.max(round);
        }
    }
    refresh
}

impl<D: BlockDevice> Node<D> {
    /// Takes over the store and identity bootstrap produced. `trusted` is the light-client
    /// starting point from configuration; a newer state persisted in the store wins.
    /// Triples and presignatures found in the store are discarded (see the module docs:
    /// a rolled-back disk could otherwise bring a used one back).
    pub fn new<E: Env + ?Sized>(
        cfg: MachineConfig,
        mut store: Store<D>,
        identity: &NodeIdentity,
        trusted: LightClientState,
        env: &mut E,
    ) -> Result<Self, NodeError> {
        if !tdsigner_near::view::is_valid_account_id(&cfg.account_id) || !tdsigner_near::view::is_valid_account_id(&cfg.contract_id) {
            return Err(NodeError::Account);
        }
        cfg.attestation.check_contract(&cfg.contract_id).map_err(NodeError::Attestation)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        env.fill_random(&mut seed[..]);
        let mut rng = ChaCha20Rng::from_seed(*seed);
        let mut boot_id = [0u8; 16];
        rng.fill_bytes(&mut boot_id);
        let account_seed = Zeroizing::new(identity.account_key().to_bytes());
        let account_key = SigningKey::from_seed(&account_seed);

        let (lc, scan_next) = restore_light_client(&store, trusted)?;
        let (active, pending_keys) = restore_keys(&store)?;
        discard_one_time_material(&mut store)?;
        let refresh = restore_refresh(active.as_ref(), &pending_keys, lc.head_height(), cfg.refresh_interval_blocks);
        let now = env.now_ms();
        Ok(Node {
            account_public: identity.account_public(),
            tls_public: identity.tls_public(),
            cfg,
            store,
            account_key,
            rng,
            boot_id,
            rpc: Rpc::new(),
            metrics: Metrics::default(),
            lc,
            lc_dirty: false,
            lc_rejection: None,
            lc_persisted_ms: now,
            scan_next,
            candidates: BTreeMap::new(),
            requests: BTreeMap::new(),
            handled_requests: RecentSet::new(REQUESTS_REMEMBERED),
            proven_log: VecDeque::new(),
            next_chain_ms: now,
            contract: None,
            next_contract_ms: now,
            me: None,
            p2p_members: None,
            alive: BTreeSet::new(),
            peer_boots: BTreeMap::new(),
            blamed: BTreeMap::new(),
            active,
            pending_keys,
            attempted: BTreeSet::new(),
            tx_last: BTreeMap::new(),
            old_sharings: BTreeMap::new(),
            refresh,
            instances: BTreeMap::new(),
            early: VecDeque::new(),
            early_bytes: BTreeMap::new(),
            finished: RecentSet::new(FINISHED_REMEMBERED),
            held_starts: Vec::new(),
            run_counter: 0,
            triples: BTreeMap::new(),
            presigs: BTreeMap::new(),
            presig_filling: true,
            triple_filling: true,
            pool_backoff_until_ms: 0,
            attest: AttestState::default(),
            key_event_note: None,
            contract_proof_note: None,
            nonce: None,
            reseed_at_ms: now + 3_600_000,
        })
    }

    /// Does a bounded amount of work and says when to be called again.
    pub fn poll<E: Env + ?Sized>(&mut self, env: &mut E) -> Wakeup {
        let mut now = env.now_ms();
        if now >= self.reseed_at_ms {
            let mut fresh = Zeroizing::new([0u8; 32]);
            env.fill_random(&mut fresh[..]);
            let mut mixed = Zeroizing::new([0u8; 32]);
            self.rng.fill_bytes(&mut mixed[..]);
            for (m, f) in mixed.iter_mut().zip(fresh.iter()) {
                *m ^= f;
            }
            self.rng = ChaCha20Rng::from_seed(*mixed);
            self.reseed_at_ms = now + 3_600_000;
        }
        let mut busy = self.pump_p2p(env, now);
        busy |= self.drive_all(env, now);

        if now >= self.next_chain_ms {
            self.next_chain_ms = now + self.cfg.chain_poll_ms;
            busy |= self.follow_chain(env, now);
            now = env.now_ms();
        }
        if now >= self.next_contract_ms {
            self.next_contract_ms = now + self.cfg.contract_poll_ms;
            self.refresh_contract(env, now);
            now = env.now_ms();
        }
        if self.contract.is_some() {
            self.key_events_step(env, now);
            self.attestation_step(env, now);
            self.refresh_step(env, now);
            self.pools_step(env, now);
            self.signing_step(env, now);
            self.held_starts_step(env, now);
        }
        self.timeouts(env, now);
        self.persist_light_client(now, false);
        busy |= self.pump_p2p(env, now);
        busy |= self.drive_all(env, now);
        self.update_gauges();
        let rc = self.rpc.counters;
        self.metrics.rpc_calls = rc.calls;
        self.metrics.rpc_failures = rc.failures;
        self.metrics.rpc_rejected = rc.rejected;

        let now = env.now_ms();
        let next = if busy { now } else { self.next_chain_ms.min(self.next_contract_ms).min(now + 100) };
        Wakeup { at_ms: next.max(now) }
    }

    // ---------------------------------------------------------------------------------------
    // P2P in

    fn pump_p2p<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) -> bool {
        let mut any = false;
        for _ in 0..EVENTS_PER_POLL {
            let Some(ev) = env.p2p_recv() else { break };
            any = true;
            match ev {
                P2pEvent::PeerUp(p) => {
                    self.metrics.peers_up += 1;
                    self.alive.insert(p);
                    self.on_peer_up(env, p, now);
                }
                P2pEvent::PeerDown(p) => {
                    self.alive.remove(&p);
                    // Runs this node leads that need the peer cannot finish: end them now so
                    // the work is retried without it (key events wait for their own timeout).
                    let stuck: Vec<SessionId> = self
                        .instances
                        .iter()
                        .filter(|(_, i)| i.purpose.owner() == self.me && i.participants.contains(&p))
                        .map(|(s, _)| *s)
                        .collect();
                    for s in stuck {
                        self.abort_instance(env, s, Abort::PeerDown, now);
                    }
                }
                P2pEvent::Message { from, channel, session, payload } => {
                    self.metrics.p2p_messages_in += 1;
                    self.metrics.p2p_bytes_in += payload.len() as u64;
                    if channel == Channel::COORDINATION {
                        match Coord::decode(&payload) {
                            Ok(msg) => self.on_coord(env, from, msg, now),
                            Err(_) => self.metrics.p2p_bad_coordination += 1,
                        }
                    } else {
                        self.on_protocol_message(env, from, channel, session, payload, now);
                    }
                }
            }
        }
        any
    }

    fn on_protocol_message<E: Env + ?Sized>(
        &mut self,
        env: &mut E,
        from: ParticipantId,
        channel: Channel,
        session: SessionId,
        payload: Vec<u8>,
        now: u64,
    ) {
        if let Some(inst) = self.instances.get_mut(&session) {
            if inst.purpose.channel() != channel || !inst.participants.contains(&from) {
                self.metrics.p2p_early_dropped += 1;
                return;
            }
            if let Err(e) = inst.message(from, &payload) {
                self.abort_instance(env, session, Abort::Error(e), now);
            } else {
                inst.last_progress_ms = now;
                self.drive(env, session, now);
            }
            return;
        }
        if self.finished.contains(&session) {
            self.metrics.p2p_early_dropped += 1;
            return;
        }
        // Not started here yet: hold it, bounded per sender.
        let used = self.early_bytes.get(&from).copied().unwrap_or(0);
        if used.saturating_add(payload.len()) > self.cfg.early_bytes_per_peer {
            self.metrics.p2p_early_dropped += 1;
            return;
        }
        self.early_bytes.insert(from, used + payload.len());
        self.metrics.p2p_early_held += 1;
        self.early.push_back(Early { from, session, payload, at_ms: now });
    }

    /// Delivers held messages for `session` (just started).
    pub(super) fn release_early<E: Env + ?Sized>(&mut self, env: &mut E, session: SessionId, now: u64) {
        let mut mine = Vec::new();
        let mut kept = VecDeque::new();
        for e in core::mem::take(&mut self.early) {
            if e.session == session {
                mine.push(e);
            } else {
                kept.push_back(e);
            }
        }
        self.early = kept;
        for e in mine {
            if let Some(b) = self.early_bytes.get_mut(&e.from) {
                *b = b.saturating_sub(e.payload.len());
            }
            let Some(inst) = self.instances.get_mut(&session) else {
                self.metrics.p2p_early_dropped += 1;
                continue;
            };
            if !inst.participants.contains(&e.from) {
                self.metrics.p2p_early_dropped += 1;
                continue;
            }
            if let Err(err) = inst.message(e.from, &e.payload) {
                self.abort_instance(env, session, Abort::Error(err), now);
                return;
            }
            inst.last_progress_ms = now;
        }
    }

    fn expire_early(&mut self, now: u64) {
        let ttl = self.cfg.early_ttl_ms;
        let mut kept = VecDeque::new();
        for e in core::mem::take(&mut self.early) {
            if now.saturating_sub(e.at_ms) > ttl {
                if let Some(b) = self.early_bytes.get_mut(&e.from) {
                    *b = b.saturating_sub(e.payload.len());
                }
                self.metrics.p2p_early_dropped += 1;
            } else {
                kept.push_back(e);
            }
        }
        self.early = kept;
    }

    // ---------------------------------------------------------------------------------------
    // P2P out

    pub(super) fn send<E: Env + ?Sized>(&mut self, env: &mut E, to: ParticipantId, channel: Channel, session: SessionId, payload: Vec<u8>) {
        if Some(to) == self.me {
            return;
        }
        self.metrics.p2p_messages_out += 1;
        self.metrics.p2p_bytes_out += payload.len() as u64;
        if env.p2p_send(to, channel, session, payload).is_err() {
            self.metrics.p2p_send_errors += 1;
        }
    }

    pub(super) fn send_coord<E: Env + ?Sized>(&mut self, env: &mut E, to: ParticipantId, msg: &Coord) {
        let session = *msg.session();
        self.send(env, to, Channel::COORDINATION, session, msg.encode());
    }

    // ---------------------------------------------------------------------------------------
    // protocol runs

    /// Registers a started run, releases held messages for it, and drives it.
    pub(super) fn start_instance<E: Env + ?Sized>(&mut self, env: &mut E, session: SessionId, inst: Instance, now: u64) {
        bump(&mut self.metrics.protocols_started, inst.purpose.name());
        self.instances.insert(session, inst);
        self.release_early(env, session, now);
        self.drive(env, session, now);
    }

    fn drive_all<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) -> bool {
        let sessions: Vec<SessionId> = self.instances.keys().copied().collect();
        let mut any = false;
        for s in sessions {
            any |= self.drive(env, s, now);
        }
        any
    }

    /// Pumps one run; returns whether it did anything.
    pub(super) fn drive<E: Env + ?Sized>(&mut self, env: &mut E, session: SessionId, now: u64) -> bool {
        let Some(inst) = self.instances.get_mut(&session) else { return false };
        let channel = inst.purpose.channel();
        let steps = inst.pump();
        let did = !steps.is_empty();
        if did {
            inst.last_progress_ms = now;
        }
        for step in steps {
            match step {
                Pumped::Send(msgs) => {
                    for (to, bytes) in msgs {
                        self.send(env, to, channel, session, bytes);
                    }
                }
                Pumped::Done(out) => {
                    if let Some(inst) = self.instances.remove(&session) {
                        self.finished.insert(session);
                        bump(&mut self.metrics.protocols_completed, inst.purpose.name());
                        self.on_output(env, session, inst, out, now);
                    }
                }
                Pumped::Failed(e) => self.abort_instance(env, session, Abort::Error(e), now),
            }
        }
        did
    }

    /// Ends a run that failed, timed out or was given up: blames the participant an error
    /// names, tells the other participants when this node owns the run, and lets the
    /// purpose's owner module react.
    pub(super) fn abort_instance<E: Env + ?Sized>(&mut self, env: &mut E, session: SessionId, cause: Abort, now: u64) {
        let Some(inst) = self.instances.remove(&session) else { return };
        self.finished.insert(session);
        let name = inst.purpose.name();
        match &cause {
            Abort::Timeout => bump(&mut self.metrics.protocol_timeouts, name),
            Abort::Declined | Abort::PeerDown => {
                let reason = if matches!(cause, Abort::Declined) { "declined" } else { "peer_down" };
                *self.metrics.protocol_cancelled.entry((name, reason)).or_insert(0) += 1;
            }
            Abort::Error(e) => {
                let culprit = e.culprit();
                let label = culprit.map_or_else(|| String::from("none"), |c| alloc::format!("{}", c.0));
                *self.metrics.protocol_aborts.entry((name, label)).or_insert(0) += 1;
                if let Some(c) = culprit {
                    if Some(c) != self.me {
                        self.blamed.insert(c, now + self.cfg.blame_cooldown_ms);
                    }
                }
            }
        }
        if inst.purpose.owner() == self.me {
            let msg = Coord::Abort { session };
            for p in inst.participants.iter().copied() {
                self.send_coord(env, p, &msg);
            }
        }
        self.on_run_failed(env, session, &inst, now);
    }

    fn on_output<E: Env + ?Sized>(&mut self, env: &mut E, session: SessionId, inst: Instance, out: Output, now: u64) {
        match (inst.purpose.clone(), out) {
            (Purpose::Keygen { epoch, attempt }, Output::Key(k)) => self.on_keygen_output(env, epoch, attempt, k.map(|k| *k), now),
            (Purpose::Reshare { epoch, attempt }, Output::Key(k)) => self.on_reshare_output(env, epoch, attempt, k.map(|k| *k), now),
            (Purpose::Refresh { round }, Output::Key(k)) => self.on_refresh_output(env, session, round, k.map(|k| *k), &inst, now),
            (Purpose::Triples { owner }, Output::Triples(ts)) => self.on_triples_output(owner, ts, now),
            (Purpose::Presign { owner }, Output::Presignature(p)) => self.on_presign_output(owner, *p, now),
            (Purpose::Sign { request_id, .. }, Output::Signature(sig)) => self.on_sign_output(env, request_id, sig, now),
            _ => {}
        }
    }

    fn on_run_failed<E: Env + ?Sized>(&mut self, env: &mut E, _session: SessionId, inst: &Instance, now: u64) {
        match &inst.purpose {
            // As near/mpc's node does: a failed keygen/reshare run votes the instance down
            // instead of waiting for it to expire.
            Purpose::Keygen { epoch, attempt } | Purpose::Reshare { epoch, attempt } => {
                let (epoch, attempt) = (*epoch, *attempt);
                if self.tx_due(("vote_abort_key_event_instance", epoch, attempt), now) {
                    let args = super::contract::vote_abort_args(epoch, self.cfg.domain_id, attempt);
                    self.send_function_call(env, "vote_abort_key_event_instance", serde_json::to_vec(&args).unwrap_or_default());
                }
            }
            Purpose::Triples { owner } | Purpose::Presign { owner } if Some(*owner) == self.me => {
                self.pool_backoff_until_ms = now + 1_000;
            }
            Purpose::Sign { request_id, leader } if Some(*leader) == self.me => {
                if let Some(r) = self.requests.get_mut(request_id) {
                    r.state = ReqState::Idle;
                    r.next_action_ms = now + 200;
                }
            }
            _ => {}
        }
    }

    fn timeouts<E: Env + ?Sized>(&mut self, env: &mut E, now: u64) {
        let (idle, max) = (self.cfg.protocol_idle_ms, self.cfg.protocol_max_ms);
        let late: Vec<SessionId> = self
            .instances
            .iter()
            .filter(|(_, i)| now.saturating_sub(i.last_progress_ms) >= idle || now.saturating_sub(i.started_ms) >= max)
            .map(|(s, _)| *s)
            .collect();
        for s in late {
            self.abort_instance(env, s, Abort::Timeout, now);
        }
        self.expire_early(now);
        self.blamed.retain(|_, until| *until > now);
    }

    /// Participants this node would pick for a new run right now: connected (or itself) and
    /// not blamed recently.
    pub(super) fn eligible(&self, p: ParticipantId) -> bool {
        (Some(p) == self.me || self.alive.contains(&p)) && !self.blamed.contains_key(&p)
    }

    pub(super) fn next_run_id(&mut self) -> [u8; 8] {
        self.run_counter += 1;
        self.run_counter.to_le_bytes()
    }

    // ---------------------------------------------------------------------------------------
    // store

    pub(super) fn persist_light_client(&mut self, now: u64, force: bool) {
        if !self.lc_dirty || (!force && now.saturating_sub(self.lc_persisted_ms) < self.cfg.persist_light_client_ms) {
            return;
        }
        let bytes = lc_record(&self.lc, self.scan_next);
        match self.store.put(LIGHT_CLIENT_RECORD, LIGHT_CLIENT_ID, &bytes) {
            Ok(()) => {
                self.lc_dirty = false;
                self.lc_persisted_ms = now;
            }
            Err(_) => self.metrics.store_errors += 1,
        }
    }

    pub(super) fn store_commit(&mut self, changes: &[Change<'_>]) -> bool {
        if changes.is_empty() {
            return true;
        }
        match self.store.commit(changes) {
            Ok(()) => true,
            Err(_) => {
                self.metrics.store_errors += 1;
                false
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // transactions

    /// Chain time in seconds (the verified head's timestamp).
    pub(super) fn chain_time_s(&self) -> u64 {
        self.lc.head().inner_lite.timestamp / 1_000_000_000
    }

    /// Sends a function call to the contract, signed with the account key, nonce per the MPC
    /// node's rule `max(height·1e6, previous+1)`. The signed transaction is offered to every
    /// endpoint (one honest endpoint is enough; an endpoint that silently drops it cannot stop
    /// the others). Returns whether any endpoint accepted it.
    pub(super) fn send_function_call<E: Env + ?Sized>(&mut self, env: &mut E, method: &'static str, args: Vec<u8>) -> bool {
        if self.nonce.is_none() {
            let pk = self.account_key.public_key().to_text();
            let req = near_req::view_access_key(self.rpc.id(), &self.cfg.account_id, &pk, Finality::Final);
            let quorum = self.cfg.view_quorum;
            match self.rpc.cross_check(env, &req, quorum, &self.cfg.views_exclude, |v| near_req::access_key_nonce(v).map(|(n, _)| n)) {
                Ok(n) => self.nonce = Some(n),
                Err(_) => {
                    bump(&mut self.metrics.tx_failed, method);
                    return false;
                }
            }
        }
        let previous = self.nonce.unwrap_or(0);
        let Ok(nonce) = next_nonce(self.lc.head_height(), previous) else {
            bump(&mut self.metrics.tx_failed, method);
            return false;
        };
        let tx = Transaction {
            signer_id: self.cfg.account_id.clone(),
            public_key: self.account_key.public_key(),
            nonce,
            receiver_id: self.cfg.contract_id.clone(),
            block_hash: self.lc.head_hash(),
            actions: alloc::vec![TxAction::FunctionCall { method_name: String::from(method), args, gas: RESPOND_GAS, deposit: 0 }],
        };
        let Ok(signed) = tx.sign(&self.account_key) else {
            bump(&mut self.metrics.tx_failed, method);
            return false;
        };
        let b64 = signed.to_base64();
        let mut accepted = false;
        for endpoint in 0..env.rpc_endpoints() {
            let req = near_req::send_tx(self.rpc.id(), &b64, "NONE");
            self.rpc.counters.calls += 1;
            let ok = env
                .rpc(endpoint, &req.body)
                .ok()
                .and_then(|body| near_req::parse_answer(&body, req.id, self.rpc.limits.max_body).ok())
                .is_some();
            if !ok {
                self.rpc.counters.failures += 1;
            }
            accepted |= ok;
        }
        if accepted {
            self.nonce = Some(nonce);
            bump(&mut self.metrics.tx_sent, method);
        } else {
            // Most likely a stale nonce: read it again next time.
            self.nonce = None;
            bump(&mut self.metrics.tx_failed, method);
        }
        accepted
    }

    /// Rate limit for a transaction purpose: true (and noted) if it may be sent now.
    pub(super) fn tx_due(&mut self, key: (&'static str, u64, u64), now: u64) -> bool {
        match self.tx_last.get(&key) {
            Some(t) if now.saturating_sub(*t) < self.cfg.tx_retry_ms => false,
            _ => {
                self.tx_last.insert(key, now);
                true
            }
        }
    }

    /// A contract view (cross-checked across endpoints): the returned bytes.
    pub(super) fn contract_view<E: Env + ?Sized>(&mut self, env: &mut E, method: &str, args: &Value) -> Option<Vec<u8>> {
        let req = super::rpc::view(self.rpc.id(), &self.cfg.contract_id, method, args);
        let quorum = self.cfg.view_quorum;
        self.rpc.cross_check(env, &req, quorum, &self.cfg.views_exclude, super::rpc::view_result).ok()
    }

    // ---------------------------------------------------------------------------------------
    // views

    fn update_gauges(&mut self) {
        let me = self.me;
        self.metrics.triples_held = self.triples.len() as u64;
        self.metrics.presignatures_held = self.presigs.len() as u64;
        self.metrics.triples_owned = self.triples.values().filter(|t| Some(t.owner) == me).count() as u64;
        self.metrics.presignatures_owned = self.presigs.values().filter(|t| Some(t.owner) == me).count() as u64;
        self.metrics.peers_connected = self.alive.len() as u64;
    }

    /// The counters (render with [`Metrics::render_prometheus`]).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The `/public_data` status.
    pub fn status(&self) -> Status {
        let active = self.active.as_ref();
        Status {
            contract_state: self.contract.as_ref().map_or("Unknown", ContractState::name),
            participant_id: self.me.map(|p| p.0),
            light_client_height: self.lc.head_height(),
            light_client_hash: self.lc.head_hash().to_base58(),
            public_key: active.map(|k| tdsigner_tss::near::public_key_string(&k.share.public_key())),
            key_epoch: active.map(|k| k.contract_epoch),
            sharing_id: active.map(|k| hex(k.share.sharing_id())),
            attested: self.attest.confirmed,
            peers_connected: self.alive.len(),
            triples_owned: self.metrics.triples_owned as usize,
            presignatures_owned: self.metrics.presignatures_owned as usize,
            pending_requests: self.requests.len(),
            light_client_rejection: self.lc_rejection.clone(),
            attestation_mode: self.cfg.attestation.name(),
            attestation_note: self.attest.note.clone(),
            key_event_note: self.key_event_note.clone(),
            contract_state_source: self.cfg.contract_state.name(),
            contract_proof_note: self.contract_proof_note.clone(),
        }
    }

    /// The node's account public key (ed25519).
    pub fn account_public_key(&self) -> [u8; 32] {
        self.account_public
    }

    /// The node's P2P TLS public key (ed25519).
    pub fn tls_public_key(&self) -> [u8; 32] {
        self.tls_public
    }

    /// Request ids this node proved, most recent last (bounded to the last 4096).
    pub fn proven_requests(&self) -> Vec<CryptoHash> {
        self.proven_log.iter().copied().collect()
    }

    /// The light-client head height.
    pub fn head_height(&self) -> u64 {
        self.lc.head_height()
    }
}

pub(super) fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(char::from(D[usize::from(x >> 4)]));
        s.push(char::from(D[usize::from(x & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeySourceConfig;
    use tdsigner_near::light_client::EpochProducers;
    use tdsigner_near::rpc::stream::{CallError, StreamError};
    use tdsigner_near::types::{BlockHeaderLite, InnerLite};
    use tdsigner_p2p::ParticipantSet;
    use tdsigner_store::device::MemDevice;

    /// An environment with no endpoints and no peers.
    struct Offline(u64);
    impl Env for Offline {
        fn now_ms(&self) -> u64 {
            self.0
        }
        fn fill_random(&mut self, out: &mut [u8]) {
            for (i, b) in out.iter_mut().enumerate() {
                *b = i as u8 ^ 0x5a;
            }
        }
        fn rpc_endpoints(&self) -> usize {
            1
        }
        fn rpc(&mut self, _: usize, _: &[u8]) -> Result<Vec<u8>, CallError> {
            Err(CallError::Stream(StreamError::Connect))
        }
        fn p2p_send(&mut self, _: ParticipantId, _: Channel, _: SessionId, _: Vec<u8>) -> Result<(), super::super::env::P2pSendError> {
            Ok(())
        }
        fn p2p_recv(&mut self) -> Option<P2pEvent> {
            None
        }
        fn set_participants(&mut self, _: Option<(ParticipantId, &ParticipantSet)>) {}
        fn attestation(&mut self, _: [u8; 64]) -> Result<super::super::env::Attestation, super::super::env::AttestationError> {
            Err(super::super::env::AttestationError::Unavailable)
        }
    }

    fn trusted(height: u64) -> LightClientState {
        let inner_lite = InnerLite {
            height,
            epoch_id: CryptoHash([1; 32]),
            next_epoch_id: CryptoHash([2; 32]),
            prev_state_root: CryptoHash::default(),
            outcome_root: CryptoHash::default(),
            timestamp: 1,
            next_bp_hash: CryptoHash::default(),
            block_merkle_root: CryptoHash::default(),
            chunk_execution_root: None,
        };
        let head = BlockHeaderLite { prev_block_hash: CryptoHash::default(), inner_rest_hash: CryptoHash::default(), inner_lite };
        LightClientState::from_trusted_header(head, EpochProducers { epoch_id: CryptoHash([1; 32]), producers: Vec::new() }).unwrap()
    }

    use crate::test_rng::Rng;

    #[test]
    fn boot_discards_one_time_material_and_resumes_the_light_client() {
        let mut dev = MemDevice::new(8192);
        let key = KeySourceConfig::Test(Zeroizing::new([4; 32]));
        let cfg = MachineConfig::new("node0.test".into(), "v1.signer.test".into());
        {
            let mut b = crate::bootstrap::bootstrap(&mut dev, &key, "node0.test", &mut Rng(1), &mut |_e: &tdsigner_store::RuntimeEvent| {
                Ok::<(), &str>(())
            })
            .unwrap();
            // Material left by an earlier boot, and a light-client state ahead of the config's.
            b.store.put(TRIPLE_RECORD, &[7; 32], b"x").unwrap();
            b.store.put(PRESIGNATURE_RECORD, &[8; 32], b"y").unwrap();
            b.store.put(LIGHT_CLIENT_RECORD, LIGHT_CLIENT_ID, &lc_record(&trusted(500), Some(490))).unwrap();
        }
        let b = crate::bootstrap::bootstrap(&mut dev, &key, "node0.test", &mut Rng(2), &mut |_e: &tdsigner_store::RuntimeEvent| {
            Ok::<(), &str>(())
        })
        .unwrap();
        let mut env = Offline(0);
        let mut node = Node::new(cfg, b.store, &b.identity, trusted(100), &mut env).unwrap();
        assert_eq!(node.store.ids(TRIPLE_RECORD).count(), 0, "a stored triple survived the boot");
        assert_eq!(node.store.ids(PRESIGNATURE_RECORD).count(), 0, "a stored presignature survived the boot");
        assert_eq!(node.head_height(), 500, "the persisted light-client state was not resumed");
        assert_eq!(node.scan_next, Some(490));
        // Offline: polling does nothing harmful and asks to be called again.
        env.0 = 1_000;
        let w = node.poll(&mut env);
        assert!(w.at_ms >= 1_000);
        assert_eq!(node.status().contract_state, "Unknown");
        assert!(node.metrics().rpc_failures > 0);
    }

    /// A head verified at boot (newer than the stored state) is taken, but the stored
    /// scan cursor is kept: requests made while the node was down are still scanned.
    #[test]
    fn a_newer_start_keeps_the_stored_scan_cursor() {
        let mut dev = MemDevice::new(8192);
        let key = KeySourceConfig::Test(Zeroizing::new([4; 32]));
        {
            let mut b = crate::bootstrap::bootstrap(&mut dev, &key, "node0.test", &mut Rng(1), &mut |_e: &tdsigner_store::RuntimeEvent| {
                Ok::<(), &str>(())
            })
            .unwrap();
            b.store.put(LIGHT_CLIENT_RECORD, LIGHT_CLIENT_ID, &lc_record(&trusted(500), Some(490))).unwrap();
        }
        let b = crate::bootstrap::bootstrap(&mut dev, &key, "node0.test", &mut Rng(2), &mut |_e: &tdsigner_store::RuntimeEvent| {
            Ok::<(), &str>(())
        })
        .unwrap();
        let cfg = MachineConfig::new("node0.test".into(), "v1.signer.test".into());
        let node = Node::new(cfg, b.store, &b.identity, trusted(900), &mut Offline(0)).unwrap();
        assert_eq!(node.head_height(), 900);
        assert_eq!(node.scan_next, Some(490), "the scan cursor was reset to the new head");
        // A cursor ahead of the head it is given (another chain's) is dropped.
        let mut store = node.store;
        store.put(LIGHT_CLIENT_RECORD, LIGHT_CLIENT_ID, &lc_record(&trusted(50), Some(700))).unwrap();
        let cfg = MachineConfig::new("node0.test".into(), "v1.signer.test".into());
        let node = Node::new(cfg, store, &b.identity, trusted(600), &mut Offline(0)).unwrap();
        assert_eq!((node.head_height(), node.scan_next), (600, None));
    }

    /// Runs are aborted for silence, not for age: a run whose peers keep talking outlives
    /// `protocol_idle_ms` (slow hosts), but none outlives `protocol_max_ms`.
    #[test]
    fn protocol_runs_time_out_on_silence_not_age() {
        use super::super::protocols::{session_id, Proto};
        use tdsigner_tss::{Action, ParticipantList, Protocol, TripleGeneration};

        let mut dev = MemDevice::new(8192);
        let key = KeySourceConfig::Test(Zeroizing::new([4; 32]));
        let mut cfg = MachineConfig::new("node0.test".into(), "v1.signer.test".into());
        cfg.protocol_idle_ms = 1_000;
        cfg.protocol_max_ms = 10_000;
        let b = crate::bootstrap::bootstrap(&mut dev, &key, "node0.test", &mut Rng(3), &mut |_e: &tdsigner_store::RuntimeEvent| {
            Ok::<(), &str>(())
        })
        .unwrap();
        let mut env = Offline(0);
        let mut node = Node::new(cfg, b.store, &b.identity, trusted(100), &mut env).unwrap();

        let (me, peer) = (ParticipantId(0), ParticipantId(1));
        let list = ParticipantList::new(&[me, peer]).unwrap();
        let run = |id: &[u8]| session_id(b"triples", &[id]);
        let instance = |session, who, seed: u8, started_ms, last_progress_ms| Instance {
            purpose: Purpose::Triples { owner: peer },
            proto: Proto::Triples(TripleGeneration::new(session, &list, 2, [9; 32], 1, who, ChaCha20Rng::from_seed([seed; 32])).unwrap()),
            participants: alloc::vec![me, peer],
            me,
            started_ms,
            last_progress_ms,
        };
        let talking = run(b"talking");
        node.instances.insert(talking, instance(talking, me, 1, 0, 0));
        // The peer's side of the same run, to produce genuine messages for it.
        let mut theirs = TripleGeneration::new(talking, &list, 2, [9; 32], 1, peer, ChaCha20Rng::from_seed([2; 32])).unwrap();
        let Ok(Action::SendMany(first) | Action::SendPrivate(_, first)) = theirs.poke() else { panic!("peer sent nothing") };

        node.timeouts(&mut env, 999);
        assert!(node.instances.contains_key(&talking), "aborted before protocol_idle_ms");
        node.on_protocol_message(&mut env, peer, Channel::TRIPLES, talking, first, 900);
        node.timeouts(&mut env, 1_500);
        assert!(node.instances.contains_key(&talking), "a run that just received a message was aborted for its age");
        node.timeouts(&mut env, 1_900);
        assert!(!node.instances.contains_key(&talking), "a run silent for protocol_idle_ms was kept");
        assert_eq!(node.metrics().protocol_timeouts.get("triples"), Some(&1));

        // Progress a moment ago does not extend a run past protocol_max_ms.
        let old = run(b"old");
        node.instances.insert(old, instance(old, me, 3, 0, 9_800));
        node.timeouts(&mut env, 9_999);
        assert!(node.instances.contains_key(&old));
        node.timeouts(&mut env, 10_000);
        assert!(!node.instances.contains_key(&old), "a run older than protocol_max_ms was kept");
        assert_eq!(node.metrics().protocol_timeouts.get("triples"), Some(&2));
    }
}
