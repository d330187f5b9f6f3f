//! The connection manager: a sans-IO state machine for the whole mesh.
//!
//! This module owns which peers to dial and when, the per-connection TLS sessions and frame
//! decoders, the hello exchange that binds a TLS key to a participant id, the per-peer message
//! streams (queues, sequence numbers, acknowledgements, retransmission after reconnection), the
//! routing of received messages to open sessions, and the counters.
//!
//! The caller (the kernel's TCP loop, or a test harness) owns sockets and time. It feeds
//! [`Event`]s with the current monotonic time in milliseconds and carries out the returned
//! [`Action`]s; [`Manager::send`] queues an outgoing message. Call `handle_event(now, Event::Tick)`
//! regularly (every 100 ms or so): every timer (dial backoff, connect and idle timeouts,
//! keepalives, delayed acknowledgements, expiry of early messages) is resolved on ticks.
//!
//! **Who dials.** For each pair, the lower participant id dials the higher one, and there is one
//! connection per pair carrying both directions. This halves the TLS sessions (and their
//! buffers, which matter in the image) compared with "everyone dials everyone", and there is no
//! simultaneous-open race to break. The cost is that recovery after a failure is always driven
//! by the lower id's backoff; an accepted connection from a peer supersedes any older one with
//! that peer (the peer only opens a new one after losing the old).
//!
//! **Streams.** Messages to a peer are numbered per channel from 1. A sent frame stays held until
//! the peer acknowledges it (`Ack` control frames, sent after a number of frames or bytes, and on
//! ticks); at most `max_inflight_bytes` are unacknowledged at once. After a reconnection each
//! side's hello says what it has received, and the other side resends the rest, so a message
//! accepted by [`Manager::send`] reaches the peer exactly once and in order while both processes
//! live. The receiver accepts only the next number on each channel: a repeat is dropped and
//! counted as replayed, a gap as reordered. Each process start draws a random *incarnation*;
//! when a peer's incarnation changes (it restarted), frames already sent to its old incarnation
//! are discarded (counted) and numbering restarts; messages not yet sent are kept.
//!
//! **Queue bounds.** Per peer, at most `max_held_messages` messages and `max_held_bytes` bytes
//! (queued payloads plus unacknowledged frames) are held. When full, `send` refuses the new
//! message with [`SendError::QueueFull`] (tail drop, counted): protocols rely on ordered,
//! gap-free streams, so an accepted message is never dropped to make room for a newer one.
//!
//! **Routing.** Channels bound to sessions (all but [`Channel::COORDINATION`] by default) deliver
//! a message only for a session opened with [`Manager::open_session`] and only from one of its
//! members. Messages for a session not opened yet are held (bounded per peer, for
//! `early_ttl_ms`) and delivered when it opens; messages for a closed session, from a
//! non-member, or whose early hold overflowed or expired are dropped and counted as misrouted.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use rand_core::RngCore;
use rustls::ServerConfig;
use tdsigner_tss::{ParticipantId, SessionId};

use crate::frame::{
    encode_frame, encoded_len, Channel, Control, Frame, FrameDecoder, FrameError, Hello, CONTROL,
    DEFAULT_MAX_PAYLOAD, MAX_CHANNELS, PROTOCOL_VERSION,
};
use crate::identity::{NodeKey, Participant, ParticipantSet, PeerAddr, TlsPublicKey};
use crate::metrics::{Metrics, PeerMetrics};
use crate::tls::{client_config, server_config, TlsError, TlsSession};

/// A connection, named by the caller (e.g. its socket handle). Must be unique among the
/// connections the caller has open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// An outbound connection attempt, named by the manager in [`Action::Connect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialId(pub u64);

/// Tunables. Times are milliseconds of the caller's monotonic clock.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest message payload sent or accepted (frames above it close the connection).
    pub max_payload: usize,
    /// Per-peer bound on bytes held (queued payloads + unacknowledged frames).
    pub max_held_bytes: usize,
    /// Per-peer bound on messages held.
    pub max_held_messages: usize,
    /// Bytes sent and not yet acknowledged, per peer (one larger frame may go when none are).
    pub max_inflight_bytes: usize,
    /// The receiver acknowledges after this many frames...
    pub ack_after_frames: u32,
    /// ... or this many bytes (keep below the peers' `max_inflight_bytes`), and on every tick.
    pub ack_after_bytes: usize,
    /// First reconnection delay; doubles per failed attempt up to `backoff_max_ms`. The delay
    /// actually used is drawn uniformly from [d/2, d] ("equal jitter").
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// A dial must be connected, authenticated and past the hello exchange within this time;
    /// also bounds inbound connections.
    pub connect_timeout_ms: u64,
    /// A ping is sent when nothing was sent for this long.
    pub keepalive_ms: u64,
    /// A connection with nothing received for this long is closed.
    pub idle_timeout_ms: u64,
    /// Per-peer bytes of messages held for sessions not opened yet.
    pub early_bytes_per_peer: usize,
    /// How long such messages are held.
    pub early_ttl_ms: u64,
    /// Closed sessions remembered (messages for them are misrouted, not held).
    pub closed_sessions_remembered: usize,
    /// Inbound connections not yet authenticated, at most.
    pub max_unauthenticated_inbound: usize,
    /// Channels whose messages are delivered without an open session (bit n = channel n).
    pub sessionless_channels: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_held_bytes: 2 * DEFAULT_MAX_PAYLOAD + (1 << 20),
            max_held_messages: 16 * 1024,
            max_inflight_bytes: 1 << 20,
            ack_after_frames: 32,
            ack_after_bytes: 256 * 1024,
            backoff_initial_ms: 250,
            backoff_max_ms: 30_000,
            connect_timeout_ms: 10_000,
            keepalive_ms: 2_000,
            idle_timeout_ms: 10_000,
            early_bytes_per_peer: 4 << 20,
            early_ttl_ms: 30_000,
            closed_sessions_remembered: 4096,
            max_unauthenticated_inbound: 16,
            sessionless_channels: 1 << Channel::COORDINATION.number(),
        }
    }
}

/// What happened on the caller's side.
#[derive(Debug)]
pub enum Event<'a> {
    /// Time passed; run timers.
    Tick,
    /// The TCP connection requested by `Action::Connect { dial, .. }` is up as `conn`.
    Connected { dial: DialId, conn: ConnId },
    /// That TCP connection attempt failed.
    ConnectFailed { dial: DialId },
    /// An inbound TCP connection was accepted as `conn`.
    Accepted { conn: ConnId },
    /// Bytes arrived on `conn`.
    Received { conn: ConnId, bytes: &'a [u8] },
    /// `conn` was closed or reset by the network or the peer.
    Closed { conn: ConnId },
}

/// What the caller must do.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Open a TCP connection to `addr` and report it with `Connected`/`ConnectFailed`.
    Connect {
        dial: DialId,
        peer: ParticipantId,
        addr: PeerAddr,
    },
    /// Transmit these bytes on `conn`, in order after earlier ones. The manager bounds what is
    /// outstanding per peer (`max_inflight_bytes` plus control frames and TLS overhead).
    Send { conn: ConnId, bytes: Vec<u8> },
    /// Close `conn` (after transmitting what was sent on it). Do not report `Closed` for it.
    Close { conn: ConnId, reason: CloseReason },
    /// An authenticated message for this node.
    Deliver(Message),
    /// An authenticated connection to the peer is up.
    PeerUp(ParticipantId),
    /// The peer's connection is gone (reconnection follows per the dial policy).
    PeerDown(ParticipantId),
}

/// A message from an authenticated peer.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub from: ParticipantId,
    pub channel: Channel,
    pub session: SessionId,
    pub payload: Vec<u8>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("from", &self.from)
            .field("channel", &self.channel)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// Why the manager closed a connection.
#[derive(Clone, Debug, PartialEq)]
pub enum CloseReason {
    /// The TLS handshake or record layer failed (authentication refusals included).
    Tls(TlsError),
    /// The peer's authenticated key is not registered for any other participant.
    UnregisteredKey(TlsPublicKey),
    /// The dialed peer authenticated with another key than the one registered for it.
    WrongKey {
        expected: ParticipantId,
        presented: TlsPublicKey,
    },
    /// The hello claimed a participant other than the one the key is registered for.
    ClaimMismatch {
        claimed: ParticipantId,
        authenticated: ParticipantId,
    },
    /// The hello's protocol version is not ours.
    VersionMismatch(u16),
    /// A frame or control message out of place or malformed.
    ProtocolViolation(&'static str),
    /// The byte stream is not frames (oversize or short length prefix).
    Frame(FrameError),
    /// Not authenticated within `connect_timeout_ms`.
    HandshakeTimeout,
    /// Nothing received within `idle_timeout_ms`.
    IdleTimeout,
    /// A newer authenticated connection with the same peer replaced this one.
    Superseded,
    /// The peer left the participant set, or its key changed.
    PeerRemoved,
    /// `Connected` arrived for a dial that was abandoned.
    StaleDial,
    /// Too many inbound connections waiting for authentication.
    TooManyUnauthenticated,
    /// The peer closed the TLS session.
    PeerClosed,
}

/// Why `send` refused a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    UnknownPeer(ParticipantId),
    ToSelf,
    PayloadTooLarge {
        len: usize,
        max: usize,
    },
    /// The peer's queue is at its bound; the message was not queued.
    QueueFull {
        peer: ParticipantId,
        held_bytes: usize,
        held_messages: usize,
    },
}

/// Why a manager could not be set up or the participant set not changed.
#[derive(Clone, Debug, PartialEq)]
pub enum SetupError {
    /// This node is not in the set.
    NotInSet(ParticipantId),
    /// The set registers another key for this node than the one it holds.
    KeyMismatch {
        registered: TlsPublicKey,
        ours: TlsPublicKey,
    },
    Tls(TlsError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::UnknownPeer(p) => write!(f, "{p} is not in the participant set"),
            SendError::ToSelf => write!(f, "sending to self"),
            SendError::PayloadTooLarge { len, max } => {
                write!(f, "payload of {len} bytes, limit {max}")
            }
            SendError::QueueFull {
                peer,
                held_bytes,
                held_messages,
            } => {
                write!(
                    f,
                    "queue for {peer} full ({held_messages} messages, {held_bytes} bytes)"
                )
            }
        }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::NotInSet(p) => write!(f, "{p} (this node) is not in the participant set"),
            SetupError::KeyMismatch { registered, ours } => {
                write!(f, "registered TLS key {registered} is not ours ({ours})")
            }
            SetupError::Tls(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}
#[cfg(feature = "std")]
impl std::error::Error for SetupError {}

struct Pending {
    channel: Channel,
    session: SessionId,
    payload: Vec<u8>,
}

/// A transmitted, unacknowledged message (kept to be re-encoded if it must be resent).
struct Sent {
    channel: Channel,
    session: SessionId,
    seq: u64,
    payload: Vec<u8>,
}

impl Sent {
    fn size(&self) -> usize {
        encoded_len(self.payload.len())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialState {
    /// Dial when `now >= next_at` (and not connected).
    Idle { next_at: u64 },
    /// `Action::Connect` issued.
    Dialing { dial: DialId, since: u64 },
    /// TCP up, TLS/hello in progress on `conn`.
    Handshaking { conn: ConnId },
}

struct Peer {
    info: Participant,
    /// This node dials the peer (lower id dials higher).
    we_dial: bool,
    /// The authenticated connection in use.
    active: Option<ConnId>,
    dial: DialState,
    attempt: u32,
    /// The peer's incarnation from its last hello (0: never heard).
    incarnation: u64,
    // Outgoing stream.
    last_sent_seq: [u64; MAX_CHANNELS],
    queue: VecDeque<Pending>,
    inflight: VecDeque<Sent>,
    held_bytes: usize,
    inflight_bytes: usize,
    // Incoming stream.
    last_recv_seq: [u64; MAX_CHANNELS],
    unacked_frames: u32,
    unacked_bytes: usize,
    early_bytes: usize,
    stats: PeerMetrics,
}

impl Peer {
    fn new(info: Participant, me: ParticipantId, now: u64) -> Self {
        let we_dial = me < info.id;
        Peer {
            info,
            we_dial,
            active: None,
            dial: DialState::Idle {
                next_at: if we_dial { now } else { u64::MAX },
            },
            attempt: 0,
            incarnation: 0,
            last_sent_seq: [0; MAX_CHANNELS],
            queue: VecDeque::new(),
            inflight: VecDeque::new(),
            held_bytes: 0,
            inflight_bytes: 0,
            last_recv_seq: [0; MAX_CHANNELS],
            unacked_frames: 0,
            unacked_bytes: 0,
            early_bytes: 0,
            stats: PeerMetrics::default(),
        }
    }

    fn acks(&self) -> Vec<(Channel, u64)> {
        self.last_recv_seq
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 0)
            .filter_map(|(c, s)| Channel::new(c as u8).map(|ch| (ch, *s)))
            .collect()
    }

    fn held_messages(&self) -> usize {
        self.queue.len() + self.inflight.len()
    }

    /// Drops held frames the peer acknowledged; refuses acks for frames never sent.
    fn apply_acks(&mut self, acks: &[(Channel, u64)]) -> Result<(), &'static str> {
        for (ch, upto) in acks {
            let sent = self
                .last_sent_seq
                .get(ch.number() as usize)
                .copied()
                .unwrap_or(0);
            if *upto > sent {
                return Err("acknowledgement of a frame never sent");
            }
        }
        let mut freed = 0usize;
        self.inflight.retain(|s| {
            let acked = acks
                .iter()
                .any(|(c, upto)| *c == s.channel && s.seq <= *upto);
            if acked {
                freed += s.size();
            }
            !acked
        });
        self.inflight_bytes -= freed;
        self.held_bytes -= freed;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// TLS in progress; `dialed` is the participant an outbound connection was opened to.
    Handshake {
        dialed: Option<ParticipantId>,
    },
    /// TLS done and our hello sent; the peer's hello is awaited.
    AwaitHello {
        peer: ParticipantId,
    },
    Ready {
        peer: ParticipantId,
    },
}

impl Phase {
    fn peer(&self) -> Option<ParticipantId> {
        match *self {
            Phase::Handshake { dialed } => dialed,
            Phase::AwaitHello { peer } | Phase::Ready { peer } => Some(peer),
        }
    }
}

struct Conn {
    tls: TlsSession,
    decoder: FrameDecoder,
    phase: Phase,
    opened_at: u64,
    last_rx: u64,
    last_tx: u64,
}

struct Early {
    at: u64,
    from: ParticipantId,
    channel: Channel,
    session: SessionId,
    payload: Vec<u8>,
}

/// Sessions the node has opened and recently closed.
#[derive(Default)]
struct Sessions {
    open: BTreeMap<(Channel, SessionId), Vec<ParticipantId>>,
    closed: BTreeSet<(Channel, SessionId)>,
    closed_order: VecDeque<(Channel, SessionId)>,
    early: VecDeque<Early>,
}

/// The connection manager. `R` supplies the incarnation and the backoff jitter.
pub struct Manager<R: RngCore> {
    me: ParticipantId,
    key: Arc<NodeKey>,
    config: Config,
    set: ParticipantSet,
    server_config: Arc<ServerConfig>,
    incarnation: u64,
    rng: R,
    peers: BTreeMap<ParticipantId, Peer>,
    conns: BTreeMap<ConnId, Conn>,
    next_dial: u64,
    sessions: Sessions,
    metrics: Metrics,
    out: Vec<Action>,
}

impl<R: RngCore> fmt::Debug for Manager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("me", &self.me)
            .field("incarnation", &self.incarnation)
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

fn check_own_entry(
    set: &ParticipantSet,
    me: ParticipantId,
    key: &NodeKey,
) -> Result<(), SetupError> {
    let entry = set.get(me).ok_or(SetupError::NotInSet(me))?;
    if entry.tls_key != key.public_key() {
        return Err(SetupError::KeyMismatch {
            registered: entry.tls_key,
            ours: key.public_key(),
        });
    }
    Ok(())
}

impl<R: RngCore> Manager<R> {
    /// A manager for participant `me` holding `key`, in `set`. Nothing happens until the first
    /// event; the first `Tick` issues the dials.
    pub fn new(
        me: ParticipantId,
        key: NodeKey,
        set: ParticipantSet,
        config: Config,
        mut rng: R,
        now: u64,
    ) -> Result<Self, SetupError> {
        check_own_entry(&set, me, &key)?;
        let key = Arc::new(key);
        let server_config =
            server_config(&key, set.iter().map(|p| p.tls_key)).map_err(SetupError::Tls)?;
        // Never 0: 0 means "unknown" in hellos.
        let incarnation = rng.next_u64() | 1;
        let peers = set
            .iter()
            .filter(|p| p.id != me)
            .map(|p| (p.id, Peer::new(p.clone(), me, now)))
            .collect();
        Ok(Manager {
            me,
            key,
            config,
            set,
            server_config,
            incarnation,
            rng,
            peers,
            conns: BTreeMap::new(),
            next_dial: 1,
            sessions: Sessions::default(),
            metrics: Metrics::default(),
            out: Vec::new(),
        })
    }

    pub fn me(&self) -> ParticipantId {
        self.me
    }

    /// This process's incarnation (random per start).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub fn participants(&self) -> &ParticipantSet {
        &self.set
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Figures for one peer.
    pub fn peer_metrics(&self, peer: ParticipantId) -> Option<PeerMetrics> {
        self.peers.get(&peer).map(|p| {
            let mut m = p.stats.clone();
            m.connected = p.active.is_some();
            m.queued_messages = p.queue.len();
            m.held_bytes = p.held_bytes;
            m.inflight_frames = p.inflight.len();
            m
        })
    }

    /// Whether an authenticated connection to `peer` is up.
    pub fn is_connected(&self, peer: ParticipantId) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.active.is_some())
    }

    /// Peers with an authenticated connection.
    pub fn connected_peers(&self) -> Vec<ParticipantId> {
        self.peers
            .iter()
            .filter(|(_, p)| p.active.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Appends the counters in Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        let peers: Vec<(ParticipantId, PeerMetrics)> = self
            .peers
            .keys()
            .filter_map(|id| self.peer_metrics(*id).map(|m| (*id, m)))
            .collect();
        self.metrics
            .render_prometheus(peers.iter().map(|(id, m)| (*id, m)), out);
    }

    /// Handles one event at time `now`.
    pub fn handle_event(&mut self, now: u64, event: Event<'_>) -> Vec<Action> {
        match event {
            Event::Tick => self.on_tick(now),
            Event::Connected { dial, conn } => self.on_connected(now, dial, conn),
            Event::ConnectFailed { dial } => self.on_connect_failed(now, dial),
            Event::Accepted { conn } => self.on_accepted(now, conn),
            Event::Received { conn, bytes } => self.on_received(now, conn, bytes),
            Event::Closed { conn } => {
                if self.conns.contains_key(&conn) {
                    self.close_conn(now, conn, CloseReason::PeerClosed, false);
                }
            }
        }
        self.flush_all(now);
        core::mem::take(&mut self.out)
    }

    /// Queues `payload` for `to` on `channel` in `session`; it is sent as soon as the connection
    /// and the in-flight window allow.
    pub fn send(
        &mut self,
        now: u64,
        to: ParticipantId,
        channel: Channel,
        session: SessionId,
        payload: Vec<u8>,
    ) -> Result<Vec<Action>, SendError> {
        if to == self.me {
            return Err(SendError::ToSelf);
        }
        if payload.len() > self.config.max_payload {
            return Err(SendError::PayloadTooLarge {
                len: payload.len(),
                max: self.config.max_payload,
            });
        }
        let (max_bytes, max_msgs) = (self.config.max_held_bytes, self.config.max_held_messages);
        let peer = self.peers.get_mut(&to).ok_or(SendError::UnknownPeer(to))?;
        let size = encoded_len(payload.len());
        if peer.held_messages() >= max_msgs || peer.held_bytes.saturating_add(size) > max_bytes {
            peer.stats.send_queue_full += 1;
            self.metrics.send_queue_full += 1;
            return Err(SendError::QueueFull {
                peer: to,
                held_bytes: peer.held_bytes,
                held_messages: peer.held_messages(),
            });
        }
        peer.held_bytes += size;
        peer.queue.push_back(Pending {
            channel,
            session,
            payload,
        });
        self.transmit(now, to);
        self.flush_all(now);
        Ok(core::mem::take(&mut self.out))
    }

    /// Opens a session: messages on `channel` for `session` from `members` are delivered (those
    /// already held are delivered now, in arrival order).
    pub fn open_session(
        &mut self,
        channel: Channel,
        session: SessionId,
        members: &[ParticipantId],
    ) -> Vec<Action> {
        let key = (channel, session);
        if self.sessions.closed.remove(&key) {
            self.sessions.closed_order.retain(|k| *k != key);
        }
        let mut members = members.to_vec();
        members.sort();
        members.dedup();
        let mut kept = VecDeque::new();
        for e in core::mem::take(&mut self.sessions.early) {
            if e.channel != channel || e.session != session {
                kept.push_back(e);
                continue;
            }
            if let Some(p) = self.peers.get_mut(&e.from) {
                p.early_bytes = p.early_bytes.saturating_sub(e.payload.len());
            }
            if members.binary_search(&e.from).is_ok() {
                self.deliver(e.from, e.channel, e.session, e.payload);
            } else {
                self.misrouted(e.from);
            }
        }
        self.sessions.early = kept;
        self.sessions.open.insert(key, members);
        core::mem::take(&mut self.out)
    }

    /// Closes a session: later messages for it are dropped as misrouted.
    pub fn close_session(&mut self, channel: Channel, session: SessionId) {
        let key = (channel, session);
        self.sessions.open.remove(&key);
        if self.sessions.closed.insert(key) {
            self.sessions.closed_order.push_back(key);
        }
        while self.sessions.closed_order.len() > self.config.closed_sessions_remembered {
            if let Some(old) = self.sessions.closed_order.pop_front() {
                self.sessions.closed.remove(&old);
            }
        }
    }

    /// Replaces the participant set (e.g. after resharing). Peers that left, or whose key
    /// changed, are disconnected and forgotten; peers whose endpoint changed are redialed.
    pub fn update_participants(
        &mut self,
        now: u64,
        set: ParticipantSet,
    ) -> Result<Vec<Action>, SetupError> {
        check_own_entry(&set, self.me, &self.key)?;
        self.server_config =
            server_config(&self.key, set.iter().map(|p| p.tls_key)).map_err(SetupError::Tls)?;
        let old: Vec<ParticipantId> = self.peers.keys().copied().collect();
        for id in old {
            let keep = match (set.get(id), self.peers.get(&id)) {
                (Some(new), Some(cur)) => new.tls_key == cur.info.tls_key,
                _ => false,
            };
            if !keep {
                self.drop_peer(now, id);
            }
        }
        let me = self.me;
        for p in set.iter().filter(|p| p.id != me) {
            let moved = match self.peers.get_mut(&p.id) {
                None => {
                    self.peers.insert(p.id, Peer::new(p.clone(), self.me, now));
                    false
                }
                Some(cur) => {
                    let moved = cur.info.addr != p.addr;
                    cur.info = p.clone();
                    moved
                }
            };
            if moved {
                for c in self.conns_of(p.id) {
                    self.close_conn(now, c, CloseReason::PeerRemoved, true);
                }
                if let Some(cur) = self.peers.get_mut(&p.id) {
                    if cur.we_dial {
                        cur.attempt = 0;
                        cur.dial = DialState::Idle { next_at: now };
                    }
                }
            }
        }
        self.set = set;
        // Connections still authenticating: they are checked against the new set on completion.
        self.flush_all(now);
        Ok(core::mem::take(&mut self.out))
    }

    fn drop_peer(&mut self, now: u64, id: ParticipantId) {
        for c in self.conns_of(id) {
            self.close_conn(now, c, CloseReason::PeerRemoved, true);
        }
        if let Some(p) = self.peers.remove(&id) {
            self.metrics.dropped_peer_removed += (p.queue.len() + p.inflight.len()) as u64;
        }
        let mut kept = VecDeque::new();
        for e in core::mem::take(&mut self.sessions.early) {
            if e.from != id {
                kept.push_back(e);
            }
        }
        self.sessions.early = kept;
    }

    fn conns_of(&self, id: ParticipantId) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.phase.peer() == Some(id))
            .map(|(k, _)| *k)
            .collect()
    }

    // ---- events ------------------------------------------------------------------------------

    fn on_tick(&mut self, now: u64) {
        let cfg = self.config.clone();
        // Connection timers.
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let Some(c) = self.conns.get(&id) else {
                continue;
            };
            match c.phase {
                Phase::Handshake { .. } | Phase::AwaitHello { .. } => {
                    if now.saturating_sub(c.opened_at) > cfg.connect_timeout_ms {
                        self.metrics.handshake_timeouts += 1;
                        self.close_conn(now, id, CloseReason::HandshakeTimeout, true);
                    }
                }
                Phase::Ready { peer } => {
                    if now.saturating_sub(c.last_rx) > cfg.idle_timeout_ms {
                        self.metrics.idle_timeouts += 1;
                        self.close_conn(now, id, CloseReason::IdleTimeout, true);
                    } else {
                        let unacked = self.peers.get(&peer).is_some_and(|p| p.unacked_frames > 0);
                        if unacked {
                            self.send_ack(now, peer, id);
                        } else if now.saturating_sub(c.last_tx) >= cfg.keepalive_ms {
                            self.send_control(now, id, &Control::Ping);
                        }
                    }
                }
            }
        }
        // Dials.
        let ids: Vec<ParticipantId> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(p) = self.peers.get(&id) else {
                continue;
            };
            if !p.we_dial || p.active.is_some() {
                continue;
            }
            match p.dial {
                DialState::Idle { next_at } if now >= next_at => {
                    let dial = DialId(self.next_dial);
                    self.next_dial += 1;
                    let addr = p.info.addr.clone();
                    if let Some(p) = self.peers.get_mut(&id) {
                        p.dial = DialState::Dialing { dial, since: now };
                    }
                    self.metrics.dials += 1;
                    self.out.push(Action::Connect {
                        dial,
                        peer: id,
                        addr,
                    });
                }
                DialState::Dialing { since, .. }
                    if now.saturating_sub(since) > cfg.connect_timeout_ms =>
                {
                    self.dial_failed(now, id);
                }
                _ => {}
            }
        }
        // Early messages past their time.
        while let Some(e) = self.sessions.early.front() {
            if now.saturating_sub(e.at) <= cfg.early_ttl_ms {
                break;
            }
            if let Some(e) = self.sessions.early.pop_front() {
                if let Some(p) = self.peers.get_mut(&e.from) {
                    p.early_bytes = p.early_bytes.saturating_sub(e.payload.len());
                }
                self.misrouted(e.from);
            }
        }
    }

    fn on_connected(&mut self, now: u64, dial: DialId, conn: ConnId) {
        let peer = self
            .peers
            .iter()
            .find(|(_, p)| matches!(p.dial, DialState::Dialing { dial: d, .. } if d == dial))
            .map(|(id, _)| *id);
        let Some(peer) = peer else {
            self.out.push(Action::Close {
                conn,
                reason: CloseReason::StaleDial,
            });
            return;
        };
        if self.conns.contains_key(&conn) {
            // The caller reused a handle: the old connection is gone.
            self.close_conn(now, conn, CloseReason::PeerClosed, false);
        }
        let Some(key) = self.peers.get(&peer).map(|p| p.info.tls_key) else {
            return;
        };
        let tls = client_config(&self.key, key).and_then(|cfg| TlsSession::client(&cfg));
        match tls {
            Ok(tls) => {
                self.conns.insert(
                    conn,
                    self.new_conn(tls, Phase::Handshake { dialed: Some(peer) }, now),
                );
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.dial = DialState::Handshaking { conn };
                }
            }
            Err(e) => {
                self.out.push(Action::Close {
                    conn,
                    reason: CloseReason::Tls(e),
                });
                self.dial_failed(now, peer);
            }
        }
    }

    fn on_connect_failed(&mut self, now: u64, dial: DialId) {
        let peer = self
            .peers
            .iter()
            .find(|(_, p)| matches!(p.dial, DialState::Dialing { dial: d, .. } if d == dial))
            .map(|(id, _)| *id);
        if let Some(peer) = peer {
            self.dial_failed(now, peer);
        }
    }

    fn on_accepted(&mut self, now: u64, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.close_conn(now, conn, CloseReason::PeerClosed, false);
        }
        let waiting = self
            .conns
            .values()
            .filter(|c| matches!(c.phase, Phase::Handshake { dialed: None }))
            .count();
        if waiting >= self.config.max_unauthenticated_inbound {
            self.out.push(Action::Close {
                conn,
                reason: CloseReason::TooManyUnauthenticated,
            });
            return;
        }
        match TlsSession::server(&self.server_config) {
            Ok(tls) => {
                self.conns.insert(
                    conn,
                    self.new_conn(tls, Phase::Handshake { dialed: None }, now),
                );
            }
            Err(e) => self.out.push(Action::Close {
                conn,
                reason: CloseReason::Tls(e),
            }),
        }
    }

    fn new_conn(&self, tls: TlsSession, phase: Phase, now: u64) -> Conn {
        Conn {
            tls,
            decoder: FrameDecoder::new(self.config.max_payload),
            phase,
            opened_at: now,
            last_rx: now,
            last_tx: now,
        }
    }

    fn on_received(&mut self, now: u64, id: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.last_rx = now;
        let was_established = c.tls.is_established();
        let plaintext = match c.tls.receive(bytes) {
            Ok(p) => p,
            Err(e) => {
                if e.is_key_refused_here() {
                    self.metrics.auth_rejected_key += 1;
                } else {
                    self.metrics.handshake_failures += 1;
                }
                self.close_conn(now, id, CloseReason::Tls(e), true);
                return;
            }
        };
        let peer_closed = c.tls.peer_closed();
        if !was_established && c.tls.is_established() {
            if let Err(reason) = self.on_established(now, id) {
                self.close_conn(now, id, reason, true);
                return;
            }
        }
        if !plaintext.is_empty() {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            let mut frames = Vec::new();
            let decoded = c.decoder.decode(&plaintext, &mut frames);
            drop(plaintext);
            // Frames before a bad prefix are handled; then the connection is closed.
            for frame in frames {
                if !self.conns.contains_key(&id) {
                    return;
                }
                if let Err(reason) = self.on_frame(now, id, frame) {
                    self.close_conn(now, id, reason, true);
                    return;
                }
            }
            if let Err(e) = decoded {
                self.frame_error(now, id, e);
                return;
            }
        }
        if peer_closed {
            self.close_conn(now, id, CloseReason::PeerClosed, true);
        }
    }

    fn frame_error(&mut self, now: u64, id: ConnId, e: FrameError) {
        match e {
            FrameError::TooLarge { .. } => self.metrics.frames_oversize += 1,
            _ => self.metrics.protocol_violations += 1,
        }
        self.close_conn(now, id, CloseReason::Frame(e), true);
    }

    /// TLS finished on `id`: bind the key to a participant, retire older connections with it,
    /// and send our hello.
    fn on_established(&mut self, now: u64, id: ConnId) -> Result<(), CloseReason> {
        let c = self.conns.get(&id).ok_or(CloseReason::PeerClosed)?;
        let key = c
            .tls
            .peer_key()
            .ok_or(CloseReason::ProtocolViolation("no peer key"))?;
        let peer = match c.phase {
            Phase::Handshake { dialed: Some(p) } => {
                if self.set.get(p).map(|e| e.tls_key) != Some(key) {
                    self.metrics.auth_rejected_key += 1;
                    return Err(CloseReason::WrongKey {
                        expected: p,
                        presented: key,
                    });
                }
                p
            }
            Phase::Handshake { dialed: None } => match self.set.by_key(&key) {
                Some(e) if e.id != self.me => e.id,
                // The set may have changed since this connection's server config was made.
                _ => {
                    self.metrics.auth_rejected_key += 1;
                    return Err(CloseReason::UnregisteredKey(key));
                }
            },
            _ => return Err(CloseReason::ProtocolViolation("handshake completed twice")),
        };
        // The peer opened this connection after losing any older one (or is answering ours):
        // retire the others, so nothing arrives on them after our hello states what we have.
        for other in self.conns_of(peer) {
            if other != id {
                self.close_conn(now, other, CloseReason::Superseded, true);
            }
        }
        let p = self.peers.get(&peer).ok_or(CloseReason::PeerRemoved)?;
        let hello = Control::Hello(Hello {
            version: PROTOCOL_VERSION,
            claimed: self.me,
            incarnation: self.incarnation,
            peer_incarnation: p.incarnation,
            acks: p.acks(),
        });
        if let Some(c) = self.conns.get_mut(&id) {
            c.phase = Phase::AwaitHello { peer };
        }
        self.send_control(now, id, &hello);
        Ok(())
    }

    fn on_frame(&mut self, now: u64, id: ConnId, frame: Frame) -> Result<(), CloseReason> {
        let phase = self
            .conns
            .get(&id)
            .map(|c| c.phase)
            .ok_or(CloseReason::PeerClosed)?;
        if frame.channel == CONTROL {
            let msg = Control::decode(&frame.payload).map_err(|_| {
                self.metrics.protocol_violations += 1;
                CloseReason::ProtocolViolation("malformed control message")
            })?;
            return match (phase, msg) {
                (Phase::AwaitHello { peer }, Control::Hello(h)) => self.on_hello(now, id, peer, h),
                (Phase::Ready { peer }, Control::Ack(acks)) => {
                    let p = self.peers.get_mut(&peer).ok_or(CloseReason::PeerRemoved)?;
                    if let Err(why) = p.apply_acks(&acks) {
                        self.metrics.protocol_violations += 1;
                        return Err(CloseReason::ProtocolViolation(why));
                    }
                    self.transmit(now, peer);
                    Ok(())
                }
                (Phase::Ready { .. }, Control::Ping) => Ok(()),
                _ => {
                    self.metrics.protocol_violations += 1;
                    Err(CloseReason::ProtocolViolation(
                        "control message out of place",
                    ))
                }
            };
        }
        let Phase::Ready { peer } = phase else {
            self.metrics.protocol_violations += 1;
            return Err(CloseReason::ProtocolViolation("data before hello"));
        };
        let Some(channel) = Channel::new(frame.channel) else {
            self.misrouted(peer);
            return Ok(());
        };
        let p = self.peers.get_mut(&peer).ok_or(CloseReason::PeerRemoved)?;
        let last = p
            .last_recv_seq
            .get(channel.number() as usize)
            .copied()
            .unwrap_or(0);
        if frame.seq <= last {
            p.stats.frames_replayed += 1;
            self.metrics.frames_replayed += 1;
            return Ok(());
        }
        if frame.seq != last + 1 {
            p.stats.frames_reordered += 1;
            self.metrics.frames_reordered += 1;
            return Ok(());
        }
        if let Some(s) = p.last_recv_seq.get_mut(channel.number() as usize) {
            *s = frame.seq;
        }
        p.stats.frames_received += 1;
        p.unacked_frames += 1;
        p.unacked_bytes += encoded_len(frame.payload.len());
        let ack_now = p.unacked_frames >= self.config.ack_after_frames
            || p.unacked_bytes >= self.config.ack_after_bytes;
        self.metrics.frames_received += 1;
        self.route(now, peer, channel, frame.session, frame.payload);
        if ack_now {
            self.send_ack(now, peer, id);
        }
        Ok(())
    }

    fn on_hello(
        &mut self,
        now: u64,
        id: ConnId,
        peer: ParticipantId,
        h: Hello,
    ) -> Result<(), CloseReason> {
        if h.version != PROTOCOL_VERSION {
            self.metrics.protocol_violations += 1;
            return Err(CloseReason::VersionMismatch(h.version));
        }
        if h.claimed != peer {
            self.metrics.auth_rejected_claim += 1;
            return Err(CloseReason::ClaimMismatch {
                claimed: h.claimed,
                authenticated: peer,
            });
        }
        if h.incarnation == 0 {
            self.metrics.protocol_violations += 1;
            return Err(CloseReason::ProtocolViolation("zero incarnation"));
        }
        let my_incarnation = self.incarnation;
        let p = self.peers.get_mut(&peer).ok_or(CloseReason::PeerRemoved)?;
        if h.incarnation != p.incarnation {
            if p.incarnation != 0 {
                // The peer restarted: what we sent its previous process is void, and its new
                // process numbers its messages afresh.
                self.metrics.peer_restarts += 1;
                self.metrics.dropped_on_peer_restart += p.inflight.len() as u64;
            }
            let freed: usize = p.inflight.iter().map(Sent::size).sum();
            p.inflight.clear();
            p.held_bytes -= freed;
            p.inflight_bytes = 0;
            p.last_sent_seq = [0; MAX_CHANNELS];
            p.last_recv_seq = [0; MAX_CHANNELS];
            p.unacked_frames = 0;
            p.unacked_bytes = 0;
            p.incarnation = h.incarnation;
        } else if h.peer_incarnation == my_incarnation {
            if let Err(why) = p.apply_acks(&h.acks) {
                self.metrics.protocol_violations += 1;
                return Err(CloseReason::ProtocolViolation(why));
            }
        }
        // Otherwise the peer never heard from this process: everything held is resent.
        let was_up = p.active.is_some();
        p.active = Some(id);
        p.attempt = 0;
        p.dial = DialState::Idle { next_at: u64::MAX };
        p.stats.connected = true;
        let mut resend = Vec::new();
        for m in &p.inflight {
            // Cannot fail: the frame was encoded once already.
            let _ = encode_frame(
                &mut resend,
                m.channel.number(),
                &m.session,
                m.seq,
                &m.payload,
            );
        }
        let resent = p.inflight.len() as u64;
        if let Some(c) = self.conns.get_mut(&id) {
            c.phase = Phase::Ready { peer };
        }
        self.metrics.connections_established += 1;
        if !was_up {
            self.out.push(Action::PeerUp(peer));
        }
        if !resend.is_empty() {
            self.metrics.frames_retransmitted += resent;
            self.write_conn(now, id, &resend);
        }
        self.transmit(now, peer);
        Ok(())
    }

    // ---- sending -----------------------------------------------------------------------------

    /// Moves queued messages to the peer's connection while the in-flight window allows.
    fn transmit(&mut self, now: u64, peer: ParticipantId) {
        let max_inflight = self.config.max_inflight_bytes;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(conn) = p.active else { return };
        let mut bytes = Vec::new();
        let mut frames = 0u64;
        while let Some(front) = p.queue.front() {
            let size = encoded_len(front.payload.len());
            if p.inflight_bytes > 0 && p.inflight_bytes + size > max_inflight {
                break;
            }
            let Some(m) = p.queue.pop_front() else { break };
            let slot = p.last_sent_seq.get_mut(m.channel.number() as usize);
            // Channels are below MAX_CHANNELS by construction, and payloads below `max_payload`
            // (< 4 GiB) by `send`, so neither branch drops a message in practice.
            let Some(slot) = slot else {
                p.held_bytes -= size;
                continue;
            };
            let seq = *slot + 1;
            if encode_frame(&mut bytes, m.channel.number(), &m.session, seq, &m.payload).is_err() {
                p.held_bytes -= size;
                continue;
            }
            *slot = seq;
            p.inflight_bytes += size;
            p.inflight.push_back(Sent {
                channel: m.channel,
                session: m.session,
                seq,
                payload: m.payload,
            });
            frames += 1;
        }
        p.stats.frames_sent += frames;
        self.metrics.frames_sent += frames;
        if !bytes.is_empty() {
            self.write_conn(now, conn, &bytes);
        }
    }

    fn send_ack(&mut self, now: u64, peer: ParticipantId, conn: ConnId) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.unacked_frames = 0;
        p.unacked_bytes = 0;
        let acks = p.acks();
        self.send_control(now, conn, &Control::Ack(acks));
    }

    fn send_control(&mut self, now: u64, conn: ConnId, msg: &Control) {
        let mut bytes = Vec::new();
        if encode_frame(&mut bytes, CONTROL, &[0; 32], 0, &msg.encode()).is_ok() {
            self.write_conn(now, conn, &bytes);
        }
    }

    fn write_conn(&mut self, now: u64, id: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.last_tx = now;
        if let Err(e) = c.tls.write(bytes) {
            self.metrics.handshake_failures += 1;
            self.close_conn(now, id, CloseReason::Tls(e), true);
        }
    }

    fn flush_all(&mut self, _now: u64) {
        for (id, c) in self.conns.iter_mut() {
            if c.tls.has_outgoing() {
                self.out.push(Action::Send {
                    conn: *id,
                    bytes: c.tls.take_outgoing(),
                });
            }
        }
    }

    // ---- receiving ---------------------------------------------------------------------------

    fn route(
        &mut self,
        now: u64,
        from: ParticipantId,
        channel: Channel,
        session: SessionId,
        payload: Vec<u8>,
    ) {
        if self.config.sessionless_channels & (1 << channel.number()) != 0 {
            self.deliver(from, channel, session, payload);
            return;
        }
        let key = (channel, session);
        if let Some(members) = self.sessions.open.get(&key) {
            if members.binary_search(&from).is_ok() {
                self.deliver(from, channel, session, payload);
            } else {
                self.misrouted(from);
            }
            return;
        }
        if self.sessions.closed.contains(&key) {
            self.misrouted(from);
            return;
        }
        let cap = self.config.early_bytes_per_peer;
        let Some(p) = self.peers.get_mut(&from) else {
            return;
        };
        if p.early_bytes.saturating_add(payload.len()) > cap {
            self.misrouted(from);
            return;
        }
        p.early_bytes += payload.len();
        self.metrics.frames_buffered_early += 1;
        self.sessions.early.push_back(Early {
            at: now,
            from,
            channel,
            session,
            payload,
        });
    }

    fn deliver(
        &mut self,
        from: ParticipantId,
        channel: Channel,
        session: SessionId,
        payload: Vec<u8>,
    ) {
        self.metrics.messages_delivered += 1;
        self.out.push(Action::Deliver(Message {
            from,
            channel,
            session,
            payload,
        }));
    }

    fn misrouted(&mut self, from: ParticipantId) {
        self.metrics.frames_misrouted += 1;
        if let Some(p) = self.peers.get_mut(&from) {
            p.stats.frames_misrouted += 1;
        }
    }

    // ---- closing and redialing ---------------------------------------------------------------

    /// Forgets connection `id`; if `emit`, tells the caller to close it (after any final TLS
    /// bytes: an alert or close_notify).
    fn close_conn(&mut self, now: u64, id: ConnId, reason: CloseReason, emit: bool) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        self.metrics.connections_closed += 1;
        if emit {
            c.tls.close();
            if c.tls.has_outgoing() {
                self.out.push(Action::Send {
                    conn: id,
                    bytes: c.tls.take_outgoing(),
                });
            }
            self.out.push(Action::Close { conn: id, reason });
        }
        let Some(peer) = c.phase.peer() else { return };
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let was_active = p.active == Some(id);
        let was_dialing = p.dial == DialState::Handshaking { conn: id };
        if was_active {
            p.active = None;
            p.stats.connected = false;
            self.out.push(Action::PeerDown(peer));
            if p.we_dial {
                // It worked before: start the backoff afresh.
                p.attempt = 0;
                let delay = self.backoff_delay(peer);
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.dial = DialState::Idle {
                        next_at: now.saturating_add(delay),
                    };
                }
            }
        } else if was_dialing {
            self.dial_failed(now, peer);
        }
    }

    fn dial_failed(&mut self, now: u64, peer: ParticipantId) {
        self.metrics.dial_failures += 1;
        let delay = self.backoff_delay(peer);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.dial = DialState::Idle {
                next_at: now.saturating_add(delay),
            };
        }
    }

    /// The next delay for `peer` (and one more attempt counted): `initial · 2^attempt` capped at
    /// `backoff_max_ms`, then drawn uniformly from [d/2, d].
    fn backoff_delay(&mut self, peer: ParticipantId) -> u64 {
        let Some(p) = self.peers.get_mut(&peer) else {
            return 0;
        };
        let exp = p.attempt.min(32);
        p.attempt = p.attempt.saturating_add(1);
        let d = self
            .config
            .backoff_initial_ms
            .saturating_mul(1u64 << exp)
            .min(self.config.backoff_max_ms)
            .max(1);
        let half = d / 2;
        half + self.rng.next_u64() % (d - half + 1)
    }
}
