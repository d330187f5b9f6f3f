//! tdsigner's near/mpc wire against near's own endpoint (`../shared/oracles/mpc-p2p-oracle`,
//! near's `crates/tls` plus its handshake and framing): both connections of a pair, TLS with
//! near's certificates, the 0xCC handshake with connection ids, and every golden packet in both
//! directions. The oracle is stopped on any exit (guard), and every wait is bounded.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tdsigner_p2p::near::framing::{encode_frame, FrameReader};
use tdsigner_p2p::near::handshake::{Handshake, Protocol};
use tdsigner_p2p::near::{packet::Packet, tls as near_tls};
use tdsigner_p2p::tls::TlsSession;
use tdsigner_p2p::NodeKey;

const ORACLE_SEED: [u8; 32] = [1; 32];
const OUR_SEED: [u8; 32] = [2; 32];
const WAIT: Duration = Duration::from_secs(20);

fn shared(path: &str) -> String {
    format!("{}/../../../shared/oracles/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The oracle process; killed when dropped, whatever the test's outcome.
struct Oracle {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<Value>,
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Oracle {
    fn start(listen: &str, peers: &std::path::Path) -> Oracle {
        let mut child = Command::new(shared("mpc-p2p-oracle"))
            .args(["--key", &hex::encode(ORACLE_SEED), "--me", "0", "--listen", listen, "--peers"])
            .arg(peers)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("near's P2P oracle in ../shared/oracles");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Oracle { child, stdin, events }
    }

    /// The next event matching `pred`; other events are returned in `skipped`.
    fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(v) => assert_ne!(v["event"], "bad_packet", "oracle could not decode our bytes: {v}"),
                Err(_) => panic!("oracle: no {what} within {WAIT:?}"),
            }
        }
    }

    fn command(&mut self, v: Value) {
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }
}

/// One TLS connection over a blocking socket.
struct Conn {
    sock: TcpStream,
    tls: TlsSession,
}

impl Conn {
    fn flush(&mut self) {
        let out = self.tls.take_outgoing();
        if !out.is_empty() {
            self.sock.write_all(&out).unwrap();
        }
    }

    /// Reads once and returns the decrypted bytes.
    fn read(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 16 * 1024];
        let n = self.sock.read(&mut buf).expect("read within the socket timeout");
        assert!(n > 0, "peer closed the connection");
        let plain = self.tls.receive(&buf[..n]).expect("TLS with near's peer");
        self.flush();
        plain
    }

    /// Completes TLS; returns application bytes that arrived with the handshake's last flight.
    fn establish(&mut self) -> Vec<u8> {
        self.flush();
        let deadline = Instant::now() + WAIT;
        let mut early = Vec::new();
        while !self.tls.is_established() {
            assert!(Instant::now() < deadline, "TLS handshake with near's peer timed out");
            early.extend(self.read());
        }
        early
    }

    fn write(&mut self, bytes: &[u8]) {
        self.tls.write(bytes).unwrap();
        self.flush();
    }

    /// Runs the post-TLS handshake; returns it and the plaintext that followed it.
    fn handshake(&mut self, mut hs: Handshake, early: Vec<u8>) -> (tdsigner_p2p::near::handshake::Accepted, Vec<u8>) {
        let hello = hs.take_output();
        if !hello.is_empty() {
            self.write(&hello);
        }
        let mut plain = early;
        loop {
            if plain.is_empty() {
                plain = self.read();
            }
            let (used, done) = hs.receive(&plain).expect("near's handshake");
            let out = hs.take_output();
            if !out.is_empty() {
                self.write(&out);
            }
            if let Some(done) = done {
                return (done, plain[used..].to_vec());
            }
            plain.clear();
        }
    }
}

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(shared("p2p-vectors.json")).unwrap()).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn both_connections_and_every_packet_with_nears_endpoint() {
    let me = Arc::new(NodeKey::from_seed(&OUR_SEED));
    let oracle_key = Arc::new(NodeKey::from_seed(&ORACLE_SEED)).public_key();
    let (oracle_port, our_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tdsigner-near-p2p-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let peers = dir.join("peers.json");
    let list = json!([
        {"id": 0, "address": format!("127.0.0.1:{oracle_port}"), "tls_public_key": oracle_key.to_string()},
        {"id": 1, "address": format!("127.0.0.1:{our_port}"), "tls_public_key": me.public_key().to_string()},
    ]);
    std::fs::write(&peers, list.to_string()).unwrap();
    let listener = TcpListener::bind(("127.0.0.1", our_port)).unwrap();
    let mut oracle = Oracle::start(&format!("127.0.0.1:{oracle_port}"), &peers);
    oracle.wait_for("listening", |v| v["event"] == "listening");

    // We dial near: send-only for us, receive-only for it.
    let sock = TcpStream::connect(("127.0.0.1", oracle_port)).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let config = near_tls::client_config(&me, oracle_key).unwrap();
    let mut out = Conn { sock, tls: TlsSession::client_near(&config).unwrap() };
    let early = out.establish();
    assert_eq!(out.tls.peer_key(), Some(oracle_key));
    let (done, rest) = out.handshake(Handshake::dialer(0), early);
    assert_eq!((done.protocol, done.peer_version, done.sender_connection_id), (Protocol::Jan2026, 8, 0));
    assert!(rest.is_empty(), "near wrote after the handshake on its receive-only side");
    let connected = oracle.wait_for("our dial accepted", |v| v["event"] == "connected" && v["direction"] == "in");
    assert_eq!(connected["peer"], 1);

    // Near dials us.
    listener.set_nonblocking(false).unwrap();
    let (sock, _) = listener.accept().unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let config = near_tls::server_config(&me, [oracle_key]).unwrap();
    let mut inc = Conn { sock, tls: TlsSession::server(&config).unwrap() };
    let early = inc.establish();
    assert_eq!(inc.tls.peer_key(), Some(oracle_key));
    let (done, mut pending) = inc.handshake(Handshake::listener(None), early);
    assert_eq!((done.protocol, done.sender_connection_id), (Protocol::Jan2026, 0));
    oracle.wait_for("its dial accepted", |v| v["event"] == "connected" && v["direction"] == "out");

    let vectors = vectors();
    let packets = vectors["packets"].as_array().unwrap();
    // Us -> near: every golden payload, framed by us, decoded by near to the same bytes.
    for p in packets {
        let payload = hex::decode(p["payload_hex"].as_str().unwrap()).unwrap();
        let packet = Packet::decode(&payload).unwrap();
        out.write(&encode_frame(&packet.encode()).unwrap());
        let got = oracle.wait_for(p["name"].as_str().unwrap(), |v| {
            v["event"] == "packet" && v["peer"] == 1 && v["payload_hex"] != "00"
                || v["event"] == "packet" && p["name"] == "Ping"
        });
        assert_eq!(got["payload_hex"], p["payload_hex"], "{}", p["name"]);
        assert_eq!(got["label"], packet.label());
    }

    // Near -> us: near encodes each packet from its JSON; we decode it to near's bytes.
    let mut frames = FrameReader::new(1 << 20);
    let mut received = frames.push(&std::mem::take(&mut pending)).unwrap();
    for p in packets {
        oracle.command(json!({"send": {"peer": 1, "packet": p["json"]}}));
        let want = hex::decode(p["payload_hex"].as_str().unwrap()).unwrap();
        loop {
            if let Some(i) = received.iter().position(|f| *f == want) {
                received.drain(..=i).filter(|f| f != &want).for_each(|f| assert_eq!(f, [0], "only pings between"));
                break;
            }
            received.extend(frames.push(&inc.read()).unwrap());
        }
        assert!(Packet::decode(&want).is_ok(), "{}", p["name"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn near_refuses_an_unregistered_key_and_we_refuse_near_as_the_wrong_peer() {
    let me = Arc::new(NodeKey::from_seed(&OUR_SEED));
    let oracle_key = Arc::new(NodeKey::from_seed(&ORACLE_SEED)).public_key();
    let stranger = Arc::new(NodeKey::from_seed(&[9; 32]));
    let oracle_port = free_port();
    let dir = std::env::temp_dir().join(format!("tdsigner-near-p2p-neg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let peers = dir.join("peers.json");
    let list = json!([
        {"id": 0, "address": format!("127.0.0.1:{oracle_port}"), "tls_public_key": oracle_key.to_string()},
        {"id": 1, "address": format!("127.0.0.1:{}", free_port()), "tls_public_key": me.public_key().to_string()},
    ]);
    std::fs::write(&peers, list.to_string()).unwrap();
    let oracle = Oracle::start(&format!("127.0.0.1:{oracle_port}"), &peers);
    oracle.wait_for("listening", |v| v["event"] == "listening");

    // A key near does not know: near drops it after TLS, at the identity stage.
    let sock = TcpStream::connect(("127.0.0.1", oracle_port)).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let config = near_tls::client_config(&stranger, oracle_key).unwrap();
    let mut conn = Conn { sock, tls: TlsSession::client_near(&config).unwrap() };
    conn.flush();
    // TLS itself completes (near's TLS layer accepts any dummy-CA leaf); near then closes.
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = conn.sock.read(&mut buf) {
        if conn.tls.receive(&buf[..n]).is_err() {
            break;
        }
        conn.flush();
    }
    let rejected = oracle.wait_for("rejection", |v| v["event"] == "rejected");
    assert_eq!(rejected["stage"], "identity", "{rejected}");

    // Dialing near while expecting another participant's key: our verifier refuses near.
    let sock = TcpStream::connect(("127.0.0.1", oracle_port)).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let config = near_tls::client_config(&me, stranger.public_key()).unwrap();
    let mut conn = Conn { sock, tls: TlsSession::client_near(&config).unwrap() };
    conn.flush();
    let mut buf = [0u8; 16 * 1024];
    let err = loop {
        let n = conn.sock.read(&mut buf).unwrap();
        assert!(n > 0, "near closed before our verifier ran");
        match conn.tls.receive(&buf[..n]) {
            Ok(_) => conn.flush(),
            Err(e) => break e,
        }
    };
    assert!(err.is_key_refused_here(), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
