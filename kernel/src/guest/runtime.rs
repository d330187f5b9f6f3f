//! The node's environment inside the image: `tdsigner_node::machine::Env`
//! over smoltcp, the hardware RNG, the platform's quotes and the P2P
//! connection manager.
//!
//! One thread, no interrupts for devices: everything moves when [`Runtime::pump`]
//! runs. The main loop pumps between node polls; a blocking RPC call pumps
//! while it waits, so P2P traffic keeps flowing during it (HTTP is served
//! only by the main loop and waits in its socket meanwhile).
//!
//! - **P2P**: `tdsigner_p2p::Manager` (mutual TLS between registered keys,
//!   framing, acknowledgements, reconnection) is created when the node first
//!   names a participant set. The runtime owns the sockets: a pool of
//!   listening sockets on the configured port (an accepted one becomes a
//!   connection and is replaced), outgoing dials (IPv4 literal, or a DNS name
//!   resolved first), per-connection output queues; it feeds the manager
//!   `Accepted/Connected/ConnectFailed/Received/Closed` and a `Tick` every
//!   100 ms, and carries out its actions.
//! - **RPC**: one HTTP/1.1 POST per call on a fresh TCP connection (TLS for
//!   `https://` endpoints through tdsigner-near's rustls stream), bounded by
//!   a deadline. Certificate validity is checked at the later of the
//!   host-supplied RTC and a time the host cannot move ([`RpcTls`]): the
//!   host can make a valid certificate look expired (a refusal), not revive
//!   an expired one. What the node relies on comes from light-client proofs;
//!   only the boot walk's "nothing newer" (`chain_time`) relies on TLS.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;
use tdsigner_near::rpc::http::{encode_post, Limits};
use tdsigner_near::rpc::stream::{exchange, ByteStream, CallError, StreamError};
use tdsigner_node::config::{Host, RpcUrl};
use tdsigner_node::machine::{Attestation, AttestationError, Env, P2pEvent, P2pSendError};
use tdsigner_p2p::{
    Action, Channel, ConnId, Config as P2pConfig, DialId, Event, Manager, NodeKey, ParticipantId, ParticipantSet,
    SendError, SessionId,
};
use zeroize::Zeroizing;

use crate::net::blocking_tcp::{self, Deadline, Pump, TcpError};
use crate::net::{Network, Resolved};
use crate::platform::rng::HardwareRng;
use crate::arch::apic;
use crate::platform::clock;

/// Listening sockets kept open on the P2P port.
const P2P_LISTENERS: usize = 4;
/// smoltcp buffer per direction of a P2P connection.
const P2P_SOCKET_BUFFER: usize = 64 * 1024;
/// smoltcp buffer per direction of an RPC connection.
const RPC_SOCKET_BUFFER: usize = 64 * 1024;
/// How often the P2P manager's timers run.
const P2P_TICK_MS: u64 = 100;
/// A dial (DNS + TCP handshake) gives up after this long.
const DIAL_TIMEOUT_MS: u64 = 10_000;
/// One RPC call (connect, request, answer) gives up after this long.
const RPC_TIMEOUT_MS: u64 = 15_000;
/// Largest RPC answer accepted.
const RPC_MAX_BODY: usize = 8 * 1024 * 1024;

struct Conn {
    handle: SocketHandle,
    out: VecDeque<u8>,
    /// Close once `out` is drained (the manager asked for it).
    closing: bool,
}

enum DialState {
    Resolving(crate::net::Resolving, u16),
    Connecting(SocketHandle),
}

struct Dial {
    id: DialId,
    state: DialState,
    started_ms: u64,
}

struct P2p {
    manager: Manager<HardwareRng>,
    me: ParticipantId,
    conns: BTreeMap<ConnId, Conn>,
    dials: Vec<Dial>,
    last_tick_ms: u64,
}

/// Read access to the P2P manager's counters.
pub struct P2pMetricsView<'a>(Option<&'a P2p>);

impl P2pMetricsView<'_> {
    /// Appends the manager's Prometheus counters, if it runs.
    pub fn render(&self, out: &mut String) {
        if let Some(p) = self.0 {
            p.manager.render_metrics(out);
        }
    }
}

/// Everything the node reaches through [`Env`].
pub struct Runtime {
    pub net: Network,
    rng: HardwareRng,
    rpc: Vec<RpcUrl>,
    p2p_port: u16,
    tls_seed: Zeroizing<[u8; 32]>,
    listeners: Vec<SocketHandle>,
    p2p: Option<P2p>,
    inbox: VecDeque<P2pEvent>,
    next_conn: u64,
    tls: RpcTls,
    /// The platform's attestation, computed per report_data.
    attest: fn(&[u8; 64]) -> Result<Attestation, AttestationError>,
}

impl Runtime {
    pub fn new(
        net: Network,
        rng: HardwareRng,
        rpc: Vec<RpcUrl>,
        p2p_port: u16,
        tls_seed: Zeroizing<[u8; 32]>,
        tls: RpcTls,
        attest: fn(&[u8; 64]) -> Result<Attestation, AttestationError>,
    ) -> Result<Runtime, crate::net::NetError> {
        let mut rt = Runtime {
            net,
            rng,
            rpc,
            p2p_port,
            tls_seed,
            listeners: Vec::new(),
            p2p: None,
            inbox: VecDeque::new(),
            next_conn: 1,
            tls,
            attest,
        };
        for _ in 0..P2P_LISTENERS {
            let h = rt.net.tcp_listen(p2p_port, P2P_SOCKET_BUFFER)?;
            rt.listeners.push(h);
        }
        Ok(rt)
    }

    /// The network (to serve HTTP) and a view of the P2P counters, borrowed
    /// apart so a route can render metrics while the network is in use.
    pub fn split_for_http(&mut self) -> (&mut Network, P2pMetricsView<'_>) {
        (&mut self.net, P2pMetricsView(self.p2p.as_ref()))
    }

    /// Moves bytes: the stack, then every P2P socket. Returns whether
    /// anything happened (so the caller knows not to sleep).
    pub fn pump(&mut self) -> bool {
        let mut busy = self.net.poll_stack();
        let now = clock::now_ms();
        let mut actions = Vec::new();
        busy |= self.pump_listeners(&mut actions);
        busy |= self.pump_dials(now, &mut actions);
        busy |= self.pump_conns(now, &mut actions);
        if let Some(p) = self.p2p.as_mut() {
            if now.saturating_sub(p.last_tick_ms) >= P2P_TICK_MS {
                p.last_tick_ms = now;
                actions.extend(p.manager.handle_event(now, Event::Tick));
            }
        }
        busy |= !actions.is_empty();
        self.apply(actions);
        busy |= self.flush_conns();
        busy
    }

    fn pump_listeners(&mut self, actions: &mut Vec<Action>) -> bool {
        let mut busy = false;
        for i in 0..self.listeners.len() {
            let h = self.listeners[i];
            let state = self.net.tcp(h).state();
            if matches!(state, State::Listen | State::SynReceived) {
                continue;
            }
            // This socket took a connection (or died): replace it in the pool.
            busy = true;
            match self.net.tcp_listen(self.p2p_port, P2P_SOCKET_BUFFER) {
                Ok(fresh) => self.listeners[i] = fresh,
                Err(_) => continue,
            }
            match (self.p2p.as_mut(), state) {
                (Some(p), State::Established) => {
                    let conn = ConnId(self.next_conn);
                    self.next_conn += 1;
                    p.conns.insert(conn, Conn { handle: h, out: VecDeque::new(), closing: false });
                    actions.extend(p.manager.handle_event(clock::now_ms(), Event::Accepted { conn }));
                }
                _ => {
                    // No participant set yet, or the handshake died: refuse.
                    self.net.tcp(h).abort();
                    self.net.remove(h);
                }
            }
        }
        busy
    }

    fn pump_dials(&mut self, now: u64, actions: &mut Vec<Action>) -> bool {
        let Some(p) = self.p2p.as_mut() else { return false };
        let mut busy = false;
        let mut i = 0;
        while i < p.dials.len() {
            let timed_out = now.saturating_sub(p.dials[i].started_ms) > DIAL_TIMEOUT_MS;
            let outcome = match &p.dials[i].state {
                DialState::Resolving(q, port) => match self.net.poll_resolve(*q) {
                    Resolved::Pending if !timed_out => None,
                    Resolved::Pending => {
                        self.net.cancel_resolve(*q);
                        Some(Err(()))
                    }
                    Resolved::Failed => Some(Err(())),
                    Resolved::Addresses(addrs) => match addrs.first().map(|a| self.net.tcp_connect(*a, *port, P2P_SOCKET_BUFFER)) {
                        Some(Ok(h)) => {
                            p.dials[i].state = DialState::Connecting(h);
                            None
                        }
                        _ => Some(Err(())),
                    },
                },
                DialState::Connecting(h) => match self.net.tcp(*h).state() {
                    State::Established => Some(Ok(*h)),
                    State::Closed | State::TimeWait | State::CloseWait | State::Closing | State::LastAck => {
                        self.net.remove(*h);
                        Some(Err(()))
                    }
                    _ if timed_out => {
                        self.net.tcp(*h).abort();
                        self.net.remove(*h);
                        Some(Err(()))
                    }
                    _ => None,
                },
            };
            match outcome {
                None => i += 1,
                Some(result) => {
                    busy = true;
                    let dial = p.dials.swap_remove(i);
                    match result {
                        Ok(handle) => {
                            let conn = ConnId(self.next_conn);
                            self.next_conn += 1;
                            p.conns.insert(conn, Conn { handle, out: VecDeque::new(), closing: false });
                            actions.extend(p.manager.handle_event(now, Event::Connected { dial: dial.id, conn }));
                        }
                        Err(()) => actions.extend(p.manager.handle_event(now, Event::ConnectFailed { dial: dial.id })),
                    }
                }
            }
        }
        busy
    }

    fn pump_conns(&mut self, now: u64, actions: &mut Vec<Action>) -> bool {
        let Some(p) = self.p2p.as_mut() else { return false };
        let mut busy = false;
        let mut buf = [0u8; 4096];
        let ids: Vec<ConnId> = p.conns.keys().copied().collect();
        for id in ids {
            let Some(c) = p.conns.get(&id) else { continue };
            let h = c.handle;
            let mut closed = false;
            loop {
                let socket = self.net.tcp(h);
                if !socket.can_recv() {
                    closed = !socket.is_open() || socket.state() == State::CloseWait;
                    break;
                }
                match socket.recv_slice(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        busy = true;
                        actions.extend(p.manager.handle_event(now, Event::Received { conn: id, bytes: &buf[..n] }));
                    }
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                busy = true;
                if let Some(c) = p.conns.remove(&id) {
                    self.net.tcp(c.handle).abort();
                    self.net.remove(c.handle);
                }
                actions.extend(p.manager.handle_event(now, Event::Closed { conn: id }));
            }
        }
        busy
    }

    /// Writes queued output; finishes closes whose output has drained.
    fn flush_conns(&mut self) -> bool {
        let Some(p) = self.p2p.as_mut() else { return false };
        let mut busy = false;
        let mut done = Vec::new();
        for (id, c) in p.conns.iter_mut() {
            let socket = self.net.tcp(c.handle);
            while !c.out.is_empty() && socket.can_send() {
                let (front, _) = c.out.as_slices();
                match socket.send_slice(front) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        busy = true;
                        c.out.drain(..n);
                    }
                }
            }
            if c.closing && c.out.is_empty() {
                socket.close();
                done.push(*id);
            }
        }
        for id in done {
            // The socket finishes its FIN exchange on its own; forget the connection.
            p.conns.remove(&id);
        }
        busy
    }

    fn apply(&mut self, actions: Vec<Action>) {
        let now = clock::now_ms();
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let Some(p) = self.p2p.as_mut() else { return };
            match action {
                Action::Connect { dial, addr, .. } => {
                    let port = addr.port();
                    let state = match addr.host().parse::<Ipv4Addr>() {
                        Ok(ip) => self.net.tcp_connect(ip, port, P2P_SOCKET_BUFFER).map(DialState::Connecting),
                        Err(_) => self.net.resolve(addr.host()).map(|q| DialState::Resolving(q, port)),
                    };
                    match state {
                        Ok(state) => p.dials.push(Dial { id: dial, state, started_ms: now }),
                        Err(_) => queue.extend(p.manager.handle_event(now, Event::ConnectFailed { dial })),
                    }
                }
                Action::Send { conn, bytes } => {
                    if let Some(c) = p.conns.get_mut(&conn) {
                        c.out.extend(bytes);
                    }
                }
                Action::Close { conn, .. } => {
                    if let Some(c) = p.conns.get_mut(&conn) {
                        c.closing = true;
                    }
                }
                Action::Deliver(m) => self.inbox.push_back(P2pEvent::Message {
                    from: m.from,
                    channel: m.channel,
                    session: m.session,
                    payload: m.payload,
                }),
                Action::PeerUp(peer) => self.inbox.push_back(P2pEvent::PeerUp(peer)),
                Action::PeerDown(peer) => self.inbox.push_back(P2pEvent::PeerDown(peer)),
            }
        }
    }

    fn drop_p2p(&mut self) {
        if let Some(p) = self.p2p.take() {
            for (_, c) in p.conns {
                self.net.tcp(c.handle).abort();
                self.net.remove(c.handle);
            }
            for d in p.dials {
                match d.state {
                    DialState::Connecting(h) => {
                        self.net.tcp(h).abort();
                        self.net.remove(h);
                    }
                    DialState::Resolving(q, _) => self.net.cancel_resolve(q),
                }
            }
        }
    }
}

/// Sleeps briefly when nothing moved, so a waiting node does not spin the
/// host's CPU (TCG) while still reacting within a millisecond.
fn idle(busy: bool) {
    if !busy {
        apic::sleep_us(1_000);
    }
}

/// While an RPC call waits, the whole runtime moves (P2P included).
impl Pump for Runtime {
    fn net(&mut self) -> &mut Network {
        &mut self.net
    }

    fn advance(&mut self) {
        let busy = self.pump();
        idle(busy);
    }
}

/// How a failed step shows in tdsigner-near's stream errors.
fn stream_error(e: TcpError) -> StreamError {
    match e {
        e if e.is_timeout() => StreamError::Timeout,
        TcpError::ResolveStart { .. }
        | TcpError::ResolveFailed { .. }
        | TcpError::NoAddress { .. }
        | TcpError::Socket { .. }
        | TcpError::Refused { .. } => StreamError::Connect,
        _ => StreamError::Io,
    }
}

/// A TCP connection as tdsigner-near's byte stream: every wait pumps `P`
/// (the whole runtime during node operation, only the stack at boot).
struct KernelStream<'a, P: Pump> {
    pump: &'a mut P,
    handle: SocketHandle,
    deadline: Deadline,
}

impl<P: Pump> ByteStream for KernelStream<'_, P> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        blocking_tcp::receive(&mut *self.pump, self.handle, buf, self.deadline).map_err(stream_error)
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), StreamError> {
        blocking_tcp::send_all(&mut *self.pump, self.handle, data, self.deadline).map_err(stream_error)
    }
}

/// The rustls client configuration for `https://` RPC endpoints, built on
/// first use: Mozilla's roots, and certificate validity checked at the later
/// of the host-supplied RTC read at boot and `not_before_secs`, a time the
/// host cannot move (the source floor, the trust anchor's block time, a
/// verified chain head). So the host cannot set the clock back into the
/// validity of a certificate that has expired since; it can still make a
/// valid one look expired (a refusal, not an impersonation).
pub struct RpcTls {
    /// Unix seconds from the RTC at boot and the monotonic ms it was read at.
    wall_clock: Option<(u64, u64)>,
    not_before_secs: u64,
    config: Option<Arc<rustls::ClientConfig>>,
}

impl RpcTls {
    pub fn new(wall_clock: Option<(u64, u64)>, not_before_secs: u64) -> RpcTls {
        RpcTls { wall_clock, not_before_secs, config: None }
    }

    fn config(&mut self) -> Result<Arc<rustls::ClientConfig>, StreamError> {
        if let Some(c) = &self.config {
            return Ok(c.clone());
        }
        let rtc = self.wall_clock.map(|(secs, at_ms)| secs + clock::now_ms().saturating_sub(at_ms) / 1000);
        let now = Some(rtc.unwrap_or(0).max(self.not_before_secs)).filter(|&t| t > 0);
        let clock = Arc::new(tdsigner_near::rpc::tls::FixedClock(now));
        let config = tdsigner_near::rpc::tls::client_config(tdsigner_near::rpc::tls::web_pki_roots(), clock)?;
        self.config = Some(config.clone());
        Ok(config)
    }
}

/// One JSON-RPC POST to `url` on a fresh connection (TLS for `https://`),
/// within [`RPC_TIMEOUT_MS`]; the body of a `200` answer. Waits pump `pump`.
pub fn rpc_call<P: Pump>(pump: &mut P, url: &RpcUrl, tls: &mut RpcTls, body: &[u8]) -> Result<Vec<u8>, CallError> {
    let deadline = Deadline::after(RPC_TIMEOUT_MS);
    let addr = blocking_tcp::resolve(pump, &url.host, deadline).map_err(|e| CallError::Stream(stream_error(e)))?;
    let handle = blocking_tcp::connect(pump, addr, url.port, RPC_SOCKET_BUFFER, deadline)
        .map_err(|e| CallError::Stream(stream_error(e)))?;
    let host_header = match &url.host {
        Host::Name(n) => n.clone(),
        Host::Ipv4(a) => alloc::format!("{a}"),
    };
    let limits = Limits { max_body: RPC_MAX_BODY, ..Limits::default() };
    let request = encode_post(&host_header, &url.path, body, false);
    let result = if url.tls {
        match tls.config() {
            Ok(config) => {
                let inner = KernelStream { pump: &mut *pump, handle, deadline };
                tdsigner_near::rpc::tls::TlsStream::connect(inner, config, &host_header)
                    .map_err(CallError::Stream)
                    .and_then(|mut tls| exchange(&mut tls, &request, limits))
            }
            Err(e) => Err(CallError::Stream(e)),
        }
    } else {
        let mut stream = KernelStream { pump: &mut *pump, handle, deadline };
        exchange(&mut stream, &request, limits)
    };
    blocking_tcp::close(pump, handle);
    let response = result?;
    if response.status != 200 {
        return Err(CallError::Http(tdsigner_near::rpc::http::HttpError::Status { code: response.status }));
    }
    Ok(response.body)
}

impl Env for Runtime {
    fn now_ms(&self) -> u64 {
        clock::now_ms()
    }

    fn fill_random(&mut self, out: &mut [u8]) {
        self.rng.fill(out);
    }

    fn rpc_endpoints(&self) -> usize {
        self.rpc.len()
    }

    fn rpc(&mut self, endpoint: usize, body: &[u8]) -> Result<Vec<u8>, CallError> {
        let Some(url) = self.rpc.get(endpoint).cloned() else {
            return Err(CallError::Stream(StreamError::Connect));
        };
        // The call pumps the whole runtime, so the TLS cache is lent out meanwhile.
        let mut tls = core::mem::replace(&mut self.tls, RpcTls::new(None, 0));
        let out = rpc_call(self, &url, &mut tls, body);
        self.tls = tls;
        out
    }

    fn p2p_send(&mut self, to: ParticipantId, channel: Channel, session: SessionId, payload: Vec<u8>) -> Result<(), P2pSendError> {
        let Some(p) = self.p2p.as_mut() else { return Err(P2pSendError::UnknownPeer(to)) };
        match p.manager.send(clock::now_ms(), to, channel, session, payload) {
            Ok(actions) => {
                self.apply(actions);
                Ok(())
            }
            Err(SendError::QueueFull { peer, .. }) => Err(P2pSendError::QueueFull(peer)),
            Err(SendError::PayloadTooLarge { len, .. }) => Err(P2pSendError::TooLarge { len }),
            Err(_) => Err(P2pSendError::UnknownPeer(to)),
        }
    }

    fn p2p_recv(&mut self) -> Option<P2pEvent> {
        self.inbox.pop_front()
    }

    fn set_participants(&mut self, participants: Option<(ParticipantId, &ParticipantSet)>) {
        let now = clock::now_ms();
        match participants {
            None => self.drop_p2p(),
            Some((me, set)) => {
                if let Some(p) = self.p2p.as_mut() {
                    if p.me == me {
                        if let Ok(actions) = p.manager.update_participants(now, set.clone()) {
                            self.apply(actions);
                        }
                        return;
                    }
                }
                self.drop_p2p();
                let key = NodeKey::from_seed(&self.tls_seed);
                let config = P2pConfig { sessionless_channels: u16::MAX, ..P2pConfig::default() };
                match Manager::new(me, key, set.clone(), config, self.rng, now) {
                    Ok(manager) => {
                        self.p2p = Some(P2p { manager, me, conns: BTreeMap::new(), dials: Vec::new(), last_tick_ms: 0 });
                    }
                    Err(e) => kprintln!("p2p: cannot start the connection manager: {e:?}"),
                }
            }
        }
    }

    fn attestation(&mut self, report_data: [u8; 64]) -> Result<Attestation, AttestationError> {
        (self.attest)(&report_data)
    }
}
