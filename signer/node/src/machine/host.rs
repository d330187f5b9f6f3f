//! The host driver (feature `std`): an [`Env`] over std networking, and a helper that runs a
//! whole node (bootstrap on a file-backed disk, then the state machine) on its own thread, so
//! tests and tools can run several nodes in one process.
//!
//! - RPC: one HTTP/1.1 POST per call over `TcpStream` (TLS via tdsigner-near's rustls stream
//!   for `https://` endpoints), with timeouts.
//! - P2P: the real tdsigner-p2p `Manager` (mutual TLS 1.3 with the registered ed25519 keys,
//!   frames, channels, acknowledgements, reconnection) over loopback TCP, driven by a thread
//!   per node that owns the sockets; the node talks to it through channels. A test can wrap
//!   outgoing payloads with a tamper hook to play a malicious participant.
//! - Attestation: a caller-supplied function (tests use tdsigner-measure's emulated quoting
//!   enclave).

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore, SeedableRng};
use tdsigner_near::rpc::http::{encode_post, split_url, Limits};
use tdsigner_near::rpc::net::{system_clock, Tcp};
use tdsigner_near::rpc::stream::{exchange, CallError, StreamError};
use tdsigner_near::rpc::tls::{client_config, web_pki_roots, TlsStream};
use tdsigner_near::LightClientState;
use tdsigner_p2p::{Action, Channel, ConnId, Event, Manager, NodeKey, ParticipantId, ParticipantSet, SessionId};
use tdsigner_store::device::FileDevice;
use zeroize::Zeroizing;

use super::config::MachineConfig;
use super::env::{Attestation, AttestationError, Env, P2pEvent, P2pSendError};
use super::metrics::{Metrics, Status};
use super::node::Node;
use crate::config::KeySourceConfig;

/// Rewrites an outgoing payload (to, channel, bytes): a test's malicious participant.
pub type Tamper = Box<dyn FnMut(ParticipantId, Channel, &mut Vec<u8>) + Send>;
/// Produces an attestation for report_data.
pub type AttestFn = Box<dyn FnMut([u8; 64]) -> Result<Attestation, AttestationError> + Send>;

enum Cmd {
    Send { to: ParticipantId, channel: Channel, session: SessionId, payload: Vec<u8> },
    SetParticipants(Option<(ParticipantId, ParticipantSet)>),
}

struct Conn {
    stream: TcpStream,
    out: VecDeque<u8>,
    closing: bool,
}

/// The P2P side: a thread running the connection manager over TCP.
struct P2pThread {
    cmd: Sender<Cmd>,
    events: Receiver<P2pEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl P2pThread {
    fn start(listen: SocketAddr, tls_seed: Zeroizing<[u8; 32]>, config: tdsigner_p2p::Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (cmd_tx, cmd_rx) = channel();
        let (ev_tx, ev_rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("p2p-{}", addr.port()))
            .spawn(move || p2p_loop(listener, tls_seed, config, cmd_rx, ev_tx, stop2))?;
        Ok(P2pThread { cmd: cmd_tx, events: ev_rx, stop, thread: Some(thread), addr })
    }
}

impl Drop for P2pThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn p2p_loop(
    listener: TcpListener,
    tls_seed: Zeroizing<[u8; 32]>,
    config: tdsigner_p2p::Config,
    cmds: Receiver<Cmd>,
    events: Sender<P2pEvent>,
    stop: Arc<AtomicBool>,
) {
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let mut manager: Option<Manager<ChaCha20Rng>> = None;
    let mut conns: BTreeMap<ConnId, Conn> = BTreeMap::new();
    let mut next_conn = 1u64;
    let mut last_tick = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        let mut actions: Vec<Action> = Vec::new();
        // Commands from the node.
        while let Ok(cmd) = cmds.try_recv() {
            busy = true;
            match cmd {
                Cmd::Send { to, channel, session, payload } => {
                    if let Some(m) = manager.as_mut() {
                        if let Ok(a) = m.send(now(), to, channel, session, payload) {
                            actions.extend(a);
                        }
                    }
                }
                Cmd::SetParticipants(None) => {
                    manager = None;
                    for (_, c) in std::mem::take(&mut conns) {
                        let _ = c.stream.shutdown(std::net::Shutdown::Both);
                    }
                }
                Cmd::SetParticipants(Some((me, set))) => match manager.as_mut() {
                    Some(m) if m.me() == me => {
                        if let Ok(a) = m.update_participants(now(), set) {
                            actions.extend(a);
                        }
                    }
                    _ => {
                        for (_, c) in std::mem::take(&mut conns) {
                            let _ = c.stream.shutdown(std::net::Shutdown::Both);
                        }
                        let key = NodeKey::from_seed(&tls_seed);
                        let mut seed = [0u8; 32];
                        OsRng.fill_bytes(&mut seed);
                        manager = Manager::new(me, key, set, config.clone(), ChaCha20Rng::from_seed(seed), now()).ok();
                    }
                },
            }
        }
        // Inbound connections.
        while let Ok((stream, _)) = listener.accept() {
            busy = true;
            let _ = stream.set_nonblocking(true);
            let _ = stream.set_nodelay(true);
            match manager.as_mut() {
                Some(m) => {
                    let id = ConnId(next_conn);
                    next_conn += 1;
                    conns.insert(id, Conn { stream, out: VecDeque::new(), closing: false });
                    actions.extend(m.handle_event(now(), Event::Accepted { conn: id }));
                }
                None => drop(stream),
            }
        }
        // Reads.
        let ids: Vec<ConnId> = conns.keys().copied().collect();
        for id in ids {
            while let Some(c) = conns.get_mut(&id) {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        conns.remove(&id);
                        if let Some(m) = manager.as_mut() {
                            actions.extend(m.handle_event(now(), Event::Closed { conn: id }));
                        }
                        busy = true;
                        break;
                    }
                    Ok(n) => {
                        busy = true;
                        if let Some(m) = manager.as_mut() {
                            actions.extend(m.handle_event(now(), Event::Received { conn: id, bytes: &buf[..n] }));
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        conns.remove(&id);
                        if let Some(m) = manager.as_mut() {
                            actions.extend(m.handle_event(now(), Event::Closed { conn: id }));
                        }
                        break;
                    }
                }
            }
        }
        // Timers.
        let t = now();
        if t.saturating_sub(last_tick) >= 50 {
            last_tick = t;
            if let Some(m) = manager.as_mut() {
                actions.extend(m.handle_event(t, Event::Tick));
            }
        }
        // Actions (they can cause more events: connects).
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            busy = true;
            match a {
                Action::Connect { dial, addr, .. } => {
                    let target = (addr.host(), addr.port()).to_socket_addrs().ok().and_then(|mut i| i.next());
                    let stream = target.and_then(|sa| TcpStream::connect_timeout(&sa, Duration::from_millis(500)).ok());
                    let Some(m) = manager.as_mut() else { continue };
                    match stream {
                        Some(s) => {
                            let _ = s.set_nonblocking(true);
                            let _ = s.set_nodelay(true);
                            let id = ConnId(next_conn);
                            next_conn += 1;
                            conns.insert(id, Conn { stream: s, out: VecDeque::new(), closing: false });
                            queue.extend(m.handle_event(now(), Event::Connected { dial, conn: id }));
                        }
                        None => queue.extend(m.handle_event(now(), Event::ConnectFailed { dial })),
                    }
                }
                Action::Send { conn, bytes } => {
                    if let Some(c) = conns.get_mut(&conn) {
                        c.out.extend(bytes);
                    }
                }
                Action::Close { conn, .. } => {
                    if let Some(c) = conns.get_mut(&conn) {
                        c.closing = true;
                    }
                }
                Action::Deliver(msg) => {
                    let _ =
                        events.send(P2pEvent::Message { from: msg.from, channel: msg.channel, session: msg.session, payload: msg.payload });
                }
                Action::PeerUp(p) => {
                    let _ = events.send(P2pEvent::PeerUp(p));
                }
                Action::PeerDown(p) => {
                    let _ = events.send(P2pEvent::PeerDown(p));
                }
            }
        }
        // Writes.
        let ids: Vec<ConnId> = conns.keys().copied().collect();
        for id in ids {
            let Some(c) = conns.get_mut(&id) else { continue };
            while !c.out.is_empty() {
                let (a, _) = c.out.as_slices();
                match c.stream.write(a) {
                    Ok(0) => break,
                    Ok(n) => {
                        busy = true;
                        c.out.drain(..n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.out.clear();
                        c.closing = true;
                        break;
                    }
                }
            }
            if c.closing && c.out.is_empty() {
                let _ = c.stream.shutdown(std::net::Shutdown::Both);
                conns.remove(&id);
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// How a [`HostEnv`] reaches the world.
pub struct HostEnvConfig {
    /// RPC endpoints (`http://host:port/path` or `https://…`).
    pub rpc_urls: Vec<String>,
    pub rpc_timeout: Duration,
    /// Where to accept P2P connections (port 0: any; the bound address is reported).
    pub p2p_listen: SocketAddr,
    pub p2p_config: tdsigner_p2p::Config,
    /// Rewrites outgoing P2P payloads (a malicious participant in tests).
    pub tamper: Option<Tamper>,
    pub attest: AttestFn,
}

impl HostEnvConfig {
    /// Plain defaults: the given endpoints, 5 s RPC timeout, loopback P2P on any port, all
    /// channels session-less (the node holds early messages itself), no attestation.
    pub fn new(rpc_urls: Vec<String>) -> Self {
        let p2p_config = tdsigner_p2p::Config { sessionless_channels: u16::MAX, ..tdsigner_p2p::Config::default() };
        HostEnvConfig {
            rpc_urls,
            rpc_timeout: Duration::from_secs(5),
            p2p_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            p2p_config,
            tamper: None,
            attest: Box::new(|_| Err(AttestationError::Unavailable)),
        }
    }
}

/// [`Env`] over std.
pub struct HostEnv {
    start: Instant,
    urls: Vec<String>,
    timeout: Duration,
    p2p: P2pThread,
    stash: VecDeque<P2pEvent>,
    tamper: Option<Tamper>,
    attest: AttestFn,
}

impl HostEnv {
    /// Starts the P2P thread (bound to `cfg.p2p_listen`) with the node's TLS key seed.
    pub fn start(cfg: HostEnvConfig, tls_seed: Zeroizing<[u8; 32]>) -> std::io::Result<Self> {
        let p2p = P2pThread::start(cfg.p2p_listen, tls_seed, cfg.p2p_config)?;
        Ok(HostEnv {
            start: Instant::now(),
            urls: cfg.rpc_urls,
            timeout: cfg.rpc_timeout,
            p2p,
            stash: VecDeque::new(),
            tamper: cfg.tamper,
            attest: cfg.attest,
        })
    }

    /// The bound P2P address.
    pub fn p2p_addr(&self) -> SocketAddr {
        self.p2p.addr
    }

    /// Waits until `at_ms` or until a P2P event arrives.
    pub fn wait_until(&mut self, at_ms: u64) {
        if !self.stash.is_empty() {
            return;
        }
        let now = self.now_ms();
        if at_ms <= now {
            return;
        }
        match self.p2p.events.recv_timeout(Duration::from_millis(at_ms - now)) {
            Ok(ev) => self.stash.push_back(ev),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
        }
    }

    fn post(&mut self, endpoint: usize, body: &[u8]) -> Result<Vec<u8>, CallError> {
        let url = self.urls.get(endpoint).cloned().ok_or(CallError::Stream(StreamError::Connect))?;
        let (tls, host, port, path) = split_url(&url).ok_or(CallError::Stream(StreamError::Connect))?;
        let addr =
            (host.as_str(), port).to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or(CallError::Stream(StreamError::Connect))?;
        let tcp = TcpStream::connect_timeout(&addr, self.timeout).map_err(|_| CallError::Stream(StreamError::Connect))?;
        tcp.set_read_timeout(Some(self.timeout)).map_err(|_| CallError::Stream(StreamError::Io))?;
        tcp.set_write_timeout(Some(self.timeout)).map_err(|_| CallError::Stream(StreamError::Io))?;
        let request = encode_post(&host, &path, body, false);
        let limits = Limits::default();
        let resp = if tls {
            let cfg = client_config(web_pki_roots(), Arc::new(system_clock())).map_err(CallError::Stream)?;
            let mut s = TlsStream::connect(Tcp(tcp), cfg, &host).map_err(CallError::Stream)?;
            exchange(&mut s, &request, limits)?
        } else {
            exchange(&mut Tcp(tcp), &request, limits)?
        };
        Ok(resp.body)
    }
}

impl Env for HostEnv {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn fill_random(&mut self, out: &mut [u8]) {
        OsRng.fill_bytes(out);
    }

    fn rpc_endpoints(&self) -> usize {
        self.urls.len()
    }

    fn rpc(&mut self, endpoint: usize, body: &[u8]) -> Result<Vec<u8>, CallError> {
        self.post(endpoint, body)
    }

    fn p2p_send(&mut self, to: ParticipantId, channel: Channel, session: SessionId, mut payload: Vec<u8>) -> Result<(), P2pSendError> {
        if let Some(t) = self.tamper.as_mut() {
            t(to, channel, &mut payload);
        }
        self.p2p.cmd.send(Cmd::Send { to, channel, session, payload }).map_err(|_| P2pSendError::Closed)
    }

    fn p2p_recv(&mut self) -> Option<P2pEvent> {
        if let Some(e) = self.stash.pop_front() {
            return Some(e);
        }
        self.p2p.events.try_recv().ok()
    }

    fn set_participants(&mut self, participants: Option<(ParticipantId, &ParticipantSet)>) {
        let _ = self.p2p.cmd.send(Cmd::SetParticipants(participants.map(|(me, s)| (me, s.clone()))));
    }

    fn attestation(&mut self, report_data: [u8; 64]) -> Result<Attestation, AttestationError> {
        (self.attest)(report_data)
    }
}

/// Everything needed to run one node on a thread.
pub struct HostNodeSpec {
    pub machine: MachineConfig,
    pub key_source: KeySourceConfig,
    /// The node's disk (created with `disk_sectors` if missing).
    pub disk: PathBuf,
    pub disk_sectors: u64,
    pub trusted: LightClientState,
    pub env: HostEnvConfig,
}

/// What a running node shows the outside (updated after every poll).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub account_public: [u8; 32],
    pub tls_public: [u8; 32],
    pub p2p_addr: Option<SocketAddr>,
    pub metrics: Metrics,
    pub status: Status,
    pub proven_requests: Vec<tdsigner_near::CryptoHash>,
    /// Set when the node thread ended with an error.
    pub error: Option<String>,
}

/// A node running on its own thread.
pub struct HostNode {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    snapshot: Arc<Mutex<Snapshot>>,
}

impl HostNode {
    /// Boots the node (bootstrap on its disk) and runs it until [`HostNode::stop`].
    pub fn spawn(spec: HostNodeSpec) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let (stop2, snap2) = (stop.clone(), snapshot.clone());
        let name = format!("node-{}", spec.machine.account_id);
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            if let Err(e) = run_node(spec, &stop2, &snap2) {
                if let Ok(mut s) = snap2.lock() {
                    s.error = Some(e);
                }
            }
        });
        HostNode { stop, thread: thread.ok(), snapshot }
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops the node (as a kill would: no goodbye to peers) and waits for its thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HostNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run_node(spec: HostNodeSpec, stop: &AtomicBool, snapshot: &Mutex<Snapshot>) -> Result<(), String> {
    let mut dev = if spec.disk.exists() {
        FileDevice::open(&spec.disk).map_err(|e| format!("open disk: {e}"))?
    } else {
        FileDevice::create(&spec.disk, spec.disk_sectors).map_err(|e| format!("create disk: {e}"))?
    };
    let mut rng = OsRng;
    let booted = crate::bootstrap::bootstrap(
        &mut dev,
        &spec.key_source,
        &spec.machine.account_id,
        &mut rng,
        &mut |_e: &tdsigner_store::RuntimeEvent| Ok::<(), &str>(()),
    )
    .map_err(|e| format!("bootstrap: {e}"))?;
    let tls_seed = Zeroizing::new(booted.identity.tls_key().to_bytes());
    let mut env = HostEnv::start(spec.env, tls_seed).map_err(|e| format!("p2p listen: {e}"))?;
    if let Ok(mut s) = snapshot.lock() {
        s.account_public = booted.identity.account_public();
        s.tls_public = booted.identity.tls_public();
        s.p2p_addr = Some(env.p2p_addr());
    }
    let mut node = Node::new(spec.machine, booted.store, &booted.identity, spec.trusted, &mut env).map_err(|e| e.to_string())?;
    let mut last_snapshot = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let w = node.poll(&mut env);
        let now = env.now_ms();
        if now.saturating_sub(last_snapshot) >= 50 {
            last_snapshot = now;
            if let Ok(mut s) = snapshot.lock() {
                s.metrics = node.metrics().clone();
                s.status = node.status();
                s.proven_requests = node.proven_requests();
            }
        }
        // Wake at least every 50 ms to notice `stop`.
        env.wait_until(w.at_ms.min(now + 50));
    }
    if let Ok(mut s) = snapshot.lock() {
        s.metrics = node.metrics().clone();
        s.status = node.status();
        s.proven_requests = node.proven_requests();
    }
    Ok(())
}
