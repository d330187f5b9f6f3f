//! The running simulator: the chain behind a mutex, a block producer thread
//! (or blocks on demand), and one HTTP/1.1 JSON-RPC listener per configured
//! loopback address, each with its own hostile modes.
//!
//! Connections are served one thread each, at most `max_connections` at a
//! time; reads and writes time out; every request is bounded (see [`http`]).

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::attestation::{AttestationVerifier, RequireNonEmptyQuote};
use crate::chain::{Chain, ChainConfig, ConfigError};
use crate::hostile::{HostileMode, HostileState};
use crate::http::{self, Limits, Method};
use crate::keys::SecretKey;
use crate::rpc::{self, RpcCall, RpcError};

/// One endpoint.
#[derive(Clone, Debug)]
pub struct ListenConfig {
    pub addr: SocketAddr,
    pub hostile: Vec<HostileMode>,
}

/// Everything the simulator starts with.
#[derive(Clone)]
pub struct SimConfig {
    pub chain: ChainConfig,
    pub listen: Vec<ListenConfig>,
    /// Produce a block every `chain.block_time_ms`; otherwise only on
    /// `sim_produce_blocks` / [`Simulator::produce_blocks`].
    pub auto_produce: bool,
    /// Serve the `sim_*` methods.
    pub admin: bool,
    /// How long `send_tx` / `tx` / `broadcast_tx_commit` wait.
    pub tx_wait_timeout: Duration,
    pub max_connections: usize,
    pub attestation_verifier: Arc<dyn AttestationVerifier>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            chain: ChainConfig::default(),
            listen: vec![ListenConfig { addr: SocketAddr::from(([127, 0, 0, 1], 0)), hostile: Vec::new() }],
            auto_produce: true,
            admin: true,
            tx_wait_timeout: Duration::from_secs(10),
            max_connections: 64,
            attestation_verifier: Arc::new(RequireNonEmptyQuote),
        }
    }
}

/// Why the simulator did not start.
#[derive(Debug)]
pub enum StartError {
    Config(ConfigError),
    /// Only loopback addresses are served.
    NotLoopback(SocketAddr),
    NoListener,
    Bind { addr: SocketAddr, error: std::io::Error },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::NotLoopback(a) => write!(f, "{a} is not a loopback address; the simulator serves loopback only"),
            Self::NoListener => f.write_str("no --listen address"),
            Self::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// State shared by the producer and the connection threads.
pub struct Shared {
    chain: Mutex<Chain>,
    new_block: Condvar,
    pub admin_enabled: bool,
    pub auto_produce: bool,
    pub tx_wait_timeout: Duration,
    pub started: Instant,
    user_keys: Mutex<HashMap<String, SecretKey>>,
    user_nonces: Mutex<HashMap<String, u64>>,
}

impl Shared {
    /// Locks the chain. A panic in another thread while holding the lock
    /// cannot leave it half-updated in a way that matters for a test
    /// simulator, so a poisoned lock is taken over.
    pub fn lock_chain(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the next block (or `timeout`), releasing the lock meanwhile.
    pub fn wait_block<'a>(&self, guard: MutexGuard<'a, Chain>, timeout: Duration) -> MutexGuard<'a, Chain> {
        match self.new_block.wait_timeout(guard, timeout) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        }
    }

    /// Produces `n` blocks; returns the new head height.
    pub fn produce_blocks(&self, n: u64) -> u64 {
        let mut chain = self.lock_chain();
        for _ in 0..n {
            chain.produce_block();
        }
        let h = chain.head().height();
        drop(chain);
        self.new_block.notify_all();
        h
    }

    pub fn remember_key(&self, account: &str, key: SecretKey) {
        self.user_keys.lock().unwrap_or_else(|p| p.into_inner()).insert(account.to_owned(), key);
    }

    pub fn key_of(&self, account: &str) -> Option<SecretKey> {
        self.user_keys.lock().unwrap_or_else(|p| p.into_inner()).get(account).cloned()
    }

    /// The next nonce for an admin-signed transaction: above the stored
    /// access-key nonce and above every nonce handed out before.
    pub fn bump_pool_nonce(&self, account: &str, stored: u64) -> u64 {
        let mut m = self.user_nonces.lock().unwrap_or_else(|p| p.into_inner());
        let last = m.get(account).copied().unwrap_or(0).max(stored);
        let next = last.saturating_add(1);
        m.insert(account.to_owned(), next);
        next
    }
}

/// One listening endpoint and its lies.
pub struct Listener {
    pub addr: SocketAddr,
    hostile: Mutex<HostileState>,
}

impl Listener {
    /// Runs `f` on the hostile state if any mode is active.
    pub fn with_hostile<R>(&self, f: impl FnOnce(&mut HostileState) -> R) -> Option<R> {
        let mut h = self.hostile.lock().unwrap_or_else(|p| p.into_inner());
        if !h.is_active() {
            return None;
        }
        Some(f(&mut h))
    }

    pub fn modes(&self) -> Vec<HostileMode> {
        self.hostile.lock().unwrap_or_else(|p| p.into_inner()).modes()
    }

    pub fn set_modes(&self, modes: &[HostileMode]) {
        self.hostile.lock().unwrap_or_else(|p| p.into_inner()).set_modes(modes);
    }
}

/// A running simulator. Dropping it (or [`Simulator::shutdown`]) stops the
/// producer and the listeners.
pub struct Simulator {
    shared: Arc<Shared>,
    listeners: Vec<Arc<Listener>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Simulator {
    pub fn start(cfg: SimConfig) -> Result<Self, StartError> {
        if cfg.listen.is_empty() {
            return Err(StartError::NoListener);
        }
        for l in &cfg.listen {
            if !l.addr.ip().is_loopback() {
                return Err(StartError::NotLoopback(l.addr));
            }
        }
        let block_time = Duration::from_millis(cfg.chain.block_time_ms.max(1));
        let mut chain = Chain::new(cfg.chain.clone(), cfg.attestation_verifier.clone()).map_err(StartError::Config)?;
        // The deployer's key on the contract account (it signs `init`), from the seed.
        let deployer = crate::keys::SecretKey::derive(cfg.chain.seed, "contract account deployer");
        let contract_id = chain.runtime.contract_id.clone();
        if let Some(account) = chain.runtime.accounts.get_mut(&contract_id) {
            let nonce = cfg.chain.genesis_height.saturating_mul(crate::runtime::NONCE_MULTIPLIER);
            account.keys.insert(deployer.public_key(), crate::runtime::AccessKey { nonce, permission: crate::tx::Permission::FullAccess });
        }
        let shared = Arc::new(Shared {
            chain: Mutex::new(chain),
            new_block: Condvar::new(),
            admin_enabled: cfg.admin,
            auto_produce: cfg.auto_produce,
            tx_wait_timeout: cfg.tx_wait_timeout,
            started: Instant::now(),
            user_keys: Mutex::new(HashMap::new()),
            user_nonces: Mutex::new(HashMap::new()),
        });
        shared.remember_key(&contract_id, deployer);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut listeners = Vec::new();
        let connections = Arc::new(AtomicUsize::new(0));
        for l in &cfg.listen {
            let socket = TcpListener::bind(l.addr).map_err(|error| StartError::Bind { addr: l.addr, error })?;
            let addr = socket.local_addr().map_err(|error| StartError::Bind { addr: l.addr, error })?;
            socket.set_nonblocking(true).map_err(|error| StartError::Bind { addr, error })?;
            let listener = Arc::new(Listener { addr, hostile: Mutex::new(HostileState::new(&l.hostile)) });
            listeners.push(listener.clone());
            let (shared, stop, connections, max) = (shared.clone(), stop.clone(), connections.clone(), cfg.max_connections.max(1));
            threads.push(std::thread::spawn(move || accept_loop(socket, listener, shared, stop, connections, max)));
        }
        if cfg.auto_produce {
            let (shared, stop) = (shared.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut next = Instant::now() + block_time;
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now >= next {
                        shared.produce_blocks(1);
                        next += block_time;
                        if next < now {
                            next = now + block_time;
                        }
                    } else {
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                    }
                }
            }));
        }
        Ok(Self { shared, listeners, stop, threads })
    }

    /// The bound addresses, in `listen` order (port 0 resolved).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr).collect()
    }

    /// `http://ADDR/` of listener `i`.
    pub fn url(&self, i: usize) -> Option<String> {
        self.listeners.get(i).map(|l| format!("http://{}/", l.addr))
    }

    pub fn produce_blocks(&self, n: u64) -> u64 {
        self.shared.produce_blocks(n)
    }

    /// Direct access to the chain (tests).
    pub fn with_chain<R>(&self, f: impl FnOnce(&mut Chain) -> R) -> R {
        let mut c = self.shared.lock_chain();
        f(&mut c)
    }

    /// Runs a JSON-RPC call in process, as listener `i` would answer it.
    pub fn call(&self, listener: usize, method: &str, params: Value) -> Result<Value, RpcError> {
        let l = self.listeners.get(listener).ok_or_else(|| RpcError::internal("no such listener"))?;
        rpc::dispatch(&self.shared, l, &RpcCall { id: Value::from(0), method: method.to_owned(), params })
    }

    pub fn hostile_modes(&self, listener: usize) -> Vec<HostileMode> {
        self.listeners.get(listener).map(|l| l.modes()).unwrap_or_default()
    }

    pub fn set_hostile(&self, listener: usize, modes: &[HostileMode]) {
        if let Some(l) = self.listeners.get(listener) {
            l.set_modes(modes);
        }
    }

    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.shared.new_block.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

fn accept_loop(socket: TcpListener, listener: Arc<Listener>, shared: Arc<Shared>, stop: Arc<AtomicBool>, connections: Arc<AtomicUsize>, max: usize) {
    while !stop.load(Ordering::Relaxed) {
        match socket.accept() {
            Ok((stream, _)) => {
                if connections.fetch_add(1, Ordering::SeqCst) >= max {
                    connections.fetch_sub(1, Ordering::SeqCst);
                    let mut s = stream;
                    let _ = s.write_all(&http::response(503, "Service Unavailable", "text/plain", b"too many connections\n", false));
                    continue;
                }
                let (listener, shared, stop, connections) = (listener.clone(), shared.clone(), stop.clone(), connections.clone());
                std::thread::spawn(move || {
                    serve_connection(stream, &listener, &shared, &stop);
                    connections.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

const MAX_REQUESTS_PER_CONNECTION: usize = 10_000;

fn serve_connection(mut stream: TcpStream, listener: &Listener, shared: &Shared, stop: &AtomicBool) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(Duration::from_secs(15))).is_err()
        || stream.set_write_timeout(Some(Duration::from_secs(15))).is_err()
    {
        return;
    }
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let (request, used) = loop {
            match http::parse_request(&buf, limits) {
                Ok(Some(r)) => break r,
                Ok(None) => {}
                Err(e) => {
                    let (code, reason) = e.status();
                    let _ = stream.write_all(&http::response(code, reason, "text/plain", format!("{e}\n").as_bytes(), false));
                    return;
                }
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        };
        buf.drain(..used.min(buf.len()));
        let response = handle_request(&request, listener, shared);
        if stream.write_all(&response).is_err() || !request.keep_alive {
            return;
        }
    }
}

/// Routes one HTTP request: `POST` (any path) is JSON-RPC; `GET /status`
/// and `GET /health` as nearcore serves them.
pub fn handle_request(req: &http::Request, listener: &Listener, shared: &Shared) -> Vec<u8> {
    let keep = req.keep_alive;
    match (req.method, req.target.as_str()) {
        (Method::Post, _) => {
            let body = match rpc::parse_call(&req.body) {
                Ok(call) => rpc::answer(&call.id, rpc::dispatch(shared, listener, &call)),
                Err((id, e)) => rpc::answer(&id, Err(e)),
            };
            http::response(200, "OK", "application/json", body.to_string().as_bytes(), keep)
        }
        (Method::Get, "/status") => {
            let call = RpcCall { id: Value::Null, method: "status".into(), params: Value::Array(Vec::new()) };
            let body = rpc::dispatch(shared, listener, &call).map(|v| v.to_string()).unwrap_or_default();
            http::response(200, "OK", "application/json", body.as_bytes(), keep)
        }
        (Method::Get, "/health") => http::response(200, "OK", "text/plain", b"", keep),
        (Method::Get, _) => http::response(404, "Not Found", "text/plain", b"not found\n", keep),
        _ => http::response(405, "Method Not Allowed", "text/plain", b"use POST for JSON-RPC\n", keep),
    }
}
