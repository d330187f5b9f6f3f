//! `tdsigner p2p endpoint`: tdsigner's near/mpc transport (the image's `tdsigner_p2p::near`
//! code, host build) as one peer, for conformance runs against near's own endpoint.
//!
//! It keeps connections as near does (the sans-IO [`Mesh`] decides; this module only owns
//! sockets, threads and the clock), prints one JSON line per event in the oracle's event and
//! Packet JSON forms (`listening`, `connected`, `packet`, `bad_packet`, `sent`, `rejected`,
//! `closed`, `error`), and reads `{"send": …}`, `{"send_raw": …}` and `{"quit": true}` lines on
//! stdin (EOF quits).

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tdsigner_p2p::near::framing::NEAR_MAX_PAYLOAD;
use tdsigner_p2p::near::handshake::Protocol;
use tdsigner_p2p::near::mesh::{ConnId, Direction, Input, Mesh, Output, Peer, CONNECT_TIMEOUT_MS};
use tdsigner_p2p::{NodeKey, TlsPublicKey};

use crate::p2p_json::{packet_from_json, packet_to_json};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Run one near/mpc-compatible P2P endpoint (JSON events out, commands in).
    Endpoint(EndpointArgs),
}

#[derive(clap::Args)]
pub struct EndpointArgs {
    /// This node's P2P Ed25519 seed, 64 hex characters.
    #[arg(long)]
    key: String,
    /// This node's participant id.
    #[arg(long)]
    me: u32,
    /// Address to listen on (ADDR:PORT).
    #[arg(long)]
    listen: String,
    /// Participant list in the oracle's peers.json form.
    #[arg(long)]
    peers: std::path::PathBuf,
}

pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Endpoint(args) => match endpoint(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tdsigner p2p endpoint: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Accepted sockets are numbered from here; the mesh numbers its dials from 0.
const ACCEPTED_BASE: ConnId = 1 << 40;
const TICK: Duration = Duration::from_millis(100);
/// near's per-write limit: a peer that stops reading cannot stall the loop longer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

enum Event {
    Dialed(ConnId, TcpStream),
    DialFailed(ConnId, String),
    Accepted(ConnId, TcpStream),
    Received(ConnId, Vec<u8>),
    SocketClosed(ConnId),
    Command(Value),
    Quit,
}

fn read_peers(path: &std::path::Path) -> Result<Vec<Peer>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = v.get("participants").unwrap_or(&v).as_array().ok_or("peers: expected a list")?;
    list.iter()
        .map(|p| {
            let id = p["id"].as_u64().and_then(|i| u32::try_from(i).ok()).ok_or("peer without a u32 id")?;
            let key = p["tls_public_key"].as_str().ok_or("peer without tls_public_key")?;
            let key = TlsPublicKey::parse_near(key).map_err(|e| format!("peer {id}: key: {e:?}"))?;
            let host = p["address"].as_str().ok_or("peer without address")?;
            let address = match p.get("port").and_then(Value::as_u64) {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            };
            Ok(Peer { id, key, address })
        })
        .collect()
}

fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn endpoint(args: EndpointArgs) -> Result<(), String> {
    let seed: [u8; 32] = hex::decode(&args.key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("--key must be 64 hex characters")?;
    let key = Arc::new(NodeKey::from_seed(&seed));
    let peers = read_peers(&args.peers)?;
    let listed: Vec<Value> = peers.iter().map(|p| json!({"id": p.id, "address": p.address})).collect();
    let mut mesh = Mesh::new(args.me, &key, peers, NEAR_MAX_PAYLOAD, 0).map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(&args.listen).map_err(|e| format!("listen {}: {e}", args.listen))?;
    let (tx, rx) = channel();
    spawn_acceptor(listener, tx.clone());
    spawn_stdin(tx.clone());
    emit(json!({"event": "listening", "addr": args.listen, "me": args.me,
        "public_key": key.public_key().to_string(), "protocol_version": 8, "peers": listed,
        "implementation": "tdsigner"}));
    let mut sockets: HashMap<ConnId, TcpStream> = HashMap::new();
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let mut next_tick = Instant::now();
    loop {
        // Timers run on ticks even while a peer keeps the channel busy.
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            let outputs = mesh.handle(now(), Input::Tick);
            carry_out(outputs, &mut sockets, &tx);
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        let input = match rx.recv_timeout(wait) {
            Ok(Event::Quit) => return Ok(()),
            Ok(Event::Command(cmd)) => {
                if command(&mut mesh, &mut sockets, &tx, now(), &cmd) {
                    return Ok(());
                }
                continue;
            }
            Ok(ev) => input_of(ev, &mut sockets, &tx),
            Err(_) => continue,
        };
        let outputs = mesh.handle(now(), input);
        carry_out(outputs, &mut sockets, &tx);
    }
}

fn input_of(ev: Event, sockets: &mut HashMap<ConnId, TcpStream>, tx: &Sender<Event>) -> Input {
    match ev {
        Event::Dialed(conn, stream) => {
            let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
            spawn_reader(conn, &stream, tx.clone());
            sockets.insert(conn, stream);
            Input::Dialed { conn }
        }
        Event::Accepted(conn, stream) => {
            let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
            spawn_reader(conn, &stream, tx.clone());
            sockets.insert(conn, stream);
            Input::Accepted { conn }
        }
        Event::DialFailed(conn, reason) => Input::DialFailed { conn, reason },
        Event::Received(conn, bytes) => Input::Received { conn, bytes },
        Event::SocketClosed(conn) => Input::SocketClosed { conn },
        Event::Command(_) | Event::Quit => Input::Tick,
    }
}

/// Runs one stdin command; true means quit.
fn command(mesh: &mut Mesh, sockets: &mut HashMap<ConnId, TcpStream>, tx: &Sender<Event>, now: u64, cmd: &Value) -> bool {
    if cmd.get("quit").is_some() {
        emit(json!({"event": "quit", "reason": "quit command"}));
        return true;
    }
    let result = if let Some(send) = cmd.get("send") {
        let peer = send["peer"].as_u64().and_then(|p| u32::try_from(p).ok()).unwrap_or(u32::MAX);
        packet_from_json(&send["packet"]).and_then(|packet| {
            let outputs = mesh.send(peer, &packet).map_err(|e| e.to_string())?;
            carry_out(outputs, sockets, tx);
            emit(json!({"event": "sent", "peer": peer, "packet": packet_to_json(&packet), "payload_hex": hex::encode(packet.encode())}));
            Ok(())
        })
    } else if let Some(raw) = cmd.get("send_raw") {
        let peer = raw["peer"].as_u64().and_then(|p| u32::try_from(p).ok()).unwrap_or(u32::MAX);
        hex::decode(raw["payload_hex"].as_str().unwrap_or_default()).map_err(|e| e.to_string()).and_then(|payload| {
            let outputs = mesh.send_payload(peer, &payload).map_err(|e| e.to_string())?;
            carry_out(outputs, sockets, tx);
            emit(json!({"event": "sent", "peer": peer, "packet": null, "payload_hex": hex::encode(&payload)}));
            Ok(())
        })
    } else {
        Err("unknown command".to_string())
    };
    let _ = now;
    if let Err(reason) = result {
        emit(json!({"event": "error", "reason": reason, "command": cmd}));
    }
    false
}

fn carry_out(outputs: Vec<Output>, sockets: &mut HashMap<ConnId, TcpStream>, tx: &Sender<Event>) {
    for output in outputs {
        match output {
            Output::Dial { conn, peer, address } => spawn_dial(conn, peer, address, tx.clone()),
            Output::Transmit { conn, bytes } => {
                if let Some(s) = sockets.get_mut(&conn) {
                    if s.write_all(&bytes).is_err() {
                        let _ = tx.send(Event::SocketClosed(conn));
                    }
                }
            }
            Output::Close { conn } => {
                if let Some(s) = sockets.remove(&conn) {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
            other => report(other),
        }
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

fn report(output: Output) {
    let v = match output {
        Output::Connected { peer, direction: d, handshake } => {
            let hs = match handshake.protocol {
                Protocol::Jan2026 => json!({"Jan2026": {"sender_connection_id": handshake.sender_connection_id}}),
                Protocol::Dec2025 => json!({"Dec2025": {"accepted": true}}),
            };
            json!({"event": "connected", "peer": peer, "direction": direction(d), "protocol_version": handshake.peer_version, "handshake": hs})
        }
        Output::Packet { peer, packet, payload } => json!({"event": "packet", "peer": peer,
            "packet": packet_to_json(&packet), "label": packet.label(), "payload_hex": hex::encode(payload)}),
        Output::BadPacket { peer, payload } => json!({"event": "bad_packet", "peer": peer,
            "payload_hex": hex::encode(payload), "error": "Failed to deserialize packet"}),
        Output::Rejected { direction: d, peer, stage, reason } => json!({"event": "rejected",
            "direction": direction(d), "peer": peer, "stage": stage.name(), "reason": reason}),
        Output::Closed { peer, direction: d, reason } => {
            json!({"event": "closed", "peer": peer, "direction": direction(d), "reason": reason})
        }
        Output::Dial { .. } | Output::Transmit { .. } | Output::Close { .. } => return,
    };
    emit(v);
}

fn spawn_acceptor(listener: TcpListener, tx: Sender<Event>) {
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            if tx.send(Event::Accepted(ACCEPTED_BASE + n as ConnId, stream)).is_err() {
                break;
            }
        }
    });
}

fn spawn_stdin(tx: Sender<Event>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => {
                    if tx.send(Event::Command(v)).is_err() {
                        return;
                    }
                }
                Err(e) => emit(json!({"event": "error", "reason": format!("not JSON: {e}")})),
            }
        }
        let _ = tx.send(Event::Quit);
    });
}

fn spawn_dial(conn: ConnId, peer: u32, address: String, tx: Sender<Event>) {
    std::thread::spawn(move || {
        let timeout = Duration::from_millis(CONNECT_TIMEOUT_MS);
        let result = address
            .to_socket_addrs()
            .map_err(|e| e.to_string())
            .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
            .and_then(|a| TcpStream::connect_timeout(&a, timeout).map_err(|e| e.to_string()));
        let _ = match result {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                tx.send(Event::Dialed(conn, stream))
            }
            Err(reason) => tx.send(Event::DialFailed(conn, format!("peer {peer} at {address}: {reason}"))),
        };
    });
}

fn spawn_reader(conn: ConnId, stream: &TcpStream, tx: Sender<Event>) {
    let Ok(mut reader) = stream.try_clone() else {
        let _ = tx.send(Event::SocketClosed(conn));
        return;
    };
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Event::SocketClosed(conn));
                    return;
                }
                Ok(n) => {
                    if tx.send(Event::Received(conn, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}
