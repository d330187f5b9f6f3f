//! near/mpc's connection rules for a whole participant set, as one sans-IO state machine.
//!
//! Owns who dials whom and when, each connection's TLS session, handshake and frame reader,
//! connection ids, keepalive pings and timeouts — the rules of near/mpc 3.14's `p2p.rs`
//! (`../shared/oracles/P2P.md` §1.2–1.8):
//! - every node dials every other participant; a dialed connection is send-only (anything
//!   read on it closes it), an accepted one receive-only (nothing is written after the
//!   handshake);
//! - the dialer's connection id starts at 0 and grows only after an established connection
//!   closes; a failed dial is retried after 1 s with the same id; a closed established one is
//!   redialed at once;
//! - a listener expects an id above that of the peer's live incoming connection and replaces
//!   it only with a strictly larger one (the replaced connection is still read until it ends);
//! - a ping every 5 s on each outgoing connection; 10 s for TCP+TLS, 2 s for the handshake,
//!   30 s without a frame on an incoming connection.
//!
//! Stricter than near where compatibility allows: a participant set with a repeated id or key
//! is refused, and the frame limit is the caller's. The caller owns sockets and the clock: it
//! feeds [`Input`]s with monotonic milliseconds and carries out the returned [`Output`]s.
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use rustls::{ClientConfig, ServerConfig};

use super::framing::{encode_frame, FrameReader};
use super::handshake::{replaces_incoming, Accepted, Handshake, HandshakeError};
use super::packet::Packet;
use super::tls::{client_config, server_config};
use crate::identity::{NodeKey, TlsPublicKey};
use crate::tls::{TlsError, TlsSession};

pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
pub const HANDSHAKE_TIMEOUT_MS: u64 = 2_000;
pub const RETRY_DELAY_MS: u64 = 1_000;
pub const PING_INTERVAL_MS: u64 = 5_000;
pub const READ_TIMEOUT_MS: u64 = 30_000;

/// A connection, named by the mesh for dials and by the caller for accepted sockets.
pub type ConnId = u64;

/// One participant as the contract lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub id: u32,
    pub key: TlsPublicKey,
    /// `host:port` to dial.
    pub address: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Accepted: receive-only.
    In,
    /// Dialed: send-only.
    Out,
}

/// Where a connection failed, in the oracle's stage names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Tls,
    Identity,
    Handshake,
    ConnectionId,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Identity => "identity",
            Self::Handshake => "handshake",
            Self::ConnectionId => "connection_id",
        }
    }
}

/// What the caller feeds in.
#[derive(Clone, Debug)]
pub enum Input {
    Tick,
    /// A dial asked for by [`Output::Dial`] connected (TCP).
    Dialed { conn: ConnId },
    DialFailed { conn: ConnId, reason: String },
    Accepted { conn: ConnId },
    Received { conn: ConnId, bytes: Vec<u8> },
    /// The socket ended (EOF or error).
    SocketClosed { conn: ConnId },
}

/// What the caller must do, or may report.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Dial { conn: ConnId, peer: u32, address: String },
    Transmit { conn: ConnId, bytes: Vec<u8> },
    /// Close the socket (after transmitting what was queued for it).
    Close { conn: ConnId },
    Connected { peer: u32, direction: Direction, handshake: Accepted },
    Packet { peer: u32, packet: Packet, payload: Vec<u8> },
    BadPacket { peer: u32, payload: Vec<u8> },
    Rejected { direction: Direction, peer: Option<u32>, stage: Stage, reason: String },
    Closed { peer: u32, direction: Direction, reason: String },
}

#[derive(Clone, Debug, PartialEq)]
pub enum MeshError {
    /// Our id is not listed with our key, or an id or key appears twice.
    BadParticipants(String),
    Tls(TlsError),
    /// No established outgoing connection to that peer.
    NotConnected(u32),
    TooLong,
}

impl core::fmt::Display for MeshError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadParticipants(why) => write!(f, "participants: {why}"),
            Self::Tls(e) => write!(f, "{e}"),
            Self::NotConnected(p) => write!(f, "no outgoing connection to peer {p}"),
            Self::TooLong => f.write_str("payload over near's frame limit"),
        }
    }
}

enum Phase {
    Connecting,
    Tls,
    Handshake(Handshake),
    Open,
}

struct Link {
    direction: Direction,
    /// Dialer: the peer dialed. Listener: known once TLS identified it.
    peer: Option<u32>,
    tls: Option<TlsSession>,
    phase: Phase,
    frames: FrameReader,
    deadline_ms: u64,
    next_ping_ms: u64,
}

#[derive(Default)]
struct Outgoing {
    conn: Option<ConnId>,
    established: bool,
    next_id: u32,
    retry_at_ms: u64,
}

/// The mesh of one node.
pub struct Mesh {
    peers: BTreeMap<u32, Peer>,
    by_key: BTreeMap<TlsPublicKey, u32>,
    clients: BTreeMap<u32, Arc<ClientConfig>>,
    server: Arc<ServerConfig>,
    outgoing: BTreeMap<u32, Outgoing>,
    /// Per peer: the registered incoming connection and its sender id.
    live_incoming: BTreeMap<u32, (ConnId, u32)>,
    links: BTreeMap<ConnId, Link>,
    next_conn: ConnId,
    max_frame: usize,
}

impl Mesh {
    /// `conn_base` numbers the connections this mesh dials; the caller names accepted ones
    /// outside that range.
    pub fn new(
        me: u32,
        key: &Arc<NodeKey>,
        participants: Vec<Peer>,
        max_frame: usize,
        conn_base: ConnId,
    ) -> Result<Self, MeshError> {
        let mut peers = BTreeMap::new();
        let mut by_key = BTreeMap::new();
        for p in participants {
            if by_key.insert(p.key, p.id).is_some() || peers.insert(p.id, p.clone()).is_some() {
                return Err(MeshError::BadParticipants(format!("participant {} repeats an id or key", p.id)));
            }
        }
        if peers.get(&me).is_none_or(|p| p.key != key.public_key()) {
            return Err(MeshError::BadParticipants("our id is not listed with our key".into()));
        }
        by_key.remove(&key.public_key());
        peers.remove(&me);
        let server = server_config(key, by_key.keys().copied()).map_err(MeshError::Tls)?;
        let mut clients = BTreeMap::new();
        for p in peers.values() {
            clients.insert(p.id, client_config(key, p.key).map_err(MeshError::Tls)?);
        }
        let outgoing = peers.keys().map(|&id| (id, Outgoing::default())).collect();
        Ok(Self {
            peers,
            by_key,
            clients,
            server,
            outgoing,
            live_incoming: BTreeMap::new(),
            links: BTreeMap::new(),
            next_conn: conn_base,
            max_frame,
        })
    }

    /// Connected both ways: near's first condition for picking a peer for a computation.
    pub fn is_bidirectional(&self, peer: u32) -> bool {
        self.outgoing.get(&peer).is_some_and(|o| o.established) && self.live_incoming.contains_key(&peer)
    }

    /// Frames `packet` on the established outgoing connection to `peer`.
    pub fn send(&mut self, peer: u32, packet: &Packet) -> Result<Vec<Output>, MeshError> {
        self.send_payload(peer, &packet.encode())
    }

    /// Frames payload bytes as they are (negative tests of peers use this).
    pub fn send_payload(&mut self, peer: u32, payload: &[u8]) -> Result<Vec<Output>, MeshError> {
        let conn = self
            .outgoing
            .get(&peer)
            .filter(|o| o.established)
            .and_then(|o| o.conn)
            .ok_or(MeshError::NotConnected(peer))?;
        let frame = encode_frame(payload).map_err(|_| MeshError::TooLong)?;
        let mut out = Vec::new();
        self.write(conn, &frame, &mut out);
        Ok(out)
    }

    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick => self.tick(now_ms, &mut out),
            Input::Dialed { conn } => self.on_dialed(now_ms, conn, &mut out),
            Input::DialFailed { conn, reason } => self.fail(now_ms, conn, Stage::Connect, reason, &mut out),
            Input::Accepted { conn } => self.on_accepted(now_ms, conn, &mut out),
            Input::Received { conn, bytes } => self.on_received(now_ms, conn, &bytes, &mut out),
            Input::SocketClosed { conn } => self.on_socket_closed(now_ms, conn, &mut out),
        }
        out
    }

    fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
        let due: Vec<u32> =
            self.outgoing.iter().filter(|(_, o)| o.conn.is_none() && o.retry_at_ms <= now).map(|(&p, _)| p).collect();
        for peer in due {
            self.dial(now, peer, out);
        }
        let expired: Vec<(ConnId, bool)> = self
            .links
            .iter()
            .filter(|(_, l)| l.deadline_ms <= now)
            .map(|(&c, l)| (c, matches!(l.phase, Phase::Open)))
            .collect();
        for (conn, open) in expired {
            let stage = match self.links.get(&conn).map(|l| &l.phase) {
                Some(Phase::Connecting) => Stage::Connect,
                Some(Phase::Tls) => Stage::Tls,
                _ => Stage::Handshake,
            };
            if open {
                self.drop_link(now, conn, "read timed out".into(), out);
            } else {
                self.fail(now, conn, stage, "timed out".into(), out);
            }
        }
        let pings: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, l)| l.direction == Direction::Out && matches!(l.phase, Phase::Open) && l.next_ping_ms <= now)
            .map(|(&c, _)| c)
            .collect();
        for conn in pings {
            if let Some(l) = self.links.get_mut(&conn) {
                l.next_ping_ms = now + PING_INTERVAL_MS;
            }
            if let Ok(frame) = encode_frame(&Packet::Ping.encode()) {
                self.write(conn, &frame, out);
            }
        }
    }

    fn dial(&mut self, now: u64, peer: u32, out: &mut Vec<Output>) {
        let conn = self.next_conn;
        self.next_conn += 1;
        let Some(o) = self.outgoing.get_mut(&peer) else { return };
        o.conn = Some(conn);
        o.established = false;
        let link = Link::new(Direction::Out, Some(peer), None, Phase::Connecting, now + CONNECT_TIMEOUT_MS, self.max_frame);
        self.links.insert(conn, link);
        let address = self.peers.get(&peer).map(|p| p.address.clone()).unwrap_or_default();
        out.push(Output::Dial { conn, peer, address });
    }

    fn on_dialed(&mut self, now: u64, conn: ConnId, out: &mut Vec<Output>) {
        let Some(peer) = self.links.get(&conn).and_then(|l| l.peer) else {
            // The dial completed after the mesh gave up on it.
            return out.push(Output::Close { conn });
        };
        let Some(config) = self.clients.get(&peer) else { return };
        match TlsSession::client_near(config) {
            Ok(tls) => {
                if let Some(l) = self.links.get_mut(&conn) {
                    l.tls = Some(tls);
                    l.phase = Phase::Tls;
                }
                self.write(conn, &[], out);
            }
            Err(e) => self.fail(now, conn, Stage::Tls, e.to_string(), out),
        }
    }

    fn on_accepted(&mut self, now: u64, conn: ConnId, out: &mut Vec<Output>) {
        match TlsSession::server(&self.server) {
            Ok(tls) => {
                let link =
                    Link::new(Direction::In, None, Some(tls), Phase::Tls, now + CONNECT_TIMEOUT_MS, self.max_frame);
                self.links.insert(conn, link);
            }
            Err(_) => out.push(Output::Close { conn }),
        }
    }

    fn on_received(&mut self, now: u64, conn: ConnId, bytes: &[u8], out: &mut Vec<Output>) {
        let Some(link) = self.links.get_mut(&conn) else { return };
        let in_tls = matches!(link.phase, Phase::Tls);
        let open = matches!(link.phase, Phase::Open);
        let Some(tls) = link.tls.as_mut() else { return };
        let result = tls.receive(bytes);
        let pending = tls.take_outgoing();
        let established = tls.is_established();
        if !pending.is_empty() {
            out.push(Output::Transmit { conn, bytes: pending });
        }
        let plain = match result {
            Ok(p) => p,
            Err(e) if open => return self.drop_link(now, conn, e.to_string(), out),
            Err(e) => {
                let stage = if in_tls { Stage::Tls } else { Stage::Handshake };
                return self.fail(now, conn, stage, e.to_string(), out);
            }
        };
        if in_tls && established {
            if let Err((stage, reason)) = self.start_handshake(now, conn, out) {
                return self.fail(now, conn, stage, reason, out);
            }
        }
        if !plain.is_empty() {
            self.on_plaintext(now, conn, plain, out);
        }
    }

    fn start_handshake(&mut self, now: u64, conn: ConnId, out: &mut Vec<Output>) -> Result<(), (Stage, String)> {
        let Some(link) = self.links.get(&conn) else { return Ok(()) };
        let key_peer = link.tls.as_ref().and_then(|t| t.peer_key()).and_then(|k| self.by_key.get(&k).copied());
        let (peer, mut handshake) = match link.direction {
            Direction::Out => {
                let peer = link.peer.unwrap_or(u32::MAX);
                (peer, Handshake::dialer(self.outgoing.get(&peer).map_or(0, |o| o.next_id)))
            }
            Direction::In => {
                let peer = key_peer.ok_or((Stage::Identity, "Connection with unknown public key".to_string()))?;
                (peer, Handshake::listener(self.live_incoming.get(&peer).map(|&(_, id)| id)))
            }
        };
        let hello = handshake.take_output();
        if let Some(link) = self.links.get_mut(&conn) {
            link.peer = Some(peer);
            link.phase = Phase::Handshake(handshake);
            link.deadline_ms = now + HANDSHAKE_TIMEOUT_MS;
        }
        if !hello.is_empty() {
            self.write(conn, &hello, out);
        }
        Ok(())
    }

    fn on_plaintext(&mut self, now: u64, conn: ConnId, mut plain: Vec<u8>, out: &mut Vec<Output>) {
        let Some(link) = self.links.get_mut(&conn) else { return };
        if let Phase::Handshake(hs) = &mut link.phase {
            let step = hs.receive(&plain);
            let reply = hs.take_output();
            if !reply.is_empty() {
                self.write(conn, &reply, out);
            }
            match step {
                Err(e) => {
                    let stage = match e {
                        HandshakeError::ConnectionIdTooLow { .. } => Stage::ConnectionId,
                        _ => Stage::Handshake,
                    };
                    return self.fail(now, conn, stage, e.to_string(), out);
                }
                Ok((_, None)) => return,
                Ok((used, Some(done))) => {
                    plain.drain(..used);
                    if let Err(reason) = self.open(now, conn, done, out) {
                        return self.fail(now, conn, Stage::ConnectionId, reason, out);
                    }
                }
            }
        }
        if !plain.is_empty() {
            self.on_frames(now, conn, &plain, out);
        }
    }

    fn open(&mut self, now: u64, conn: ConnId, done: Accepted, out: &mut Vec<Output>) -> Result<(), String> {
        let Some(link) = self.links.get_mut(&conn) else { return Ok(()) };
        let peer = link.peer.unwrap_or(u32::MAX);
        match link.direction {
            Direction::Out => {
                link.next_ping_ms = now + PING_INTERVAL_MS;
                link.deadline_ms = u64::MAX;
                if let Some(o) = self.outgoing.get_mut(&peer) {
                    o.established = true;
                }
            }
            Direction::In => {
                let live = self.live_incoming.get(&peer).map(|&(_, id)| id);
                if !replaces_incoming(live, done.sender_connection_id) {
                    return Err("can't replace existing connection of higher value".into());
                }
                self.live_incoming.insert(peer, (conn, done.sender_connection_id));
                link.deadline_ms = now + READ_TIMEOUT_MS;
            }
        }
        link.phase = Phase::Open;
        out.push(Output::Connected { peer, direction: link.direction, handshake: done });
        Ok(())
    }

    fn on_frames(&mut self, now: u64, conn: ConnId, plain: &[u8], out: &mut Vec<Output>) {
        let Some(link) = self.links.get_mut(&conn) else { return };
        let peer = link.peer.unwrap_or(u32::MAX);
        if link.direction == Direction::Out {
            // near's dialer closes a send-only connection on anything it reads.
            return self.drop_link(now, conn, "peer wrote on a send-only connection".into(), out);
        }
        let frames = match link.frames.push(plain) {
            Ok(f) => f,
            Err(e) => return self.drop_link(now, conn, e.to_string(), out),
        };
        // near's read timeout is per frame: only a whole frame earns more time.
        if !frames.is_empty() {
            link.deadline_ms = now + READ_TIMEOUT_MS;
        }
        for payload in frames {
            match Packet::decode(&payload) {
                Ok(packet) => out.push(Output::Packet { peer, packet, payload }),
                Err(_) => {
                    out.push(Output::BadPacket { peer, payload });
                    return self.drop_link(now, conn, "Failed to deserialize packet".into(), out);
                }
            }
        }
    }

    fn on_socket_closed(&mut self, now: u64, conn: ConnId, out: &mut Vec<Output>) {
        match self.links.get(&conn).map(|l| matches!(l.phase, Phase::Open)) {
            Some(true) => self.drop_link(now, conn, "connection closed".into(), out),
            Some(false) => self.fail(now, conn, Stage::Tls, "connection closed during setup".into(), out),
            None => {}
        }
    }

    fn write(&mut self, conn: ConnId, plain: &[u8], out: &mut Vec<Output>) {
        let Some(tls) = self.links.get_mut(&conn).and_then(|l| l.tls.as_mut()) else { return };
        if !plain.is_empty() && tls.write(plain).is_err() {
            return;
        }
        let bytes = tls.take_outgoing();
        if !bytes.is_empty() {
            out.push(Output::Transmit { conn, bytes });
        }
    }

    /// A connection that never opened: report, close, retry a dial after 1 s with the same id.
    fn fail(&mut self, now: u64, conn: ConnId, stage: Stage, reason: String, out: &mut Vec<Output>) {
        let Some(mut link) = self.links.remove(&conn) else { return };
        // near shuts TLS down on a refused handshake (version, connection id).
        if let Some(tls) = link.tls.as_mut().filter(|t| t.is_established()) {
            tls.close();
            let bytes = tls.take_outgoing();
            if !bytes.is_empty() {
                out.push(Output::Transmit { conn, bytes });
            }
        }
        if link.direction == Direction::Out {
            if let Some(o) = link.peer.and_then(|p| self.outgoing.get_mut(&p)) {
                o.conn = None;
                o.established = false;
                o.retry_at_ms = now + RETRY_DELAY_MS;
            }
        }
        out.push(Output::Rejected { direction: link.direction, peer: link.peer, stage, reason });
        out.push(Output::Close { conn });
    }

    /// An open connection ended: an outgoing one is redialed at once with the next id.
    fn drop_link(&mut self, now: u64, conn: ConnId, reason: String, out: &mut Vec<Output>) {
        let Some(mut link) = self.links.remove(&conn) else { return };
        let peer = link.peer.unwrap_or(u32::MAX);
        match link.direction {
            Direction::Out => {
                if let Some(o) = self.outgoing.get_mut(&peer) {
                    o.conn = None;
                    o.established = false;
                    o.next_id = o.next_id.wrapping_add(1);
                    o.retry_at_ms = now;
                }
            }
            Direction::In => {
                if self.live_incoming.get(&peer).is_some_and(|&(c, _)| c == conn) {
                    self.live_incoming.remove(&peer);
                }
            }
        }
        if let Some(tls) = link.tls.as_mut() {
            tls.close();
            let bytes = tls.take_outgoing();
            if !bytes.is_empty() {
                out.push(Output::Transmit { conn, bytes });
            }
        }
        out.push(Output::Closed { peer, direction: link.direction, reason });
        out.push(Output::Close { conn });
    }
}

impl Link {
    fn new(
        direction: Direction,
        peer: Option<u32>,
        tls: Option<TlsSession>,
        phase: Phase,
        deadline_ms: u64,
        max_frame: usize,
    ) -> Self {
        Self { direction, peer, tls, phase, frames: FrameReader::new(max_frame), deadline_ms, next_ping_ms: u64::MAX }
    }
}
